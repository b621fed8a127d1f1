"""Racecar: the Ackermann/throttle law (pure numpy) and the PyBullet twin doing laps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_rl.controllers.ackermann import (
    AckermannConfig,
    AckermannController,
    AckermannGeometry,
    ackermann_angles,
    limit_rate,
    throttle_to_speed,
    wheel_speeds,
)
from robot_rl.errors import ConfigError
from robot_rl.spec import load_robot_spec

GEOMETRY = AckermannGeometry(wheelbase_m=0.325, track_m=0.2, wheel_radius_m=0.05)
CONFIG = AckermannConfig(max_steer_rad=0.4, max_speed=3.0, max_wheel_torque_nm=0.4, max_reverse_speed=1.0)


# -- control law ---------------------------------------------------------------------------------
def test_ackermann_zero_inner_wheel_and_symmetry():
    assert ackermann_angles(0.0, GEOMETRY) == (0.0, 0.0)
    for delta in np.linspace(0.02, 0.4, 8):
        left, right = ackermann_angles(delta, GEOMETRY)
        assert left > delta > right > 0.0  # turning left: the left wheel is inner and steers more
        mirrored = ackermann_angles(-delta, GEOMETRY)
        assert mirrored == pytest.approx((-right, -left), abs=1e-12)
        # Both wheels point at one turning centre on the rear-axle line.
        half = 0.5 * GEOMETRY.track_m
        centre_from_left = GEOMETRY.wheelbase_m / math.tan(left) + half
        centre_from_right = GEOMETRY.wheelbase_m / math.tan(right) - half
        assert centre_from_left == pytest.approx(centre_from_right, rel=1e-9)


def test_action_rate_limit_holds_for_any_sequence():
    law = AckermannController(GEOMETRY, CONFIG)
    rng = np.random.default_rng(0)
    sequences = [
        rng.uniform(-3.0, 3.0, size=(200, 2)),
        np.tile([[1.0, 1.0], [-1.0, -1.0]], (50, 1)),
        rng.choice([-1e6, 0.0, 1e6], size=(100, 2)),
    ]
    for actions in sequences:
        law.reset()
        previous = law.action.copy()
        for action in actions:
            applied = law.set_action(action)
            assert np.all(np.abs(applied - previous) <= CONFIG.action_rate_limit + 1e-12)
            assert np.all(np.abs(applied) <= 1.0)
            previous = applied.copy()
    assert np.allclose(limit_rate(np.array([1.0, -1.0]), np.zeros(2), 0.2), [0.2, -0.2])


def test_throttle_mapping_monotonic_and_zero_at_zero():
    throttles = np.linspace(-1.0, 1.0, 201)
    speeds = [throttle_to_speed(t, CONFIG.max_speed, CONFIG.max_reverse_speed) for t in throttles]
    assert np.all(np.diff(speeds) > 0.0)
    assert throttle_to_speed(0.0, CONFIG.max_speed, CONFIG.max_reverse_speed) == 0.0
    assert speeds[-1] == pytest.approx(CONFIG.max_speed) and speeds[0] == pytest.approx(
        -CONFIG.max_reverse_speed
    )
    for delta in (-0.4, 0.0, 0.3):
        assert wheel_speeds(0.0, delta, GEOMETRY) == (0.0, 0.0, 0.0, 0.0)
    # Straight ahead every wheel rolls at v / r; in a left turn the outer (right) wheels run faster.
    assert wheel_speeds(1.0, 0.0, GEOMETRY) == pytest.approx((20.0,) * 4)
    rl, rr, fl, fr = wheel_speeds(1.0, 0.3, GEOMETRY)
    assert rr > rl > 0.0 and fr > fl > 0.0 and fl > rl


def test_law_reads_the_spec():
    spec = load_robot_spec("racecar")
    law = AckermannController.from_spec(spec)
    assert law.geometry.wheelbase_m == spec.model["geometry"]["wheelbase_m"]
    assert law.config.max_steer_rad == spec.controller["max_steer_rad"]
    assert spec.rates.policy_hz == 10 and spec.rates.control_substeps * spec.rates.physics_substeps > 1


# -- twin ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env():
    from robot_rl.sim import make_twin

    twin = make_twin("racecar", "laps", task_config={"terminate_on_success": True})
    yield twin
    twin.close()


def test_check_env_with_and_without_camera(env):
    from gymnasium.utils.env_checker import check_env

    from robot_rl.sim import make_twin

    check_env(env.unwrapped, skip_render_check=True)
    with_camera = make_twin("racecar", "laps", cameras=("front",))
    try:
        check_env(with_camera.unwrapped, skip_render_check=True)
        obs, _ = with_camera.reset(seed=0)
        assert obs["front"].shape == (128, 128, 3) and obs["front"].dtype == np.uint8
        assert obs["front"].std() > 10.0  # sees the track and the kerbs, not a blank frame
    finally:
        with_camera.close()


def test_expert_completes_laps(env):
    from robot_rl.sim import make_expert

    expert = make_expert(env, seed=0)
    wins = 0
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        for _ in range(env.task.max_episode_steps):
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        if info["success"]:
            wins += 1
            assert info["laps"] == 1 and 3.0 < info["lap_time_s"] < 20.0 and info["lap_collisions"] == 0
    assert wins >= 9


def test_driving_into_a_wall_counts_one_collision_and_costs_reward(env):
    for steering in (1.0, -1.0):  # inner wall, outer wall
        env.reset(seed=3)
        rewards, collisions = [], []
        for _ in range(40):
            _, reward, _, _, info = env.step(np.array([steering, 1.0], dtype=np.float32))
            rewards.append(reward)
            collisions.append(info["collision"])
        assert info["collisions"] == 1 == sum(collisions), "pressing on the wall is one collision"
        assert min(rewards) < -0.5 and not info["success"]


def test_same_seed_same_trajectory_with_randomization():
    from robot_rl.sim import make_twin

    twin = make_twin("racecar", "laps", randomize=True)
    actions = np.random.default_rng(1).uniform(-1.0, 1.0, size=(40, 2)).astype(np.float32)
    runs = []
    try:
        for _ in range(2):
            obs, info = twin.reset(seed=11)
            states, rewards = [obs["state"]], []
            for action in actions:
                obs, reward, *_ = twin.step(action)
                states.append(obs["state"])
                rewards.append(reward)
            runs.append((np.array(states), rewards, info["randomization"]))
        other, _ = twin.reset(seed=12)
    finally:
        twin.close()
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert runs[0][2] == runs[1][2] and runs[0][2]["sensor_noise_scale"] > 0.0
    assert not np.array_equal(other["state"], runs[0][0][0])


def test_applied_actions_respect_the_rate_limit_and_nan_brakes(env):
    obs, _ = env.reset(seed=4)
    assert env.observation_space["state"].shape == (15,)
    sl = slice(2, 4)  # last_action in the robot part of the state
    previous = obs["state"][sl].copy()
    for action in ([1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [0.3, 0.9]):
        obs, *_ = env.step(np.array(action, dtype=np.float32))
        assert np.all(np.abs(obs["state"][sl] - previous) <= 0.2 + 1e-6)
        previous = obs["state"][sl].copy()
    obs, _, _, _, info = env.step(np.array([np.nan, np.inf], dtype=np.float32))
    assert info["invalid_action"] and obs["state"][3] == pytest.approx(previous[1] - 0.2, abs=1e-6)
    assert obs["state"][2] == pytest.approx(previous[0], abs=1e-6)  # brake: throttle down, steering held


def test_spec_geometry_must_match_the_urdf():
    from robot_rl.sim import make_twin

    with pytest.raises(ConfigError, match="wheelbase_m"):
        make_twin("racecar", "laps", spec_overrides={"model": {"geometry": {"wheelbase_m": 0.5}}})
