"""robot_rl: real-robot reinforcement learning with a PyBullet twin, ROS 2 nodes and C export.

Importing the package is cheap (no torch, no pybullet): it registers the twin environments
with gymnasium under the `robot_rl/` namespace, e.g. `gymnasium.make("robot_rl/PandaReach-v0")`.
"""

from robot_rl.errors import ConfigError, MissingDependencyError, RobotRLError
from robot_rl.registry import register_envs

__version__ = "0.1.0"
__all__ = ["ConfigError", "MissingDependencyError", "RobotRLError", "__version__", "register_envs"]

register_envs()
