"""`robot-rl demos` writes demonstrations in the documented format, and they load back."""

import json
import subprocess

import numpy as np
import pytest

from robot_rl.demos import load_demos, read_metadata
from robot_rl.errors import ConfigError
from robot_rl.spec import load_robot_spec


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)


def test_demos_command_writes_loadable_episodes(robot_rl_bin, tmp_path):
    out = tmp_path / "demos"
    result = run(
        robot_rl_bin, "demos", "--robot", "panda", "--task", "reach", "--episodes", "2", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    meta = read_metadata(out)
    spec = load_robot_spec("panda")
    assert meta["robot"] == "panda" and meta["task"] == "reach" and meta["spec_hash"] == spec.hash
    assert len(meta["episodes"]) == 2 and all(e["success"] for e in meta["episodes"])
    _, episodes = load_demos(out, spec_hash=spec.hash)
    episodes = list(episodes)
    state_size = sum(f["size"] for f in meta["observation"])
    for entry, ep in zip(meta["episodes"], episodes):
        assert ep.obs["state"].shape == (ep.length + 1, state_size)
        action_size = sum(f["size"] for f in meta["action"])
        assert ep.action.shape == (ep.length, action_size) and ep.action.dtype == np.float32
        assert np.all(np.abs(ep.action) <= 1.0)
        assert ep.reward.shape == ep.success.shape == ep.terminated.shape == (ep.length,)
        assert ep.length == entry["length"] and ep.succeeded
        assert ep.episode_return == pytest.approx(entry["return"], rel=1e-5)

    # appending another task to the same folder is refused with one clear line
    again = run(
        robot_rl_bin, "demos", "--robot", "racecar", "--task", "laps", "--episodes", "1", "--out", str(out)
    )
    assert again.returncode == 2
    assert (
        again.stderr.count("\n") == 1
        and "choose a new --out" in again.stderr
        and "Traceback" not in again.stderr
    )


def test_camera_demos_store_uint8_frames(robot_rl_bin, tmp_path):
    out = tmp_path / "pix"
    args = [
        "--robot",
        "panda",
        "--task",
        "pick_cube",
        "--cameras",
        "wrist",
        "--episodes",
        "1",
        "--out",
        str(out),
    ]
    result = run(robot_rl_bin, "demos", *args)
    assert result.returncode == 0, result.stderr
    _, episodes = load_demos(out)
    ep = next(iter(episodes))
    assert ep.obs["wrist"].dtype == np.uint8 and ep.obs["wrist"].shape[1:] == (128, 128, 3)
    assert ep.obs["wrist"].shape[0] == ep.length + 1


def test_spec_hash_mismatch_is_refused(tmp_path):
    (tmp_path / "metadata.json").write_text(
        json.dumps({"format": "robot_rl.demos/1", "spec_hash": "abc", "episodes": []})
    )
    with pytest.raises(ConfigError, match="re-record the demos"):
        load_demos(tmp_path, spec_hash="def")
    with pytest.raises(ConfigError, match=r"metadata\.json"):
        read_metadata(tmp_path / "missing")
