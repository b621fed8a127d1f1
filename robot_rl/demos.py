"""Demonstration files: one `.npz` per episode plus `metadata.json` in a folder.

Format `robot_rl.demos/1` (documented in docs/demos.md):

    DIR/metadata.json       robot, task, robot spec hash, observation and action layouts,
                            policy rate, and one entry per episode (file, length, return, success)
    DIR/episode_000000.npz  obs.state      (T+1, D) float32   observations o_0..o_T
                            obs.<camera>   (T+1, H, W, 3) uint8, one per camera
                            action         (T, A) float32     a_t taken in o_t, in [-1, 1]
                            reward         (T,) float32       r_t after a_t
                            terminated     (T,) bool          true MDP end after a_t
                            truncated      (T,) bool          time limit after a_t
                            success        (T,) bool          info["success"] after a_t
                            intervention   (T,) bool          a_t came from a human (teleop)

Files are written to a temporary name and renamed, so an interrupted collection never
leaves a half-written episode behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError, Described
from robot_rl.paths import atomic_file, write_atomic

FORMAT = "robot_rl.demos/1"


@dataclass
class Episode:
    obs: dict[str, np.ndarray]
    action: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    success: np.ndarray
    intervention: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: the env's info after the last step (task metrics such as tracking RMSE); not saved to disk
    final_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.intervention.shape[0] != self.length:
            self.intervention = np.zeros(self.length, dtype=bool)

    @property
    def length(self) -> int:
        return int(self.action.shape[0])

    @property
    def episode_return(self) -> float:
        return float(self.reward.sum())

    @property
    def succeeded(self) -> bool:
        return bool(self.success.any())

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"obs.{key}": value for key, value in self.obs.items()}
        out.update(
            action=self.action,
            reward=self.reward,
            terminated=self.terminated,
            truncated=self.truncated,
            success=self.success,
            intervention=self.intervention,
        )
        return out


Policy = Callable[[dict[str, np.ndarray]], np.ndarray]


def record_episode(
    env, policy: Policy, seed: int | None = None, on_reset: Callable[[], dict | None] | None = None
) -> Episode:
    """Run one episode of `policy` in `env` and return it. `on_reset` runs after the reset; when it
    moves the robot it returns the observation the episode starts from."""
    from robot_rl.rollout import episode

    steps = list(episode(env, policy, seed, on_reset))
    observations = {key: [value] for key, value in steps[0].obs.items()}
    for step in steps:
        for key, value in step.next_obs.items():
            observations[key].append(value)
    actions = [step.action for step in steps]
    rewards = [step.reward for step in steps]
    terms = [step.terminated for step in steps]
    truncs = [step.truncated for step in steps]
    successes = [step.success for step in steps]
    info = steps[-1].info
    return Episode(
        obs={key: np.stack(values) for key, values in observations.items()},
        action=np.stack(actions).astype(np.float32),
        reward=np.asarray(rewards, dtype=np.float32),
        terminated=np.asarray(terms, dtype=bool),
        truncated=np.asarray(truncs, dtype=bool),
        success=np.asarray(successes, dtype=bool),
        final_info=info,
    )


def expert_episodes(
    env,
    task: str,
    episodes: int,
    seed: int = 0,
    noise: float = 0.0,
    writer: DemoWriter | None = None,
    keep_failures: bool = True,
    target: int | None = None,
) -> Iterator[Episode]:
    """The scripted expert's episodes (seeds seed, seed+1, ...), written to `writer` when kept.

    Runs `episodes` attempts, or with `target` until that many are kept (at most `episodes`
    attempts); failures are kept unless `keep_failures` is False. A progress bar shows the success
    rate. Closes `env` when done.
    """
    from tqdm import tqdm

    from robot_rl.sim import make_expert

    expert = make_expert(env, noise=noise, seed=seed)
    wanted = target or episodes
    attempts = kept = successes = 0
    bar = tqdm(total=wanted, desc=f"{env.robot_spec.name}/{task} expert", unit="ep")
    try:
        while kept < wanted and attempts < episodes:
            episode = record_episode(env, expert.act, seed=seed + attempts, on_reset=expert.reset)
            attempts += 1
            successes += episode.succeeded
            if keep_failures or episode.succeeded:
                kept += 1
                bar.update(1)
                if writer is not None:
                    writer.write(episode)
            bar.set_postfix(success=f"{successes / attempts:.0%}")
            yield episode
    finally:
        bar.close()
        env.close()


class DemoWriter:
    """Appends episodes to a demonstration folder (new, or one with the same robot and task)."""

    def __init__(self, out_dir: str | Path, metadata: dict[str, Any]):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        meta_path = self.dir / "metadata.json"
        if meta_path.exists():
            old = read_metadata(self.dir)
            for key in ("robot", "task", "spec_hash"):
                if old.get(key) != metadata.get(key):
                    raise ConfigError(
                        str(meta_path),
                        key,
                        f"{metadata.get(key)!r} to append to this folder (or choose a new --out)",
                        old.get(key),
                    )
            self.metadata = old
        else:
            self.metadata = {"format": FORMAT, **metadata, "episodes": []}

    def write(self, episode: Episode) -> Path:
        name = f"episode_{len(self.metadata['episodes']):06d}.npz"
        path = self.dir / name
        with atomic_file(path) as f:
            np.savez_compressed(f, **episode.arrays())
        self.metadata["episodes"].append(
            {
                "file": name,
                "length": episode.length,
                "return": episode.episode_return,
                "success": episode.succeeded,
            }
        )
        write_atomic(self.dir / "metadata.json", json.dumps(self.metadata, indent=2))
        return path


def read_metadata(demo_dir: str | Path) -> dict[str, Any]:
    path = Path(demo_dir) / "metadata.json"
    if not path.is_file():
        raise ConfigError(
            str(demo_dir), "", "a demonstration folder with metadata.json (robot-rl demos --out DIR)", "none"
        )
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), "", "valid JSON", Described(f"line {exc.lineno}: {exc.msg}")) from None
    if meta.get("format") != FORMAT:
        raise ConfigError(str(path), "format", repr(FORMAT), meta.get("format"))
    return meta


def load_episode(path: str | Path) -> Episode:
    with np.load(path) as data:
        obs = {key[4:]: data[key] for key in data.files if key.startswith("obs.")}
        return Episode(
            obs=obs,
            action=data["action"],
            reward=data["reward"],
            terminated=data["terminated"],
            truncated=data["truncated"],
            success=data["success"],
            intervention=data["intervention"] if "intervention" in data.files else np.zeros(0, dtype=bool),
        )


def load_demos(
    demo_dir: str | Path, spec_hash: str | None = None
) -> tuple[dict[str, Any], Iterator[Episode]]:
    """Metadata and a lazy iterator over episodes; checks the robot spec hash when given."""
    meta = read_metadata(demo_dir)
    if spec_hash is not None and meta.get("spec_hash") != spec_hash:
        raise ConfigError(
            str(Path(demo_dir) / "metadata.json"),
            "spec_hash",
            f"{spec_hash} (the current robot spec; re-record the demos or use their spec)",
            meta.get("spec_hash"),
        )
    return meta, (load_episode(Path(demo_dir) / entry["file"]) for entry in meta["episodes"])


def env_metadata(env) -> dict[str, Any]:
    """What a demo folder records about the env it came from."""
    twin = env.unwrapped
    return {
        "robot": twin.robot_spec.name,
        "task": twin.task.name,
        "spec_hash": twin.robot_spec.hash,
        "policy_hz": twin.robot_spec.rates.policy_hz,
        "observation": [{"name": f.name, "size": f.size, "unit": f.unit} for f in twin.obs_layout],
        "action": [{"name": f.name, "size": f.size, "unit": f.unit} for f in twin.action_layout],
        "cameras": [c.name for c in twin.cameras],
        "randomized": bool(twin.randomize),
    }
