"""The robot-side command layer between a normalized action and a robot driver.

Pure numpy (the ROS controller node is glue around it, the latency benchmark and tests use it
directly). What is sent is decided before this, by `controllers.safety_layer.SafetyLayer` (the
e-stop, the fault latch, the watchdog, the shield and the hold/land/brake fallback, the same code
the twin runs); a `Shaper` turns the action it chose into the physical command the robot's real
controller takes, with the same limits the twin applies:

- Panda: an equilibrium pose for the 1 kHz Cartesian impedance controller: the reference moves by
  the action's delta, stays within `max_reference_lead` of the measured pose and inside the safety
  box. After `resync()` it starts again from the measured pose (a hold is a resync and a zero delta).
- Crazyflie: motor forces for the firmware's controlModeForce (the layout policies are trained
  with), or collective thrust and body rates for its rate loop (`rates` mode).
- Racecar: steering angle and speed target with the policy's action-rate limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from robot_rl.config import from_dict
from robot_rl.controllers.safety import SafetyBox
from robot_rl.errors import ConfigError
from robot_rl.spec import Field, RobotSpec, field_slices

#: action modes the graph runs per robot; the first is the twin's default, the layout `robot-rl train`
#: trains policies in (mirrors the twin robots' `action_fields`; tests/test_ros_config.py checks it)
ACTION_MODES = {"panda": ("default",), "crazyflie": ("force", "rates"), "racecar": ("default",)}


def resolve_action_mode(spec: RobotSpec, action_mode: str = "") -> str:
    """A robot's action mode by name; "" is the default (the layout trained policies output)."""
    modes = ACTION_MODES.get(spec.name, ("default",))
    if not action_mode:
        return modes[0]
    if action_mode not in modes:
        expected = f"a {spec.name} action mode: {', '.join(modes)} (or '' for the default)"
        raise ConfigError("", "action_mode", expected, action_mode)
    return action_mode


def graph_action_fields(spec: RobotSpec, action_mode: str = "") -> list[Field]:
    """The action layout the ROS graph's policy uses for a robot: the twin robot's `action_fields`
    in the same mode, by default the layout `robot-rl train` trains (the twin's default options).

    The Panda acts without yaw, the Crazyflie with one normalized force per motor (`force`, the
    firmware's controlModeForce) or, in `rates` mode, collective thrust and body rates; the car
    with the spec's layout.
    """
    mode = resolve_action_mode(spec, action_mode)
    if spec.name == "panda":
        return [f for f in spec.action if f.name != "ee_delta_yaw"]
    if spec.name == "crazyflie" and mode == "rates":
        return [from_dict(Field, f, source=spec.source) for f in spec.controller["rates_action"]]
    return list(spec.action)


def twin_robot_options(spec: RobotSpec, action_mode: str = "") -> dict[str, Any] | None:
    """`robot_options` of `make_twin` that give the twin the graph's action layout."""
    mode = resolve_action_mode(spec, action_mode)
    return {"action_mode": mode} if spec.name == "crazyflie" else None


def action_channels(spec: RobotSpec, action_mode: str = "") -> list[str]:
    """One name per action entry: `field` or `field.i` for multi-entry fields."""
    out = []
    for f in graph_action_fields(spec, action_mode):
        out += [f.name] if f.size == 1 else [f"{f.name}.{i}" for i in range(f.size)]
    return out


def _physical(field: Field, a: np.ndarray) -> np.ndarray:
    low = np.asarray(field.low if field.low is not None else [-1.0] * field.size)
    high = np.asarray(field.high if field.high is not None else [1.0] * field.size)
    return low + 0.5 * (np.clip(a, -1.0, 1.0) + 1.0) * (high - low)


class Shaper:
    """Action in [-1, 1] -> the driver's command (a dict of physical values)."""

    def __init__(self, spec: RobotSpec, action_mode: str = ""):
        self.spec = spec
        self.action_mode = resolve_action_mode(spec, action_mode)
        self.fields = graph_action_fields(spec, self.action_mode)
        self.size = sum(f.size for f in self.fields)
        self.channels = action_channels(spec, self.action_mode)

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

    @property
    def commanded(self) -> Any:
        """The target the robot is commanded to (the Panda's reference position), or None."""
        return None


class PandaShaper(Shaper):
    def __init__(self, spec: RobotSpec, action_mode: str = ""):
        super().__init__(spec, action_mode)
        from robot_rl.controllers.impedance import ImpedanceGains

        gains = from_dict(ImpedanceGains, spec.controller, source=spec.source, prefix="controller")
        self.lead = gains.max_reference_lead
        self.open_m = float(spec.model["gripper_open_m"])  # the hand's facts: the spec's model section
        self.threshold = float(spec.model["gripper_command_threshold"])
        self.box = SafetyBox.from_spec(spec.safety)
        self.ee_pos: np.ndarray | None = None
        self.ee_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self.ref_pos: np.ndarray | None = None
        self.ref_quat = self.ee_quat

    def measured(self, name: str, value: Sequence[float]) -> None:
        if name == "ee_pos":
            self.ee_pos = np.asarray(value, dtype=np.float64)
        elif name == "ee_quat":
            self.ee_quat = np.asarray(value, dtype=np.float64)

    def resync(self) -> None:
        self.ref_pos = None

    @property
    def commanded(self) -> Any:
        return self.ref_pos

    def command(self, action: Sequence[float]) -> dict[str, Any]:
        parts = self.split(action)
        if self.ee_pos is None:
            return {}  # no pose measured yet: nothing safe to command
        if self.ref_pos is None:
            self.ref_pos, self.ref_quat = self.box.clip(self.ee_pos), self.ee_quat
        delta = _physical(self.fields[0], parts["ee_delta_pos"])
        ref = np.clip(self.ref_pos + delta, self.ee_pos - self.lead, self.ee_pos + self.lead)
        self.ref_pos = self.box.clip(ref)
        g = float(parts["gripper"][0])
        width = 0.0 if g > self.threshold else (self.open_m if g < -self.threshold else None)
        return {"position": self.ref_pos.copy(), "quat": np.asarray(self.ref_quat), "gripper": width}


class CrazyflieShaper(Shaper):
    """`force`: one normalized force per motor (0..1 of max_thrust_n, M1..M4) for the firmware's
    controlModeForce; `rates`: collective thrust and body rates for its rate loop."""

    def command(self, action: Sequence[float]) -> dict[str, Any]:
        parts = self.split(action)
        if self.action_mode == "force":
            return {"forces": _physical(self.fields[0], parts["motor_forces"])}
        thrust = float(_physical(self.fields[0], parts["collective_thrust"])[0])
        return {"thrust": thrust, "rates": _physical(self.fields[1], parts["body_rates"])}


class RacecarShaper(Shaper):
    def __init__(self, spec: RobotSpec, action_mode: str = ""):
        super().__init__(spec, action_mode)
        from robot_rl.controllers.ackermann import AckermannConfig

        self.config = from_dict(AckermannConfig, spec.controller, source=spec.source, prefix="controller")
        self.applied = np.zeros(2)  # the rate-limited action, as the twin's law keeps it

    def _to_command(self) -> dict[str, Any]:
        from robot_rl.controllers.ackermann import steering_angle, throttle_to_speed

        cfg = self.config
        return {
            "steer": steering_angle(float(self.applied[0]), cfg.max_steer_rad),
            "speed": throttle_to_speed(float(self.applied[1]), cfg.max_speed, cfg.max_reverse_speed),
        }

    def command(self, action: Sequence[float]) -> dict[str, Any]:
        from robot_rl.controllers.ackermann import limit_rate

        a = np.concatenate(list(self.split(action).values()))
        self.applied = limit_rate(a, self.applied, self.config.action_rate_limit)
        return self._to_command()


def make_shaper(spec: RobotSpec, action_mode: str = "") -> Shaper:
    if spec.name == "panda":
        return PandaShaper(spec, action_mode)
    if spec.name == "crazyflie":
        return CrazyflieShaper(spec, action_mode)
    if spec.name == "racecar":
        return RacecarShaper(spec, action_mode)
    raise ConfigError(
        spec.source, "name", "a robot with a command layer: panda, crazyflie, racecar", spec.name
    )
