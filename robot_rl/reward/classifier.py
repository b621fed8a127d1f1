"""The image success classifier (SERL / HIL-SERL style): a small CNN per camera, a shared head,
random-shift crop augmentation, temperature-scaled probability, a threshold.

Training takes at most `max_positives` success frames (the papers use ~200) and hard negatives
(near misses first) at `negatives_per_positive` times that, holds out whole episodes for
calibration, and fits the temperature on them. Everything runs on the CPU in a few minutes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robot_rl.config import param
from robot_rl.errors import RobotRLError
from robot_rl.reward.base import ProprioCondition, RewardModel, common_kwargs, fit_temperature, sigmoid
from robot_rl.reward.dataset import FrameSet
from robot_rl.runtime import torch_save_atomic


@dataclass
class ClassifierConfig:
    """Training settings of the success classifier (YAML: config/reward/*.yaml, `classifier:`)."""

    cameras: list[str] = param([], doc="cameras the classifier looks at (empty: all in the frame set)")
    channels: list[int] = param([16, 32, 32, 32], doc="conv channels; every conv halves the image", gt=0)
    hidden: int = param(64, doc="features per camera before the head", gt=0)
    max_positives: int = param(200, doc="success frames used at most (train + calibration)", gt=0)
    negatives_per_positive: float = param(3.0, doc="negative frames per positive frame", gt=0)
    near_miss_share: float = param(0.5, doc="share of the negatives taken from near misses", ge=0, le=1)
    calibration_share: float = param(
        0.2, doc="share of episodes held out for temperature scaling", gt=0, lt=1
    )
    epochs: int = param(40, doc="passes over the training frames", gt=0)
    batch_size: int = param(64, gt=0)
    lr: float = param(1e-3, doc="Adam step size", gt=0)
    weight_decay: float = param(1e-4, ge=0)
    shift: int = param(6, doc="random-shift augmentation: pad by this and crop back (DrQ)", unit="px", ge=0)
    threshold: float = param(0.75, doc="success when the calibrated probability reaches this", gt=0, lt=1)
    conditions: list[str] = param([], doc="proprioceptive checks ANDed in, e.g. 'gripper_width>0.01'")
    seed: int = 0


class CameraEncoder(nn.Module):
    """Stride-2 3x3 convolutions down to 8x8 (from 128x128), then a linear layer."""

    def __init__(self, channels: list[int], hidden: int, size: tuple[int, int]):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, 3, *size)).numel()
        self.out = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.LayerNorm(hidden), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.convs(x))


class ClassifierNet(nn.Module):
    def __init__(self, cameras: list[str], channels: list[int], hidden: int, size: tuple[int, int]):
        super().__init__()
        self.cameras = list(cameras)
        self.encoders = nn.ModuleDict({c: CameraEncoder(channels, hidden, size) for c in cameras})
        self.head = nn.Linear(hidden * len(cameras), 1)

    def forward(self, images: dict[str, torch.Tensor]) -> torch.Tensor:
        """uint8 NHWC images per camera -> one logit per frame."""
        feats = [self.encoders[c](_to_float(images[c])) for c in self.cameras]
        return self.head(torch.cat(feats, dim=-1)).squeeze(-1)


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5)


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """DrQ's augmentation on NHWC uint8: replicate-pad by `pad` and crop back at a random offset."""
    if pad == 0:
        return x
    n, h, w, _ = x.shape
    padded = torch.nn.functional.pad(x.permute(0, 3, 1, 2).float(), (pad,) * 4, mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None]).long()
    cols = (dx[:, None] + torch.arange(w)[None]).long()
    out = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]  # fmt: skip
    return out.permute(0, 2, 3, 1).to(torch.uint8)


class SuccessClassifier(RewardModel):
    kind = "classifier"

    def __init__(
        self, net: ClassifierNet, temperature: float = 1.0, arch: dict[str, Any] | None = None, **kw
    ):
        super().__init__(**kw)
        self.net = net.eval()
        self.temperature = float(temperature)
        self.arch = dict(arch or {})

    @torch.no_grad()
    def logits(self, images: dict[str, np.ndarray], batch: int = 256) -> np.ndarray:
        n = len(images[self.cameras[0]])
        out = []
        for i in range(0, n, batch):
            out.append(self.net({c: torch.as_tensor(images[c][i : i + batch]) for c in self.cameras}).numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def probability(self, images: dict[str, np.ndarray]) -> np.ndarray:
        return sigmoid(self.logits(images) / self.temperature)

    def _save_weights(self, folder: Path) -> dict[str, Any]:
        torch_save_atomic(folder / "model.pt", self.net.state_dict())
        return {"temperature": self.temperature, "arch": self.arch, "weights": "model.pt"}

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any]) -> SuccessClassifier:
        arch = meta["arch"]
        net = ClassifierNet(meta["cameras"], arch["channels"], arch["hidden"], tuple(arch["size"]))
        net.load_state_dict(torch.load(folder / meta["weights"], map_location="cpu", weights_only=True))
        return cls(net, meta["temperature"], arch, **common_kwargs(meta))


# -- training -------------------------------------------------------------------------------------
def select_training_frames(frames: FrameSet, cfg: ClassifierConfig) -> np.ndarray:
    """Indices of the frames to learn from: <= max_positives successes, hard negatives first.

    Whole episodes are kept together when the caps bite, so calibration episodes stay unseen."""
    rng = np.random.default_rng(cfg.seed)
    labels = frames.labels
    pos = np.flatnonzero(labels == "success")
    near = np.flatnonzero(labels == "near_miss")
    fail = np.flatnonzero(labels == "failure")
    if len(pos) == 0 or len(near) + len(fail) == 0:
        raise RobotRLError(
            f"the frames hold {len(pos)} successes and {len(near) + len(fail)} negatives: "
            "collect more episodes (robot-rl reward collect --episodes N)"
        )
    pos = rng.permutation(pos)[: cfg.max_positives]
    n_neg = round(cfg.negatives_per_positive * len(pos))
    n_near = min(len(near), round(cfg.near_miss_share * n_neg))
    near = rng.permutation(near)[:n_near]
    fail = rng.permutation(fail)[: max(0, n_neg - n_near)]
    return np.sort(np.concatenate([pos, near, fail]))


def split_episodes(frames: FrameSet, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, calibration) frame indices, split by episode."""
    episodes = np.unique(frames.episodes)
    if len(episodes) < 2:
        raise RobotRLError(
            f"the frames come from {len(episodes)} episode: training needs at least 2 (one is held out for "
            "calibration); collect more episodes (robot-rl reward collect --episodes N)"
        )
    rng = np.random.default_rng(seed)
    n_held = min(len(episodes) - 1, max(1, round(share * len(episodes))))
    held = set(rng.permutation(episodes)[:n_held].tolist())
    is_held = np.array([e in held for e in frames.episodes])
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)


def train_classifier(
    frames: FrameSet, cfg: ClassifierConfig | None = None, progress: bool = True
) -> SuccessClassifier:
    """Fit the classifier on a frame set (from `collect`) and calibrate it on held-out episodes."""
    from tqdm import tqdm

    cfg = cfg or ClassifierConfig()
    started = time.perf_counter()
    cameras = list(cfg.cameras) or list(frames.meta["cameras"])
    missing = [c for c in cameras if c not in frames.images]
    if missing:
        raise RobotRLError(
            f"the frames have no {', '.join(missing)} camera (they have {list(frames.images)})"
        )
    conditions = [ProprioCondition.parse(text) for text in cfg.conditions]
    chosen = frames.subset(select_training_frames(frames, cfg))
    train_idx, cal_idx = split_episodes(chosen, cfg.calibration_share, cfg.seed)
    y = (chosen.labels == "success").astype(np.float32)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    size = tuple(frames.images[cameras[0]].shape[1:3])
    net = ClassifierNet(cameras, cfg.channels, cfg.hidden, size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    images = {c: torch.as_tensor(chosen.images[c]) for c in cameras}
    target = torch.as_tensor(y)
    # balance the classes in the loss: negatives outnumber positives by design
    n_pos = float(y[train_idx].sum())
    pos_weight = torch.tensor((len(train_idx) - n_pos) / max(n_pos, 1.0))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    steps_per_epoch = max(1, int(np.ceil(len(train_idx) / cfg.batch_size)))
    bar = tqdm(
        total=cfg.epochs * steps_per_epoch, desc="reward classifier", unit="batch", disable=not progress
    )
    net.train()
    order = torch.as_tensor(train_idx)
    for _ in range(cfg.epochs):
        perm = order[torch.randperm(len(order), generator=gen)]
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i : i + cfg.batch_size]
            batch = {c: random_shift(images[c][b], cfg.shift, gen) for c in cameras}
            loss = loss_fn(net(batch), target[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    net.eval()
    arch = {"channels": list(cfg.channels), "hidden": cfg.hidden, "size": list(size)}
    model = SuccessClassifier(
        net,
        1.0,
        arch,
        cameras=cameras,
        threshold=cfg.threshold,
        conditions=conditions,
        state_layout=frames.meta.get("state_layout", []),
    )
    cal = chosen.subset(cal_idx)
    model.temperature = fit_temperature(model.logits(cal.images), (cal.labels == "success").astype(float))
    counts = chosen.counts()
    model.info = {
        "robot": frames.meta.get("robot"),
        "task": frames.meta.get("task"),
        "config": asdict(cfg),
        "frames_used": counts,
        "positives_used": counts.get("success", 0),
        "train_frames": len(train_idx),
        "calibration_frames": len(cal_idx),
        "temperature": model.temperature,
        "train_s": round(time.perf_counter() - started, 1),
    }
    return model
