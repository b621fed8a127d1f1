"""Observation encoders: the dict observation of a twin or robot -> one feature vector per sample.

- The proprioceptive/task `state` vector is standardised with statistics the learner fits once
  from its first data (demonstrations + the random warm-up steps) and saves in its checkpoint:
  raw SI units (positions of ~0.5 m whose useful differences are centimetres, quaternions,
  rad/s) otherwise make the first layer's job, and the learning rate, depend on the robot.
- Every camera gets its own conv encoder (DrQ, Kostrikov et al. 2020; SERL): images stay uint8
  until here, are scaled to [-0.5, 0.5], and end in LayerNorm + tanh features. Pretrained weights
  load from a local file; a frozen encoder is never updated.
- `random_shift` is DrQ's augmentation: pad by replicating the border and crop back at a random
  offset, done here as clamped integer indexing on the uint8 frames (no padding copy, no floats).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from robot_rl.errors import RobotRLError
from robot_rl.runtime import torch_save_atomic

Obs = dict[str, torch.Tensor]

#: observation key of the state vector in every robot_rl observation dict
STATE = "state"


def is_image(shape: Sequence[int]) -> bool:
    """Camera frames are HxWx3 (uint8); everything else is a flat vector."""
    return len(shape) == 3


class StateNormalizer(nn.Module):
    """(x - mean) / std, clipped to +-clip, with statistics fitted once and saved with the agent."""

    def __init__(self, size: int, min_std: float = 1e-2, clip: float = 10.0):
        super().__init__()
        self.min_std, self.clip = min_std, clip
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, states: torch.Tensor) -> None:
        """Statistics from (N, size) samples; the std floor keeps constant features finite."""
        states = states.reshape(-1, self.mean.shape[0]).float()
        self.mean.copy_(states.mean(0))
        self.std.copy_(states.std(0, correction=0).clamp_min(self.min_std))
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std).clamp(-self.clip, self.clip)


class PixelEncoder(nn.Module):
    """One camera: uint8 (..., H, W, 3) -> (..., feature_dim) via strided convs, linear, LayerNorm, tanh."""

    def __init__(
        self,
        height: int,
        width: int,
        channels: Sequence[int] = (32, 32, 32, 32),
        strides: Sequence[int] = (2, 2, 2, 1),
        feature_dim: int = 50,
    ):
        super().__init__()
        if len(channels) != len(strides):
            raise ValueError(
                f"encoder channels {tuple(channels)} and strides {tuple(strides)} differ in length"
            )
        layers: list[nn.Module] = []
        in_ch = 3
        for out_ch, stride in zip(channels, strides, strict=True):
            # in place: a convolution does not keep its output for backward
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=stride), nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.convs = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, 3, height, width)).shape[-1]
        # DrQ's head: LayerNorm + tanh keep the features bounded whatever the conv scale
        self.head = nn.Sequential(nn.Linear(flat, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        lead = images.shape[:-3]
        x = images.reshape(-1, *images.shape[-3:]).permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5)
        return self.head(self.convs(x)).reshape(*lead, self.feature_dim)


class ObservationEncoder(nn.Module):
    """All observation keys -> concatenated features: the normalised state, then each camera's features."""

    def __init__(
        self,
        obs_shapes: Mapping[str, Sequence[int]],
        channels: Sequence[int] = (32, 32, 32, 32),
        strides: Sequence[int] = (2, 2, 2, 1),
        feature_dim: int = 50,
        normalize_state: bool = True,
    ):
        super().__init__()
        if STATE not in obs_shapes:
            raise ValueError(f"observations need a {STATE!r} vector; got keys {sorted(obs_shapes)}")
        self.state_size = int(obs_shapes[STATE][0])
        self.normalizer = StateNormalizer(self.state_size) if normalize_state else None
        self.cameras = nn.ModuleDict(
            {
                name: PixelEncoder(shape[0], shape[1], channels, strides, feature_dim)
                for name, shape in obs_shapes.items()
                if is_image(shape)
            }
        )
        self.feature_size = self.state_size + feature_dim * len(self.cameras)

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        state = obs[STATE]
        parts = [self.normalizer(state) if self.normalizer is not None else state]
        parts += [encoder(obs[name]) for name, encoder in self.cameras.items()]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    @property
    def has_pixels(self) -> bool:
        return len(self.cameras) > 0

    def camera_state_dict(self) -> dict[str, torch.Tensor]:
        return self.cameras.state_dict()

    def load_camera_weights(self, path: str | Path) -> None:
        """Pretrained camera encoders from a local file written by `save_camera_weights`."""
        path = Path(path)
        if not path.is_file():
            raise RobotRLError(f"no encoder weights at {path}: give a file saved by save_camera_weights")
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")
            self.cameras.load_state_dict(state)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RobotRLError(
                f"encoder weights {path} do not fit cameras {sorted(self.cameras)} "
                f"with this encoder architecture ({first})"
            ) from None

    def save_camera_weights(self, path: str | Path) -> None:
        torch_save_atomic(Path(path), self.cameras.state_dict())


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """DrQ random shift of (..., H, W, C) frames by up to `pad` pixels, border pixels replicated."""
    if pad <= 0:
        return images
    *lead, h, w, c = images.shape
    x = images.reshape(-1, h, w, c)
    n = x.shape[0]
    shift = torch.randint(-pad, pad + 1, (n, 2), generator=generator)
    rows = (torch.arange(h) + shift[:, :1]).clamp_(0, h - 1)  # (n, h)
    cols = (torch.arange(w) + shift[:, 1:]).clamp_(0, w - 1)  # (n, w)
    out = x[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(*lead, h, w, c)
