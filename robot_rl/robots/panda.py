"""Franka Emika Panda through franka_ros2: the robot state broadcaster's pose, twist, wrench and
joint states in; an equilibrium pose for the 1 kHz Cartesian impedance controller and the Franka
Hand's width out (the arm's codecs and shaper: robot_rl.robots.arm)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from robot_rl.controllers.resets.arm import StateArmReset
from robot_rl.robots.arm import ArmAdapter
from robot_rl.rosgraph import COMMAND, SENSOR, Topic, msg_type


class Adapter(ArmAdapter):
    STATE: ClassVar[dict[str, Topic]] = {
        "pose": Topic(
            "/franka_robot_state_broadcaster/current_pose",
            "geometry_msgs/PoseStamped",
            SENSOR,
            "TCP pose, base frame (ee_pos, ee_quat)",
        ),
        "twist": Topic(
            "/franka_robot_state_broadcaster/current_twist",
            "geometry_msgs/TwistStamped",
            SENSOR,
            "TCP twist, base frame (ee_linvel, ee_angvel)",
        ),
        "wrench": Topic(
            "/franka_robot_state_broadcaster/external_wrench_in_base_frame",
            "geometry_msgs/WrenchStamped",
            SENSOR,
            "estimated external wrench at the TCP, base frame",
        ),
        "joints": Topic(
            "/joint_states", "sensor_msgs/JointState", SENSOR, "7 arm joints + 2 fingers (gripper_width)"
        ),
    }
    COMMANDS: ClassVar[dict[str, dict[str, Topic]]] = {
        "default": {
            "command": Topic(
                "/cartesian_impedance_controller/equilibrium_pose",
                "geometry_msgs/PoseStamped",
                COMMAND,
                "equilibrium pose of the 1 kHz Cartesian impedance controller",
            ),
            "gripper": Topic(
                "/franka_gripper/width_command", "std_msgs/Float64", COMMAND, "gripper width target, m"
            ),
        }
    }
    FRAME = "panda_link0"
    GRAPH_RESET = StateArmReset
    HARDWARE_NODES = ("camera",)
    HARDWARE_RESET: ClassVar[dict[str, Any]] = {"mode": "graph"}  # the arm reset runs through the graph

    def gripper_message(self, width: float) -> Any:
        return msg_type("std_msgs/Float64")(data=width)

    def gripper_width_of(self, msg: Any) -> float:
        return float(msg.data)

    def twin_wrench(self, twin: Any) -> tuple[np.ndarray, np.ndarray]:
        """The external force on the arm: the contact normal forces on its links (torque not modelled)."""
        r, force = twin.robot, np.zeros(3)
        for contact in twin.client.getContactPoints(bodyA=r.body):
            if contact[2] != r.body:
                force += np.asarray(contact[7]) * contact[9]  # normal on B, pointing at the robot
        return force, np.zeros(3)
