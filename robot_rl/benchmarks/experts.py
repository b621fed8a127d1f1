"""`robot-rl bench experts`: scripted-expert success on every twin task, nominal and randomized.

The foundation's goal is >= 95% on every task; the test suite checks a small seed set, this
measures the full one. Seeds are fixed (0..episodes-1), so the figures repeat exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info
from robot_rl.registry import ENVS

GOAL_SUCCESS = 0.95
#: task metrics reported at episode end (median over episodes) where a task provides them
METRICS = ("hover_rmse", "tracking_rmse", "laps", "lap_time_s", "lap_collisions")


def expert_success(
    robot: str, task: str, episodes: int, randomize: bool, action_mode: str | None = None
) -> dict[str, Any]:
    from robot_rl.demos import record_episode
    from robot_rl.sim import make_expert, make_twin

    options = {"action_mode": action_mode} if action_mode else None
    env = make_twin(robot, task, randomize=randomize, robot_options=options)
    expert = make_expert(env)
    results = [record_episode(env, expert.act, seed=seed, on_reset=expert.reset) for seed in range(episodes)]
    env.close()
    success = float(np.mean([ep.succeeded for ep in results]))
    metrics = {}
    for key in METRICS:
        values = [ep.final_info[key] for ep in results if key in ep.final_info and ep.final_info[key] >= 0]
        if values:
            metrics[key] = {"median": float(np.median(values)), "max": float(np.max(values))}
    return {
        "robot": robot,
        "task": task,
        "action_mode": action_mode or "default",
        "randomized": randomize,
        "episodes": episodes,
        "success_rate": success,
        "mean_length": float(np.mean([ep.length for ep in results])),
        "metrics": metrics,
        "meets_goal": success >= GOAL_SUCCESS,
    }


def run(robots: list[str] | None = None, episodes: int = 100, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    jobs = [
        (e.robot, e.task, randomize, None)
        for e in ENVS
        if not e.kwargs and (not robots or e.robot in robots)
        for randomize in (False, True)
    ]
    # The quadrotor's second action mode (body rates + thrust through the onboard rate loop).
    jobs += [(r, t, z, "rates") for r, t, z, _ in list(jobs) if r == "crazyflie"]
    results = [
        expert_success(robot, task, episodes, randomize, mode)
        for robot, task, randomize, mode in tqdm(
            jobs, desc="bench experts", disable=not progress, leave=False
        )
    ]
    return {
        "benchmark": "experts",
        "machine": machine_info(),
        "settings": {"episodes": episodes, "seeds": f"0..{episodes - 1}"},
        "goal_success_rate": GOAL_SUCCESS,
        "results": results,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'robot/task (mode)':<32}{'randomized':>11}{'success':>9}{'episodes':>10}  metrics (median)"]
    for r in result["results"]:
        name = f"{r['robot']}/{r['task']} ({r['action_mode']})"
        metrics = ", ".join(f"{k} {v['median']:.3g}" for k, v in r["metrics"].items())
        lines.append(
            f"{name:<32}{r['randomized']!s:>11}{r['success_rate']:>9.0%}{r['episodes']:>10}  {metrics}"
        )
    return "\n".join(lines)
