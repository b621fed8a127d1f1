"""Ackermann steering and throttle mapping for an RC car: the law the real car and the twin run.

The policy acts with a normalized `[steering, throttle]` in [-1, 1] at the policy rate. This law

1. keeps every action within +/- `action_rate_limit` of the previous one. FastRLAP (Stachowicz
   et al., "FastRLAP: A System for Learning High-Speed Driving via Deep RL and Autonomous
   Practicing", CoRL 2023) limits each step's change to 0.2 so the real car never sees a jump;
   it lives here, not in the policy, so the real car gets it too;
2. maps steering to the bicycle-model steering angle (+1 -> +max_steer_rad, turning left) and
   splits it into left/right front-wheel angles by Ackermann geometry: both front wheels point
   at the one turning centre on the rear-axle line, so the inner wheel steers more;
3. maps throttle to a speed target, piecewise linear (+1 -> max_speed, -1 -> -max_reverse_speed,
   0 -> stop), and to the wheel angular speeds a perfect differential gives on that arc, with a
   per-wheel torque limit; the ESC's speed loop (the twin's velocity motors) tracks them.

Conventions: body x forward, y left, z up; positive steering turns left. Wheel order is
rear-left, rear-right, front-left, front-right. Per-call work is on a handful of floats, so
it uses `math`: at these sizes numpy's per-call overhead costs more than the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl.config import from_dict, param
from robot_rl.errors import ConfigError

#: order of `WheelCommand.wheel_speeds`
WHEELS = ("rear_left", "rear_right", "front_left", "front_right")


@dataclass
class AckermannGeometry:
    """The car's geometry (spec `model.geometry`)."""

    wheelbase_m: float = param(doc="front to rear axle distance", unit="m", gt=0)
    track_m: float = param(doc="left to right wheel centre distance (same front and rear)", unit="m", gt=0)
    wheel_radius_m: float = param(doc="tyre rolling radius", unit="m", gt=0)


@dataclass
class AckermannConfig:
    """Steering and throttle mapping (spec `controller`)."""

    max_steer_rad: float = param(
        doc="bicycle-model steering angle at steering +1 (servo end stop)", unit="rad", gt=0, lt=1.2
    )
    max_speed: float = param(doc="speed target at throttle +1", unit="m/s", gt=0)
    max_wheel_torque_nm: float = param(
        doc="torque limit of each wheel's speed loop (ESC current limit)", unit="N m", gt=0
    )
    max_reverse_speed: float = param(
        0.0, doc="speed target magnitude at throttle -1 (0: no reverse)", unit="m/s", ge=0
    )
    action_rate_limit: float = param(
        0.2,
        doc="largest change of each normalized action per policy step (FastRLAP: 0.2)",
        unit="1",
        gt=0,
        le=2.0,
    )


@dataclass
class WheelCommand:
    """One control update's actuator targets."""

    steer_rad: float  # bicycle-model steering angle, left positive
    steer_left_rad: float
    steer_right_rad: float
    speed: float  # m/s, rear-axle centre
    wheel_speeds: tuple[float, float, float, float]  # rad/s, order WHEELS, positive rolls forward
    max_wheel_torque_nm: float


def limit_rate(action: np.ndarray, previous: np.ndarray, limit: float) -> np.ndarray:
    """`action` clipped to [-1, 1] and to within +/- `limit` of `previous`, elementwise."""
    action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    return np.clip(action, previous - limit, previous + limit)


def steering_angle(steering: float, max_steer_rad: float) -> float:
    """Normalized steering in [-1, 1] -> bicycle-model steering angle (rad, left positive)."""
    return max(-1.0, min(1.0, steering)) * max_steer_rad


def ackermann_angles(steer_rad: float, geometry: AckermannGeometry) -> tuple[float, float]:
    """(left, right) front-wheel angles (rad) for a bicycle-model angle: tan(delta_i) = L / (R -+ T/2).

    Written with tan(delta) so that straight ahead (R infinite) needs no special case.
    """
    t = math.tan(steer_rad)
    half_track = 0.5 * geometry.track_m
    wheelbase = geometry.wheelbase_m
    left = math.atan2(wheelbase * t, wheelbase - half_track * t)
    right = math.atan2(wheelbase * t, wheelbase + half_track * t)
    return left, right


def throttle_to_speed(throttle: float, max_speed: float, max_reverse_speed: float = 0.0) -> float:
    """Normalized throttle in [-1, 1] -> speed target (m/s): monotonic, 0 at 0."""
    throttle = max(-1.0, min(1.0, throttle))
    return throttle * (max_speed if throttle >= 0.0 else max_reverse_speed)


def speed_to_throttle(speed: float, max_speed: float, max_reverse_speed: float = 0.0) -> float:
    """The inverse of `throttle_to_speed` (a speed target m/s -> normalized throttle), clipped to [-1, 1]."""
    scale = max_speed if speed >= 0.0 else max(max_reverse_speed, 1e-9)
    return max(-1.0, min(1.0, speed / scale))


def wheel_speeds(
    speed: float, steer_rad: float, geometry: AckermannGeometry
) -> tuple[float, float, float, float]:
    """Wheel angular speeds (rad/s, order WHEELS) that roll without slip on the arc of `steer_rad`.

    Each wheel's ground speed is proportional to its distance from the turning centre; with
    curvature k = tan(delta) / L of the rear-axle centre path: rear wheels (1 -+ k T/2) v,
    front wheels sqrt((1 -+ k T/2)^2 + (k L)^2) v.
    """
    k = math.tan(steer_rad) / geometry.wheelbase_m
    half = k * 0.5 * geometry.track_m
    front = (k * geometry.wheelbase_m) ** 2
    scale = speed / geometry.wheel_radius_m
    return (
        scale * (1.0 - half),
        scale * (1.0 + half),
        scale * math.sqrt((1.0 - half) ** 2 + front),
        scale * math.sqrt((1.0 + half) ** 2 + front),
    )


class AckermannController:
    """Rate-limited steering/throttle -> wheel angles, wheel speed targets and torque limit."""

    def __init__(self, geometry: AckermannGeometry, config: AckermannConfig, source: str = ""):
        self.geometry = geometry
        self.config = config
        if math.tan(config.max_steer_rad) * 0.5 * geometry.track_m >= geometry.wheelbase_m:
            limit = math.atan(2.0 * geometry.wheelbase_m / geometry.track_m)
            raise ConfigError(
                source,
                "controller.max_steer_rad",
                f"below {limit:.3f} rad for this geometry",
                config.max_steer_rad,
            )
        self.action = np.zeros(2)
        self._command: WheelCommand | None = None

    @classmethod
    def from_spec(cls, spec: Any) -> AckermannController:
        """Build from a RobotSpec: geometry from `model.geometry`, mapping from `controller`."""
        if "geometry" not in spec.model:
            raise ConfigError(
                spec.source,
                "model.geometry",
                "the car geometry (wheelbase_m, track_m, wheel_radius_m)",
                "none",
            )
        geometry = from_dict(
            AckermannGeometry, spec.model["geometry"], source=spec.source, prefix="model.geometry"
        )
        config = from_dict(AckermannConfig, spec.controller, source=spec.source, prefix="controller")
        return cls(geometry, config, spec.source)

    def reset(self, action: np.ndarray | None = None) -> None:
        """Start of an episode: the car stands still, steering centred (or at `action`)."""
        self.action = (
            np.zeros(2) if action is None else np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        )
        self._command = None

    def set_action(self, action: np.ndarray) -> np.ndarray:
        """Take a policy action; returns the action actually applied (clipped and rate-limited)."""
        self.action = limit_rate(action, self.action, self.config.action_rate_limit)
        self._command = None
        return self.action

    def command(self) -> WheelCommand:
        """The actuator targets for the current action (one control update)."""
        if self._command is None:
            cfg = self.config
            steer = steering_angle(float(self.action[0]), cfg.max_steer_rad)
            left, right = ackermann_angles(steer, self.geometry)
            speed = throttle_to_speed(float(self.action[1]), cfg.max_speed, cfg.max_reverse_speed)
            self._command = WheelCommand(
                steer, left, right, speed, wheel_speeds(speed, steer, self.geometry), cfg.max_wheel_torque_nm
            )
        return self._command
