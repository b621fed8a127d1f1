"""The reward node with a learned reward model, over real DDS: it scores every frame exactly as the
model does in-process, applies the model's proprioceptive condition from the robot's state topic,
says what is missing, survives bad images, and refuses a bad model folder in one line."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_graph_harness import graph as graph

from robot_rl.reward.base import ProprioCondition
from robot_rl.reward.classifier import ClassifierNet, SuccessClassifier
from robot_rl.robots import adapter
from robot_rl.rosgraph import REWARD, REWARD_PROBABILITY, SUCCESS, camera_topic
from robot_rl.runtime import configure_torch
from robot_rl.spec import load_robot_spec

# a ROS graph whose inputs arrive 20 ms apart: run alone (setup.cfg)
pytestmark = pytest.mark.solo

BIN = __import__("pathlib").Path(sys.executable).parent
CAMERAS = ["front", "wrist"]


def _model(folder, frames: list[dict[str, np.ndarray]]) -> SuccessClassifier:
    """An untrained two-camera classifier (the node must match it, not be right) whose threshold
    splits the test frames in half, with the condition gripper_width > 0.04."""
    torch = configure_torch()
    torch.manual_seed(0)
    spec = load_robot_spec("panda")
    size = (spec.camera("front").height, spec.camera("front").width)
    arch = {"channels": [4, 4, 4, 4], "hidden": 8, "size": list(size)}
    net = ClassifierNet(CAMERAS, arch["channels"], arch["hidden"], size)
    layout = [{"name": f.name, "size": f.size} for f in spec.observation]
    kw = {"cameras": CAMERAS, "state_layout": layout}
    probe_model = SuccessClassifier(net, 1.0, arch, threshold=0.5, **kw)
    p = probe_model.probability({c: np.stack([f[c] for f in frames]) for c in CAMERAS})
    threshold = float(np.median(p))
    model = SuccessClassifier(
        net, 1.0, arch, threshold=threshold, conditions=[ProprioCondition("gripper_width", ">", 0.04)], **kw
    )
    model.save(folder)
    return model


def _image(frame: np.ndarray, stamp):
    from sensor_msgs.msg import Image

    h, w, _ = frame.shape
    msg = Image(height=h, width=w, encoding="rgb8", step=3 * w, data=frame.tobytes())
    msg.header.stamp = stamp
    return msg


def test_reward_node_scores_each_frame_like_the_model_with_its_condition(graph, tmp_path):
    from sensor_msgs.msg import JointState

    g, probe = graph
    spec = load_robot_spec("panda")
    h, w = spec.camera("front").height, spec.camera("front").width
    rng = np.random.default_rng(0)
    frames = [
        {c: np.clip(rng.normal(255 * rng.uniform(), 40, (h, w, 3)), 0, 255).astype(np.uint8) for c in CAMERAS}
        for _ in range(8)
    ]
    model = _model(tmp_path / "model", frames)
    for t in (REWARD, SUCCESS, REWARD_PROBABILITY):
        probe.watch(t.name, t.type, depth=100)
    pubs = {
        c: probe.node.create_publisher(type(_image(frames[0][c], None)), camera_topic(c), 10) for c in CAMERAS
    }
    joints = probe.node.create_publisher(JointState, adapter("panda").topics["joints"].name, 10)
    node = g.start("reward", "reward", robot="panda", source="model", model=str(tmp_path / "model"))

    def send(frame: dict[str, np.ndarray], width: float | None) -> None:
        now = probe.node.get_clock().now().to_msg()
        if width is not None:
            joints_msg = JointState(name=["finger_joint1", "finger_joint2"], position=[width / 2, width / 2])
            joints_msg.header.stamp = now
            joints.publish(joints_msg)
        pubs["wrist"].publish(_image(frame["wrist"], now))
        time.sleep(0.02)  # the wrist frame and the state are in before the front frame triggers scoring
        pubs["front"].publish(_image(frame["front"], now))

    # the node is up when it answers; before any state arrives it says what it misses
    deadline = time.monotonic() + 30
    while "missing gripper_width (never received)" not in g.log("reward") and time.monotonic() < deadline:
        send(frames[0], None)
        time.sleep(0.2)
    assert "missing gripper_width (never received)" in g.log("reward"), g.log("reward")[-500:]
    with probe.lock:
        assert not probe.msgs[REWARD.name]  # no reward without the condition's input

    # gripper open (condition holds) for the first half, closed for the second
    expected = []
    for i, frame in enumerate(frames):
        width = 0.08 if i < 4 else 0.0
        state = np.zeros((1, sum(f.size for f in spec.observation)), np.float32)
        state[0, spec.slices()["gripper_width"]] = width
        p, ok = model.decide({c: frame[c][None] for c in CAMERAS}, state)
        expected.append((float(p[0]), bool(ok[0])))
        send(frame, width)
        probe.wait(lambda n=i + 1: len(probe.msgs[REWARD_PROBABILITY.name]) >= n, 10, f"frame {i} scored")
    time.sleep(0.2)
    with probe.lock:
        got_p = [m.data for m in probe.msgs[REWARD_PROBABILITY.name]]
        got_ok = [m.data for m in probe.msgs[SUCCESS.name]]
        got_r = [m.data for m in probe.msgs[REWARD.name]]
    assert len(got_p) == len(got_ok) == len(got_r) == len(frames)
    np.testing.assert_allclose(got_p, [p for p, _ in expected], atol=1e-5)
    assert got_ok == [ok for _, ok in expected]
    assert got_r == [float(ok) for _, ok in expected]  # the sparse reward the twin trains on
    assert any(got_ok[:4]) and not any(got_ok[4:])  # the threshold and the condition both decide
    assert sum(p >= model.threshold for p in got_p[4:]) > 0  # ... a likely frame with a closed gripper

    # a wrongly sized image: one clear line, and the node keeps scoring
    small = np.zeros((h // 2, w // 2, 3), np.uint8)
    pubs["front"].publish(_image(small, probe.node.get_clock().now().to_msg()))
    text = probe.wait_log(g, "reward", "spec wants")
    assert f"wants {h}x{w}x3 uint8 for camera 'front'" in text
    send(frames[0], 0.08)
    probe.wait(
        lambda: len(probe.msgs[REWARD_PROBABILITY.name]) > len(frames), 10, "scoring after a bad image"
    )
    assert node.poll() is None and "Traceback" not in g.log("reward")


@pytest.mark.parametrize(
    "params, says",
    [
        ({"model": "/nonexistent/model"}, "no reward_model.json"),
        ({}, "key 'model'"),
        ({"source": "vlm"}, "twin or model"),
    ],
)
def test_bad_reward_source_or_model_exits_2_with_one_line(params, says, ros_domain):
    args = [str(BIN / "reward"), "--ros-args", "-p", "source:=model"]
    for key, value in params.items():
        args += ["-p", f"{key}:={value}"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr
