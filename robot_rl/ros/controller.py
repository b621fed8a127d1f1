"""controller: the robot-side command layer between the actor and the robot's driver.

Takes the newest policy action (robot_rl.rosgraph.ACTION), shapes it into the driver's command
(robot_rl.command_shaping: Panda equilibrium pose in the safety box, Crazyflie motor forces, or
thrust and body rates with `action_mode: rates`, car steering and speed with the action-rate limit)
and publishes it at once. An action whose channel names are not this controller's layout is
refused (an actor and a controller set to different action modes must not fly). A watchdog
checked at `watchdog_hz` holds / lands / brakes when no fresh action arrived within the spec's
`safety.command_timeout_s`. A non-finite value in a state message latches a fault: the robot is
stopped and actions are ignored until `/robot_rl/controller/resume` (the reset node calls it).
The e-stop (`/robot_rl/estop`, std_srvs/SetBool) latches the same stop on request (`data: true`)
and only `data: false` clears it: neither a resume nor a reset does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import SetBool, Trigger

from robot_rl.command_shaping import Watchdog, make_shaper
from robot_rl.observations import InputError, check_finite
from robot_rl.ros.common import LATCHED_QOS, GraphNode, run, to_stamp
from robot_rl.rosgraph import ACTION, CONTROLLER_STATE, ESTOP_SERVICE, RESUME_SERVICE, robot_topics
from robot_rl.spec import load_robot_spec


class ControllerNode(GraphNode):
    kind = "controller"

    def __init__(self):
        super().__init__()
        p = self.p
        self.robot_name = p["robot"]
        self.spec = load_robot_spec(self.robot_name)
        self.shaper = make_shaper(self.spec, p["land_thrust_ratio"], p["action_mode"])
        self.topics = robot_topics(self.robot_name, self.shaper.action_mode)
        self.watchdog = Watchdog(self.spec.safety.command_timeout_s)
        self.fault = ""
        self.estop = False
        self.state = ""
        self.command_pub = self.pub(self.topics["command"])
        self.gripper_pub = self.pub(self.topics["gripper"]) if "gripper" in self.topics else None
        self.state_pub = self.create_publisher(String, CONTROLLER_STATE.name, LATCHED_QOS)
        self.sub(ACTION, self.on_action)
        for key in ("pose", "odom", "imu"):
            if key in self.topics:
                self.sub(self.topics[key], lambda msg, k=key: self.on_state(k, msg))
        self.create_service(Trigger, RESUME_SERVICE, self.on_resume)
        self.create_service(SetBool, ESTOP_SERVICE, self.on_estop)
        self.create_timer(1.0 / p["watchdog_hz"], self.on_timer)
        # Streamed setpoints (quadrotor, car) keep flowing while stopped; the Panda's equilibrium persists.
        self.stream_safe = self.robot_name != "panda"
        self.safe_every = max(1, round(p["watchdog_hz"] / self.spec.rates.policy_hz))
        self._ticks = 0
        self.set_state("hold")

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_pub.publish(String(data=state))

    # -- inputs ---------------------------------------------------------------------------------
    def on_state(self, key: str, msg: Any) -> None:
        topic = self.topics[key].name
        try:
            if key == "pose":
                p, q = msg.pose.position, msg.pose.orientation
                pos = check_finite([p.x, p.y, p.z], f"{topic} (position)")
                quat = check_finite([q.x, q.y, q.z, q.w], f"{topic} (orientation)")
                self.shaper.measured(ee_pos=pos, ee_quat=quat)
            elif key == "odom":
                p, tw = msg.pose.pose.position, msg.twist.twist
                check_finite([p.x, p.y, p.z, tw.linear.x, tw.linear.y, tw.linear.z], f"{topic} (odometry)")
                check_finite([tw.angular.x, tw.angular.y, tw.angular.z], f"{topic} (odometry)")
            else:
                w = msg.angular_velocity
                check_finite([w.x, w.y, w.z], f"{topic} (angular_velocity)")
        except InputError as exc:
            if not self.fault:
                self.fault = str(exc)
                action = {"panda": "holding pose", "crazyflie": "landing", "racecar": "braking"}[
                    self.robot_name
                ]
                self.publish(self.shaper.safe_command(), self.now_s())
                self.set_state("fault")
                self.get_logger().error(f"{exc}; {action} until {RESUME_SERVICE} is called")

    @property
    def stopped(self) -> bool:
        """A latched fault or e-stop: the safe command goes out, actions are ignored."""
        return bool(self.fault) or self.estop

    def on_action(self, msg: Any) -> None:
        if self.stopped:
            return
        now = self.now_s()
        values = np.asarray(msg.position, dtype=np.float64)
        if list(msg.name) != self.shaper.channels:
            self.get_logger().error(
                f"action refused: channels [{', '.join(msg.name)}], this controller (action_mode "
                f"{self.shaper.action_mode}) takes [{', '.join(self.shaper.channels)}]: give actor and "
                "controller the same action_mode",
                throttle_duration_sec=1.0,
            )
            return
        if values.size != self.shaper.size or not np.all(np.isfinite(values)):
            self.get_logger().error(
                f"action refused: {values.size} values {np.round(values, 3).tolist()}, expected "
                f"{self.shaper.size} finite",
                throttle_duration_sec=1.0,
            )
            return
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        # A command is as fresh as the observation it was computed from (arrival can lag behind);
        # a stamp from the future (clock skew between machines) counts as now.
        if self.watchdog.feed(min(now, stamp)):
            self.shaper.resync()
        if self.publish(self.shaper.command(values), stamp):
            self.set_state("ok")

    def on_timer(self) -> None:
        now = self.now_s()
        if self.watchdog.check(now) and not self.stopped:  # a fault or e-stop has stopped it already
            what = {"panda": "holding pose", "crazyflie": "landing", "racecar": "braking"}[self.robot_name]
            self.set_state("hold")  # first: whatever the driver gets after this is the safe command
            self.publish(self.shaper.safe_command(), now)
            age = now - (self.watchdog.last_s or now)
            self.get_logger().warning(
                f"no action for {1000 * self.spec.safety.command_timeout_s:.0f} ms: {what} "
                f"(newest action {1000 * age:.0f} ms old)"
            )
            self._ticks = 0
            return
        self._ticks += 1
        if (
            self.stream_safe
            and (self.watchdog.tripped or self.stopped)
            and self._ticks % self.safe_every == 0
        ):
            self.publish(self.shaper.safe_command(), now)

    def on_resume(self, request: Any, response: Any) -> Any:
        self.fault = ""
        if self.estop:  # a fault cleared, but only the e-stop service releases the e-stop
            response.success, response.message = False, f"e-stop engaged: clear it with {ESTOP_SERVICE} false"
            return response
        self.shaper.resync()
        self.set_state("ok" if not self.watchdog.tripped else "hold")
        response.success, response.message = True, "resumed"
        return response

    def on_estop(self, request: Any, response: Any) -> Any:
        if request.data and not self.estop:
            self.estop = True
            what = {"panda": "holding pose", "crazyflie": "landing", "racecar": "braking"}[self.robot_name]
            self.publish(self.shaper.safe_command(), self.now_s())
            self.set_state("estop")
            self.get_logger().error(f"e-stop engaged: {what}; clear it with {ESTOP_SERVICE} false")
        elif not request.data and self.estop:
            self.estop = False
            self.shaper.resync()
            self.watchdog.tripped = True  # hold until a fresh action arrives
            self.set_state("fault" if self.fault else "hold")
            self.get_logger().warning("e-stop cleared: acting again on the next fresh action")
        response.success, response.message = True, "e-stop engaged" if self.estop else "e-stop clear"
        return response

    # -- output ---------------------------------------------------------------------------------
    def publish(self, cmd: dict[str, Any], stamp_s: float) -> bool:
        if not cmd:
            return False
        stamp = to_stamp(stamp_s)
        if self.robot_name == "panda":
            msg = PoseStamped()
            msg.header.stamp, msg.header.frame_id = stamp, "panda_link0"
            pos, quat = cmd["position"], cmd["quat"]
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = map(float, pos)
            o = msg.pose.orientation
            o.x, o.y, o.z, o.w = map(float, quat)
            self.command_pub.publish(msg)
            if cmd["gripper"] is not None and self.gripper_pub is not None:
                self.gripper_pub.publish(Float64(data=float(cmd["gripper"])))
        elif "forces" in cmd:
            msg = JointState(name=["m1", "m2", "m3", "m4"], effort=[float(f) for f in cmd["forces"]])
            msg.header.stamp, msg.header.frame_id = stamp, "cf1"
            self.command_pub.publish(msg)
        elif self.robot_name == "crazyflie":
            msg = TwistStamped()
            msg.header.stamp, msg.header.frame_id = stamp, "cf1"
            msg.twist.linear.z = float(cmd["thrust"])
            msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = map(float, cmd["rates"])
            self.command_pub.publish(msg)
        else:
            msg = Twist()
            msg.linear.x, msg.angular.z = float(cmd["speed"]), float(cmd["steer"])
            self.command_pub.publish(msg)
        return True


def main() -> int:
    return run(ControllerNode)
