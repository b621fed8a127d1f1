"""The Panda's reach and pick-cube tasks are the arm tasks every twin arm shares (`sim.arm_tasks`);
these names stay for the Panda-only tasks built on them (peg insertion, pick and place)."""

from robot_rl.sim.arm_tasks import PARK_Z, ArmTask, PickCube, Reach, check_box

PandaTask = ArmTask
_check_box = check_box

__all__ = ["PARK_Z", "PandaTask", "PickCube", "Reach"]
