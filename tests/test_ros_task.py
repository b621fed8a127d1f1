"""Task observations and action layouts through the ROS graph, with real DDS.

The twin publishes its task's observation (the reach goal) on the task topics; the actor takes them
in through its observation builder, so a policy trained on a task sees in the graph what it saw in
the twin. The Crazyflie graph acts in the layout policies are trained with (the twin's default).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_graph_harness import graph as graph

from robot_rl.robots import adapter
from robot_rl.ros.common import COMMAND_QOS, SENSOR_QOS
from robot_rl.rosgraph import ACTION, GOAL_POS

# whole ROS graphs: run alone (setup.cfg)
pytestmark = pytest.mark.solo

PANDA_STATE = 14  # ee_pos 3, ee_quat 4, ee_linvel 3, ee_angvel 3, gripper_width 1


def _reach_goal(seed: int) -> np.ndarray:
    from robot_rl.sim import make_twin

    env = make_twin("panda", "reach")
    try:
        _, info = env.reset(seed=seed)
        return np.asarray(info["goal_pos"], np.float32)
    finally:
        env.close()


def _episodes(demos, n: int, timeout_s: float) -> list:
    from robot_rl.demos import load_demos, read_metadata

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (demos / "metadata.json").exists() and len(read_metadata(demos)["episodes"]) >= n:
            return list(load_demos(demos)[1])
        time.sleep(0.2)
    pytest.fail(f"fewer than {n} episodes recorded in {timeout_s} s")


def test_reach_goal_flows_from_the_twin_into_the_actors_observation(graph, tmp_path):
    g, probe = graph
    probe.watch(GOAL_POS.name, GOAL_POS.type, SENSOR_QOS, depth=1)
    probe.watch(ACTION.name, ACTION.type, COMMAND_QOS)
    demos = tmp_path / "demos"
    g.start("twin", "twin", robot="panda", task="reach", seed=0)
    g.start("controller", "controller", robot="panda")
    g.start("reset", "reset", robot="panda")
    g.start("actor", "actor", robot="panda", task="reach", policy="zero", use_reward_node=False,
            max_episode_steps=5, demo_dir=str(demos), reset_timeout_s=10.0)  # fmt: skip
    episodes = _episodes(demos, 2, 40)
    # the twin's goal now (the actor runs on while the goals are computed below)
    probe.wait(lambda: len(probe.msgs[GOAL_POS.name]) > 0, 10, "the goal topic")
    with probe.lock:
        p = probe.msgs[GOAL_POS.name][-1].point
    probe.wait(lambda: len(probe.times[ACTION.name]) > 0, 10, "actions from the actor")
    assert all(e.length == 5 for e in episodes)  # it acted: five policy steps per episode
    # the twin's goal of each episode (seeded: seed, seed + 1 after the first reset) is what the
    # actor's observation held at every step, the first step after the reset included
    for episode, seed in zip(episodes[:2], (0, 1)):
        goal = _reach_goal(seed)
        state = episode.obs["state"]
        assert state.shape == (6, PANDA_STATE + 3)
        np.testing.assert_allclose(state[:, PANDA_STATE:], np.tile(goal, (6, 1)), atol=1e-6)
    assert not np.allclose(_reach_goal(0), _reach_goal(1))
    # and the topic carries the twin's goal of its current episode: counted after the snapshot, the
    # recorded episodes bound the twin's episode then (the actor ran on between the two reads)
    from robot_rl.demos import read_metadata

    recorded = len(read_metadata(demos)["episodes"])
    goals = [_reach_goal(seed) for seed in range(recorded + 3)]
    got = [p.x, p.y, p.z]
    assert any(np.allclose(got, goal, atol=1e-6) for goal in goals), (
        f"goal topic {got} is none of the goals of seeds 0..{recorded + 2}: {np.round(goals, 4).tolist()}"
    )


def test_without_the_goal_topic_the_actor_says_so_once_and_does_not_act(graph, tmp_path):
    g, probe = graph
    probe.watch(ACTION.name, ACTION.type, COMMAND_QOS)
    state = adapter("panda").topics["pose"]
    probe.watch(state.name, state.type, SENSOR_QOS, depth=1)
    demos = tmp_path / "demos"
    # the actor first: its first report lists every input, later hiccups of the state add nothing new
    g.start("actor", "actor", robot="panda", task="reach", policy="zero", use_reward_node=False,
            max_episode_steps=3, demo_dir=str(demos))  # fmt: skip
    g.start("twin", "twin", robot="panda", task="pick_cube")  # the robot's state, but no goal
    probe.wait(lambda: len(probe.times[state.name]) > 0, 20, "the twin's state")
    probe.wait(lambda: probe.node.count_publishers(ACTION.name) > 0, 10, "the actor's action publisher")
    time.sleep(3.0)  # the actor has the state now and still no goal
    lines = [line for line in g.log("actor").splitlines() if "missing inputs" in line]
    assert len(lines) == 1 and "goal_pos (never received)" in lines[0], lines
    assert not probe.times[ACTION.name], "the actor acted without a goal"
    assert not (demos / "metadata.json").exists(), "the actor recorded an episode without a goal"

    # a fixed-goal publisher (what a user runs on hardware) makes it act, on that goal
    from geometry_msgs.msg import PointStamped

    goal = probe.publisher(GOAL_POS.name, GOAL_POS.type)
    msg = PointStamped()
    msg.point.x, msg.point.y, msg.point.z = 0.5, -0.1, 0.2
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (demos / "metadata.json").exists():
        msg.header.stamp = probe.node.get_clock().now().to_msg()
        goal.publish(msg)
        time.sleep(0.02)
    episode = _episodes(demos, 1, 5)[0]
    np.testing.assert_allclose(episode.obs["state"][:, PANDA_STATE:], [[0.5, -0.1, 0.2]] * 4, atol=1e-6)
    probe.wait(lambda: len(probe.times[ACTION.name]) > 0, 10, "actions from the actor")


def test_crazyflie_actor_acts_in_the_twin_envs_action_layout(graph):
    from robot_rl.sim import make_twin

    g, probe = graph
    env = make_twin("crazyflie", "hover")  # what `robot-rl train` trains on
    layout = env.unwrapped.action_layout
    size = env.action_space.shape[0]
    env.close()
    channels = [f"{f.name}.{i}" if f.size > 1 else f.name for f in layout for i in range(f.size)]
    command = adapter("crazyflie").topics["command"]
    probe.watch(ACTION.name, ACTION.type, COMMAND_QOS)
    probe.watch(command.name, command.type, COMMAND_QOS)
    g.start("twin", "twin", robot="crazyflie", task="hover")
    g.start("controller", "controller", robot="crazyflie")
    # a controller left in the other mode refuses these actions instead of flying them
    g.start("controller_rates", "controller", robot="crazyflie", action_mode="rates")
    g.start("actor", "actor", robot="crazyflie", task="hover", use_reward_node=False, max_episode_steps=10000)
    probe.wait(lambda: len(probe.msgs[command.name]) >= 5, 30, f"motor commands on {command.name}")
    with probe.lock:
        actions = list(probe.msgs[ACTION.name])
        commands = list(probe.msgs[command.name])
    assert channels == ["motor_forces.0", "motor_forces.1", "motor_forces.2", "motor_forces.3"]
    for a in actions:
        assert list(a.name) == channels and len(a.position) == size
    for c in commands:
        assert list(c.name) == ["m1", "m2", "m3", "m4"] and all(0.0 <= f <= 1.0 for f in c.effort)
    text = probe.wait_log(g, "controller_rates", "action refused")
    assert "action refused: channels [motor_forces.0" in text and "same action_mode" in text


def test_a_checkpoint_trained_on_reach_acts_through_the_graph_on_the_twins_goal(graph, tmp_path):
    from robot_rl.run_config import TrainConfig, load_checkpoint
    from robot_rl.train import Trainer

    config = TrainConfig(
        robot="panda", task="reach", agent={"hidden": [32, 32], "utd": 1, "batch_size": 16}, steps=30,
        start_steps=20, eval_every=1000, eval_episodes=1, checkpoint_every=1000,
    )  # fmt: skip
    run = tmp_path / "run"
    Trainer(config, run, progress=False).run()
    _, agent = load_checkpoint(run)

    g, _ = graph
    # trained on reach, started on another task: one line naming the fix, exit 2, before acting
    wrong = g.start(
        "wrong", "actor", robot="panda", task="pick_cube", policy="checkpoint", checkpoint=str(run)
    )
    assert wrong.wait(timeout=60) == 2
    assert "set the actor's task to the one it was trained on" in g.log("wrong")
    assert "Traceback" not in g.log("wrong")

    demos = tmp_path / "demos"
    g.start("twin", "twin", robot="panda", task="reach", seed=3)
    g.start("controller", "controller", robot="panda")
    g.start("actor", "actor", robot="panda", task="reach", policy="checkpoint", checkpoint=str(run),
            use_reward_node=False, max_episode_steps=4, demo_dir=str(demos))  # fmt: skip
    episode = _episodes(demos, 1, 40)[0]
    np.testing.assert_allclose(
        episode.obs["state"][:, PANDA_STATE:], np.tile(_reach_goal(3), (5, 1)), atol=1e-6
    )
    # every action is the trained policy's on exactly the observation the actor built
    for t in range(episode.length):
        expected = agent.policy({"state": episode.obs["state"][t]}, deterministic=True)
        np.testing.assert_allclose(episode.action[t], expected, atol=1e-5)


def _stamp(msg) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def test_crazyflie_waypoints_pos_error_follows_the_moving_target_topic(graph, tmp_path):
    from robot_rl.rosgraph import POSITION_TARGET

    g, probe = graph
    odom = adapter("crazyflie").topics["odom"]
    probe.watch(odom.name, odom.type, SENSOR_QOS, depth=200)
    probe.watch(POSITION_TARGET.name, POSITION_TARGET.type, SENSOR_QOS, depth=200)
    demos = tmp_path / "demos"
    g.start("twin", "twin", robot="crazyflie", task="waypoints")
    g.start("controller", "controller", robot="crazyflie")
    g.start("reset", "reset", robot="crazyflie")
    g.start("actor", "actor", robot="crazyflie", task="waypoints", use_reward_node=False,
            max_episode_steps=60, demo_dir=str(demos), reset_timeout_s=10.0)  # fmt: skip
    # an episode that starts after this probe hears the twin, so every tick of it is in here
    probe.wait(lambda: len(probe.msgs[POSITION_TARGET.name]) >= 20, 30, "the twin's position target")
    from robot_rl.demos import read_metadata

    done = len(read_metadata(demos)["episodes"]) if (demos / "metadata.json").exists() else 0
    episode = _episodes(demos, done + 2, 60)[-1]
    with probe.lock:  # the twin stamps an odometry message and its target alike: pair them by stamp
        targets = {_stamp(m): m.point for m in probe.msgs[POSITION_TARGET.name]}
        odoms = list(probe.msgs[odom.name])
    ticks = [
        (np.array([m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z]), targets[key])
        for m in odoms
        if (key := _stamp(m)) in targets
    ]
    assert len(ticks) >= episode.length  # the probe heard at least an episode's worth of ticks
    expected = np.array([pos - [p.x, p.y, p.z] for pos, p in ticks])
    moved = np.ptp([[p.x, p.y] for _, p in ticks], axis=0)
    assert moved.max() > 0.05  # the figure-8 moved during the episode
    pos_error = episode.obs["state"][:, :3]
    # every pos_error the actor acted on is a position minus the moving target of the same tick, or
    # (a policy step between the two messages, more often on a loaded machine) of the tick before
    gaps = np.abs(pos_error[:, None, :] - expected[None, :, :]).max(axis=2).min(axis=1)
    assert np.median(gaps) < 1e-5 and gaps.max() < 5e-3, gaps
    fixed = np.array([pos - [0.0, 0.0, 1.0] for pos, _ in ticks])  # the actor's `target` parameter
    assert np.abs(pos_error[:, None, :] - fixed[None, :, :]).max(axis=2).min(axis=1).max() > 0.05
