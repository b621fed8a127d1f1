"""Stable-Baselines3 SAC on a twin task's `state` observation: the baseline of sample_efficiency.py.

    .venv/bin/python bench/sb3_sac.py --config config/train/panda_pick_cube_bench.yaml \
        --steps 100000 --seed 0 --out RUN [--resume]

The learner is SB3's `SAC("MlpPolicy")` with its defaults (256x256 actor and critics, lr 3e-4,
batch 256, gamma 0.99, automatic entropy temperature, 100 random steps, one gradient step per
env step) and no demonstrations. Only the replay buffer is sized to the step budget: SB3's
default of 10^6 transitions is never filled in these budgets, so nothing changes but memory
and checkpoint size.

The task, evaluation cadence and checkpoint cadence come from the same TrainConfig YAML the
`rlpd` runs use, and evaluation follows robot_rl's Trainer: every `eval_every` env steps,
`eval_episodes` deterministic episodes on a separate nominal twin with seeds 10_000_000 + i;
an episode succeeds if `info["success"]` is true at any step. Rows go to `metrics.jsonl`
({step, episodes, success_rate, return, length, wall_s}); `wall_s` is this run's wall time
summed over resumed sessions. With `--stop-at-success F` the run ends at the first evaluation
whose success rate is >= F (a checkpoint is written there): the steps to that rate are known and
the rest of the budget would not change them. `--n-step N` gives SB3 N-step TD targets (its
`n_steps`, default 1): a side check of recipes that use `agent: {n_step: N}`, not the baseline.

A checkpoint is a folder `checkpoint/` holding the model (`model.zip`), the replay buffer
(`replay.pkl`) and counters (`state.json`); it is written as `checkpoint.tmp/` and swapped in
by renames, so a kill at any moment leaves one complete checkpoint. `--resume` continues from
it and drops metrics rows written after it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: seeds of the evaluation episodes, as robot_rl.train.Trainer.evaluate uses them
EVAL_SEED_BASE = 10_000_000


def make_state_env(robot: str, task: str, randomize: bool = False):
    """The twin with its observation reduced to the `state` vector (what SB3's MlpPolicy takes)."""
    import gymnasium as gym

    from robot_rl.sim import make_twin

    class StateObservation(gym.ObservationWrapper):
        def __init__(self, env: gym.Env):
            super().__init__(env)
            self.observation_space = env.observation_space["state"]

        def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
            return observation["state"]

    return StateObservation(make_twin(robot, task, randomize=randomize))


def evaluate(model: Any, env: Any, episodes: int) -> dict[str, float]:
    """Deterministic episodes with fixed seeds; success = info["success"] at any step."""
    successes, returns, lengths = [], [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED_BASE + i)
        done, ret, length, success = False, 0.0, 0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            ret, length, done = ret + reward, length + 1, terminated or truncated
            success = success or bool(info["success"])
        successes.append(success)
        returns.append(ret)
        lengths.append(length)
    return {
        "success_rate": float(np.mean(successes)),
        "return": float(np.mean(returns)),
        "length": float(np.mean(lengths)),
    }


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _checkpoint_dir(out: Path) -> Path | None:
    """The complete checkpoint of a run, if any (a kill mid-swap leaves it as checkpoint.old)."""
    for name in ("checkpoint", "checkpoint.old"):
        if (out / name / "state.json").is_file():
            return out / name
    return None


def run(
    config_path: str,
    steps: int,
    seed: int,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    stop_at_success: float | None = None,
    n_step: int = 1,
) -> dict[str, Any]:
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    from robot_rl.errors import RobotRLError
    from robot_rl.run_config import load_train_config
    from robot_rl.runtime import configure_torch

    configure_torch()  # one intra-op thread unless ROBOT_RL_TORCH_THREADS says otherwise
    cfg = load_train_config(config_path, steps=steps, seed=seed)
    out = Path(out)
    ckpt = _checkpoint_dir(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise RobotRLError(
            f"run directory {out} is not empty: pass --resume to continue it or choose another --out"
        )
    if resume and ckpt is None:
        raise RobotRLError(f"nothing to resume in {out}: no checkpoint/ (start without --resume)")
    out.mkdir(parents=True, exist_ok=True)

    env = make_state_env(cfg.robot, cfg.task, cfg.randomize)
    eval_env = make_state_env(cfg.robot, cfg.task)
    metrics_path = out / "metrics.jsonl"
    if ckpt is not None:
        state = json.loads((ckpt / "state.json").read_text())
        with warnings.catch_warnings():
            # a saved N-step model names its buffer class, which SB3 then warns would ignore n_steps;
            # the buffer is the saved one (load_replay_buffer below), N-step included
            warnings.filterwarnings("ignore", message=".*n_steps=.* is ignored")
            model = SAC.load(ckpt / "model.zip", env=env, device="cpu")
        model.load_replay_buffer(ckpt / "replay.pkl")
        # rows evaluated after the checkpoint belong to the lost part of the run
        kept = [r for r in read_rows(metrics_path) if r["step"] <= state["step"]]
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    else:
        state = {"step": 0, "episodes": 0, "wall_s": 0.0}
        model = SAC(
            "MlpPolicy",
            env,
            buffer_size=min(1_000_000, cfg.steps),
            seed=cfg.seed,
            device="cpu",
            n_steps=n_step,
        )
        metrics_path.write_text("")
    hyper = {
        "algorithm": "stable_baselines3.SAC",
        "policy": "MlpPolicy",
        "net_arch": [256, 256],
        "learning_rate": model.learning_rate,
        "batch_size": model.batch_size,
        "gamma": model.gamma,
        "n_steps": model.n_steps,
        "tau": model.tau,
        "learning_starts": model.learning_starts,
        "train_freq": model.train_freq.frequency,
        "gradient_steps": model.gradient_steps,
        "ent_coef": "auto",
        "buffer_size": model.buffer_size,
    }
    run_config = {
        "robot": cfg.robot,
        "task": cfg.task,
        "steps": cfg.steps,
        "seed": cfg.seed,
        "eval_every": cfg.eval_every,
        "eval_episodes": cfg.eval_episodes,
        "checkpoint_every": cfg.checkpoint_every,
        "randomize": cfg.randomize,
        "stop_at_success": stop_at_success,
        "sb3": hyper,
    }
    (out / "config.json").write_text(json.dumps(run_config, indent=2))

    start = time.perf_counter()
    wall_offset = state["wall_s"]
    episodes = [state["episodes"]]
    stopped = [False]
    bar = tqdm(
        total=cfg.steps, initial=state["step"], desc=f"sb3 {cfg.robot}/{cfg.task}", disable=not progress
    )
    metrics = metrics_path.open("a")

    def wall() -> float:
        return round(wall_offset + time.perf_counter() - start, 2)

    def save(step: int) -> None:
        tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        model.save(tmp / "model.zip")
        model.save_replay_buffer(tmp / "replay.pkl")
        (tmp / "state.json").write_text(json.dumps({"step": step, "episodes": episodes[0], "wall_s": wall()}))
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)

    class EvalAndCheckpoint(BaseCallback):
        def _on_step(self) -> bool:
            step = self.num_timesteps
            episodes[0] += int(np.sum(self.locals["dones"]))
            bar.update(1)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                row = {"step": step, "episodes": episodes[0], **evaluate(model, eval_env, cfg.eval_episodes)}
                row["wall_s"] = wall()
                metrics.write(json.dumps(row) + "\n")
                metrics.flush()
                bar.set_postfix(eval_success=f"{row['success_rate']:.0%}")
                stopped[0] = stop_at_success is not None and row["success_rate"] >= stop_at_success
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or stopped[0]:
                save(step)
            return not stopped[0]

    remaining = cfg.steps - model.num_timesteps
    reached = stop_at_success is not None and any(
        r["success_rate"] >= stop_at_success for r in read_rows(metrics_path)
    )
    if remaining > 0 and not reached:
        model.learn(remaining, callback=EvalAndCheckpoint(), reset_num_timesteps=ckpt is None)
    bar.close()
    metrics.close()
    rows = read_rows(metrics_path)
    return {
        "steps": model.num_timesteps,
        "episodes": episodes[0],
        "wall_s": wall(),
        "stopped_at_success": stopped[0] or reached,
        **(rows[-1] if rows else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="TrainConfig YAML: task, eval and checkpoint cadence")
    parser.add_argument("--steps", type=int, required=True, help="env-step budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument(
        "--stop-at-success",
        type=float,
        metavar="F",
        help="end the run at the first evaluation with success rate >= F (a fraction, e.g. 0.9)",
    )
    parser.add_argument("--n-step", type=int, default=1, help="N-step TD targets (SB3's n_steps; default 1)")
    args = parser.parse_args(argv)
    if args.stop_at_success is not None and not 0.0 < args.stop_at_success <= 1.0:
        parser.error(f"--stop-at-success must be a fraction in (0, 1], got {args.stop_at_success}")
    if args.n_step < 1:
        parser.error(f"--n-step must be at least 1, got {args.n_step}")
    from robot_rl.errors import RobotRLError

    try:
        result = run(
            args.config,
            args.steps,
            args.seed,
            args.out,
            resume=args.resume,
            stop_at_success=args.stop_at_success,
            n_step=args.n_step,
        )
    except RobotRLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
