"""Tasks every twin arm can do (`sim.arm.ArmRobot`): reach a goal, pick a cube.

Distances in m, angles in rad, world frame = robot base frame (table plane at z = 0). Every
task places its objects per episode from its `Config` ranges with the env's seeded generator,
so a seed gives the same episode. The object randomization parameters are shared by all arm
tasks (one robot spec holds the ranges); a task without objects declares and ignores them.
The default ranges lie inside every arm's safety box (the Panda's and the UR5e's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from robot_rl.config import param
from robot_rl.errors import ConfigError
from robot_rl.sim.arm import DOWN_QUAT, ArmRobot
from robot_rl.sim.base import Task
from robot_rl.spec import canonical_cube_quat

#: far below the table: objects of other sizes wait here, with collisions off
PARK_Z = -50.0


def check_box(source: str, low: list[float], high: list[float], name: str, size: int) -> None:
    if len(low) != size or len(high) != size:
        raise ConfigError(source, name, f"{size} values for low and high", [low, high])
    if any(lo > hi for lo, hi in zip(low, high)):
        raise ConfigError(source, name, "low <= high on every axis", [low, high])


class ArmTask(Task):
    """Shared set-up: the robot handle, object randomization names, start-pose sampling."""

    RANDOMIZATION: ClassVar[dict[str, float]] = {
        "object_mass_scale": 1.0,
        "object_size_scale": 1.0,
        "object_friction": 1.0,
    }

    def build(self, client, robot: ArmRobot) -> None:
        self.client = client
        self.robot = robot
        self.rng = np.random.default_rng(0)
        self.noise = 0.0

    def _start(self, rng: np.random.Generator, low, high, width: float | None = None) -> np.ndarray:
        """Teleport the TCP (pointing down) to a uniform point of [low, high], the gripper at `width` (m,
        default open); returns it."""
        start = rng.uniform(low, high)
        q = self.robot.solve_ik(start, DOWN_QUAT)
        self.robot.teleport(q, width=width, quat_ref=DOWN_QUAT)
        return start

    def _noisy(self, position: np.ndarray) -> np.ndarray:
        if self.noise > 0.0:
            return position + self.rng.normal(0.0, self.noise, 3)
        return position

    def _box_body(self, half_extents, mass: float, rgba, position=(0.0, 0.0, PARK_Z)) -> int:
        c = self.client
        shape = c.createCollisionShape(c.GEOM_BOX, halfExtents=list(half_extents))
        visual = c.createVisualShape(c.GEOM_BOX, halfExtents=list(half_extents), rgbaColor=list(rgba))
        body = c.createMultiBody(mass, shape, visual, basePosition=list(position))
        # see Robot.build: no sleeping, so a resting object reacts the same in every episode
        c.changeDynamics(body, -1, activationState=c.ACTIVATION_STATE_DISABLE_SLEEPING)
        return body


class Reach(ArmTask):
    """Move the TCP to a random goal point. State only, dense reward."""

    name = "reach"

    @dataclass
    class Config:
        max_episode_steps: int = param(50, doc="policy steps per episode (5 s at 10 Hz)", gt=0)
        success_distance: float = param(0.02, doc="TCP within this of the goal is success", unit="m", gt=0)
        goal_low: list[float] = param([0.35, -0.2, 0.05], doc="goal sampling box, low corner", unit="m")
        goal_high: list[float] = param([0.65, 0.2, 0.35], doc="goal sampling box, high corner", unit="m")
        start_low: list[float] = param([0.4, -0.1, 0.2], doc="TCP start box, low corner", unit="m")
        start_high: list[float] = param([0.55, 0.1, 0.3], doc="TCP start box, high corner", unit="m")
        reward: Literal["dense", "sparse"] = param("dense", doc="dense: -distance (m); sparse: 1 on success")
        terminate_on_success: bool = param(True, doc="end the episode when the goal is reached")

        def validate(self, source: str, prefix: str) -> None:
            check_box(source, self.goal_low, self.goal_high, "goal_low/goal_high", 3)
            check_box(source, self.start_low, self.start_high, "start_low/start_high", 3)

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self.max_episode_steps = self.config.max_episode_steps
        self.goal = np.zeros(3)

    def build(self, client, robot: ArmRobot) -> None:
        super().build(client, robot)
        # A see-through sphere of the success radius at the goal: visual only (no collision, no
        # mass), so it changes what cameras and videos show and nothing about the physics.
        shape = client.createVisualShape(
            client.GEOM_SPHERE, radius=self.config.success_distance, rgbaColor=(0.1, 0.8, 0.2, 0.6)
        )
        self.marker = client.createMultiBody(baseMass=0.0, baseVisualShapeIndex=shape)

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        cfg = self.config
        self.rng, self.noise = rng, params["obs_noise_pos"]
        start = self._start(rng, cfg.start_low, cfg.start_high)
        self.goal = rng.uniform(cfg.goal_low, cfg.goal_high)
        self.client.resetBasePositionAndOrientation(self.marker, self.goal.tolist(), (0.0, 0.0, 0.0, 1.0))
        return {"goal_pos": self.goal.copy(), "start_pos": start}

    def observe(self) -> np.ndarray:
        return self.goal.astype(np.float32)

    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        pos, _ = self.robot.tcp_pose()
        distance = float(np.linalg.norm(pos - self.goal))
        success = distance < self.config.success_distance
        reward = -distance if self.config.reward == "dense" else float(success)
        return reward, success, success and self.config.terminate_on_success, {"distance": distance}


class PickCube(ArmTask):
    """Grasp a cube lying at a random place on the table and lift it above a height."""

    name = "pick_cube"

    @dataclass
    class Config:
        max_episode_steps: int = param(60, doc="policy steps per episode (6 s at 10 Hz)", gt=0)
        cube_size: float = param(0.04, doc="nominal cube edge", unit="m", gt=0, le=0.07)
        cube_mass: float = param(0.05, doc="nominal cube mass", unit="kg", gt=0)
        cube_low: list[float] = param([0.4, -0.15], doc="cube centre sampling box (x, y), low", unit="m")
        cube_high: list[float] = param([0.6, 0.15], doc="cube centre sampling box (x, y), high", unit="m")
        cube_yaw: float = param(0.4, doc="cube yaw drawn from [-cube_yaw, cube_yaw]", unit="rad", ge=0)
        start_low: list[float] = param([0.4, -0.1, 0.2], doc="TCP start box, low corner", unit="m")
        start_high: list[float] = param([0.55, 0.1, 0.3], doc="TCP start box, high corner", unit="m")
        lift_height: float = param(0.1, doc="cube centre above this height is success", unit="m", gt=0)
        reward: Literal["sparse", "shaped"] = param(
            "sparse", doc="sparse: 1 on success; shaped: reach + grasp + lift terms in [0, 1]"
        )
        terminate_on_success: bool = param(True, doc="end the episode when the cube is lifted")
        size_variants: int = param(5, doc="cube bodies spanning the object_size_scale range", gt=0)

        def validate(self, source: str, prefix: str) -> None:
            check_box(source, self.cube_low, self.cube_high, "cube_low/cube_high", 2)
            check_box(source, self.start_low, self.start_high, "start_low/start_high", 3)

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self.max_episode_steps = self.config.max_episode_steps
        self.cube_size = self.config.cube_size

    def build(self, client, robot: ArmRobot) -> None:
        super().build(client, robot)
        lo, hi = robot.spec.randomization.get("object_size_scale", [1.0, 1.0])
        scales = np.unique(np.append(np.linspace(lo, hi, self.config.size_variants), 1.0))
        # Bodies cannot be resized and resets restore a snapshot of a fixed set of bodies, so
        # one cube per size is built and the episode's size picks the nearest.
        self.scales = scales
        self.cubes = []
        for scale in scales:
            half = 0.5 * self.config.cube_size * scale
            body = self._box_body([half] * 3, self.config.cube_mass, (0.85, 0.15, 0.1, 1.0))
            client.setCollisionFilterGroupMask(body, -1, 0, 0)
            self.cubes.append(body)
        self.cube = self.cubes[int(np.argmin(np.abs(scales - 1.0)))]

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        c, cfg = self.client, self.config
        self.rng, self.noise = rng, params["obs_noise_pos"]
        index = int(np.argmin(np.abs(self.scales - params["object_size_scale"])))
        for i, body in enumerate(self.cubes):
            on = i == index
            c.setCollisionFilterGroupMask(body, -1, 1 if on else 0, -1 if on else 0)
        self.cube = self.cubes[index]
        self.cube_size = cfg.cube_size * float(self.scales[index])
        c.changeDynamics(
            self.cube,
            -1,
            mass=cfg.cube_mass * params["object_mass_scale"],
            lateralFriction=params["object_friction"],
        )
        xy = rng.uniform(cfg.cube_low, cfg.cube_high)
        yaw = rng.uniform(-cfg.cube_yaw, cfg.cube_yaw)
        quat = c.getQuaternionFromEuler([0.0, 0.0, yaw])
        c.resetBasePositionAndOrientation(self.cube, [xy[0], xy[1], 0.5 * self.cube_size], quat)
        start = self._start(rng, cfg.start_low, cfg.start_high)
        return {
            "cube_pos": np.array([xy[0], xy[1], 0.5 * self.cube_size]),
            "cube_yaw": yaw,
            "start_pos": start,
        }

    def cube_pose(self) -> tuple[np.ndarray, np.ndarray]:
        pos, quat = self.client.getBasePositionAndOrientation(self.cube)
        return np.array(pos), np.array(quat)

    def holds(self, cube: np.ndarray) -> bool:
        """The hand holds the cube (centre at `cube`): closed, the fingers stopped at about the cube's
        edge instead of closing fully, the TCP at the cube. The shaped reward and the reward
        classifier's labels both ask this."""
        size = self.cube_size
        return bool(
            self.robot.gripper_closed
            and self.robot.gripper_width() > 0.6 * size
            and np.linalg.norm(self.robot.tcp_pose()[0] - cube) < 0.6 * size
        )

    def reach_and_grasp(self, cube: np.ndarray) -> tuple[float, float]:
        """Shaped-reward terms: closeness of the TCP to the cube (0..1) and 1 while it holds it."""
        tcp, _ = self.robot.tcp_pose()
        distance = float(np.linalg.norm(tcp - cube))
        return 1.0 - float(np.tanh(10.0 * distance)), float(self.holds(cube))

    def observe(self) -> np.ndarray:
        pos, quat = self.cube_pose()
        # one value per look of the cube: pushed past 45 degrees of yaw or tipped onto another face,
        # its raw quaternion would be one no demonstration shows
        return np.concatenate([self._noisy(pos), canonical_cube_quat(quat)]).astype(np.float32)

    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        cfg = self.config
        pos, _ = self.cube_pose()
        success = bool(pos[2] > cfg.lift_height)
        if cfg.reward == "sparse":
            reward = float(success)
        else:
            reach, grasped = self.reach_and_grasp(pos)
            lift = np.clip(
                (pos[2] - 0.5 * self.cube_size) / (cfg.lift_height - 0.5 * self.cube_size), 0.0, 1.0
            )
            reward = float(0.25 * reach + 0.25 * grasped + 0.5 * lift)
        return reward, success, success and cfg.terminate_on_success, {"cube_height": float(pos[2])}
