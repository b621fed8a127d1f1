"""reset: the service the actor calls between episodes (`/robot_rl/reset`, std_srvs/Trigger).

It runs the robot's reset (the service named by `robot_reset_service`: the twin's `/twin/reset`, or a
robot's reset controller), then clears a latched controller fault, and reports success.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from std_srvs.srv import Trigger

from robot_rl.ros.common import GraphNode, run
from robot_rl.rosgraph import RESET_SERVICE, RESUME_SERVICE


class ResetNode(GraphNode):
    kind = "reset"

    def __init__(self):
        super().__init__()
        group = ReentrantCallbackGroup()
        self.robot_reset = self.create_client(Trigger, self.p["robot_reset_service"], callback_group=group)
        self.resume = self.create_client(Trigger, RESUME_SERVICE, callback_group=group)
        self.create_service(Trigger, RESET_SERVICE, self.on_reset, callback_group=group)
        self.count = 0

    def _call(self, client: Any, timeout_s: float) -> tuple[bool, str]:
        if not client.wait_for_service(timeout_sec=timeout_s):
            return False, f"service {client.srv_name} not available within {timeout_s:.0f} s"
        event_done = client.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not event_done.done() and time.monotonic() < deadline:
            time.sleep(0.002)
        if not event_done.done():
            return False, f"service {client.srv_name} did not answer within {timeout_s:.0f} s"
        result = event_done.result()
        return bool(result.success), result.message

    def on_reset(self, request: Any, response: Any) -> Any:
        timeout = self.p["timeout_s"]
        start = time.monotonic()
        ok, message = self._call(self.robot_reset, timeout)
        if ok:
            self._call(self.resume, min(timeout, 2.0))  # no controller running is not a failed reset
            self.count += 1
            self.get_logger().info(f"reset {self.count} done in {1000 * (time.monotonic() - start):.0f} ms")
        else:
            self.get_logger().error(f"reset failed: {message}")
        response.success, response.message = ok, message
        return response


def main() -> int:
    return run(ResetNode, lambda: MultiThreadedExecutor(num_threads=2))
