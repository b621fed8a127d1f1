"""The Franka Panda twin: robot (`Robot`), tasks (`TASKS`) and scripted experts (`EXPERTS`)."""

from robot_rl.sim.base import Expert, Task
from robot_rl.sim.panda.bins import PickPlace
from robot_rl.sim.panda.experts import PegInsertExpert, PickCubeExpert, PickPlaceExpert, ReachExpert
from robot_rl.sim.panda.peg import PegInsert
from robot_rl.sim.panda.robot import Robot
from robot_rl.sim.panda.tasks import PickCube, Reach

TASKS: dict[str, type[Task]] = {
    "reach": Reach,
    "pick_cube": PickCube,
    "peg_insert": PegInsert,
    "pick_place": PickPlace,
}
EXPERTS: dict[str, type[Expert]] = {
    "reach": ReachExpert,
    "pick_cube": PickCubeExpert,
    "peg_insert": PegInsertExpert,
    "pick_place": PickPlaceExpert,
}

__all__ = ["EXPERTS", "TASKS", "Robot"]
