"""`robot-rl bench safety_graph`: adversarial actions through the ROS graph, the twin node as the driver.

The controller and twin nodes run as their own processes (console scripts, as deployed); this
process plays the actor: it publishes the actions of `robot_rl.benchmarks.safety` (segments of
uniform random actions, one adversarial pattern held, or a NaN burst on the action) on the action
topic, and every so often a non-finite state sample on the driver's state topic. The controller
must latch a fault on it (state `fault`); this process then waits a moment and calls the
controller's resume service, as the reset node does after a reset. The twin is reset through its
own service every `EPISODE_S` seconds.

Measured on the state the twin node publishes (the nominal twin: no sensor noise, so it is the
twin's true state): how far the arm's TCP and the quadrotor leave the safety box, the quadrotor's
largest tilt, and how many faults the controller latched of those injected.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info
from robot_rl.benchmarks.safety import SEGMENT, TASKS, adversarial_action
from robot_rl.errors import RobotRLError, require
from robot_rl.rosgraph import twin_state_hz
from robot_rl.runtime import stop_processes

ROBOTS = ("panda", "ur5e", "crazyflie")
#: actions per second sent to the controller: the policy rate, or faster for the 10 Hz arm (the
#: reference then moves up to 5x faster than any policy moves it: harder, not easier, on the box)
RATE_HZ = {"panda": 50, "ur5e": 50, "crazyflie": 100}
EPISODE_S = 10.0  # the twin is reset this often
NAN_STATE_EVERY = 5  # segments between two non-finite state samples


def _pose(msg: Any) -> Any:
    """The geometry_msgs/Pose in a PoseStamped or an Odometry (its PoseWithCovariance)."""
    return getattr(msg.pose, "pose", msg.pose)


class _Driver:
    """This process's node: watches the twin's state, publishes actions and bad state samples."""

    def __init__(self, robot: str, domain: int):
        self.rclpy = require("rclpy", "ros", "robot-rl bench safety_graph")
        executors = require("rclpy.executors", "ros", "robot-rl bench safety_graph")
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from robot_rl.robots import adapter
        from robot_rl.ros.common import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, msg_type
        from robot_rl.rosgraph import ACTION, CONTROLLER_STATE, RESUME_SERVICE, TWIN_RESET_SERVICE
        from robot_rl.spec import load_robot_spec

        self.robot, self.spec = robot, load_robot_spec(robot)
        self.box_low = np.asarray(self.spec.safety.box_low)
        self.box_high = np.asarray(self.spec.safety.box_high)
        robot_adapter = adapter(self.spec)
        self.state_topic = robot_adapter.STATE[robot_adapter.BOX_STATE]
        self.channels = robot_adapter.channels
        self.context = self.rclpy.Context()
        self.rclpy.init(context=self.context, domain_id=domain)
        self.node = self.rclpy.create_node("bench_safety_actor", context=self.context)
        self.lock = threading.Lock()
        self.worst = {"box_excursion_m": 0.0, "tilt_rad": 0.0}
        self.samples, self.states = 0, []
        self.action_msg = msg_type(ACTION.type)()
        self.action_msg.name = list(self.channels)
        self.action_pub = self.node.create_publisher(msg_type(ACTION.type), ACTION.name, COMMAND_QOS)
        self.state_type = msg_type(self.state_topic.type)
        self.bad_state_pub = self.node.create_publisher(self.state_type, self.state_topic.name, SENSOR_QOS)
        self.node.create_subscription(self.state_type, self.state_topic.name, self.on_state, SENSOR_QOS)
        self.node.create_subscription(String, CONTROLLER_STATE.name, self.on_controller, LATCHED_QOS)
        self.resume = self.node.create_client(Trigger, RESUME_SERVICE)
        self.twin_reset = self.node.create_client(Trigger, TWIN_RESET_SERVICE)
        self.trigger = Trigger.Request
        self.executor = executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def on_state(self, msg: Any) -> None:
        pose = _pose(msg)
        p = np.array([pose.position.x, pose.position.y, pose.position.z])
        if not np.all(np.isfinite(p)):
            return  # our own bad sample, echoed back
        q = pose.orientation
        out = max(float(np.max(self.box_low - p)), float(np.max(p - self.box_high)), 0.0)
        with self.lock:
            self.samples += 1
            self.worst["box_excursion_m"] = max(self.worst["box_excursion_m"], out)
            if self.spec.safety.max_tilt_rad is not None:
                tilt = math.acos(max(-1.0, min(1.0, 1.0 - 2.0 * (q.x * q.x + q.y * q.y))))
                self.worst["tilt_rad"] = max(self.worst["tilt_rad"], tilt)

    def on_controller(self, msg: Any) -> None:
        with self.lock:
            self.states.append(msg.data)

    def act(self, action: np.ndarray) -> None:
        self.action_msg.header.stamp = self.node.get_clock().now().to_msg()
        self.action_msg.position = [float(v) for v in action]
        self.action_pub.publish(self.action_msg)

    def bad_state(self, timeout_s: float = 2.0) -> bool:
        """Publish non-finite state samples until the controller says `fault` (True) or `timeout_s`
        passes. The state topic keeps one sample per subscriber: the driver's next good one can
        replace a bad one the controller has not taken yet, so one sample may never arrive."""
        with self.lock:
            seen = len(self.states)
        msg = self.state_type()
        pose = _pose(msg)
        pose.position.x, pose.orientation.w = math.nan, 1.0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg.header.stamp = self.node.get_clock().now().to_msg()
            self.bad_state_pub.publish(msg)
            time.sleep(0.01)
            with self.lock:
                if "fault" in self.states[seen:]:
                    return True
        return False

    def call(self, client: Any, timeout_s: float = 5.0) -> bool:
        if not client.wait_for_service(timeout_sec=timeout_s):
            return False
        future = client.call_async(self.trigger())
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.005)
        return bool(future.done() and future.result() is not None and future.result().success)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1)
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def _measure(robot: str, actions: int, seed: int, domain: int, bar: Any) -> dict[str, Any]:
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(domain)}
    env["OMP_NUM_THREADS"] = "1"
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    driver = _Driver(robot, domain)
    bindir = Path(sys.executable).parent
    procs = []
    rng = np.random.default_rng(seed)
    size = len(driver.channels)
    injected = latched = resumed = nan_actions = 0
    try:
        twin = [
            f"robot:={robot}",
            f"task:={TASKS[robot]}",
            f"seed:={seed}",
            f"state_hz:={twin_state_hz(robot)}",
        ]
        for exe, params in (("twin", twin), ("controller", [f"robot:={robot}"])):
            args = [str(bindir / exe), "--ros-args", *[x for p in params for x in ("-p", p)]]
            procs.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        deadline = time.monotonic() + 60
        while driver.samples < 20 or not driver.resume.service_is_ready():
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RobotRLError(f"bench safety --graph: the {robot} twin and controller did not come up")
            time.sleep(0.05)
        period = 1.0 / RATE_HZ[robot]
        start = next_t = time.monotonic()
        last_reset = start
        pattern, held = 0, np.zeros(size)
        for i in range(actions):
            if i % SEGMENT == 0:
                pattern = int(rng.integers(4))  # 0 random, 1-2 a pattern held, 3 a NaN burst
                held = adversarial_action(rng, robot, size, 1)
                if (i // SEGMENT) % NAN_STATE_EVERY == NAN_STATE_EVERY - 1:
                    injected += 1
                    latched += driver.bad_state()  # the controller must latch a fault on it ...
                    resumed += driver.call(driver.resume)  # ... and the reset node's resume clears it
                if time.monotonic() - last_reset > EPISODE_S:
                    driver.call(driver.twin_reset)
                    last_reset = time.monotonic()
            if pattern == 3 and i % SEGMENT < 5:
                action = np.full(size, np.nan)
                nan_actions += 1
            else:
                action = rng.uniform(-1.0, 1.0, size) if pattern == 0 else held
            driver.act(action)
            bar.update(1)
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
        wall = time.monotonic() - start
        time.sleep(0.5)  # the last actions' effect
    finally:
        stop_processes(procs)
        driver.close()
    with driver.lock:
        worst, samples = dict(driver.worst), driver.samples
    result = {
        "robot": robot,
        "task": TASKS[robot],
        "actions": actions,
        "actions_per_s": round(actions / wall, 1),
        "nan_actions": nan_actions,
        "nan_state_samples": injected,
        "faults_latched": latched,
        "resumed": resumed,
        "state_samples": samples,
        "box_excursion_m": round(worst["box_excursion_m"], 6),
        "meets_goal": bool(worst["box_excursion_m"] == 0.0 and latched == resumed == injected),
    }
    if driver.spec.safety.max_tilt_rad is not None:
        limit = driver.spec.safety.max_tilt_rad
        result.update({"max_tilt_rad": round(worst["tilt_rad"], 4), "tilt_limit_rad": limit})
        result["meets_goal"] = bool(result["meets_goal"] and worst["tilt_rad"] <= limit)
    return result


def run(
    robots: list[str] | None = None,
    actions: int = 20_000,
    seed: int = 0,
    quick: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """`actions` adversarial actions per robot through the graph (quick: 250; not comparable)."""
    from tqdm import tqdm

    from robot_rl.dds import lease_domain

    if quick:
        actions = 250
    robots = [r for r in ROBOTS if not robots or r in robots]
    results = []
    with tqdm(
        total=actions * len(robots), desc="bench safety_graph", disable=not progress, leave=False
    ) as bar:
        for robot in robots:
            with lease_domain() as lease:
                results.append(_measure(robot, actions, seed, lease.domain, bar))
    return {
        "benchmark": "safety_graph",
        "machine": machine_info(),
        "settings": {
            "actions_per_robot": actions,
            "seed": seed,
            "segment_actions": SEGMENT,
            "rate_hz": RATE_HZ,
            "nan_state_every_segments": NAN_STATE_EVERY,
            "twin_reset_every_s": EPISODE_S,
            "graph": "twin + controller processes (console scripts); this process plays the actor",
            "measured_on": "the state the nominal twin node publishes (its true state)",
        },
        "results": results,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'robot':<10}{'actions':>9}{'per s':>7}{'NaN':>6}{'faults':>12}  worst"]
    for r in result["results"]:
        worst = f"box excursion {r['box_excursion_m'] * 1000:.1f} mm"
        if "max_tilt_rad" in r:
            worst += f", tilt {r['max_tilt_rad']:.3f} of {r['tilt_limit_rad']} rad"
        faults = f"{r['faults_latched']}/{r['nan_state_samples']}"
        counts = f"{r['actions']:>9}{r['actions_per_s']:>7}{r['nan_actions']:>6}{faults:>12}"
        lines.append(f"{r['robot']:<10}{counts}  {worst}")
    return "\n".join(lines)
