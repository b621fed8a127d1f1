"""The Panda twin: impedance law (pure numpy), generated URDF, safety box, envs, experts, cameras."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from robot_rl.benchmarks.experts import expert_success
from robot_rl.config import from_dict
from robot_rl.controllers.impedance import CartesianImpedance, ImpedanceGains, orientation_error
from robot_rl.controllers.safety import SafetyBox
from robot_rl.errors import ConfigError

BOX = SafetyBox([0.25, -0.35, 0.005], [0.75, 0.35, 0.5])
DOWN = (1.0, 0.0, 0.0, 0.0)


def _law(**gains) -> CartesianImpedance:
    g = from_dict(ImpedanceGains, gains, source="test")
    return CartesianImpedance(g, np.array([87.0] * 4 + [12.0] * 3), control_dt=0.002, box=BOX)


def _jacobian(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(6, 7)) * 0.3


# -- control law (numpy only) ------------------------------------------------------------------
def test_reference_limiting_clips_the_pose_error():
    law = _law(nullspace_stiffness=0.0, delta_tau_max=1e6)
    law.reset(np.array([0.5, 0.0, 0.3]), DOWN, np.zeros(7))
    law.set_reference(np.array([0.6, -0.2, 0.3]))  # 10 cm and 20 cm away: far beyond the 1 cm clip
    jac, zeros = _jacobian(), np.zeros(7)
    tau = law.torque(zeros, zeros, np.array([0.5, 0.0, 0.3]), DOWN, jac, zeros)
    wrench = -np.array([2000.0] * 3 + [150.0] * 3) * np.array([-0.01, 0.01, 0.0, 0.0, 0.0, 0.0])
    expected = np.clip(jac.T @ wrench, -law.torque_limit, law.torque_limit)
    np.testing.assert_allclose(tau, expected, atol=1e-9)
    # the same pull whether the reference is 2 cm or 2 m away
    law.set_reference(np.array([0.75, -0.35, 0.3]))
    np.testing.assert_allclose(law.torque(zeros, zeros, np.array([0.5, 0.0, 0.3]), DOWN, jac, zeros), tau)


def test_orientation_error_is_small_angle_axis_and_sign_invariant():
    half = 0.5 * 0.02  # 0.02 rad about the base z axis
    turned = (np.cos(half) * 1.0, np.sin(half) * 1.0, 0.0, 0.0)  # yaw applied to the down quaternion
    rot = np.array([np.cos(half), np.sin(half), 0.0, 0.0])
    err = orientation_error(np.array(turned), np.array(DOWN))
    assert abs(err[2]) == pytest.approx(np.sin(half), rel=1e-6) and np.allclose(err[:2], 0.0, atol=1e-12)
    np.testing.assert_allclose(orientation_error(-rot, np.array(DOWN)), err)


def test_torque_rate_limit_holds_every_update():
    law = _law()
    law.reset(np.array([0.5, 0.0, 0.3]), DOWN, np.zeros(7))
    rng = np.random.default_rng(1)
    step = 1.0 * 2.0  # 1 N m per ms at a 2 ms control period
    prev = np.zeros(7)
    for i in range(200):
        q, dq = rng.normal(size=7), rng.normal(size=7) * 3.0
        pos = np.array([0.5, 0.0, 0.3]) + rng.normal(size=3) * 0.05
        tau = law.torque(q, dq, pos, DOWN, _jacobian(i), rng.normal(size=7) * 5.0)
        assert np.all(np.abs(tau - prev) <= step + 1e-9)
        assert np.all(np.abs(tau) <= law.torque_limit + 1e-9)
        prev = tau.copy()
    assert np.abs(prev).max() > 2.0  # the limit was exercised, not trivially met


def test_equilibrium_is_clipped_into_the_safety_box():
    law = _law()
    law.reset(np.array([0.9, 0.0, -0.2]), DOWN, np.zeros(7))
    assert BOX.contains(law.position_ref)
    rng = np.random.default_rng(2)
    for _ in range(500):
        law.move_reference(rng.uniform(-0.02, 0.02, 3) * 5.0)
        assert BOX.contains(law.position_ref)
    law.set_reference(np.array([5.0, -5.0, 5.0]))
    np.testing.assert_allclose(law.position_ref, [0.75, -0.35, 0.5])
    # anti-windup: the reference never leads the measured position by more than max_reference_lead
    law.set_reference(np.array([0.5, 0.0, 0.3]))
    for _ in range(20):
        law.move_reference(np.array([0.0, 0.0, -0.02]), ee_pos=np.array([0.5, 0.0, 0.3]))
    assert law.position_ref[2] == pytest.approx(0.25)


def test_gains_are_validated():
    with pytest.raises(ConfigError, match="translational_stiffness"):
        from_dict(
            ImpedanceGains, {"translational_stiffness": [1.0, 2.0]}, source="x.yaml", prefix="controller"
        )
    with pytest.raises(ConfigError, match="delta_tau_max"):
        from_dict(ImpedanceGains, {"delta_tau_max": 0.0}, source="x.yaml", prefix="controller")


# -- twin ----------------------------------------------------------------------------------------
pytest.importorskip("pybullet")

from robot_rl.sim import make_twin  # noqa: E402
from robot_rl.sim.panda.model import PandaModel, panda_urdf  # noqa: E402
from robot_rl.spec import load_robot_spec  # noqa: E402


@pytest.fixture(scope="module")
def reach_env():
    env = make_twin("panda", "reach")
    yield env
    env.close()


def test_generated_urdf_has_published_masses_and_limits(reach_env, tmp_path):
    model = PandaModel.from_spec(load_robot_spec("panda"))
    root = ET.parse(panda_urdf(model, cache_dir=tmp_path)).getroot()
    masses = {link.get("name"): float(link.find("inertial/mass").get("value")) for link in root.iter("link")}
    # Gaz et al. 2019 identified masses (kg)
    assert masses["panda_link1"] == 4.970684 and masses["panda_link2"] == 0.646926
    assert masses["panda_link7"] == 0.735522
    limits = {
        j.get("name"): j.find("limit").attrib for j in root.iter("joint") if j.find("limit") is not None
    }
    # Franka datasheet: joint 4 in [-3.0718, -0.0698] rad, wrist 12 N m, wrist 2.61 rad/s
    assert (
        float(limits["panda_joint4"]["lower"]) == -3.0718
        and float(limits["panda_joint4"]["upper"]) == -0.0698
    )
    assert (
        float(limits["panda_joint6"]["effort"]) == 12.0 and float(limits["panda_joint7"]["velocity"]) == 2.61
    )
    for mesh in root.iter("mesh"):
        assert "/collision/" in mesh.get("filename") and mesh.get("filename").startswith("/")
    # ... and PyBullet loaded exactly those numbers
    robot = reach_env.robot
    assert robot.client.getDynamicsInfo(robot.body, robot.arm[0])[0] == pytest.approx(4.970684)
    info = robot.client.getJointInfo(robot.body, robot.arm[3])
    assert (info[8], info[9], info[10], info[11]) == pytest.approx((-3.0718, -0.0698, 87.0, 2.175))


def test_end_effector_stays_in_the_safety_box(reach_env):
    env, box = reach_env, reach_env.robot.box
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    tolerance = 0.01  # m of dynamic overshoot past the clipped reference
    for _ in range(300):
        env.step(rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32))
        assert box.contains(env.robot.tcp_pose()[0], tolerance)
    for axis in range(3):
        for sign in (-1.0, 1.0):
            env.reset(seed=axis)
            action = np.zeros(env.action_space.shape, dtype=np.float32)
            action[axis] = sign
            for _ in range(40):
                env.step(action)
                assert box.contains(env.robot.tcp_pose()[0], tolerance)
            wall = box.high[axis] if sign > 0 else box.low[axis]
            assert env.robot.tcp_pose()[0][axis] == pytest.approx(wall, abs=tolerance)


def test_twin_runs_the_rate_and_torque_limited_law(reach_env):
    env, law = reach_env, reach_env.robot.controller
    env.reset(seed=4)
    outputs = []
    torque = law.torque

    def recording(*args):
        outputs.append(torque(*args).copy())
        return outputs[-1]

    law.torque = recording
    try:
        rng = np.random.default_rng(4)
        for _ in range(10):
            env.step(rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32))
    finally:
        del law.torque
    taus = np.array(outputs)
    assert len(taus) == 10 * env.robot_spec.rates.control_substeps
    assert np.abs(np.diff(taus, axis=0)).max() <= law.max_delta_tau + 1e-9
    assert np.all(np.abs(taus) <= law.torque_limit + 1e-9)


def test_nan_action_holds_the_pose(reach_env):
    env = reach_env
    env.reset(seed=3)
    before = env.robot.controller.position_ref.copy()
    _, _, _, _, info = env.step(np.full(env.action_space.shape, np.nan, dtype=np.float32))
    assert info["invalid_action"]
    np.testing.assert_array_equal(env.robot.controller.position_ref, before)


@pytest.mark.parametrize(
    ("task", "cameras"), [("reach", ()), ("pick_cube", ("wrist", "front")), ("peg_insert", ("wrist",))]
)
def test_check_env(task, cameras):
    from gymnasium.utils.env_checker import check_env

    env = make_twin("panda", task, cameras=cameras)
    try:
        check_env(env.unwrapped, skip_render_check=True)
        obs, _ = env.reset(seed=1)
        assert obs["state"].shape == env.observation_space["state"].shape
        assert env.action_space.shape == (4,)
    finally:
        env.close()


def test_yaw_option_adds_the_yaw_action():
    env = make_twin("panda", "reach", robot_options={"yaw": True})
    try:
        assert env.action_space.shape == (5,)
        env.reset(seed=0)
        action = np.zeros(5, dtype=np.float32)
        action[3] = 1.0  # +0.1 rad per step about the base z axis
        for _ in range(5):
            env.step(action)
        for _ in range(3):  # let the wrist catch up with the reference
            env.step(np.zeros(5, dtype=np.float32))
        x, y, z, w = env.robot.tcp_pose()[1]
        yaw = np.arctan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))
        assert yaw == pytest.approx(0.5, abs=0.05)
    finally:
        env.close()


def test_same_seed_same_trajectory_with_randomization():
    runs = []
    for _ in range(2):
        env = make_twin("panda", "pick_cube", randomize=True)
        obs, info = env.reset(seed=7)
        rng = np.random.default_rng(7)
        states = [obs["state"]]
        for _ in range(10):
            obs, *_ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            states.append(obs["state"])
        runs.append((np.array(states), info["randomization"]))
        env.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and runs[0][1]["link_mass_scale"] != 1.0


@pytest.mark.parametrize("task", ["reach", "pick_cube", "peg_insert"])
def test_expert_succeeds(task):
    result = expert_success("panda", task, episodes=10, randomize=False)
    assert result["success_rate"] >= 0.9, f"{task} expert: {result['success_rate']:.0%} of 10"


def test_camera_frames():
    env = make_twin("panda", "pick_cube", cameras=("wrist", "front"))
    try:
        obs, _ = env.reset(seed=0)
        for name in ("wrist", "front"):
            assert obs[name].shape == (128, 128, 3) and obs[name].dtype == np.uint8
            assert obs[name].std() > 5.0  # not a blank frame
        assert np.abs(obs["wrist"].astype(int) - obs["front"].astype(int)).mean() > 10.0
        # the wrist camera moves with the hand
        for _ in range(3):
            obs2, *_ = env.step(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32))
        assert np.abs(obs2["wrist"].astype(int) - obs["wrist"].astype(int)).mean() > 1.0
    finally:
        env.close()


def test_the_tcp_quaternion_keeps_one_sign_around_the_gripper_down_orientation():
    """q and -q are one rotation; with the gripper down w is near 0, and a w >= 0 convention
    flipped the observation between x = +1 and x = -1 at every small wobble."""
    from robot_rl.controllers.resets import ArmReset, run_reset

    env = make_twin("panda", "pick_cube", randomize=True)
    quats = []
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        for _ in range(20):
            obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            quats.append(obs["state"][3:7])
        run_reset(env, ArmReset(), rng, obs)  # perturbed home: the sign used to flip here
        obs, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
        quats.append(obs["state"][3:7])
    env.close()
    quats = np.array(quats)
    assert np.all(quats @ np.array([1.0, 0.0, 0.0, 0.0]) > 0.9), quats[:, 0].min()


def test_a_hemisphere_only_fits_a_quaternion_field():
    from robot_rl.spec import Field

    with pytest.raises(ConfigError, match="hemisphere"):
        from_dict(Field, {"name": "ee_pos", "size": 3, "hemisphere": [1, 0, 0, 0]})
    field = from_dict(Field, {"name": "q", "size": 4, "hemisphere": [1, 0, 0, 0]})
    np.testing.assert_array_equal(field.canonical([-0.99, 0.0, 0.1, 0.01]), [0.99, -0.0, -0.1, -0.01])


def test_a_cube_looks_the_same_in_all_24_rotations_and_keeps_small_rotations():
    from scipy.spatial.transform import Rotation

    from robot_rl.spec import _CUBE_ROTATIONS, canonical_cube_quat

    rng = np.random.default_rng(0)
    for _ in range(20):
        # an orientation within 40 degrees of upright about every axis is kept as it is
        q = Rotation.from_rotvec(rng.uniform(-0.4, 0.4, 3)).as_quat()
        np.testing.assert_allclose(canonical_cube_quat(q), q, atol=1e-12)
        np.testing.assert_allclose(canonical_cube_quat(-q), q, atol=1e-12)
        for g in _CUBE_ROTATIONS:  # the same cube turned by one of its symmetries reads the same
            turned = (Rotation.from_quat(q) * Rotation.from_quat(g)).as_quat()
            np.testing.assert_allclose(canonical_cube_quat(turned), q, atol=1e-9)


def test_a_tipped_or_turned_cube_is_observed_upright_and_the_expert_still_picks_it():
    """Reset-free practice tips the cube onto its side and turns it past 45 degrees: the twin's
    cube_quat shows it as the upright cube it looks like, and the expert grasps it."""
    from scipy.spatial.transform import Rotation

    from robot_rl.demos import record_episode
    from robot_rl.sim import make_expert

    env = make_twin("panda", "pick_cube")
    task = env.unwrapped.task
    expert = make_expert(env)
    upright = Rotation.from_euler("z", 0.3)
    for turn in [Rotation.from_euler(axis, 90, degrees=True) for axis in "xyz"]:

        def place(turn=turn):
            expert.reset()
            pos, _ = task.cube_pose()
            task.client.resetBasePositionAndOrientation(task.cube, pos, (upright * turn).as_quat())
            return env.reset(options={"keep_scene": True})[0]  # the observation with the cube turned

        episode = record_episode(env, expert.act, seed=3, on_reset=place)
        first = episode.obs["state"][0, -4:]
        np.testing.assert_allclose(first, upright.as_quat(), atol=1e-3)
        assert episode.succeeded
    env.close()
