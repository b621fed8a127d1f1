"""Cartesian admittance control of a position-controlled arm (Universal Robots e-Series), in numpy.

A position-controlled arm's own joint servo is stiff, so compliance is added around it: the
measured external wrench drives a virtual mass-spring-damper between the commanded equilibrium
pose x_eq (the policy's reference) and a compliant reference pose x_c,

    M x_c'' + D x_c' + K clip(x_c - x_eq) = F_ext,

integrated at the control rate (semi-implicit Euler; orientations as rotation vectors in the
world frame). Under a constant force the reference settles at x_eq + F/K; without one it
tracks x_eq. Differential inverse kinematics turns the compliant pose into joint-position
targets for the servo: damped least squares on the Jacobian (Wampler 1986; Nakamura & Hanafusa
1986), dq = J^T (J J^T + lambda^2 I)^-1 e, which stays bounded near singularities.

As the impedance law's reference limiting (SERL, Luo et al. 2024), the spring sees at most
`*_clip` of error per axis, so a far equilibrium pulls with at most K x clip; the measured
wrench is clipped to the sensor's range. Everything here takes arrays (poses, the 6xN
Jacobian with linear rows first, the wrench in the base frame about the TCP): the twin and the
robot driver read them from PyBullet and from the arm's own sensors respectively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from robot_rl.config import from_dict, param
from robot_rl.controllers.impedance import ImpedanceGains, orientation_error
from robot_rl.controllers.reference import CartesianReference, check_axis_gains, quat_multiply, unit_quat
from robot_rl.controllers.safety import SafetyBox


@dataclass
class AdmittanceGains:
    """Virtual dynamics, limits and IK damping of the admittance law (YAML `controller:` of a spec).

    Defaults: K 2000 N/m and 150 N m/rad as the Panda's impedance (SERL's Franka settings), a
    virtual mass of 2 kg / 0.1 kg m^2 (natural frequency ~32 and ~39 rad/s, settling within a
    100 ms policy step) and critical damping.
    """

    law: Literal["admittance"] = param("admittance", doc="which arm law reads this section")
    translational_stiffness: list[float] = param([2000.0, 2000.0, 2000.0], doc="K, x y z", unit="N/m")
    rotational_stiffness: list[float] = param([150.0, 150.0, 150.0], doc="K, about x y z", unit="N m/rad")
    translational_mass: list[float] = param([2.0, 2.0, 2.0], doc="virtual mass M, x y z", unit="kg")
    rotational_inertia: list[float] = param(
        [0.1, 0.1, 0.1], doc="virtual inertia M, about x y z", unit="kg m^2"
    )
    translational_damping: list[float] | None = param(
        None, doc="D, x y z; None: critical, 2 sqrt(K M)", unit="N s/m"
    )
    rotational_damping: list[float] | None = param(
        None, doc="D, about x y z; None: critical, 2 sqrt(K M)", unit="N m s/rad"
    )
    translational_clip: list[float] = param(
        [0.02, 0.02, 0.02], doc="largest position error the spring sees, per axis", unit="m"
    )
    rotational_clip: list[float] = param(
        [0.05, 0.05, 0.05], doc="largest orientation error the spring sees, per axis", unit="rad"
    )
    force_range: float = param(50.0, doc="measured force clipped to +/- this per axis", unit="N", gt=0)
    torque_range: float = param(10.0, doc="measured torque clipped to +/- this per axis", unit="N m", gt=0)
    wrench_time_constant: float = param(
        0.01, doc="first-order low-pass of the measured wrench (a force sensor's filter)", unit="s", ge=0
    )
    ik_damping: float = param(0.01, doc="lambda of the damped least squares", unit="m", gt=0)
    max_reference_lead: float = param(
        0.05,
        doc="anti-windup: the equilibrium stays within this of the measured position, per axis",
        unit="m",
        gt=0,
    )

    def validate(self, source: str, prefix: str) -> None:
        names = (
            "translational_stiffness",
            "rotational_stiffness",
            "translational_mass",
            "rotational_inertia",
            "translational_damping",
            "rotational_damping",
            "translational_clip",
            "rotational_clip",
        )
        check_axis_gains(self, names, ("clip", "mass", "inertia"), source, prefix)

    def damping(self) -> tuple[np.ndarray, np.ndarray]:
        """(translational, rotational) damping; critical when unset."""
        out = []
        for k, m, d in (
            (self.translational_stiffness, self.translational_mass, self.translational_damping),
            (self.rotational_stiffness, self.rotational_inertia, self.rotational_damping),
        ):
            out.append(2.0 * np.sqrt(np.asarray(k) * np.asarray(m)) if d is None else np.asarray(d))
        return out[0], out[1]


def law_gains(controller: dict[str, Any], source: str = "") -> ImpedanceGains | AdmittanceGains:
    """The arm law's gains from a spec's `controller:` section: admittance when it says
    `law: admittance`, the Cartesian impedance law otherwise."""
    if (controller or {}).get("law") == "admittance":
        return from_dict(AdmittanceGains, controller, source=source, prefix="controller")
    return from_dict(ImpedanceGains, controller or {}, source=source, prefix="controller")


def _rotation_vector_quat(rotvec: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array((0.5 * rotvec[0], 0.5 * rotvec[1], 0.5 * rotvec[2], 1.0))
    s = np.sin(0.5 * angle) / angle
    return np.array((s * rotvec[0], s * rotvec[1], s * rotvec[2], np.cos(0.5 * angle)))


class Admittance(CartesianReference):
    """The admittance law with its equilibrium (`position_ref`, `quat_ref`) and compliant state.

    Each control update: `update(wrench)` integrates the virtual dynamics one step, then
    `joint_targets(q, ee_pos, ee_quat, jacobian)` returns the servo's joint positions (rad).
    `joint_target` set (a joint reset) means the robot sends that posture instead.
    """

    def __init__(self, gains: AdmittanceGains, control_dt: float, box: SafetyBox):
        super().__init__(box, gains.max_reference_lead)
        self.gains = gains
        self.control_dt = float(control_dt)
        damp_t, damp_r = gains.damping()
        self.stiffness = np.concatenate([gains.translational_stiffness, gains.rotational_stiffness])
        self.damping = np.concatenate([damp_t, damp_r])
        self.mass = np.concatenate([gains.translational_mass, gains.rotational_inertia])
        self.clip = np.concatenate([gains.translational_clip, gains.rotational_clip])
        self.wrench_range = np.array([gains.force_range] * 3 + [gains.torque_range] * 3)
        self.compliant_pos = self.position_ref.copy()
        self.compliant_quat: tuple[float, float, float, float] = self.quat_ref
        self.velocity = np.zeros(6)  # compliant reference twist: m/s, rad/s (world frame)
        self.wrench = np.zeros(6)  # the filtered, range-clipped wrench the law last acted on
        self._filtered = np.zeros(6)
        self._smoothing = control_dt / (gains.wrench_time_constant + control_dt)
        self.joint_target: np.ndarray | None = None

    def reset(self, ee_pos: np.ndarray, ee_quat: np.ndarray, q: np.ndarray | None = None) -> None:
        """Hold the current pose (clipped into the box) at rest; `q` is accepted for the impedance
        law's signature (its nullspace posture) and unused."""
        self.set_reference(ee_pos, ee_quat)
        self.compliant_pos = self.position_ref.copy()
        self.compliant_quat = self.quat_ref
        self.velocity[:] = 0.0
        self.wrench[:] = 0.0
        self._filtered[:] = 0.0

    def spring_error(self) -> np.ndarray:
        """The clipped 6-vector x_c - x_eq (m, rad) the spring acts on."""
        err = np.empty(6)
        err[:3] = self.compliant_pos - self.position_ref
        err[3:] = orientation_error(self.compliant_quat, self.quat_ref)
        return np.clip(err, -self.clip, self.clip)

    def update(self, wrench: np.ndarray | None = None) -> None:
        """One step of M x'' + D x' + K (x - x_eq) = F_ext; `wrench` (N, N m; base frame, about the
        TCP) is what the surroundings exert on the tool, None for none. It is low-pass filtered, then
        clipped to the sensor's range."""
        raw = np.zeros(6) if wrench is None else np.asarray(wrench, dtype=np.float64)
        self._filtered += self._smoothing * (raw - self._filtered)
        force = self.wrench = np.clip(self._filtered, -self.wrench_range, self.wrench_range)
        accel = (force - self.stiffness * self.spring_error() - self.damping * self.velocity) / self.mass
        dt = self.control_dt
        self.velocity += accel * dt
        self.compliant_pos = self.compliant_pos + self.velocity[:3] * dt
        turn = _rotation_vector_quat(self.velocity[3:] * dt)
        self.compliant_quat = unit_quat(quat_multiply(turn, self.compliant_quat))

    def joint_targets(
        self, q: np.ndarray, ee_pos: np.ndarray, ee_quat: np.ndarray, jacobian: np.ndarray
    ) -> np.ndarray:
        """Joint positions (rad) that move the measured TCP onto the compliant pose: one damped
        least-squares step, q + J^T (J J^T + lambda^2 I)^-1 e."""
        return np.asarray(q, dtype=np.float64) + self.ik_step(
            self.compliant_pos, self.compliant_quat, ee_pos, ee_quat, jacobian
        )

    def joint_command(
        self, q: np.ndarray, ee_pos: np.ndarray, ee_quat: np.ndarray, jacobian: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """`joint_targets` and `joint_velocity` of one update from one solve (rad, rad/s)."""
        err = np.empty((6, 2))
        err[:3, 0] = self.compliant_pos - np.asarray(ee_pos)
        err[3:, 0] = -orientation_error(ee_quat, self.compliant_quat)
        err[:, 1] = self.velocity
        out = dls_solve(jacobian, err, self.gains.ik_damping)
        return np.asarray(q, dtype=np.float64) + out[:, 0], out[:, 1]

    def joint_velocity(self, jacobian: np.ndarray) -> np.ndarray:
        """Feed-forward joint velocities (rad/s) of the compliant twist."""
        return dls_solve(jacobian, self.velocity, self.gains.ik_damping)

    def ik_step(self, pos, quat, ee_pos, ee_quat, jacobian: np.ndarray) -> np.ndarray:
        """Joint change (rad) of one damped least-squares step from the measured pose toward (pos, quat)."""
        err = np.empty(6)
        err[:3] = np.asarray(pos) - np.asarray(ee_pos)
        err[3:] = -orientation_error(ee_quat, quat)
        return dls_solve(jacobian, err, self.gains.ik_damping)


def dls_solve(jacobian: np.ndarray, twist: np.ndarray, damping: float) -> np.ndarray:
    """J^T (J J^T + lambda^2 I)^-1 twist: the damped least-squares inverse of the Jacobian applied (to
    each column of a 6xK `twist`)."""
    jac = np.asarray(jacobian, dtype=np.float64)
    return jac.T @ np.linalg.solve(jac @ jac.T + damping * damping * np.eye(jac.shape[0]), twist)
