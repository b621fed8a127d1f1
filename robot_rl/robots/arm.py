"""What every arm driven by an equilibrium TCP pose shares (the Panda's impedance controller, the
UR5e's compliance controller): the TCP pose, joint states and gripper width in; the equilibrium
pose and a gripper width out; the same teleop mapping and the twin's side of those messages.

The shaper moves the equilibrium by the action's delta, within `max_reference_lead` of the
measured pose and inside the safety box; after `resync()` it starts again from the measured pose
(a hold is a resync and a zero delta). The gripper's constants are the spec's (`model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from robot_rl.command_shaping import Shaper, physical
from robot_rl.controllers.reference import quat_multiply
from robot_rl.controllers.safety import SafetyBox
from robot_rl.observations import check_finite
from robot_rl.robots.base import RobotAdapter, set_quat, set_xyz, xyz
from robot_rl.rosgraph import msg_type
from robot_rl.spec import Field, RobotSpec


class ArmShaper(Shaper):
    def __init__(self, spec: RobotSpec, fields: Sequence[Field]):
        super().__init__(spec, fields)
        self.lead = float(spec.controller["max_reference_lead"])  # the law's, checked by its dataclass
        self.open_m = float(spec.model["gripper_open_m"])
        self.threshold = float(spec.model["gripper_command_threshold"])
        self.box = SafetyBox.from_spec(spec.safety)
        self.ee_pos: np.ndarray | None = None
        self.ee_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self.ref_pos: np.ndarray | None = None
        self.ref_quat = self.ee_quat

    def measured(self, name: str, value: Sequence[float]) -> None:
        if name == "ee_pos":
            self.ee_pos = np.asarray(value, dtype=np.float64)
        elif name == "ee_quat":
            self.ee_quat = np.asarray(value, dtype=np.float64)

    def resync(self) -> None:
        self.ref_pos = None

    def restart(self) -> None:
        """A new episode: the equilibrium starts from the episode's first measured pose, not from the
        pose before the reset."""
        self.resync()
        self.ee_pos = None

    @property
    def commanded(self) -> Any:
        return self.ref_pos

    def command(self, action: Sequence[float]) -> dict[str, Any]:
        parts = self.split(action)
        if self.ee_pos is None:
            return {}  # no pose measured yet: nothing safe to command
        if self.ref_pos is None:
            self.ref_pos, self.ref_quat = self.box.clip(self.ee_pos), self.ee_quat
        delta = physical(self.fields[0], parts["ee_delta_pos"])
        ref = np.clip(self.ref_pos + delta, self.ee_pos - self.lead, self.ee_pos + self.lead)
        self.ref_pos = self.box.clip(ref)
        g = float(parts["gripper"][0])
        width = 0.0 if g > self.threshold else (self.open_m if g < -self.threshold else None)
        return {"position": self.ref_pos.copy(), "quat": np.asarray(self.ref_quat), "gripper": width}


class ArmAdapter(RobotAdapter):
    """An arm whose driver takes an equilibrium pose (`command`, PoseStamped) and a gripper width
    (`gripper`), and publishes the TCP pose (`pose`), joint states with the two finger joints
    (`joints`) and, where it has one, the TCP twist (`twist`; otherwise `decode` differentiates the
    pose stream)."""

    BOX_STATE = "pose"
    SHAPER = ArmShaper

    def decode(self, key: str, msg: Any) -> dict[str, Any]:
        if key == "pose":
            q = msg.pose.orientation
            quat = self.spec.field("ee_quat").canonical([q.x, q.y, q.z, q.w])  # the spec's sign
            out = {"ee_pos": xyz(msg.pose.position), "ee_quat": quat}
            if "twist" not in self.STATE:
                out.update(self._twist_from_poses(msg.header.stamp, out["ee_pos"], quat))
            return out
        if key == "twist":
            return {"ee_linvel": xyz(msg.twist.linear), "ee_angvel": xyz(msg.twist.angular)}
        if key == "joints":
            # the two finger joints, whatever prefix the driver gives them (panda_, fr3_, a tf_prefix)
            fingers = [pos for name, pos in zip(msg.name, msg.position) if "finger" in name]
            return {"gripper_width": [sum(fingers)]} if len(fingers) == 2 else {}
        return {}

    def restart(self) -> None:
        self._prev_pose = None  # a reset may teleport the arm (the twin): no velocity across it

    def _twist_from_poses(self, stamp: Any, pos: list[float], quat: np.ndarray) -> dict[str, Any]:
        """The TCP twist by differences of consecutive poses (drivers without a twist topic): linear
        dp/dt, angular the rotation vector of q * q_prev^-1 over dt (base frame); nothing until two
        poses with increasing stamps have arrived."""
        t = stamp.sec + 1e-9 * stamp.nanosec
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
            return {}  # a bad pose is refused downstream; the next good one differences the last good one
        prev, self._prev_pose = getattr(self, "_prev_pose", None), (t, np.asarray(pos), np.asarray(quat))
        if prev is None or t <= prev[0]:
            return {}
        dt = t - prev[0]
        rel = quat_multiply(np.asarray(quat), np.concatenate([-prev[2][:3], prev[2][3:]]))  # q * q_prev^-1
        if rel[3] < 0.0:
            rel = -rel
        angle = 2.0 * np.arctan2(np.linalg.norm(rel[:3]), rel[3])
        axis = rel[:3] / max(float(np.linalg.norm(rel[:3])), 1e-12)
        return {"ee_linvel": (np.asarray(pos) - prev[1]) / dt, "ee_angvel": axis * angle / dt}

    @property
    def _fingers(self) -> tuple[str, ...]:
        return tuple(self.spec.model["finger_joints"])

    def encode(self, command: dict[str, Any], stamp: Any) -> list[tuple[str, Any]]:
        pose = msg_type("geometry_msgs/PoseStamped")()
        pose.header.stamp, pose.header.frame_id = stamp, self.FRAME
        set_xyz(pose.pose.position, command["position"])
        set_quat(pose.pose.orientation, command["quat"])
        out = [("command", pose)]
        if command["gripper"] is not None:
            out.append(("gripper", self.gripper_message(float(command["gripper"]))))
        return out

    def gripper_message(self, width: float) -> Any:
        """The gripper driver's command for a width (m)."""
        raise NotImplementedError

    def gripper_width_of(self, msg: Any) -> float:
        """The width (m) a gripper command asks for."""
        raise NotImplementedError

    def teleop(self, twist: np.ndarray, last_action: np.ndarray, scale: float) -> np.ndarray:
        """linear x y z moves the TCP; angular.x past the gripper threshold closes (+) or opens (-)."""
        a = np.zeros(self.size, np.float32)
        a[:3] = twist[:3] * scale
        a[3] = last_action[3]  # gripper: keep
        if abs(twist[3]) > self.spec.model["gripper_command_threshold"]:
            a[3] = np.sign(twist[3])
        return a

    def resting_state(self) -> dict[str, Any]:
        out = super().resting_state()
        set_xyz(out["pose"].pose.position, [0.5, 0.0, 0.3])  # inside the box, above the table
        out["joints"].name = list(self._fingers)
        out["joints"].position = [0.5 * self.spec.model["gripper_open_m"]] * 2  # open
        return out

    # -- twin node ---------------------------------------------------------------------------------
    def twin_command(self, key: str, msg: Any, twin: Any, action: np.ndarray) -> np.ndarray:
        if key == "gripper":  # a width below half open closes, above opens
            width = self.gripper_width_of(msg)
            if np.isfinite(width):
                action = action.copy()
                action[twin.robot.action_slices["gripper"]] = (
                    1.0 if width < 0.5 * self.spec.model["gripper_open_m"] else -1.0
                )
            return action
        p, q = msg.pose.position, msg.pose.orientation
        pos = check_finite([p.x, p.y, p.z], "equilibrium pose")
        quat = check_finite([q.x, q.y, q.z, q.w], "equilibrium pose")
        twin.robot.controller.set_reference(pos, quat / max(np.linalg.norm(quat), 1e-9))
        return action  # the position deltas stay 0: the reference stays where commanded

    def hold_mask(self, twin: Any) -> np.ndarray:
        mask = np.zeros(twin.action_space.shape, np.float32)  # deltas apply once
        mask[twin.robot.action_slices["gripper"]] = 1.0  # the gripper keeps its command
        return mask

    def twin_state(self, twin: Any, stamp: Any) -> dict[str, Any]:
        r, c = twin.robot, twin.client
        obs = r.observe()
        pose = msg_type("geometry_msgs/PoseStamped")()
        pose.header.stamp, pose.header.frame_id = stamp, self.FRAME
        set_xyz(pose.pose.position, obs[0:3])
        set_quat(pose.pose.orientation, obs[3:7])
        states = c.getJointStates(r.body, r.movable)
        joints = msg_type("sensor_msgs/JointState")()
        joints.header = pose.header
        joints.name = list(r.model.arm_joints) + list(r.model.finger_joints)
        joints.position = [float(s[0]) for s in states]
        joints.velocity = [float(s[1]) for s in states]
        joints.effort = [float(s[3]) for s in states]
        out = {"pose": pose, "joints": joints}
        if "twist" in self.STATE:
            twist = msg_type("geometry_msgs/TwistStamped")()
            twist.header = pose.header
            set_xyz(twist.twist.linear, obs[7:10])
            set_xyz(twist.twist.angular, obs[10:13])
            out["twist"] = twist
        if "wrench" in self.STATE:
            wrench = msg_type("geometry_msgs/WrenchStamped")()
            wrench.header = pose.header
            force, torque = self.twin_wrench(twin)
            set_xyz(wrench.wrench.force, force)
            set_xyz(wrench.wrench.torque, torque)
            out["wrench"] = wrench
        return out

    def twin_wrench(self, twin: Any) -> tuple[np.ndarray, np.ndarray]:
        """The wrench the driver reports (force N, torque N m), from the twin."""
        return np.zeros(3), np.zeros(3)
