"""Universal Robots UR5e through ur_robot_driver (ros2_control), made compliant by a Cartesian
compliance controller in the same controller manager: the TCP pose (`tcp_pose_broadcaster`), the
wrist force/torque sensor (`force_torque_sensor_broadcaster`) and the joint states in; the
compliance controller's target frame (an equilibrium pose, as the Panda's) and the gripper's
position command out. The driver publishes no TCP twist: the arm codecs differentiate the pose
stream (robot_rl.robots.arm). Mapping and versions checked: docs/ros.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from robot_rl.controllers.resets.arm import StateArmReset
from robot_rl.robots.arm import ArmAdapter
from robot_rl.rosgraph import COMMAND, SENSOR, Topic, msg_type


class Adapter(ArmAdapter):
    STATE: ClassVar[dict[str, Topic]] = {
        "pose": Topic(
            "/tcp_pose_broadcaster/pose",
            "geometry_msgs/PoseStamped",
            SENSOR,
            "TCP pose, base frame (ee_pos, ee_quat; ee_linvel, ee_angvel by difference)",
        ),
        "wrench": Topic(
            "/force_torque_sensor_broadcaster/wrench",
            "geometry_msgs/WrenchStamped",
            SENSOR,
            "wrist force/torque sensor (tcp_fts_sensor; the driver: tool0_controller frame, the twin: "
            "base frame about the TCP)",
        ),
        "joints": Topic(
            "/joint_states",
            "sensor_msgs/JointState",
            SENSOR,
            "6 arm joints + the gripper's 2 finger joints (gripper_width)",
        ),
    }
    COMMANDS: ClassVar[dict[str, dict[str, Topic]]] = {
        "default": {
            "command": Topic(
                "/cartesian_compliance_controller/target_frame",
                "geometry_msgs/PoseStamped",
                COMMAND,
                "equilibrium (target) pose of the Cartesian compliance controller, base frame",
            ),
            "gripper": Topic(
                "/gripper_position_controller/commands",
                "std_msgs/Float64MultiArray",
                COMMAND,
                "forward_command_controller on the gripper: [width, m]",
            ),
        }
    }
    FRAME = "base"
    GRAPH_RESET = StateArmReset
    HARDWARE_NODES = ("camera",)
    HARDWARE_RESET: ClassVar[dict[str, Any]] = {"mode": "graph"}  # the arm reset runs through the graph

    def gripper_message(self, width: float) -> Any:
        return msg_type("std_msgs/Float64MultiArray")(data=[width])

    def gripper_width_of(self, msg: Any) -> float:
        return float(msg.data[0]) if len(msg.data) == 1 else float("nan")

    def twin_wrench(self, twin: Any) -> tuple[np.ndarray, np.ndarray]:
        """The twin's simulated wrist sensor (the admittance law's input)."""
        wrench = np.asarray(twin.robot.wrench, np.float64)
        return wrench[:3], wrench[3:]
