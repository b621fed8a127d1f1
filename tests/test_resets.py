"""Reset controllers on every robot, recovery detectors on scripted situations, the human fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_rl.controllers.recovery import FlipDetector, RecoveryMonitor, StuckDetector, WorkspaceDetector
from robot_rl.controllers.resets import ResetReport, ResetSupervisor
from robot_rl.controllers.safety import SafetyBox
from robot_rl.spec import load_robot_spec

pytest.importorskip("pybullet")

from robot_rl.benchmarks.resets import TASKS, disturb
from robot_rl.controllers.resets import OBJECT_RESETS, RESETS, run_reset, scripted_reset
from robot_rl.sim import make_twin


@pytest.mark.parametrize("robot", ["panda", "ur5e", "crazyflie", "racecar"])
def test_scripted_reset_succeeds_on_fixed_seeds(robot):
    env = make_twin(robot, TASKS[robot], randomize=True)
    for seed in (0, 1, 2):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        report = run_reset(env, RESETS[robot](), rng, disturb(env, robot, rng))
        assert report.success, (seed, report)
        assert 0.0 < report.duration_s <= RESETS[robot].timeout_s
    env.close()


def test_arm_reset_ends_at_the_perturbed_home_with_compliant_gains():
    env = make_twin("panda", "pick_cube", randomize=True)
    env.reset(seed=5)
    law = env.unwrapped.robot.controller
    stiffness = law.stiffness.copy()
    controller = RESETS["panda"]()
    report = run_reset(env, controller, np.random.default_rng(5))
    assert report.success
    tcp = env.unwrapped.robot.tcp_pose()[0]
    assert np.all(np.abs(controller.target - controller.home) <= 0.02)
    assert np.linalg.norm(tcp - controller.target) < 0.005
    np.testing.assert_array_equal(law.stiffness, stiffness)  # compliant again
    env.close()


def test_state_arm_reset_reaches_the_perturbed_home_from_observations_alone():
    from robot_rl.controllers.resets import StateArmReset

    env = make_twin("panda", "pick_cube", randomize=True)
    for seed in (0, 1, 2):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        obs = disturb(env, "panda", rng)
        controller = StateArmReset()
        report = run_reset(env, controller, rng, obs)
        assert report.success and report.kind == "arm_home_state", report
        tcp = env.unwrapped.robot.tcp_pose()[0]
        assert np.all(np.abs(controller.target - controller.home) <= 0.02)
        assert np.linalg.norm(tcp - controller.target) < 0.012  # 1 cm tolerance on the measured pose
    env.close()


@pytest.mark.parametrize("robot", ["panda", "ur5e"])
def test_cube_reset_puts_the_cube_at_a_new_spot_and_the_arm_home(robot):
    env = make_twin(robot, "pick_cube", randomize=True)
    env.reset(seed=3)
    before = env.unwrapped.task.cube_pose()[0]
    controller = OBJECT_RESETS[(robot, "pick_cube")]()
    report = run_reset(env, controller, np.random.default_rng(3))
    assert report.success, report
    cube = env.unwrapped.task.cube_pose()[0]
    assert np.linalg.norm(cube[:2] - controller.spot) < 0.025
    assert np.linalg.norm(cube[:2] - before[:2]) > 0.03  # it really moved
    tcp = env.unwrapped.robot.tcp_pose()[0]
    assert np.linalg.norm(tcp - controller.target) < 0.005
    env.close()


def test_quadrotor_reset_lands_before_taking_off():
    env = make_twin("crazyflie", "hover", randomize=True)
    env.reset(seed=4)
    controller = RESETS["crazyflie"]()
    report = run_reset(env, controller, np.random.default_rng(4))
    assert report.success and controller.touchdowns == 1
    pos = np.asarray(env.unwrapped.robot.true_state()[0])
    assert np.linalg.norm(pos - controller.goal) < 0.05
    env.close()


def test_stuck_detector_on_scripted_paths():
    stuck = StuckDetector()
    # wheel-spinning against a wall: 30 positions within a few cm
    hits = [stuck.update((1.0 + 0.01 * math.sin(i), 0.5)) for i in range(30)]
    assert hits[-1] is not None and hits[-1].detector == "stuck" and not any(hits[:-1])
    stuck.reset()
    # driving at 1 m/s (0.1 m per step): never stuck
    assert not any(stuck.update((0.1 * i, 0.0)) for i in range(60))
    # waiting while not commanded to move is not being stuck
    assert not any(stuck.update((0.0, 0.0), commanded_motion=False) for _ in range(60))


def test_stuck_car_against_a_wall_in_the_twin():
    env = make_twin("racecar", "laps")
    env.reset(seed=0)
    twin = env.unwrapped
    course = twin.task.course
    x, y, heading = course.pose(1.0)
    twin.robot.place(x, y, heading + math.pi / 2)  # nose at the inner wall
    monitor = RecoveryMonitor.from_spec(twin.robot_spec)
    trigger = None
    steps = 0
    for _ in range(80):
        env.step(np.array([0.0, 0.6], dtype=np.float32))
        steps += 1
        st = twin.robot.state()
        trigger = monitor.update((st.x, st.y), st.up_z)
        if trigger:
            break
    assert trigger is not None and trigger.detector == "stuck" and trigger.manoeuvre == "reset"
    assert steps == 30  # the first full window
    env.close()


def test_flip_and_tumble_detectors():
    flip = FlipDetector(max_tilt_rad=1.0, max_rate=10.0)
    assert flip.update(math.cos(0.9)) is None
    assert flip.update(math.cos(1.1)).detector == "flipped"
    assert flip.update(-1.0).terminate
    assert flip.update(1.0, (12.0, 0.0, 0.0)).detector == "tumbling"


def test_flipped_quadrotor_and_car_in_the_twin():
    env = make_twin("crazyflie", "hover")
    env.reset(seed=0)
    robot = env.unwrapped.robot
    robot.place([0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0])  # upside down
    monitor = RecoveryMonitor.from_spec(robot.spec)
    pos, _, rot, rates = robot.true_state()
    trigger = monitor.update(pos, rot[8], rates)
    assert trigger.detector == "flipped" and trigger.manoeuvre == "reset"
    env.close()

    env = make_twin("racecar", "laps")
    env.reset(seed=0)
    robot = env.unwrapped.robot
    robot.client.resetBasePositionAndOrientation(robot.body, [0.0, -1.5, 0.2], [1.0, 0.0, 0.0, 0.0])
    robot._state = None
    st = robot.state()
    trigger = RecoveryMonitor.from_spec(robot.spec).update((st.x, st.y), st.up_z)
    assert trigger.detector == "flipped" and trigger.manoeuvre == "human"  # a car on its roof needs hands
    env.close()


def test_out_of_workspace():
    spec = load_robot_spec("panda")
    box = SafetyBox.from_spec(spec.safety)
    detector = WorkspaceDetector(box, tolerance_m=0.01)
    assert detector.update(box.center) is None
    assert detector.update(box.high + 0.005) is None
    trigger = detector.update(box.high + np.array([0.0, 0.0, 0.02]))
    assert trigger.detector == "out_of_workspace" and not trigger.terminate


def _report(ok: bool) -> ResetReport:
    return ResetReport("test", ok, 1.5, 15, "" if ok else "timeout")


def test_human_fallback_after_n_failures():
    asked, stopped = [], []

    def ask(message: str) -> bool:
        asked.append(message)
        return True

    supervisor = ResetSupervisor(max_failures=3, ask=ask, stop=lambda: stopped.append(True))
    assert supervisor.record(_report(False)) and supervisor.record(_report(False))
    assert supervisor.record(_report(True))  # a success breaks the run of failures
    assert not asked
    for _ in range(3):
        assert supervisor.record(_report(False))
    assert len(asked) == 1 and "3 automatic resets failed" in asked[0] and stopped == [True]
    assert supervisor.metrics() == {
        "resets": 6,
        "reset_successes": 1,
        "reset_failures": 5,
        "human_resets": 1,
        "reset_time_s": 9.0,
    }
    declined = ResetSupervisor(max_failures=1, ask=lambda message: False)
    assert declined.record(_report(False)) is False


def test_terminal_prompt_answered_by_the_test(monkeypatch):
    from robot_rl.controllers import resets

    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    supervisor = ResetSupervisor(max_failures=2)
    assert supervisor.ask is resets.terminal_prompt
    supervisor.record(_report(False))
    assert supervisor.record(_report(False)) and supervisor.human_resets == 1
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    supervisor.record(_report(False))
    assert supervisor.record(_report(False)) is False


def test_bench_resets_cli_smoke(robot_rl_bin):
    import json
    import subprocess

    out = subprocess.run(
        [robot_rl_bin, "bench", "resets", "--quick", "--json", "--robots", "racecar"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout)
    (row,) = result["results"]
    assert row["robot"] == "racecar" and row["resets"] == 5 and row["success_rate"] == 1.0


def test_scripted_reset_between_episodes_lands_in_the_counters():
    env = make_twin("racecar", "laps", randomize=True)
    supervisor = ResetSupervisor(max_failures=2, ask=lambda message: False)
    for seed in (0, 1):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        disturb(env, "racecar", rng)
        assert scripted_reset(env, supervisor, rng)
    metrics = supervisor.metrics()
    assert metrics["resets"] == 2 and metrics["reset_successes"] == 2 and metrics["reset_time_s"] > 1.0
    env.close()
