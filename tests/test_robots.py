"""Each robot's adapter (robot_rl.robots): its codecs read what the twin's side of the same messages
writes, its commands drive the twin, and no node branches on a robot's name.

The message objects are the real ROS message classes (std_msgs, geometry_msgs, ...); no DDS."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from robot_rl.robots import adapter
from robot_rl.ros.common import to_stamp
from robot_rl.spec import known_robots, load_robot_spec

REPO = Path(__file__).resolve().parent.parent
ROBOTS = known_robots()


def test_every_robot_has_an_adapter_a_state_rate_and_its_tasks_in_the_spec():
    from robot_rl.sim.factory import tasks_of

    for robot in ROBOTS:
        a = adapter(robot)
        assert a.state_hz > 0 and a.topics["command"].name.startswith("/")
        assert set(a.spec.tasks) == set(tasks_of(robot)), robot
        assert (REPO / "launch" / f"{robot}.launch.py").exists() and (
            REPO / "config" / "ros" / f"{robot}.yaml"
        ).exists()


@pytest.mark.parametrize("robot", ROBOTS)
def test_the_twins_driver_messages_decode_to_the_twins_observation(robot):
    """What the twin node publishes for a robot decodes (the actor's and controller's side) to the
    same state the in-process twin observes; an arm without a twist topic differentiates its poses."""
    from robot_rl.sim import make_twin

    a = adapter(robot)
    env = make_twin(robot, next(iter(a.spec.tasks)), robot_options=a.twin_options())
    try:
        env.reset(seed=3)
        twin = env.unwrapped
        slices = a.spec.slices()
        decoded: dict = {}
        for step in range(2):
            if step:
                env.step(np.asarray(env.action_space.sample(), np.float32) * 0.5)
            obs = twin.robot.observe()
            for key, msg in a.twin_state(twin, to_stamp(10.0 + 0.1 * step)).items():
                if key in a.STATE:
                    decoded.update(a.decode(key, msg))
        for name, values in decoded.items():
            if name == "position":  # a vehicle's: pos_error + target
                np.testing.assert_allclose(values, obs[slices["pos_error"]] + twin.robot.target, atol=1e-5)
            elif name in ("ee_linvel", "ee_angvel") and "twist" not in a.STATE:
                assert np.all(np.isfinite(values))  # by difference over 0.1 s: not the instant value
            else:
                np.testing.assert_allclose(np.ravel(values), obs[slices[name]], atol=1e-5, err_msg=name)
        measured = {f.name for f in a.spec.observation} - {"pos_error", "last_action"}
        assert measured <= set(decoded), f"{robot}: {measured - set(decoded)} not on any state topic"
    finally:
        env.close()


@pytest.mark.parametrize("robot", ROBOTS)
def test_a_shaped_command_reaches_the_twin_through_its_messages(robot):
    """shaper -> encode -> (the twin node's side) twin_command: the twin gets what was commanded."""
    from robot_rl.sim import make_twin

    a = adapter(robot)
    env = make_twin(robot, next(iter(a.spec.tasks)), robot_options=a.twin_options())
    try:
        env.reset(seed=4)
        twin, shaper = env.unwrapped, a.shaper()
        obs = twin.robot.observe()
        for name, where in a.spec.slices().items():
            shaper.measured(name, obs[where])
        action = np.full(a.size, 0.5, np.float32)
        held = twin.robot.safe_action()
        for key, msg in a.encode(shaper.command(action), to_stamp(1.0)):
            held = a.twin_command(key, msg, twin, held)
        if shaper.commanded is not None:  # an arm: the equilibrium moved by the delta, clipped
            np.testing.assert_allclose(twin.robot.controller.position_ref, shaper.commanded, atol=1e-9)
            assert held[twin.robot.action_slices["gripper"]][0] == pytest.approx(0.0)  # between: keep
        else:  # a setpoint: the twin holds the action back in its own layout
            expected = action if robot != "racecar" else shaper.applied  # the car's is rate-limited
            np.testing.assert_allclose(held, expected, atol=1e-5)
        assert a.teleop(np.zeros(6), np.zeros(a.size, np.float32), 1.0).shape == (a.size,)
    finally:
        env.close()


def test_an_arm_without_a_twist_topic_estimates_it_from_consecutive_poses():
    from robot_rl.rosgraph import msg_type

    a = adapter("ur5e")
    msg = msg_type("geometry_msgs/PoseStamped")()
    msg.pose.orientation.x, msg.pose.orientation.w = 1.0, 0.0  # the TCP pointing down
    msg.header.stamp = to_stamp(1.0)
    assert "ee_linvel" not in a.decode("pose", msg)  # one pose: no difference yet
    msg.pose.position.x = 0.01
    half = np.deg2rad(1.0) / 2  # 2 deg about base z in 0.01 s: q = rz * q_prev
    rz = np.array([0.0, 0.0, np.sin(half), np.cos(half)])
    msg.pose.orientation.x, msg.pose.orientation.y = rz[3], rz[2]  # rz (x) [1, 0, 0, 0]
    msg.pose.orientation.z, msg.pose.orientation.w = 0.0, 0.0
    msg.header.stamp = to_stamp(1.01)
    out = a.decode("pose", msg)
    np.testing.assert_allclose(out["ee_linvel"], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(out["ee_angvel"], [0.0, 0.0, np.deg2rad(1.0) / 0.01], atol=1e-4)
    # a non-finite pose is refused downstream; it must not poison the next good pose's difference
    msg.pose.position.x, msg.header.stamp = float("nan"), to_stamp(1.02)
    assert "ee_linvel" not in a.decode("pose", msg)
    msg.pose.position.x, msg.header.stamp = 0.02, to_stamp(1.03)
    np.testing.assert_allclose(a.decode("pose", msg)["ee_linvel"], [0.5, 0.0, 0.0], atol=1e-6)


def test_no_node_or_core_module_branches_on_a_robots_name():
    """A robot's facts live in its spec and its module (robot_rl/robots, sim/<robot>): the nodes and
    the core read them and never compare the robot's name."""
    names = "|".join(ROBOTS)
    quoted = rf"""["'](?:{names})["']"""
    pattern = re.compile(rf"(==|!=|\bin)\s*\(?{quoted}|{quoted}\s*(==|!=)|robot_name\s*(==|!=|in)")
    checked = [*(REPO / "robot_rl" / "ros").glob("*.py")]
    checked += [
        REPO / "robot_rl" / f for f in ("command_shaping.py", "rosgraph.py", "observations.py", "spec.py")
    ]
    offenders = [
        f"{p.relative_to(REPO)}:{i}: {line.strip()}"
        for p in checked
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_a_spec_whose_tasks_topics_do_not_carry_its_fields_is_refused_in_one_line(tmp_path):
    from robot_rl.errors import ConfigError

    bad = {"tasks": {"reach": {"inputs": [{"topic": "goal_pos", "layout": "point", "fields": ["goal"]}]}}}
    with pytest.raises(ConfigError, match=r"tasks.reach.inputs"):
        load_robot_spec("panda", bad)
