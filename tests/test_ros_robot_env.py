"""RobotEnv over ROS (RosRobot: the twin node as the driver, the controller node in between) runs
the same policy from the same seed as RobotEnv over the in-process twin, within the stated tolerance
(robot_rl.benchmarks.equivalence; the full figures: `robot-rl bench equivalence`)."""

from __future__ import annotations

import pytest

from robot_rl.errors import RobotRLError

pytestmark = pytest.mark.solo


def test_the_graph_and_the_in_process_twin_give_the_same_panda_trajectory():
    from robot_rl.benchmarks.equivalence import measure

    result = measure("panda", episodes=2, steps=12)
    field = result["fields"]["ee_pos"]
    assert field["start"] < 1e-4, "the twin node's reset is not the in-process seed's start state"
    assert field["within"], (
        f"ee_pos differs by {1000 * field['max']:.1f} mm (tolerance {field['tolerance']} m)"
    )


def test_a_ros_robot_without_a_driver_says_what_is_missing_in_one_line():
    from robot_rl.ros.robot import RosRobot

    robot = RosRobot("racecar", "laps", timeout_s=0.5)
    with pytest.raises(
        RobotRLError, match=r"racecar: no fresh observation in 0.5 s: speed \(never received\)"
    ):
        robot.connect()
    robot.disconnect()
