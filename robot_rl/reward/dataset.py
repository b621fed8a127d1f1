"""Labelled frame sets: collection from the twin, and the on-disk format.

A frame set is a folder:

    labels.json        format, robot, task, cameras, state layout, and one record per frame
                       (shard, index, episode, seed, step, behaviour, label, simulator facts)
    shard_00000.npz    compressed arrays: one uint8 (N, H, W, 3) array per camera and `state`

Shards are written as episodes finish (`np.savez_compressed`); labels.json is rewritten
atomically after each shard, so an interrupted collection leaves a readable set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError, Described, RobotRLError
from robot_rl.paths import atomic_file, write_atomic
from robot_rl.reward.labels import BEHAVIOURS, labeller, make_behaviour, task_config_for_collection
from robot_rl.rollout import episode

FORMAT = "robot_rl.reward_frames/1"
LABELS_FILE = "labels.json"


@dataclass
class FrameSet:
    """Frames in memory: images per camera (N, H, W, 3) uint8, states (N, S), one record per frame."""

    images: dict[str, np.ndarray]
    state: np.ndarray
    records: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> np.ndarray:
        return np.array([r["label"] for r in self.records])

    @property
    def episodes(self) -> np.ndarray:
        return np.array([r["episode"] for r in self.records])

    def subset(self, index: np.ndarray) -> FrameSet:
        index = np.asarray(index, dtype=np.int64)
        return FrameSet(
            {k: v[index] for k, v in self.images.items()},
            self.state[index],
            [self.records[i] for i in index],
            dict(self.meta),
        )

    def counts(self) -> dict[str, int]:
        values, counts = np.unique(self.labels, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts)}


class FrameWriter:
    """Appends shards of frames and their records to a frame-set folder."""

    def __init__(self, out_dir: str | Path, meta: dict[str, Any]):
        self.dir = Path(out_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise RobotRLError(f"--out {self.dir} is a file: choose a folder for the frames")
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / LABELS_FILE
        if path.exists():
            old = json.loads(path.read_text())
            same = {k: old.get(k) for k in ("robot", "task", "cameras")}
            if same != {k: meta.get(k) for k in same}:
                raise RobotRLError(
                    f"{self.dir} already holds {old.get('robot')}/{old.get('task')} frames with cameras "
                    f"{old.get('cameras')}: choose another --out folder"
                )
            self.data = old
        else:
            self.data = {"format": FORMAT, **meta, "frames": []}
        self.shard = len({r["shard"] for r in self.data["frames"]})

    def write(
        self, images: dict[str, list[np.ndarray]], states: list[np.ndarray], records: list[dict]
    ) -> None:
        if not records:
            return
        name = f"shard_{self.shard:05d}.npz"
        arrays = {cam: np.stack(frames).astype(np.uint8) for cam, frames in images.items()}
        arrays["state"] = np.stack(states).astype(np.float32)
        with atomic_file(self.dir / name) as f:
            np.savez_compressed(f, **arrays)
        for i, record in enumerate(records):
            self.data["frames"].append({"shard": name, "index": i, **record})
        self.shard += 1
        write_atomic(self.dir / LABELS_FILE, json.dumps(self.data, indent=1))


def load_frames(path: str | Path) -> FrameSet:
    """Read a frame set written by `collect` (or `FrameWriter`)."""
    folder = Path(path)
    labels = folder / LABELS_FILE
    if not labels.is_file():
        raise ConfigError(
            str(folder), "", "a frame folder from `robot-rl reward collect`", Described(f"no {LABELS_FILE}")
        )
    data = json.loads(labels.read_text())
    if data.get("format") != FORMAT:
        raise ConfigError(str(labels), "format", FORMAT, data.get("format"))
    records = data.pop("frames")
    cameras = data["cameras"]
    images: dict[str, list[np.ndarray]] = {cam: [] for cam in cameras}
    states = []
    # records are appended shard by shard, in frame order within each shard
    for shard in dict.fromkeys(r["shard"] for r in records):
        with np.load(folder / shard, allow_pickle=False) as arrays:
            for cam in cameras:
                images[cam].append(arrays[cam])
            states.append(arrays["state"])
    if not records:
        raise RobotRLError(f"{folder} holds no frames: run robot-rl reward collect again with more episodes")
    return FrameSet(
        {cam: np.concatenate(v) for cam, v in images.items()}, np.concatenate(states), records, data
    )


def default_cameras(robot_spec) -> tuple[str, ...]:
    """All the spec's cameras (the Panda: wrist and front)."""
    return tuple(c.name for c in robot_spec.cameras)


def collect(
    robot: str,
    task: str,
    out_dir: str | Path,
    episodes: int = 100,
    seed: int = 0,
    cameras: tuple[str, ...] = (),
    randomize: bool = True,
    every: int = 2,
    progress: bool = True,
    behaviours: dict[str, float] | None = None,
    policy: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Run the expert and its perturbed versions in the twin and write labelled frames.

    Episode i uses seed `seed + i` and a behaviour from `BEHAVIOURS` in proportion to its share;
    every `every`-th step's frame is kept (neighbouring frames are nearly identical).
    `behaviours` overrides the shares of expert and perturbed-expert episodes. `policy` runs every
    episode with that policy instead (behaviour "policy"): hard-negative mining, i.e. frames of what
    a policy trained on a reward model really does, labelled by the simulator, so that retraining
    the model on them removes the false positives the policy found. Returns label counts.
    """
    from tqdm import tqdm

    from robot_rl.sim import make_twin

    label_fn = labeller(robot, task)
    behaviours = behaviours or BEHAVIOURS[(robot, task)]
    probe = make_twin(robot, task)
    cameras = tuple(cameras) or default_cameras(probe.robot_spec)
    layout = [{"name": f.name, "size": f.size} for f in probe.obs_layout]
    probe.close()
    env = make_twin(
        robot, task, cameras=cameras, randomize=randomize, task_config=task_config_for_collection(robot, task)
    )
    meta = {
        "robot": robot,
        "task": task,
        "cameras": list(cameras),
        "image_size": list(env.observation_space[cameras[0]].shape[:2]) if cameras else None,
        "state_layout": layout,
        "randomize": randomize,
        "every": every,
    }
    writer = FrameWriter(out_dir, meta)
    names = list(behaviours)
    share = np.array([behaviours[b] for b in names], dtype=np.float64)
    edges = np.cumsum(share / share.sum())[:-1]
    bar = tqdm(total=episodes, desc=f"{robot}/{task} frames", unit="ep", disable=not progress)
    try:
        for i in range(episodes):
            # low-discrepancy assignment: every behaviour gets its share even in a short run
            u = (i * 0.6180339887498949) % 1.0
            behaviour = names[min(int(np.searchsorted(edges, u, side="right")), len(names) - 1)]
            if policy is not None:
                behaviour, actor = "policy", _PolicyBehaviour(policy)
            else:
                actor = make_behaviour(env, behaviour, np.random.default_rng([seed, i]))
            images: dict[str, list[np.ndarray]] = {cam: [] for cam in cameras}
            states, records = [], []
            for s in episode(env, actor.act, seed + i, actor.reset):
                obs, step, info = s.next_obs, s.index, s.info
                if step % every == 0 or s.done:
                    fl = label_fn(env)
                    for cam in cameras:
                        images[cam].append(obs[cam])
                    states.append(obs["state"])
                    records.append(
                        {
                            "episode": seed + i,
                            "seed": seed + i,
                            "step": step,
                            "behaviour": behaviour,
                            "label": fl.label,
                            "task_success": bool(info["success"]),
                            **{k: round(v, 5) for k, v in fl.facts.items()},
                        }
                    )
            writer.write(images, states, records)
            bar.update(1)
            if progress:
                counts: dict[str, int] = {}
                for r in writer.data["frames"]:
                    counts[r["label"]] = counts.get(r["label"], 0) + 1
                bar.set_postfix(counts)
    finally:
        bar.close()
        env.close()
    counts = {}
    for r in writer.data["frames"]:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    return {"out": str(out_dir), "frames": len(writer.data["frames"]), "labels": counts}


class _PolicyBehaviour:
    """A trained policy as a collection behaviour (no per-episode state)."""

    def __init__(self, policy: Callable[[dict[str, np.ndarray]], np.ndarray]):
        self.policy = policy

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.policy(obs), dtype=np.float32)
