"""The safety layer around an env: every action passes `controllers.safety_layer.SafetyLayer`.

`SafeEnv(env)` wraps any twin env (or a real robot's env with the same API): observations are
checked for NaN/inf and stamped, actions go through the e-stop, the NaN guard, the watchdog
and the robot's shield before they reach the robot. The clock is simulated time (policy steps
x policy period) unless the caller passes `now=` to `step_at`. Off by default: nothing wraps an
env unless asked, so training runs are unchanged.

info["safety"] is the layer's decision for the step ("ok", "shield", "estop", "watchdog",
"stale_sensor", "nan_obs", "nan_action"); `counts` accumulates them for the run's metrics.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl.controllers.safety_layer import SafetyLayer


def commanded_target(env: gym.Env) -> np.ndarray | None:
    """The arm's commanded TCP target when the env exposes its controller (the twin does)."""
    controller = getattr(getattr(env.unwrapped, "robot", None), "controller", None)
    ref = getattr(controller, "position_ref", None)
    return None if ref is None else np.asarray(ref, dtype=np.float64)


class SafeEnv(gym.Wrapper):
    """An env whose actions go through the safety layer built from its robot spec."""

    def __init__(self, env: gym.Env, layer: SafetyLayer | None = None):
        super().__init__(env)
        twin = env.unwrapped
        spec = twin.robot_spec
        self.layer = layer or SafetyLayer(
            spec, action_fields=list(twin.action_layout), obs_fields=list(twin.obs_layout)
        )
        self.dt = spec.policy_dt
        self.now = 0.0
        self._obs: dict[str, np.ndarray] | None = None

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.layer.counts)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self.layer.reset(self.now)
        self.layer.observe(obs, self.now)
        self._obs = obs
        return obs, info

    def step(self, action):
        return self.step_at(action, self.now)

    def step_at(self, action: np.ndarray | None, now: float, obs_fault: Any = None):
        """Command `action` at time `now` (None: no fresh command); the next observation is
        stamped one policy period later. `obs_fault(obs) -> obs` corrupts the observation the
        layer sees (tests and the adversarial benchmark)."""
        # The twin's own state stands for the low-level controller's sensors (see SafetyLayer.command).
        state = None if self._obs is None else self._obs["state"]
        decision = self.layer.command(action, now, commanded_target(self.env), controller_state=state)
        obs, reward, terminated, truncated, info = self.env.step(decision.action)
        now = self.now = now + self.dt
        seen = obs_fault(obs) if obs_fault is not None else obs
        self.layer.observe(seen, now)
        self._obs = obs
        info = {**info, "safety": decision.reason, "estop": self.layer.estop.engaged}
        return obs, reward, terminated, truncated, info
