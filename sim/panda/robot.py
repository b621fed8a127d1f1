"""The Panda twin: the generated URDF driven by the real Cartesian impedance law.

Each control update reads the joint state, the TCP pose, the Jacobian and the inverse
dynamics terms from PyBullet, runs `CartesianImpedance.torque` (the law the robot runs) and
applies the torques plus gravity compensation with TORQUE_CONTROL (the Franka compensates
gravity internally, outside the user's law). The gripper is a position-controlled device, as
the real Franka Hand is. What all twin arms share (actions, sensing, reset IK) is `sim.arm`.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import numpy as np
import pybullet

from robot_rl.config import from_dict
from robot_rl.controllers.impedance import CartesianImpedance, ImpedanceGains
from robot_rl.sim.arm import DOWN_QUAT, ArmRobot
from robot_rl.sim.panda.model import PandaModel, panda_urdf
from robot_rl.spec import RobotSpec

__all__ = ["DOWN_QUAT", "Robot"]


class Robot(ArmRobot):
    """Franka Panda + Franka Hand on a table plane at z = 0, base at the origin.

    Options (`robot_options` of `make_twin`): `yaw` adds the `ee_delta_yaw` action; without it
    the action is (ee_delta_pos, gripper) and the TCP keeps its start orientation.
    """

    RANDOMIZATION: ClassVar[dict[str, float]] = {
        "link_mass_scale": 1.0,
        "joint_damping": 0.0,
        "finger_friction": 1.0,
        "action_latency": 0.0,
        "obs_noise_pos": 0.0,
    }

    def __init__(self, client, spec: RobotSpec, yaw: bool = False):
        super().__init__(client, spec, PandaModel.from_spec(spec), yaw)
        self.gains = from_dict(ImpedanceGains, spec.controller, source=spec.source, prefix="controller")
        self.controller = CartesianImpedance(self.gains, self.effort, self.control_dt, self.box)

    # -- building --------------------------------------------------------------------------
    def build(self) -> None:
        c = self.client
        self._build_arm(str(panda_urdf(self.model)))
        self._set_joints([*self.model.home_q, self._finger_open, self._finger_open])
        # PyBullet builds its inverse-dynamics model on the first call and never updates it on
        # changeDynamics. Building it here, before any randomization, makes it the robot's
        # nominal model: like the Franka's internal model, gravity and Coriolis compensation
        # stay nominal while link_mass_scale changes the true masses.
        c.calculateInverseDynamics(
            self.body, [*self.model.home_q, self._finger_open, self._finger_open], self._zeros, self._zeros
        )
        cid = c._client
        self._inverse_dynamics = partial(pybullet.calculateInverseDynamics, self.body, physicsClientId=cid)
        self._apply_torques = partial(
            pybullet.setJointMotorControlArray,
            self.body,
            self.arm,
            pybullet.TORQUE_CONTROL,
            physicsClientId=cid,
        )

    # -- episodes --------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> None:
        c = self.client
        self.rng, self.params = rng, params
        self.scale_link_masses(params["link_mass_scale"])
        for i in self.arm:
            c.changeDynamics(self.body, i, jointDamping=params["joint_damping"])
        for i in self.finger_links:
            c.changeDynamics(self.body, i, lateralFriction=params["finger_friction"])
        # PyBullet's default velocity motors would fight the torques: switch them off.
        c.setJointMotorControlArray(self.body, self.arm, pybullet.VELOCITY_CONTROL, forces=[0.0] * 7)
        self._latency_steps = round(params["action_latency"] * self.spec.rates.control_hz)
        self._pending: tuple[np.ndarray, float, bool | None] | None = None
        self._substep = 0
        self.teleport(self.model.home_q)

    # -- control ---------------------------------------------------------------------------
    def control(self) -> None:
        if self._pending is not None and self._substep >= self._latency_steps:
            self._apply_pending()
        self._substep += 1
        states = self._joint_states()
        q = [s[0] for s in states]
        dq = [s[1] for s in states]
        link = self._tcp_state()
        zeros = self._zeros
        lin, ang = self._jacobian((0.0, 0.0, 0.0), q, zeros, zeros)
        gravity = np.array(self._inverse_dynamics(q, zeros, zeros)[:7])
        bias = np.array(self._inverse_dynamics(q, dq, zeros)[:7])
        jac = np.array((lin, ang)).reshape(6, -1)[:, :7]
        self._ee_pos = ee_pos = np.array(link[4])
        if self.controller.joint_target is None:
            tau = self.controller.torque(
                np.array(q[:7]), np.array(dq[:7]), ee_pos, link[5], jac, bias - gravity
            )
        else:  # a joint reset (ArmReset): joint mode of the law
            mass = np.array(self.client.calculateMassMatrix(self.body, q))[:7, :7]
            tau = self.controller.joint_torque(np.array(q[:7]), np.array(dq[:7]), mass, bias - gravity)
        tau = tau + gravity  # a new array: the law keeps its own output for the rate limit
        effort = self.effort
        np.minimum(np.maximum(tau, -effort, out=tau), effort, out=tau)
        self._apply_torques(forces=tau.tolist())
