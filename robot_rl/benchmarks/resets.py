"""`robot-rl bench resets`: scripted reset success and duration, per robot, randomized twin.

Each trial starts from a disturbed state (the task's random start, then random actions for a
moment; the car is placed misaligned near a wall) and runs the robot's reset controller from
`controllers.resets`. Seeds 0..resets-1, domain randomization on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info

GOAL_SUCCESS = 0.99
TASKS = {"panda": "pick_cube", "ur5e": "pick_cube", "crazyflie": "hover", "racecar": "laps"}
DISTURB_STEPS = {"panda": 5, "ur5e": 5, "crazyflie": 3, "racecar": 0}


def disturb(env: Any, robot: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Leave the robot somewhere a reset has to recover from; returns the observation."""
    twin = env.unwrapped
    obs = twin._observation()
    if robot == "racecar":
        course, cfg = twin.task.course, twin.task.config
        s = float(rng.uniform(0.0, course.length))
        x, y, heading = course.pose(s)
        offset = float(rng.uniform(-0.5, 0.5)) * (0.5 * cfg.width_m - 0.2)
        err = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.3))
        twin.robot.place(x - offset * math.sin(heading), y + offset * math.cos(heading), heading + err)
        return twin._observation()
    for _ in range(DISTURB_STEPS[robot]):
        obs, *_ = env.step(rng.uniform(-1.0, 1.0, twin.action_space.shape))
    return obs


def reset_trials(
    robot: str,
    resets: int,
    seed0: int = 0,
    progress: bool = False,
    objects: bool = False,
    controller: type | None = None,
) -> dict[str, Any]:
    """`resets` trials of the robot's reset (`objects`: its task's object reset instead; `controller`:
    another reset controller class, e.g. the graph's `StateArmReset`)."""
    from tqdm import tqdm

    from robot_rl.controllers.resets import OBJECT_RESETS, RESETS, run_reset
    from robot_rl.sim import make_twin

    controller_cls = controller or (OBJECT_RESETS[(robot, TASKS[robot])] if objects else RESETS[robot])
    env = make_twin(robot, TASKS[robot], randomize=True)
    reports = []
    for seed in tqdm(range(seed0, seed0 + resets), desc=f"resets {robot}", disable=not progress, leave=False):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        obs = disturb(env, robot, rng)
        reports.append(run_reset(env, controller_cls(), rng, obs))
    env.close()
    durations = [r.duration_s for r in reports if r.success]
    reasons: dict[str, int] = {}
    for r in reports:
        if not r.success:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    success = sum(r.success for r in reports) / max(len(reports), 1)
    return {
        "robot": robot,
        "kind": reports[0].kind if reports else "",
        "resets": resets,
        "success_rate": success,
        "duration_s": {
            "median": float(np.median(durations)) if durations else None,
            "p95": float(np.percentile(durations, 95)) if durations else None,
            "max": float(np.max(durations)) if durations else None,
        },
        "failures": reasons,
        "meets_goal": success >= GOAL_SUCCESS,
    }


def run(robots: list[str] | None = None, resets: int = 200, progress: bool = True) -> dict[str, Any]:
    from robot_rl.controllers.resets import OBJECT_RESETS, StateArmReset

    robots = robots or list(TASKS)
    return {
        "benchmark": "resets",
        "machine": machine_info(),
        "settings": {"resets": resets, "seeds": f"0..{resets - 1}", "randomized": True},
        "goal_success_rate": GOAL_SUCCESS,
        "results": [reset_trials(robot, resets, progress=progress) for robot in robots]
        + [
            reset_trials(robot, resets, progress=progress, objects=True)
            for robot in robots
            if any(key[0] == robot and key[1] == TASKS[robot] for key in OBJECT_RESETS)
        ]
        # the arm reset the ROS reset node runs from the state topics (`mode: graph`)
        + [
            reset_trials("panda", resets, progress=progress, controller=StateArmReset)
            for r in robots
            if r == "panda"
        ],
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'robot':<10}{'reset':<22}{'success':>9}{'resets':>8}  duration s (median / p95 / max)"]
    for r in result["results"]:
        d = r["duration_s"]
        times = " / ".join("-" if d[k] is None else f"{d[k]:.2f}" for k in ("median", "p95", "max"))
        lines.append(f"{r['robot']:<10}{r['kind']:<22}{r['success_rate']:>9.1%}{r['resets']:>8}  {times}")
    return "\n".join(lines)
