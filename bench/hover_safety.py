"""Hover trained bare and behind the safety layer, evaluated both ways (bench/results/issue20/).

The two runs are `robot-rl train` with config/train/crazyflie_hover_bench.yaml, seed 100 (not a
tuning seed), `safety: false` and `safety: true`, on the same 20 scripted demonstrations, run side
by side on one machine:

    robot-rl demos --robot crazyflie --task hover --episodes 20 --out DEMOS
    robot-rl train --config CFG_false.yaml --demos DEMOS --out RUNS/safety_false
    robot-rl train --config CFG_true.yaml --demos DEMOS --out RUNS/safety_true
    .venv/bin/python bench/hover_safety.py RUNS > bench/results/issue20/hover_safety.json

This script evaluates each run's checkpoint on 20 episodes behind the layer and on the bare twin
and reads the layer's counts from the runs' last metrics row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from robot_rl.evaluate import run_episodes
    from robot_rl.run_config import load_checkpoint
    from robot_rl.safety import SafeEnv
    from robot_rl.sim import make_twin

    runs = Path(argv[0])
    out: dict = {"benchmark": "hover_safety", "runs": {}}
    for name in ("safety_false", "safety_true"):
        config, agent = load_checkpoint(runs / name)
        rows = [json.loads(line) for line in (runs / name / "metrics.jsonl").read_text().splitlines()]
        evals = {}
        for behind in (True, False):
            env = make_twin(config.robot, config.task)
            env = SafeEnv(env) if behind else env
            summary = run_episodes(agent.policy, env, 20).summary()
            evals["behind_layer" if behind else "bare"] = summary["success_rate"]
            if behind:
                evals["behind_layer_shielded_steps"] = env.counts.get("shield", 0)
                evals["behind_layer_steps"] = sum(env.counts.values()) - env.counts.get("nan_obs", 0)
            env.close()
        last = rows[-1]
        out["runs"][name] = {
            "seed": config.seed,
            "steps": last["step"],
            "curve": [[r["step"], r["success_rate"]] for r in rows],
            "train_shielded_steps": last.get("safety_shield"),
            "train_ok_steps": last.get("safety_ok"),
            "final_eval_success_20ep": evals,
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
