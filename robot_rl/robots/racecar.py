"""An Ackermann RC car (MIT RACECAR / F1TENTH-style base driver): wheel odometry and IMU in; a
`cmd_vel` Twist out (linear.x speed target m/s, angular.z steering angle rad: the Ackermann Twist
convention). The shaper applies the policy's action-rate limit, as the twin's law does, and maps
steering and throttle with `controllers.ackermann`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from robot_rl.command_shaping import Shaper
from robot_rl.config import from_dict
from robot_rl.controllers.ackermann import (
    AckermannConfig,
    limit_rate,
    speed_to_throttle,
    steering_angle,
    throttle_to_speed,
)
from robot_rl.observations import check_finite
from robot_rl.robots.base import RobotAdapter
from robot_rl.rosgraph import COMMAND, SENSOR, Topic, msg_type
from robot_rl.spec import Field, RobotSpec


class RacecarShaper(Shaper):
    def __init__(self, spec: RobotSpec, fields: Sequence[Field]):
        super().__init__(spec, fields)
        self.config = from_dict(AckermannConfig, spec.controller, source=spec.source, prefix="controller")
        self.applied = np.zeros(2)  # the rate-limited action, as the twin's law keeps it

    def restart(self) -> None:
        self.applied = np.zeros(2)  # the reset car stands, wheels straight, as the twin's law restarts

    def command(self, action: Sequence[float]) -> dict[str, Any]:
        a = np.concatenate(list(self.split(action).values()))
        self.applied = limit_rate(a, self.applied, self.config.action_rate_limit)
        cfg = self.config
        return {
            "steer": steering_angle(float(self.applied[0]), cfg.max_steer_rad),
            "speed": throttle_to_speed(float(self.applied[1]), cfg.max_speed, cfg.max_reverse_speed),
        }


class Adapter(RobotAdapter):
    STATE: ClassVar[dict[str, Topic]] = {
        "odom": Topic("/odom", "nav_msgs/Odometry", SENSOR, "wheel odometry: twist.linear.x speed, m/s"),
        "imu": Topic("/imu", "sensor_msgs/Imu", SENSOR, "gyro: angular_velocity.z yaw rate, rad/s"),
    }
    COMMANDS: ClassVar[dict[str, dict[str, Topic]]] = {
        "default": {
            "command": Topic(
                "/cmd_vel",
                "geometry_msgs/Twist",
                COMMAND,
                "linear.x speed target m/s, angular.z steering angle rad (Ackermann Twist convention)",
            )
        }
    }
    FRAME = "base_link"
    SHAPER = RacecarShaper
    HARDWARE_NODES = ("camera",)

    def decode(self, key: str, msg: Any) -> dict[str, Any]:
        if key == "odom":
            return {"speed": [msg.twist.twist.linear.x]}
        if key == "imu":
            return {"yaw_rate": [msg.angular_velocity.z]}
        return {}

    def encode(self, command: dict[str, Any], stamp: Any) -> list[tuple[str, Any]]:
        msg = msg_type("geometry_msgs/Twist")()
        msg.linear.x, msg.angular.z = float(command["speed"]), float(command["steer"])
        return [("command", msg)]

    def teleop(self, twist: np.ndarray, last_action: np.ndarray, scale: float) -> np.ndarray:
        """angular.z steers, linear.x throttles."""
        return np.array([twist[5] * scale, twist[0] * scale], np.float32)

    # -- twin node ---------------------------------------------------------------------------------
    def twin_command(self, key: str, msg: Any, twin: Any, action: np.ndarray) -> np.ndarray:
        steer, speed = check_finite([msg.angular.z, msg.linear.x], "cmd_vel")
        cfg = twin.robot.controller.config
        return np.clip(
            [steer / cfg.max_steer_rad, speed_to_throttle(speed, cfg.max_speed, cfg.max_reverse_speed)], -1, 1
        ).astype(np.float32)

    def twin_before_step(self, twin: Any, action: np.ndarray) -> None:
        twin.robot.controller.action = np.asarray(action, np.float64)  # the shaper rate-limited it already

    def twin_state(self, twin: Any, stamp: Any) -> dict[str, Any]:
        obs = twin.robot.observe()
        s = twin.robot.state()
        odom = msg_type("nav_msgs/Odometry")()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = float(s.x), float(s.y)
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = np.sin(s.yaw / 2), np.cos(s.yaw / 2)
        odom.twist.twist.linear.x = float(obs[0])
        odom.twist.twist.angular.z = float(obs[1])
        imu = msg_type("sensor_msgs/Imu")()
        imu.header.stamp, imu.header.frame_id = stamp, "imu_link"
        imu.angular_velocity.z = float(obs[1])
        return {"odom": odom, "imu": imu}
