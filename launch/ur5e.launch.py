"""The graph against the UR5e's hardware driver, started separately: ur_robot_driver with a
Cartesian compliance controller and the gripper's position controller (docs/ros.md).

ros2 launch robot_rl ur5e.launch.py            (driver:=twin swaps the driver for the twin)
"""

from robot_rl.ros.launch_graph import generate


def generate_launch_description():
    return generate(robot="ur5e")
