"""The UR5e twin: URDF from the DH parameters, admittance law (numpy), envs, experts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from robot_rl.benchmarks.experts import expert_success
from robot_rl.config import from_dict
from robot_rl.controllers.admittance import Admittance, AdmittanceGains, law_gains
from robot_rl.controllers.impedance import ImpedanceGains, orientation_error
from robot_rl.controllers.safety import SafetyBox
from robot_rl.registry import register_envs
from robot_rl.spec import load_robot_spec

pytest.importorskip("pybullet")

from robot_rl.sim import make_twin
from robot_rl.sim.ur5e.model import UR5eModel, dh_forward, urdf_text

BOX = SafetyBox([0.25, -0.35, 0.005], [0.68, 0.35, 0.40])
DOWN = (1.0, 0.0, 0.0, 0.0)
START = np.array([0.5, 0.0, 0.3])


def _law(**gains) -> Admittance:
    return Admittance(from_dict(AdmittanceGains, gains, source="test"), control_dt=0.002, box=BOX)


# -- admittance law (numpy only) ---------------------------------------------------------------
def test_constant_force_settles_at_force_over_stiffness():
    law = _law(translational_stiffness=[2000.0, 1000.0, 500.0], rotational_stiffness=[150.0] * 3)
    law.reset(START, DOWN)
    wrench = np.array([10.0, -4.0, 3.0, 0.0, 0.0, 0.6])  # N, N m
    for _ in range(3000):  # 6 s: many time constants of the critically damped 2 kg system
        law.update(wrench)
    np.testing.assert_allclose(law.compliant_pos - START, [10.0 / 2000, -4.0 / 1000, 3.0 / 500], atol=1e-7)
    # a torque turns the reference by torque / K about its axis (the error is -rotation)
    np.testing.assert_allclose(
        -orientation_error(law.quat_ref, law.compliant_quat), [0, 0, 0.6 / 150], atol=1e-6
    )
    np.testing.assert_allclose(law.velocity, 0.0, atol=1e-9)
    np.testing.assert_allclose(law.position_ref, START)  # the equilibrium itself never moves


def test_without_force_the_reference_tracks_the_equilibrium():
    law = _law()
    law.reset(START, DOWN)
    law.move_reference(np.array([0.02, -0.01, 0.015]))
    steps = 0
    while np.linalg.norm(law.compliant_pos - law.position_ref) > 1e-4:
        law.update(None)
        steps += 1
        assert steps < 500
    assert steps * law.control_dt < 0.3  # 0.1 mm in three policy steps
    for _ in range(1000):
        law.update(np.zeros(6))
    np.testing.assert_allclose(law.compliant_pos, START + np.array([0.02, -0.01, 0.015]), atol=1e-9)


def test_a_far_equilibrium_pulls_with_at_most_stiffness_times_clip():
    law = _law()
    law.reset(START, DOWN)
    law.set_reference(START + np.array([0.15, 0.0, 0.0]))  # 15 cm: beyond the 2 cm clip
    law.update(None)
    accel = law.velocity[0] / law.control_dt
    assert accel == pytest.approx(2000.0 * 0.02 / 2.0)
    law.reset(START, DOWN)
    law.update(np.array([500.0, 0, 0, 0, 0, 0]))  # beyond the sensor range: clipped to 50 N
    assert law.velocity[0] / law.control_dt == pytest.approx(50.0 / 2.0)


def test_one_solve_gives_the_targets_and_the_feed_forward():
    law = _law()
    law.reset(START, DOWN)
    law.update(np.array([5.0, 0.0, -3.0, 0.0, 0.2, 0.0]))
    jac, q = np.random.default_rng(0).normal(size=(6, 6)) * 0.3, np.linspace(-1.0, 1.0, 6)
    ee = START + np.array([0.01, 0.0, -0.02])
    target, velocity = law.joint_command(q, ee, DOWN, jac)
    np.testing.assert_allclose(target, law.joint_targets(q, ee, DOWN, jac), atol=1e-12)
    np.testing.assert_allclose(velocity, law.joint_velocity(jac), atol=1e-12)


def test_the_shield_reads_the_admittance_spring():
    spec = load_robot_spec("ur5e")
    gains = law_gains(spec.controller, spec.source)
    assert isinstance(gains, AdmittanceGains) and gains.translational_clip == [0.02] * 3
    assert isinstance(law_gains(load_robot_spec("panda").controller), ImpedanceGains)


# -- the twin ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reach():
    env = make_twin("ur5e", "reach")
    env.reset(seed=0)
    yield env
    env.close()


def test_forward_kinematics_matches_the_dh_chain(reach):
    robot = reach.unwrapped.robot
    rng = np.random.default_rng(0)
    lower, upper = robot.joint_limits
    worst_pos = worst_rot = 0.0
    for _ in range(25):
        q = rng.uniform(np.maximum(lower, -np.pi), np.minimum(upper, np.pi))
        robot._set_joints([*q, 0.0, 0.0])
        pos, quat = robot.tcp_pose()
        expected = dh_forward(robot.model.dh, q, robot.model.tool_length)
        rot = np.asarray(robot.client.getMatrixFromQuaternion(quat)).reshape(3, 3)
        worst_pos = max(worst_pos, float(np.abs(pos - expected[:3, 3]).max()))
        worst_rot = max(worst_rot, float(np.abs(rot - expected[:3, :3]).max()))
    assert worst_pos < 1e-6 and worst_rot < 1e-6, (worst_pos, worst_rot)


def test_flange_at_zero_joint_angles_is_where_the_dh_table_puts_it(reach):
    """All joints at 0: the flange sits at (a2 + a3, -(d4 + d6), d1 - d5), written out by hand."""
    robot = reach.unwrapped.robot
    robot._set_joints([0.0] * 8)
    flange, _ = robot.link_pose(robot.model.hand_link)
    np.testing.assert_allclose(flange, [-0.425 - 0.3922, -(0.1333 + 0.0996), 0.1625 - 0.0997], atol=1e-6)


def test_urdf_carries_the_spec_masses_and_limits():
    model = UR5eModel.from_spec(load_robot_spec("ur5e"))
    root = ET.fromstring(urdf_text(model))
    masses = {link.get("name"): float(link.find("inertial/mass").get("value")) for link in root.iter("link")}
    assert [masses[n] for n in ("shoulder_link", "upper_arm_link", "forearm_link")] == [3.761, 8.058, 2.846]
    assert [masses[n] for n in ("wrist_1_link", "wrist_2_link", "wrist_3_link")] == [1.37, 1.3, 0.365]
    limits = {j.get("name"): j.find("limit") for j in root.iter("joint") if j.find("limit") is not None}
    assert float(limits["elbow_joint"].get("upper")) == pytest.approx(np.pi)
    assert float(limits["wrist_3_joint"].get("effort")) == 28.0
    assert float(limits["left_finger_joint"].get("upper")) * 2 == pytest.approx(0.085)


def test_damped_least_squares_converges_on_the_twin(reach):
    robot = reach.unwrapped.robot
    robot.teleport(robot.model.home_q)
    law = robot.controller
    target = robot.tcp_pose()[0] + [0.08, -0.1, -0.12]
    target_quat = np.array([np.cos(0.2), np.sin(0.2), 0.0, 0.0])  # pointing down, turned 0.4 rad about z
    q, zeros = robot.joint_state()[0], [0.0] * 8
    for _ in range(25):
        robot._set_joints([*q, 0.0, 0.0])
        pos, quat = robot.tcp_pose()
        lin, ang = robot.client.calculateJacobian(
            robot.body, robot.tcp, (0, 0, 0), [*q, 0.0, 0.0], zeros, zeros
        )
        jac = np.array((lin, ang)).reshape(6, -1)[:, :6]
        q = q + law.ik_step(target, target_quat, pos, quat, jac)
    robot._set_joints([*q, 0.0, 0.0])
    pos, quat = robot.tcp_pose()
    assert np.linalg.norm(pos - target) < 1e-5
    assert np.linalg.norm(orientation_error(quat, target_quat)) < 1e-5


def test_pressing_on_the_table_settles_at_the_spring_force():
    """The equilibrium 3 mm into the table (the box floor): the fingertips rest on it and the
    measured force is K x 3 mm, the admittance spring closing the loop through the servo."""
    env = make_twin("ur5e", "reach")
    env.reset(seed=0)
    robot = env.unwrapped.robot
    tip = robot.model.gripper.pad_beyond_tcp  # fingertips below the TCP
    robot.teleport(robot.solve_ik([0.5, 0.0, 0.05]), quat_ref=np.array(DOWN))
    robot.controller.set_reference(np.array([0.5, 0.0, tip - 0.003]))
    hold = np.zeros(env.action_space.shape, dtype=np.float32)
    for _ in range(15):
        env.step(hold)
    force = robot.controller.wrench[2]  # the filtered sensor value the law acts on
    assert force == pytest.approx(2000.0 * 0.003, rel=0.2)
    assert robot.tcp_pose()[0][2] == pytest.approx(tip, abs=1e-3)
    env.close()


@pytest.mark.parametrize("env_id", ["robot_rl/UR5eReach-v0", "robot_rl/UR5ePickCube-v0"])
def test_env_checker_passes(env_id):
    register_envs()
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("task", ["reach", "pick_cube"])
def test_expert_succeeds(task):
    result = expert_success("ur5e", task, episodes=5, randomize=False)
    assert result["success_rate"] >= 0.8, f"{task} expert: {result['success_rate']:.0%} of 5"
