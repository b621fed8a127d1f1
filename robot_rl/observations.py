"""Observations from timestamped sensor inputs, laid out as the robot spec says.

The ROS actor node feeds message fields in here (`update` per state field, `image` per camera);
`build` assembles the env-style observation dict ({"state": float32 vector, <camera>: uint8
HxWx3}) that the policy and the learner see in the twin. An input older than the spec's
`safety.sensor_max_age_s` counts as missing, a non-finite value or a wrongly sized image is
refused with one clear sentence, so a bad sensor never reaches the policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.spec import RobotSpec


class InputError(RobotRLError):
    """A sensor input that must not reach the policy (non-finite, wrong size)."""


def check_finite(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    """`values` as a float64 array, or InputError naming `what` when any entry is NaN or inf."""
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"non-finite value in {what}: {np.round(arr, 4).tolist()}")
    return arr


class ObservationBuilder:
    """Latest value and stamp of every state field and camera; builds observations from them.

    Fields the robot's driver does not publish (e.g. `last_action`, the Crazyflie's `pos_error`
    target) are set by the caller with `update` like any other, stamped when set. `task_fields`
    ((name, size) pairs, the task's observation) follow the robot's fields in the state vector, as
    in the twin; they may have their own age limit `task_max_age_s` (a perception node or a goal
    publisher may run slower than the robot's driver). `only` keeps a subset of the robot's fields.
    """

    def __init__(
        self,
        spec: RobotSpec,
        cameras: Sequence[str] = (),
        max_age_s: float | None = None,
        task_fields: Sequence[tuple[str, int]] = (),
        task_max_age_s: float | None = None,
        only: Sequence[str] | None = None,
    ):
        self.spec = spec
        self.max_age_s = spec.safety.sensor_max_age_s if max_age_s is None else max_age_s
        # `only`: the robot fields a node needs (the controller: what the driver measures)
        self.fields = {f.name: f.size for f in spec.observation if only is None or f.name in only}
        for name, size in task_fields:
            if name in self.fields:
                raise InputError(f"task field '{name}' is also a {spec.name} state field")
            self.fields[name] = int(size)
        task_age = task_max_age_s or self.max_age_s
        task_names = {name for name, _ in task_fields}
        self.max_ages = {name: task_age if name in task_names else self.max_age_s for name in self.fields}
        self.cameras = {name: spec.camera(name) for name in cameras}
        self._values: dict[str, np.ndarray] = {}
        self._stamps: dict[str, float] = {}
        self._since = -np.inf

    @property
    def state_size(self) -> int:
        return sum(self.fields.values())

    def restart(self, since_s: float) -> None:
        """Count inputs stamped before `since_s` as missing (a reset: they show the old episode)."""
        self._since = float(since_s)

    def update(
        self, name: str, values: Sequence[float] | np.ndarray, stamp_s: float, source: str = ""
    ) -> None:
        """Set a state field (checked: known name, size, finite)."""
        if name not in self.fields:
            raise InputError(f"'{name}' is not an observation field of {self.spec.name}: {list(self.fields)}")
        arr = check_finite(values, f"{source or name} ({name})").reshape(-1)
        if arr.size != self.fields[name]:
            raise InputError(
                f"{source or name}: {name} has {arr.size} values, the spec says {self.fields[name]}"
            )
        self._values[name] = arr.astype(np.float32)
        self._stamps[name] = float(stamp_s)

    def image(self, camera: str, frame: np.ndarray, stamp_s: float, source: str = "") -> None:
        """Set a camera frame (uint8 HxWx3, the spec camera's size)."""
        if camera not in self.cameras:
            raise InputError(f"camera '{camera}' is not used by this actor (cameras: {list(self.cameras)})")
        cam = self.cameras[camera]
        frame = np.asarray(frame)
        if frame.shape != (cam.height, cam.width, 3) or frame.dtype != np.uint8:
            raise InputError(
                f"image on {source or camera} is {'x'.join(map(str, frame.shape))} {frame.dtype}; the "
                f"{self.spec.name} spec wants {cam.height}x{cam.width}x3 uint8 for camera '{camera}': "
                "set the camera node's width/height/crop to match"
            )
        self._values[camera] = frame
        self._stamps[camera] = float(stamp_s)

    def missing(self, now_s: float) -> list[str]:
        """Inputs with no value, none since `restart`, or older than their age limit at `now_s` (in
        observation order, each as `name (why)`)."""
        out = []
        for name in [*self.fields, *self.cameras]:
            why = self.why_missing(name, now_s)
            if why:
                out.append(f"{name} ({why})")
        return out

    def latest(self, name: str, now_s: float) -> np.ndarray | None:
        """The newest value of one state field or camera, or None when it is missing at `now_s`."""
        return None if self.why_missing(name, now_s) else self._values[name]

    def why_missing(self, name: str, now_s: float) -> str:
        """Why a state field or camera is missing at `now_s` ('' when it is there and fresh)."""
        stamp = self._stamps.get(name)
        if stamp is None:
            return "never received"
        if stamp < self._since:
            return "none since the reset"
        if now_s - stamp > self.max_ages.get(name, self.max_age_s):
            return f"{1000 * (now_s - stamp):.0f} ms old"
        return ""

    def oldest_stamp(self) -> float:
        return min(self._stamps.values()) if self._stamps else float("nan")

    def stamp(self, name: str) -> float:
        """The stamp of a field's newest value (nan before the first)."""
        return self._stamps.get(name, float("nan"))

    def build(self, now_s: float) -> dict[str, np.ndarray] | None:
        """The observation at `now_s`, or None while any input is missing or stale."""
        if self.missing(now_s):
            return None
        obs = {"state": np.concatenate([self._values[name] for name in self.fields]).astype(np.float32)}
        for name in self.cameras:
            obs[name] = self._values[name]
        return obs
