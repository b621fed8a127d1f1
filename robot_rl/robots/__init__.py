"""One module per robot: everything about a robot that is not a number in its spec.

`robot_rl/robots/<robot>.py` defines `Adapter` (a `robot_rl.robots.base.RobotAdapter`): the
robot driver's topics, the message codecs between them and the spec's fields, the command shaper
(a normalized action -> the driver's command, with the limits the twin applies), the teleop
mapping, the twin node's side of the same messages, and the robot's entries in the graph (the
reset controller the reset node runs, the nodes a hardware launch adds). The ROS nodes are
generic: they ask the adapter, never the robot's name.

Adding a robot: its spec (`config/robots/<robot>.yaml`), its twin (`sim/<robot>/`) and this
module (docs/adding_a_robot.md).
"""

from __future__ import annotations

import importlib
from typing import Any

from robot_rl.errors import ConfigError
from robot_rl.spec import RobotSpec, known_robots, load_robot_spec


def adapter(spec: RobotSpec | str, action_mode: str = "") -> Any:
    """The robot's adapter (`robot_rl.robots.<spec.name>.Adapter`) in an action mode ("": default)."""
    if isinstance(spec, str):
        spec = load_robot_spec(spec)
    try:
        module = importlib.import_module(f"robot_rl.robots.{spec.name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"robot_rl.robots.{spec.name}":
            raise
        raise ConfigError(
            spec.source,
            "name",
            f"a robot with an adapter module robot_rl/robots/<name>.py ({', '.join(known_robots())})",
            spec.name,
        ) from None
    return module.Adapter(spec, action_mode)
