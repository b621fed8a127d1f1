"""Reward-model benchmark: the success classifier on held-out panda frames (same as
`robot-rl reward bench`). Prints one JSON object; figures go to docs/benchmarks.md.

    .venv/bin/python bench/reward.py --work-dir runs/reward_bench     # keeps frames and models
    .venv/bin/python bench/reward.py --quick                          # smoke run, not a measurement
"""

from __future__ import annotations

import argparse
import json

from robot_rl.benchmarks import reward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", help="pick_cube and/or peg_insert (default both)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work-dir", help="frames and models go here and are reused (default a temp folder)")
    args = parser.parse_args()
    print(json.dumps(reward.run(tasks=args.tasks or None, quick=args.quick, work_dir=args.work_dir)))


if __name__ == "__main__":
    main()
