"""The one rollout: every loop that steps an env or a robot builds its steps here.

`episode(env, act, seed)` resets the env (seeded), runs `on_reset` (a scripted expert's per-episode
state, or a reset that moves the robot and returns the observation to start from), then yields one
`Step` per policy step until the episode is terminated or truncated. `steps(env, act, seed)` yields
the steps of episode after episode (episode k seeded `seed + k`), for loops with a step budget:
training and the twin actors. Both are generators, so a caller does its own work (updates,
evaluations, episode-end hooks) between steps; the next episode's reset happens when its first
step is asked for.

`Recorder` turns "this action was sent in this observation" plus "this followed" into the `Step`;
`episode()` builds every step through it, and so does the event-driven ROS actor, whose timer sends
an action per tick and learns what followed at the next one. The action a step records is the one
the robot was sent: the safety layer's (`info["action"]`, `robot_rl.safety.SafeEnv`) where it
acted, else the one asked for (`robot_rl.safety.sent_action`).

Demonstrations, evaluation, reward-frame collection, `robot-rl train`, the twin actors, practice
and the ROS actor all step through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import numpy as np

from robot_rl.safety import sent_action

Act = Callable[[dict[str, np.ndarray]], Any]


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
    intervention: bool = False  # a person or a scripted expert chose the action (HIL-SERL)

    @property
    def done(self) -> bool:
        return bool(self.terminated or self.truncated)

    @property
    def success(self) -> bool:
        return bool(self.info.get("success", False))


class Recorder:
    """The steps of an episode as they happen: `sent(obs, action)` when an action goes to the robot,
    then `observed(next_obs, reward, terminated, truncated, info)` returns the `Step`. The step
    index restarts after a step that ends the episode."""

    def __init__(self) -> None:
        self.index = 0  # steps observed in the current episode
        self._sent: tuple[dict[str, np.ndarray], np.ndarray, bool] | None = None

    @property
    def pending(self) -> bool:
        """An action was sent and what followed it is not recorded yet."""
        return self._sent is not None

    def sent(self, obs: dict[str, np.ndarray], action: Any, intervention: bool = False) -> None:
        self._sent = (obs, np.asarray(action, dtype=np.float32), bool(intervention))

    def observed(
        self,
        next_obs: dict[str, np.ndarray],
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any] | None = None,
    ) -> Step:
        if self._sent is None:
            raise RuntimeError("Recorder.observed before an action was sent")
        (obs, asked, intervention), self._sent = self._sent, None
        info = {} if info is None else info
        self.index += 1
        step = Step(
            obs,
            sent_action(info, asked),
            float(reward),
            next_obs,
            bool(terminated),
            bool(truncated),
            info,
            self.index,
            intervention,
        )
        if step.done:
            self.index = 0
        return step


def episode(
    env: Any,
    act: Act,
    seed: int | None = None,
    on_reset: Callable[[], dict[str, np.ndarray] | None] | None = None,
    options: dict[str, Any] | None = None,
) -> Iterator[Step]:
    """The steps of one episode of `act` in `env` (see the module docstring). `options` go to
    `env.reset` (practice: `{"keep_scene": True}`). When `act` has an `intervening` attribute, it
    says whether the action it just returned came from a person or an expert (the step's flag)."""
    obs, _ = env.reset(seed=seed) if options is None else env.reset(seed=seed, options=options)
    if on_reset is not None:
        obs = on_reset() or obs
    recorder = Recorder()
    while True:
        action = np.asarray(act(obs), dtype=np.float32)
        recorder.sent(obs, action, getattr(act, "intervening", False))
        next_obs, reward, terminated, truncated, info = env.step(action)
        step = recorder.observed(next_obs, reward, terminated, truncated, info)
        yield step
        if step.done:
            return
        obs = next_obs


def steps(
    env: Any,
    act: Act,
    seed: int,
    first_episode: int = 0,
    on_reset: Callable[[], dict[str, np.ndarray] | None] | None = None,
) -> Iterator[Step]:
    """Episode after episode of `act` in `env` without end: episode k (from `first_episode`, the
    count a resumed run starts at) seeded `seed + k`. The caller stops when its budget is spent."""
    for k in count(first_episode):
        yield from episode(env, act, seed + k, on_reset)
