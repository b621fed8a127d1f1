"""What the quadrotor shield cannot cover: a random-flight motor command held by the driver, unwatched,
for k policy steps (a stalled process or link between the controller and the robot), in the twin
behind SafeEnv. Counts the flights that pass the tilt limit (docs/safety.md, "What the layer cannot
see"). Prints JSON.

    .venv/bin/python bench/unwatched_hold.py > bench/results/issue20/session4/unwatched_hold.json
"""

from __future__ import annotations

import json
import math

import numpy as np

from robot_rl.benchmarks.machine import machine_info
from robot_rl.safety import SafeEnv
from robot_rl.sim import make_twin
from robot_rl.spec import load_robot_spec

SEEDS = range(40)
STEPS, HOLD_AT = 300, 150  # policy steps per flight; the step after which the command is held


def flight(seed: int, hold_steps: int) -> float:
    """The largest tilt (rad) of a random flight whose command at HOLD_AT is held for `hold_steps`."""
    env = SafeEnv(make_twin("crazyflie", "hover"))
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for i in range(STEPS):
        _, _, _, _, info = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        if i == HOLD_AT:
            for _ in range(hold_steps):  # the robot flies the sent command; no layer sees the state
                env._obs, *_ = env.env.step(info["action"])  # the layer's next step starts from here
                env.now += env.dt
        worst = max(worst, math.acos(max(-1.0, min(1.0, env.unwrapped.robot.true_state()[2][8]))))
    env.close()
    return worst


def main() -> dict:
    spec = load_robot_spec("crazyflie")
    limit = spec.safety.max_tilt_rad
    rows = []
    for hold in (0, 3, 6, 10):
        tilts = [flight(seed, hold) for seed in SEEDS]
        rows.append(
            {
                "hold_steps": hold,
                "hold_ms": round(1000 * hold * spec.policy_dt),
                "flights": len(tilts),
                "past_tilt_limit": int(sum(t > limit for t in tilts)),
                "median_max_tilt_rad": round(float(np.median(tilts)), 3),
                "worst_max_tilt_rad": round(max(tilts), 3),
            }
        )
    return {
        "benchmark": "unwatched_hold",
        "robot": "crazyflie",
        "task": "hover",
        "policy": "uniform random motor forces behind SafeEnv",
        "tilt_limit_rad": limit,
        "seeds": [SEEDS.start, SEEDS.stop - 1],
        "machine": machine_info(),
        "rows": rows,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
