"""Cartesian impedance control of a torque-controlled 7-DoF arm (Franka Panda), in numpy.

The law is the one franka_ros' `cartesian_impedance_example_controller` runs at 1 kHz:

    tau = J^T (-K e - D J dq) + (I - J^T J^T+) (k_ns (q_ns - q) - 2 sqrt(k_ns) dq) + coriolis

with e the pose error (position, and orientation as the vector part of the error quaternion),
J^T+ the pseudo-inverse of J^T, and the desired torque's change per update limited like
franka_ros' `saturateTorqueRate` (delta_tau_max = 1 N m per 1 ms step). As in SERL's
`serl_franka_controllers`, the pose error is clipped per axis ("reference limiting", Luo et
al. 2024), so a far or unreachable reference pulls with a bounded force. Gravity is not in
the law: the Franka compensates it internally, and the twin adds it outside.

The commanded equilibrium pose moves by policy deltas relative to the current reference and
is clipped into the spec's safety box, here and on the robot alike (`reference.CartesianReference`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.config import param
from robot_rl.controllers.reference import CartesianReference, check_axis_gains, quat_multiply, unit_quat
from robot_rl.controllers.safety import SafetyBox

__all__ = ["CartesianImpedance", "ImpedanceGains", "orientation_error", "quat_multiply"]


@dataclass
class ImpedanceGains:
    """Gains and limits of the Cartesian impedance law (YAML `controller:` of a robot spec).

    Defaults follow SERL's Franka settings (Luo et al. 2024: K 2000 N/m and 150 N m/rad, D 89 and
    7): stiffer than franka_ros' example (200 N/m), so 2 cm policy steps are tracked within one
    100 ms step.
    """

    translational_stiffness: list[float] = param([2000.0, 2000.0, 2000.0], doc="K, x y z", unit="N/m")
    rotational_stiffness: list[float] = param([150.0, 150.0, 150.0], doc="K, about x y z", unit="N m/rad")
    translational_damping: list[float] | None = param(
        None, doc="D, x y z; None: 2 sqrt(K) as franka_ros", unit="N s/m"
    )
    rotational_damping: list[float] | None = param(
        None, doc="D, about x y z; None: 2 sqrt(K) as franka_ros", unit="N m s/rad"
    )
    nullspace_stiffness: float = param(
        0.5, doc="pull toward the rest posture (franka_ros: 0.5)", unit="N m/rad", ge=0
    )
    translational_clip: list[float] = param(
        [0.01, 0.01, 0.01],
        doc="largest position error the law sees, per axis (SERL's task configs: 0.0035-0.01)",
        unit="m",
    )
    rotational_clip: list[float] = param(
        [0.03, 0.03, 0.03],
        doc="largest orientation error the law sees, per axis (SERL's task configs: 0.01-0.03)",
        unit="rad",
    )
    delta_tau_max: float = param(1.0, doc="torque change per 1 ms (franka_ros: 1.0)", unit="N m/ms", gt=0)
    max_reference_lead: float = param(
        0.05,
        doc="anti-windup: the reference stays within this of the measured position, per axis",
        unit="m",
        gt=0,
    )

    def validate(self, source: str, prefix: str) -> None:
        names = (
            "translational_stiffness",
            "rotational_stiffness",
            "translational_damping",
            "rotational_damping",
            "translational_clip",
            "rotational_clip",
        )
        check_axis_gains(self, names, ("clip",), source, prefix)

    def damping(self) -> tuple[np.ndarray, np.ndarray]:
        """(translational, rotational) damping; critical damping of a unit mass when unset."""
        kt, kr = np.asarray(self.translational_stiffness), np.asarray(self.rotational_stiffness)
        dt = (
            2.0 * np.sqrt(kt)
            if self.translational_damping is None
            else np.asarray(self.translational_damping)
        )
        dr = 2.0 * np.sqrt(kr) if self.rotational_damping is None else np.asarray(self.rotational_damping)
        return dt, dr


def orientation_error(quat: np.ndarray, quat_ref: np.ndarray) -> np.ndarray:
    """franka_ros' orientation error (world frame, current minus desired) of xyzw quaternions.

    franka_ros computes -R(q) vec(q^-1 q_d); since R(q) vec(p) = vec(q p q^-1) this is
    -vec(q_d q^-1), one product instead of two.
    """
    x, y, z, w = quat
    rx, ry, rz, rw = quat_ref
    if x * rx + y * ry + z * rz + w * rw < 0.0:
        x, y, z, w = -x, -y, -z, -w
    # vector part of quat_ref * conj(quat), negated
    return np.array(
        (
            -(-rw * x + rx * w - ry * z + rz * y),
            -(-rw * y + rx * z + ry * w - rz * x),
            -(-rw * z - rx * y + ry * x + rz * w),
        )
    )


class CartesianImpedance(CartesianReference):
    """The impedance law with its reference, safety box and torque-rate state.

    `torque()` is called at the control rate with the measured joint state, end-effector pose
    (quaternions x y z w; a tuple of floats is fastest),
    the 6x7 Jacobian (linear rows first, world frame) and the Coriolis torques; it returns the
    7 joint torques to add to gravity compensation.
    """

    def __init__(self, gains: ImpedanceGains, torque_limit: np.ndarray, control_dt: float, box: SafetyBox):
        super().__init__(box, gains.max_reference_lead)
        self.gains = gains
        self.control_dt = float(control_dt)
        self.torque_limit = np.asarray(torque_limit, dtype=np.float64).copy()
        damp_t, damp_r = gains.damping()
        self.stiffness = np.concatenate([gains.translational_stiffness, gains.rotational_stiffness])
        self.damping = np.concatenate([damp_t, damp_r])
        self.clip = np.concatenate([gains.translational_clip, gains.rotational_clip])
        self.nullspace_stiffness = float(gains.nullspace_stiffness)
        self.nullspace_damping = 2.0 * np.sqrt(self.nullspace_stiffness)
        # franka_ros' limit is per 1 ms step; a slower loop may change the torque proportionally more.
        self.max_delta_tau = gains.delta_tau_max * self.control_dt * 1000.0
        n = len(self.torque_limit)
        self.q_nullspace = np.zeros(n)
        self.tau_prev = np.zeros(n)
        self._error = np.zeros(6)
        self._neg_clip = -self.clip
        # Joint mode (a joint reset, as the Franka's joint-position motion to its home posture): while
        # `joint_target` is set, the robot calls `joint_torque` instead of `torque`. It gets an arm out
        # of postures the Cartesian law cannot leave (a straight elbow is a singularity).
        self.joint_target: np.ndarray | None = None
        self.joint_omega = 8.0  # rad/s natural frequency of the joint-mode PD: settles in ~0.6 s

    def reset(self, ee_pos: np.ndarray, ee_quat: np.ndarray, q_nullspace: np.ndarray) -> None:
        """Hold the current pose (clipped into the box) and forget the torque history."""
        self.position_ref = self.box.clip(np.asarray(ee_pos, dtype=np.float64))
        self.quat_ref = unit_quat(ee_quat)
        self.q_nullspace = np.asarray(q_nullspace, dtype=np.float64).copy()
        self.tau_prev[:] = 0.0

    def pose_error(self, ee_pos: np.ndarray, ee_quat: np.ndarray) -> np.ndarray:
        """The clipped 6-vector error (position m, orientation rad) the law acts on."""
        err = self._error
        np.subtract(ee_pos, self.position_ref, out=err[:3])
        err[3:] = orientation_error(ee_quat, self.quat_ref)
        # np.minimum/maximum: a third of np.clip's call overhead on 6-vectors, at 500-1000 Hz.
        return np.minimum(np.maximum(err, self._neg_clip, out=err), self.clip, out=err)

    def torque(
        self,
        q: np.ndarray,
        dq: np.ndarray,
        ee_pos: np.ndarray,
        ee_quat: np.ndarray,
        jacobian: np.ndarray,
        coriolis: np.ndarray,
    ) -> np.ndarray:
        """Joint torques (N m) of one control update, rate- and torque-limited."""
        jt = jacobian.T
        error = self.pose_error(ee_pos, ee_quat)
        wrench = -self.stiffness * error - self.damping * (jacobian @ dq)
        tau = coriolis.copy()
        if self.nullspace_stiffness > 0.0:
            posture = self.nullspace_stiffness * (self.q_nullspace - q) - self.nullspace_damping * dq
            # (I - J^T (J^T)^+) posture with (J^T)^+ = (J J^T)^-1 J for a full-rank 6x7 J: one 6x6
            # solve against a vector instead of an SVD pseudo-inverse.
            wrench -= np.linalg.solve(jacobian @ jt, jacobian @ posture)
            tau += posture
        tau += jt @ wrench
        return self._limit(tau)

    def joint_torque(
        self, q: np.ndarray, dq: np.ndarray, mass_matrix: np.ndarray, coriolis: np.ndarray
    ) -> np.ndarray:
        """Joint mode: a critically damped PD toward `joint_target` through the mass matrix (computed
        torque), so every joint moves alike whatever its inertia; rate- and torque-limited as `torque`."""
        w = self.joint_omega
        accel = w * w * (self.joint_target - q) - 2.0 * w * dq
        return self._limit(coriolis + mass_matrix @ accel)

    def _limit(self, tau: np.ndarray) -> np.ndarray:
        step = self.max_delta_tau
        prev = self.tau_prev
        np.minimum(np.maximum(tau, prev - step, out=tau), prev + step, out=tau)
        np.minimum(np.maximum(tau, -self.torque_limit, out=tau), self.torque_limit, out=tau)
        self.tau_prev = tau.copy()  # callers may modify the returned array
        return tau
