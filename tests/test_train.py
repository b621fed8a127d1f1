"""Sim-only training: run directory artefacts, refusal to overwrite, and resume."""

import json

import pytest

from robot_rl.errors import RobotRLError
from robot_rl.train import TrainConfig, Trainer

TINY = {"hidden": [32, 32], "utd": 2, "num_critics": 3, "batch_size": 16}


def tiny(steps):
    return TrainConfig(
        robot="panda", task="reach", agent=TINY, steps=steps, start_steps=20,
        eval_every=40, eval_episodes=1, checkpoint_every=40,
    )  # fmt: skip


def test_run_writes_artefacts_and_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "run"
    result = Trainer(tiny(40), out, progress=False).run()
    assert result["steps"] == 40 and result["updates"] == (40 - 20 + 1) * 2
    for name in ("config.yaml", "metrics.jsonl", "curve.png", "checkpoint.pt"):
        assert (out / name).is_file(), name

    with pytest.raises(RobotRLError, match="is not empty: pass --resume"):
        Trainer(tiny(80), out, progress=False)

    resumed = Trainer(tiny(80), out, resume=True, progress=False)
    assert resumed.step == 40 and len(resumed.online) == 40
    result = resumed.run()
    assert result["steps"] == 80 and len(resumed.online) == 80
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [40, 80]


def test_resume_without_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(RobotRLError, match="nothing to resume"):
        Trainer(tiny(10), tmp_path / "empty", resume=True, progress=False)
