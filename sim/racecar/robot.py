"""The racecar twin: pybullet_data's MIT RACECAR driven through the real Ackermann/throttle law.

Each control update runs `AckermannController.command` (controllers/ackermann.py, the law the
car runs) and hands its targets to the actuators the real car has: the steering servo (a
position-controlled hinge per front wheel, with the servo's torque and speed) and the ESC's speed
loop (velocity motors on the four wheels with the law's torque limit). Servo trim, servo
latency, ESC calibration and current limit, chassis mass and tyre friction are randomized here.
"""

from __future__ import annotations

import math
import tempfile
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import pybullet
import pybullet_data

from robot_rl.config import from_dict, param
from robot_rl.controllers.ackermann import AckermannConfig, AckermannController, AckermannGeometry
from robot_rl.errors import ConfigError
from robot_rl.sim.base import TwinRobot
from robot_rl.spec import RobotSpec

#: the robot part of the observation this twin produces, in this order (name, size)
OBSERVATION = (("speed", 1), ("yaw_rate", 1), ("last_action", 2))
ACTION = ("steering", "throttle")


@dataclass
class SensorNoise:
    """Gaussian noise std at `sensor_noise_scale` 1."""

    speed: float = param(0.05, doc="wheel-odometry speed noise", unit="m/s", ge=0)
    yaw_rate: float = param(0.05, doc="gyro z noise", unit="rad/s", ge=0)


@dataclass
class RacecarModel:
    """Physical model of the car (spec `model`)."""

    geometry: AckermannGeometry = param(doc="wheelbase, track, wheel radius (read by the control law too)")
    steering_joints: list[str] = param(doc="left and right steering hinge joints")
    wheel_joints: list[str] = param(doc="wheel joints: rear-left, rear-right, front-left, front-right")
    chassis_link: str = param(doc="link whose mass `chassis_mass_scale` scales")
    urdf: str = param("racecar/racecar.urdf", doc="URDF path relative to pybullet_data")
    steering_servo_torque_nm: float = param(2.0, doc="servo torque limit per hinge", unit="N m", gt=0)
    steering_servo_speed_rad_s: float = param(6.0, doc="servo slew rate", unit="rad/s", gt=0)
    steering_servo_gain: float = param(
        0.5, doc="position gain of the twin's servo (PyBullet units)", gt=0, le=1
    )
    low_poly_visuals: bool = param(True, doc="replace the URDF's meshes by boxes and cylinders (fast camera)")
    solver_iterations: int = param(20, doc="PyBullet constraint-solver iterations per physics step", gt=0)
    sensor_noise: SensorNoise = param(default_factory=SensorNoise, doc="sensor noise std at scale 1")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.steering_joints) != 2:
            raise ConfigError(
                source, f"{prefix}.steering_joints", "2 joint names (left, right)", self.steering_joints
            )
        if len(self.wheel_joints) != 4:
            raise ConfigError(
                source, f"{prefix}.wheel_joints", "4 joint names (RL, RR, FL, FR)", self.wheel_joints
            )


class CarState(NamedTuple):
    """Privileged kinematic state of the car (SI units, world frame unless said)."""

    x: float
    y: float
    yaw: float  # rad
    speed: float  # m/s along body x
    lateral_speed: float  # m/s along body y
    yaw_rate: float  # rad/s about body z
    up_z: float  # world z of body z: cos of the tilt


def low_poly_urdf(urdf: Path) -> Path:
    """A copy of the racecar URDF whose mesh visuals are boxes and cylinders.

    The stock meshes carry ~12k triangles (wheels, steering hinges, lidar), which the CPU
    renderer transforms for every frame; the shapes here keep the silhouette the camera sees.
    """
    tree = ET.parse(urdf)
    for link in tree.getroot().iter("link"):
        for visual in list(link.findall("visual")):
            geometry = visual.find("geometry")
            mesh = geometry.find("mesh") if geometry is not None else None
            if mesh is None:
                continue
            name = link.get("name", "")
            for child in list(geometry):  # the laser's <material> sits inside <geometry>
                geometry.remove(child)
                if child.tag == "material":
                    visual.append(child)
            origin = visual.find("origin")
            if origin is None:
                origin = ET.SubElement(visual, "origin")
            if name == "chassis":  # chassis.STL spans x -0.04..0.365, y +-0.1, z +-0.03
                ET.SubElement(geometry, "box", size="0.405 0.2 0.06")
                origin.set("xyz", "0.1625 0 0")
            elif name.endswith("_wheel"):
                collision_origin = link.find("collision/origin")
                ET.SubElement(geometry, "cylinder", radius="0.05", length="0.045")
                origin.set("xyz", collision_origin.get("xyz") if collision_origin is not None else "0 0 0")
            elif name == "laser":
                ET.SubElement(geometry, "box", size="0.05 0.05 0.07")
            else:  # steering hinges: hidden inside the wheels
                link.remove(visual)
    out = Path(tempfile.mkdtemp(prefix="robot_rl_racecar_")) / "racecar_low_poly.urdf"
    tree.write(out)
    return out


class Robot(TwinRobot):
    """The MIT RACECAR on a flat floor (friction 1, no visual); `place()` puts it on the course."""

    RANDOMIZATION: ClassVar[dict[str, float]] = {
        "chassis_mass_scale": 1.0,
        "tyre_friction": 1.0,
        "motor_force_scale": 1.0,
        "motor_speed_scale": 1.0,
        "steering_offset_rad": 0.0,
        "steering_latency_s": 0.0,
        "sensor_noise_scale": 0.0,
    }

    def __init__(self, client, spec: RobotSpec):
        super().__init__(client, spec)
        self.model = from_dict(RacecarModel, spec.model, source=spec.source, prefix="model")
        config = from_dict(AckermannConfig, spec.controller, source=spec.source, prefix="controller")
        self.controller = AckermannController(self.model.geometry, config, spec.source)
        if spec.safety.max_speed is not None and config.max_speed > spec.safety.max_speed:
            raise ConfigError(
                spec.source,
                "controller.max_speed",
                f"at most safety.max_speed ({spec.safety.max_speed} m/s)",
                config.max_speed,
            )
        layout = tuple((f.name, f.size) for f in spec.observation)
        if layout != OBSERVATION:
            raise ConfigError(
                spec.source, "observation", f"the racecar layout {list(OBSERVATION)}", list(layout)
            )
        if tuple(f.name for f in spec.action) != ACTION or spec.action_size != 2:
            raise ConfigError(
                spec.source, "action", f"fields {list(ACTION)} of size 1", [f.name for f in spec.action]
            )
        self.body = -1
        self._state: CarState | None = None
        self._rng = np.random.default_rng(0)
        self._apply_params(dict(self.RANDOMIZATION), self._rng)

    # -- world -------------------------------------------------------------------------------
    def build(self) -> None:
        c, m = self.client, self.model
        # Wheel contacts and four motors converge well below PyBullet's default 50 iterations:
        # replaying an expert drive at 20, the car is ~1 mm from the 50-iteration run after 1 s
        # (10 iterations: ~13 cm), and physics runs ~1.8x faster.
        c.setPhysicsEngineParameter(numSolverIterations=m.solver_iterations)
        # The floor shows nothing: the task draws only the surface the camera can see (the CPU
        # renderer's cost grows with the screen area every triangle covers). Without a visual
        # of its own the plane would be drawn from its collision shape, so it gets a speck far below.
        speck = c.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=[0.001] * 3, visualFramePosition=[0, 0, -50]
        )
        self.ground = c.createMultiBody(0, c.createCollisionShape(pybullet.GEOM_PLANE), speck)
        c.changeDynamics(self.ground, -1, lateralFriction=1.0)
        urdf = Path(pybullet_data.getDataPath()) / m.urdf
        if not urdf.is_file():
            raise ConfigError(self.spec.source, "model.urdf", "a URDF under pybullet_data", m.urdf)
        path = low_poly_urdf(urdf) if m.low_poly_visuals else urdf
        flags = pybullet.URDF_USE_INERTIA_FROM_FILE | pybullet.URDF_USE_IMPLICIT_CYLINDER
        self.body = c.loadURDF(str(path), [0.0, 0.0, 0.0], flags=flags)
        if path != urdf:
            path.unlink()
            path.parent.rmdir()
        joints, self.links = {}, {"base_link": -1}
        for j in range(c.getNumJoints(self.body)):
            info = c.getJointInfo(self.body, j)
            joints[info[1].decode()] = (j, info[14])
            self.links[info[12].decode()] = j
        for key in ("steering_joints", "wheel_joints"):
            missing = [n for n in getattr(m, key) if n not in joints]
            if missing:
                raise ConfigError(
                    self.spec.source, f"model.{key}", f"joints of {m.urdf}: {', '.join(joints)}", missing
                )
        if m.chassis_link not in self.links:
            raise ConfigError(self.spec.source, "model.chassis_link", f"a link of {m.urdf}", m.chassis_link)
        self.steer_idx = [joints[n][0] for n in m.steering_joints]
        self.wheel_idx = [joints[n][0] for n in m.wheel_joints]
        self._check_geometry(joints)
        self.chassis_idx = self.links[m.chassis_link]
        self.chassis_mass = c.getDynamicsInfo(self.body, self.chassis_idx)[0]
        # The URDF loader leaves velocity motors on every joint; the law owns them from here.
        movable = self.steer_idx + self.wheel_idx
        c.setJointMotorControlArray(
            self.body, movable, pybullet.VELOCITY_CONTROL, forces=[0.0] * len(movable)
        )

    def _check_geometry(self, joints: dict[str, tuple[int, tuple[float, ...]]]) -> None:
        """The spec's geometry is what the law uses: it must be the URDF's."""
        g, m = self.model.geometry, self.model
        rear_left, rear_right = joints[m.wheel_joints[0]][1], joints[m.wheel_joints[1]][1]
        hinge = joints[m.steering_joints[0]][1]
        # An implicit cylinder's dimensions are (length, radius, 0).
        wheel = self.client.getCollisionShapeData(self.body, self.wheel_idx[0])[0]
        urdf_values = {
            "wheelbase_m": hinge[0] - rear_left[0],
            "track_m": rear_left[1] - rear_right[1],
            "wheel_radius_m": wheel[3][1],
        }
        for key, value in urdf_values.items():
            if abs(getattr(g, key) - value) > 1e-3:
                raise ConfigError(
                    self.spec.source, f"model.geometry.{key}", f"{value:.4f} (from {m.urdf})", getattr(g, key)
                )

    # -- episode -----------------------------------------------------------------------------
    def _apply_params(self, params: dict[str, float], rng: np.random.Generator) -> None:
        self.force_scale = params["motor_force_scale"]
        self.speed_scale = params["motor_speed_scale"]
        self.steering_offset = params["steering_offset_rad"]
        delay = round(params["steering_latency_s"] * self.spec.rates.control_hz)
        self._steer_queue: deque[tuple[float, float]] = deque([(0.0, 0.0)] * (delay + 1), maxlen=delay + 1)
        self.noise_scale = params["sensor_noise_scale"]

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> None:
        c = self.client
        self.controller.reset()
        self._rng = rng
        self._apply_params(params, rng)
        c.changeDynamics(self.body, self.chassis_idx, mass=self.chassis_mass * params["chassis_mass_scale"])
        for w in self.wheel_idx:
            c.changeDynamics(self.body, w, lateralFriction=params["tyre_friction"])
        self._state = None

    def place(self, x: float, y: float, yaw: float) -> None:
        """Put the car at rest on the floor at (x, y) heading `yaw` (rad), wheels straight."""
        c = self.client
        c.resetBasePositionAndOrientation(
            self.body, [x, y, 0.001], [0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]
        )
        c.resetBaseVelocity(self.body, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
        for j in self.steer_idx + self.wheel_idx:
            c.resetJointState(self.body, j, 0.0, 0.0)
        self._state = None

    # -- control -----------------------------------------------------------------------------
    def set_command(self, action: np.ndarray) -> None:
        self.controller.set_action(action)

    def control(self) -> None:
        c, m = self.client, self.model
        cmd = self.controller.command()
        self._steer_queue.append((cmd.steer_left_rad, cmd.steer_right_rad))
        for idx, angle in zip(self.steer_idx, self._steer_queue[0]):
            c.setJointMotorControl2(
                self.body,
                idx,
                pybullet.POSITION_CONTROL,
                targetPosition=angle + self.steering_offset,
                force=m.steering_servo_torque_nm,
                maxVelocity=m.steering_servo_speed_rad_s,
                positionGain=m.steering_servo_gain,
            )
        c.setJointMotorControlArray(
            self.body,
            self.wheel_idx,
            pybullet.VELOCITY_CONTROL,
            targetVelocities=[w * self.speed_scale for w in cmd.wheel_speeds],
            forces=[cmd.max_wheel_torque_nm * self.force_scale] * 4,
        )

    def step(self, action: np.ndarray) -> None:
        super().step(action)
        self._state = None

    def safe_action(self) -> np.ndarray:
        """Brake: throttle 0 (speed target 0, so the ESC brakes the wheels), steering held.

        The law's rate limit applies to it like to any action: the throttle comes down by
        `action_rate_limit` per step (from full throttle to zero in 0.5 s at 10 Hz).
        """
        return np.array([self.controller.action[0], 0.0], dtype=np.float32)

    # -- sensing -----------------------------------------------------------------------------
    def state(self) -> CarState:
        """Privileged, noiseless kinematic state (cached until the next step or placement)."""
        if self._state is None:
            c = self.client
            pos, quat = c.getBasePositionAndOrientation(self.body)
            lin, ang = c.getBaseVelocity(self.body)
            r = c.getMatrixFromQuaternion(quat)  # row-major: column 0 is body x in world
            self._state = CarState(
                pos[0],
                pos[1],
                math.atan2(r[3], r[0]),
                lin[0] * r[0] + lin[1] * r[3] + lin[2] * r[6],
                lin[0] * r[1] + lin[1] * r[4] + lin[2] * r[7],
                ang[0] * r[2] + ang[1] * r[5] + ang[2] * r[8],
                r[8],
            )
        return self._state

    def observe(self) -> np.ndarray:
        s = self.state()
        a = self.controller.action
        obs = np.array([s.speed, s.yaw_rate, a[0], a[1]], dtype=np.float32)
        if self.noise_scale > 0.0:
            noise = self.model.sensor_noise
            obs[:2] += (
                self._rng.normal(0.0, 1.0, size=2)
                * np.array([noise.speed, noise.yaw_rate])
                * self.noise_scale
            )
        return obs

    def link_pose(self, link: str) -> tuple[np.ndarray, np.ndarray]:
        """World pose of a URDF link (camera-mount jitter is applied by TwinEnv.render_camera)."""
        if link not in self.links:
            return super().link_pose(link)
        c, idx = self.client, self.links[link]
        if idx < 0:
            pos, quat = c.getBasePositionAndOrientation(self.body)
        else:
            # Forward kinematics now: after a reset the cached link state is the snapshot's.
            pos, quat = c.getLinkState(self.body, idx, computeForwardKinematics=True)[4:6]
        return np.asarray(pos), np.asarray(quat)
