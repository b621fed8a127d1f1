"""reset: the service the actor calls between episodes (`/robot_rl/reset`, std_srvs/Trigger).

It runs the robot's reset (the service named by `robot_reset_service`: the twin's `/twin/reset`, or a
robot's reset controller), then clears a latched controller fault, and reports success with the reset's
duration. A `ResetSupervisor` (robot_rl.controllers.resets) counts the outcomes; the counters go out as
JSON on `/robot_rl/reset/stats` (latched) after each reset.

Human fallback: after `max_failures` failed resets in a row the node engages the controller's e-stop
(`/robot_rl/estop`), publishes what a person must do on `/robot_rl/reset/help` (latched) and answers
every reset request at once with success=false and that instruction: nothing waits inside a callback,
the actor asks again. The person answers on `/robot_rl/reset/human` (std_srvs/SetBool): true = "reset
by hand, continue" clears the e-stop and the next request runs the robot's reset again; false = stop:
the e-stop stays and every request fails with "stopped by the person" (a later true still continues).
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from robot_rl.controllers.resets import ResetReport, ResetSupervisor
from robot_rl.errors import ConfigError
from robot_rl.observations import ObservationBuilder
from robot_rl.robots import adapter
from robot_rl.ros.common import LATCHED_QOS, GraphNode, run, to_stamp
from robot_rl.ros.inputs import SensorInputs
from robot_rl.rosgraph import (
    ACTION,
    ESTOP_SERVICE,
    HUMAN_RESET_SERVICE,
    RESET_HELP,
    RESET_SERVICE,
    RESET_STATS,
    RESUME_SERVICE,
)
from robot_rl.spec import known_robots, load_robot_spec

AUTOMATIC, ASKED, STOPPED = "automatic", "asked", "stopped"


class ResetNode(SensorInputs, GraphNode):
    kind = "reset"

    def __init__(self):
        super().__init__()
        p = self.p
        if p["max_failures"] < 1:
            raise ConfigError("reset", "max_failures", "an integer >= 1", p["max_failures"])
        if p["mode"] not in ("service", "graph"):
            raise ConfigError("reset", "mode", "service (the robot's reset service) or graph", p["mode"])
        group = ReentrantCallbackGroup()
        self.robot_reset = self.create_client(Trigger, p["robot_reset_service"], callback_group=group)
        if p["mode"] == "graph":
            self._start_graph_reset()
        self.resume = self.create_client(Trigger, RESUME_SERVICE, callback_group=group)
        self.estop = self.create_client(SetBool, ESTOP_SERVICE, callback_group=group)
        self.help_pub = self.create_publisher(String, RESET_HELP.name, LATCHED_QOS)
        self.stats_pub = self.create_publisher(String, RESET_STATS.name, LATCHED_QOS)
        self.supervisor = ResetSupervisor(
            self.p["max_failures"], ask=self._ask_person, stop=self._engage_estop
        )
        # two executor threads share the supervisor and the mode; reentrant: a client future that is already
        # done runs its done callback at once, in the thread that holds the lock
        self.lock = threading.RLock()
        self.mode = AUTOMATIC
        self.help = ""
        self.estop_engaged = False
        self.estop_pending: Any = None
        self.create_service(Trigger, RESET_SERVICE, self.on_reset, callback_group=group)
        self.create_service(SetBool, HUMAN_RESET_SERVICE, self.on_human, callback_group=group)
        # while a person is needed, keep trying to latch the e-stop (a controller that was not yet
        # discovered at the failure gets it as soon as it is), not only on the next reset request
        self.create_timer(0.2, self._keep_estop, callback_group=group)
        self.help_pub.publish(String(data=""))
        self._publish_stats()

    # -- mode: graph ----------------------------------------------------------------------------
    def _start_graph_reset(self) -> None:
        """The robot's reset controller driven from the state topics through the action channel."""
        self.spec = load_robot_spec(self.p["robot"])
        self.adapter = adapter(self.spec)
        if self.adapter.GRAPH_RESET is None:
            with_graph = [r for r in known_robots() if adapter(r).GRAPH_RESET is not None]
            raise ConfigError(
                "reset", "mode", f"service for {self.spec.name} (graph resets: {', '.join(with_graph)}; the "
                "others' resets are the robot's own service: the Crazyflie's land and take-off, the car's "
                "back-up)", "graph"
            )  # fmt: skip
        self.target = np.zeros(3)
        self.builder = ObservationBuilder(self.spec)
        self.layout, self.channels = self.adapter.fields, self.adapter.channels
        self.action_pub = self.pub(ACTION)
        self.subscribe_inputs()
        self.graph_resets = 0

    def _graph_reset(self, timeout_s: float) -> tuple[bool, str]:
        """Run the reset controller at the policy rate until it finishes, the state goes missing for
        longer than the command timeout, or `timeout_s` passes."""
        controller = self.adapter.GRAPH_RESET()
        context = SimpleNamespace(robot_spec=self.spec, action_layout=self.layout)
        controller.begin(context, np.random.default_rng(self.p["seed"] + self.graph_resets))
        self.graph_resets += 1
        period, deadline = 1.0 / self.spec.rates.policy_hz, time.monotonic() + timeout_s
        missing_since = None
        try:
            while time.monotonic() < deadline and self.context.ok():
                now = self.now_s()
                obs = self.builder.build(now)
                if obs is None:
                    missing_since = missing_since or time.monotonic()
                    if time.monotonic() - missing_since > self.spec.safety.command_timeout_s:
                        return False, f"no fresh state: missing {', '.join(self.builder.missing(now))}"
                else:
                    missing_since = None
                    action = controller.act(obs)
                    if controller.done:
                        return controller.success, f"{controller.kind} through the graph"
                    msg = JointState(name=self.channels, position=[float(v) for v in action])
                    msg.header.stamp = to_stamp(now)
                    self.action_pub.publish(msg)
                time.sleep(period)
            if not self.context.ok():
                return False, "stopped: the node is shutting down"
            return False, f"{controller.kind} did not finish within {timeout_s:.0f} s"
        finally:
            controller.end()

    def _call(self, client: Any, timeout_s: float) -> tuple[bool, str]:
        """Call a Trigger service and wait for its answer, at most `timeout_s`; a node that is shutting
        down stops waiting at once. (A callback still waiting holds the node in use: its
        `destroy_node` would wait for it, past the shutdown bound, as it did about 1 stop in 100.)"""
        if not client.wait_for_service(timeout_sec=timeout_s):  # rclpy's wait also ends on shutdown
            return False, f"service {client.srv_name} not available within {timeout_s:.0f} s"
        event_done = client.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not event_done.done() and time.monotonic() < deadline and self.context.ok():
            time.sleep(0.002)
        if not self.context.ok():
            return False, "stopped: the node is shutting down"
        if not event_done.done():
            return False, f"service {client.srv_name} did not answer within {timeout_s:.0f} s"
        result = event_done.result()
        return bool(result.success), result.message

    def on_reset(self, request: Any, response: Any) -> Any:
        with self.lock:
            if self.mode != AUTOMATIC:
                self._engage_estop()  # again, if no controller took the first request
                response.success, response.message = False, self.help
                return response
        timeout = self.p["timeout_s"]
        start = time.monotonic()
        if self.p["mode"] == "graph":
            ok, message = self._graph_reset(timeout)
        else:
            ok, message = self._call(self.robot_reset, timeout)
        duration = time.monotonic() - start
        reason = message
        if ok:
            self._call(self.resume, min(timeout, 2.0))  # no controller running is not a failed reset
        else:
            message = f"reset failed after {duration:.2f} s: {message}"
            self.get_logger().error(message)
        with self.lock:
            kind = "graph" if self.p["mode"] == "graph" else self.robot_reset.srv_name
            report = ResetReport(kind, ok, duration, 0, "" if ok else reason)
            self.supervisor.record(report)  # may engage the e-stop and ask a person (no waiting)
            if ok:
                message = f"reset {self.supervisor.successes} done in {duration:.2f} s: {reason}"
                self.get_logger().info(message)
            elif self.mode != AUTOMATIC:
                message += f"; {self.help}"
        self._publish_stats()
        response.success, response.message = ok, message
        return response

    # -- the human fallback -----------------------------------------------------------------------
    def _engage_estop(self) -> None:
        """Latch the controller's e-stop without waiting for its answer (called under the lock)."""
        if self.estop_engaged or self.estop_pending is not None:
            return
        if not self.estop.service_is_ready():
            self.get_logger().error(
                f"no controller serves {ESTOP_SERVICE}: the e-stop is NOT engaged yet; trying again",
                throttle_duration_sec=5.0,
            )
            return
        self.estop_pending = self.estop.call_async(SetBool.Request(data=True))
        self.estop_pending.add_done_callback(self._on_estop_answer)

    def _keep_estop(self) -> None:
        with self.lock:
            if self.mode != AUTOMATIC and not self.estop_engaged:
                self._engage_estop()

    def _on_estop_answer(self, future: Any) -> None:
        result = future.result()
        with self.lock:
            self.estop_pending = None
            self.estop_engaged = bool(result is not None and result.success) and self.mode != AUTOMATIC

    def _ask_person(self, message: str) -> bool:
        """The supervisor's `ask`: publish the request and return at once (the answer is a service call)."""
        # ResetSupervisor counts a human reset when it asks; here one counts when a person says it is done.
        self.supervisor.human_resets -= 1
        self.mode = ASKED
        self.help = (
            f"{message} The e-stop is engaged. Reset the robot by hand, then call {HUMAN_RESET_SERVICE} "
            "with data: true to continue (false stops)."
        )
        self.help_pub.publish(String(data=self.help))
        self.get_logger().error(self.help)
        return True

    def on_human(self, request: Any, response: Any) -> Any:
        with self.lock:
            if self.mode == AUTOMATIC:
                response.success, response.message = False, "no reset is waiting for a person"
                return response
            if request.data:
                self.mode, self.help = AUTOMATIC, ""
                self.supervisor.human_resets += 1
                self.estop_engaged = False
                if not self.estop.service_is_ready():
                    self.get_logger().error(f"no controller serves {ESTOP_SERVICE}: clear its e-stop there")
                self.estop.call_async(SetBool.Request(data=False))
                message = "reset by hand: e-stop cleared, the next reset request runs the robot's reset again"
                self.get_logger().warning(message)
            else:
                self.mode = STOPPED
                self.help = (
                    f"stopped by the person: the e-stop stays engaged; call {HUMAN_RESET_SERVICE} with "
                    "data: true after resetting the robot by hand to continue"
                )
                message = self.help
                self.get_logger().error(message)
            self.help_pub.publish(String(data=self.help))
        self._publish_stats()
        response.success, response.message = True, message
        return response

    def _publish_stats(self) -> None:
        with self.lock:
            stats = self.supervisor.metrics()
        self.stats_pub.publish(String(data=json.dumps(stats)))


def main() -> int:
    return run(ResetNode, lambda: MultiThreadedExecutor(num_threads=2))
