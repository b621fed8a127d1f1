"""Quadrotor shield settings against a bare-trained hover policy and the adversarial benchmark.

One JSON line per setting: the policy's evaluation success behind the layer (20 episodes) and the
worst tilt and box excursion of 20,000 adversarial steps (`robot_rl.benchmarks.safety`). The lines
of bench/results/issue20/quad_shield_sweep.json came from:

    for s in "0.45 0.15" "0.6 0.15" "0.45 0.1" "0.5 0.12" "0.6 0.08" "0.8 0.08"; do
        .venv/bin/python bench/quad_shield_sweep.py $s bench/results/issue20/hover_runs/safety_false
    done

(the run directory needs its checkpoint.pt, which is not committed: rerun the hover training of
bench/hover_safety.py to get one).
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from robot_rl.benchmarks.safety import run_adversarial
    from robot_rl.controllers.shields import quadrotor
    from robot_rl.evaluate import run_episodes
    from robot_rl.run_config import load_checkpoint
    from robot_rl.safety import SafeEnv
    from robot_rl.sim import make_twin

    tilt_fraction, horizon_s, run_dir = float(argv[0]), float(argv[1]), argv[2]
    setting = quadrotor.QuadShieldConfig(soft_tilt_fraction=tilt_fraction, horizon_s=horizon_s)
    build = quadrotor.QuadShield.__init__

    def with_setting(self, spec, action_fields, obs_fields, config=None):
        build(self, spec, action_fields, obs_fields, config or setting)

    quadrotor.QuadShield.__init__ = with_setting  # every shield this process builds
    _, agent = load_checkpoint(run_dir)
    env = SafeEnv(make_twin("crazyflie", "hover"))
    evaluation = run_episodes(agent.policy, env, 20).summary()
    adversarial = run_adversarial("crazyflie", 20_000, seed=0)
    print(json.dumps({
        "soft_tilt_fraction": tilt_fraction,
        "horizon_s": horizon_s,
        "eval_success_behind_layer": evaluation["success_rate"],
        "shielded": env.counts.get("shield"),
        "ok": env.counts.get("ok"),
        "adv_max_tilt": adversarial["max_tilt_rad"],
        "adv_box_mm": 1000 * adversarial["box_excursion_m"],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
