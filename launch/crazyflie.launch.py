"""The graph against the Crazyflie's hardware driver, started separately: crazyswarm2 (cf1).

ros2 launch robot_rl crazyflie.launch.py            (driver:=twin swaps the driver for the twin)
"""

from robot_rl.ros.launch_graph import generate


def generate_launch_description():
    return generate(robot="crazyflie")
