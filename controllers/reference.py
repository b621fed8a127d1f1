"""The commanded equilibrium pose of a Cartesian arm law, moved by policy deltas inside the safety box.

Both arm laws (`impedance.CartesianImpedance` for torque-controlled arms, `admittance.Admittance`
for position-controlled ones) pull the tool toward this pose; the policy, the experts and the
resets only ever move it, so they work with either law.
"""

from __future__ import annotations

import numpy as np

from robot_rl.controllers.safety import SafetyBox
from robot_rl.errors import ConfigError


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of xyzw quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        (
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        )
    )


def unit_quat(quat) -> tuple[float, float, float, float]:
    """`quat` normalized, as plain floats: per-update quaternion arithmetic is 4x faster than on numpy
    scalars."""
    q = np.asarray(quat, dtype=np.float64)
    x, y, z, w = (q / np.linalg.norm(q)).tolist()
    return x, y, z, w


class CartesianReference:
    """The equilibrium pose (`position_ref` m, `quat_ref` xyzw) with the box clip and the anti-windup lead.

    `max_reference_lead` (m): with a measured position, a moved reference stays within this of it
    per axis, so a blocked arm does not wind the reference up.
    """

    def __init__(self, box: SafetyBox, max_reference_lead: float):
        self.box = box
        self.max_reference_lead = float(max_reference_lead)
        self.position_ref = box.center.copy()
        self.quat_ref: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)

    def set_reference(self, position: np.ndarray, quat: np.ndarray | None = None) -> None:
        """Absolute equilibrium pose; the position is clipped into the safety box."""
        self.position_ref = self.box.clip(np.asarray(position, dtype=np.float64))
        if quat is not None:
            self.quat_ref = unit_quat(quat)

    def move_reference(
        self, delta_pos: np.ndarray, delta_yaw: float = 0.0, ee_pos: np.ndarray | None = None
    ) -> None:
        """Shift the equilibrium by a policy delta (m, rad about world z), relative to the reference.

        With `ee_pos`, the reference is kept within `max_reference_lead` of the measured position;
        the box clip always comes last.
        """
        ref = self.position_ref + np.asarray(delta_pos, dtype=np.float64)
        if ee_pos is not None:
            lead = self.max_reference_lead
            np.clip(ref, ee_pos - lead, ee_pos + lead, out=ref)
        self.position_ref = self.box.clip(ref, out=ref)
        if delta_yaw:
            half = 0.5 * float(delta_yaw)
            self.quat_ref = unit_quat(
                quat_multiply(np.array((0.0, 0.0, np.sin(half), np.cos(half))), self.quat_ref)
            )


def check_axis_gains(
    gains: object, names: tuple[str, ...], positive: tuple[str, ...], source: str, prefix: str
) -> None:
    """Each of a law's per-axis gains (x, y, z; None: unset) has 3 values >= 0; those whose name ends
    in one of `positive` are > 0."""
    for name in names:
        value = getattr(gains, name)
        if value is None:
            continue
        key = f"{prefix}.{name}" if prefix else name
        if len(value) != 3:
            raise ConfigError(source, key, "3 values (x, y, z)", value)
        if any(v < 0 for v in value) or (name.endswith(positive) and any(v <= 0 for v in value)):
            raise ConfigError(source, key, f"values >= 0 ({', '.join(positive)} > 0)", value)
