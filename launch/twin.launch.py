"""The twin and the whole graph: ros2 launch robot_rl twin.launch.py robot:=panda|crazyflie|racecar"""

from robot_rl.ros.launch_graph import generate


def generate_launch_description():
    return generate(driver="twin")
