"""Evaluation: success and cycle time of a known policy, `robot-rl eval` on a trained checkpoint
(JSON, table, GIF and MP4 videos, one-line errors), and a small `robot-rl demo`."""

import json
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from robot_rl.errors import RobotRLError
from robot_rl.evaluate import EVAL_SEED, run_episodes, video_frames, write_video
from robot_rl.run_config import TrainConfig
from robot_rl.train import Trainer

TINY = {"hidden": [32, 32], "utd": 2, "num_critics": 3, "batch_size": 16}
HOLD = 10  # frames each episode's last frame is held in a video: 1 s at panda's 10 Hz


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    config = TrainConfig(
        robot="panda", task="reach", agent=TINY, steps=40, start_steps=20,
        eval_every=40, eval_episodes=1, checkpoint_every=40,
    )  # fmt: skip
    Trainer(config, out, progress=False).run()
    return out


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)


def expected_frames(episodes, recorded):
    """Frames `video_frames` makes: reset frame + one per step, then the held last frame."""
    return sum(ep["length"] + 1 + HOLD for ep in episodes[:recorded])


def test_expert_success_and_cycle_time_match_its_recorded_episodes():
    from robot_rl.demos import record_episode
    from robot_rl.sim import make_expert, make_twin

    env = make_twin("panda", "reach")
    expert = make_expert(env, seed=0)
    result = run_episodes(expert.act, env, 4, seed=0, frames=2, frames_camera="front", on_reset=expert.reset)
    # the same seeds, stepped by the demonstration recorder: steps to the first success / 10 Hz
    reference = [record_episode(env, expert.act, seed=i, on_reset=expert.reset) for i in range(4)]
    for ep, ref in zip(result.episodes, reference):
        assert ep.success and ref.succeeded
        assert ep.length == ref.length and ep.episode_return == pytest.approx(ref.episode_return)
        assert ep.cycle_time_s == pytest.approx((int(np.argmax(ref.success)) + 1) / 10)
    summary = result.summary()
    cycles = [(int(np.argmax(r.success)) + 1) / 10 for r in reference]
    assert summary["success_rate"] == 1.0 and summary["successes"] == 4
    assert summary["cycle_time_median_s"] == pytest.approx(np.median(cycles))
    assert summary["cycle_time_mean_s"] == pytest.approx(np.mean(cycles))

    assert [len(ep.frames or []) for ep in result.episodes] == [
        *(ep.length + 1 for ep in result.episodes[:2]),
        0,
        0,
    ]
    assert result.episodes[0].frames[0].shape == (128, 128, 3)
    frames = video_frames(result)
    assert len(frames) == sum(ep.length + 1 + HOLD for ep in result.episodes[:2])
    # the held frame carries a green success border
    assert tuple(frames[-1][64, 0]) == (40, 200, 60)

    # a policy that never moves never succeeds: no cycle time
    idle = run_episodes(lambda obs: np.zeros(env.action_space.shape, np.float32), env, 2, seed=0)
    env.close()
    assert idle.summary()["success_rate"] == 0.0 and idle.summary()["cycle_time_median_s"] is None
    assert all(ep.length == 50 and ep.cycle_time_s is None for ep in idle.episodes)


def test_write_video_names_the_allowed_suffixes(tmp_path):
    frame = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(RobotRLError, match=r"use a \.gif or \.mp4 suffix"):
        write_video([frame], tmp_path / "clip.avi", fps=10)


def test_eval_command_json_table_and_videos(robot_rl_bin, run_dir, tmp_path):
    gif = tmp_path / "eval.gif"
    result = run(robot_rl_bin, "eval", str(run_dir), "--episodes", "2", "--json", "--video", str(gif),
                 "--video-episodes", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["robot"] == "panda" and report["task"] == "reach"
    episodes = report["per_episode"]
    assert [ep["seed"] for ep in episodes] == [EVAL_SEED, EVAL_SEED + 1]
    assert report["episodes"] == 2
    assert report["success_rate"] == pytest.approx(np.mean([ep["success"] for ep in episodes]))
    assert report["length"] == pytest.approx(np.mean([ep["length"] for ep in episodes]))
    assert "eval panda/reach" in result.stderr  # the progress bar stays off stdout
    # GIF stores repeated frames once with a longer delay: check size and playing time
    assert iio.imread(gif, index=0, plugin="pillow").shape[:2] == (128, 128)
    meta = iio.immeta(gif, index=None, plugin="pillow")
    from PIL import Image

    with Image.open(gif) as image:
        total_ms = 0
        for i in range(image.n_frames):
            image.seek(i)
            total_ms += image.info["duration"]
    assert meta["loop"] == 0 and total_ms == 100 * expected_frames(episodes, 1)

    # the table, on the JSON run's second episode (seed + 1) and with an MP4 video: same episode
    mp4 = tmp_path / "videos" / "eval.mp4"
    result = run(robot_rl_bin, "eval", str(run_dir / "checkpoint.pt"), "--episodes", "1",
                 "--seed", str(EVAL_SEED + 1), "--video", str(mp4))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert str(run_dir / "checkpoint.pt") in result.stdout and "success      " in result.stdout
    row = result.stdout.splitlines()[1].split()  # episode, seed, success, return, steps, cycle s
    second = episodes[1]
    assert row[:5] == ["0", str(EVAL_SEED + 1), "yes" if second["success"] else "no",
                       f"{second['return']:.3f}", str(second["length"])]  # fmt: skip
    frames = iio.imread(mp4, index=None, plugin="FFMPEG")
    assert frames.shape == (expected_frames(episodes[1:], 1), 128, 128, 3)


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t: [str(t / "missing")], "error: no checkpoint at"),
        (lambda d, t: [str(t / "notes.txt")], "is not a readable checkpoint"),
        (lambda d, t: [str(d), "--video", str(t / "clip.avi")], "use a .gif or .mp4 suffix"),
    ],
)
def test_eval_errors_are_one_line(robot_rl_bin, run_dir, tmp_path, make_args, message):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    result = run(robot_rl_bin, "eval", *make_args(run_dir, tmp_path))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "clip.avi").exists()


def test_small_demo_writes_every_artefact_into_a_fresh_folder(robot_rl_bin, tmp_path):
    out = tmp_path / "demo_out"
    out.mkdir()
    (out / "earlier.txt").write_text("a previous run's results stay untouched")
    result = run(robot_rl_bin, "demo", "--out", str(out), "--episodes", "2", "--steps", "40",
                 "--video-episodes", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1 and "already holds results" in result.stderr
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["demonstrations"] == 2 and summary["train"]["steps"] == 40
    assert summary["eval"]["episodes"] == 2
    for name in ("learning_curve", "checkpoint", "video", "summary"):
        assert summary["paths"][name] in result.stdout
        assert Path(summary["paths"][name]).is_file(), name
    assert len(json.loads((runs[0] / "demos" / "metadata.json").read_text())["episodes"]) == 2
    assert iio.imread(runs[0] / "eval.gif", index=0, plugin="pillow").shape[:2] == (128, 128)
    assert (out / "earlier.txt").read_text().startswith("a previous run")
