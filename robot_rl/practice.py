"""Reset-free practice: a forward and a backward policy take turns in one world (RoboFuME, SERL).

The task has two directions whose end states are each other's start states: panda `pick_place`
moves the cube from bin A to bin B (forward) and back (backward). Episodes start where the last one
ended (`reset(options={"keep_scene": True})`); between episodes only the arm goes home, through
the scripted `ArmReset` (precision gains, home, +/-2 cm perturbation), the reset a real arm does by
itself. The cube is never put back by the program: the next episode's direction is the one whose
source bin is nearer the cube, so each policy's failures are the other's (or its own next) start
states. What else happens between episodes (the robot fetching a cube that is stuck, far from
the bins or beyond the workspace, and the simulated hand reset when it cannot, counted in
`hand_resets`) is `robot_rl.controllers.practice_resets.BetweenEpisodes`. A task with a tray
(`task_config: {tray: ...}`) and a TCP box inside it (`spec_overrides`) keeps the cube in reach.

Each direction has its own learning core (`robot_rl.learning`, as `robot-rl train`): an RLPD agent,
online buffer and demonstrations (scripted-expert episodes recorded at the start, successful ones
only), sampled together with the BC term on the demonstration rows; an agent updates at its UTD on
its own steps only. Episodes step through `robot_rl.rollout.episode`. Time is simulated time: policy
steps and arm-reset steps at the policy period.

A run directory holds `config.yaml`, `metrics.jsonl` (one row per evaluation: simulated minutes,
per-direction evaluation success on episodic resets and training success over the last 20
episodes, reset counts, hand resets), `curve.png` and `checkpoint.pt`. `resume=True` continues
from the checkpoint with the cube put in the next direction's source bin (the process, not the
robot, restarted; not counted as a hand reset).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import from_dict, to_dict
from robot_rl.controllers.practice_resets import DIRECTIONS
from robot_rl.errors import ConfigError, Described, RobotRLError
from robot_rl.paths import open_run_dir, read_jsonl
from robot_rl.run_config import PracticeConfig
from robot_rl.runtime import restore_rng, rng_state, torch_save_atomic

CHECKPOINT_FORMAT = "robot_rl.practice/1"


class Practice:
    """The reset-free loop: `run()` practises until `minutes` of simulated time have passed."""

    def __init__(
        self, config: PracticeConfig, out_dir: str | Path, resume: bool = False, progress: bool = True
    ):
        from robot_rl.agents.replay import obs_shapes_of
        from robot_rl.controllers.practice_resets import BetweenEpisodes
        from robot_rl.controllers.resets import ResetSupervisor
        from robot_rl.learning import LearningCore
        from robot_rl.runtime import configure_torch
        from robot_rl.sim import make_twin

        self.torch = torch = configure_torch()
        self.config, self.progress = config, progress
        self.out = open_run_dir(out_dir, resume)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        make = lambda: make_twin(  # noqa: E731
            config.robot, config.task, task_config=config.task_config, spec_overrides=config.spec_overrides
        )
        self.env, self.eval_env = make(), make()
        if not hasattr(self.env.unwrapped.task, "set_direction"):
            raise ConfigError(
                "", "task", "a task with forward/backward directions (panda pick_place)", config.task
            )
        self.dt = self.env.unwrapped.robot_spec.policy_dt
        obs_shapes = obs_shapes_of(self.env.observation_space)
        act_size = self.env.action_space.shape[0]
        slots = int(config.minutes * 60 / self.dt * 1.3) + 2  # every step plus final frames
        # one learning core per direction: its agent, buffers and updates (robot_rl.learning)
        self.cores = {
            d: LearningCore(obs_shapes, act_size, config.preset, config.agent, slots) for d in DIRECTIONS
        }
        self.supervisor = ResetSupervisor(ask=self._no_person)
        self._bar: Any = None  # the progress bar of the running loop: reset steps advance it too
        self.resets = BetweenEpisodes(
            self.env,
            self.rng,
            self.supervisor,
            log=self._event,
            spend=self._spend,
            arm_reset=config.arm_reset,
            stuck_episodes=config.stuck_episodes,
            reach_half=config.reach_half,
            workspace=(config.workspace_low, config.workspace_high),
        )
        self.sim_steps = 0  # policy and reset steps: simulated time / dt
        self.steps = dict.fromkeys(DIRECTIONS, 0)
        self.episodes = dict.fromkeys(DIRECTIONS, 0)
        self.recent: dict[str, list[bool]] = {d: [] for d in DIRECTIONS}
        # practice_noise moves the continuous channels only: the gripper command is a latch with
        # thresholds (> 0.5 close, < -0.5 open), and noise on it closes the hand at random
        layout = self.env.unwrapped.action_layout
        self._noisy = np.concatenate([np.full(f.size, 0.0 if f.name == "gripper" else 1.0) for f in layout])
        self.evaluations = 0
        if resume:
            self._load(self.out / "checkpoint.pt")
        elif config.demo_episodes:
            for d in DIRECTIONS:
                self.cores[d].demos = self._record_demos(d, obs_shapes, act_size)
            self._pretrain()
        import yaml

        (self.out / "config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))

    # -- each direction's learning core ---------------------------------------------------------
    @property
    def agents(self) -> dict[str, Any]:
        return {d: core.agent for d, core in self.cores.items()}

    @property
    def online(self) -> dict[str, Any]:
        return {d: core.online for d, core in self.cores.items()}

    @property
    def demos(self) -> dict[str, Any]:
        return {d: core.demos for d, core in self.cores.items()}

    @property
    def updates(self) -> dict[str, int]:
        return {d: core.updates for d, core in self.cores.items()}

    @property
    def fitted(self) -> dict[str, bool]:
        return {d: core.fitted for d, core in self.cores.items()}

    @staticmethod
    def _no_person(message: str) -> bool:
        raise RobotRLError(
            f"{message} Nobody is there to reset the arm in a practice run: check the arm reset"
        )

    # -- data ----------------------------------------------------------------------------------
    def _record_demos(self, direction: str, obs_shapes, act_size: int):
        from tqdm import tqdm

        from robot_rl.agents.replay import ReplayBuffer
        from robot_rl.demos import record_episode
        from robot_rl.sim import make_expert, make_twin

        cfg = self.config
        env = make_twin(
            cfg.robot,
            cfg.task,
            task_config={**cfg.task_config, **cfg.demo_task_config},
            spec_overrides=cfg.spec_overrides,
        )
        env.unwrapped.task.set_direction(direction)
        expert = make_expert(env, seed=cfg.seed)
        on_reset = expert.reset
        if cfg.demo_arm_reset:
            from robot_rl.controllers.resets import ArmReset, run_reset

            def on_reset() -> dict[str, np.ndarray]:
                run_reset(env, ArmReset(), self.rng)
                obs, _ = env.reset(options={"keep_scene": True})  # the episode starts after the move
                expert.reset()
                return obs

        episodes = []
        for i in tqdm(range(cfg.demo_episodes), desc=f"demos {direction}", disable=not self.progress):
            episode = record_episode(env, expert.act, seed=10_000 + i, on_reset=on_reset)
            if episode.success[-1]:
                episodes.append(episode)
        env.close()
        if not episodes:
            raise RobotRLError(
                f"the scripted expert succeeded in no {direction} demonstration; check the task config"
            )
        gamma = self.cores[direction].agent.config.gamma
        return ReplayBuffer.from_episodes(episodes, obs_shapes, act_size, gamma)

    def _pretrain(self) -> None:
        """Each policy on its own demonstrations before practice starts (critics too with calql); the
        state normaliser stays as pretraining fitted it."""
        from robot_rl.agents.pretrain import PretrainConfig

        cfg = from_dict(PretrainConfig, self.config.pretrain, source=Described("pretrain"), prefix="pretrain")
        if cfg.method == "none":
            return
        for i, d in enumerate(DIRECTIONS):
            generator = self.torch.Generator().manual_seed(self.config.seed + 1 + i)
            self.cores[d].pretrain(cfg, generator, self.progress, refit=False)

    # -- the loop --------------------------------------------------------------------------------
    def _episode(self, generator: Any, bar: Any) -> None:
        """One practice episode from where the last one left the cube, then the between-episodes
        resets (`BetweenEpisodes`)."""
        from robot_rl.rollout import episode

        cfg, task = self.config, self.env.unwrapped.task
        self._bar = bar
        direction = task.direction_for_cube()
        task.set_direction(direction)
        core = self.cores[direction]
        where: dict[str, Any] = {}

        def started() -> None:  # after the reset, before the first action: where the cube starts
            where.update(cube=task.cube_pose()[0][:2].copy(), fields=self._cube_event_fields())

        lowest = np.inf
        act = lambda obs: self.act(direction, obs)  # noqa: E731
        for step in episode(self.env, act, on_reset=started, options={"keep_scene": True}):
            lowest = min(lowest, float(self.env.unwrapped.robot.tcp_pose()[0][2]))
            core.add(step)
            self.steps[direction] += 1
            self.sim_steps += 1
            bar.update(1)
            if self.steps[direction] >= cfg.start_steps:
                core.update_block(generator)
        self.episodes[direction] += 1
        self.recent[direction] = [*self.recent[direction], step.success][-20:]
        self._event(
            "episode", direction, success=step.success, tcp_lowest_z=round(lowest, 3), **where["fields"]
        )
        self.resets.after(direction, step.next_obs, where["cube"], step.success)

    def _spend(self, steps: int) -> None:
        """Reset steps are simulated time too."""
        self.sim_steps += steps
        if self._bar is not None:
            self._bar.update(steps)

    def _cube_event_fields(self) -> dict[str, Any]:
        pos, quat = self.env.unwrapped.task.cube_pose()
        return {
            "cube_xy": [round(float(v), 3) for v in pos[:2]],
            "cube_quat": [round(float(v), 3) for v in quat],
        }

    def _event(self, kind: str, direction: str, **fields: Any) -> None:
        """A line in events.jsonl: when, after which direction's episode, where the cube was (an
        `episode` line: where it was at the episode's start, the outcome and the TCP's lowest point)."""
        event = {
            "event": kind,
            "sim_minutes": round(self.sim_steps * self.dt / 60, 3),
            "direction": direction,
            "policy_steps": self.steps[direction],
            **self._cube_event_fields(),
            **fields,
        }
        with (self.out / "events.jsonl").open("a") as events:
            events.write(json.dumps(event) + "\n")

    def act(self, direction: str, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The practice action of `direction`'s policy: random for its first `start_steps`, then
        the SAC sample, or the deterministic action plus `practice_noise` Gaussian noise (not on
        the gripper)."""
        cfg = self.config
        if self.steps[direction] < cfg.start_steps:
            return self.rng.uniform(-1, 1, self.env.action_space.shape).astype(np.float32)
        agent = self.cores[direction].agent
        if cfg.practice_noise == 0:
            return agent.policy(obs, deterministic=False)
        mean = agent.policy(obs, deterministic=True)
        noise = self.rng.normal(0.0, cfg.practice_noise, mean.shape) * self._noisy
        return np.clip(mean + noise, -1.0, 1.0).astype(np.float32)

    def evaluate(self) -> dict[str, float]:
        """Each policy, deterministic, from episodic resets (cube at a random spot of its source bin)."""
        from robot_rl.evaluate import run_episodes

        out = {}
        for d in DIRECTIONS:
            self.eval_env.unwrapped.task.set_direction(d)
            result = run_episodes(self.cores[d].agent.policy, self.eval_env, self.config.eval_episodes)
            out[f"{d}_eval_success"] = result.summary()["success_rate"]
        return out

    def _row(self, wall_s: float) -> dict[str, Any]:
        row: dict[str, Any] = {"sim_minutes": round(self.sim_steps * self.dt / 60, 3), **self.evaluate()}
        counts = {"episodes": self.episodes, "steps": self.steps, "updates": self.updates}
        for d in DIRECTIONS:
            row[f"{d}_train_success"] = round(float(np.mean(self.recent[d])), 3) if self.recent[d] else 0.0
            row.update({f"{d}_{name}": count[d] for name, count in counts.items()})
        return {
            **row,
            **self.supervisor.metrics(),
            "hand_resets": self.resets.hand_resets,
            "cube_resets": self.resets.cube_resets,
            "wall_s": round(wall_s, 1),
        }

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        from robot_rl.learning import MetricsLog

        cfg = self.config
        total = round(cfg.minutes * 60 / self.dt)
        per_eval = round(cfg.eval_every_minutes * 60 / self.dt)
        generator = self.torch.Generator().manual_seed(cfg.seed + self.sim_steps)
        task = self.env.unwrapped.task
        task.set_direction(task.direction if self.sim_steps else "forward")
        self.env.reset(seed=cfg.seed + self.sim_steps)  # the scene at the start: cube in the source bin
        start = time.perf_counter()
        rows = []
        with (
            MetricsLog(self.out, tensorboard=False) as metrics,
            tqdm(
                total=total,
                initial=min(self.sim_steps, total),
                desc="practice",
                unit="step",
                disable=not self.progress,
            ) as bar,
        ):
            if self.evaluations == 0:  # the untrained policies: the baseline both must improve on
                rows.append(self._log(metrics, start))
            while self.sim_steps < total:
                self._episode(generator, bar)
                bar.set_postfix(
                    {d[:3]: f"{np.mean(self.recent[d]) if self.recent[d] else 0:.0%}" for d in DIRECTIONS}
                )
                if self.sim_steps >= self.evaluations * per_eval or self.sim_steps >= total:
                    rows.append(self._log(metrics, start))
                    self.save()
        return rows[-1] if rows else {}

    def _log(self, metrics: Any, start: float) -> dict[str, Any]:
        row = self._row(time.perf_counter() - start)
        self.evaluations += 1
        metrics.write(row, self.sim_steps)
        self.plot()
        return row

    # -- artefacts ---------------------------------------------------------------------------------
    def plot(self) -> Path:
        from robot_rl.plots import Line, save_success_curves

        rows = read_jsonl(self.out / "metrics.jsonl")
        minutes = [r["sim_minutes"] for r in rows]
        kinds = {"eval": ("eval", {"marker": "o"}), "train": ("practice", {"ls": "--"})}
        lines = [
            Line(
                f"{d} ({name})", minutes, [r[f"{d}_{kind}_success"] for r in rows], {"color": color, **style}
            )
            for d, color in zip(DIRECTIONS, ("tab:blue", "tab:green"))
            for kind, (name, style) in kinds.items()
        ]
        title = (
            f"{self.config.robot}/{self.config.task} forward/backward, "
            f"hand resets: {self.resets.hand_resets}, cube resets: {self.resets.cube_resets}"
        )
        return save_success_curves(
            self.out / "curve.png", lines, xlabel="simulated minutes of reset-free practice", title=title
        )

    def save(self) -> None:
        cores = {d: self.cores[d].state() for d in DIRECTIONS}
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": to_dict(self.config),
            "agents": {d: cores[d]["agent"] for d in DIRECTIONS},
            "online": {d: cores[d]["online"] for d in DIRECTIONS},
            "demos": {d: cores[d]["demos"] for d in DIRECTIONS},
            "counters": {
                "sim_steps": self.sim_steps,
                "steps": self.steps,
                "updates": self.updates,
                "episodes": self.episodes,
                "recent": self.recent,
                **self.resets.state_dict(),
                "evaluations": self.evaluations,
                "fitted": self.fitted,
                "supervisor": self.supervisor.metrics(),
                "direction": self.env.unwrapped.task.direction_for_cube(),
            },
            "rng": rng_state(self.rng),
        }
        torch_save_atomic(self.out / "checkpoint.pt", state)

    def _load(self, path: Path) -> None:
        state = self.torch.load(path, weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise RobotRLError(f"{path} is not a practice checkpoint: start a new --out")
        c = state["counters"]
        for d in DIRECTIONS:
            core = self.cores[d]
            core.load_state(state["agents"][d], state["online"][d], state["demos"][d])
            core.updates, core.fitted = c["updates"][d], c["fitted"][d]
        self.sim_steps, self.steps = c["sim_steps"], c["steps"]
        self.episodes, self.recent = c["episodes"], c["recent"]
        self.evaluations = c["evaluations"]
        self.resets.load_state_dict(c)
        self.supervisor.restore(c["supervisor"])
        self.env.unwrapped.task.set_direction(c["direction"])
        restore_rng(self.rng, state["rng"])
