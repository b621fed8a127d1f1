"""Twin in process vs. the ROS graph: the same policy and seed, the same env class, two robots.

Per robot, `RobotEnv(TwinInProcess(...))` and `RobotEnv(RosRobot(...))` (the twin node as the
driver, the controller node with its safety layer in between; resets by the twin's own service,
rewards its ground truth) run the same deterministic observation-feedback policy from the same
seeded start, and the per-step state difference is reported for the fields that say where the
robot is. The in-process twin runs behind the safety layer too (like for like).

What differs, by design: the graph runs in real time, so an action reaches the twin's physics at
its next state tick (up to 1/state_hz later than in process) and an observation is up to one state
tick old; the in-process twin applies the action at the start of the policy period. The tolerance
per robot is that delay times the speeds the policy drives (docs/benchmarks/one_path.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info
from robot_rl.errors import RobotRLError
from robot_rl.runtime import stop_processes
from robot_rl.spec import RobotSpec, field_slices, load_robot_spec

#: robot -> (task, policy steps per episode, the state fields compared, tolerance on each, in its unit)
CASES: dict[str, tuple[str, int, dict[str, float]]] = {
    "panda": ("reach", 40, {"ee_pos": 0.01}),
    "ur5e": ("reach", 40, {"ee_pos": 0.01}),
    "crazyflie": ("hover", 200, {"pos_error": 0.05}),
    "racecar": ("laps", 80, {"lateral_offset": 0.15, "heading_error": 0.1, "speed": 0.3}),
}
SEED = 100


def reference_policy(spec: RobotSpec, task: str) -> Any:
    """A deterministic policy of the observation alone (no privileged twin state): the arms move the
    TCP toward the reach goal, the quadrotor flies the cascade of controllers.quadrotor on its
    measured state, the car steers back to the centreline at 0.35 throttle (about 1 m/s: it keeps
    0.4 m from the walls; at half throttle it brushes one, and a contact's outcome is chaotic)."""
    where = state_slices(spec, task)
    if "goal_pos" in where:

        def arm(obs: dict[str, np.ndarray]) -> np.ndarray:
            s = obs["state"]
            delta = (s[where["goal_pos"]] - s[where["ee_pos"]]) / 0.02
            return np.concatenate([0.6 * np.clip(delta, -1.0, 1.0), [0.0]]).astype(np.float32)

        return arm
    if "pos_error" in where:
        return _CascadeHover(spec, where)

    def car(obs: dict[str, np.ndarray]) -> np.ndarray:
        s = obs["state"]
        steer = -2.0 * s[where["heading_error"]][0] - 3.0 * s[where["lateral_offset"]][0]
        return np.array([np.clip(steer, -1.0, 1.0), 0.35], np.float32)

    return car


def state_slices(spec: RobotSpec, task: str) -> dict[str, slice]:
    """Field name -> slice of the state vector of a robot's task (its fields, then the task's)."""
    return field_slices([*spec.observation, *spec.task(task).observation])


class _CascadeHover:
    """Position, attitude and rate loops of controllers.quadrotor on the observation, mixed onto the
    motors (motor-force mode)."""

    def __init__(self, spec: RobotSpec, where: dict[str, slice]):
        from robot_rl.config import from_dict
        from robot_rl.controllers.quadrotor import (
            AttitudeController,
            Mixer,
            PositionController,
            QuadrotorControllerConfig,
            RateController,
        )
        from robot_rl.sim.crazyflie.robot import CrazyflieModel

        cfg = from_dict(QuadrotorControllerConfig, spec.controller, source=spec.source, prefix="controller")
        model = from_dict(CrazyflieModel, spec.model, source=spec.source, prefix="model")
        dt = spec.policy_dt
        self.where, self.model = where, model
        self.position = PositionController(cfg.position, model.mass_kg, dt)
        self.attitude = AttitudeController(cfg.attitude)
        self.rate = RateController(cfg.rate, model.inertia_kg_m2, dt)
        self.mixer = Mixer(model.arm_length_m, model.thrust_to_torque_m, model.max_thrust_n)

    def reset(self) -> None:
        self.position.reset()
        self.rate.reset()

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        s, w = obs["state"], self.where
        rot = [float(v) for v in s[w["rot_matrix"]]]
        thrust, rot_des = self.position.update(
            [-float(v) for v in s[w["pos_error"]]], [-float(v) for v in s[w["lin_vel"]]], rot, 0.0, [0.0] * 3
        )
        torque = self.rate.update(self.attitude.update(rot, rot_des), [float(v) for v in s[w["body_rates"]]])
        forces = self.mixer.normalized(thrust, *torque)
        return np.clip(2.0 * np.asarray(forces, np.float32) - 1.0, -1.0, 1.0)


def _episode(env: Any, policy: Any, seed: int, steps: int, fields: dict[str, slice]) -> dict[str, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset()  # the quadrotor's loops integrate: every episode starts them afresh
    rows = [obs["state"]]
    for _ in range(steps):
        obs, _, terminated, _, _ = env.step(policy(obs))
        rows.append(obs["state"])
        if terminated:
            break
    states = np.stack(rows)
    return {name: states[:, where] for name, where in fields.items()}


def _start_graph(robot: str, task: str, domain: int) -> list[subprocess.Popen]:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(domain)}
    env["OMP_NUM_THREADS"] = "1"
    from robot_rl.rosgraph import twin_state_hz

    # the twin's state rate as the robot's graph runs it (config/ros: the UR5e's twin at 100 Hz, not 500)
    state_hz = twin_state_hz(robot)
    nodes = {"twin": [f"task:={task}", f"seed:={SEED - 1}", f"state_hz:={state_hz}"], "controller": []}
    procs = []
    for exe, params in nodes.items():
        args = [
            str(bindir / exe),
            "--ros-args",
            *[x for p in [f"robot:={robot}", *params] for x in ("-p", p)],
        ]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return procs


def measure(robot: str, episodes: int = 3, steps: int | None = None) -> dict[str, Any]:
    """`episodes` seeded episodes of `robot` both ways; per compared field the largest and RMS
    difference of every step's value, and the first observation's (the start state)."""
    from robot_rl.dds import lease_domain
    from robot_rl.robots.env import RobotEnv
    from robot_rl.robots.interface import TwinInProcess
    from robot_rl.rosgraph import TWIN_RESET_SERVICE, twin_state_hz

    task, default_steps, tolerance = CASES[robot]
    steps = steps or default_steps
    spec = load_robot_spec(robot)
    where = {name: s for name, s in state_slices(spec, task).items() if name in tolerance}
    policy = reference_policy(spec, task)
    # the twin node resets with seed + episode: its episode e (from 1) starts from seed SEED - 1 + e
    seeds = [SEED + e for e in range(episodes)]
    local = RobotEnv(TwinInProcess(robot, task, safety=True), max_episode_steps=steps)
    try:
        ours = [_episode(local, policy, s, steps, where) for s in seeds]
    finally:
        local.close()
    with lease_domain() as lease:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        os.environ["ROS_DOMAIN_ID"] = str(lease.domain)
        procs = _start_graph(robot, task, lease.domain)
        try:
            from robot_rl.ros.robot import RosRobot

            graph = RobotEnv(
                RosRobot(robot, task, reset_service=TWIN_RESET_SERVICE, feedback="twin", timeout_s=30.0),
                max_episode_steps=steps,
            )
            try:
                theirs = [_episode(graph, policy, s, steps, where) for s in seeds]
            finally:
                graph.close()
        except RobotRLError:
            errors = b"".join(p.stderr.read() for p in procs if p.poll() is not None).decode()
            if errors:
                raise RobotRLError(f"bench equivalence: a node exited: {errors.strip()[-300:]}") from None
            raise
        finally:
            stop_processes(procs, timeout_s=5.0)
    out: dict[str, Any] = {"robot": robot, "task": task, "episodes": episodes, "steps": steps, "fields": {}}
    for name, tol in tolerance.items():
        diffs = [
            np.linalg.norm(a[name][: len(b[name])] - b[name][: len(a[name])], axis=1)
            for a, b in zip(ours, theirs)
        ]
        allsteps = np.concatenate(diffs)
        out["fields"][name] = {
            "max_per_episode": [round(float(d.max()), 5) for d in diffs],
            "step_of_max": [int(np.argmax(d)) for d in diffs],
            "max": round(float(allsteps.max()), 5),
            "rms": round(float(np.sqrt(np.mean(allsteps**2))), 5),
            "start": round(float(max(d[0] for d in diffs)), 6),
            "tolerance": tol,
            "within": bool(allsteps.max() <= tol),
        }
    out["state_hz"] = twin_state_hz(robot)  # the twin node's, as its parameter file runs it
    return out


def run(robots: list[str] | None = None, quick: bool = False, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    robots = robots or list(CASES)
    results = []
    for robot in tqdm(robots, desc="bench equivalence", disable=not progress, leave=False):
        results.append(measure(robot, episodes=1 if quick else 3, steps=10 if quick else None))
    return {
        "benchmark": "equivalence",
        "machine": machine_info(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "settings": {
            "quick": quick,
            "seed": SEED,
            "policy": "observation-feedback reference policy per robot (reference_policy)",
            "in_process": "RobotEnv(TwinInProcess(safety=True))",
            "graph": "RobotEnv(RosRobot) -> controller node -> twin node (state_hz of the spec or config)",
        },
        "robots": results,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'robot':<11}{'field':<16}{'max':>9}{'rms':>9}{'start':>10}{'tolerance':>11}  within"]
    for r in result["robots"]:
        for name, f in r["fields"].items():
            lines.append(
                f"{r['robot']:<11}{name:<16}{f['max']:>9.4f}{f['rms']:>9.4f}{f['start']:>10.5f}"
                f"{f['tolerance']:>11g}  {'yes' if f['within'] else 'NO'}"
            )
    return "\n".join(lines)


def summary(runs: list[dict[str, Any]]) -> str:
    """A markdown table over repeated runs (docs/benchmarks/one_path.md): per robot and field the
    median of the runs' largest differences (their range), the median RMS, the largest start
    difference, the tolerance, and in how many runs the largest difference was within it."""
    units = {"heading_error": "rad", "speed": "m/s"}
    lines = [
        "| robot (task, episodes x steps, twin state rate) | field | max: median (range) | rms | start | "
        "tolerance | within |",
        "|---|---|---|---|---|---|---|",
    ]
    for first in runs[0]["robots"]:
        same = [next(r for r in run["robots"] if r["robot"] == first["robot"]) for run in runs]
        for name, f in first["fields"].items():
            per = [r["fields"][name] for r in same]
            maxes = [p["max"] for p in per]
            lines.append(
                f"| {first['robot']} ({first['task']}, {first['episodes']} x {first['steps']}, "
                f"{first['state_hz']} Hz) | `{name}` ({units.get(name, 'm')}) | {np.median(maxes):.4f} "
                f"({min(maxes):.4f}-{max(maxes):.4f}) | {np.median([p['rms'] for p in per]):.4f} | "
                f"{max(p['start'] for p in per):.4f} | {f['tolerance']:g} | "
                f"{sum(p['within'] for p in per)} of {len(per)} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":  # the table of docs/benchmarks/one_path.md from the runs' JSON files
    import json

    print(summary([json.loads(Path(f).read_text()) for f in sys.argv[1:]]))
