"""The graph against the Panda's hardware driver, started separately: franka_ros2
(cartesian_impedance_controller, franka_robot_state_broadcaster).

ros2 launch robot_rl panda.launch.py            (driver:=twin swaps the driver for the twin)
"""

from robot_rl.ros.launch_graph import generate


def generate_launch_description():
    return generate(robot="panda")
