"""Arm resets after a policy has stretched the arm: the Cartesian reset alone against the joint reset.

24 reset-free episodes on panda pick_place, each 100 steps of saturated random actions (a random
sign per axis held for the episode, a uniform random action every 7th step), each followed by an
`ArmReset`. A failed reset is followed by an episodic reset (a person fixing the arm). Prints one
JSON object: successes and joint resets of each variant.

    .venv/bin/python bench/arm_reset_stretched.py
"""

from __future__ import annotations

import json

import numpy as np


def run(episodes: int = 24) -> dict:
    from robot_rl.benchmarks.machine import machine_info
    from robot_rl.controllers.resets import ArmReset, run_reset
    from robot_rl.sim import make_twin

    variants = {
        "cartesian_only": {"near_limit_rad": 0.0, "cartesian_patience_s": 1e9},
        "with_joint_reset": {},
    }
    result: dict = {"benchmark": "arm_reset_stretched", "machine": machine_info(), "episodes": episodes}
    for name, options in variants.items():
        env = make_twin("panda", "pick_place")
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        successes = joint_resets = 0
        for episode in range(episodes):
            action = np.sign(rng.uniform(-1, 1, 4)).astype(np.float32)
            env.reset(options={"keep_scene": True})
            for k in range(100):
                obs, *_ = env.step(action if k % 7 else rng.uniform(-1, 1, 4).astype(np.float32))
            reset = ArmReset(**options)
            report = run_reset(env, reset, rng, obs)
            successes += report.success
            joint_resets += reset.joint_resets
            if not report.success:
                env.reset(seed=episode)
        env.close()
        result[name] = {"successes": successes, "joint_resets": joint_resets}
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
