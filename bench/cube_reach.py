"""Where the robot can fetch the cube by itself: the scripted cube reset (`CubeReset`, into bin A of
panda pick_place) from spots at and beyond the practice workspace's edges, 4 randomized trials each
(cube yaw within +/-0.7 rad). Prints one JSON object. Behind `reach_half` in
config/train/panda_pick_place_practice.yaml (docs/benchmarks.md, "Reset-free practice").

    .venv/bin/python bench/cube_reach.py
"""

from __future__ import annotations

import json

import numpy as np

SPOTS = [(0.28, -0.286), (0.311, -0.315), (0.533, 0.337), (0.27, 0.0), (0.5, -0.33), (0.5, 0.33),
         (0.72, 0.0), (0.27, -0.32), (0.27, 0.32), (0.73, -0.32)]  # fmt: skip
TRIALS = 4


def main() -> None:
    from robot_rl.benchmarks.machine import machine_info
    from robot_rl.controllers.resets import CubeReset, run_reset
    from robot_rl.sim import make_twin

    env = make_twin("panda", "pick_place")
    twin, rng = env.unwrapped, np.random.default_rng(0)
    task = twin.task
    source, half = task.bins("forward")[0], task.config.bin_half - task.config.spawn_margin
    results = {}
    for x, y in SPOTS:
        fetched = 0
        for trial in range(TRIALS):
            env.reset(seed=trial)
            quat = twin.client.getQuaternionFromEuler([0.0, 0.0, rng.uniform(-0.7, 0.7)])
            twin.client.resetBasePositionAndOrientation(task.cube, [x, y, 0.5 * task.cube_size], quat)
            report = run_reset(env, CubeReset(spot_low=source - half, spot_high=source + half), rng)
            fetched += bool(report.success and task.in_bin(source))
        results[f"{x:.3f},{y:.3f}"] = f"{fetched}/{TRIALS}"
    env.close()
    print(json.dumps({"benchmark": "cube_reach", "machine": machine_info(), "fetched": results}, indent=2))


if __name__ == "__main__":
    main()
