"""The ROS actor feeding `robot-rl learner`: real DDS between the nodes, real ZeroMQ to the learner.

The path a robot takes: twin (standing in for the driver), controller, reset and reward nodes, and
the actor node with `learner:=tcp://...`; the learner is its own process, as on a GPU box. The
actor's transitions must reach the learner exactly once and the actor must act on the learner's
weights.
"""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy")

from ros_graph_harness import graph as graph
from test_learner import free_port_pair, read_stats, small_config, start, wait_for

# a ROS graph plus a learner process: run alone (setup.cfg)
pytestmark = pytest.mark.solo


def test_ros_actor_streams_transitions_to_the_learner_and_acts_on_its_weights(graph, tmp_path):
    g, _ = graph
    port = free_port_pair()
    config = small_config(tmp_path, port, weights_interval_s=0.5)
    run = tmp_path / "learner_run"
    learner = start(["learner", "--config", str(config), "--out", str(run)], tmp_path / "learner.log")
    g.start("twin", "twin", robot="panda", task="reach", seed=0)
    g.start("controller", "controller", robot="panda")
    g.start("reset", "reset", robot="panda")
    g.start("reward", "reward", robot="panda")
    g.start("actor", "actor", robot="panda", task="reach", learner=f"tcp://127.0.0.1:{port}",
            train_config=str(config), max_episode_steps=20, reset_timeout_s=10.0)  # fmt: skip
    try:
        # 60 steps: past the learner's 50 warm-up steps, so it trains and publishes weights
        stats = wait_for(
            lambda: (
                (s := read_stats(run))
                and s.get("env_steps", 0) >= 60
                and s["staleness_versions_median"] is not None
                and s
            ),
            timeout_s=150,
            what=f"60 env steps from the ROS actor; actor log: {g.log('actor')[-800:]}",
            step_s=0.5,
        )
    finally:
        learner.terminate()
        learner.wait(timeout=30)
    actor = stats["actors"]["ros0"]  # the actor_id the parameter file gives
    assert actor["transitions"] >= 60 and actor["duplicates"] == 0 and actor["gaps"] == 0
    assert actor["alive"] and stats["malformed"] == 0 and stats["refused"] == 0
    assert stats["episodes"] >= 2  # episodes end, the reset node resets, the next one streams on
    assert stats["updates"] > 0 and stats["weight_version"] >= 1
    # rows produced by the learner's weights (the actor explores randomly until the first arrive)
    assert stats["staleness_versions_median"] >= 0
    assert f"policy from the learner at tcp://127.0.0.1:{port}" in g.log("actor")
