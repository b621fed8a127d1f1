"""MIT RACECAR twin: `Robot`, `TASKS` (laps) and `EXPERTS` (pure pursuit).

from robot_rl.sim import make_twin
env = make_twin("racecar", "laps", cameras=("front",))
"""

from robot_rl.sim.racecar.experts import EXPERTS, PurePursuitExpert
from robot_rl.sim.racecar.robot import RacecarModel, Robot
from robot_rl.sim.racecar.tasks import TASKS, Laps, LapsConfig, StadiumCourse

__all__ = [
    "EXPERTS",
    "TASKS",
    "Laps",
    "LapsConfig",
    "PurePursuitExpert",
    "RacecarModel",
    "Robot",
    "StadiumCourse",
]
