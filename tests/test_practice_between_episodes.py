"""Reset-free practice, between episodes: a cube the policy leaves, one near the table edge or beyond
the workspace, one the robot cannot fetch, and the tray that keeps a pushed cube in reach."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robot_rl.errors import ConfigError


def test_a_cube_the_policy_leaves_in_place_is_carried_into_the_source_bin_by_the_robot(tmp_path):
    import torch

    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    config = PracticeConfig(minutes=0.2, demo_episodes=0, eval_episodes=1, start_steps=0, practice_noise=0.01,
                            stuck_episodes=2, agent={"hidden": [16, 16], "utd": 1})  # fmt: skip
    practice = Practice(config, tmp_path / "run", progress=False)
    task = practice.env.unwrapped.task
    practice.env.reset(seed=0)
    spot = [0.36, -0.24, 0.02]  # reachable, outside bin A; the arm never comes near it in 3 s
    task.client.resetBasePositionAndOrientation(task.cube, spot, [0, 0, 0, 1])
    practice.act = lambda direction, obs: np.zeros(4, np.float32)  # a policy that does not move it
    bar = type("Bar", (), {"update": lambda self, n: None})()
    practice._episode(torch.Generator(), bar)
    assert practice.resets.cube_resets == 0 and practice.resets.still == 1  # one failure: not yet
    practice._episode(torch.Generator(), bar)
    assert (
        practice.resets.cube_resets == 1 and practice.resets.still == 0 and practice.resets.hand_resets == 0
    )
    assert task.in_bin(task.bins("forward")[0])  # the scripted reset put it in the source bin
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["episode", "episode", "cube_reset"]
    assert abs(events[-1]["cube_xy"][0] - 0.36) < 0.01
    assert practice.supervisor.metrics()["resets"] == 3  # two arm resets and the cube reset


def _edge_practice(tmp_path, **overrides):
    """Practice with `reach_half` and a policy that does not move the cube; one episode per call of
    the returned function, with the cube placed at (x, y) first. `overrides`: PracticeConfig fields."""
    import torch

    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    config = PracticeConfig(minutes=0.2, demo_episodes=0, eval_episodes=1, start_steps=0, reach_half=0.15,
                            agent={"hidden": [16, 16], "utd": 1}, **overrides)  # fmt: skip
    practice = Practice(config, tmp_path / "run", progress=False)
    task = practice.env.unwrapped.task
    practice.env.reset(seed=0)
    practice.act = lambda direction, obs: np.zeros(4, np.float32)
    bar = type("Bar", (), {"update": lambda self, n: None})()

    def episode_from(x: float, y: float) -> None:
        task.client.resetBasePositionAndOrientation(task.cube, [x, y, 0.02], [0, 0, 0, 1])
        practice._episode(torch.Generator(), bar)

    return practice, task, episode_from


def test_a_cube_near_the_table_edge_or_beyond_the_workspace_is_fetched_by_the_robot(tmp_path):
    practice, task, episode_from = _edge_practice(tmp_path)
    episode_from(0.55, 0.0)  # between the bins: within reach_half of both
    assert practice.resets.cube_resets == 0
    episode_from(0.33, -0.05)  # 17 cm from bin A in x: the robot brings it back
    assert practice.resets.cube_resets == 1 and practice.resets.hand_resets == 0
    assert task.in_bin(task.bins("forward")[0])
    # beyond the workspace but where the arm can still fetch it: the robot does, no person needed
    episode_from(0.28, -0.29)
    assert practice.resets.cube_resets == 2 and practice.resets.hand_resets == 0
    assert task.in_bin(task.bins("forward")[0])
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    resets = [e["reason"] for e in events if e["event"] == "cube_reset"]
    assert resets == ["far", "outside"]


def test_a_cube_the_robot_cannot_fetch_is_a_hand_reset_after_the_robot_tried(tmp_path):
    practice, _, episode_from = _edge_practice(tmp_path)
    episode_from(0.9, 0.0)  # off the table
    assert (
        practice.resets.hand_resets == 1
        and practice.resets.cube_resets == 1
        and practice.resets.in_workspace()
    )
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [(e["event"], e.get("reason")) for e in events] == [
        ("episode", None),
        ("cube_reset", "outside"),
        ("hand_reset", None),
    ]


def _shipped_cell():
    """The twin of the shipped practice config's cell: its tray and its TCP box."""
    from robot_rl.paths import config_dir
    from robot_rl.run_config import load_practice_config

    config = load_practice_config(str(config_dir() / "train" / "panda_pick_place_practice.yaml"))
    return config.task_config, config.spec_overrides


def _push(env, xy, velocity) -> np.ndarray:
    """Slide the cube from `xy` at `velocity` (m/s) for 1.5 s of physics; its resting position."""
    task = env.unwrapped.task
    task.client.resetBasePositionAndOrientation(task.cube, [*xy, 0.5 * task.cube_size], [0, 0, 0, 1])
    task.client.resetBaseVelocity(task.cube, [*velocity, 0.0], [0, 0, 0])
    for _ in range(360):
        task.client.stepSimulation()
    return task.cube_pose()[0]


def test_the_tray_stops_a_pushed_cube_and_the_robot_fetches_it_from_the_rim_and_the_corner():
    from robot_rl.controllers.resets import CubeReset, run_reset
    from robot_rl.sim import make_twin

    task_config, spec_overrides = _shipped_cell()
    x0, y0, x1, y1 = task_config["tray"]
    bare = make_twin("panda", "pick_place")
    bare.reset(seed=0)
    assert _push(bare, (0.5, 0.25), (0.0, 2.0))[1] > y1 + 0.03  # without the rim it slides past
    bare.close()
    env = make_twin("panda", "pick_place", task_config=task_config, spec_overrides=spec_overrides)
    env.reset(seed=0)
    twin, task = env.unwrapped, env.unwrapped.task
    # the cell's TCP box: a cube carried at its edge is still inside the rim
    np.testing.assert_allclose(twin.robot_spec.safety.box_low[:2], [x0 + 0.02, y0 + 0.02])
    np.testing.assert_allclose(twin.robot_spec.safety.box_high[:2], [x1 - 0.02, y1 - 0.02])
    for velocity in [(0.0, 2.0), (0.0, -2.0), (-2.0, 0.0), (2.0, 0.0)]:
        rest = _push(env, (0.5, 0.0), velocity)
        assert x0 < rest[0] < x1 and y0 < rest[1] < y1 and rest[2] < task.cube_size  # inside, on the table
    rng = np.random.default_rng(0)
    source, (low, high) = task.bins("forward")[0], task.drop_zone("forward")
    half_edge = 0.5 * task.cube_size
    # near the rim, turned so that a finger comes down on the rim; in a corner
    for x, y, yaw in [(0.5, y1 - 0.035, 0.4), (0.6, y1 - 0.04, -0.4), (x0 + half_edge, y0 + half_edge, 0.0)]:
        env.reset(seed=1)
        quat = task.client.getQuaternionFromEuler([0.0, 0.0, yaw])
        task.client.resetBasePositionAndOrientation(task.cube, [x, y, half_edge], quat)
        report = run_reset(env, CubeReset(spot_low=low, spot_high=high), rng)
        assert report.success and task.in_bin(source), (x, y, report.reason)
    env.close()


def test_a_tray_that_cuts_into_where_episodes_start_the_cube_is_refused():
    from robot_rl.sim import make_twin

    with pytest.raises(ConfigError, match="tray"):
        make_twin("panda", "pick_place", task_config={"tray": [0.45, -0.3, 0.7, 0.3]})  # bin A reaches 0.43
    with pytest.raises(ConfigError, match="tray"):
        make_twin("panda", "pick_place", task_config={"tray": [0.3, -0.3, 0.7]})


def test_with_a_tray_the_workspace_is_the_tray(tmp_path):
    task_config, _ = _shipped_cell()
    practice, task, _ = _edge_practice(tmp_path, task_config=task_config)
    y1 = task_config["tray"][3]
    task.client.resetBasePositionAndOrientation(task.cube, [0.5, y1 - 0.021, 0.02], [0, 0, 0, 1])
    assert practice.resets.in_workspace()  # past the default workspace's edge (0.3 m), inside the rim
    task.client.resetBasePositionAndOrientation(task.cube, [0.5, y1 + 0.05, 0.02], [0, 0, 0, 1])
    assert not practice.resets.in_workspace()
