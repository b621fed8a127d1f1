"""The Franka Panda twin: robot (`Robot`), tasks (`TASKS`) and scripted experts (`EXPERTS`)."""

from robot_rl.sim.base import Expert, Task
from robot_rl.sim.panda.experts import PegInsertExpert, PickCubeExpert, ReachExpert
from robot_rl.sim.panda.peg import PegInsert
from robot_rl.sim.panda.robot import Robot
from robot_rl.sim.panda.tasks import PickCube, Reach

TASKS: dict[str, type[Task]] = {"reach": Reach, "pick_cube": PickCube, "peg_insert": PegInsert}
EXPERTS: dict[str, type[Expert]] = {
    "reach": ReachExpert,
    "pick_cube": PickCubeExpert,
    "peg_insert": PegInsertExpert,
}

__all__ = ["EXPERTS", "TASKS", "Robot"]
