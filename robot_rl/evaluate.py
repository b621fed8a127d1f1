"""Evaluation of a policy on a twin task: success, return, length, cycle time, and videos.

A policy is any callable from one env observation (the dict the twin returns) to one action
array, e.g. `agent.policy` of a trained SAC or `make_expert(env).act`. Episode i is reset with
seed `seed + i`; the default first seed is far above the seeds training uses (seed + episode
index), so evaluation episodes are episodes the policy never trained on.

Videos (`write_video`) are GIF or MP4 from one spec camera, with each episode labelled and
its last frame held under a green (success) or red (failure) border.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.rollout import episode

Policy = Callable[[Mapping[str, Any]], np.ndarray]

#: first evaluation seed: training resets episode i with seed + i, which stays far below this
EVAL_SEED = 10_000_000
VIDEO_SUFFIXES = (".gif", ".mp4")
#: frames are rendered at most this many pixels on their long side (small files, fast rendering)
VIDEO_MAX_SIDE = 128
#: GIF viewers clamp shorter frame delays, so faster policies are recorded every k-th step
VIDEO_MAX_FPS = 25


@dataclass
class EpisodeResult:
    seed: int
    success: bool  # any step's info["success"]
    episode_return: float
    length: int  # policy steps
    steps_to_success: int | None  # steps until the first success; None if never
    cycle_time_s: float | None  # steps_to_success / policy_hz
    frames: list[np.ndarray] | None = field(default=None, repr=False)  # uint8 HxWx3, reset frame first

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "success": self.success,
            "return": self.episode_return,
            "length": self.length,
            "cycle_time_s": self.cycle_time_s,
        }


@dataclass
class EvalResult:
    episodes: list[EpisodeResult]
    policy_hz: float
    video_fps: float  # playback rate of the recorded frames (real time)

    @property
    def success_rate(self) -> float:
        return float(np.mean([ep.success for ep in self.episodes]))

    def summary(self) -> dict[str, Any]:
        """Means over episodes; cycle times over the successful ones (None without any).

        `success_rate`, `return` and `length` are named as in a run's metrics.jsonl rows.
        """
        cycles = [ep.cycle_time_s for ep in self.episodes if ep.cycle_time_s is not None]
        return {
            "episodes": len(self.episodes),
            "successes": sum(ep.success for ep in self.episodes),
            "success_rate": self.success_rate,
            "return": float(np.mean([ep.episode_return for ep in self.episodes])),
            "length": float(np.mean([ep.length for ep in self.episodes])),
            "cycle_time_median_s": float(np.median(cycles)) if cycles else None,
            "cycle_time_mean_s": float(np.mean(cycles)) if cycles else None,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary(), "per_episode": [ep.as_dict() for ep in self.episodes]}


def _video_camera(twin, name: str | None):
    """The spec camera to record (default the spec's first), shrunk to VIDEO_MAX_SIDE."""
    spec = twin.robot_spec
    if name is None:
        if not spec.cameras:
            raise RobotRLError(
                f"robot {spec.name} has no camera to record video from: add one to cameras: in {spec.source}"
            )
        cam = spec.cameras[0]
    else:
        cam = spec.camera(name)  # unknown name: ConfigError listing the spec's cameras
    scale = min(1.0, VIDEO_MAX_SIDE / max(cam.width, cam.height))
    # even sizes: H.264 in yuv420p needs them
    width, height = (max(2, 2 * round(side * scale / 2)) for side in (cam.width, cam.height))
    return dataclasses.replace(cam, width=width, height=height)


def run_episodes(
    policy: Policy,
    env,
    episodes: int,
    seed: int = EVAL_SEED,
    *,
    frames: int = 0,
    frames_camera: str | None = None,
    on_reset: Callable[[], None] | None = None,
    progress: bool = False,
) -> EvalResult:
    """Run `policy` for `episodes` episodes in a twin env (episode i seeded `seed + i`).

    `frames`: record RGB frames of the first this-many episodes from `frames_camera` (a spec
    camera name; default the spec's first camera), at most VIDEO_MAX_SIDE px. `on_reset` is
    called after every reset (scripted experts keep per-episode state). `progress`: a tqdm
    bar on stderr.
    """
    from tqdm import tqdm

    twin = getattr(env, "unwrapped", env)
    policy_hz = float(twin.robot_spec.rates.policy_hz)
    stride = max(1, math.ceil(policy_hz / VIDEO_MAX_FPS))
    camera = _video_camera(twin, frames_camera) if frames > 0 else None
    results: list[EpisodeResult] = []
    bar = tqdm(
        total=episodes, desc=f"eval {twin.robot_spec.name}/{twin.task.name}", unit="ep", disable=not progress
    )
    try:
        for i in range(episodes):
            record = camera is not None and i < frames
            shots: list[np.ndarray] | None = [] if record else None

            def started(shots=shots) -> None:
                if on_reset is not None:
                    on_reset()
                if shots is not None:  # the episode's first frame
                    shots.append(twin.render_camera(camera))

            ret, length, first_success = 0.0, 0, None
            for step in episode(env, policy, seed + i, started):
                ret += step.reward
                length = step.index
                if first_success is None and step.success:
                    first_success = length
                if record and (length % stride == 0 or step.done):
                    shots.append(twin.render_camera(camera))
            results.append(
                EpisodeResult(
                    seed=seed + i,
                    success=first_success is not None,
                    episode_return=ret,
                    length=length,
                    steps_to_success=first_success,
                    cycle_time_s=None if first_success is None else first_success / policy_hz,
                    frames=shots,
                )
            )
            bar.update(1)
            bar.set_postfix(success=f"{np.mean([r.success for r in results]):.0%}")
    finally:
        bar.close()
    return EvalResult(results, policy_hz=policy_hz, video_fps=policy_hz / stride)


# -- videos ------------------------------------------------------------------------------------
def check_video_path(path: str | Path) -> Path:
    """The path if its suffix is a video format `write_video` knows; else one-line RobotRLError."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise RobotRLError(f"video file {path}: use a {' or '.join(VIDEO_SUFFIXES)} suffix")
    return path


def _label(frame: np.ndarray, text: str, border: tuple[int, int, int] | None = None) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    if border is not None:
        draw.rectangle((0, 0, image.width - 1, image.height - 1), outline=border, width=3)
    left, top, right, bottom = draw.textbbox((5, 4), text)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
    draw.text((5, 4), text, fill=(255, 255, 255))
    return np.asarray(image)


def video_frames(result: EvalResult, hold_s: float = 1.0) -> list[np.ndarray]:
    """The recorded episodes as one frame sequence for `write_video` at `result.video_fps`.

    Each frame is labelled with its episode; each episode ends with its last frame held for
    `hold_s` under a green (success) or red (failure) border, so episodes are easy to tell apart.
    """
    recorded = [ep for ep in result.episodes if ep.frames]
    hold = max(1, round(hold_s * result.video_fps))
    out: list[np.ndarray] = []
    for n, ep in enumerate(recorded, start=1):
        name = f"ep {n}/{len(recorded)}"
        out.extend(_label(frame, name) for frame in ep.frames)
        if ep.success:
            verdict, color = f"{name} success {ep.cycle_time_s:.1f} s", (40, 200, 60)
        else:
            verdict, color = f"{name} failed", (220, 40, 40)
        out.extend([_label(ep.frames[-1], verdict, color)] * hold)
    return out


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write uint8 HxWx3 frames to a .gif (any browser shows it) or .mp4 (H.264, much smaller).

    GIF: identical consecutive frames are stored once with a longer delay, so the playing
    time is kept but a decoder may return fewer frames than were written.
    """
    import imageio.v3 as imageio

    path = check_video_path(path)
    if not len(frames):
        raise RobotRLError(f"no frames to write to {path}: record at least one episode")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        # delay in ms (Pillow stores 10 ms units); loop=0 repeats forever
        imageio.imwrite(path, list(frames), plugin="pillow", duration=round(1000.0 / fps), loop=0)
    else:
        # macro_block_size=1: never rescale; run_episodes renders even sizes as yuv420p needs
        imageio.imwrite(
            path, list(frames), plugin="FFMPEG", fps=fps, codec="libx264", quality=7, macro_block_size=1
        )
    return path


# -- report ------------------------------------------------------------------------------------
def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cycle_line(median: float | None, mean: float | None) -> str:
    if median is None or mean is None:
        return "cycle time   - (no successful episode)"
    return (
        f"cycle time   median {median:.2f} s, mean {mean:.2f} s (to the first success; successful episodes)"
    )


def table(report: Mapping[str, Any]) -> str:
    """A readable report of `EvalResult.as_dict()` (plus optional checkpoint, robot, task, video keys)."""
    lines = [f"{'episode':>7}  {'seed':>10}  {'success':>7}  {'return':>8}  {'steps':>5}  {'cycle s':>7}"]
    for n, ep in enumerate(report["per_episode"]):
        lines.append(
            f"{n:>7}  {ep['seed']:>10}  {'yes' if ep['success'] else 'no':>7}  {ep['return']:>8.3f}"
            f"  {ep['length']:>5}  {_seconds(ep['cycle_time_s']):>7}"
        )
    lines.append("")
    if "checkpoint" in report:
        lines.append(f"checkpoint   {report['checkpoint']}")
    if "robot" in report:
        setting = "randomized" if report.get("randomized") else "nominal"
        lines.append(f"task         {report['robot']}/{report['task']} ({setting})")
    lines += [
        f"success      {report['success_rate']:.0%} ({report['successes']}/{report['episodes']} episodes)",
        f"return       {report['return']:.3f} (mean)",
        f"length       {report['length']:.1f} steps (mean)",
        _cycle_line(report["cycle_time_median_s"], report["cycle_time_mean_s"]),
    ]
    if report.get("video"):
        lines.append(f"video        {report['video']}")
    return "\n".join(lines)
