"""`robot-rl export` on a real checkpoint: C files with the run's metadata that pass their golden
vectors on the host, int8, ONNX, and one-line errors for bad input."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from robot_rl.cli import main
from robot_rl.export.model import describe_checkpoint
from robot_rl.spec import load_robot_spec

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small crazyflie hover run: 3 expert demonstrations, BC-pretrained 64x64 actor."""
    from robot_rl.run_config import TrainConfig
    from robot_rl.train import Trainer

    root = tmp_path_factory.mktemp("cf_run")
    assert (
        main(
            [
                "demos",
                "--robot",
                "crazyflie",
                "--task",
                "hover",
                "--episodes",
                "3",
                "--out",
                str(root / "demos"),
            ]
        )
        == 0
    )
    config = TrainConfig(
        robot="crazyflie",
        task="hover",
        agent={"hidden": [64, 64], "num_critics": 2, "critic_subset": 2, "utd": 1, "batch_size": 32},
        steps=2,
        start_steps=2,
        demos=str(root / "demos"),
        eval_every=1000,
        eval_episodes=1,
        checkpoint_every=1000,
        buffer_capacity=1000,
        pretrain={"method": "bc", "steps": 100},
        tensorboard=False,
    )
    Trainer(config, root / "run", progress=False).run()
    return root / "run"


@needs_gcc
def test_export_c_from_a_run(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--target", "c", "--out", str(tmp_path / "c")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["host_selftest"] is True and report["host_max_abs_error"] <= 1e-6
    assert report["random_max_abs_error"] <= 1e-6
    header = (tmp_path / "c" / "policy.h").read_text()
    desc, _ = describe_checkpoint(run_dir)
    assert f'#define POLICY_MODEL_HASH "{desc.model_hash}"' in header
    assert f'#define POLICY_ROBOT_SPEC_HASH "{load_robot_spec("crazyflie").hash}"' in header
    assert "#define POLICY_POLICY_HZ 100" in header
    assert "#define POLICY_OBS_BODY_RATES_OFFSET 15" in header  # spec layout, for the firmware app
    # motor forces: action -1 -> 0, +1 -> 1 of full thrust (spec low/high)
    assert re.search(
        r"policy_action_scale\[4\] = \{ 0x1p-1f, 0x1p-1f, 0x1p-1f, 0x1p-1f \}",
        (tmp_path / "c" / "policy.c").read_text(),
    )
    assert json.loads((tmp_path / "c" / "export.json").read_text())["model_hash"] == desc.model_hash


@needs_gcc
def test_export_int8_reports_its_action_error(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--int8", "--out", str(tmp_path / "q")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "int8" and report["host_selftest"] is True
    assert 0 < report["golden_max_abs_error"] <= 0.02 and 0 < report["random_max_abs_error"] <= 0.02


def test_export_onnx_matches_pytorch(run_dir, tmp_path, capsys):
    pytest.importorskip("onnx", reason="ONNX export needs the export extra (pip install -e '.[export]')")
    assert main(["export", str(run_dir), "--target", "onnx", "--out", str(tmp_path / "o")]) == 0
    path = tmp_path / "o" / "policy.onnx"
    assert path.stat().st_size > 4 * 64 * 64
    ort = pytest.importorskip("onnxruntime")
    desc, _agent = describe_checkpoint(run_dir)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    action, physical = session.run(None, {"state": desc.golden_inputs})
    np.testing.assert_allclose(action, desc.golden_outputs, atol=1e-6)
    np.testing.assert_allclose(physical, 0.5 * action + 0.5, atol=1e-6)


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no checkpoint at") and err.count("\n") == 1
