"""Quadrotor control laws: motor mixer, body-rate PID, attitude and position loops.

The firmware's inner loop is `RateController` -> `Mixer` at the control rate; the twin runs the
same code in action mode `rates`, and the C port shares test vectors with it. `AttitudeController`
and `PositionController` close the outer loops for hold/reset flights and the scripted expert.

Conventions (Crazyflie 2.x, firmware order): body frame x forward, y left, z up; X configuration
with M1 front-right, M2 back-right, M3 back-left, M4 front-left; M1 and M3 spin counter-clockwise
seen from above (their drag pushes the body clockwise, -z), M2 and M4 clockwise. This matches the
firmware's force/torque mixer signs (M1: -roll -pitch -yaw, M2: -roll +pitch +yaw, M3: +roll
+pitch -yaw, M4: +roll -pitch +yaw).

The per-call work is on 3- and 4-element quantities, so it uses plain floats: at these sizes
numpy's per-call overhead costs more than the arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from robot_rl.config import param
from robot_rl.errors import ConfigError

#: gravity the twin and the controllers assume (the twin sets the same in PyBullet)
GRAVITY = 9.81

#: yaw torque sign of each motor's drag on the body (M1..M4): M1, M3 counter-clockwise rotors
SPIN_TORQUE_SIGN = (-1.0, 1.0, -1.0, 1.0)


def motor_positions(arm_length_m: float) -> tuple[tuple[float, float], ...]:
    """(x, y) of M1..M4 in the body frame (m) for an X frame with the given centre-to-motor arm."""
    d = arm_length_m * math.sqrt(0.5)
    return ((d, -d), (-d, -d), (-d, d), (d, d))


def _three(name: str, values: Sequence[float], source: str, prefix: str) -> None:
    if len(values) != 3:
        raise ConfigError(source, f"{prefix}.{name}", "3 values (roll, pitch, yaw or x, y, z)", values)


@dataclass
class RateGains:
    """Body-rate PID in angular-acceleration units: torque = inertia * (P + I + D)."""

    kp: list[float] = param([14.0, 14.0, 6.0], doc="rad/s^2 per rad/s of rate error", unit="1/s", ge=0)
    ki: list[float] = param(
        [10.0, 10.0, 2.0], doc="rad/s^2 per rad of integrated rate error", unit="1/s^2", ge=0
    )
    kd: list[float] = param([0.3, 0.3, 0.0], doc="rad/s^2 per rad/s^2 of gyro derivative", unit="1", ge=0)
    integral_limit: list[float] = param(
        [0.5, 0.5, 0.5], doc="clamp of the integrated rate error", unit="rad", ge=0
    )

    def validate(self, source: str, prefix: str) -> None:
        for name in ("kp", "ki", "kd", "integral_limit"):
            _three(name, getattr(self, name), source, prefix)


@dataclass
class AttitudeGains:
    """Geometric attitude P loop on SO(3) producing body-rate setpoints."""

    kp: list[float] = param([7.0, 7.0, 3.0], doc="rate setpoint per attitude error", unit="1/s", ge=0)
    max_rate: list[float] = param([6.0, 6.0, 3.0], doc="rate setpoint limit", unit="rad/s", gt=0)

    def validate(self, source: str, prefix: str) -> None:
        _three("kp", self.kp, source, prefix)
        _three("max_rate", self.max_rate, source, prefix)


@dataclass
class PositionGains:
    """PID on position producing a desired acceleration (world frame), thrust and attitude."""

    kp: list[float] = param([6.0, 6.0, 6.0], doc="acceleration per position error", unit="1/s^2", ge=0)
    kd: list[float] = param([4.0, 4.0, 4.0], doc="acceleration per velocity error", unit="1/s", ge=0)
    ki: list[float] = param(
        [0.5, 0.5, 1.0], doc="acceleration per integrated position error", unit="1/s^3", ge=0
    )
    integral_limit: list[float] = param(
        [0.3, 0.3, 0.3], doc="clamp of the integrated position error", unit="m s"
    )
    max_tilt_rad: float = param(0.6, doc="largest commanded tilt", unit="rad", gt=0, lt=1.5)

    def validate(self, source: str, prefix: str) -> None:
        for name in ("kp", "kd", "ki", "integral_limit"):
            _three(name, getattr(self, name), source, prefix)


@dataclass
class QuadrotorControllerConfig:
    """The spec's `controller:` section for quadrotors."""

    rate: RateGains = param(default_factory=RateGains, doc="inner body-rate loop (control_hz)")
    attitude: AttitudeGains = param(default_factory=AttitudeGains, doc="attitude loop (hold/expert)")
    position: PositionGains = param(default_factory=PositionGains, doc="position loop (hold/expert)")


class Mixer:
    """Collective thrust and body torques <-> per-motor forces, and normalized motor commands.

    Same law as the firmware's force/torque power distribution; when a motor would exceed full
    thrust, all four are lowered by the excess, keeping the torques and giving up collective
    thrust (as the firmware's cap does).
    """

    def __init__(self, arm_length_m: float, thrust_to_torque_m: float, max_thrust_n: float):
        self.arm = arm_length_m * math.sqrt(0.5)
        self.thrust_to_torque = thrust_to_torque_m
        self.max_thrust = max_thrust_n

    def forces(self, thrust: float, tx: float, ty: float, tz: float) -> tuple[float, float, float, float]:
        """Per-motor forces (N, M1..M4, unclipped) for thrust (N) and body torques (N m)."""
        t = 0.25 * thrust
        r = 0.25 * tx / self.arm
        p = 0.25 * ty / self.arm
        y = 0.25 * tz / self.thrust_to_torque
        return (t - r - p - y, t - r + p + y, t + r + p - y, t + r - p + y)

    def wrench(self, f: Sequence[float]) -> tuple[float, float, float, float]:
        """(thrust N, tx, ty, tz N m) produced by motor forces f (N, M1..M4)."""
        f1, f2, f3, f4 = f
        a, c = self.arm, self.thrust_to_torque
        return (
            f1 + f2 + f3 + f4,
            a * (-f1 - f2 + f3 + f4),
            a * (-f1 + f2 + f3 - f4),
            c * (-f1 + f2 - f3 + f4),
        )

    def normalized(self, thrust: float, tx: float, ty: float, tz: float) -> list[float]:
        """Motor commands in [0, 1] (force / max_thrust_n), torques kept first on saturation."""
        inv = 1.0 / self.max_thrust
        u = [f * inv for f in self.forces(thrust, tx, ty, tz)]
        excess = max(u) - 1.0
        if excess > 0.0:
            u = [v - excess for v in u]
        return [0.0 if v < 0.0 else (1.0 if v > 1.0 else v) for v in u]


class RateController:
    """Body-rate PID (the firmware's inner loop): rate setpoint and gyro -> body torques (N m).

    Derivative acts on the gyro, not on the error, so setpoint steps do not kick the motors.
    """

    def __init__(self, gains: RateGains, inertia_kg_m2: Sequence[float], dt: float):
        self.gains = gains
        self.dt = dt
        self.set_inertia(inertia_kg_m2)
        self.reset()

    def set_inertia(self, inertia_kg_m2: Sequence[float]) -> None:
        self.inertia = [float(v) for v in inertia_kg_m2]

    def reset(self) -> None:
        self.integral = [0.0, 0.0, 0.0]
        self.prev_gyro: list[float] | None = None

    def update(self, rate_sp: Sequence[float], gyro: Sequence[float]) -> tuple[float, float, float]:
        g, dt = self.gains, self.dt
        prev = self.prev_gyro if self.prev_gyro is not None else gyro
        out = []
        for i in range(3):
            err = rate_sp[i] - gyro[i]
            lim = g.integral_limit[i]
            acc = self.integral[i] + err * dt
            self.integral[i] = -lim if acc < -lim else (lim if acc > lim else acc)
            deriv = (gyro[i] - prev[i]) / dt
            out.append(self.inertia[i] * (g.kp[i] * err + g.ki[i] * self.integral[i] - g.kd[i] * deriv))
        self.prev_gyro = [gyro[0], gyro[1], gyro[2]]
        return out[0], out[1], out[2]


class AttitudeController:
    """Geometric attitude error on SO(3) (Lee et al. 2010) -> body-rate setpoints (rad/s)."""

    def __init__(self, gains: AttitudeGains):
        self.gains = gains

    def update(self, rot: Sequence[float], rot_des: Sequence[float]) -> tuple[float, float, float]:
        """`rot`, `rot_des`: body-to-world matrices, row-major 9-sequences."""
        # e_R = 0.5 vee(Rd^T R - R^T Rd); with M = Rd^T R, vee(M - M^T) = (M21-M12, M02-M20, M10-M01).
        r, d = rot, rot_des

        def m(i: int, j: int) -> float:  # (Rd^T R)_ij
            return d[i] * r[j] + d[3 + i] * r[3 + j] + d[6 + i] * r[6 + j]

        err = (0.5 * (m(2, 1) - m(1, 2)), 0.5 * (m(0, 2) - m(2, 0)), 0.5 * (m(1, 0) - m(0, 1)))
        out = []
        for i in range(3):
            v = -self.gains.kp[i] * err[i]
            lim = self.gains.max_rate[i]
            out.append(-lim if v < -lim else (lim if v > lim else v))
        return out[0], out[1], out[2]


class PositionController:
    """Position PID -> collective thrust (N) and desired attitude (row-major body-to-world).

    The desired acceleration (feedback + feedforward + gravity) sets the thrust direction,
    limited to `max_tilt_rad` from vertical; the thrust is its projection on the current body z
    axis (Mellinger & Kumar 2011).
    """

    def __init__(self, gains: PositionGains, mass_kg: float, dt: float):
        self.gains = gains
        self.mass = mass_kg
        self.dt = dt
        self.reset()

    def reset(self) -> None:
        self.integral = [0.0, 0.0, 0.0]

    def update(
        self,
        pos_error: Sequence[float],
        vel_error: Sequence[float],
        rot: Sequence[float],
        yaw_des: float = 0.0,
        acc_ff: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> tuple[float, list[float]]:
        """`pos_error` = target - position (m), `vel_error` = target velocity - velocity (m/s)."""
        g = self.gains
        acc = []
        for i in range(3):
            lim = g.integral_limit[i]
            v = self.integral[i] + pos_error[i] * self.dt
            self.integral[i] = -lim if v < -lim else (lim if v > lim else v)
            acc.append(
                g.kp[i] * pos_error[i] + g.kd[i] * vel_error[i] + g.ki[i] * self.integral[i] + acc_ff[i]
            )
        acc[2] += GRAVITY
        acc[2] = max(acc[2], 0.2 * GRAVITY)
        horiz = math.hypot(acc[0], acc[1])
        max_horiz = acc[2] * math.tan(g.max_tilt_rad)
        if horiz > max_horiz:
            acc[0] *= max_horiz / horiz
            acc[1] *= max_horiz / horiz
        norm = math.sqrt(acc[0] ** 2 + acc[1] ** 2 + acc[2] ** 2)
        zb = [a / norm for a in acc]
        thrust = self.mass * (acc[0] * rot[2] + acc[1] * rot[5] + acc[2] * rot[8])
        # x_b from the yaw heading projected orthogonal to z_b; y_b = z_b x x_b
        xc = (math.cos(yaw_des), math.sin(yaw_des), 0.0)
        yb = _unit(_cross(zb, xc))
        xb = _cross(yb, zb)
        rot_des = [xb[0], yb[0], zb[0], xb[1], yb[1], zb[1], xb[2], yb[2], zb[2]]
        return max(thrust, 0.0), rot_des


def _cross(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _unit(a: Sequence[float]) -> list[float]:
    n = math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2)
    return [v / n for v in a]


def rotation_from_quaternion(qx: float, qy: float, qz: float, qw: float) -> tuple[float, ...]:
    """Body-to-world rotation matrix, row-major, from a unit xyzw quaternion."""
    xx, yy, zz = qx * qx, qy * qy, qz * qz
    xy, xz, yz = qx * qy, qx * qz, qy * qz
    wx, wy, wz = qw * qx, qw * qy, qw * qz
    return (
        1.0 - 2.0 * (yy + zz),
        2.0 * (xy - wz),
        2.0 * (xz + wy),
        2.0 * (xy + wz),
        1.0 - 2.0 * (xx + zz),
        2.0 * (yz - wx),
        2.0 * (xz - wy),
        2.0 * (yz + wx),
        1.0 - 2.0 * (xx + yy),
    )
