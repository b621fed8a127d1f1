"""The adapter a robot module defines: its driver's topics and messages, its command layer, its
teleop mapping, and the twin node's side of the same messages.

Plain Python (no rclpy): message classes are looked up by name when a codec runs
(`robot_rl.rosgraph.msg_type`), so the core, the latency bench and the tests use adapters without
a ROS install. Every method that reads a message takes it as it comes from a driver and returns
the spec's field values (the nodes check finiteness, sizes and ages); every method that writes one
returns it for the node to publish.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from robot_rl.command_shaping import Shaper, action_channels
from robot_rl.errors import ConfigError
from robot_rl.rosgraph import Topic, msg_type
from robot_rl.spec import RobotSpec

#: the robot's own reset service on hardware (the Crazyflie's land/take-off, the car's back-up)
HARDWARE_RESET_SERVICE = "/robot_reset/trigger"


class RobotAdapter:
    """One robot's driver interface. Subclasses set the class attributes and the codecs."""

    #: the driver's state topics: key -> Topic
    STATE: ClassVar[dict[str, Topic]] = {}
    #: the driver's command topics per action mode (the spec's `action_modes`): mode -> key -> Topic
    COMMANDS: ClassVar[dict[str, dict[str, Topic]]] = {}
    #: topics only the twin node publishes besides the driver's (the Crazyflie's position target)
    TWIN_EXTRA: ClassVar[dict[str, Topic]] = {}
    #: the state topic whose pose is the one the safety box bounds (the TCP's, the vehicle's)
    BOX_STATE: ClassVar[str] = "odom"
    #: frame id of commands and task messages (the robot's base frame)
    FRAME: ClassVar[str] = "world"
    #: the command layer: a normalized action -> the driver's command
    SHAPER: ClassVar[type[Shaper]] = Shaper
    #: the reset controller the reset node runs in `mode: graph` (controllers/resets), if any
    GRAPH_RESET: ClassVar[type | None] = None
    #: nodes a hardware launch adds to the graph
    HARDWARE_NODES: ClassVar[tuple[str, ...]] = ()
    #: the reset node's parameters on hardware (default: call the robot's own reset service)
    HARDWARE_RESET: ClassVar[dict[str, Any]] = {"robot_reset_service": HARDWARE_RESET_SERVICE}

    def __init__(self, spec: RobotSpec, action_mode: str = ""):
        self.spec = spec
        self.action_mode = spec.action_mode(action_mode)
        self.fields = spec.action_fields(self.action_mode)
        self.channels = action_channels(self.fields)
        self.size = sum(f.size for f in self.fields)
        if self.action_mode not in self.COMMANDS:
            expected = f"a mode the {spec.name} driver takes: {', '.join(self.COMMANDS)}"
            raise ConfigError(spec.source, "action_modes", expected, self.action_mode)

    @property
    def topics(self) -> dict[str, Topic]:
        """The driver's state topics and the command topics of this action mode."""
        return {**self.STATE, **self.COMMANDS[self.action_mode]}

    @property
    def state_hz(self) -> int:
        """The rate the driver publishes its state at (the twin node's default rate)."""
        if self.spec.rates.state_hz is None:
            raise ConfigError(self.spec.source, "rates.state_hz", "the driver's state rate in Hz", None)
        return self.spec.rates.state_hz

    def shaper(self) -> Shaper:
        return self.SHAPER(self.spec, self.fields)

    def twin_options(self) -> dict[str, Any] | None:
        """`robot_options` of `make_twin` that give the twin this action layout."""
        return None

    # -- driver state -> the spec's fields ------------------------------------------------------
    def decode(self, key: str, msg: Any) -> dict[str, Any]:
        """A state message of `STATE[key]` -> spec field name -> values. The key `position` carries a
        vehicle's measured position (world frame), from which the nodes form `pos_error`."""
        raise NotImplementedError

    def restart(self) -> None:
        """A new episode: forget what the codecs keep between messages (a pose to difference)."""

    # -- the shaper's command -> driver messages ------------------------------------------------
    def encode(self, command: dict[str, Any], stamp: Any) -> list[tuple[str, Any]]:
        """(command topic key, message) pairs for a shaper's command, stamped `stamp`."""
        raise NotImplementedError

    # -- teleop: geometry_msgs/Twist values (linear xyz, angular xyz) -> a normalized action ------
    def teleop(self, twist: np.ndarray, last_action: np.ndarray, scale: float) -> np.ndarray:
        raise NotImplementedError

    def resting_state(self) -> dict[str, Any]:
        """One message per state topic, the robot at rest where the safety box allows it (a
        vehicle level at 1 m): what a stand-in driver publishes in benches and tests."""
        out = {key: msg_type(topic.type)() for key, topic in self.STATE.items()}
        for msg in out.values():
            pose = getattr(getattr(msg, "pose", None), "pose", getattr(msg, "pose", None))
            if pose is not None:
                pose.position.z, pose.orientation.w = 1.0, 1.0
        return out

    # -- the twin node: the same messages from the other side ------------------------------------
    def twin_command(self, key: str, msg: Any, twin: Any, action: np.ndarray) -> np.ndarray:
        """A driver command (`COMMANDS[mode][key]`) applied to the twin; returns the twin action the
        twin node holds until the next command. Raises InputError for a command it refuses."""
        raise NotImplementedError

    def twin_state(self, twin: Any, stamp: Any) -> dict[str, Any]:
        """What the driver publishes (and `TWIN_EXTRA`), key -> message, from the twin's sensors."""
        raise NotImplementedError

    def hold_mask(self, twin: Any) -> np.ndarray:
        """Which action entries repeat for a whole policy period (setpoints: 1) and which apply once
        (the Panda's position deltas: 0), as the twin node holds a command between state ticks."""
        return np.ones(twin.action_space.shape, np.float32)

    def twin_before_step(self, twin: Any, action: np.ndarray) -> None:
        """Called before each twin step with the held action."""


def xyz(v: Any) -> list[float]:
    """A geometry_msgs Point/Vector3 as [x, y, z]."""
    return [v.x, v.y, v.z]


def set_xyz(v: Any, values: Any) -> None:
    v.x, v.y, v.z = (float(x) for x in values[:3])


def set_quat(q: Any, values: Any) -> None:
    q.x, q.y, q.z, q.w = (float(x) for x in values[:4])
