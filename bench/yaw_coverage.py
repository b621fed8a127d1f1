"""A reset-free practice run's forward policy against the cube's yaw: deterministic episodes after
the arm reset, the cube upright near bin A's centre at each given yaw (rad). Prints one JSON object.
Shows what a policy does at yaws its demonstrations never showed (docs/benchmarks.md,
"Reset-free practice").

    .venv/bin/python bench/yaw_coverage.py RUN_DIR --yaws 0.2,-0.2,-0.65,0.65 --episodes 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a robot-rl practice run directory (its checkpoint is read, not changed)")
    parser.add_argument("--yaws", default="0.2,-0.2,-0.65,0.65")
    parser.add_argument("--episodes", type=int, default=8)
    args = parser.parse_args()

    from robot_rl.benchmarks.machine import machine_info
    from robot_rl.config import from_dict, load_yaml
    from robot_rl.controllers.resets import ArmReset, run_reset
    from robot_rl.evaluate import run_episodes
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    copy = Path(tempfile.mkdtemp()) / "run"  # resuming writes to the run folder: work on a copy
    shutil.copytree(args.run, copy)
    practice = Practice(from_dict(PracticeConfig, load_yaml(str(copy / "config.yaml"))), copy, resume=True,
                        progress=False)  # fmt: skip
    policy, env = practice.agents["forward"].policy, practice.env
    twin, rng = env.unwrapped, np.random.default_rng(1)
    task = twin.task
    out = {"episodic": run_episodes(policy, practice.eval_env, args.episodes).summary()["success_rate"]}
    for yaw in (float(v) for v in args.yaws.split(",")):
        placed, lowest = 0, []
        for i in range(args.episodes):
            env.reset(seed=100 + i)
            task.set_direction("forward")
            xy = task.bins("forward")[0] + rng.uniform(-0.04, 0.04, 2)
            quat = twin.client.getQuaternionFromEuler([0.0, 0.0, yaw])
            twin.client.resetBasePositionAndOrientation(task.cube, [*xy, 0.5 * task.cube_size], quat)
            run_reset(env, ArmReset(), rng)
            obs, _ = env.reset(options={"keep_scene": True})
            low, info = 1.0, {"success": False}
            for _ in range(task.max_episode_steps):
                obs, _, terminated, truncated, info = env.step(policy(obs, deterministic=True))
                low = min(low, float(twin.robot.tcp_pose()[0][2]))
                if terminated or truncated:
                    break
            placed += bool(info["success"])
            lowest.append(round(low, 3))
        out[f"yaw {yaw:+.2f}"] = {"placed": f"{placed}/{args.episodes}", "lowest_tcp_z_m": lowest}
    print(
        json.dumps({"benchmark": "yaw_coverage", "machine": machine_info(), "run": args.run, **out}, indent=2)
    )


if __name__ == "__main__":
    main()
