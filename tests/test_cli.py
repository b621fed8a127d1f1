"""The command line: doctor, bench, and one-line errors for what a user can get wrong."""

import json
import shutil
import subprocess
from importlib.util import find_spec

import pytest

from robot_rl.registry import ENVS
from robot_rl.spec import load_robot_spec


def run(cli, *args, timeout=300):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=timeout)


def test_doctor_reports_each_piece_and_what_it_disables(robot_rl_bin):
    result = run(robot_rl_bin, "doctor", "--json")
    assert result.returncode == 0, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    # each line says what is really there: a module that imports, a tool on PATH
    present = {
        "torch": find_spec("torch"), "pybullet": find_spec("pybullet"), "rclpy + RMW": find_spec("rclpy"),
        "pyrealsense2": find_spec("pyrealsense2"), "pyzmq": find_spec("zmq"), "gcc": shutil.which("gcc"),
        "arm-none-eabi-gcc": shutil.which("arm-none-eabi-gcc"),
        "qemu-system-arm": shutil.which("qemu-system-arm"),
    }  # fmt: skip
    for name, there in present.items():
        assert checks[name]["ok"] == bool(there), (
            f"doctor says {name} ok={checks[name]['ok']}: {checks[name]}"
        )
        if not there:  # a missing piece says what it disables
            assert isinstance(checks[name]["disables"], str) and checks[name]["disables"], checks[name]
    # launch_ros is not on PyPI: without a sourced ROS 2 the doctor says where it comes from
    launch = checks["ros2 launch"]
    if find_spec("launch_ros") is None:
        assert not launch["ok"] and "it comes with a ROS 2 install" in launch["detail"]
    else:
        assert launch["ok"], launch
    assert "1 intra-op thread" in checks["torch"]["detail"]
    text = run(robot_rl_bin, "doctor").stdout
    assert "pybullet" in text and "robot specs" in text


def test_bench_sim_smoke_prints_one_json_object(robot_rl_bin):
    result = run(robot_rl_bin, "bench", "sim", "--json", "--quick", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["benchmark"] == "sim" and report["settings"]["steps"] == 20  # --quick
    assert {"cpu", "cores", "date"} <= set(report["machine"]) and report["machine"]["cores"] >= 1
    tasks = {(r["robot"], r["task"]) for r in report["results"]}
    assert tasks == {(e.robot, e.task) for e in ENVS if not e.kwargs}
    goals = report["goals"]
    for r in report["results"]:
        spec = load_robot_spec(r["robot"])
        assert r["policy_hz"] == spec.rates.policy_hz
        # env steps per wall second: a twin step costs more than a microsecond and less than a second
        assert 1.0 < r["steps_per_s"] < 1e6, r
        assert r["real_time_factor"] == pytest.approx(r["steps_per_s"] / r["policy_hz"], rel=0.01)
        assert 0.01 < r["reset_ms"] < 1000.0, r  # milliseconds: no twin resets in 10 us
        # every spec camera is timed, in ms per frame at its own size; a robot without cameras has none
        assert set(r["frame_ms"]) == {f"{c.name} {c.width}x{c.height}" for c in spec.cameras}
        assert all(0.1 < ms < 1000.0 for ms in r["frame_ms"].values()), r  # 0.1 ms: 16k pixels
        goal = goals["steps_per_s"].get(r["robot"])
        assert r["goal_steps_per_s"] == goal
        assert r["meets_goals"] == (
            (goal is None or r["steps_per_s"] >= goal)
            and r["reset_ms"] <= goals["reset_ms"]
            and all(ms <= goals["frame_ms"] for ms in r["frame_ms"].values())
        ), r
    assert any(r["frame_ms"] for r in report["results"]), "camera frames are timed for robots with cameras"


def test_bench_experts_smoke_covers_every_task_nominal_and_randomized(robot_rl_bin):
    result = run(robot_rl_bin, "bench", "experts", "--json", "--quick", "--robots", "racecar", "crazyflie")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = report["results"]
    expected = {(e.robot, e.task) for e in ENVS if not e.kwargs and e.robot in ("racecar", "crazyflie")}
    default = [r for r in rows if r["action_mode"] == "default"]
    assert {(r["robot"], r["task"], r["randomized"]) for r in default} == {
        (*t, z) for t in expected for z in (False, True)
    }
    assert {r["task"] for r in rows if r["action_mode"] == "rates"} == {"hover", "waypoints"}
    for r in rows:
        # a success rate over the 3 quick episodes: a fraction in [0, 1], in thirds
        assert r["episodes"] == 3 and 0.0 <= r["success_rate"] <= 1.0, r
        assert r["success_rate"] * 3 == pytest.approx(round(r["success_rate"] * 3)), r
        assert r["meets_goal"] == (r["success_rate"] >= report["goal_success_rate"])
        assert 0 < r["mean_length"] <= 1000, r  # env steps per episode
    # the scripted experts solve every task's fixed nominal episodes
    assert all(r["success_rate"] == 1.0 for r in default if not r["randomized"]), default
    # task metrics in their units: metres of tracking/hover error (a metre off is a crash), seconds per lap
    bounds = {"tracking_rmse": (0.0, 1.0), "hover_rmse": (0.0, 1.0), "lap_time_s": (1.0, 30.0)}
    for r in rows:
        for name, (lo, hi) in bounds.items():
            if name in r["metrics"]:
                m = r["metrics"][name]
                assert lo < m["median"] <= m["max"] < hi, (r["task"], name, m)
    waypoints = next(r for r in default if r["task"] == "waypoints" and not r["randomized"])
    assert waypoints["metrics"]["tracking_rmse"]["median"] < 0.1
    assert {n for r in rows for n in r["metrics"]} >= {"tracking_rmse", "hover_rmse", "lap_time_s", "laps"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "--robot", "tractor"], "error: key 'robot': expected one of: crazyflie, panda, racecar"),
        (
            ["demo", "--task", "juggle"],
            "error: key 'task': expected a panda task: reach, pick_cube, peg_insert, pick_place",
        ),
        (
            ["demo", "--robot", "/nonexistent/spec.yaml"],
            "error: /nonexistent/spec.yaml: expected an existing YAML file",
        ),
        (["demo", "--cameras", "belly"], "expected a camera named one of: "),
        (["demo", "--episodes", "0"], "error: --episodes must be at least 1 (got 0)"),
        (["learner", "--resume"], "error: --resume needs --out RUN_DIR: the run directory to continue"),
        (["train", "--resume"], "error: --resume needs --out RUN_DIR: the run directory to continue"),
        (["ros-install", "--prefix", "/proc/no/such/prefix"], "error: cannot write the ROS layout into"),
    ],
)
def test_user_errors_are_one_line_without_traceback(robot_rl_bin, args, message):
    result = run(robot_rl_bin, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_bad_spec_value_names_file_and_key(robot_rl_bin, tmp_path):
    from robot_rl.spec import robot_spec_path

    text = robot_spec_path("panda").read_text().replace("policy_hz: 10", "policy_hz: -10")
    assert "policy_hz: -10" in text
    path = tmp_path / "panda.yaml"
    path.write_text(text)
    result = run(robot_rl_bin, "demo", "--robot", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip() == f"error: {path}: key 'rates.policy_hz': expected a value > 0 Hz, found -10"
    )
