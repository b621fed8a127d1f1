"""`robot-rl bench safety`: the safety layer under random and adversarial actions.

Per robot, segments of: uniform random actions, the largest action toward one safety-box
wall (arm) or the most destabilising motor pattern (quadrotor: full thrust on one side, all
motors full, all off), and NaN bursts on the action and on the observation (the e-stop
latches on the bad observation; the operator clears it once the sensor is back, as here).
Measured on the twin's true state: how far the arm's TCP and the quadrotor leave the safety
box and the quadrotor's largest tilt, checked after every physics step where the twin has the
hook (the quadrotor), else after every policy step.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info

TASKS = {"panda": "reach", "ur5e": "reach", "crazyflie": "hover", "racecar": "laps"}
#: arms with Cartesian-delta actions: the adversarial pattern pushes one box wall, the TCP is checked
ARMS = ("panda", "ur5e")
SEGMENT = 25  # steps per adversarial pattern


def adversarial_action(rng: np.random.Generator, robot: str, size: int, pattern: int) -> np.ndarray:
    if pattern == 0:
        return rng.uniform(-1.0, 1.0, size)
    a = np.zeros(size)
    if robot in ARMS:
        axis, sign = rng.integers(3), rng.choice([-1.0, 1.0])
        a[axis] = sign
        a[-1] = rng.choice([-1.0, 1.0])
    elif robot == "crazyflie":
        kind = rng.integers(4)
        if kind == 0:  # one side full, the other off: the fastest roll/pitch the motors can make
            side = rng.integers(4)
            a[:] = -1.0
            a[side] = a[(side + 1) % 4] = 1.0
        elif kind == 1:
            a[:] = 1.0  # climb at full thrust
        elif kind == 2:
            a[:] = -1.0  # motors off: fall
        else:
            a[:] = rng.choice([-1.0, 1.0], size)
    else:
        a[:] = rng.choice([-1.0, 1.0], size)
    return a


def run_adversarial(robot: str, steps: int, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """`steps` adversarial policy steps on one robot; returns the worst excursion and tilt."""
    from tqdm import tqdm

    from robot_rl.safety import SafeEnv
    from robot_rl.sim import make_twin

    env = SafeEnv(make_twin(robot, TASKS[robot], randomize=True))
    twin = env.unwrapped
    rng = np.random.default_rng(seed)
    box = env.layer.box
    worst = {"box_excursion_m": 0.0, "tilt_rad": 0.0}

    def check() -> None:
        if robot == "crazyflie":
            tilt = math.acos(max(-1.0, min(1.0, twin.robot.rot[8])))
            worst["tilt_rad"] = max(worst["tilt_rad"], tilt)
            p = np.asarray(twin.robot.pos)
        elif robot in ARMS:
            p = twin.robot.tcp_pose()[0]
        else:
            return
        out = max(float(np.max(box.low - p)), float(np.max(p - box.high)), 0.0)
        worst["box_excursion_m"] = max(worst["box_excursion_m"], out)

    if robot == "crazyflie":
        hook = twin.robot.after_physics_step

        def after_physics_step() -> None:
            hook()
            check()

        twin.robot.after_physics_step = after_physics_step  # measurement only: per physics step

    size = twin.action_space.shape[0]
    episodes, terminated_by_task, nan_steps = 1, 0, 0
    env.reset(seed=seed)
    start = time.perf_counter()
    pattern, action = 0, np.zeros(size)
    for i in tqdm(range(steps), desc=f"adversarial {robot}", disable=not progress, leave=False):
        if i % SEGMENT == 0:
            # 0 random, 1-2 one adversarial pattern held for the whole segment, 3 NaN burst
            pattern = int(rng.integers(4))
            action = adversarial_action(rng, robot, size, 1)
        fault = None
        if pattern == 3 and i % SEGMENT < 5:
            nan_steps += 1
            act = np.full(size, np.nan) if rng.random() < 0.5 else action
            if rng.random() < 0.5:

                def fault(obs: dict) -> dict:
                    bad = dict(obs)
                    bad["state"] = np.where(rng.random(obs["state"].shape) < 0.3, np.nan, obs["state"])
                    return bad

        else:
            act = rng.uniform(-1.0, 1.0, size) if pattern in (0, 3) else action
            env.layer.resume()  # the sensor is back: the fault is cleared, as a reset would
        _, _, terminated, truncated, info = env.step_at(act, env.now, obs_fault=fault)
        check()
        if terminated or truncated:
            terminated_by_task += bool(terminated and not info.get("success"))
            env.layer.resume()
            env.reset(seed=seed + episodes)
            episodes += 1
    wall = time.perf_counter() - start
    env.close()
    spec = twin.robot_spec
    result = {
        "robot": robot,
        "task": TASKS[robot],
        "steps": steps,
        "episodes": episodes,
        "failed_episodes": terminated_by_task,
        "nan_steps": nan_steps,
        "decisions": env.counts,
        "wall_s": round(wall, 1),
    }
    if robot in ARMS:
        result["box_excursion_m"] = worst["box_excursion_m"]
        result["meets_goal"] = worst["box_excursion_m"] == 0.0
    if robot == "crazyflie":
        result["max_tilt_rad"] = worst["tilt_rad"]
        result["tilt_limit_rad"] = spec.safety.max_tilt_rad
        # the position box is enforced with odometry (SafeEnv passes the twin's position)
        result["box_excursion_m"] = worst["box_excursion_m"]
        result["meets_goal"] = worst["tilt_rad"] < spec.safety.max_tilt_rad
    return result


def run(
    robots: list[str] | None = None, steps: int = 100_000, seed: int = 0, progress: bool = True
) -> dict[str, Any]:
    robots = robots or ["panda", "crazyflie"]
    results = [run_adversarial(robot, steps, seed, progress) for robot in robots]
    return {
        "benchmark": "safety",
        "machine": machine_info(),
        "settings": {"steps_per_robot": steps, "seed": seed, "segment_steps": SEGMENT, "randomized": True},
        "results": results,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'robot':<10}{'steps':>9}{'episodes':>9}{'NaN steps':>10}  worst  decisions"]
    for r in result["results"]:
        parts = []
        if "max_tilt_rad" in r:
            parts.append(f"tilt {r['max_tilt_rad']:.3f} of {r['tilt_limit_rad']} rad")
        if "box_excursion_m" in r:
            parts.append(f"box excursion {r['box_excursion_m'] * 1000:.1f} mm")
        worst = ", ".join(parts) or "-"
        lines.append(
            f"{r['robot']:<10}{r['steps']:>9}{r['episodes']:>9}{r['nan_steps']:>10}"
            f"  {worst}  {r['decisions']}"
        )
    return "\n".join(lines)
