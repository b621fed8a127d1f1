"""Robot spec: the single source of truth for a robot's interface (config/robots/<robot>.yaml).

The twin, the ROS bridge, the controllers and the C exporter all read it: observation layout
with units, action layout and physical bounds, rates, safety limits, cameras, domain
randomization ranges, and the robot's physical model and control-law gains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robot_rl.config import from_dict, load_yaml, param, stable_hash, to_dict
from robot_rl.errors import ConfigError, Described
from robot_rl.paths import config_dir


@dataclass(kw_only=True)
class Field:
    """One named slice of the observation or action vector."""

    name: str = param(doc="name in the robot's terms, e.g. ee_pos, body_rates")
    size: int = param(1, doc="number of entries", gt=0)
    unit: str = param("", doc="physical unit of the entries (SI unless said)")
    doc: str = param("", doc="what the entries are")
    low: list[float] | None = param(None, doc="physical value that action -1 maps to (actions only)")
    high: list[float] | None = param(None, doc="physical value that action +1 maps to (actions only)")
    hemisphere: list[float] | None = param(
        None,
        doc="quaternion fields (x y z w): q and -q are one rotation; the observation takes the sign with "
        "q . hemisphere >= 0. Pick the working orientation: a convention such as w >= 0 flips the sign "
        "at every small wobble of an orientation with w near 0 (a gripper pointing down)",
    )

    def validate(self, source: str, prefix: str) -> None:
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if value is not None and len(value) != self.size:
                raise ConfigError(source, f"{prefix}.{bound}", f"{self.size} values (size)", value)
        if self.hemisphere is not None and (self.size != 4 or len(self.hemisphere) != 4):
            raise ConfigError(
                source, f"{prefix}.hemisphere", "4 values, on a 4-entry quaternion field", self.hemisphere
            )

    def canonical(self, values: Any) -> np.ndarray:
        """`values` with the field's quaternion sign (unchanged without `hemisphere`)."""
        arr = np.asarray(values, dtype=np.float64)
        if self.hemisphere is not None and float(np.dot(arr, self.hemisphere)) < 0.0:
            return -arr
        return arr


def _cube_rotations() -> np.ndarray:
    """The 24 rotations that map a cube onto itself, as unit quaternions (x y z w), each with its
    negative: one component +/-1; all four +/-1/2; two components +/-1/sqrt(2)."""
    out = []
    for i in range(4):
        for sign in (1.0, -1.0):
            q = np.zeros(4)
            q[i] = sign
            out.append(q)
    out += [0.5 * np.array(signs) for signs in np.array(np.meshgrid(*[[1.0, -1.0]] * 4)).T.reshape(-1, 4)]
    for i in range(4):
        for j in range(i + 1, 4):
            for si in (1.0, -1.0):
                for sj in (1.0, -1.0):
                    q = np.zeros(4)
                    q[i], q[j] = si * np.sqrt(0.5), sj * np.sqrt(0.5)
                    out.append(q)
    return np.array(out)


_CUBE_ROTATIONS = _cube_rotations()


def canonical_cube_quat(quat: Any, reference: Any = (0.0, 0.0, 0.0, 1.0)) -> np.ndarray:
    """The orientation (x y z w) of a cube-shaped object, made unique: of the 24 rotations that
    look the same (and the two signs of each), the one nearest `reference`, with a non-negative
    dot product. A cube's raw quaternion is 48-valued: a cube pushed past 45 degrees of yaw, or
    tipped onto another face, would otherwise show a policy an orientation it never saw. Within
    45 degrees of `reference` about every axis the raw value is kept (sign aside)."""
    q = np.asarray(quat, dtype=np.float64)
    g = _CUBE_ROTATIONS
    # q (x) g for every symmetry g: the same cube seen through each of its own rotations
    w = q[3] * g[:, 3] - g[:, :3] @ q[:3]
    v = q[3] * g[:, :3] + g[:, 3:4] * q[:3] + np.cross(q[:3], g[:, :3])
    candidates = np.concatenate([v, w[:, None]], axis=1)
    dots = candidates @ np.asarray(reference, dtype=np.float64)
    best = int(np.argmax(dots))  # the negatives are in the set too, so the best dot is >= 0
    return candidates[best]


@dataclass(kw_only=True)
class Rates:
    """Loop rates. Physics, controller and policy rates must divide each other."""

    policy_hz: int = param(doc="policy steps per second", unit="Hz", gt=0)
    control_hz: int = param(doc="control-law updates per second", unit="Hz", gt=0)
    physics_hz: int = param(doc="twin physics steps per second", unit="Hz", gt=0)
    state_hz: int | None = param(
        None,
        doc="state publication rate of the robot's driver (the twin node publishes at it)",
        unit="Hz",
        gt=0,
    )

    def validate(self, source: str, prefix: str) -> None:
        key = prefix or "rates"
        if self.control_hz % self.policy_hz:
            raise ConfigError(
                source,
                key,
                f"control_hz a whole multiple of policy_hz ({self.policy_hz} Hz)",
                Described(f"{self.control_hz} Hz"),
            )
        if self.physics_hz % self.control_hz:
            raise ConfigError(
                source,
                key,
                f"physics_hz a whole multiple of control_hz ({self.control_hz} Hz)",
                Described(f"{self.physics_hz} Hz"),
            )

    @property
    def control_substeps(self) -> int:
        """Control-law updates per policy step."""
        return self.control_hz // self.policy_hz

    @property
    def physics_substeps(self) -> int:
        """Physics steps per control-law update."""
        return self.physics_hz // self.control_hz


@dataclass(kw_only=True)
class Camera:
    """A camera rendered by the twin (and published by the camera node on hardware)."""

    name: str = param(doc="camera name: observation key and topic suffix")
    width: int = param(128, unit="px", gt=0)
    height: int = param(128, unit="px", gt=0)
    fov_deg: float = param(60.0, doc="vertical field of view", unit="deg", gt=0, lt=180)
    link: str | None = param(None, doc="robot link the camera is fixed to (None: fixed in the world)")
    position: list[float] = param(
        [0.0, 0.0, 1.0], doc="eye position (world, or link frame if link set)", unit="m"
    )
    target: list[float] = param([0.0, 0.0, 0.0], doc="look-at point, same frame as position", unit="m")
    up: list[float] = param([0.0, 0.0, 1.0], doc="up vector, same frame as position")
    near: float = param(0.01, unit="m", gt=0)
    far: float = param(5.0, unit="m", gt=0)


@dataclass(kw_only=True)
class Safety:
    """Limits every command passes through, in the twin and on hardware."""

    box_low: list[float] = param(doc="lower corner of the safety box for the commanded target", unit="m")
    box_high: list[float] = param(doc="upper corner of the safety box for the commanded target", unit="m")
    command_timeout_s: float = param(
        0.2, doc="watchdog: no fresh command within this -> hold/land/brake", unit="s", gt=0
    )
    sensor_max_age_s: float = param(0.1, doc="inputs older than this count as missing", unit="s", gt=0)
    max_tilt_rad: float | None = param(
        None, doc="largest allowed roll/pitch (aerial robots)", unit="rad", gt=0
    )
    max_speed: float | None = param(None, doc="largest allowed linear speed", unit="m/s", gt=0)
    max_force: float | None = param(
        None, doc="largest allowed contact force at the end effector", unit="N", gt=0
    )
    train_behind_layer: bool = param(
        True,
        doc="robot-rl train runs behind the safety layer unless its config says otherwise (safety:)",
    )

    def validate(self, source: str, prefix: str) -> None:
        for bound in ("box_low", "box_high"):
            if len(getattr(self, bound)) != 3:
                raise ConfigError(source, f"{prefix}.{bound}", "3 values (x, y, z)", getattr(self, bound))
        if any(lo >= hi for lo, hi in zip(self.box_low, self.box_high)):
            raise ConfigError(
                source, f"{prefix}.box_low", f"each value below box_high {self.box_high}", self.box_low
            )


@dataclass(kw_only=True)
class TaskInput:
    """How a task's observation reaches a robot: one task topic (robot_rl.rosgraph.TASK_TOPICS) and
    the fields it carries. On hardware a perception node or a goal publisher sends it; the twin node
    publishes it from its task."""

    topic: str = param(doc="task topic name: /robot_rl/task/<topic>, one of robot_rl.rosgraph.TASK_TOPICS")
    layout: Literal["point", "pose", "vector", "track_pose", "polygon", "scan"] = param(
        doc="how values sit in the message: point (x y z), pose (position + orientation x y z w), vector "
        "(x y z), track_pose (position.y = lateral offset, yaw = heading error), polygon (points' x y), "
        "scan (ranges)"
    )
    fields: list[str] = param(doc="the task observation fields it carries, in order")
    symmetry: Literal["", "cube"] = param(
        "", doc="cube: the pose is a cube's, read as canonical_cube_quat (any of its 24 rotations is taken)"
    )


@dataclass(kw_only=True)
class TaskSpec:
    """What one task adds to the robot's state, and where it comes from on a robot."""

    observation: list[Field] = param([], doc="entries the task appends to the robot's state, in order")
    inputs: list[TaskInput] = param([], doc="the task topics that carry them, in observation order")
    moving_target: bool = param(
        False, doc="the position target moves: the graph reads it from /robot_rl/task/position_target"
    )

    def validate(self, source: str, prefix: str) -> None:
        names = [name for inp in self.inputs for name in inp.fields]
        if names != [f.name for f in self.observation]:
            raise ConfigError(
                source,
                f"{prefix}.inputs",
                f"topics carrying {[f.name for f in self.observation]} in order",
                names,
            )


@dataclass(kw_only=True)
class RobotSpec:
    """Everything the stack needs to know about one robot."""

    name: str = param(doc="robot name (file name without .yaml)")
    description: str = param("", doc="one line for people")
    rates: Rates = param(doc="policy / control / physics rates")
    observation: list[Field] = param(doc="state observation layout, in order")
    action: list[Field] = param(doc="action layout, in order; the policy acts in [-1, 1]")
    action_modes: dict[str, list[str | Field]] = param(
        {},
        doc="action mode -> its layout: names of `action` fields or whole fields; the first mode is the "
        "default (the layout `robot-rl train` trains). Empty: one mode, `default`, the whole `action`",
    )
    tasks: dict[str, TaskSpec] = param({}, doc="task -> what it appends to the state and its topics")
    safety: Safety = param(doc="limits every command passes through")
    cameras: list[Camera] = param([], doc="cameras the twin can render")
    randomization: dict[str, list[float]] = param(
        {}, doc="domain randomization: parameter -> [low, high] sampled uniformly each episode"
    )
    model: dict[str, Any] = param({}, doc="physical model (checked by the robot's own dataclass)")
    controller: dict[str, Any] = param({}, doc="control-law gains (checked by the controller's dataclass)")
    source: str = dataclasses.field(default="", init=False, compare=False)

    def validate(self, source: str, prefix: str) -> None:
        self.source = source
        for section in ("observation", "action"):
            names = [f.name for f in getattr(self, section)]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ConfigError(source, section, "unique field names", sorted(dup))
        for name, bounds in self.randomization.items():
            if len(bounds) != 2 or bounds[0] > bounds[1]:
                raise ConfigError(source, f"randomization.{name}", "[low, high] with low <= high", bounds)
        known = {f.name for f in self.action}
        for mode, entries in self.action_modes.items():
            for entry in entries:
                if isinstance(entry, str) and entry not in known:
                    raise ConfigError(
                        source, f"action_modes.{mode}", f"names of action fields ({', '.join(known)})", entry
                    )

    # -- action modes --------------------------------------------------------------------------
    @property
    def modes(self) -> tuple[str, ...]:
        """The robot's action modes, the default first."""
        return tuple(self.action_modes) or ("default",)

    def action_mode(self, mode: str = "") -> str:
        """An action mode by name; "" is the default (the layout trained policies output)."""
        if not mode:
            return self.modes[0]
        if mode not in self.modes:
            expected = f"a {self.name} action mode: {', '.join(self.modes)} (or '' for the default)"
            raise ConfigError(self.source, "action_mode", expected, mode)
        return mode

    def action_fields(self, mode: str = "") -> list[Field]:
        """The action layout of a mode ("": the default)."""
        mode = self.action_mode(mode)
        if not self.action_modes:
            return list(self.action)
        by_name = {f.name: f for f in self.action}
        return [by_name[e] if isinstance(e, str) else e for e in self.action_modes[mode]]

    # -- tasks ---------------------------------------------------------------------------------
    def task(self, name: str) -> TaskSpec:
        if name not in self.tasks:
            raise ConfigError(self.source, "tasks", f"a {self.name} task: {', '.join(self.tasks)}", name)
        return self.tasks[name]

    @property
    def obs_size(self) -> int:
        return sum(f.size for f in self.observation)

    @property
    def action_size(self) -> int:
        return sum(f.size for f in self.action)

    @property
    def policy_dt(self) -> float:
        return 1.0 / self.rates.policy_hz

    @property
    def hash(self) -> str:
        """Content hash: recorded in demonstrations, checkpoints and exported C headers. The file's
        location is not content: two checkouts (an actor's and a learner's) must agree."""
        return stable_hash({k: v for k, v in to_dict(self).items() if k != "source"})

    def camera(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        known = ", ".join(c.name for c in self.cameras) or "none"
        raise ConfigError(self.source, "cameras", f"a camera named one of: {known}", name)

    def field(self, name: str, section: str = "observation") -> Field:
        for f in getattr(self, section):
            if f.name == name:
                return f
        known = ", ".join(f.name for f in getattr(self, section))
        raise ConfigError(self.source, section, f"a field named one of: {known}", name)

    def slices(self, section: str = "observation") -> dict[str, slice]:
        """Name -> slice of the flat vector, for `observation` or `action`."""
        return field_slices(getattr(self, section))


def field_slices(fields: Sequence[Field]) -> dict[str, slice]:
    """Name -> slice of the flat vector the fields make, in order."""
    out, start = {}, 0
    for f in fields:
        out[f.name] = slice(start, start + f.size)
        start += f.size
    return out


def known_robots() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "robots").glob("*.yaml"))


def robot_spec_path(robot: str | Path) -> Path:
    """A robot name (`panda`) or a path to a spec file."""
    path = Path(robot)
    if path.suffix in (".yaml", ".yml"):
        return path
    path = config_dir() / "robots" / f"{robot}.yaml"
    if not path.is_file():
        raise ConfigError(
            "", "robot", f"one of: {', '.join(known_robots())} (or a path to a spec .yaml)", str(robot)
        )
    return path


def load_robot_spec(robot: str | Path, overrides: dict[str, Any] | None = None) -> RobotSpec:
    """Load and check a robot spec by name or path; `overrides` deep-merge over the file's values."""
    from robot_rl.config import merge

    path = robot_spec_path(robot)
    data = load_yaml(path)
    if overrides:
        data = merge(data, overrides)
    return from_dict(RobotSpec, data, source=str(path))
