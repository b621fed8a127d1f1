"""Replay buffers: online and demonstration data, sampled a whole UTD block at a time.

Storage is preallocated torch tensors, so a block is a handful of `index_select`s with no
per-transition Python work and no host-device shuffling inside the update loop.
"""

from __future__ import annotations

from pathlib import Path

import torch

from robot_rl.agents.sac import Batch

_FIELDS = ("obs", "action", "reward", "next_obs", "terminated")


class ReplayBuffer:
    """A ring buffer of (obs, action, reward, next_obs, terminated) transitions."""

    def __init__(self, capacity: int, obs_size: int, action_size: int):
        self.capacity = capacity
        self.obs = torch.zeros(capacity, obs_size)
        self.action = torch.zeros(capacity, action_size)
        self.reward = torch.zeros(capacity)
        self.next_obs = torch.zeros(capacity, obs_size)
        self.terminated = torch.zeros(capacity)
        self.size = 0
        self.cursor = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward: float, next_obs, terminated: bool) -> None:
        i = self.cursor
        self.obs[i] = torch.as_tensor(obs)
        self.action[i] = torch.as_tensor(action)
        self.reward[i] = float(reward)
        self.next_obs[i] = torch.as_tensor(next_obs)
        self.terminated[i] = float(terminated)
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_episode(self, obs, action, reward, terminated) -> None:
        """A whole episode: obs has one more row than the other arrays."""
        obs = torch.as_tensor(obs, dtype=torch.float32)
        for t in range(len(action)):
            self.add(obs[t], action[t], float(reward[t]), obs[t + 1], bool(terminated[t]))

    def indices(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return torch.randint(0, self.size, shape, generator=generator)

    def gather(self, idx: torch.Tensor) -> Batch:
        flat = idx.reshape(-1)
        parts = [getattr(self, name).index_select(0, flat) for name in _FIELDS]
        return Batch(*(p.reshape(*idx.shape, *p.shape[1:]) for p in parts))

    def state_dict(self) -> dict:
        return {name: getattr(self, name)[: self.size].clone() for name in _FIELDS} | {
            "size": self.size,
            "cursor": self.cursor,
            "capacity": self.capacity,
        }

    def load_state_dict(self, state: dict) -> None:
        n = state["size"]
        for name in _FIELDS:
            getattr(self, name)[:n] = state[name]
        self.size, self.cursor = n, state["cursor"]

    def save(self, path: str | Path) -> None:
        torch.save(self.state_dict(), path)

    def load(self, path: str | Path) -> None:
        self.load_state_dict(torch.load(path, weights_only=True))


def sample_block(
    online: ReplayBuffer,
    demos: ReplayBuffer | None,
    utd: int,
    batch_size: int,
    demo_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> Batch:
    """A (utd, batch_size) block; with demos, the first `demo_fraction` of each batch's rows
    come from the demonstrations and the rest from online data (RLPD symmetric sampling)."""
    n_demo = round(batch_size * demo_fraction) if demos is not None and len(demos) else 0
    online_part = online.gather(online.indices((utd, batch_size - n_demo), generator))
    if n_demo == 0:
        return online_part
    demo_part = demos.gather(demos.indices((utd, n_demo), generator))
    return Batch(*(torch.cat([d, o], dim=1) for d, o in zip(demo_part, online_part, strict=True)))
