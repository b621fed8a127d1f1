"""The UR5e twin: the URDF written from the spec, compliant through the admittance law.

The UR5e's controller takes joint positions (its servo, as `servoj` on the robot), so the twin
drives every arm joint with PyBullet's POSITION_CONTROL at the datasheet torque and speed
limits, and compliance comes from `controllers.admittance.Admittance` at control_hz: the
measured wrench on the tool moves a compliant reference around the policy's equilibrium pose,
and damped least squares on the Jacobian turns it into the servo's joint targets. The wrench
stands for the UR5e's built-in force/torque sensor at the flange: the twin sums the contact
forces on the arm's links and the gripper (what the surroundings exert, so the tool's own
weight needs no compensation) about the TCP, in the base frame.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import numpy as np
import pybullet

from robot_rl.config import from_dict
from robot_rl.controllers.admittance import Admittance, AdmittanceGains
from robot_rl.sim.arm import ArmRobot
from robot_rl.sim.ur5e.model import UR5eModel, ur5e_urdf
from robot_rl.spec import RobotSpec


class Robot(ArmRobot):
    """UR5e + two-finger gripper stand-in on a table plane at z = 0, base at the origin.

    Options (`robot_options` of `make_twin`): `yaw` adds the `ee_delta_yaw` action.

    State for a driver adapter: `tcp_pose()` (m, xyzw), `joint_state()` (rad, rad/s),
    `wrench` (N, N m; base frame, about the TCP, raw, from the last control update; the law's
    filtered one is `controller.wrench`), `gripper_width()` (m); commands:
    `controller.set_reference(position, quat)` (the equilibrium pose) or policy deltas through
    `step()`, and `set_gripper(close)`.
    """

    RANDOMIZATION: ClassVar[dict[str, float]] = {
        "link_mass_scale": 1.0,
        "finger_friction": 0.5,
        "action_latency": 0.0,
        "obs_noise_pos": 0.0,
    }

    def __init__(self, client, spec: RobotSpec, yaw: bool = False):
        super().__init__(client, spec, UR5eModel.from_spec(spec), yaw)
        self.gains = from_dict(AdmittanceGains, spec.controller, source=spec.source, prefix="controller")
        self.controller = Admittance(self.gains, self.control_dt, self.box)
        self.speed = np.array([self.model.joints[j].velocity for j in self.model.arm_joints])
        self.wrench = np.zeros(6)

    def build(self) -> None:
        self._build_arm(str(ur5e_urdf(self.model)))
        self._set_joints([*self.model.home_q, self._finger_open, self._finger_open])
        # A compliant table contact: a position servo pressing a rigid tool on a rigid table is a contact
        # PyBullet resolves in impulses (the arm bounces, the wrench is spikes); with a table top of
        # finite stiffness it is a spring in series with the law's, as a real table and tool are.
        self.client.changeDynamics(
            self.plane,
            -1,
            contactStiffness=self.model.table_contact_stiffness,
            contactDamping=self.model.table_contact_damping,
        )
        self._lower, self._upper = self.joint_limits
        # per joint (setJointMotorControlArray has no maxVelocity), bound once: see ArmRobot._build_arm
        self._servo = partial(pybullet.setJointMotorControl2, self.body, physicsClientId=self.client._client)

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> None:
        c = self.client
        self.rng, self.params = rng, params
        self.scale_link_masses(params["link_mass_scale"])
        for i in self.finger_links:
            c.changeDynamics(self.body, i, lateralFriction=params["finger_friction"])
        self._latency_steps = round(params["action_latency"] * self.spec.rates.control_hz)
        self._pending: tuple[np.ndarray, float, bool | None] | None = None
        self._substep = 0
        self.wrench = np.zeros(6)
        self.teleport(self.model.home_q)

    def measure_wrench(self, tcp: np.ndarray) -> np.ndarray:
        """Force (N) and torque about the TCP (N m) the surroundings exert on the robot, base frame."""
        out = np.zeros(6)
        for p in self.client.getContactPoints(bodyA=self.body):
            if p[2] == self.body:
                continue  # self-contact: internal, not a load on the tool
            force = p[9] * np.asarray(p[7]) + p[10] * np.asarray(p[11]) + p[12] * np.asarray(p[13])
            out[:3] += force
            out[3:] += np.cross(np.asarray(p[5]) - tcp, force)
        return out

    def control(self) -> None:
        if self._pending is not None and self._substep >= self._latency_steps:
            self._apply_pending()
        self._substep += 1
        states = self._joint_states()
        q = [s[0] for s in states]
        link = self._tcp_state()
        self._ee_pos = ee_pos = np.array(link[4])
        law = self.controller
        if law.joint_target is None:
            zeros = self._zeros
            lin, ang = self._jacobian((0.0, 0.0, 0.0), q, zeros, zeros)
            jac = np.array((lin, ang)).reshape(6, -1)[:, : self.n_arm]
            self.wrench = self.measure_wrench(ee_pos)
            law.update(self.wrench)
            target, velocity = law.joint_command(np.array(q[: self.n_arm]), ee_pos, link[5], jac)
            velocity = np.clip(velocity, -self.speed, self.speed)
        else:  # a joint reset (ArmReset): the servo takes the reset's posture directly
            target, velocity = np.asarray(law.joint_target, dtype=np.float64), np.zeros(self.n_arm)
        target = np.clip(target, self._lower, self._upper)
        servo, gain = self._servo, self.model.servo_position_gain
        for i, joint in enumerate(self.arm):
            servo(
                joint,
                pybullet.POSITION_CONTROL,
                targetPosition=float(target[i]),
                targetVelocity=float(velocity[i]),
                force=float(self.effort[i]),
                maxVelocity=float(self.speed[i]),
                positionGain=gain,
                velocityGain=1.0,
            )
