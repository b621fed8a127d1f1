"""Shields: per-robot filters that bound an action given the robot's state, and its fallback.

Chosen from the spec's field names by `make_shield` (an arm with Cartesian deltas, a quadrotor
with attitude and body rates, a car with throttle), so a new robot with the same kind of
interface gets the same protection. Used by `controllers.safety_layer.SafetyLayer`; see
docs/safety.md for what each guarantees and how it was measured.
"""

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
from robot_rl.controllers.safety import SafetyBox
from robot_rl.spec import Field, RobotSpec


# -- shields ---------------------------------------------------------------------------------
def _slices(fields: list[Field]) -> dict[str, slice]:
    out, start = {}, 0
    for f in fields:
        out[f.name] = slice(start, start + f.size)
        start += f.size
    return out


class Shield:
    """Bounds one action given the latest state; `fallback()` is the watchdog/stop action."""

    fallback_mode = "hold"

    def __init__(self, spec: RobotSpec, action_fields: list[Field], obs_fields: list[Field]):
        self.spec = spec
        self.action_slices = _slices(action_fields)
        self.obs_slices = _slices(obs_fields)
        self.action_size = sum(f.size for f in action_fields)

    def reset(self) -> None:
        """New episode."""

    def filter(
        self, action: np.ndarray, state: np.ndarray, commanded: np.ndarray | None = None
    ) -> np.ndarray:
        """The action to send (may be the input)."""
        return action

    def fallback(self, state: np.ndarray | None) -> np.ndarray:
        return np.zeros(self.action_size, dtype=np.float32)

    def repeat(self, last: np.ndarray) -> np.ndarray:
        """What "the last command still stands" means between commands (absolute commands: itself)."""
        return last

    @property
    def overriding(self) -> bool:
        """True while the shield has taken over from the policy (a recovery manoeuvre)."""
        return False


class ArmShield(Shield):
    """Cartesian-delta arms: the commanded target stays inside the box shrunk by `margin_m`.

    The reference moves by the policy's delta from the commanded target (or from the measured
    TCP when the caller does not know the target); the shrunk box leaves room for the tracking
    overshoot of the impedance law, so the TCP itself stays inside the spec's box. Above
    `safety.max_speed` the reference holds.
    """

    fallback_mode = "hold"

    def __init__(self, spec, action_fields, obs_fields, margin_m: float = 0.02):
        super().__init__(spec, action_fields, obs_fields)
        low, high = np.asarray(spec.safety.box_low), np.asarray(spec.safety.box_high)
        self.inner = SafetyBox(low + margin_m, high - margin_m)
        field = {f.name: f for f in action_fields}["ee_delta_pos"]
        self.delta_high = np.asarray(field.high, dtype=np.float64)
        self.delta_low = np.asarray(field.low, dtype=np.float64)
        self.pos = self.action_slices["ee_delta_pos"]
        self.max_speed = spec.safety.max_speed
        self.hold = self.clipped = False

    def filter(self, action, state, commanded=None):
        out = np.array(action, dtype=np.float32, copy=True)
        ee = np.asarray(state[self.obs_slices["ee_pos"]], dtype=np.float64)
        ref = ee if commanded is None else np.asarray(commanded, dtype=np.float64)
        a = out[self.pos].astype(np.float64)
        delta = self.delta_low + 0.5 * (a + 1.0) * (self.delta_high - self.delta_low)
        speed = (
            float(np.linalg.norm(state[self.obs_slices["ee_linvel"]]))
            if "ee_linvel" in self.obs_slices
            else 0.0
        )
        self.hold = self.max_speed is not None and speed > self.max_speed
        # The new target, clipped into the inner box; a target already outside is pulled in.
        target = ref if self.hold else ref + delta
        target = self.inner.clip(target)
        clipped = np.clip(target - ref, self.delta_low, self.delta_high)
        self.clipped = bool(np.any(np.abs(clipped - delta) > 1e-9))
        delta = clipped
        out[self.pos] = 2.0 * (delta - self.delta_low) / (self.delta_high - self.delta_low) - 1.0
        return out

    def repeat(self, last: np.ndarray) -> np.ndarray:
        # The command is a shift of the target: standing by it means no further shift.
        out = np.array(last, dtype=np.float32, copy=True)
        out[self.pos] = 0.0
        return out

    @property
    def overriding(self) -> bool:
        return self.hold or self.clipped


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


class QuadShield(Shield):
    """Quadrotors: a level-and-brake recovery flight takes over before the tilt or speed limit.

    Each command is judged before it is sent: the predicted tilt is the present tilt, plus the
    roll/pitch rate over `horizon_s`, plus the angular acceleration the rotors will make after
    this command (from a model of the rotor speeds, which lag the commands by ~70-160 ms).
    The recovery is the cascade of `controllers.quadrotor` (velocity damping with a level
    attitude, attitude loop, rate loop, mixer) in the action mode's units, overdriving against
    the rotor lag; it hands back only when level, slow and the policy's command passes the test.
    """

    fallback_mode = "land"

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
        self.reset()

    def reset(self) -> None:
        self.active = False
        self.rate.reset()
        self.rotor = [math.sqrt(self.mass * GRAVITY / (4.0 * self.max_thrust))] * 4
        self._prev_rates: list[float] | None = None
        self.angular_accel = 0.0

    def _rotor_after(self, sent: np.ndarray) -> list[float]:
        """The rotor-speed model one policy step after sending `sent`."""
        u = self._offset + self._scale * np.asarray(sent, dtype=np.float64)
        out = list(self.rotor)
        for i in range(4):
            d = math.sqrt(max(float(u[i]), 0.0)) - out[i]
            out[i] += d * (self._alpha[0] if d > 0.0 else self._alpha[1])
        return out

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

    def recovery(self, state: np.ndarray, vz_target: float = 0.0) -> np.ndarray:
        """Level the vehicle and damp its velocity (m/s target `vz_target` upward)."""
        rot, rates, vel = self._read(state)
        g = self.gains
        acc = [-g.kd[0] * vel[0], -g.kd[1] * vel[1], g.kd[2] * (vz_target - vel[2]) + GRAVITY]
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
        return np.clip((np.asarray(physical) - self._offset) / self._scale, -1.0, 1.0).astype(np.float32)

    def filter(self, action, state, commanded=None):
        out = self._filter(action, state)
        self._track(out)
        return out

    def _filter(self, action, state):
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
        if not self.active and danger:
            self.active = True
            self.rate.reset()
        elif (
            self.active
            and not danger
            and self.tilt(rot) < c.release_tilt_rad
            and math.hypot(rates[0], rates[1]) < c.release_rate
        ):
            self.active = False
        if self.active:
            return self.recovery(state)
        self.rate.reset()
        return np.asarray(action, dtype=np.float32)

    def fallback(self, state):
        """Land: level attitude, descend at `descend_speed` (motors idle once down is for the robot)."""
        if state is None:
            return np.zeros(self.action_size, dtype=np.float32)
        out = self.recovery(state, vz_target=-self.descend_speed)
        self._track(out)
        return out

    @property
    def overriding(self) -> bool:
        return self.active


class CarShield(Shield):
    """Cars: throttle cut (speed target 0: the ESC brakes) above `safety.max_speed`; fallback brakes."""

    fallback_mode = "brake"

    def __init__(self, spec, action_fields, obs_fields):
        super().__init__(spec, action_fields, obs_fields)
        self.throttle = self.action_slices["throttle"].start
        self.steering = self.action_slices["steering"].start
        self.max_speed = spec.safety.max_speed
        self.cut = False

    def filter(self, action, state, commanded=None):
        out = np.array(action, dtype=np.float32, copy=True)
        speed = float(state[self.obs_slices["speed"]][0])
        self.cut = self.max_speed is not None and abs(speed) > self.max_speed
        if self.cut and out[self.throttle] * speed > 0.0:
            out[self.throttle] = 0.0
        return out

    def fallback(self, state):
        out = np.zeros(self.action_size, dtype=np.float32)
        if state is not None and "last_action" in self.obs_slices:
            out[self.steering] = state[self.obs_slices["last_action"]][0]  # steering held
        return out

    @property
    def overriding(self) -> bool:
        return self.cut


def make_shield(spec: RobotSpec, action_fields: list[Field], obs_fields: list[Field]) -> Shield:
    """The shield for a robot, chosen from what its spec's layouts contain."""
    actions = {f.name for f in action_fields}
    obs = {f.name for f in obs_fields}
    if "ee_delta_pos" in actions and "ee_pos" in obs:
        return ArmShield(spec, action_fields, obs_fields)
    if {"rot_matrix", "body_rates", "lin_vel"} <= obs and "mass_kg" in spec.model:
        return QuadShield(spec, action_fields, obs_fields)
    if "throttle" in actions and "speed" in obs:
        return CarShield(spec, action_fields, obs_fields)
    return Shield(spec, action_fields, obs_fields)


def _cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _unit(a):
    n = math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2) or 1.0
    return [v / n for v in a]
