"""Between reset-free episodes (`robot_rl.practice`): what puts the scene right without a person.

After each episode the arm goes home (`ArmReset`). The cube stays where the policy left it: that is
the other direction's start. Three cases are exceptions, checked in this order:

1. `outside`: the cube lies beyond the workspace (with a tray: past its rim). The robot fetches it
   into the source bin (`CubeReset`, when `reach_half` is on); a person puts it back only when that
   fails, the one thing practice must avoid (`hand_resets`).
2. `stuck`: the policy left the cube untouched `stuck_episodes` times in a row. The robot carries
   it into the source bin, so practice does not stall on a spot no policy learns from.
3. `far`: the cube lies farther than `reach_half` (in x or y) from both bins' centres, near the
   table's edge, where the next attempt tends to push it out of reach. The robot brings it back first.

Every reset is reported to the run's `ResetSupervisor`; `log` writes one event line per cube
reset and hand reset, `spend` counts the reset's steps as simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from robot_rl.controllers.resets import ArmReset, CubeReset, ResetSupervisor, run_reset

#: a two-bin task's directions: forward (bin A to B) and backward
DIRECTIONS = ("forward", "backward")


class BetweenEpisodes:
    """The between-episodes resets of a two-bin task (panda pick_place) and their counts."""

    def __init__(
        self,
        env: Any,
        rng: np.random.Generator,
        supervisor: ResetSupervisor,
        log: Callable[..., None],
        spend: Callable[[int], None],
        *,
        workspace: tuple[list[float], list[float]],
        arm_reset: bool = True,
        stuck_episodes: int = 0,
        reach_half: float = 0.0,
    ):
        """`workspace`: low and high (x, y) corners of where the arm reaches the cube on a task
        without a tray; the other options as `PracticeConfig`'s fields of the same names."""
        self.env, self.rng, self.supervisor, self.log, self.spend = env, rng, supervisor, log, spend
        self.arm_reset, self.stuck_episodes, self.reach_half = arm_reset, stuck_episodes, reach_half
        self.workspace = workspace
        self.hand_resets = 0
        self.cube_resets = 0  # scripted cube resets, whatever the reason
        self.still = 0  # failed episodes in a row that left the cube where it was (within 1 cm)

    @property
    def task(self) -> Any:
        return self.env.unwrapped.task

    def after(
        self, direction: str, obs: dict[str, np.ndarray], cube_start: np.ndarray, success: bool
    ) -> None:
        """Put the scene right after `direction`'s episode, which started with the cube at `cube_start`
        (x, y) and ended in `obs`."""
        if self.arm_reset:
            self._run(ArmReset(), obs)
        moved = np.linalg.norm(self.task.cube_pose()[0][:2] - cube_start) >= 0.01
        self.still = 0 if success or moved else self.still + 1
        if not self.in_workspace():
            if not (self.reach_half and self.fetch(direction, "outside")):
                self.hand_resets += 1
                self.log("hand_reset", direction)
                self.task.place_cube(self.rng, self.task.bins(str(self.rng.choice(DIRECTIONS)))[0])
        elif self.stuck_episodes and self.still >= self.stuck_episodes:
            self.fetch(direction, "stuck")
        elif self.reach_half and self.far_from_the_bins():
            self.fetch(direction, "far")

    def in_workspace(self) -> bool:
        """Whether the cube lies where the arm can reach it: inside the tray's rim, when the task has
        one, else inside `workspace` (low and high (x, y) corners)."""
        xy = self.task.cube_pose()[0][:2]
        tray = getattr(self.task.config, "tray", None)
        low, high = (tray[:2], tray[2:]) if tray else self.workspace
        return bool(np.all(xy >= low) and np.all(xy <= high))

    def far_from_the_bins(self) -> bool:
        xy = self.task.cube_pose()[0][:2]
        return all(np.abs(xy - centre).max() > self.reach_half for centre in self.task.bins())

    def fetch(self, direction: str, reason: str) -> bool:
        """The robot carries the cube into `direction`'s source bin; True when it is there afterwards."""
        task = self.task
        self.log("cube_reset", direction, reason=reason)
        low, high = task.drop_zone(direction)
        report = self._run(CubeReset(spot_low=low, spot_high=high))
        self.cube_resets += 1
        self.still = 0
        return bool(report.success and task.in_bin(task.bins(direction)[0]))

    def _run(self, controller: Any, obs: dict[str, np.ndarray] | None = None) -> Any:
        report = run_reset(self.env, controller, self.rng, obs)
        self.supervisor.record(report)
        self.spend(report.steps)
        return report

    # -- checkpoint --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        return {"hand_resets": self.hand_resets, "cube_resets": self.cube_resets, "still": self.still}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.hand_resets = state["hand_resets"]
        self.cube_resets, self.still = state.get("cube_resets", 0), state.get("still", 0)
