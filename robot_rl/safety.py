"""The safety layer around an env: every action passes `controllers.safety_layer.SafetyLayer`.

`SafeEnv(env)` wraps any twin env (or a real robot's env with the same API): observations are
checked for NaN/inf and stamped, actions go through the e-stop, the NaN guard, the watchdog
and the robot's shield before they reach the robot. The clock is simulated time (policy steps
x policy period) unless the caller passes `now=` to `step_at`. `robot-rl train` and its
evaluation wrap the twin in it by default (`safety: false` opts out); info["action"] is the action
the robot was sent (the shield's or the fallback's where they acted), the one a transition
stores. The twin's contact force and position stand for the robot's force estimate and odometry
(the arm's force limit, the quadrotor's box).

info["safety"] is the layer's decision for the step ("ok", "shield", "estop", "fault", "watchdog",
"stale_sensor", "nan_action"; "nan_obs" is counted when a reading is rejected); `counts`
accumulates them for the run's metrics.
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


def contact_force(env: gym.Env) -> np.ndarray | None:
    """Force (N, world frame) the surroundings exert on the twin robot's links, summed over its
    contact points (normal and friction); None when the env has no PyBullet robot body.

    It stands for the arm's external-force estimate (a Franka's O_F_ext_hat_K, negated: libfranka
    counts the force the robot exerts as positive) or a wrist force/torque sensor on hardware.
    """
    robot = getattr(env.unwrapped, "robot", None)
    client, body = getattr(robot, "client", None), getattr(robot, "body", None)
    if client is None or body is None:
        return None
    total = np.zeros(3)
    for p in client.getContactPoints(bodyA=body):
        if p[1] == p[2]:
            continue  # self-contact: internal, not a load on the robot
        force = p[9] * np.asarray(p[7]) + p[10] * np.asarray(p[11]) + p[12] * np.asarray(p[13])
        total += force if p[1] == body else -force  # contactNormalOnB points from B to A
    return total


def odometry_position(env: gym.Env) -> np.ndarray | None:
    """The robot's position (m, world frame) where the twin has odometry (its true state), else None."""
    true_state = getattr(getattr(env.unwrapped, "robot", None), "true_state", None)
    return None if true_state is None else np.asarray(true_state()[0], dtype=np.float64)


def sent_action(info: dict[str, Any], asked: Any) -> np.ndarray:
    """The action the robot was sent for a step: the safety layer's (`info["action"]`) where the env
    runs behind it, else the one asked for. A transition stores this one."""
    return np.asarray(info.get("action", asked), dtype=np.float32)


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
        self.passed = 0
        self._obs: dict[str, np.ndarray] | None = None

    @property
    def robot_spec(self) -> Any:
        """The wrapped twin's robot spec (gymnasium wrappers forward no attributes)."""
        return self.env.unwrapped.robot_spec

    @property
    def counts(self) -> dict[str, int]:
        """Decisions so far by reason, "ok" (passed unchanged) included; all but "nan_obs" (rejected
        readings) sum to the steps taken."""
        return {"ok": self.passed, **self.layer.counts}

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
        shield = self.layer.shield
        decision = self.layer.command(
            action,
            now,
            commanded_target(self.env),
            controller_state=state,
            contact_force=contact_force(self.env) if shield.uses_contact_force else None,
            position=odometry_position(self.env) if shield.uses_position else None,
        )
        obs, reward, terminated, truncated, info = self.env.step(decision.action)
        self.passed += decision.reason == "ok"
        now = self.now = now + self.dt
        seen = obs_fault(obs) if obs_fault is not None else obs
        self.layer.observe(seen, now)
        self._obs = obs
        info = {
            **info,
            "safety": decision.reason,
            "estop": self.layer.estop.engaged,
            "fault": self.layer.fault.engaged,
            "action": decision.action,  # what the robot was sent: the transition's action
        }
        return obs, reward, terminated, truncated, info
