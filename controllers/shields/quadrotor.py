"""Quadrotor shield: a level-and-brake recovery flight that takes over before the tilt, speed or box limit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.config import from_dict, param
from robot_rl.controllers.quadrotor import (
    GRAVITY,
    AttitudeController,
    Mixer,
    PositionGains,
    QuadrotorControllerConfig,
    RateController,
)
from robot_rl.controllers.shields.base import Shield


@dataclass
class QuadShieldConfig:
    """When the quadrotor shield takes over and when it hands back."""

    soft_tilt_fraction: float = param(
        0.45,
        doc="take over when the predicted tilt passes this fraction of max_tilt_rad",
        unit="1",
        gt=0,
        lt=1,
    )
    horizon_s: float = param(
        0.15, doc="tilt prediction horizon: motor lag plus rate-loop reaction time", unit="s", gt=0
    )
    release_tilt_rad: float = param(0.15, doc="hand back below this tilt ...", unit="rad", gt=0)
    release_rate: float = param(1.0, doc="... and below this body rate", unit="rad/s", gt=0)
    soft_speed_fraction: float = param(0.8, doc="take over above this fraction of max_speed", unit="1", gt=0)
    box_margin_m: float = param(
        0.1,
        doc="position box (when the position is known): the predicted stopping point stays this far inside",
        unit="m",
        ge=0,
    )
    brake_fraction: float = param(
        0.5,
        doc="share of the recovery's braking acceleration the stopping distance counts on",
        unit="1",
        gt=0,
        le=1,
    )
    touchdown_speed: float = param(
        0.6, doc="reaching the box floor slower than this is a landing, not a wall", unit="m/s", ge=0
    )
    box_return_speed: float = param(0.5, doc="recovery: largest speed back inside the box", unit="m/s", gt=0)
    climb_integral_gain: float = param(
        4.0, doc="recovery: gain on the integral of the vertical speed error", unit="1/s^2", ge=0
    )
    blind_land_fraction: float = param(
        0.85,
        doc="land with no state to fly on (none measured yet, or lost): every motor, or the collective "
        "thrust, at this fraction of hover and zero body rates, so the vehicle sinks",
        unit="1",
        gt=0,
        lt=1,
    )
    climb_integral_limit: float = param(
        1.0, doc="recovery: bound of that integral (x gain: the largest thrust trim)", unit="m", ge=0
    )


class QuadShield(Shield):
    """Quadrotors: a level-and-brake recovery flight takes over before the tilt or speed limit,
    and before the safety box's walls when the position is known.

    Each command is judged before it is sent: the predicted tilt is the present tilt, plus the
    roll/pitch rate over `horizon_s`, plus the angular acceleration the rotors will make after
    this command (from a model of the rotor speeds, which lag the commands by ~70-160 ms).
    With a position (odometry), the position and velocity after `horizon_s` under the
    acceleration this command makes, plus the distance the recovery needs to stop from there,
    must stay `box_margin_m` inside the safety box (the floor only binds faster than
    `touchdown_speed`, so landing stays possible).
    The recovery is the cascade of `controllers.quadrotor` (velocity damping with a level
    attitude, and a pull back inside the box, attitude loop, rate loop, mixer) in the action
    mode's units, overdriving against the rotor lag; it hands back only when level, slow and
    the policy's command passes the tests.
    """

    fallback_mode = "land"
    uses_position = True

    def __init__(self, spec, action_fields, obs_fields, config: QuadShieldConfig | None = None):
        super().__init__(spec, action_fields, obs_fields)
        self.config = config or QuadShieldConfig()
        m = spec.model
        ctrl = from_dict(QuadrotorControllerConfig, spec.controller, source=spec.source, prefix="controller")
        dt = spec.policy_dt
        self.mass = float(m["mass_kg"])
        self.max_thrust = float(m["max_thrust_n"])
        self.mixer = Mixer(float(m["arm_length_m"]), float(m["thrust_to_torque_m"]), self.max_thrust)
        self.attitude = AttitudeController(ctrl.attitude)
        self.rate = RateController(ctrl.rate, m["inertia_kg_m2"], dt)
        self.inertia = [float(v) for v in m["inertia_kg_m2"]]
        self.max_tilt = spec.safety.max_tilt_rad or math.pi / 2
        self.max_speed = spec.safety.max_speed
        self.gains: PositionGains = ctrl.position
        self.rates_mode = "body_rates" in self.action_slices
        lo = [v for f in action_fields for v in (f.low or [-1.0] * f.size)]
        hi = [v for f in action_fields for v in (f.high or [1.0] * f.size)]
        self._offset = np.array([0.5 * (h + lo_) for lo_, h in zip(lo, hi)])
        self._scale = np.array([0.5 * (h - lo_) for lo_, h in zip(lo, hi)])
        self.active = False
        self.descend_speed = 0.3  # m/s when landing
        # The rotor speeds lag the commands (~70 ms): the shield keeps a model of them from
        # the commands it sent, as the firmware can, and overdrives against the lag.
        dt_tau = dt / float(m["motor_tau_up_s"]), dt / float(m["motor_tau_down_s"])
        self._alpha = (1.0 - math.exp(-dt_tau[0]), 1.0 - math.exp(-dt_tau[1]))
        self.motor_lead = 1.0
        self.box_low = np.asarray(spec.safety.box_low, dtype=np.float64)
        self.box_high = np.asarray(spec.safety.box_high, dtype=np.float64)
        # Braking the recovery can count on: level within its tilt bound sideways, at least 0.3 g
        # of thrust going up (so 0.7 g down), full thrust less gravity coming down; that last
        # margin halves with the randomized mass (+15%) and thrust (-10%), hence its extra 0.5.
        tilt = min(self.gains.max_tilt_rad, 0.3 * self.max_tilt)
        f = self.config.brake_fraction
        self.brake_side = f * GRAVITY * math.tan(tilt)
        self.brake_up = f * 0.7 * GRAVITY
        self.brake_down = 0.5 * f * max(4.0 * self.max_thrust / self.mass - GRAVITY, 0.1 * GRAVITY)
        self.reset()

    def reset(self) -> None:
        self.active = False
        self.rate.reset()
        self.rotor = [math.sqrt(self.mass * GRAVITY / (4.0 * self.max_thrust))] * 4
        self._prev_rates: list[float] | None = None
        self.angular_accel = 0.0
        self.climb_integral = 0.0
        self.box_danger = False

    def _rotor_after(self, sent: np.ndarray) -> list[float]:
        """The rotor-speed model one policy step after sending `sent`."""
        u = self._offset + self._scale * np.asarray(sent, dtype=np.float64)
        out = list(self.rotor)
        for i in range(4):
            d = math.sqrt(max(float(u[i]), 0.0)) - out[i]
            out[i] += d * (self._alpha[0] if d > 0.0 else self._alpha[1])
        return out

    def _normalized(self, physical: list[float]) -> np.ndarray:
        """Physical command values (the action mode's units) as the action in [-1, 1]."""
        return np.clip((np.asarray(physical) - self._offset) / self._scale, -1.0, 1.0).astype(np.float32)

    def _track(self, sent: np.ndarray) -> None:
        """Advance the rotor-speed model by one policy step of the command actually sent."""
        if not self.rates_mode:
            self.rotor = self._rotor_after(sent)

    def tilt_accel(self, action: np.ndarray) -> float:
        """Roll/pitch angular acceleration (rad/s^2) the rotors will make after `action` (force mode).

        The rotors keep turning for the motor lag whatever comes next, so a command that builds
        a large torque is judged before it is sent, not after the gyro sees its effect.
        """
        if self.rates_mode:
            return max(self.angular_accel, 0.0)
        speeds = self._rotor_after(action)
        forces = [self.max_thrust * w * w for w in speeds]
        _, tx, ty, _ = self.mixer.wrench(forces)
        return math.hypot(tx / self.inertia[0], ty / self.inertia[1])

    def command_accel(self, action: np.ndarray, rot) -> list[float]:
        """World-frame acceleration (m/s^2) the rotors will make after `action`, gravity included."""
        if self.rates_mode:
            u = self._offset + self._scale * np.asarray(action, dtype=np.float64)
            thrust = max(float(u[0]), 0.0) * 4.0 * self.max_thrust
        else:
            thrust = sum(self.max_thrust * w * w for w in self._rotor_after(action))
        a = thrust / self.mass
        return [a * rot[2], a * rot[5], a * rot[8] - GRAVITY]

    def leaves_box(self, position, vel, accel) -> bool:
        """True if, after `horizon_s` under `accel`, the recovery could not stop inside the box."""
        t, margin = self.config.horizon_s, self.config.box_margin_m
        for i in range(3):
            p = position[i] + vel[i] * t + 0.5 * accel[i] * t * t
            v = vel[i] + accel[i] * t
            brake_high = self.brake_up if i == 2 else self.brake_side
            if p + (v * v / (2.0 * brake_high) if v > 0.0 else 0.0) > self.box_high[i] - margin:
                return True
            if i == 2:  # the floor is the ground: touching it slowly is a landing
                stop = max(v * v - self.config.touchdown_speed**2, 0.0) / (2.0 * self.brake_down)
                if v < 0.0 and p - stop < self.box_low[2]:
                    return True
            elif p - (v * v / (2.0 * self.brake_side) if v < 0.0 else 0.0) < self.box_low[i] + margin:
                return True
        return False

    def _read(self, state: np.ndarray):
        rot = [float(v) for v in state[self.obs_slices["rot_matrix"]]]
        rates = [float(v) for v in state[self.obs_slices["body_rates"]]]
        vel = [float(v) for v in state[self.obs_slices["lin_vel"]]]
        return rot, rates, vel

    def tilt(self, rot) -> float:
        return math.acos(max(-1.0, min(1.0, rot[8])))

    def predicted_tilt(self, rot, rates, accel: float | None = None) -> float:
        # roll/pitch rates tilt body z; yaw rate does not. The torque persists for the motor
        # lag, so the angular acceleration counts too (conservatively, whatever its direction).
        t = self.config.horizon_s
        accel = max(self.angular_accel, 0.0) if accel is None else accel
        return self.tilt(rot) + math.hypot(rates[0], rates[1]) * t + 0.5 * accel * t * t

    def recovery(self, state: np.ndarray, vz_target: float = 0.0, position=None) -> np.ndarray:
        """Level the vehicle and damp its velocity (m/s target `vz_target` upward); with a
        `position`, also pull it back to two box margins inside the walls (not off the floor)."""
        rot, rates, vel = self._read(state)
        g, c = self.gains, self.config
        target = [0.0, 0.0, vz_target]  # velocity, m/s
        if position is not None:
            m = 2.0 * c.box_margin_m
            for i in range(3):
                low = -math.inf if i == 2 else self.box_low[i] + m
                inside = min(max(float(position[i]), low), self.box_high[i] - m)
                pull = g.kp[i] / g.kd[i] * (inside - float(position[i]))
                target[i] += max(-c.box_return_speed, min(c.box_return_speed, pull))
        err = [t - v for t, v in zip(target, vel)]
        # The integral holds height against the thrust model's error (randomized mass and thrust:
        # +-25%), which velocity damping alone turns into a steady climb or sink of up to 0.6 m/s.
        lim = c.climb_integral_limit
        self.climb_integral = max(-lim, min(lim, self.climb_integral + err[2] * self.spec.policy_dt))
        acc = [g.kd[0] * err[0], g.kd[1] * err[1], g.kd[2] * err[2] + GRAVITY]
        acc[2] += c.climb_integral_gain * self.climb_integral
        acc[2] = max(acc[2], 0.3 * GRAVITY)
        # tilt of the desired thrust direction bounded like the position loop's
        horiz = math.hypot(acc[0], acc[1])
        lim = acc[2] * math.tan(min(g.max_tilt_rad, 0.3 * self.max_tilt))
        if horiz > lim:
            acc[0] *= lim / horiz
            acc[1] *= lim / horiz
        n = math.sqrt(acc[0] ** 2 + acc[1] ** 2 + acc[2] ** 2)
        zb = [a / n for a in acc]
        # keep the present heading: desired x_b from the body x axis projected orthogonal to z_b
        xc = [rot[0], rot[3], 0.0]
        yb = _unit(_cross(zb, xc))
        xb = _cross(yb, zb)
        rot_des = [xb[0], yb[0], zb[0], xb[1], yb[1], zb[1], xb[2], yb[2], zb[2]]
        thrust = max(self.mass * (acc[0] * rot[2] + acc[1] * rot[5] + acc[2] * rot[8]), 0.0)
        rate_sp = self.attitude.update(rot, rot_des)
        if self.rates_mode:
            physical = [thrust / (4.0 * self.max_thrust), *rate_sp]
        else:
            torque = self.rate.update(rate_sp, rates)
            physical = self.mixer.normalized(thrust, *torque)
            k = self.motor_lead
            lead = [min(1.0, max(0.0, (1 + k) * math.sqrt(v) - k * w)) for v, w in zip(physical, self.rotor)]
            physical = [v * v for v in lead]
        return self._normalized(physical)

    def filter(self, action, state, commanded=None, contact_force=None, position=None):
        out = self._filter(action, state, position)
        self._track(out)
        return out

    def _filter(self, action, state, position=None):
        rot, rates, vel = self._read(state)
        if self._prev_rates is not None:
            # growth of the roll/pitch rate magnitude per second
            prev = math.hypot(self._prev_rates[0], self._prev_rates[1])
            self.angular_accel = (math.hypot(rates[0], rates[1]) - prev) / self.spec.policy_dt
        self._prev_rates = rates
        speed = math.sqrt(sum(v * v for v in vel))
        c = self.config
        too_fast = self.max_speed is not None and speed > c.soft_speed_fraction * self.max_speed
        accel = self.tilt_accel(np.asarray(action, dtype=np.float64))
        # The proposed action is judged every step, also when handing back: a policy that
        # would tilt the vehicle again right away does not get it back.
        danger = self.predicted_tilt(rot, rates, accel) > c.soft_tilt_fraction * self.max_tilt or too_fast
        if position is not None and np.all(np.isfinite(position)):
            action_accel = self.command_accel(np.asarray(action, dtype=np.float64), rot)
            self.box_danger = self.leaves_box([float(v) for v in position], vel, action_accel)
            danger = danger or self.box_danger
        else:
            position = None
        if not self.active and danger:
            self.active = True
            self.rate.reset()
            self.climb_integral = 0.0
        elif (
            self.active
            and not danger
            and self.tilt(rot) < c.release_tilt_rad
            and math.hypot(rates[0], rates[1]) < c.release_rate
        ):
            self.active = False
        if self.active:
            return self.recovery(state, position=position)
        self.rate.reset()
        return np.asarray(action, dtype=np.float32)

    def fallback(self, state):
        """Land: level attitude, descend at `descend_speed` (motors idle once down is for the robot).
        With no state to fly on, sink open loop at `blind_land_fraction` of hover."""
        if state is None:
            hover = self.mass * GRAVITY / (4.0 * self.max_thrust)
            thrust = self.config.blind_land_fraction * hover
            physical = [thrust, 0.0, 0.0, 0.0] if self.rates_mode else [thrust] * 4
            return self._normalized(physical)
        out = self.recovery(state, vz_target=-self.descend_speed)
        self._track(out)
        return out

    @property
    def overriding(self) -> bool:
        return self.active


def _cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _unit(a):
    n = math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2) or 1.0
    return [v / n for v in a]
