"""RobotEnv, the one gymnasium env over any robot: the twin in process (here) and over ROS
(tests/test_ros_robot_env.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from robot_rl.robots.env import RobotEnv
from robot_rl.robots.interface import TwinInProcess


def test_robot_env_over_the_in_process_twin_passes_gymnasiums_checker():
    from gymnasium.utils.env_checker import check_env

    env = RobotEnv(TwinInProcess("racecar", "laps"))
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize(
    ("robot", "task", "env_id"),
    [("panda", "reach", "robot_rl/PandaReach-v0"), ("crazyflie", "hover", "robot_rl/CrazyflieHover-v0")],
)
def test_robot_env_steps_the_twin_exactly_as_its_registered_id(robot, task, env_id):
    """The registered ids stay what they are; RobotEnv over the bare twin gives the same trajectory."""
    ours = RobotEnv(TwinInProcess(robot, task, safety=False))
    theirs = gym.make(env_id)
    try:
        a, _ = ours.reset(seed=7)
        b, _ = theirs.reset(seed=7)
        rng = np.random.default_rng(0)
        for _ in range(15):
            np.testing.assert_array_equal(a["state"], b["state"])
            action = rng.uniform(-1, 1, ours.action_space.shape).astype(np.float32)
            a, ra, ta, _, ia = ours.step(action)
            b, rb, tb, _, _ = theirs.step(action)
            assert ra == rb and ta == tb
            np.testing.assert_array_equal(ia["action"], action)
            if ta:
                break
    finally:
        ours.close()
        theirs.close()


def test_behind_the_safety_layer_the_env_reports_the_action_the_robot_was_sent():
    env = RobotEnv(TwinInProcess("panda", "reach", safety=True))
    try:
        env.reset(seed=1)
        _, _, _, _, info = env.step(np.array([np.nan, 0.0, 0.0, 0.0], np.float32))
        assert np.all(np.isfinite(info["action"]))
    finally:
        env.close()
