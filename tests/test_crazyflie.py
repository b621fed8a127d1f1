"""Crazyflie twin: control laws, plant physics, env API and the scripted expert."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_rl.benchmarks.experts import expert_success
from robot_rl.config import from_dict
from robot_rl.controllers.quadrotor import (
    GRAVITY,
    Mixer,
    QuadrotorControllerConfig,
    RateController,
    RateGains,
    rotation_from_quaternion,
)
from robot_rl.errors import ConfigError
from robot_rl.spec import load_robot_spec

pytest.importorskip("pybullet")

from robot_rl.sim import make_twin
from robot_rl.sim.crazyflie import CrazyflieModel


@pytest.fixture(scope="module")
def spec():
    return load_robot_spec("crazyflie")


@pytest.fixture(scope="module")
def model(spec):
    return from_dict(CrazyflieModel, spec.model, source=spec.source, prefix="model")


def _physics_steps(robot, n):
    for _ in range(n):
        robot._apply_forces()
        robot.client.stepSimulation()
        robot.after_physics_step()


# -- control laws (pure numpy) -----------------------------------------------------------------
def test_mixer_round_trips(model):
    mixer = Mixer(model.arm_length_m, model.thrust_to_torque_m, model.max_thrust_n)
    rng = np.random.default_rng(0)
    for _ in range(50):
        wrench = (rng.uniform(0.1, 0.4), *rng.uniform(-1e-3, 1e-3, size=2), rng.uniform(-1e-4, 1e-4))
        assert np.allclose(mixer.wrench(mixer.forces(*wrench)), wrench, rtol=1e-9, atol=1e-15)
        forces = rng.uniform(0.0, 0.1, size=4)
        assert np.allclose(mixer.forces(*mixer.wrench(forces)), forces, atol=1e-12)


def test_mixer_follows_firmware_motor_layout(model):
    mixer = Mixer(model.arm_length_m, model.thrust_to_torque_m, model.max_thrust_n)
    # M1 front-right, M2 back-right, M3 back-left, M4 front-left; M1 and M3 push the body clockwise.
    _, roll, pitch, yaw = mixer.wrench([0.0, 0.0, 0.05, 0.05])
    assert roll > 0 and abs(pitch) < 1e-12 and abs(yaw) < 1e-12  # left motors lift the left side
    _, roll, pitch, _ = mixer.wrench([0.0, 0.05, 0.05, 0.0])
    assert pitch > 0 and abs(roll) < 1e-12  # back motors pitch the nose down (+y)
    assert mixer.wrench([0.05, 0.0, 0.05, 0.0])[3] < 0
    hover = model.mass_kg * GRAVITY
    assert np.allclose(mixer.normalized(hover, 0.0, 0.0, 0.0), [model.hover_command] * 4)
    # Saturation keeps the torque and gives up collective thrust.
    u = mixer.normalized(4 * model.max_thrust_n, 2e-3, 0.0, 0.0)
    assert max(u) == pytest.approx(1.0)
    assert mixer.wrench([v * model.max_thrust_n for v in u])[1] == pytest.approx(2e-3)


def test_rate_controller_drives_rate_error_down(spec, model):
    gains = from_dict(QuadrotorControllerConfig, spec.controller, source=spec.source).rate
    dt, tau = 0.002, model.motor_tau_up_s
    ctrl = RateController(gains, model.inertia_kg_m2, dt)
    inertia = model.inertia_kg_m2
    omega, torque = [2.0, -1.5, 1.0], [0.0, 0.0, 0.0]
    setpoint = [0.0, 0.0, 0.0]
    for _ in range(int(1.5 / dt)):
        cmd = ctrl.update(setpoint, omega)
        # rigid body with the motors' first-order lag between command and torque
        torque = [t + (c - t) * dt / tau for t, c in zip(torque, cmd)]
        omega = [w + dt * t / j for w, t, j in zip(omega, torque, inertia)]
    assert max(abs(w) for w in omega) < 0.05 * 2.0
    assert isinstance(RateGains(), RateGains)


def test_rotation_from_quaternion_matches_pybullet():
    import pybullet

    rng = np.random.default_rng(1)
    for _ in range(5):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        assert np.allclose(
            rotation_from_quaternion(*q), pybullet.getMatrixFromQuaternion(q.tolist()), atol=1e-9
        )


# -- plant ---------------------------------------------------------------------------------------
def test_motor_lag_has_configured_time_constant():
    overrides = {"model": {"motor_tau_up_s": 0.05, "motor_tau_down_s": 0.1}}
    env = make_twin("crazyflie", "hover", spec_overrides=overrides)
    env.reset(seed=0)
    robot = env.robot
    dt = 1.0 / robot.spec.rates.physics_hz
    robot.speed = [0.0] * 4
    robot.set_command(np.ones(4, dtype=np.float32))
    robot.control()
    _physics_steps(robot, round(0.05 / dt))
    assert robot.speed[0] == pytest.approx(1.0 - math.exp(-1.0), abs=1e-6)  # 63 % after one time constant
    robot.set_command(-np.ones(4, dtype=np.float32))
    robot.control()
    start = robot.speed[0]
    _physics_steps(robot, round(0.1 / dt))
    assert robot.speed[0] == pytest.approx(start * math.exp(-1.0), abs=1e-6)
    env.close()


def test_hover_command_hovers():
    env = make_twin("crazyflie", "hover")
    env.reset(seed=0)
    env.robot.place([0.0, 0.0, 1.0])
    for _ in range(200):  # 2 s
        env.step(env.robot.safe_action())
    pos, _, rot, _ = env.robot.true_state()
    assert abs(pos[2] - 1.0) < 0.02 and math.hypot(pos[0], pos[1]) < 0.02
    assert rot[8] > math.cos(0.02)
    env.close()


def test_ground_effect_raises_thrust_near_ground():
    env = make_twin("crazyflie", "hover")
    env.reset(seed=0)

    def climb_rate(height):
        env.robot.place([0.0, 0.0, height])
        env.step(env.robot.safe_action())
        return env.robot.true_state()[1][2]

    # Cheeseman-Bennett at 2.5 cm: 1 / (1 - (r / 4z)^2) = 1.057, i.e. +0.56 m/s^2 for 10 ms
    assert climb_rate(0.025) > 0.004
    assert abs(climb_rate(1.0)) < 2e-4
    env.close()


def test_motor_directions_match_firmware():
    env = make_twin("crazyflie", "hover")
    env.reset(seed=0)
    hover = float(env.robot.safe_action()[0])

    def rates_after(action):
        env.robot.place([0.0, 0.0, 1.0])
        for _ in range(3):
            env.step(np.asarray(action, dtype=np.float32))
        return env.robot.true_state()[3]

    roll, pitch, yaw = rates_after([hover, hover, hover + 0.1, hover + 0.1])  # M3, M4: left side up
    assert roll > 0.05 and abs(pitch) < 1e-3 and abs(yaw) < 1e-3
    roll, pitch, yaw = rates_after([hover, hover + 0.1, hover + 0.1, hover])  # M2, M3: tail up, nose down
    assert pitch > 0.05 and abs(roll) < 1e-3
    roll, pitch, yaw = rates_after(
        [hover + 0.1, hover, hover + 0.1, hover]
    )  # M1, M3: counter-clockwise rotors
    assert yaw < -0.005 and abs(roll) < 1e-3 and abs(pitch) < 1e-3
    env.close()


# -- env API -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "task, mode", [("hover", "force"), ("waypoints", "force"), ("hover", "rates"), ("waypoints", "rates")]
)
def test_check_env(task, mode):
    from gymnasium.utils.env_checker import check_env

    env = make_twin("crazyflie", task, robot_options={"action_mode": mode})
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_action_modes_layout_and_safe_action(model):
    env = make_twin("crazyflie", "hover")
    assert env.action_space.shape == (4,)
    assert np.allclose(env.robot.safe_action(), 2 * model.hover_command - 1)
    env.close()
    env = make_twin("crazyflie", "hover", robot_options={"action_mode": "rates"})
    assert [f.name for f in env.action_layout] == ["collective_thrust", "body_rates"]
    assert env.action_space.shape == (4,)
    safe = env.robot.safe_action()
    assert safe[0] == pytest.approx(2 * model.hover_command - 1) and np.allclose(safe[1:], 0.0)
    env.reset(seed=0)
    env.robot.place([0.0, 0.0, 1.0])
    for _ in range(100):
        env.step(np.array([np.nan, 0, 0, 0], dtype=np.float32))  # NaN -> hover
    assert abs(env.robot.true_state()[0][2] - 1.0) < 0.05
    env.close()
    with pytest.raises(ConfigError, match="action_mode"):
        make_twin("crazyflie", "hover", robot_options={"action_mode": "attitude"})
    with pytest.raises(ConfigError, match=r"model\.mass_kg"):
        make_twin("crazyflie", "hover", spec_overrides={"model": {"mass_kg": -1.0}})


def test_same_seed_same_trajectory():
    env = make_twin("crazyflie", "waypoints", randomize=True)
    actions = np.random.default_rng(3).uniform(-0.2, 0.6, size=(60, 4)).astype(np.float32)

    def rollout():
        obs, info = env.reset(seed=11)
        states = [obs["state"]]
        for a in actions:
            obs, reward, term, trunc, _ = env.step(a)
            states.append(np.append(obs["state"], reward))
            if term or trunc:
                break
        return states, info["randomization"]

    (a, pa), (b, pb) = rollout(), rollout()
    assert pa == pb and len(a) == len(b)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    env.close()


# -- expert --------------------------------------------------------------------------------------
@pytest.mark.parametrize("task, mode", [("hover", "force"), ("waypoints", "force"), ("waypoints", "rates")])
def test_expert_succeeds(task, mode):
    result = expert_success("crazyflie", task, episodes=10, randomize=False, action_mode=mode)
    assert result["success_rate"] >= 0.9, result
