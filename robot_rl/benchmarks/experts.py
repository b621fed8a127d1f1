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


def expert_success(robot: str, task: str, episodes: int, randomize: bool) -> dict[str, Any]:
    from robot_rl.demos import record_episode
    from robot_rl.sim import make_expert, make_twin

    env = make_twin(robot, task, randomize=randomize)
    expert = make_expert(env)
    results = [record_episode(env, expert.act, seed=seed, on_reset=expert.reset) for seed in range(episodes)]
    env.close()
    success = float(np.mean([ep.succeeded for ep in results]))
    return {
        "robot": robot,
        "task": task,
        "randomized": randomize,
        "episodes": episodes,
        "success_rate": success,
        "mean_length": float(np.mean([ep.length for ep in results])),
        "meets_goal": success >= GOAL_SUCCESS,
    }


def run(robots: list[str] | None = None, episodes: int = 100, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    jobs = [
        (e.robot, e.task, randomize)
        for e in ENVS
        if not e.kwargs and (not robots or e.robot in robots)
        for randomize in (False, True)
    ]
    results = [
        expert_success(robot, task, episodes, randomize)
        for robot, task, randomize in tqdm(jobs, desc="bench experts", disable=not progress, leave=False)
    ]
    return {
        "benchmark": "experts",
        "machine": machine_info(),
        "settings": {"episodes": episodes, "seeds": f"0..{episodes - 1}"},
        "goal_success_rate": GOAL_SUCCESS,
        "results": results,
    }
