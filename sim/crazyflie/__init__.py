"""Crazyflie 2.x quadrotor twin: `Robot`, `TASKS` (hover, waypoints) and `EXPERTS` (cascaded PID).

from robot_rl.sim import make_twin
env = make_twin("crazyflie", "hover")                                   # controlModeForce
env = make_twin("crazyflie", "waypoints", robot_options={"action_mode": "rates"})
"""

from robot_rl.sim.crazyflie.experts import EXPERTS, CascadeExpert
from robot_rl.sim.crazyflie.robot import CrazyflieModel, Robot
from robot_rl.sim.crazyflie.tasks import TASKS, HoverTask, WaypointsTask

__all__ = ["EXPERTS", "TASKS", "CascadeExpert", "CrazyflieModel", "HoverTask", "Robot", "WaypointsTask"]
