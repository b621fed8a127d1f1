"""`robot-rl bench sim`: twin speed while running the real control laws.

For every robot/task: env steps per second (state only, random actions) and the real-time
factor, ms per reset, and ms per 128x128 frame of each camera in the robot spec. Each figure
is the median of `repeats` timed blocks, so one noisy block on a shared machine does not
decide it.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info
from robot_rl.registry import ENVS

#: goals from the foundation issue, on a 2-core machine
GOALS = {
    "steps_per_s": {"panda": 200.0, "crazyflie": 2000.0, "racecar": 200.0},
    "frame_ms": 3.0,
    "reset_ms": 1.0,
}


def _median_rate(fn, count: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(count)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_task(
    robot: str, task: str, steps: int, resets: int, frames: int, repeats: int, seed: int = 0
) -> dict[str, Any]:
    from robot_rl.sim import make_twin

    env = make_twin(robot, task)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)

    def run_steps(n: int) -> None:
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(
                rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
            )
            if terminated or truncated:
                env.reset()

    def run_resets(n: int) -> None:
        for _ in range(n):
            env.reset()

    run_steps(min(steps, 20))  # warm-up
    steps_per_s = _median_rate(run_steps, steps, repeats)
    reset_ms = 1e3 / _median_rate(run_resets, resets, repeats)
    env.reset(seed=seed)
    frame_ms = {}
    for cam in env.robot_spec.cameras:
        env.render_camera(cam)

        def render(n: int, cam=cam) -> None:
            for _ in range(n):
                env.render_camera(cam)

        frame_ms[f"{cam.name} {cam.width}x{cam.height}"] = 1e3 / _median_rate(render, frames, repeats)
    policy_hz = env.robot_spec.rates.policy_hz
    env.close()
    goal = GOALS["steps_per_s"].get(robot)
    meets = (goal is None or steps_per_s >= goal) and reset_ms <= GOALS["reset_ms"]
    meets = meets and all(ms <= GOALS["frame_ms"] for ms in frame_ms.values())
    return {
        "robot": robot,
        "task": task,
        "policy_hz": policy_hz,
        "steps_per_s": round(steps_per_s, 1),
        "real_time_factor": round(steps_per_s / policy_hz, 2),
        "reset_ms": round(reset_ms, 3),
        "frame_ms": {name: round(ms, 3) for name, ms in frame_ms.items()},
        "goal_steps_per_s": goal,
        "meets_goals": bool(meets),
    }


def run(
    robots: list[str] | None = None,
    steps: int = 500,
    resets: int = 200,
    frames: int = 50,
    repeats: int = 3,
    progress: bool = True,
) -> dict[str, Any]:
    """Benchmark every registered state-only twin task (optionally only some robots)."""
    from tqdm import tqdm

    tasks = [(e.robot, e.task) for e in ENVS if not e.kwargs and (not robots or e.robot in robots)]
    results = []
    for robot, task in tqdm(tasks, desc="bench sim", disable=not progress, leave=False):
        results.append(bench_task(robot, task, steps, resets, frames, repeats))
    return {
        "benchmark": "sim",
        "machine": machine_info(),
        "settings": {
            "steps": steps,
            "resets": resets,
            "frames": frames,
            "repeats": repeats,
            "actions": "uniform random",
        },
        "goals": GOALS,
        "results": results,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'robot/task':<24}{'steps/s':>10}{'x real':>9}{'reset ms':>10}  frames (ms)"]
    for r in result["results"]:
        frames = ", ".join(f"{k} {v}" for k, v in r["frame_ms"].items()) or "-"
        name = f"{r['robot']}/{r['task']}"
        lines.append(
            f"{name:<24}{r['steps_per_s']:>10}{r['real_time_factor']:>9}{r['reset_ms']:>10}  {frames}"
        )
    return "\n".join(lines)
