"""Gymnasium ids of the twin envs. Registration is by string entry point: importing
`robot_rl` does not import pybullet; `gymnasium.make` does, when an env is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvEntry:
    id: str
    robot: str
    task: str
    kwargs: dict[str, Any] = field(default_factory=dict)


ENVS: tuple[EnvEntry, ...] = (
    EnvEntry("robot_rl/PandaReach-v0", "panda", "reach"),
    EnvEntry("robot_rl/PandaPickCube-v0", "panda", "pick_cube"),
    EnvEntry("robot_rl/PandaPickCubePixels-v0", "panda", "pick_cube", {"cameras": ("wrist", "front")}),
    EnvEntry("robot_rl/PandaPegInsert-v0", "panda", "peg_insert"),
    EnvEntry("robot_rl/PandaPegInsertPixels-v0", "panda", "peg_insert", {"cameras": ("wrist", "front")}),
    EnvEntry("robot_rl/PandaPickPlace-v0", "panda", "pick_place"),
    EnvEntry("robot_rl/UR5eReach-v0", "ur5e", "reach"),
    EnvEntry("robot_rl/UR5ePickCube-v0", "ur5e", "pick_cube"),
    EnvEntry("robot_rl/CrazyflieHover-v0", "crazyflie", "hover"),
    EnvEntry("robot_rl/CrazyflieWaypoints-v0", "crazyflie", "waypoints"),
    EnvEntry("robot_rl/RacecarLaps-v0", "racecar", "laps"),
    EnvEntry("robot_rl/RacecarLapsPixels-v0", "racecar", "laps", {"cameras": ("front",)}),
)

#: what `robot-rl demo`, `train` and `demos` use when no robot/task is given
DEFAULT_ROBOT, DEFAULT_TASK = "panda", "reach"


def env_id(robot: str, task: str) -> str | None:
    for entry in ENVS:
        if entry.robot == robot and entry.task == task and not entry.kwargs:
            return entry.id
    return None


def register_envs() -> None:
    import gymnasium as gym

    for entry in ENVS:
        if entry.id not in gym.registry:
            gym.register(
                id=entry.id,
                entry_point="robot_rl.sim.factory:make_twin",
                kwargs={"robot": entry.robot, "task": entry.task, **entry.kwargs},
            )
