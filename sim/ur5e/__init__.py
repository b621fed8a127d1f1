"""The Universal Robots UR5e twin: robot (`Robot`), tasks (`TASKS`) and scripted experts (`EXPERTS`).

The tasks and experts are the arm ones every twin arm shares (`sim.arm_tasks`, `sim.arm_experts`).
"""

from robot_rl.sim.arm_experts import PickCubeExpert, ReachExpert
from robot_rl.sim.arm_tasks import PickCube, Reach
from robot_rl.sim.base import Expert, Task
from robot_rl.sim.ur5e.robot import Robot

TASKS: dict[str, type[Task]] = {"reach": Reach, "pick_cube": PickCube}
EXPERTS: dict[str, type[Expert]] = {"reach": ReachExpert, "pick_cube": PickCubeExpert}

__all__ = ["EXPERTS", "TASKS", "Robot"]
