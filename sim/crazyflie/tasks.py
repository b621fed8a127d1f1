"""Crazyflie tasks: hover at a point, and track a figure-8.

Both start the vehicle in flight (motors at hover speed) and end an episode as a crash when the
body touches the ground faster than `crash_speed_m_s`, tilts beyond the spec's
`safety.max_tilt_rad`, or leaves the spec's safety box. The reward is an alive bonus minus
position, attitude, rate and action penalties, so that staying up always pays more than crashing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from robot_rl.config import param
from robot_rl.errors import ConfigError
from robot_rl.sim.base import Task


@dataclass
class RewardConfig:
    """Per-step reward = alive - pos |e| - att (1 - cos tilt) - rate |w|^2 - action |a - a_hover|^2."""

    alive: float = param(1.0, doc="bonus per step in flight", unit="1")
    pos: float = param(1.0, doc="weight of the position error", unit="1/m", ge=0)
    att: float = param(0.5, doc="weight of 1 - cos(tilt)", unit="1", ge=0)
    rate: float = param(0.01, doc="weight of the squared body rates", unit="s^2/rad^2", ge=0)
    action: float = param(0.05, doc="weight of the squared action change from hover", unit="1", ge=0)
    crash: float = param(10.0, doc="penalty on a crash", unit="1", ge=0)


class _FlightTask(Task):
    """Shared episode logic: crash and box checks, reward, reference for the expert."""

    def __init__(self, config: Any):
        self.config = config

    def build(self, client: Any, robot: Any) -> None:
        self.robot = robot
        spec = robot.spec
        self.dt = spec.policy_dt
        self.max_episode_steps = max(1, round(self.config.episode_s * spec.rates.policy_hz))
        self.box_low, self.box_high = list(spec.safety.box_low), list(spec.safety.box_high)
        self.min_tilt_cos = math.cos(spec.safety.max_tilt_rad) if spec.safety.max_tilt_rad else -1.0
        self.ground_z = robot.model.body_half_extents_m[2] + 0.01
        self.hover_action = [float(a) for a in robot.safe_action()]

    def _start(self, rng: np.random.Generator, position: list[float]) -> None:
        """Place the vehicle near `position` with a small random attitude and velocity."""
        c = self.config
        roll, pitch = rng.uniform(-c.start_tilt_rad, c.start_tilt_rad, size=2)
        yaw = rng.uniform(-c.start_yaw_rad, c.start_yaw_rad)
        vel = rng.uniform(-c.start_speed_m_s, c.start_speed_m_s, size=3)
        quat = _quaternion_from_rpy(float(roll), float(pitch), float(yaw))
        self.robot.place(position, quat, vel.tolist())
        self.steps = 0
        self.sq_error_sum = 0.0

    def reference(self) -> tuple[list[float], list[float], list[float]]:
        """Target position (m), velocity (m/s) and acceleration (m/s^2), world frame, now."""
        raise NotImplementedError

    def _flight_step(self) -> tuple[float, bool, float]:
        """(reward, crashed, position error) after one policy step."""
        robot, c = self.robot, self.config.reward
        self.steps += 1
        target = self.reference()[0]
        robot.target = target
        pos, vel, rot, rates = robot.true_state()
        err = math.sqrt(sum((p - t) ** 2 for p, t in zip(pos, target)))
        self.sq_error_sum += err * err
        speed = math.sqrt(vel[0] ** 2 + vel[1] ** 2 + vel[2] ** 2)
        outside = any(p < lo or p > hi for p, lo, hi in zip(pos, self.box_low, self.box_high))
        crashed = (
            rot[8] < self.min_tilt_cos
            or outside
            or (pos[2] < self.ground_z and speed > self.config.crash_speed_m_s)
        )
        if crashed:
            return -c.crash, True, err
        act = sum((a - h) ** 2 for a, h in zip(robot.last_action, self.hover_action))
        w2 = rates[0] ** 2 + rates[1] ** 2 + rates[2] ** 2
        reward = c.alive - c.pos * err - c.att * (1.0 - rot[8]) - c.rate * w2 - c.action * act
        return reward, False, err

    @property
    def rmse(self) -> float:
        return math.sqrt(self.sq_error_sum / max(self.steps, 1))


@dataclass
class HoverConfig:
    """Hover at a point after a random start near it."""

    target: list[float] = param([0.0, 0.0, 1.0], doc="hover point, world frame", unit="m")
    start_radius_m: float = param(0.5, doc="start position uniform in a ball of this radius", unit="m", ge=0)
    start_tilt_rad: float = param(0.2, doc="start roll and pitch uniform in +-this", unit="rad", ge=0)
    start_yaw_rad: float = param(0.5, doc="start yaw uniform in +-this", unit="rad", ge=0)
    start_speed_m_s: float = param(0.2, doc="start velocity per axis uniform in +-this", unit="m/s", ge=0)
    episode_s: float = param(3.0, doc="episode length", unit="s", gt=0)
    success_radius_m: float = param(0.1, doc="held within this distance of the target counts", unit="m", gt=0)
    hold_s: float = param(1.0, doc="consecutive time within success_radius_m for success", unit="s", gt=0)
    crash_speed_m_s: float = param(1.0, doc="ground contact faster than this is a crash", unit="m/s", gt=0)
    reward: RewardConfig = param(default_factory=RewardConfig, doc="reward weights")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.target) != 3:
            raise ConfigError(source, f"{prefix}.target", "3 values (x, y, z)", self.target)


class HoverTask(_FlightTask):
    """Reach and hold a hover point; success after `hold_s` consecutive seconds within `success_radius_m`."""

    name: ClassVar[str] = "hover"
    Config = HoverConfig

    def __init__(self, config: HoverConfig | None = None):
        super().__init__(config or HoverConfig())

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        c = self.config
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction) + 1e-12
        radius = c.start_radius_m * rng.uniform() ** (1.0 / 3.0)
        start = [t + radius * d for t, d in zip(c.target, direction)]
        start[2] = max(start[2], self.ground_z + 0.1)
        self._start(rng, start)
        self.robot.target = list(c.target)
        self.inside_steps = 0
        self.hold_steps = max(1, round(c.hold_s / self.dt))
        self.succeeded = False
        return {"target": list(c.target)}

    def reference(self) -> tuple[list[float], list[float], list[float]]:
        return list(self.config.target), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]

    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        reward, crashed, err = self._flight_step()
        self.inside_steps = self.inside_steps + 1 if err < self.config.success_radius_m else 0
        self.succeeded = (self.succeeded or self.inside_steps >= self.hold_steps) and not crashed
        info: dict[str, Any] = {"pos_error": err, "crashed": crashed}
        if crashed or self.steps >= self.max_episode_steps:
            info["hover_rmse"] = self.rmse
        return reward, self.succeeded, crashed, info


@dataclass
class WaypointsConfig:
    """Track a figure-8 x = a sin(w t), y = b sin(2 w t) around `center` (a lemniscate of Gerono)."""

    center: list[float] = param([0.0, 0.0, 1.0], doc="centre of the figure-8, world frame", unit="m")
    size_m: list[float] = param([0.6, 0.3], doc="half extents a (x) and b (y) of the figure-8", unit="m")
    period_s: float = param(6.0, doc="time for one figure-8", unit="s", gt=0)
    laps: float = param(1.0, doc="figure-8s per episode", unit="1", gt=0)
    ramp_s: float = param(1.0, doc="the target speeds up from rest over this time", unit="s", ge=0)
    start_radius_m: float = param(0.05, doc="start position offset from the trajectory start", unit="m", ge=0)
    start_tilt_rad: float = param(0.1, doc="start roll and pitch uniform in +-this", unit="rad", ge=0)
    start_yaw_rad: float = param(0.3, doc="start yaw uniform in +-this", unit="rad", ge=0)
    start_speed_m_s: float = param(0.1, doc="start velocity per axis uniform in +-this", unit="m/s", ge=0)
    success_rmse_m: float = param(
        0.1, doc="tracking RMSE over the episode below this is success", unit="m", gt=0
    )
    crash_speed_m_s: float = param(1.0, doc="ground contact faster than this is a crash", unit="m/s", gt=0)
    reward: RewardConfig = param(default_factory=RewardConfig, doc="reward weights")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.center) != 3:
            raise ConfigError(source, f"{prefix}.center", "3 values (x, y, z)", self.center)
        if len(self.size_m) != 2:
            raise ConfigError(source, f"{prefix}.size_m", "2 values (a, b)", self.size_m)

    @property
    def episode_s(self) -> float:
        return self.laps * self.period_s + 0.5 * self.ramp_s


class WaypointsTask(_FlightTask):
    """The target moves along a figure-8; success if the episode's tracking RMSE is below the threshold."""

    name: ClassVar[str] = "waypoints"
    Config = WaypointsConfig

    def __init__(self, config: WaypointsConfig | None = None):
        super().__init__(config or WaypointsConfig())

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        c = self.config
        offset = rng.uniform(-1.0, 1.0, size=3) * c.start_radius_m
        start = [p + o for p, o in zip(c.center, offset)]
        self._start(rng, start)
        self.robot.target = self.reference()[0]
        return {"target": self.robot.target}

    def reference(self) -> tuple[list[float], list[float], list[float]]:
        c = self.config
        w = 2.0 * math.pi / c.period_s
        t = self.steps * self.dt
        # Phase phi(t) with a linear speed ramp, so the reference starts at rest: phi' = w min(t / ramp, 1).
        if t < c.ramp_s:
            phi, dphi, ddphi = 0.5 * w * t * t / c.ramp_s, w * t / c.ramp_s, w / c.ramp_s
        else:
            phi, dphi, ddphi = w * (t - 0.5 * c.ramp_s), w, 0.0
        (a, b), (cx, cy, cz) = c.size_m, c.center
        s1, c1, s2, c2 = math.sin(phi), math.cos(phi), math.sin(2 * phi), math.cos(2 * phi)
        pos = [cx + a * s1, cy + b * s2, cz]
        vel = [a * c1 * dphi, 2 * b * c2 * dphi, 0.0]
        acc = [a * (c1 * ddphi - s1 * dphi**2), 2 * b * (c2 * ddphi - 2 * s2 * dphi**2), 0.0]
        return pos, vel, acc

    def observe(self) -> np.ndarray:
        return np.asarray(self.reference()[1], dtype=np.float32)

    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        reward, crashed, err = self._flight_step()
        info: dict[str, Any] = {"pos_error": err, "crashed": crashed}
        success = False
        if crashed or self.steps >= self.max_episode_steps:
            info["tracking_rmse"] = self.rmse
            success = not crashed and self.rmse < self.config.success_rmse_m
        return reward, success, crashed, info


def _quaternion_from_rpy(roll: float, pitch: float, yaw: float) -> list[float]:
    """xyzw quaternion of R = Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return [
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    ]


TASKS: dict[str, type[Task]] = {"hover": HoverTask, "waypoints": WaypointsTask}
