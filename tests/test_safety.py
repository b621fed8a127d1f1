"""The safety layer: e-stop latch, watchdog, stale sensors, NaN guards and the shields, on the real twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robot_rl.controllers.safety_layer import SafetyLayer, nonfinite_keys, nonfinite_parameters
from robot_rl.controllers.shields import ArmShield, CarShield, QuadShield
from robot_rl.spec import load_robot_spec

pytest.importorskip("pybullet")

from robot_rl.benchmarks.safety import run_adversarial
from robot_rl.safety import SafeEnv, commanded_target, contact_force
from robot_rl.sim import make_twin


def _panda_layer():
    spec = load_robot_spec("panda")
    fields = [f for f in spec.action if f.name != "ee_delta_yaw"]
    obs = list(spec.observation)
    layer = SafetyLayer(spec, fields, obs)
    state = np.zeros(spec.obs_size, dtype=np.float32)
    state[0:3] = (0.5, 0.0, 0.3)
    return spec, layer, state


def test_shields_follow_the_spec_layouts():
    assert isinstance(SafetyLayer(load_robot_spec("crazyflie")).shield, QuadShield)
    assert isinstance(SafetyLayer(load_robot_spec("racecar")).shield, CarShield)
    assert isinstance(_panda_layer()[1].shield, ArmShield)
    assert [SafetyLayer(load_robot_spec(r)).fallback_mode for r in ("crazyflie", "racecar")] == [
        "land",
        "brake",
    ]


def test_estop_latches_until_cleared():
    _, layer, state = _panda_layer()
    layer.reset(0.0)
    layer.observe({"state": state}, 0.0)
    assert layer.command(np.array([1.0, 0.0, 0.0, 0.0]), 0.0).reason == "ok"
    layer.estop.trigger("operator")
    for t in (0.01, 0.02, 0.05):
        layer.observe({"state": state}, t)
        decision = layer.command(np.array([1.0, 0.0, 0.0, 0.0]), t)
        assert decision.reason == "estop"
        np.testing.assert_array_equal(decision.action, 0.0)  # hold: no reference change
    assert layer.estop.reason == "operator"
    layer.estop.clear()
    assert layer.command(np.array([1.0, 0.0, 0.0, 0.0]), 0.05).reason == "ok"


def test_nan_at_every_input_is_caught():
    _, layer, state = _panda_layer()
    layer.reset(0.0)
    assert layer.observe({"state": state}, 0.0)
    # action: that step falls back, nothing latches
    decision = layer.command(np.array([np.nan, 0.0, 0.0, 0.0]), 0.0)
    assert decision.reason == "nan_action" and np.all(np.isfinite(decision.action))
    assert not layer.estop.engaged
    assert layer.command(np.array([np.inf, 0.0, 0.0, 0.0]), 0.01).reason == "nan_action"
    # observation: rejected and latched (the robot does not know where it is)
    bad = state.copy()
    bad[4] = np.nan
    assert not layer.observe({"state": bad, "wrist": np.zeros((2, 2, 3), np.uint8)}, 0.02)
    assert layer.fault.engaged and "state" in layer.fault.reason and not layer.estop.engaged
    assert layer.command(np.zeros(4), 0.02).reason == "fault"
    layer.estop.clear()  # the operator's clear does not release a fault ...
    assert layer.command(np.zeros(4), 0.02).reason == "fault"
    layer.resume()  # ... a resume (after a reset) does
    assert layer.command(np.zeros(4), 0.02).reason == "ok"
    assert nonfinite_keys({"state": bad, "other": np.ones(2)}) == ["state"]
    # weights: a learner that diverged never reaches the robot
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    assert nonfinite_parameters(net.named_parameters()) == []
    with torch.no_grad():
        net[2].bias[1] = float("nan")
    assert nonfinite_parameters(net.named_parameters()) == ["2.bias"]
    assert nonfinite_parameters({"w": np.array([1.0, np.inf])}) == ["w"]


@pytest.mark.parametrize("robot", ["panda", "crazyflie", "racecar"])
def test_watchdog_engages_within_timeout_plus_20ms(robot):
    """Commands stop at t = 1 s; ticking at the control rate, the fallback engages within
    command_timeout_s + one control period (the goal: + 20 ms)."""
    spec = load_robot_spec(robot)
    layer = SafetyLayer(spec)
    state = np.zeros(spec.obs_size, dtype=np.float32)
    if robot == "crazyflie":
        state[3:12] = np.eye(3).ravel()
    if robot == "panda":
        state[0:3] = layer.box.center
    layer.reset(0.0)
    dt = 1.0 / spec.rates.control_hz
    engaged = None
    for k in range(int(2.0 / dt)):
        t = k * dt
        layer.observe(state, t)
        fresh = t < 1.0 and k % spec.rates.control_substeps == 0
        decision = layer.command(np.zeros(spec.action_size) if fresh else None, t)
        if decision.reason == "watchdog":
            engaged = t
            break
        assert decision.reason == "ok"
    last_command = max(k * dt for k in range(int(1.0 / dt)) if k % spec.rates.control_substeps == 0)
    assert engaged is not None
    assert engaged - last_command <= spec.safety.command_timeout_s + 0.02
    assert engaged - last_command > spec.safety.command_timeout_s


def test_stale_sensor_stops_while_stale_and_latches_only_where_asked():
    _, layer, state = _panda_layer()
    layer.reset(0.0)
    layer.observe(state, 0.0)
    assert layer.command(np.zeros(4), 0.05).reason == "ok"
    stale = layer.command(np.ones(4), 0.15)  # sensor_max_age_s 0.1
    assert stale.reason == "stale_sensor" and not layer.stopped
    np.testing.assert_array_equal(stale.action, 0.0)  # hold: no reference change
    layer.observe(state, 0.2)  # the sensor is back: so is the robot, on the next fresh command
    assert layer.command(np.zeros(4), 0.2).reason == "ok"
    # latched where asked: only a resume releases it
    spec, _, _ = _panda_layer()
    fields = [f for f in spec.action if f.name != "ee_delta_yaw"]
    strict = SafetyLayer(spec, fields, list(spec.observation), latch_on=("nan_obs", "stale_sensor"))
    strict.reset(0.0)
    strict.observe(state, 0.0)
    assert strict.command(np.zeros(4), 0.15).reason == "stale_sensor"
    assert strict.fault.engaged and "stale sensor" in strict.fault.reason
    strict.observe(state, 0.2)
    assert strict.command(np.zeros(4), 0.2).reason == "fault"
    strict.resume()
    assert strict.command(np.zeros(4), 0.2).reason == "ok"


def test_a_sensor_not_yet_seen_holds_and_old_commands_are_not_sent():
    _, layer, state = _panda_layer()
    layer.reset(0.0)
    assert layer.command(np.zeros(4), 0.0).reason == "stale_sensor"  # nothing measured yet
    assert not layer.stopped
    layer.observe(state, 0.01)
    assert layer.command(np.zeros(4), 0.01).reason == "ok"
    timeout = layer.watchdog.timeout_s
    # a command computed from an observation older than the timeout is refused, not sent
    assert layer.command(np.zeros(4), 0.02, issued=0.02 - timeout - 0.01).reason == "watchdog"


def test_arm_shield_keeps_targets_inside_the_box():
    spec, layer, state = _panda_layer()
    shield = layer.shield
    high = np.asarray(spec.safety.box_high)
    state[0:3] = high - 0.001  # at the corner, every axis
    out = shield.filter(np.array([1.0, 1.0, 1.0, 1.0], np.float32), state, commanded=high)
    delta = 0.02 * out[:3]
    assert np.all(high + delta <= high - 0.02 + 1e-6)  # pulled back into the shrunk box
    assert out[3] == 1.0  # the gripper is not the shield's business


def test_car_shield_cuts_throttle_above_max_speed():
    spec = load_robot_spec("racecar")
    shield = SafetyLayer(spec).shield
    state = np.zeros(spec.obs_size, dtype=np.float32)
    state[0] = spec.safety.max_speed + 0.5
    assert shield.filter(np.array([0.3, 1.0], np.float32), state)[1] == 0.0
    state[0] = 1.0
    assert shield.filter(np.array([0.3, 1.0], np.float32), state)[1] == 1.0


def test_twin_holds_under_estop_and_nan_observation():
    env = SafeEnv(make_twin("panda", "reach"))
    env.reset(seed=0)
    for _ in range(3):
        env.step(np.array([1.0, 0.0, 0.0, 0.0]))
    ref = commanded_target(env).copy()

    def corrupt(obs):
        return {**obs, "state": np.full_like(obs["state"], np.nan)}

    _, _, _, _, info = env.step_at(np.array([1.0, 0.0, 0.0, 0.0]), env.now, obs_fault=corrupt)
    assert info["safety"] == "ok" and info["fault"] and env.layer.fault.engaged
    for _ in range(3):
        _, _, _, _, info = env.step(np.array([1.0, 1.0, 1.0, 0.0]))
        assert info["safety"] == "fault"
    np.testing.assert_allclose(commanded_target(env), ref + np.array([0.02, 0.0, 0.0]), atol=1e-9)
    env.close()


def test_quadrotor_lands_when_commands_stop():
    env = SafeEnv(make_twin("crazyflie", "hover"))
    env.reset(seed=1)
    z0 = env.unwrapped.robot.true_state()[0][2]
    reasons = []
    for _ in range(100):  # 1 s without a command
        _, _, terminated, _, info = env.step(None)
        reasons.append(info["safety"])
        assert not terminated
    pos, vel, rot, _ = env.unwrapped.robot.true_state()
    assert "watchdog" in reasons and reasons[0] != "watchdog"
    assert pos[2] < z0 - 0.1 and -0.5 < vel[2] < 0.0  # descending gently, level
    assert math.acos(min(1.0, rot[8])) < 0.2
    env.close()


@pytest.mark.parametrize(("robot", "steps"), [("panda", 300), ("ur5e", 300), ("crazyflie", 3000)])
def test_adversarial_actions_stay_within_limits(robot, steps):
    result = run_adversarial(robot, steps, seed=3)
    assert (
        result["nan_steps"] > 0
        and result["decisions"].get("shield", 0) + result["decisions"]["nan_action"] > 0
    )
    assert result["box_excursion_m"] == 0.0  # the quadrotor's with odometry (SafeEnv's twin position)
    if robot == "crazyflie":
        assert result["max_tilt_rad"] < result["tilt_limit_rad"]


def test_car_brakes_when_commands_stop():
    env = SafeEnv(make_twin("racecar", "laps"))
    env.reset(seed=0)
    for _ in range(15):
        env.step(np.array([0.0, 1.0], dtype=np.float32))
    moving = env.unwrapped.robot.state().speed
    reasons = [env.step(None)[4]["safety"] for _ in range(15)]
    # 10 Hz steps, 0.2 s timeout: the first missed step still holds the last command
    assert moving > 0.5 and reasons[0] == "ok" and set(reasons[2:]) == {"watchdog"}
    assert abs(env.unwrapped.robot.state().speed) < 0.2
    env.close()


def _press_into_table(robot: str, safe: bool, limit_n: float, steps: int = 30) -> list[float]:
    """Contact force (N) after every policy step of maximum steps straight down onto the table."""
    env = make_twin(robot, "reach")
    twin = env.unwrapped
    if safe:
        spec, acts, obs = twin.robot_spec, list(twin.action_layout), list(twin.obs_layout)
        # No box margin, so the reference can reach the table (the default 2 cm keeps the fingers
        # above it); a limit below the ~6 N the law's reference clip presses with at the box floor.
        shield = ArmShield(spec, acts, obs, margin_m=0.0, max_force_n=limit_n)
        env = SafeEnv(env, SafetyLayer(spec, acts, obs, shield=shield))
    env.reset(seed=0)
    down = np.array([0.0, 0.0, -1.0, 0.0], dtype=np.float32)
    forces = []
    for _ in range(steps):
        env.step(down)
        forces.append(float(np.linalg.norm(contact_force(twin))))
    env.close()
    return forces


@pytest.mark.parametrize("robot", ["panda", "ur5e"])
def test_arm_contact_force_stays_below_the_limit(robot):
    limit, tolerance = 4.0, 0.5  # N; the first touch is not foreseeable: checked from the next step
    raw = _press_into_table(robot, safe=False, limit_n=limit)
    shielded = _press_into_table(robot, safe=True, limit_n=limit)
    touch = next(i for i, f in enumerate(shielded) if f > 1.0)
    assert touch < 20 and max(raw[touch + 1 :]) > limit + tolerance  # the law alone presses harder
    assert max(shielded[touch + 1 :]) < limit + tolerance
    assert shielded[-1] > 1.0  # still touching: the shield limits the force, it does not lift off


def test_arm_shield_backs_off_along_the_measured_force_only():
    spec, layer, state = _panda_layer()
    shield = layer.shield  # spec limit: safety.max_force
    ref = state[0:3].astype(np.float64)
    press = np.array([0.0, 0.0, 1.2 * spec.safety.max_force])  # the table pushes up, over the limit
    out = shield.filter(np.array([1.0, -1.0, -1.0, 0.0], np.float32), state, ref, contact_force=press)
    assert out[0] == 1.0 and out[1] == -1.0  # sideways steps are free
    assert out[2] == 0.0 and shield.overriding  # no step further down
    # A load the law's spring makes (below K x clip = 20 N) over the limit: the reference backs
    # off by the excess over the stiffness, (0.8 x 10 N - 15 N) / 2000 N/m = 3.5 mm upward.
    fields = [f for f in spec.action if f.name != "ee_delta_yaw"]
    low = ArmShield(spec, fields, list(spec.observation), max_force_n=10.0)
    back = low.filter(
        np.array([0.0, 0.0, -1.0, 0.0], np.float32), state, ref, contact_force=np.array([0.0, 0.0, 15.0])
    )
    assert back[2] * 0.02 == pytest.approx(0.0035, abs=1e-6)
    up = shield.filter(np.array([0.0, 0.0, 1.0, 0.0], np.float32), state, ref, contact_force=press)
    assert up[2] == 1.0  # moving away from the contact is always allowed
    light = shield.filter(
        np.array([0.0, 0.0, -1.0, 0.0], np.float32), state, ref, contact_force=np.array([0.0, 0.0, 0.5])
    )
    assert light[2] == -1.0 and not shield.overriding  # below contact_n nothing changes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quadrotor_held_full_thrust_stays_below_the_box_top(seed):
    # Without the position box the same run leaves the 2 m top within 0.6-1.8 s (measured).
    env = SafeEnv(make_twin("crazyflie", "hover", randomize=True))
    env.reset(seed=seed)
    robot, high = env.unwrapped.robot, env.layer.box.high
    top, tilt, steps = 0.0, 0.0, 0
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(np.ones(4, dtype=np.float32))
        top, tilt = max(top, robot.pos[2]), max(tilt, math.acos(min(1.0, robot.rot[8])))
        steps += 1
    env.close()
    assert not terminated and steps >= 300  # the whole episode in the air, inside the box
    assert top < high[2] and tilt < env.layer.spec.safety.max_tilt_rad
