"""Recovery detectors: stuck, flipped or tumbling, out of workspace; each names its manoeuvre.

Pure numpy on positions, attitudes and rates the robot measures. `RecoveryMonitor` feeds every
detector once per policy step and returns the first `Trigger`: what happened, which recovery
manoeuvre answers it, and whether the episode ends (`terminate`: the state is a failure the
policy caused) or is cut short (`truncate`: the episode stops, no failure blamed on the last
action). Manoeuvres are the reset controllers of `controllers.resets` (arm home, quadrotor
land and take off, car back-up and realign) or a person for a car on its roof.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot_rl.controllers.safety import SafetyBox


@dataclass(frozen=True)
class Trigger:
    """A detector fired."""

    detector: str  # "stuck", "flipped", "tumbling", "out_of_workspace"
    manoeuvre: str  # "reset" (the robot's scripted reset) or "human"
    terminate: bool  # True: a failure state; False: truncate the episode
    detail: str = ""


class StuckDetector:
    """Stuck: the last `window` positions all lie within `radius_m` of their mean (FastRLAP: 30, 0.3 m).

    Only counts while the robot is commanded to move (`commanded_motion`), so waiting at a
    goal is not being stuck.
    """

    def __init__(self, window: int = 30, radius_m: float = 0.3):
        self.window, self.radius_m = window, radius_m
        self.positions: deque[np.ndarray] = deque(maxlen=window)

    def reset(self) -> None:
        self.positions.clear()

    def update(self, position: Sequence[float], commanded_motion: bool = True) -> Trigger | None:
        if not commanded_motion:
            self.positions.clear()
            return None
        self.positions.append(np.asarray(position, dtype=np.float64)[:2])
        if len(self.positions) < self.window:
            return None
        pts = np.array(self.positions)
        spread = float(np.max(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))
        if spread <= self.radius_m:
            return Trigger("stuck", "reset", False, f"moved within {spread:.2f} m over {self.window} steps")
        return None


class FlipDetector:
    """Flipped (tilt beyond `max_tilt_rad`, from attitude) or tumbling (|body rate| above `max_rate`)."""

    def __init__(self, max_tilt_rad: float, max_rate: float = 10.0, manoeuvre: str = "reset"):
        self.min_up_z = math.cos(max_tilt_rad)
        self.max_tilt_rad, self.max_rate, self.manoeuvre = max_tilt_rad, max_rate, manoeuvre

    def reset(self) -> None:  # stateless; kept for a uniform interface
        pass

    def update(self, up_z: float, body_rates: Sequence[float] = (0.0, 0.0, 0.0)) -> Trigger | None:
        """`up_z`: world z of the body z axis (cos of the tilt)."""
        if up_z < self.min_up_z:
            tilt = math.degrees(math.acos(max(-1.0, min(1.0, up_z))))
            return Trigger("flipped", self.manoeuvre, True, f"tilted {tilt:.0f} deg")
        rate = math.sqrt(sum(float(w) ** 2 for w in body_rates))
        if rate > self.max_rate:
            return Trigger("tumbling", self.manoeuvre, True, f"body rate {rate:.1f} rad/s")
        return None


class WorkspaceDetector:
    """Out of workspace: the position left the safety box grown by `tolerance_m`."""

    def __init__(self, box: SafetyBox, tolerance_m: float = 0.0):
        self.box, self.tolerance_m = box, tolerance_m

    def reset(self) -> None:
        pass

    def update(self, position: Sequence[float]) -> Trigger | None:
        """`position`: x, y (ground robots) or x, y, z, world frame."""
        p = np.asarray(position, dtype=np.float64)
        n, tol = len(p), self.tolerance_m
        if np.all(p >= self.box.low[:n] - tol) and np.all(p <= self.box.high[:n] + tol):
            return None
        return Trigger("out_of_workspace", "reset", False, f"at {np.round(position, 2).tolist()}")


class RecoveryMonitor:
    """The detectors that apply to a robot, from its spec; `update` once per policy step."""

    def __init__(
        self,
        spec,
        stuck: StuckDetector | None = None,
        flip: FlipDetector | None = None,
        workspace: WorkspaceDetector | None = None,
    ):
        self.spec = spec
        self.stuck, self.flip, self.workspace = stuck, flip, workspace
        self.counts: dict[str, int] = {}

    @classmethod
    def from_spec(cls, spec) -> RecoveryMonitor:
        """Arms: workspace. Quadrotors: flip/tumble (land and take off) and workspace. Cars: stuck,
        flip (a person rights the car) and workspace."""
        box = SafetyBox.from_spec(spec.safety)
        actions = {f.name for f in spec.action}
        tilt = spec.safety.max_tilt_rad
        if "throttle" in actions:
            return cls(
                spec, StuckDetector(), FlipDetector(tilt or 1.0, math.inf, "human"), WorkspaceDetector(box)
            )
        if tilt is not None:
            return cls(spec, None, FlipDetector(tilt, 15.0, "reset"), WorkspaceDetector(box))
        return cls(spec, None, None, WorkspaceDetector(box, 0.01))

    def reset(self) -> None:
        for d in (self.stuck, self.flip, self.workspace):
            if d is not None:
                d.reset()

    def update(
        self,
        position: Sequence[float],
        up_z: float = 1.0,
        body_rates: Sequence[float] = (0.0, 0.0, 0.0),
        commanded_motion: bool = True,
    ) -> Trigger | None:
        trigger = None
        if self.flip is not None:
            trigger = self.flip.update(up_z, body_rates)
        if trigger is None and self.workspace is not None:
            trigger = self.workspace.update(position)
        if trigger is None and self.stuck is not None:
            trigger = self.stuck.update(position, commanded_motion)
        if trigger is not None:
            self.counts[trigger.detector] = self.counts.get(trigger.detector, 0) + 1
        return trigger
