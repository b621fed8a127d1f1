"""Per-action compute of the ROS controller's decision, in process: the safety layer and the shaper
together against the shaper alone (what the controller did before it ran the layer).

    .venv/bin/python bench/controller_cost.py > bench/results/issue20/controller_cost.json
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main() -> int:
    from robot_rl.benchmarks.machine import machine_info
    from robot_rl.command_shaping import make_shaper
    from robot_rl.controllers.safety_layer import SafetyLayer
    from robot_rl.ros.controller import NOT_MEASURED
    from robot_rl.spec import load_robot_spec

    actions = 5000
    results = []
    for robot in ("panda", "crazyflie", "racecar"):
        spec = load_robot_spec(robot)
        shaper = make_shaper(spec)
        fields = [f for f in spec.observation if f.name not in NOT_MEASURED]  # as the controller node
        layer = SafetyLayer(spec, action_fields=shaper.fields, obs_fields=fields)
        state = np.zeros(sum(f.size for f in fields), np.float32)
        if robot == "panda":
            state[:3] = (0.5, 0.0, 0.3)
            shaper.measured("ee_pos", [0.5, 0.0, 0.3])
        elif robot == "crazyflie":
            state[:9] = np.eye(3).ravel()  # level
        rng = np.random.default_rng(0)
        drawn = rng.uniform(-1.0, 1.0, (actions, shaper.size))
        start = time.perf_counter()
        for i, action in enumerate(drawn):
            now = i / spec.rates.policy_hz
            layer.observe(state, now)
            shaper.command(layer.command(action, now, commanded=shaper.commanded).action)
        both = time.perf_counter() - start
        start = time.perf_counter()
        for action in drawn:
            shaper.command(action)
        alone = time.perf_counter() - start
        results.append({
            "robot": robot,
            "actions": actions,
            "layer_and_shaper_us": round(1e6 * both / actions, 1),
            "shaper_alone_us": round(1e6 * alone / actions, 1),
        })  # fmt: skip
    print(json.dumps({"benchmark": "controller_cost", "machine": machine_info(), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
