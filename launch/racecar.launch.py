"""The graph against the racecar's hardware driver, started separately: the car's base driver
(odometry, IMU, /cmd_vel).

ros2 launch robot_rl racecar.launch.py            (driver:=twin swaps the driver for the twin)
"""

from robot_rl.ros.launch_graph import generate


def generate_launch_description():
    return generate(robot="racecar")
