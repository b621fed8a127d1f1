"""The ROS 2 node graph with real DDS: each node a separate process started through its console script.

Every test runs on its own ROS_DOMAIN_ID with discovery limited to localhost; the probe (an rclpy
node in this process) subscribes like any other node would (tests/ros_graph_harness.py).
"""

from __future__ import annotations

import itertools
import math
import re
import time

import numpy as np
import pytest

# whole ROS graphs with watchdog deadlines of tens of ms: run alone (setup.cfg)
pytestmark = pytest.mark.solo

rclpy = pytest.importorskip("rclpy")

from ros_graph_harness import PROBE_SLACK_S, assert_driver_rate, kill_the_actor, state_topic, watch_robot  # noqa: E402
from ros_graph_harness import graph as graph  # noqa: E402

from robot_rl.robots import adapter  # noqa: E402
from robot_rl.ros.common import COMMAND_QOS, msg_type  # noqa: E402
from robot_rl.rosgraph import ACTION, CONTROLLER_STATE, EPISODE  # noqa: E402
from robot_rl.spec import load_robot_spec  # noqa: E402


@pytest.mark.parametrize("robot", ["panda", "ur5e"])
def test_arm_graph_rates_commands_episodes_and_watchdog(graph, robot):
    """Both arms through the same nodes: only their adapters differ (the twin publishes at 100 Hz,
    the UR5e's as its parameter file sets it, not the driver's 500)."""
    g, probe = graph
    topics = watch_robot(probe, robot)
    g.start("twin", "twin", robot=robot, state_hz=100)
    g.start("controller", "controller", robot=robot)
    g.start("reset", "reset", robot=robot)
    g.start("reward", "reward", robot=robot)
    actor = g.start("actor", "actor", robot=robot, max_episode_steps=8, reset_timeout_s=3.0)
    state, command = topics["pose"].name, topics["command"].name

    probe.wait(lambda: len(probe.times[state]) > 20, 20, f"twin state on {state}")
    # commands flow through the controller to the driver's topic, an episode ends and a new one starts
    probe.wait(lambda: len(probe.msgs[command]) >= 5, 15, f"commands on {command}")
    probe.wait(lambda: any(m.data >= 2 for m in probe.msgs[EPISODE.name]), 15, "episode 2 after two resets")
    assert "resetting" in g.log("actor")
    # the driver's topics at the driver's rate, with the whole graph running
    assert_driver_rate(probe, state, 100)
    for key in adapter(robot).STATE:
        assert probe.times[topics[key].name], f"nothing on {topics[key].name}"
    # equilibrium poses stay in the safety box
    spec = load_robot_spec(robot)
    for m in probe.msgs[command]:
        p = m.pose.position
        assert all(
            lo - 1e-6 <= v <= hi + 1e-6
            for v, lo, hi in zip((p.x, p.y, p.z), spec.safety.box_low, spec.safety.box_high)
        )

    # killing the actor: the controller holds within the watchdog timeout + 20 ms
    probe.wait(lambda: probe.last(CONTROLLER_STATE.name) == "ok", 5, "controller ok")
    restart = lambda: g.start("actor2", "actor", robot=robot, max_episode_steps=1000, use_reward_node=False)  # noqa: E731
    own, last_action, hold_at = kill_the_actor(g, probe, actor, restart, spec.safety.command_timeout_s, 0.3)
    with probe.lock:
        hold_cmd = [t for t in probe.times[command] if t > hold_at]
    delay = hold_at - last_action
    timeout = spec.safety.command_timeout_s
    # The bound that matters for safety is the upper one. The watchdog judges commands by their
    # stamps, so a last action delivered late on a loaded machine is already stale on arrival
    # and the hold comes sooner than the timeout (never later).
    # By the controller's own clock (its log: the newest action's age when it stopped) the hold
    # comes within the timeout + 20 ms; seen from this probe (publish stamps of the last action and
    # of the state message) the transport and this machine's scheduling add to it.
    assert own <= timeout + 0.02, f"hold {1000 * own:.0f} ms after"
    assert 0 <= delay <= timeout + PROBE_SLACK_S, f"hold seen {1000 * delay:.0f} ms after the last action"
    assert hold_cmd and hold_cmd[0] - last_action <= timeout + PROBE_SLACK_S, "no hold pose published"
    assert "no action for 200 ms: holding pose" in probe.wait_log(g, "controller", "no action")


@pytest.mark.parametrize(("robot", "mode"), [("crazyflie", ""), ("crazyflie", "rates"), ("racecar", "")])
def test_land_and_brake_when_the_actor_dies(graph, robot, mode):
    g, probe = graph
    topics = watch_robot(probe, robot, mode)
    spec = load_robot_spec(robot)
    task = {"crazyflie": "hover", "racecar": "laps"}[robot]
    layout = {"action_mode": mode} if mode else {}  # "": the default (Crazyflie motor forces)
    g.start("twin", "twin", robot=robot, task=task, **layout)
    g.start("controller", "controller", robot=robot, **layout)
    state, command = state_topic(robot), topics["command"].name
    probe.wait(lambda: len(probe.times[state]) > 20, 20, f"twin state on {state}")
    assert_driver_rate(probe, state, adapter(robot).state_hz)
    # The random actor flies briefly: held unwatched for 60-100 ms (a stalled process on a loaded
    # machine), one of its motor commands can tip the quadrotor past the tilt limit before any layer
    # sees it again (in the twin behind SafeEnv: 4 of 40 random flights flip at 100 ms, none at 30 ms).
    actor = g.start(
        "actor", "actor", robot=robot, task=task, max_episode_steps=1000, use_reward_node=False, **layout
    )
    probe.wait(lambda: probe.last(CONTROLLER_STATE.name) == "ok", 20, "actions flowing (controller ok)")
    probe.wait(lambda: len(probe.msgs[command]) >= 5, 10, f"commands on {command}")
    # this probe hears the new actor too (its discovery runs apart from the controller's)
    probe.wait(lambda: len(probe.times[ACTION.name]) >= 5, 20, "the actor's actions")
    restart = lambda: g.start(  # noqa: E731
        "actor2", "actor", robot=robot, task=task, max_episode_steps=1000, use_reward_node=False, **layout
    )
    # the fallback flies (drives) for a second
    own, last_action, hold_at = kill_the_actor(g, probe, actor, restart, spec.safety.command_timeout_s, 1.0)
    stopped = hold_at - last_action
    with probe.lock:
        after = [(t, m) for t, m in zip(probe.times[command], probe.msgs[command]) if t > hold_at]
        # the land law levels and damps whatever the random actor left (a climb of up to ~1 m/s)
        odom = [(t, m) for t, m in zip(probe.times[state], probe.msgs[state]) if t > hold_at + 0.7]
    # the controller's own clock: within the timeout + 20 ms; the probe's view adds transport
    assert own <= spec.safety.command_timeout_s + 0.02, f"{1000 * own:.0f} ms"
    assert stopped <= spec.safety.command_timeout_s + PROBE_SLACK_S, (
        f"stop seen {1000 * stopped:.0f} ms after"
    )
    assert len(after) >= 0.8 * spec.rates.policy_hz, "the fallback is not streamed at the policy rate"
    if robot == "racecar":
        # brake: the speed target falls to 0 through the policy's action-rate limit (as in the twin)
        speeds = [abs(m.linear.x) for _, m in after]
        assert all(b <= a + 1e-9 for a, b in itertools.pairwise(speeds)) and speeds[-1] == 0.0, speeds[:10]
        return
    # land, the quadrotor shield's law (the twin's): level, sinking, not falling, in either action mode
    assert odom, f"no odometry on {state} after the hold"
    for _, m in odom:
        q, vz = m.pose.pose.orientation, m.twist.twist.linear.z
        tilt = math.acos(max(-1.0, min(1.0, 1.0 - 2.0 * (q.x * q.x + q.y * q.y))))
        assert tilt < spec.safety.max_tilt_rad, f"tilt {tilt:.2f} rad while landing"
        assert -1.0 < vz < 0.1, f"vertical speed {vz:.2f} m/s while landing"
    if mode == "rates":
        assert all(0.0 <= m.twist.linear.z < 1.0 for _, m in after)
    else:
        assert all(0.0 <= f <= 1.0 for _, m in after for f in m.effort)


def test_a_policy_step_without_an_action_repeats_the_last_one_through_the_shield(graph):
    """An actor slower than the policy rate (here 25 Hz for the Crazyflie's 100 Hz): the controller
    fills the missed steps with the last action through the shield, as SafeEnv does in the twin, so
    the driver never holds an unwatched setpoint until the watchdog's timeout."""
    from sensor_msgs.msg import JointState

    g, probe = graph
    topics = watch_robot(probe, "crazyflie")
    spec = load_robot_spec("crazyflie")
    g.start("twin", "twin", robot="crazyflie", task="hover")
    g.start("controller", "controller", robot="crazyflie")
    command = topics["command"].name
    probe.wait(lambda: len(probe.times[state_topic("crazyflie")]) > 20, 20, "twin state")
    action = probe.publisher(ACTION.name, ACTION.type, COMMAND_QOS)
    msg = JointState(name=[f"motor_forces.{i}" for i in range(4)], position=[0.0] * 4)

    def act_for(seconds: float, until=lambda: False) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            msg.header.stamp = probe.node.get_clock().now().to_msg()
            action.publish(msg)
            time.sleep(0.04)

    act_for(20.0, until=lambda: len(probe.times[command]) >= 5)  # discovery: the controller takes them
    start = time.time()
    act_for(1.7)  # the window below ends 0.45 s before the last action: the probe has taken it all
    log = g.log("controller")
    with probe.lock:
        sent = [t for t in probe.times[command] if start + 0.25 < t < start + 1.25]  # one second, acting
    # a command every policy period or so (the first repeat waits 1.5 periods, the 200 Hz check
    # rounds up to 5 ms); without the repeats they came every 40 ms, with the actions
    gaps = np.diff(sent)
    assert len(sent) >= 0.6 * spec.rates.policy_hz, f"{len(sent)} commands in a second"
    assert np.median(gaps) <= 1.5 / spec.rates.policy_hz, f"median gap {1000 * np.median(gaps):.0f} ms"
    assert "no action for" not in log  # 40 ms between actions: the watchdog never fired


def test_non_finite_state_stops_the_robot_with_one_line(graph):
    g, probe = graph
    topics = watch_robot(probe, "panda")
    g.start("twin", "twin", robot="panda")
    g.start("controller", "controller", robot="panda")
    g.start("actor", "actor", robot="panda", max_episode_steps=1000, use_reward_node=False)
    command = topics["command"].name
    probe.wait(lambda: len(probe.msgs[command]) >= 3, 20, f"commands on {command}")
    # the actor must be acting on the twin's state before the bad sample (discovery takes a while
    # on a loaded machine)
    probe.wait(lambda: len(probe.times[ACTION.name]) >= 3, 30, "the actor acting")
    bad = msg_type(topics["pose"].type)()
    bad.pose.position.x = math.nan
    bad.pose.orientation.w = 1.0
    pub = probe.publisher(topics["pose"].name, topics["pose"].type)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and probe.last(CONTROLLER_STATE.name) != "fault":
        bad.header.stamp = probe.node.get_clock().now().to_msg()  # a fresh sample with a bad value
        pub.publish(bad)
        time.sleep(0.05)
    assert probe.last(CONTROLLER_STATE.name) == "fault"
    with probe.lock:
        fault_at = probe.times[CONTROLLER_STATE.name][-1]
    time.sleep(1.0)  # the actor keeps acting at 10 Hz; none of it may reach the robot
    # under load this probe may take that second's samples late: wait for them, by their stamps
    probe.wait(lambda: sum(t > fault_at + 0.05 for t in probe.times[ACTION.name]) >= 4, 10, "actions")
    with probe.lock:
        actions = [t for t in probe.times[ACTION.name] if t > fault_at + 0.05]
        # the state goes out first, then the hold pose: nothing the driver gets after it is the policy's
        hold = [t for t in probe.times[command] if fault_at <= t <= fault_at + 0.05]
        later = [t - fault_at for t in probe.times[command] if t > hold[0]] if hold else []
    assert len(actions) >= 4, f"the actor stopped acting ({len(actions)} actions): {g.log('actor')[-500:]}"
    # the hold pose (the last finite measured pose) goes out with the fault, and nothing after it
    assert hold, "no hold pose with the fault"
    assert not later, f"{len(later)} commands reached the robot after the fault"
    text = probe.wait_log(g, "controller", "non-finite")
    lines = [line for line in text.splitlines() if "non-finite" in line]
    assert len(lines) == 1 and "holding pose" in lines[0] and "current_pose" in lines[0]


@pytest.mark.parametrize("robot", ["panda", "crazyflie"])
def test_a_driver_that_goes_silent_stops_the_robot_within_the_sensor_age(graph, robot):
    """The twin (the driver) is killed mid-run: the controller's layer sees its state go stale and
    stops the robot within `safety.sensor_max_age_s` (+ the watchdog tick and 20 ms), before the
    command watchdog would (the actor stops acting on stale state too)."""
    g, probe = graph
    topics = watch_robot(probe, robot)
    spec = load_robot_spec(robot)
    task = {"panda": "reach", "crazyflie": "hover"}[robot]
    twin = g.start("twin", "twin", robot=robot, task=task)
    g.start("controller", "controller", robot=robot)
    g.start("actor", "actor", robot=robot, task=task, max_episode_steps=1000, use_reward_node=False)
    state = state_topic(robot)
    probe.wait(lambda: len(probe.times[state]) > 20, 20, f"twin state on {state}")
    probe.wait(lambda: probe.last(CONTROLLER_STATE.name) == "ok", 30, "actions flowing (controller ok)")
    killed = time.time()  # the probe's times are DDS source stamps: wall clock
    twin.kill()
    twin.wait()
    probe.wait(lambda: probe.last(CONTROLLER_STATE.name) == "hold", 3, "the stop after the driver died")
    time.sleep(0.3)  # let the probe take every message still queued
    stop_at = probe.first_after(CONTROLLER_STATE.name, killed, "hold")
    with probe.lock:
        sent = [t for t in probe.times[topics["command"].name] if t >= stop_at - 0.005]
    # The layer stops on the newest state that reached the controller: its log line says how old
    # that was at the stop (the probe, a best-effort subscriber of its own, is no reference). From
    # the kill, the last samples the dead twin had queued add up to a few state periods.
    text = probe.wait_log(g, "controller", "stale sensor")
    ages = [
        float(a) for a in re.findall(r"\((\d+) ms old\)", text.split("stale sensor", 1)[1].splitlines()[0])
    ]
    assert ages and max(ages) / 1000 <= spec.safety.sensor_max_age_s + 1.0 / 200 + 0.02, text
    stopped = stop_at - killed
    assert stopped <= spec.safety.sensor_max_age_s + 3 / adapter(robot).state_hz + 0.02, (
        f"stop {1000 * stopped:.0f} ms"
    )
    assert stopped < spec.safety.command_timeout_s, "the watchdog stopped it, not the stale-sensor check"
    assert sent, "no fallback with the stop"
    assert "stale sensor: state" in text and "until it is fresh again" in text


def test_wrongly_sized_image_is_a_clear_error_not_a_crash(graph):
    g, probe = graph
    actor = g.start("actor", "actor", robot="panda", cameras="[wrist]", use_reward_node=False)
    from sensor_msgs.msg import Image

    pub = probe.node.create_publisher(Image, "/camera/wrist/color/image_raw", 1)
    msg = Image(height=64, width=64, encoding="rgb8", step=192, data=bytes(64 * 64 * 3))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "spec wants" not in g.log("actor"):
        msg.header.stamp = probe.node.get_clock().now().to_msg()
        pub.publish(msg)
        time.sleep(0.1)
    text = g.log("actor")
    assert "image on /camera/wrist/color/image_raw is 64x64x3 uint8" in text
    assert "wants 128x128x3 uint8 for camera 'wrist'" in text
    assert actor.poll() is None and "Traceback" not in text


def test_teleop_overrides_the_policy_and_episodes_are_recorded_as_flagged_demos(graph, tmp_path):
    from geometry_msgs.msg import Twist

    from robot_rl.demos import load_demos, read_metadata

    g, probe = graph
    watch_robot(probe, "panda")
    g.start("twin", "twin", robot="panda")
    g.start("controller", "controller", robot="panda")
    g.start("reset", "reset", robot="panda")
    g.start("reward", "reward", robot="panda")
    demos = tmp_path / "demos"
    g.start("actor", "actor", robot="panda", max_episode_steps=5, demo_dir=str(demos), reset_timeout_s=3.0)
    pub = probe.publisher("/robot_rl/teleop", "geometry_msgs/Twist")
    teleop = Twist()
    teleop.linear.x, teleop.linear.z, teleop.angular.x = 0.5, -0.25, 1.0  # +x, down, close the gripper
    teleop_action = pytest.approx([0.5, 0.0, -0.25, 1.0])
    # publish teleop until the demo folder holds two whole episodes after the one teleop took over in
    # (discovery takes a moment); the recorded files, not a topic, say how far the actor got
    episodes: list = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for _ in range(10):
            pub.publish(teleop)
            time.sleep(0.02)
        if (demos / "metadata.json").exists() and len(read_metadata(demos)["episodes"]) > len(episodes):
            episodes = list(load_demos(demos)[1])
        first_flagged = next((i for i, e in enumerate(episodes) if e.intervention.any()), None)
        if first_flagged is not None and len(episodes) - first_flagged > 2:
            break
    assert first_flagged is not None and len(episodes) - first_flagged > 2, (
        f"teleop did not take over for 2 episodes ({len(episodes)} recorded, first flagged {first_flagged})"
    )
    with probe.lock:
        actions = [list(m.position) for m in probe.msgs[ACTION.name]]
    first = next(i for i, a in enumerate(actions) if a == teleop_action)
    assert all(a == teleop_action for a in actions[first:]), "the policy acted while teleop was fresh"
    meta = read_metadata(demos)
    assert meta["robot"] == "panda" and len(meta["episodes"]) >= 3
    for episode in episodes:
        # the twin's reach layout: 14 robot state entries, then the goal from its task topic
        assert episode.length == 5 and episode.obs["state"].shape == (6, 17)
        assert episode.truncated[-1] and not episode.terminated.any()
        # a step is flagged as an intervention exactly when teleop chose its action
        is_teleop = np.array([list(a) == teleop_action for a in episode.action])
        np.testing.assert_array_equal(episode.intervention, is_teleop)
    # the two episodes after the take-over ran under teleop (a step may miss it when this loaded
    # process publishes late)
    after = episodes[first_flagged + 1 : first_flagged + 3]
    assert after[0].intervention.sum() + after[1].intervention.sum() >= 8
