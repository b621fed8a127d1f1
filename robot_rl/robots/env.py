"""RobotEnv: the one gymnasium env over any robot (robot_rl.robots.interface.Robot) and task.

The same class runs the twin in this process, the twin node over ROS and hardware over ROS: the
robot differs, the env does not. Each step sends the action, lets the robot run one policy period
(a real-time robot: until its state is stamped one period later, so the policy keeps the robot's
clock, not this process's) and observes. `info["action"]` is the action the robot was sent.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from robot_rl.robots.interface import Robot


class RobotEnv(gym.Env):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, robot: Robot, max_episode_steps: int | None = None):
        self.robot = robot
        robot.connect()
        spec = robot.spec
        self.robot_spec = spec
        self.max_episode_steps = max_episode_steps or robot.max_episode_steps
        state_size = sum(f.size for f in robot.observation_fields)
        spaces: dict[str, gym.Space] = {
            "state": gym.spaces.Box(-np.inf, np.inf, shape=(state_size,), dtype=np.float32)
        }
        for name in robot.cameras:
            cam = spec.camera(name)
            spaces[name] = gym.spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        size = sum(f.size for f in robot.action_fields)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(size,), dtype=np.float32)
        self.period = 1.0 / spec.rates.policy_hz
        self.elapsed_steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        info = self.robot.reset(seed=seed)
        self.elapsed_steps = 0
        obs = self.robot.observe()
        return obs, {"success": False, **info}

    def step(self, action: np.ndarray):
        action = np.clip(np.nan_to_num(np.asarray(action, np.float32), nan=0.0), -1.0, 1.0)
        sent = self.robot.act(action)
        self.robot.wait(self.period)
        obs = self.robot.observe()
        feedback = self.robot.feedback()
        self.elapsed_steps += 1
        truncated = self.elapsed_steps >= self.max_episode_steps and not feedback.terminated
        info = {**feedback.info, "success": feedback.success, "action": sent}
        return obs, feedback.reward, feedback.terminated, truncated, info

    def close(self) -> None:
        self.robot.disconnect()
