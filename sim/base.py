"""The twin's common frame: a robot, a task and a gymnasium env that steps them.

A robot (`TwinRobot`) owns its bodies in the PyBullet world and its control law from
`robot_rl.controllers`; a task (`Task`) owns the objects, reward and success test. `TwinEnv`
composes them behind the project's env API: a Dict observation (`state` float32 vector plus
one uint8 HxWx3 image per camera), a Box action in [-1, 1], `info["success"]`, seeded resets.

One policy step runs `control_substeps` control-law updates, each over `physics_substeps`
physics steps (rates from the robot spec). Resets restore a snapshot taken once after
building the world (`saveState`/`restoreState`), never reload URDFs.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from robot_rl.errors import ConfigError, require, silenced_output
from robot_rl.sim import randomization
from robot_rl.spec import Camera, Field, RobotSpec

pybullet = require("pybullet", "sim", "The PyBullet twin", quiet=True)
from pybullet_utils.bullet_client import BulletClient  # noqa: E402


class TwinRobot(ABC):
    """A robot in the PyBullet world, driven through its real control law."""

    #: randomization parameters this robot understands, with their nominal values
    RANDOMIZATION: ClassVar[dict[str, float]] = {}

    def __init__(self, client: BulletClient, spec: RobotSpec):
        self.client = client
        self.spec = spec

    @abstractmethod
    def build(self) -> None:
        """Load bodies once; called before the reset snapshot is taken."""

    @abstractmethod
    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> None:
        """Put the robot in its start state and apply this episode's (randomized) parameters.

        Called after the snapshot is restored; must set every parameter it owns every time
        (nominal values when randomization is off) so that episodes are reproducible.
        """

    @abstractmethod
    def set_command(self, action: np.ndarray) -> None:
        """Take one policy action in [-1, 1] (already finite and clipped)."""

    @abstractmethod
    def control(self) -> None:
        """One control-law update: compute and apply actuator commands."""

    @abstractmethod
    def observe(self) -> np.ndarray:
        """The state observation laid out as `spec.observation`, float32."""

    @property
    def action_fields(self) -> list[Field]:
        """The action layout the policy uses (the spec's, unless the robot has action modes)."""
        return list(self.spec.action)

    def safe_action(self) -> np.ndarray:
        """What the robot does with a NaN/inf action: hold (arm), hover (quadrotor), brake (car)."""
        return np.zeros(sum(f.size for f in self.action_fields), dtype=np.float32)

    def after_physics_step(self) -> None:  # noqa: B027 - optional hook
        """Called after every physics step (motor lag, sensor histories)."""

    def step(self, action: np.ndarray) -> None:
        """One policy step: control updates at control_hz, physics at physics_hz."""
        self.set_command(action)
        rates = self.spec.rates
        for _ in range(rates.control_substeps):
            self.control()
            for _ in range(rates.physics_substeps):
                self.client.stepSimulation()
                self.after_physics_step()

    def link_pose(self, link: str) -> tuple[np.ndarray, np.ndarray]:
        """World position and xyzw quaternion of a named link (for link-mounted cameras)."""
        raise ConfigError(self.spec.source, "cameras.link", "a link this robot knows", link)


class Task(ABC):
    """Objects, reward, success and episode length of one task for one robot."""

    name: ClassVar[str] = ""
    #: randomization parameters this task understands, with their nominal values
    RANDOMIZATION: ClassVar[dict[str, float]] = {}
    #: episode length in policy steps
    max_episode_steps: int = 100

    def build(self, client: BulletClient, robot: TwinRobot) -> None:  # noqa: B027 - optional hook
        """Load the task's objects once (before the reset snapshot)."""

    @abstractmethod
    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        """Place objects and goals for a new episode; return task info for `reset()`'s info."""

    def observe(self) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)

    @abstractmethod
    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        """(reward, success, terminated, info) after a policy step."""


#: camera-mount jitter every twin understands: a per-episode shift (m) of each camera along a
#: random direction and a rotation (rad) about a random axis through its eye point
CAMERA_RANDOMIZATION = {"camera_jitter_m": 0.0, "camera_jitter_rad": 0.0}


def _mount_jitter(
    rng: np.random.Generator, shift_m: float, angle_rad: float
) -> tuple[np.ndarray, np.ndarray]:
    """(offset, rotation matrix). Directions are drawn even at zero magnitude, so the random
    stream, and everything sampled after it, does not depend on whether jitter is on."""
    u, v = rng.normal(size=3), rng.normal(size=3)
    offset = shift_m * u / max(float(np.linalg.norm(u)), 1e-9)
    axis = v / max(float(np.linalg.norm(v)), 1e-9)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    rot = np.eye(3) + np.sin(angle_rad) * k + (1.0 - np.cos(angle_rad)) * (k @ k)  # Rodrigues
    return offset, rot


class TwinEnv(gym.Env):
    """A twin robot doing a task, behind the project's env API."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        spec: RobotSpec,
        robot_cls: type[TwinRobot],
        task: Task,
        cameras: Sequence[str] = (),
        randomize: bool = False,
        robot_options: dict[str, Any] | None = None,
        render_mode: str | None = None,
        gui: bool = False,
    ):
        # not `self.spec`: gymnasium's Env.spec is the registration EnvSpec
        self.robot_spec = spec
        self.cameras: list[Camera] = [spec.camera(name) for name in cameras]
        self.randomize = randomize
        if render_mode not in (None, "rgb_array"):
            raise ConfigError("", "render_mode", "None or 'rgb_array'", render_mode)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": spec.rates.policy_hz}

        with silenced_output():  # pybullet prints "argv[0]=" on connect, which would corrupt JSON output
            self.client = BulletClient(connection_mode=pybullet.GUI if gui else pybullet.DIRECT)
        self.client.setPhysicsEngineParameter(fixedTimeStep=1.0 / spec.rates.physics_hz)
        self.client.setGravity(0.0, 0.0, -9.81)
        self.robot = robot_cls(self.client, spec, **(robot_options or {}))
        self.task = task
        self._nominal = {**CAMERA_RANDOMIZATION, **robot_cls.RANDOMIZATION, **task.RANDOMIZATION}
        self._camera_jitter: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        randomization.check_keys(spec.randomization, self._nominal, spec.source)
        self.robot.build()
        self.task.build(self.client, self.robot)
        self._snapshot = self.client.saveState()

        self.obs_layout: list[Field] = list(spec.observation) + list(spec.task(task.name).observation)
        state_size = sum(f.size for f in self.obs_layout)
        spaces: dict[str, gym.Space] = {
            "state": gym.spaces.Box(-np.inf, np.inf, shape=(state_size,), dtype=np.float32)
        }
        for cam in self.cameras:
            spaces[cam.name] = gym.spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_layout: list[Field] = self.robot.action_fields
        action_size = sum(f.size for f in self.action_layout)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(action_size,), dtype=np.float32)
        self.params: dict[str, float] = dict(self._nominal)
        self.elapsed_steps = 0

    # -- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """A new episode. `options={"keep_scene": True}` starts it where the last one ended (reset-free
        practice): nothing is restored, re-sampled or moved; only the episode counter restarts, and a
        task with a `continue_episode()` hook says what it changed (e.g. the direction)."""
        if options and options.get("keep_scene"):
            self.elapsed_steps = 0
            hook = getattr(self.task, "continue_episode", None)
            task_info = hook() if hook is not None else {}
            return self._observation(), {"success": False, "randomization": dict(self.params), **task_info}
        super().reset(seed=seed)
        self.client.restoreState(self._snapshot)
        self.params = randomization.sample(
            self.np_random, self.robot_spec.randomization, self._nominal, self.randomize
        )
        self._camera_jitter = {
            cam.name: _mount_jitter(
                self.np_random, self.params["camera_jitter_m"], self.params["camera_jitter_rad"]
            )
            for cam in self.robot_spec.cameras
        }
        self.robot.reset(self.np_random, self.params)
        task_info = self.task.reset(self.np_random, self.params)
        self.elapsed_steps = 0
        info = {"success": False, "randomization": dict(self.params), **task_info}
        obs = self._observation()
        if obs["state"].size != self.observation_space["state"].shape[0]:
            raise ConfigError(
                self.robot_spec.source,
                f"tasks.{self.task.name}.observation",
                f"the {obs['state'].size - self.robot_spec.obs_size} values task '{self.task.name}' observes",
                sum(f.size for f in self.robot_spec.task(self.task.name).observation),
            )
        return obs, info

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)
        if action.size != self.action_space.shape[0]:
            layout = ", ".join(f"{f.name}[{f.size}]" for f in self.action_layout)
            raise ValueError(
                f"action has {action.size} values; this env takes {self.action_space.shape[0]} ({layout})"
            )
        action = action.reshape(self.action_space.shape)
        finite = bool(np.all(np.isfinite(action)))
        # A NaN/inf action never reaches the robot: it gets the robot's own safe action instead.
        self.robot.step(np.clip(action, -1.0, 1.0) if finite else self.robot.safe_action())
        self.elapsed_steps += 1
        reward, success, terminated, task_info = self.task.evaluate()
        truncated = not terminated and self.elapsed_steps >= self.task.max_episode_steps
        info = {
            "success": bool(success),
            "invalid_action": not finite,
            "randomization": dict(self.params),
            **task_info,
        }
        return self._observation(), float(reward), bool(terminated), bool(truncated), info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        cam = (
            self.cameras[0]
            if self.cameras
            else (self.robot_spec.cameras[0] if self.robot_spec.cameras else None)
        )
        if cam is None:
            raise ConfigError(self.robot_spec.source, "cameras", "at least one camera to render", "none")
        return self.render_camera(cam)

    def close(self):
        if getattr(self, "client", None) is not None:
            with contextlib.suppress(pybullet.error):
                self.client.disconnect()
            self.client = None

    # -- helpers -----------------------------------------------------------------------------
    def _observation(self) -> dict[str, np.ndarray]:
        state = np.concatenate([self.robot.observe(), self.task.observe()]).astype(np.float32, copy=False)
        obs = {"state": state}
        for cam in self.cameras:
            obs[cam.name] = self.render_camera(cam)
        return obs

    def render_camera(self, cam: Camera) -> np.ndarray:
        """One RGB frame (uint8 HxWx3) from a spec camera, CPU renderer, no shadows."""
        eye, target, up = np.asarray(cam.position), np.asarray(cam.target), np.asarray(cam.up)
        if cam.name in self._camera_jitter:
            offset, rot = self._camera_jitter[cam.name]
            eye, target, up = eye + offset, eye + offset + rot @ (target - eye), rot @ up
        if cam.link is not None:
            pos, quat = self.robot.link_pose(cam.link)
            rot = np.asarray(self.client.getMatrixFromQuaternion(quat)).reshape(3, 3)
            eye, target, up = pos + rot @ eye, pos + rot @ target, rot @ up
        view = self.client.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist())
        proj = self.client.computeProjectionMatrixFOV(cam.fov_deg, cam.width / cam.height, cam.near, cam.far)
        _, _, rgba, _, _ = self.client.getCameraImage(
            cam.width,
            cam.height,
            view,
            proj,
            shadow=0,
            renderer=pybullet.ER_TINY_RENDERER,
            flags=pybullet.ER_NO_SEGMENTATION_MASK,
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(cam.height, cam.width, 4)[..., :3].copy()


class Expert(ABC):
    """A scripted expert for one task, with privileged access to the twin's state.

    `noise` adds Gaussian action noise (std, in normalized action units) for diverse demos
    and near-miss data.
    """

    def __init__(self, env: TwinEnv, noise: float = 0.0, rng: np.random.Generator | None = None):
        self.env = env
        self.noise = noise
        self.rng = rng or np.random.default_rng(0)

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Called after every env reset."""

    @abstractmethod
    def plan(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The noiseless action in [-1, 1]."""

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action = self.plan(obs)
        if self.noise > 0:
            action = action + self.rng.normal(0.0, self.noise, size=action.shape)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
