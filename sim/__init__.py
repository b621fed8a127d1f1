"""The PyBullet twin (installed as `robot_rl.sim`): robots, tasks, randomization, scripted experts.

import gymnasium as gym, robot_rl
env = gym.make("robot_rl/PandaPickCube-v0")          # or robot_rl.sim.make_twin("panda", "pick_cube")
"""

from robot_rl.sim.factory import ROBOT_MODULES, make_expert, make_twin, tasks_of

__all__ = ["ROBOT_MODULES", "make_expert", "make_twin", "tasks_of"]
