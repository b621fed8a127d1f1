"""Reset-free forward/backward practice on panda pick_place (issue goal: >= 30 simulated minutes with
no hand reset, and both policies improve).

Runs `robot_rl.practice.Practice` with config/train/panda_pick_place_practice.yaml (30 demonstrations
per direction, arm-only scripted resets between episodes and the robot's own cube reset where a
policy leaves the cube stuck or far from the bins, a tray around the practice area with the cell's
TCP box inside it, the learner settings of the pick_cube
sample-efficiency benchmark with a BC term; the reasons are in those files). Prints one JSON
object: simulated minutes, hand resets, arm resets and their success, and for each direction the
evaluation success (10 episodic-reset episodes, deterministic) before practice, the best and
the last evaluation, and the training success over the last 20 practice episodes. The run
checkpoints at every evaluation; re-running the command resumes it.

    .venv/bin/python bench/reset_free.py                       # runs/reset_free, 30 simulated minutes
    .venv/bin/python bench/reset_free.py --report              # only read metrics.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def summary(out: Path) -> dict[str, Any]:
    from robot_rl.benchmarks.machine import machine_info

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    last = rows[-1]
    result: dict[str, Any] = {
        "benchmark": "reset_free",
        "machine": machine_info(),
        "run": str(out),
        "sim_minutes": last["sim_minutes"],
        "hand_resets": last["hand_resets"],
        "arm_resets": last["resets"],
        "arm_reset_successes": last["reset_successes"],
        "wall_s_last_session": last["wall_s"],
        "directions": {},
    }
    for d in ("forward", "backward"):
        evals = [r[f"{d}_eval_success"] for r in rows]
        result["directions"][d] = {
            "eval_success_before_practice": evals[0],
            "eval_success_best": max(evals),
            "eval_success_last": evals[-1],
            "train_success_last_20": last[f"{d}_train_success"],
            "episodes": last[f"{d}_episodes"],
            "steps": last[f"{d}_steps"],
            "improved": max(evals) > evals[0] and evals[-1] > evals[0],
        }
    result["goals"] = {
        "sim_minutes_without_hand_reset": bool(last["sim_minutes"] >= 30 and last["hand_resets"] == 0),
        "both_improve": all(v["improved"] for v in result["directions"].values()),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/reset_free")
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated minutes (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", action="store_true", help="only read the run's metrics")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out)
    if not args.report:
        from robot_rl.paths import config_dir
        from robot_rl.practice import Practice
        from robot_rl.run_config import load_practice_config

        path = config_dir() / "train" / "panda_pick_place_practice.yaml"
        config = load_practice_config(str(path), minutes=args.minutes, seed=args.seed)
        resume = (out / "checkpoint.pt").is_file()
        Practice(config, out, resume=resume).run()
    print(json.dumps(summary(out), indent=2))


if __name__ == "__main__":
    main()
