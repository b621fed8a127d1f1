"""The Crazyflie 2.x twin: rigid body in PyBullet, per-motor thrust with first-order motor lag,
rotor drag, ground effect, action and sensor delays.

Action modes (robot option `action_mode`):
- `force` (default): the firmware's controlModeForce, one normalized force per motor in [0, 1]
  (env action [-1, 1] maps affinely), motor order M1 front-right, M2 back-right, M3 back-left,
  M4 front-left; M1 and M3 spin counter-clockwise seen from above.
- `rates`: collective thrust (fraction of max) and body-rate setpoints (rad/s) through the
  firmware-side `RateController` and `Mixer` of `robot_rl.controllers.quadrotor` at control_hz;
  the action layout (`action_fields`) is then the spec's `action_modes.rates`.

Observation (spec `observation`): pos_error (3, m, world), rot_matrix (9, body-to-world,
row-major), lin_vel (3, m/s, world), body_rates (3, rad/s, body), last_action (4, normalized);
the first four come from the state `sensor_delay_steps` physics steps ago, plus noise.

The body is generated from the spec's `model:` at build time (no URDF), so mass and inertia live
only in the YAML. All per-physics-step work is on plain floats: at four motors, numpy's
per-call overhead costs more than the arithmetic.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from robot_rl.config import from_dict, param
from robot_rl.controllers.quadrotor import (
    GRAVITY,
    SPIN_TORQUE_SIGN,
    Mixer,
    QuadrotorControllerConfig,
    RateController,
    motor_positions,
    rotation_from_quaternion,
)
from robot_rl.errors import ConfigError
from robot_rl.sim.base import TwinRobot, pybullet
from robot_rl.spec import Field, RobotSpec


@dataclass
class CrazyflieModel:
    """The spec's `model:` section: published system-identification parameters (see the YAML)."""

    mass_kg: float = param(doc="take-off mass", unit="kg", gt=0)
    arm_length_m: float = param(doc="centre to motor axis", unit="m", gt=0)
    inertia_kg_m2: list[float] = param(doc="principal moments of inertia (x, y, z)", unit="kg m^2")
    max_thrust_n: float = param(doc="thrust of one motor at full command", unit="N", gt=0)
    thrust_to_torque_m: float = param(doc="rotor drag torque / thrust (k_m / k_f)", unit="m", gt=0)
    motor_tau_up_s: float = param(doc="rotor-speed time constant when speeding up", unit="s", gt=0)
    motor_tau_down_s: float = param(doc="rotor-speed time constant when slowing down", unit="s", gt=0)
    drag_xy_n_s_m: float = param(
        0.0, doc="rotor drag per body x/y speed at hover rotor speed", unit="N s/m", ge=0
    )
    drag_z_n_s_m: float = param(
        0.0, doc="rotor drag per body z speed at hover rotor speed", unit="N s/m", ge=0
    )
    prop_radius_m: float = param(0.0, doc="propeller radius (ground effect); 0 turns it off", unit="m", ge=0)
    ground_effect_max_gain: float = param(1.3, doc="cap of the ground-effect thrust ratio", unit="1", ge=1)
    body_half_extents_m: list[float] = param([0.04, 0.04, 0.015], doc="collision box half sizes", unit="m")

    def validate(self, source: str, prefix: str) -> None:
        for name in ("inertia_kg_m2", "body_half_extents_m"):
            values = getattr(self, name)
            if len(values) != 3 or min(values) <= 0:
                raise ConfigError(source, f"{prefix}.{name}", "3 positive values (x, y, z)", values)
        if 4 * self.max_thrust_n <= self.mass_kg * GRAVITY:
            raise ConfigError(
                source, f"{prefix}.max_thrust_n", "4 x max thrust above the weight m g", self.max_thrust_n
            )

    @property
    def hover_command(self) -> float:
        """Normalized motor force that holds the nominal vehicle in hover."""
        return self.mass_kg * GRAVITY / (4.0 * self.max_thrust_n)


class Robot(TwinRobot):
    """A Crazyflie 2.x in the PyBullet world."""

    RANDOMIZATION: ClassVar[dict[str, float]] = {
        "mass_scale": 1.0,
        "inertia_scale": 1.0,
        "thrust_scale": 1.0,
        "motor_tau_scale": 1.0,
        "action_delay_steps": 0.0,
        "sensor_delay_steps": 0.0,
        "sensor_noise_std": 0.0,
        "drag_scale": 1.0,
    }

    def __init__(self, client: Any, spec: RobotSpec, action_mode: str = "force"):
        super().__init__(client, spec)
        if action_mode not in ("force", "rates") or action_mode not in spec.modes:
            raise ConfigError(spec.source, "robot_options.action_mode", "force or rates", action_mode)
        self.action_mode = action_mode
        self.model = from_dict(CrazyflieModel, spec.model, source=spec.source, prefix="model")
        self.controller_config = from_dict(
            QuadrotorControllerConfig, spec.controller, source=spec.source, prefix="controller"
        )
        fields = self.action_fields
        expected = {"force": [("motor_forces", 4)], "rates": [("collective_thrust", 1), ("body_rates", 3)]}
        if [(f.name, f.size) for f in fields] != expected[action_mode] or any(f.low is None for f in fields):
            layout = ", ".join(f"{name} ({size})" for name, size in expected[action_mode])
            raise ConfigError(
                spec.source,
                f"action_modes.{action_mode}",
                f"fields {layout} with low and high bounds",
                [f.name for f in fields],
            )
        lo = [v for f in fields for v in (f.low or [-1.0] * f.size)]
        hi = [v for f in fields for v in (f.high or [1.0] * f.size)]
        self._act_offset = [0.5 * (h + lo_) for lo_, h in zip(lo, hi)]
        self._act_scale = [0.5 * (h - lo_) for lo_, h in zip(lo, hi)]

        m = self.model
        self.mixer = Mixer(m.arm_length_m, m.thrust_to_torque_m, m.max_thrust_n)
        self.rate_controller = RateController(
            self.controller_config.rate, m.inertia_kg_m2, 1.0 / spec.rates.control_hz
        )
        self.rotor_xy = motor_positions(m.arm_length_m)
        self._dt = 1.0 / spec.rates.physics_hz
        self._ge_k = (m.prop_radius_m / 4.0) ** 2
        self._ge_zmin = (
            math.sqrt(self._ge_k / (1.0 - 1.0 / m.ground_effect_max_gain)) if m.prop_radius_m > 0 else 0.0
        )
        self._safe = self._to_action(
            [m.hover_command] * 4 if action_mode == "force" else [m.hover_command, 0.0, 0.0, 0.0]
        )
        #: target position (world, m) the observation's pos_error refers to; tasks set it
        self.target = [0.0, 0.0, 1.0]
        self.body = -1
        self._params = dict(self.RANDOMIZATION)

    # -- building and resets ---------------------------------------------------------------
    def build(self) -> None:
        c, m = self.client, self.model
        cid = c._client
        ground = c.createCollisionShape(pybullet.GEOM_PLANE)
        c.createMultiBody(0, ground)
        box = c.createCollisionShape(pybullet.GEOM_BOX, halfExtents=m.body_half_extents_m)
        visual = c.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=m.body_half_extents_m, rgbaColor=[0.2, 0.2, 0.2, 1]
        )
        self.body = c.createMultiBody(m.mass_kg, box, visual, basePosition=[0.0, 0.0, 1.0])
        # Bullet damps every body by default; the aerodynamics here are the drag model only.
        c.changeDynamics(
            self.body, -1, linearDamping=0.0, angularDamping=0.0, localInertiaDiagonal=m.inertia_kg_m2
        )
        # Bound once: BulletClient's attribute lookup builds a partial on every call.
        self._cid = cid
        self._force = pybullet.applyExternalForce
        self._torque = pybullet.applyExternalTorque
        self._step_sim = pybullet.stepSimulation
        self._get_pose = pybullet.getBasePositionAndOrientation
        self._get_vel = pybullet.getBaseVelocity

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> None:
        m, p = self.model, params
        self._params = params
        self._rng = rng
        mass = m.mass_kg * p["mass_scale"]
        inertia = [v * p["inertia_scale"] for v in m.inertia_kg_m2]
        self.client.changeDynamics(self.body, -1, mass=mass, localInertiaDiagonal=inertia)
        self._thrust_max = m.max_thrust_n * p["thrust_scale"]
        self._alpha_up = 1.0 - math.exp(-self._dt / (m.motor_tau_up_s * p["motor_tau_scale"]))
        self._alpha_down = 1.0 - math.exp(-self._dt / (m.motor_tau_down_s * p["motor_tau_scale"]))
        self._action_delay = round(p["action_delay_steps"])
        self._sensor_delay = round(p["sensor_delay_steps"])
        self._noise_std = p["sensor_noise_std"]
        self._hover_speed = math.sqrt(mass * GRAVITY / (4.0 * self._thrust_max))
        # Drag coefficients are hover values; scaled by sum of rotor speeds / (4 hover speed).
        k = p["drag_scale"] / (4.0 * math.sqrt(m.hover_command))
        self._drag_xy, self._drag_z = m.drag_xy_n_s_m * k, m.drag_z_n_s_m * k
        self.rate_controller.reset()
        self.place([0.0, 0.0, 1.0])

    def place(
        self,
        position: list[float],
        quaternion: list[float] = (0.0, 0.0, 0.0, 1.0),
        velocity: list[float] = (0.0, 0.0, 0.0),
        angular_velocity: list[float] = (0.0, 0.0, 0.0),
    ) -> None:
        """Put the vehicle in flight at a pose (world, xyzw) with motors at hover speed."""
        self.client.resetBasePositionAndOrientation(self.body, list(position), list(quaternion))
        self.client.resetBaseVelocity(self.body, list(velocity), list(angular_velocity))
        self.speed = [self._hover_speed] * 4
        self._speed_cmd = list(self.speed)
        self._command = self._physical(self._safe)
        self._cmd_queue = deque([list(self._command)] * self._action_delay)
        self.last_action = [float(a) for a in self._safe]
        self.rate_controller.reset()
        self._sensors: deque = deque(maxlen=self._sensor_delay + 1)
        self._read_state()
        for _ in range(self._sensor_delay):
            self._sensors.append(self._sensors[-1])

    # -- commands and control ----------------------------------------------------------------
    @property
    def action_fields(self) -> list[Field]:
        """The spec's layout of the robot's action mode (`action_modes`)."""
        return self.spec.action_fields(self.action_mode)

    def _to_action(self, physical: list[float]) -> np.ndarray:
        a = [(v - o) / s for v, o, s in zip(physical, self._act_offset, self._act_scale)]
        return np.clip(np.asarray(a, dtype=np.float32), -1.0, 1.0)

    def to_action(self, physical: list[float]) -> np.ndarray:
        """Env action in [-1, 1] for a physical command in the current mode's layout."""
        return self._to_action(physical)

    def _physical(self, action: Any) -> list[float]:
        return [o + s * float(a) for a, o, s in zip(action, self._act_offset, self._act_scale)]

    def safe_action(self) -> np.ndarray:
        """Hover: the nominal hover force on every motor (force) or hover thrust at zero rates (rates)."""
        return self._safe.copy()

    def set_command(self, action: np.ndarray) -> None:
        self.last_action = [float(a) for a in action]
        self._command = self._physical(action)

    def control(self) -> None:
        cmd = self._command
        if self._action_delay:
            self._cmd_queue.append(cmd)
            cmd = self._cmd_queue.popleft()
        if self.action_mode == "rates":
            torque = self.rate_controller.update(cmd[1:4], self.body_rates)
            u = self.mixer.normalized(4.0 * self.model.max_thrust_n * cmd[0], *torque)
        else:
            u = cmd
        self._speed_cmd = [math.sqrt(v) if v > 0.0 else 0.0 for v in u]

    def step(self, action: np.ndarray) -> None:
        self.set_command(action)
        rates = self.spec.rates
        for _ in range(rates.control_substeps):
            self.control()
            for _ in range(rates.physics_substeps):
                self._apply_forces()
                self._step_sim(physicsClientId=self._cid)
                self.after_physics_step()

    def _apply_forces(self) -> None:
        """Motor lag, per-rotor thrust with ground effect, yaw drag torque and rotor drag."""
        speed, cmd = self.speed, self._speed_cmd
        up, down = self._alpha_up, self._alpha_down
        for i in range(4):
            d = cmd[i] - speed[i]
            speed[i] += d * (up if d > 0.0 else down)
        rot, (px, py, pz) = self.rot, self.pos
        tmax, ge_k, ge_zmin = self._thrust_max, self._ge_k, self._ge_zmin
        body, cid, force = self.body, self._cid, self._force
        tz = 0.0
        ctq = self.model.thrust_to_torque_m
        for i in range(4):
            x, y = self.rotor_xy[i]
            thrust = tmax * speed[i] * speed[i]
            if ge_k:
                z = pz + rot[6] * x + rot[7] * y
                thrust /= 1.0 - ge_k / (z * z) if z > ge_zmin else 1.0 - ge_k / (ge_zmin * ge_zmin)
            force(body, -1, (0.0, 0.0, thrust), (x, y, 0.0), pybullet.LINK_FRAME, physicsClientId=cid)
            tz += SPIN_TORQUE_SIGN[i] * ctq * thrust
        # Rotor drag (Förster 2015): linear in body velocity, proportional to the rotor speed sum.
        vx, vy, vz = self.vel
        s = speed[0] + speed[1] + speed[2] + speed[3]
        bx = -self._drag_xy * s * (rot[0] * vx + rot[3] * vy + rot[6] * vz)
        by = -self._drag_xy * s * (rot[1] * vx + rot[4] * vy + rot[7] * vz)
        bz = -self._drag_z * s * (rot[2] * vx + rot[5] * vy + rot[8] * vz)
        drag = (
            rot[0] * bx + rot[1] * by + rot[2] * bz,
            rot[3] * bx + rot[4] * by + rot[5] * bz,
            rot[6] * bx + rot[7] * by + rot[8] * bz,
        )
        force(body, -1, drag, (px, py, pz), pybullet.WORLD_FRAME, physicsClientId=cid)
        # World frame: the torque is about body z, rotated here (LINK_FRAME torques on the base
        # have not always been rotated by PyBullet).
        self._torque(
            body, -1, (rot[2] * tz, rot[5] * tz, rot[8] * tz), pybullet.WORLD_FRAME, physicsClientId=cid
        )

    def after_physics_step(self) -> None:
        self._read_state()

    def _read_state(self) -> None:
        pos, quat = self._get_pose(self.body, physicsClientId=self._cid)
        vel, omega = self._get_vel(self.body, physicsClientId=self._cid)
        r = rotation_from_quaternion(*quat)
        wx, wy, wz = omega
        self.pos, self.quat, self.vel, self.rot = pos, quat, vel, r
        self.body_rates = (
            r[0] * wx + r[3] * wy + r[6] * wz,
            r[1] * wx + r[4] * wy + r[7] * wz,
            r[2] * wx + r[5] * wy + r[8] * wz,
        )
        self._sensors.append((pos, vel, self.body_rates, r))

    # -- observation ---------------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        pos, vel, rates, rot = self._sensors[0]
        t = self.target
        obs = [pos[0] - t[0], pos[1] - t[1], pos[2] - t[2], *rot, *vel, *rates, *self.last_action]
        out = np.asarray(obs, dtype=np.float32)
        if self._noise_std > 0.0:
            noise = self._rng.normal(0.0, self._noise_std, size=9).astype(np.float32)
            out[0:3] += noise[0:3]
            out[12:18] += noise[3:9]
        return out

    def true_state(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        """Privileged, undelayed, noiseless (position, velocity, rotation row-major, body rates)."""
        return self.pos, self.vel, self.rot, self.body_rates

    @property
    def tilt_cos(self) -> float:
        """cos of the angle between body z and world z."""
        return self.rot[8]

    def link_pose(self, link: str) -> tuple[np.ndarray, np.ndarray]:
        if link not in ("body", "base"):
            return super().link_pose(link)
        return np.asarray(self.pos), np.asarray(self.quat)
