"""The shield interface: bound one action given the latest state, and the fallback when commands stop."""

from __future__ import annotations

import numpy as np

from robot_rl.spec import Field, RobotSpec, field_slices


class Shield:
    """Bounds one action given the latest state; `fallback()` is the watchdog/stop action."""

    fallback_mode = "hold"

    def __init__(self, spec: RobotSpec, action_fields: list[Field], obs_fields: list[Field]):
        self.spec = spec
        self.action_slices = field_slices(action_fields)
        self.obs_slices = field_slices(obs_fields)
        self.action_size = sum(f.size for f in action_fields)

    def reset(self) -> None:
        """New episode."""

    #: which of the robot's own measurements beyond `state` the shield reads (callers skip the rest)
    uses_contact_force = False
    uses_position = False

    def filter(
        self,
        action: np.ndarray,
        state: np.ndarray,
        commanded: np.ndarray | None = None,
        contact_force: np.ndarray | None = None,
        position: np.ndarray | None = None,
    ) -> np.ndarray:
        """The action to send (may be the input).

        `contact_force`: force (N, base/world frame) the surroundings exert on the robot, from a
        force/torque sensor or the arm's external-wrench estimate; `position`: the robot's position
        (m, world frame) from odometry, for robots whose observation holds only an error to a target.
        Shields that do not use them ignore them.
        """
        return action

    def fallback(self, state: np.ndarray | None) -> np.ndarray:
        return np.zeros(self.action_size, dtype=np.float32)

    def repeat(self, last: np.ndarray) -> np.ndarray:
        """What "the last command still stands" means between commands (absolute commands: itself)."""
        return last

    @property
    def overriding(self) -> bool:
        """True while the shield has taken over from the policy (a recovery manoeuvre)."""
        return False
