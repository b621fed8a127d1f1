"""The safety layer (on by default) and scripted resets (opt-in) in sim-only training: what the buffer
stores, and the counts in metrics.jsonl."""

from __future__ import annotations

import json
import subprocess

import pytest

from robot_rl.controllers.resets import ResetReport, ResetSupervisor
from robot_rl.errors import RobotRLError
from robot_rl.run_config import TrainConfig
from robot_rl.train import _ask_person

pytest.importorskip("pybullet")

CONFIG = """\
robot: panda
task: reach
preset: sac
agent: {hidden: [32, 32], batch_size: 32}
steps: 300
start_steps: 100
eval_every: 150
eval_episodes: 1
checkpoint_every: 300
safety: true
scripted_resets: true
"""


def test_training_behind_the_layer_stores_the_action_the_robot_was_sent(tmp_path, monkeypatch):
    """Random actions on hover: the quadrotor shield flies recoveries in place of many of them; the
    replay buffer holds what was sent, step for step, not what the policy asked for."""
    import numpy as np

    from robot_rl.safety import SafeEnv
    from robot_rl.train import Trainer

    sent, asked = [], []
    step = SafeEnv.step

    def recording_step(self, action):
        out = step(self, action)
        asked.append(np.array(action, np.float32))
        sent.append(np.array(out[4]["action"], np.float32))
        return out

    monkeypatch.setattr(SafeEnv, "step", recording_step)
    from robot_rl.spec import load_robot_spec

    # the default follows the robot: behind the layer, but for the quadrotor (its spec says why)
    default = TrainConfig()
    assert default.safety is None and not default.scripted_resets
    assert default.behind_layer(load_robot_spec("panda")) and default.behind_layer(load_robot_spec("racecar"))
    assert not default.behind_layer(load_robot_spec("crazyflie"))
    config = TrainConfig(robot="crazyflie", task="hover", preset="sac", agent={"hidden": [16, 16]}, steps=120,
                         start_steps=120, eval_every=120, eval_episodes=1, checkpoint_every=120,
                         safety=True)  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.run()
    stored = trainer.online.action[trainer.online.valid.bool()].numpy()
    assert len(stored) == 120
    np.testing.assert_array_equal(stored, np.stack(sent[:120]))
    changed = sum(not np.array_equal(a, b) for a, b in zip(asked[:120], sent[:120]))
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert changed > 0 and row["safety_shield"] > 0, "the shield never acted: the test shows nothing"


def test_train_command_writes_safety_and_reset_counts(robot_rl_bin, tmp_path):
    config = tmp_path / "reach_safe.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    cmd = [robot_rl_bin, "train", "--config", str(config), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [150, 300]
    last = rows[-1]
    # 300 steps of 50-step reach episodes: 6 episode ends, each followed by the arm's scripted reset
    assert last["resets"] >= 5 and last["reset_successes"] + last["reset_failures"] == last["resets"]
    assert last["reset_time_s"] > 0.0 and last["human_resets"] == 0
    # every action passed the layer, the training env's and the resets' (0.1 s policy steps)
    decisions = sum(v for k, v in last.items() if k.startswith("safety_"))
    assert decisions == 300 + round(last["reset_time_s"] / 0.1) and last["safety_ok"] > 0
    assert last["safety_nan_action"] == 0 and last["safety_estop"] == 0
    assert rows[0]["resets"] <= last["resets"]

    # a resumed run goes on counting: the reset counts are the run's, not the process's
    resumed = subprocess.run(
        [*cmd, "--resume", "--steps", "450"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert resumed.returncode == 0, resumed.stderr
    after = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert after["step"] == 450 and after["resets"] >= last["resets"] + 2
    assert after["reset_time_s"] > last["reset_time_s"]


def test_without_a_terminal_the_human_fallback_stops_instead_of_waiting():
    supervisor = ResetSupervisor(max_failures=2, ask=_ask_person)
    failed = ResetReport("arm_home", False, 6.0, 60, "timeout")
    assert supervisor.record(failed)  # one failure: no person needed yet
    with pytest.raises(RobotRLError, match="stdin is not a tty"):
        supervisor.record(failed)
