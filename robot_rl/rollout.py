"""One episode, step by step: the loop demonstrations, evaluation and reward-frame collection share.

`episode(env, act, seed)` resets the env (seeded), runs `on_reset` (a scripted expert's per-episode
state, or a reset that moves the robot and returns the observation to start from), then yields one
`Step` per policy step until the episode is terminated or truncated. The action a step records is
the one the robot was sent: the safety layer's (`info["action"]`, `robot_rl.safety.SafeEnv`) where
it acted, else the one `act` returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl.safety import sent_action


@dataclass
class Step:
    """One policy step: the observation acted on, the action sent, and what followed."""

    obs: dict[str, np.ndarray]
    action: np.ndarray
    reward: float
    next_obs: dict[str, np.ndarray]
    terminated: bool
    truncated: bool
    info: dict[str, Any]
    index: int  # 1 for the episode's first step

    @property
    def done(self) -> bool:
        return bool(self.terminated or self.truncated)

    @property
    def success(self) -> bool:
        return bool(self.info.get("success", False))


def episode(
    env: Any,
    act: Callable[[dict[str, np.ndarray]], Any],
    seed: int | None = None,
    on_reset: Callable[[], dict[str, np.ndarray] | None] | None = None,
) -> Iterator[Step]:
    """The steps of one episode of `act` in `env` (see the module docstring)."""
    obs, _ = env.reset(seed=seed)
    if on_reset is not None:
        obs = on_reset() or obs
    index = 0
    while True:
        action = np.asarray(act(obs), dtype=np.float32)
        next_obs, reward, terminated, truncated, info = env.step(action)
        index += 1
        sent = sent_action(info, action)
        yield Step(obs, sent, float(reward), next_obs, bool(terminated), bool(truncated), info, index)
        if terminated or truncated:
            return
        obs = next_obs
