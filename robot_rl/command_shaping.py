"""The robot-side command layer between a normalized action and a robot driver.

Pure numpy (the ROS controller node is glue around it, the latency benchmark and tests use it
directly). What is sent is decided before this, by `controllers.safety_layer.SafetyLayer` (the
e-stop, the fault latch, the watchdog, the shield and the hold/land/brake fallback, the same code
the twin runs); a `Shaper` turns the action it chose into the physical command the robot's real
controller takes, with the same limits the twin applies. Each robot's shaper lives in its module
(robot_rl.robots.<robot>: the Panda's equilibrium pose, the Crazyflie's motor forces or rates, the
car's steering and speed); `make_shaper` builds it from the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.spec import Field, RobotSpec, field_slices


def action_channels(fields: Sequence[Field]) -> list[str]:
    """One name per action entry: `field` or `field.i` for multi-entry fields."""
    out = []
    for f in fields:
        out += [f.name] if f.size == 1 else [f"{f.name}.{i}" for i in range(f.size)]
    return out


def physical(field: Field, a: np.ndarray) -> np.ndarray:
    low = np.asarray(field.low if field.low is not None else [-1.0] * field.size)
    high = np.asarray(field.high if field.high is not None else [1.0] * field.size)
    return low + 0.5 * (np.clip(a, -1.0, 1.0) + 1.0) * (high - low)


class Shaper:
    """Action in [-1, 1] -> the driver's command (a dict of physical values)."""

    def __init__(self, spec: RobotSpec, fields: Sequence[Field]):
        self.spec = spec
        self.fields = list(fields)
        self.size = sum(f.size for f in self.fields)
        self.channels = action_channels(self.fields)

    def split(self, action: Sequence[float]) -> dict[str, np.ndarray]:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.size != self.size:
            raise ConfigError("", "action", f"{self.size} values ({', '.join(self.channels)})", a.size)
        return {name: a[where] for name, where in field_slices(self.fields).items()}

    def measured(self, name: str, value: Sequence[float]) -> None:
        """The newest value of a measured state field (the spec's name); a shaper keeps what it needs
        (the Panda's: its pose)."""

    def command(self, action: Sequence[float]) -> dict[str, Any]:
        """The driver's command for a normalized action ({} while there is nothing safe to command)."""
        raise NotImplementedError

    def resync(self) -> None:
        """Forget references built from earlier commands (after a hold or a reset)."""

    def restart(self) -> None:
        """A new episode: start as the reset robot does (by default: a resync)."""
        self.resync()

    @property
    def commanded(self) -> Any:
        """The target the robot is commanded to (the Panda's reference position), or None."""
        return None


def make_shaper(spec: RobotSpec, action_mode: str = "") -> Shaper:
    """The robot's shaper (its adapter's) in an action mode ("": the default)."""
    from robot_rl.robots import adapter

    return adapter(spec, action_mode).shaper()
