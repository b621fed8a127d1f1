"""A robot, one interface (in the shape of LeRobot's `Robot`): `connect`, `observe`, `act`,
`disconnect`, and the episode hooks `reset` and `feedback`. `robot_rl.robots.env.RobotEnv` is the
one gymnasium env over any of them.

Implementations:
- `TwinInProcess` (here): the PyBullet twin in this process, behind the safety layer by default
  (`robot_rl.safety.SafeEnv`, the code the robot's controller node runs).
- `robot_rl.ros.robot.RosRobot`: a robot over ROS 2 (the twin node or hardware): the driver's state
  topics through the robot's adapter, actions to the controller node (the robot-side safety layer).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot_rl.spec import Field, RobotSpec


@dataclass
class Feedback:
    """What the task says about the newest observation."""

    reward: float = 0.0
    success: bool = False
    terminated: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class Robot(ABC):
    """One robot (a spec name or path) doing one task, seen at its policy rate, acting in an action
    mode ("": the default, the layout policies are trained in), with cameras from its spec."""

    def __init__(self, robot: str, task: str, action_mode: str = "", cameras: Sequence[str] = ()):
        from robot_rl.robots import adapter
        from robot_rl.spec import load_robot_spec

        self.spec: RobotSpec = load_robot_spec(robot)
        self.task, self.cameras = task, tuple(cameras)
        self.spec.task(task)  # an unknown task: one line naming the robot's tasks
        self.adapter = adapter(self.spec, action_mode)

    @property
    def observation_fields(self) -> list[Field]:
        """The state vector's layout: the robot's fields, then the task's (the spec's)."""
        return [*self.spec.observation, *self.spec.task(self.task).observation]

    @property
    def action_fields(self) -> list[Field]:
        """The action layout the robot takes (its action mode's)."""
        return list(self.adapter.fields)

    @property
    def max_episode_steps(self) -> int:
        return 100

    @abstractmethod
    def connect(self) -> None:
        """Open the robot (build the twin, join the ROS graph and wait for its state)."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close it; safe to call twice."""

    @abstractmethod
    def reset(self, seed: int | None = None) -> dict[str, Any]:
        """Put the robot and the task at a start state; returns the reset's info."""

    @abstractmethod
    def observe(self) -> dict[str, np.ndarray]:
        """The newest observation: `state` (float32, `observation_fields`) and one HxWx3 uint8 image per
        camera; raises RobotRLError naming what is missing when no fresh observation comes."""

    @abstractmethod
    def act(self, action: np.ndarray) -> np.ndarray:
        """Send a normalized action; returns the action the robot was sent (the safety layer's)."""

    @abstractmethod
    def feedback(self) -> Feedback:
        """Reward, success and termination for the newest observation."""

    def wait(self, period_s: float) -> None:  # noqa: B027 - a synchronous robot has advanced already
        """Block until the robot's state is `period_s` newer than the last observation (a real-time
        robot is paced by its own clock: the stamps of its state)."""

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.disconnect()


class TwinInProcess(Robot):
    """The PyBullet twin in this process: `act` steps it one policy period. `safety` (default: the
    spec's `safety.train_behind_layer`) runs it behind the safety layer, as the robot's controller
    node does; `twin_options` are `make_twin` keyword arguments (task_config, randomize, ...)."""

    def __init__(
        self,
        robot: str,
        task: str,
        action_mode: str = "",
        cameras: Sequence[str] = (),
        safety: bool | None = None,
        **twin_options: Any,
    ):
        super().__init__(robot, task, action_mode, cameras)
        self._safety = self.spec.safety.train_behind_layer if safety is None else safety
        self._options = twin_options
        self.env: Any = None
        self._last: tuple[dict[str, np.ndarray], Feedback] | None = None

    @property
    def max_episode_steps(self) -> int:
        return self.env.unwrapped.task.max_episode_steps if self.env is not None else 100

    def connect(self) -> None:
        if self.env is not None:
            return
        from robot_rl.safety import SafeEnv
        from robot_rl.sim import make_twin

        env = make_twin(
            self.spec.name,
            self.task,
            cameras=self.cameras,
            robot_options=self.adapter.twin_options(),
            **self._options,
        )
        self.env = SafeEnv(env) if self._safety else env

    def disconnect(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        obs, info = self.env.reset(seed=seed)
        self._last = (obs, Feedback(info=info))
        return info

    def observe(self) -> dict[str, np.ndarray]:
        return self._last[0]

    def act(self, action: np.ndarray) -> np.ndarray:
        from robot_rl.safety import sent_action

        obs, reward, terminated, _, info = self.env.step(np.asarray(action, np.float32))
        self._last = (obs, Feedback(float(reward), bool(info.get("success")), bool(terminated), info))
        return sent_action(info, action)

    def feedback(self) -> Feedback:
        return self._last[1]
