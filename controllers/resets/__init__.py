"""Scripted reset controllers: put the robot back in a start state without a person.

Each controller acts through the robot's own action interface (the same normalized actions a
policy sends, so they pass the same control law and safety box) and reads the robot's state:
in the twin through the twin robot's accessors; `StateArmReset` reads only the observation, as
the ROS reset node has it from the state topics on hardware. `run_reset` drives one to the end and returns a
`ResetReport` (success, duration in robot time, reason). `ResetSupervisor` counts outcomes for
the run's metrics and asks a person after `max_failures` failed resets in a row.

- Arm (`ArmReset`, the Panda and the UR5e alike): precision gains, back to the home pose, a small
  random perturbation (+/-2 cm, +/-0.05 rad with the yaw action, as SERL), then compliant gains again.
  `StateArmReset` is the same move from observations alone, for the ROS reset node's `mode: graph`.
- Quadrotor (`QuadReset`): land, disarm, re-arm, take off and settle in hover at a random start.
- Car (`CarReset`): back up, turning toward the course direction, then drive forward onto the
  centreline and stop aligned with it.

Modules: `base` (interface, `run_reset`, `ResetReport`, `ResetSupervisor`), `arm`, `quadrotor`,
`car`. This package's namespace holds all of them and the registry of which reset each robot and
task uses (`RESETS`, `OBJECT_RESETS`), read by the trainers, the twin node and the benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.controllers.resets.arm import ArmReset, CubeReset, StateArmReset
from robot_rl.controllers.resets.base import (
    ResetController,
    ResetReport,
    ResetSupervisor,
    run_reset,
    terminal_prompt,
)
from robot_rl.controllers.resets.car import CarReset
from robot_rl.controllers.resets.quadrotor import QuadReset

__all__ = [
    "OBJECT_RESETS",
    "RESETS",
    "ArmReset",
    "CarReset",
    "CubeReset",
    "QuadReset",
    "ResetController",
    "ResetReport",
    "ResetSupervisor",
    "StateArmReset",
    "run_reset",
    "scripted_reset",
    "terminal_prompt",
]

RESETS: dict[str, type[ResetController]] = {
    "panda": ArmReset,
    "ur5e": ArmReset,
    "crazyflie": QuadReset,
    "racecar": CarReset,
}
#: object resets by (robot, task)
OBJECT_RESETS: dict[tuple[str, str], type[ResetController]] = {
    ("panda", "pick_cube"): CubeReset,
    ("ur5e", "pick_cube"): CubeReset,
}


def scripted_reset(
    env: Any, supervisor: ResetSupervisor, rng: np.random.Generator, objects: bool = True
) -> bool:
    """The robot's scripted reset (after its task's object reset, if any), recorded in `supervisor`.

    What a trainer calls between episodes instead of a person; returns False when a person
    declined to continue after `supervisor.max_failures` failures in a row.
    """
    twin = env.unwrapped
    robot, task = twin.robot_spec.name, twin.task.name
    controllers = [OBJECT_RESETS[(robot, task)]()] if objects and (robot, task) in OBJECT_RESETS else []
    if not controllers:
        controllers.append(RESETS[robot]())
    return all(supervisor.record(run_reset(env, controller, rng)) for controller in controllers)
