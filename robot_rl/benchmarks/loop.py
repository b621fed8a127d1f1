"""Observation-to-command latency and policy-step jitter through the ROS graph on loopback.

The actor and controller nodes run as their own processes (console scripts), exactly as deployed;
this process plays the robot's driver: it publishes the driver's state topics at the driver rate
(and the reach task's goal, as a fixed-goal publisher does) and receives the driver command. Two
loops: the Panda graph (policy at 10 Hz, equilibrium pose out) and the Crazyflie graph (100 Hz,
motor forces out).

- latency: DDS reception time of the driver command minus its header stamp, which carries the
  time the actor's policy step took the observation (actor -> controller -> driver, two hops, the
  policy and the command shaping in between). The policy is the zero policy: network compute is
  not part of this figure.
- jitter: |interval between consecutive policy steps - nominal period|, from the action stamps.

Needs the `ros` extra. Every process gets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a free
ROS_DOMAIN_ID, so no packet leaves the machine.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info
from robot_rl.errors import RobotRLError, require
from robot_rl.runtime import stop_processes

GOALS = {"latency_ms_p99": 5.0, "jitter_ms_p99": 2.0}
LOOPS = {"panda": 10, "crazyflie": 100}  # robot -> policy Hz
TASKS = {"panda": "reach", "crazyflie": "hover"}  # the actor's task (reach: a fixed goal is published)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    a = np.asarray(values)
    return {
        "n": len(values),
        "p50": round(float(np.percentile(a, 50)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
    }


def _fifo_threads(pid: int) -> tuple[int, int]:
    """(threads under SCHED_FIFO, all threads) of a process."""
    tids = os.listdir(f"/proc/{pid}/task")
    fifo = 0
    for tid in tids:
        try:
            fifo += os.sched_getscheduler(int(tid)) == os.SCHED_FIFO
        except OSError:
            continue
    return fifo, len(tids)


def _measure(robot: str, seconds: float, domain: int, bar: Any, realtime_priority: int = 0) -> dict[str, Any]:
    # a loopback benchmark: this process's own DDS participant stays on the machine too
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    rclpy = require("rclpy", "ros", "robot-rl bench loop")
    executors = require("rclpy.executors", "ros", "robot-rl bench loop")

    from robot_rl.robots import adapter
    from robot_rl.ros.common import COMMAND_QOS, SENSOR_QOS, msg_type, to_stamp
    from robot_rl.rosgraph import ACTION, task_inputs

    robot_adapter = adapter(robot)
    topics = robot_adapter.topics
    env = {
        **os.environ,
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": str(domain),
        "OMP_NUM_THREADS": "1",
    }
    bindir = Path(sys.executable).parent
    procs = []
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("bench_driver", context=context)
    latencies: list[float] = []
    steps: list[float] = []
    lock = threading.Lock()

    def on_command(msg: Any, info: Any) -> None:
        t = info["received_timestamp"] * 1e-9
        with lock:
            latencies.append(1e3 * (t - (msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec)))

    def on_action(msg: Any) -> None:
        with lock:
            steps.append(msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec)

    node.create_subscription(
        msg_type(topics["command"].type), topics["command"].name, on_command, COMMAND_QOS
    )
    node.create_subscription(msg_type(ACTION.type), ACTION.name, on_action, COMMAND_QOS)
    # the driver's state at rest (a pose in the box, fingers open, a vehicle level at 1 m)
    msgs = robot_adapter.resting_state()
    state_pubs = {
        k: node.create_publisher(msg_type(t.type), t.name, SENSOR_QOS) for k, t in robot_adapter.STATE.items()
    }
    for inp in task_inputs(robot, TASKS[robot]):  # the task's observation, as a goal publisher sends it
        state_pubs[inp.topic.name] = node.create_publisher(
            msg_type(inp.topic.type), inp.topic.name, SENSOR_QOS
        )
        msgs[inp.topic.name] = msg_type(inp.topic.type)()

    def publish_state() -> None:
        stamp = to_stamp(time.time())
        for k, pub in state_pubs.items():
            msgs[k].header.stamp = stamp
            pub.publish(msgs[k])

    node.create_timer(1.0 / robot_adapter.state_hz, publish_state)
    executor = executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        for exe, params in (
            ("controller", [f"robot:={robot}"]),
            (
                "actor",
                [
                    f"robot:={robot}",
                    f"task:={TASKS[robot]}",
                    "policy:=zero",
                    "use_reward_node:=false",
                    "max_episode_steps:=1000000",
                ],
            ),
        ):
            params = [*params, f"realtime_priority:={realtime_priority}"]
            args = [str(bindir / exe), "--ros-args", *[x for p in params for x in ("-p", p)]]
            procs.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                # both of the driver's subscriptions matched: DDS discovers each topic on its own
                if len(latencies) >= 5 and len(steps) >= 5:
                    break
            if any(p.poll() is not None for p in procs):
                err = b"".join(p.stderr.read() for p in procs if p.poll() is not None).decode()
                raise RobotRLError(f"bench loop: a node exited: {err.strip()[-300:]}")
            time.sleep(0.05)
        else:
            raise RobotRLError(
                f"bench loop: no {robot} commands or actions within 30 s (is the ros extra installed?)"
            )
        with lock:
            latencies.clear()
            steps.clear()
        fifo = [_fifo_threads(p.pid) for p in procs]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.25)
            bar.update(0.25)
        with lock:
            lat, st = list(latencies), list(steps)
    finally:
        stop_processes(procs, timeout_s=5.0)
        executor.shutdown(timeout_sec=1)
        node.destroy_node()
        rclpy.shutdown(context=context)
    hz = LOOPS[robot]
    jitter = [abs(1e3 * (b - a) - 1e3 / hz) for a, b in itertools.pairwise(st)]
    latency = _percentiles(lat)
    jit = _percentiles(jitter)
    return {
        "robot": robot,
        "policy_hz": hz,
        "state_hz": robot_adapter.state_hz,
        "seconds": seconds,
        "policy_steps": len(st),
        "realtime_priority": realtime_priority,
        "node_threads_fifo": [f"{a}/{b}" for a, b in fifo],
        "latency_ms": latency,
        "jitter_ms": jit,
        "meets_goals": {
            "latency_ms_p99": bool(latency["p99"] <= GOALS["latency_ms_p99"]),
            "jitter_ms_p99": bool(jit["p99"] <= GOALS["jitter_ms_p99"]),
        },
    }


def run(
    quick: bool = False, progress: bool = True, seconds: float = 60.0, realtime_priority: int = 80
) -> dict[str, Any]:
    """Both loops for `seconds` each (quick: 3 s; figures then not comparable), with normal scheduling
    and then, side by side, with the nodes and this driver under SCHED_FIFO at `realtime_priority`
    (as a robot runs its control processes; skipped, with the reason, where not permitted)."""
    from tqdm import tqdm

    from robot_rl.dds import lease_domain
    from robot_rl.runtime import set_realtime

    if quick:
        seconds = 3.0
    refused = set_realtime(realtime_priority) if realtime_priority else "realtime_priority 0"
    set_realtime(0)
    modes = [0] if refused else [0, realtime_priority]
    loops = {}
    with tqdm(
        total=seconds * len(LOOPS) * len(modes),
        desc="bench loop",
        unit="s",
        disable=not progress,
        leave=False,
    ) as bar:
        for robot in LOOPS:
            for priority in modes:
                key = f"{LOOPS[robot]}hz" + ("_realtime" if priority else "")
                set_realtime(priority)  # the driver: a robot's driver runs real-time too
                try:
                    with lease_domain() as lease:
                        loops[key] = _measure(robot, seconds, lease.domain, bar, priority)
                finally:
                    set_realtime(0)
    return {
        "benchmark": "loop",
        "machine": machine_info(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "settings": {
            "quick": quick,
            "seconds_per_loop": seconds,
            "graph": "actor + controller processes (console scripts); this process plays the driver",
            "transport": "DDS (rmw default) on loopback, ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST",
            "latency": "command reception at the driver - policy step's observation time",
            "jitter": "|policy step interval - 1/policy_hz|",
            "realtime": f"SCHED_FIFO {realtime_priority} for actor, controller and driver"
            if not refused
            else f"not measured: {refused}",
        },
        "loops": loops,
        "goals": GOALS,
    }


def table(result: dict[str, Any]) -> str:
    head = f"{'loop':<20}{'latency p50':>12}{'p99':>8}{'max':>8}{'jitter p50':>12}{'p99':>8}{'max':>8}"
    lines = [f"{head}{'steps':>7}"]
    for loop in result["loops"].values():
        lat, jit = loop["latency_ms"], loop["jitter_ms"]
        name = f"{loop['robot']} {loop['policy_hz']} Hz" + (" RT" if loop["realtime_priority"] else "")
        lines.append(
            f"{name:<20}{lat['p50']:>12}{lat['p99']:>8}{lat['max']:>8}{jit['p50']:>12}{jit['p99']:>8}"
            f"{jit['max']:>8}{loop['policy_steps']:>7}"
        )
    g = result["goals"]
    lines.append(
        f"ms; goals: latency p99 <= {g['latency_ms_p99']:g} ms, jitter p99 <= {g['jitter_ms_p99']:g} ms; "
        f"load average {result['load_average']}"
    )
    return "\n".join(lines)
