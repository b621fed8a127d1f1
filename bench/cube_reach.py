"""Where the robot can fetch the cube by itself: the scripted cube reset (`CubeReset`, into bin A of
panda pick_place), 4 randomized trials per spot (cube yaw within +/-0.7 rad). Prints one JSON object.

Two cells, side by side:
- `table`: the bare table and the robot spec's TCP box, from spots at and beyond the old practice
  workspace's edges (where the reset-free runs left the cube before the tray);
- `tray`: the shipped practice cell (config/train/panda_pick_place_practice.yaml: its tray and its
  TCP box), from spots along the rim and in its corners, the cube touching the rim or 1.5 cm
  from it (where a finger comes down on the rim).

Behind `reach_half` and the tray in that config (docs/benchmarks/resets_safety.md, "Reset-free practice").

    .venv/bin/python bench/cube_reach.py
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

TABLE_SPOTS = [(0.28, -0.286), (0.311, -0.315), (0.533, 0.337), (0.27, 0.0), (0.5, -0.33), (0.5, 0.33),
               (0.72, 0.0), (0.27, -0.32), (0.27, 0.32), (0.73, -0.32)]  # fmt: skip
TRIALS = 4


def tray_spots(tray: list[float], half_edge: float) -> list[tuple[float, float]]:
    """Corners, wall midpoints and points between them, the cube touching the rim or `gap` from it."""
    x0, y0, x1, y1 = tray
    spots = []
    for gap in (0.0, 0.015):
        lo_x, hi_x, lo_y, hi_y = (
            x0 + half_edge + gap,
            x1 - half_edge - gap,
            y0 + half_edge + gap,
            y1 - half_edge - gap,
        )
        for x in (lo_x, 0.5 * (lo_x + hi_x), hi_x):
            for y in (lo_y, 0.5 * (lo_y + hi_y), hi_y):
                if (x, y) != (0.5 * (lo_x + hi_x), 0.5 * (lo_y + hi_y)):
                    spots.append((round(x, 3), round(y, 3)))
        spots += [
            (round(0.5 * (lo_x + hi_x) + dx, 3), y)
            for dx in (-0.1, 0.1)
            for y in (round(lo_y, 3), round(hi_y, 3))
        ]
    return spots


def fetch_rates(env: Any, spots: list[tuple[float, float]], rng: np.random.Generator) -> dict[str, str]:
    from robot_rl.controllers.resets import CubeReset, run_reset

    twin = env.unwrapped
    task = twin.task
    source, (low, high) = task.bins("forward")[0], task.drop_zone("forward")
    results = {}
    for x, y in spots:
        fetched = 0
        for trial in range(TRIALS):
            env.reset(seed=trial)
            quat = twin.client.getQuaternionFromEuler([0.0, 0.0, rng.uniform(-0.7, 0.7)])
            twin.client.resetBasePositionAndOrientation(task.cube, [x, y, 0.5 * task.cube_size], quat)
            report = run_reset(env, CubeReset(spot_low=low, spot_high=high), rng)
            fetched += bool(report.success and task.in_bin(source))
        results[f"{x:.3f},{y:.3f}"] = f"{fetched}/{TRIALS}"
    return results


def main() -> None:
    from robot_rl.benchmarks.machine import machine_info
    from robot_rl.paths import config_dir
    from robot_rl.run_config import load_practice_config
    from robot_rl.sim import make_twin

    cell = load_practice_config(str(config_dir() / "train" / "panda_pick_place_practice.yaml"))
    rng = np.random.default_rng(0)
    table = make_twin("panda", "pick_place")
    tray = make_twin("panda", "pick_place", task_config=cell.task_config, spec_overrides=cell.spec_overrides)
    spots = tray_spots(cell.task_config["tray"], 0.5 * tray.unwrapped.task.config.cube_size)
    cells = {"table": fetch_rates(table, TABLE_SPOTS, rng), "tray": fetch_rates(tray, spots, rng)}
    table.close()
    tray.close()
    totals = {
        name: f"{sum(int(v.split('/')[0]) for v in r.values())}/{TRIALS * len(r)}"
        for name, r in cells.items()
    }
    result = {"benchmark": "cube_reach", "machine": machine_info(), "fetched": cells, "totals": totals}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
