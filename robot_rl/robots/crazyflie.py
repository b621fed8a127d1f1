"""Crazyflie 2.x through crazyswarm2: odometry and IMU in; motor forces for the firmware's
controlModeForce (`force`, the layout policies are trained with) or collective thrust and body
rates for its rate loop (`rates`) out.

`pos_error` is the measured position minus the position target: the nodes form it from the
odometry position this adapter decodes (`position`) and the hover point or the moving target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from robot_rl.command_shaping import Shaper, physical
from robot_rl.observations import InputError, check_finite
from robot_rl.robots.base import RobotAdapter, set_quat, set_xyz, xyz
from robot_rl.rosgraph import COMMAND, POSITION_TARGET, SENSOR, Topic, msg_type

#: the firmware's motor mixing signs, M1..M4, for roll, pitch and yaw
MIX_ROLL, MIX_PITCH, MIX_YAW = (-1, -1, 1, 1), (-1, 1, 1, -1), (-1, 1, -1, 1)


class CrazyflieShaper(Shaper):
    """`force`: one normalized force per motor (0..1 of max_thrust_n, M1..M4) for the firmware's
    controlModeForce; `rates`: collective thrust and body rates for its rate loop."""

    def command(self, action: Sequence[float]) -> dict[str, Any]:
        parts = self.split(action)
        if "motor_forces" in parts:
            return {"forces": physical(self.fields[0], parts["motor_forces"])}
        thrust = float(physical(self.fields[0], parts["collective_thrust"])[0])
        return {"thrust": thrust, "rates": physical(self.fields[1], parts["body_rates"])}


def quat_from_matrix(r: Any) -> tuple[float, float, float, float]:
    """Row-major 3x3 rotation -> unit quaternion x y z w (w >= 0)."""
    m = np.asarray(r, dtype=np.float64).reshape(3, 3)
    w = np.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2.0
    x = np.copysign(np.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2.0, m[2, 1] - m[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2.0, m[0, 2] - m[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2.0, m[1, 0] - m[0, 1])
    return float(x), float(y), float(z), float(w)


class Adapter(RobotAdapter):
    STATE: ClassVar[dict[str, Topic]] = {
        "odom": Topic(
            "/cf1/odom",
            "nav_msgs/Odometry",
            SENSOR,
            "position and orientation (world), linear velocity (world), body rates",
        ),
        "imu": Topic("/cf1/imu", "sensor_msgs/Imu", SENSOR, "gyro (body rates, rad/s)"),
    }
    COMMANDS: ClassVar[dict[str, dict[str, Topic]]] = {
        "force": {
            "command": Topic(
                "/cf1/cmd_motors",
                "sensor_msgs/JointState",
                COMMAND,
                "firmware controlModeForce setpoint: name m1..m4, effort = motor force / max_thrust_n (0..1)",
            )
        },
        "rates": {
            "command": Topic(
                "/cf1/cmd_rates",
                "geometry_msgs/TwistStamped",
                COMMAND,
                "firmware inner-loop setpoint: angular = body rates rad/s, linear.z = collective thrust 0..1",
            )
        },
    }
    TWIN_EXTRA: ClassVar[dict[str, Topic]] = {"position_target": POSITION_TARGET}
    FRAME = "world"
    SHAPER = CrazyflieShaper

    def twin_options(self) -> dict[str, Any] | None:
        return {"action_mode": self.action_mode}

    def decode(self, key: str, msg: Any) -> dict[str, Any]:
        if key == "odom":
            from robot_rl.controllers.quadrotor import rotation_from_quaternion

            o, tw = msg.pose.pose.orientation, msg.twist.twist
            return {
                "position": xyz(msg.pose.pose.position),
                "rot_matrix": rotation_from_quaternion(o.x, o.y, o.z, o.w),
                "lin_vel": xyz(tw.linear),
            }
        if key == "imu":
            return {"body_rates": xyz(msg.angular_velocity)}
        return {}

    def encode(self, command: dict[str, Any], stamp: Any) -> list[tuple[str, Any]]:
        if "forces" in command:
            msg = msg_type("sensor_msgs/JointState")(
                name=["m1", "m2", "m3", "m4"], effort=[float(f) for f in command["forces"]]
            )
        else:
            msg = msg_type("geometry_msgs/TwistStamped")()
            msg.twist.linear.z = float(command["thrust"])
            set_xyz(msg.twist.angular, command["rates"])
        msg.header.stamp, msg.header.frame_id = stamp, "cf1"
        return [("command", msg)]

    def teleop(self, twist: np.ndarray, last_action: np.ndarray, scale: float) -> np.ndarray:
        """linear.z is collective thrust, angular x y z the body rates; in `force` mode the same input
        is mixed open loop onto the motors with the firmware's signs (a human pilot wants `rates`)."""
        a = np.zeros(self.size, np.float32)
        if self.action_mode == "force":
            roll, pitch, yaw = twist[3:6] * scale
            a[:] = twist[2] * scale + 0.25 * (
                roll * np.array(MIX_ROLL) + pitch * np.array(MIX_PITCH) + yaw * np.array(MIX_YAW)
            )
        else:
            a[0], a[1:4] = twist[2] * scale, twist[3:6] * scale
        return a

    # -- twin node ---------------------------------------------------------------------------------
    def twin_command(self, key: str, msg: Any, twin: Any, action: np.ndarray) -> np.ndarray:
        if self.action_mode == "force":
            forces = check_finite(list(msg.effort), "motor command")
            if forces.size != 4:
                raise InputError(f"motor command has {forces.size} forces, 4 expected (m1..m4)")
            return twin.robot.to_action(forces.tolist())
        tw = msg.twist
        cmd = check_finite([tw.linear.z, tw.angular.x, tw.angular.y, tw.angular.z], "rate command")
        return twin.robot.to_action(cmd.tolist())

    def twin_state(self, twin: Any, stamp: Any) -> dict[str, Any]:
        obs = twin.robot.observe()  # the sensors (delayed, noisy when randomized)
        target = twin.robot.target
        point = msg_type("geometry_msgs/PointStamped")()
        point.header.stamp, point.header.frame_id = stamp, "world"
        set_xyz(point.point, target)
        odom = msg_type("nav_msgs/Odometry")()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "world", "cf1"
        set_xyz(odom.pose.pose.position, [obs[i] + target[i] for i in range(3)])
        set_quat(odom.pose.pose.orientation, quat_from_matrix(obs[3:12]))
        set_xyz(odom.twist.twist.linear, obs[12:15])
        set_xyz(odom.twist.twist.angular, obs[15:18])
        imu = msg_type("sensor_msgs/Imu")()
        imu.header.stamp, imu.header.frame_id = stamp, "cf1"
        imu.orientation = odom.pose.pose.orientation
        set_xyz(imu.angular_velocity, obs[15:18])
        return {"position_target": point, "odom": odom, "imu": imu}
