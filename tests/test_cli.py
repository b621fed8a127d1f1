"""The command line: doctor, bench, and one-line errors for what a user can get wrong."""

import json
import shutil
import subprocess
from importlib.util import find_spec

import pytest

from robot_rl.registry import ENVS


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
        assert checks[name]["ok"] or checks[name]["disables"], (
            f"{name}: a missing piece says what it disables"
        )
    # launch_ros is not on PyPI: without a sourced ROS 2 the doctor says where it comes from
    if find_spec("launch_ros") is None:
        launch = checks["ros2 launch"]
        assert not launch["ok"] and "it comes with a ROS 2 install" in launch["detail"]
    assert "1 intra-op thread" in checks["torch"]["detail"]
    text = run(robot_rl_bin, "doctor").stdout
    assert "pybullet" in text and "robot specs" in text


def test_bench_sim_smoke_prints_one_json_object(robot_rl_bin):
    result = run(robot_rl_bin, "bench", "sim", "--json", "--quick", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    tasks = {(r["robot"], r["task"]) for r in report["results"]}
    assert tasks == {(e.robot, e.task) for e in ENVS if not e.kwargs}
    for r in report["results"]:
        assert r["steps_per_s"] > 0 and r["reset_ms"] > 0
        assert r["real_time_factor"] == pytest.approx(r["steps_per_s"] / r["policy_hz"], rel=0.01)
    panda = next(r for r in report["results"] if r["robot"] == "panda")
    assert panda["frame_ms"], "camera frames are timed for robots with cameras"
    assert report["machine"]["cores"] >= 1


def test_bench_experts_smoke_covers_every_task_nominal_and_randomized(robot_rl_bin):
    result = run(robot_rl_bin, "bench", "experts", "--json", "--quick", "--robots", "racecar", "crazyflie")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    expected = {(e.robot, e.task) for e in ENVS if not e.kwargs and e.robot in ("racecar", "crazyflie")}
    default = [r for r in rows if r["action_mode"] == "default"]
    assert {(r["robot"], r["task"], r["randomized"]) for r in default} == {
        (*t, z) for t in expected for z in (False, True)
    }
    assert {r["task"] for r in rows if r["action_mode"] == "rates"} == {"hover", "waypoints"}
    waypoints = next(r for r in default if r["task"] == "waypoints")
    assert 0 < waypoints["metrics"]["tracking_rmse"]["median"] < 0.1
    assert all(0.0 <= r["success_rate"] <= 1.0 and r["episodes"] == 3 for r in rows)


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
