"""Train on learned reward: a gymnasium wrapper that swaps the task's reward and success flag for a
reward model's decision, keeping the true values in `info` for auditing."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl.reward.base import RewardModel


class LearnedReward(gym.Wrapper):
    """reward = 1 when the model says success, else 0 (SERL's sparse classifier reward);
    info["success"] = the model's decision. The task's own values move to info["true_reward"] and
    info["true_success"], and info["reward_probability"] holds the calibrated probability.

    The model's cameras are rendered from the twin when the env was made without them, and are
    not added to the observation, so a state-only policy trains unchanged on image reward.
    `terminate_on_success` ends the episode on the model's success (as the real robot would);
    the twin's own termination on true success is passed through as well, since the physics of
    the episode has ended either way (make the twin with task_config terminate_on_success=False
    to let only the model end episodes).
    """

    def __init__(self, env: gym.Env, model: RewardModel, terminate_on_success: bool = True):
        super().__init__(env)
        self.model = model
        self.terminate_on_success = terminate_on_success
        twin = env.unwrapped
        present = (
            set(env.observation_space.spaces) if isinstance(env.observation_space, gym.spaces.Dict) else set()
        )
        self._render = {}
        for cam in model.cameras:
            if cam not in present:
                spec = getattr(twin, "robot_spec", None)
                if spec is None or not hasattr(twin, "render_camera"):
                    from robot_rl.errors import RobotRLError

                    raise RobotRLError(
                        f"the env observation has no '{cam}' image and cannot render one: "
                        f"make it with cameras={model.cameras}"
                    )
                self._render[cam] = spec.camera(cam)
        self.model_successes = 0

    def _frames(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        twin = self.env.unwrapped
        return {
            cam: (obs[cam] if cam not in self._render else twin.render_camera(self._render[cam]))[None]
            for cam in self.model.cameras
        }

    def step(self, action) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        p, ok = self.model.decide(self._frames(obs), obs.get("state"))
        success = bool(np.asarray(ok).reshape(-1)[0])
        info = {
            **info,
            "true_reward": float(reward),
            "true_success": bool(info.get("success", False)),
            "reward_probability": float(p[0]),
            "success": success,
        }
        self.model_successes += success
        terminated = bool(terminated or (success and self.terminate_on_success))
        return obs, float(success), terminated, truncated, info
