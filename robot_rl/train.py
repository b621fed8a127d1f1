"""Sim-only training: the RLPD learner on a twin task, with evaluation, metrics and checkpoints.

The steps come from the one rollout (`robot_rl.rollout.steps`), the agent, buffers and updates from
the one learning core (`robot_rl.learning.LearningCore`), as in the network learner and practice.

A run directory holds the resolved config (`config.yaml`), metrics (`metrics.jsonl`: one row
per evaluation with success rate, return, the last update's losses, achieved UTD, updates/s,
env steps/s and wall time; TensorBoard event files under `tb/` when tensorboard is installed),
the learning curve (`curve.png`) and `checkpoint.pt` (networks, optimizers, temperature, the
state normaliser, both replay buffers, counters and RNG states), written to a temporary file and
renamed so a crash never leaves a torn checkpoint. `resume=True` continues from it.

Interventions: in the twin a scripted expert stands in for the human of HIL-SERL. With
`expert_interventions` > 0 it takes over for `intervention_steps` steps at random moments; its
transitions are flagged and go to both the online and the demonstration buffer. `reward: rlif`
replaces the task reward by the intervention signal itself (RLIF, Luo et al. 2024): -1 on the
step a takeover starts, 0 otherwise.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import from_dict, to_dict
from robot_rl.errors import ConfigError, Described, RobotRLError
from robot_rl.paths import open_run_dir, read_jsonl
from robot_rl.run_config import CHECKPOINT_FORMAT, TrainConfig
from robot_rl.runtime import restore_rng, rng_state, torch_save_atomic


class Trainer:
    def __init__(self, config: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True):
        from robot_rl.agents.pretrain import PretrainConfig
        from robot_rl.agents.replay import ReplayBuffer, obs_shapes_of
        from robot_rl.learning import LearningCore
        from robot_rl.runtime import configure_torch
        from robot_rl.sim import make_expert, make_twin

        self.torch = torch = configure_torch()
        self.config, self.out, self.progress = config, Path(out_dir), progress
        ckpt = self.out / "checkpoint.pt"
        self.pretrain_config = from_dict(
            PretrainConfig, config.pretrain, source=Described("pretrain"), prefix="pretrain"
        )
        if self.pretrain_config.method != "none" and not config.demos:
            raise ConfigError(
                "",
                "pretrain.method",
                "demos: DIR to pretrain on (or method: none)",
                self.pretrain_config.method,
            )
        open_run_dir(self.out, resume)

        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.env = make_twin(config.robot, config.task, cameras=config.cameras, randomize=config.randomize)
        self.supervisor = None
        self.safety = config.behind_layer(self.env.robot_spec)
        if self.safety or config.scripted_resets:
            self._safety_hook()
        self.eval_env = make_twin(config.robot, config.task, cameras=config.cameras)
        if self.safety:
            from robot_rl.safety import SafeEnv

            self.eval_env = SafeEnv(self.eval_env)
        self.expert = make_expert(self.env, seed=config.seed) if config.expert_interventions > 0 else None
        obs_shapes = obs_shapes_of(self.env.observation_space)
        act_size = self.env.action_space.shape[0]
        # ring capacity in observation slots: every step plus one final frame per episode
        slots = min(config.buffer_capacity, config.steps + config.steps // 4 + 2)
        self.core = LearningCore(obs_shapes, act_size, config.preset, config.agent, slots)
        if config.demos:
            self.core.demos = self._load_demos(obs_shapes, act_size)
        elif self.expert is not None:  # interventions are demonstrations too (HIL-SERL)
            self.core.demos = ReplayBuffer(slots, obs_shapes, act_size)
        self.step = 0
        self.episode = 0
        self.interventions = 0
        self.pretrained = False
        if resume:
            try:
                self._restore(ckpt)
            except (KeyError, ValueError, RuntimeError) as exc:  # another run's or another version's file
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise RobotRLError(
                    f"checkpoint {ckpt} does not fit this run ({first}): resume with the run's own config "
                    "or start a new --out"
                ) from None
        (self.out / "config.yaml").write_text(self._config_yaml())

    # -- the learning core (robot_rl.learning) -------------------------------------------------
    @property
    def agent(self) -> Any:
        return self.core.agent

    @property
    def online(self) -> Any:
        return self.core.online

    @property
    def demos(self) -> Any:
        return self.core.demos

    @property
    def updates(self) -> int:
        return self.core.updates

    # -- data --------------------------------------------------------------------------------
    def _load_demos(self, obs_shapes: dict[str, tuple[int, ...]], act_size: int):
        from robot_rl.agents.replay import ReplayBuffer
        from robot_rl.demos import load_demos

        cfg = self.config
        meta, episodes = load_demos(cfg.demos, spec_hash=self.env.robot_spec.hash)
        if meta["task"] != cfg.task:
            raise ConfigError(str(cfg.demos), "task", f"demos of task {cfg.task!r}", meta["task"])
        missing = [c for c in cfg.cameras if c not in meta.get("cameras", [])]
        if missing:
            raise ConfigError(
                str(cfg.demos),
                "cameras",
                f"frames of {list(cfg.cameras)} (record with --cameras)",
                meta.get("cameras"),
            )
        # room for every demo frame, plus the interventions online training may add
        spare = cfg.steps if cfg.expert_interventions > 0 else 0
        return ReplayBuffer.from_episodes(
            list(episodes), obs_shapes, act_size, self.agent.config.gamma, spare
        )

    def _config_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(to_dict(self.config), sort_keys=False)

    def _safety_hook(self) -> None:
        """The safety layer (on by default) and the scripted resets (off) around the training env."""
        from robot_rl.controllers.resets import ResetSupervisor

        if self.safety:
            from robot_rl.safety import SafeEnv

            self.env = SafeEnv(self.env)
        if self.config.scripted_resets:
            self.supervisor = ResetSupervisor(ask=_ask_person)
            self.reset_rng = np.random.default_rng(self.config.seed + 2)  # apart from the action noise

    def _episode_end(self) -> None:
        from robot_rl.controllers.resets import scripted_reset

        if self.supervisor is not None and not scripted_reset(self.env, self.supervisor, self.reset_rng):
            raise RobotRLError(
                "training stopped: automatic resets failed and the person declined to continue "
                "(continue later with --resume)"
            )

    def _safety_metrics(self) -> dict[str, Any]:
        from robot_rl.controllers.safety_layer import REASONS

        row: dict[str, Any] = {}
        if self.safety:
            counts = self.env.counts
            row.update({f"safety_{reason}": counts.get(reason, 0) for reason in ("ok", *REASONS)})
        if self.supervisor is not None:
            row.update(self.supervisor.metrics())
        return row

    # -- loop --------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Deterministic policy on the eval env, seeds apart from training's (as `robot-rl eval`)."""
        from robot_rl.evaluate import run_episodes

        summary = run_episodes(self.agent.policy, self.eval_env, self.config.eval_episodes).summary()
        return {k: summary[k] for k in ("success_rate", "return", "length", "cycle_time_median_s")}

    def _pretrain(self) -> dict[str, float]:
        """On the demonstrations; the normaliser is fitted again, with the warm-up data, before the
        first online update."""
        generator = self.torch.Generator().manual_seed(self.config.seed + 1)
        result = self.core.pretrain(self.pretrain_config, generator, self.progress, refit=True)
        self.pretrained = True
        return result

    def update_block(self, generator: Any) -> dict[str, Any]:
        """One UTD block of the learning core (`LearningCore.update_block`)."""
        return self.core.update_block(generator)

    def write_metrics(self, row: dict[str, Any], metrics: Any) -> None:
        """One evaluation row to the run's `MetricsLog`, then the learning curve."""
        metrics.write(row, self.step)
        self.plot()

    def _metrics_log(self) -> Any:
        from robot_rl.learning import MetricsLog

        return MetricsLog(self.out, self.config.tensorboard)

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        from robot_rl.learning import loss_fields
        from robot_rl.rollout import steps

        torch, cfg = self.torch, self.config
        agent_cfg = self.agent.config
        if self.pretrain_config.method != "none" and not self.pretrained:
            pretrain_info = self._pretrain()
            if pretrain_info:
                (self.out / "pretrain.json").write_text(json.dumps(pretrain_info, indent=2))
        generator = torch.Generator().manual_seed(cfg.seed + self.step)
        who = WhoActs(self)
        rollout = steps(self.env, who, cfg.seed, first_episode=self.episode, on_reset=who.episode_starts)
        metrics = self._metrics_log()
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc=f"train {cfg.robot}/{cfg.task}",
            disable=not self.progress,
        )
        recent_success: list[bool] = []
        run_start = time.perf_counter()
        window_start, window_updates, window_steps = run_start, 0, 0
        eval_start, eval_updates, eval_steps = run_start, 0, 0
        last_eval: dict[str, float] = {}
        info_update: dict[str, Any] = {}
        while self.step < cfg.steps:
            step = next(rollout)  # the next episode's reset, when one ended, happens here
            if cfg.reward == "rlif":
                step.reward = -1.0 if who.takeover_starts else 0.0
            self.core.add(step)
            self.step += 1
            window_steps += 1
            eval_steps += 1
            if step.done:
                recent_success = [*recent_success, step.success][-20:]
                self.episode += 1
                if self.supervisor is not None:
                    self._episode_end()
            if self.step >= cfg.start_steps:
                info_update = self.update_block(generator)
                window_updates += agent_cfg.utd
                eval_updates += agent_cfg.utd
            bar.update(1)
            if self.step % 100 == 0:
                elapsed = time.perf_counter() - window_start
                bar.set_postfix(
                    success=f"{np.mean(recent_success) if recent_success else 0:.0%}",
                    utd=f"{self.updates / max(1, self.step):.1f}",
                    updates_s=f"{window_updates / elapsed:.0f}",
                    steps_s=f"{window_steps / elapsed:.0f}",
                )
                window_start, window_updates, window_steps = time.perf_counter(), 0, 0
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                train_elapsed = time.perf_counter() - eval_start  # training only: evaluation excluded
                last_eval = self.evaluate()
                row = {
                    "step": self.step,
                    "episodes": self.episode,
                    "updates": self.updates,
                    "interventions": self.interventions,
                    # wall time of this process's run() so far (evaluations included), s
                    "wall_s": round(time.perf_counter() - run_start, 2),
                    "utd": round(self.updates / self.step, 3),
                    "updates_per_s": round(eval_updates / train_elapsed, 2),
                    "steps_per_s": round(eval_steps / train_elapsed, 2),
                    **last_eval,
                }
                row.update(loss_fields(info_update))
                if self.safety or cfg.scripted_resets:
                    row.update(self._safety_metrics())
                self.write_metrics(row, metrics)
                eval_start, eval_updates, eval_steps = time.perf_counter(), 0, 0
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
        bar.close()
        metrics.close()
        wall = round(time.perf_counter() - run_start, 2)
        return {
            "steps": self.step,
            "episodes": self.episode,
            "updates": self.updates,
            "interventions": self.interventions,
            "wall_s": wall,
            **last_eval,
        }

    # -- artefacts ---------------------------------------------------------------------------
    def plot(self) -> Path:
        from robot_rl.plots import Line, save_success_curves

        rows = read_jsonl(self.out / "metrics.jsonl")
        line = Line("eval", [r["step"] for r in rows], [r["success_rate"] for r in rows], {"marker": "o"})
        title = f"{self.config.robot}/{self.config.task}, {self.config.preset}"
        return save_success_curves(self.out / "curve.png", [line], xlabel="environment steps", title=title)

    def save(self) -> None:
        torch_save_atomic(self.out / "checkpoint.pt", self._state())

    def _state(self) -> dict[str, Any]:
        """Everything `resume` needs, as the checkpoint stores it."""
        return {
            "format": CHECKPOINT_FORMAT,
            "train_config": to_dict(self.config),
            **self.core.state(),  # agent, online, demos
            "counters": {
                "step": self.step,
                "episode": self.episode,
                "updates": self.updates,
                "interventions": self.interventions,
                "pretrained": self.pretrained,
                **({"supervisor": self.supervisor.metrics()} if self.supervisor is not None else {}),
            },
            "rng": rng_state(self.rng),
        }

    def _restore(self, path: Path) -> None:
        self._load_state(self.torch.load(path, weights_only=True))

    def _load_state(self, state: dict[str, Any]) -> None:
        # saved demonstrations replace the buffer just read from the folder (a run without one keeps none)
        demos = state.get("demos") if self.demos is not None else None
        self.core.load_state(state["agent"], state["online"], demos)
        counters = state["counters"]
        self.step, self.episode = counters["step"], counters["episode"]
        self.core.updates = counters["updates"]
        self.core.fitted = self.core.updates > 0  # the normaliser is in the agent's saved state
        self.interventions = counters.get("interventions", 0)
        self.pretrained = counters.get("pretrained", False)
        if self.supervisor is not None and "supervisor" in counters:  # reset counts go on across sessions
            self.supervisor.restore(counters["supervisor"])
        restore_rng(self.rng, state["rng"])


class WhoActs:
    """Who acts at each training step: a scripted-expert takeover in progress or starting (the
    simulated human of HIL-SERL, at chance `expert_interventions` per step), the uniform-random
    warm-up, or the policy. `intervening` and `takeover_starts` describe the action just chosen."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.takeover_left = 0
        self.intervening = self.takeover_starts = False

    def episode_starts(self) -> None:
        self.takeover_left = 0
        if self.trainer.expert is not None:
            self.trainer.expert.reset()

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        t, cfg = self.trainer, self.trainer.config
        self.takeover_starts = (
            t.expert is not None
            and self.takeover_left == 0
            and t.step >= cfg.start_steps
            and t.rng.random() < cfg.expert_interventions
        )
        if self.takeover_starts:
            self.takeover_left = cfg.intervention_steps
            t.interventions += 1
        self.intervening = self.takeover_left > 0
        if self.intervening:
            self.takeover_left -= 1
            return t.expert.act(obs)
        if t.step < cfg.start_steps:
            return t.rng.uniform(-1, 1, t.env.action_space.shape).astype(np.float32)
        return t.agent.policy(obs, deterministic=False)


def _ask_person(message: str) -> bool:
    """The terminal prompt of the reset supervisor; without a terminal the run stops instead of waiting."""
    import sys

    from robot_rl.controllers.resets import terminal_prompt

    if not sys.stdin or not sys.stdin.isatty():
        raise RobotRLError(
            f"{message} No terminal to ask for a manual reset (stdin is not a tty): "
            "reset the robot, then continue with --resume"
        )
    return terminal_prompt(message)
