"""How much the quadrotor shield flies the equivalence bench's hover policy, in process, with and
without the safety layer (docs/benchmarks/one_path.md, "Where it falls short"). Prints JSON.

    .venv/bin/python bench/equivalence_shield.py > bench/results/issue20/session3/equivalence_shield.json
"""

from __future__ import annotations

import json

import numpy as np

from robot_rl.benchmarks.equivalence import SEED, reference_policy, state_slices
from robot_rl.benchmarks.machine import machine_info
from robot_rl.robots.env import RobotEnv
from robot_rl.robots.interface import TwinInProcess
from robot_rl.spec import load_robot_spec


def main() -> dict:
    spec = load_robot_spec("crazyflie")
    where = state_slices(spec, "hover")["pos_error"]
    policy = reference_policy(spec, "hover")
    out = {"benchmark": "equivalence_shield", "machine": machine_info(), "runs": []}
    for seed in (SEED, SEED + 1, SEED + 2):
        for safety in (True, False):
            env = RobotEnv(TwinInProcess("crazyflie", "hover", safety=safety), max_episode_steps=200)
            obs, _ = env.reset(seed=seed)
            policy.reset()
            decisions: dict[str, int] = {}
            errors = []
            for _ in range(200):
                obs, _, terminated, _, info = env.step(policy(obs))
                key = info.get("safety", "no layer")
                decisions[key] = decisions.get(key, 0) + 1
                errors.append(float(np.linalg.norm(obs["state"][where])))
                if terminated:
                    break
            env.close()
            out["runs"].append(
                {
                    "seed": seed,
                    "safety": safety,
                    "steps": len(errors),
                    "decisions": decisions,
                    "pos_error_m_last_50_max": round(max(errors[-50:]), 4),
                }
            )
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
