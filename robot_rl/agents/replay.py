"""Replay buffers: online and demonstration data, sampled a whole UTD block at a time.

Storage is preallocated torch tensors, one per observation key (camera frames as uint8), so a
block is a handful of `index_select`s with no per-transition Python work.

Each observation is stored once: slot i holds a transition's observation and slot i+1 its next
observation, which is also the next transition's observation while the episode runs. An episode
end writes the final observation into the slot after it, which is not a transition start, and
the next episode begins one slot later: one spare frame per episode instead of a duplicated
next frame per step. A slot is a valid transition start while its successor still holds its
next observation; overwriting the ring invalidates exactly the slots it reuses.

Per-transition extras: `intervention` (a human took over, HIL-SERL) and `mc_return` (the
discounted return to the episode's end, filled for whole episodes, used by Cal-QL).

n-step rows (`gather(idx, n_step, gamma)`) follow the stored episode from slot i while the next
slot is still a transition start: m <= n transitions, their discounted reward sum, the observation
m slots on and gamma^m. An episode end stops the walk (its final frame is not a start), and so does
the ring's write position (the slot after the newest transition is not one either).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from robot_rl.agents.encoders import is_image
from robot_rl.agents.sac import Batch

_SCALARS = ("reward", "terminated", "intervention", "mc_return")


def obs_shapes_of(space: Any) -> dict[str, tuple[int, ...]]:
    """{key: shape} of a gymnasium Dict observation space (or a plain {key: shape} mapping)."""
    items = space.spaces.items() if hasattr(space, "spaces") else space.items()
    return {k: tuple(getattr(v, "shape", v)) for k, v in items}


class ReplayBuffer:
    """A ring of `capacity` observation slots with the transitions between them."""

    def __init__(self, capacity: int, obs_shapes: Mapping[str, Sequence[int]] | int, action_size: int):
        if isinstance(obs_shapes, int):
            obs_shapes = {"state": (obs_shapes,)}
        if capacity < 2:
            raise ValueError(f"replay capacity must be at least 2 slots, got {capacity}")
        self.capacity = capacity
        self.obs_shapes = {k: tuple(int(d) for d in s) for k, s in obs_shapes.items()}
        self.obs = {
            k: torch.zeros(capacity, *s, dtype=torch.uint8 if is_image(s) else torch.float32)
            for k, s in self.obs_shapes.items()
        }
        self.action = torch.zeros(capacity, action_size)
        self.reward = torch.zeros(capacity)
        self.terminated = torch.zeros(capacity)
        self.intervention = torch.zeros(capacity)
        self.mc_return = torch.zeros(capacity)
        self.valid = torch.zeros(capacity, dtype=torch.bool)
        self.cursor = 0
        self.high_water = 0  # slots [0, high_water) have been written
        self.size = 0  # valid transitions
        self.added = 0  # transitions ever added (for counters and tests)

    @classmethod
    def from_episodes(
        cls,
        episodes: Sequence[Any],
        obs_shapes: Mapping[str, Sequence[int]],
        action_size: int,
        gamma: float,
        spare: int = 0,
    ) -> ReplayBuffer:
        """A buffer holding whole recorded episodes (`robot_rl.demos.Episode`), with their Monte-Carlo
        returns at `gamma`, and room for `spare` more transitions (interventions added later)."""
        buf = cls(max(2, sum(e.length + 1 for e in episodes) + spare), obs_shapes, action_size)
        for e in episodes:
            buf.add_episode(
                {k: e.obs[k] for k in buf.obs_shapes}, e.action, e.reward, e.terminated, gamma=gamma
            )
        return buf

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> ReplayBuffer:
        """A buffer exactly as `state_dict()` saved it (same capacity and shapes)."""
        buf = cls(state["capacity"], state["obs_shapes"], int(state["action"].shape[1]))
        buf.load_state_dict(state)
        return buf

    def __len__(self) -> int:
        return self.size

    # -- writing -------------------------------------------------------------------------------
    def _write_obs(self, slot: int, obs: Mapping[str, Any] | Any) -> None:
        if not isinstance(obs, Mapping):  # a bare state vector
            obs = {"state": obs}
        if self.valid[slot]:
            self.valid[slot] = False
            self.size -= 1
        for k, store in self.obs.items():
            store[slot] = torch.as_tensor(np.asarray(obs[k]))
        self.high_water = max(self.high_water, slot + 1)

    def add(
        self,
        obs: Mapping[str, Any],
        action: Any,
        reward: float,
        next_obs: Mapping[str, Any],
        terminated: bool,
        truncated: bool = False,
        intervention: bool = False,
        mc_return: float = 0.0,
    ) -> None:
        """One transition; `terminated or truncated` ends the episode (the next add starts a new one)."""
        i, nxt = self.cursor, (self.cursor + 1) % self.capacity
        self._write_obs(i, obs)
        self._write_obs(nxt, next_obs)
        self.action[i] = torch.as_tensor(np.asarray(action, dtype=np.float32))
        self.reward[i] = float(reward)
        self.terminated[i] = float(terminated)
        self.intervention[i] = float(intervention)
        self.mc_return[i] = float(mc_return)
        self.valid[i] = True
        self.size += 1
        self.added += 1
        # after an episode end the slot holding the final observation is skipped
        self.cursor = (nxt + 1) % self.capacity if (terminated or truncated) else nxt

    def add_episode(
        self,
        obs: Mapping[str, Any],
        action: Any,
        reward: Any,
        terminated: Any,
        gamma: float | None = None,
        intervention: Any = None,
    ) -> None:
        """A whole episode: every obs array has one more row than action/reward/terminated.
        With `gamma`, each transition's discounted return to the episode end is stored (Cal-QL)."""
        reward = np.asarray(reward, dtype=np.float64)
        terminated = np.asarray(terminated, dtype=bool)
        n = len(reward)
        returns = np.zeros(n)
        if gamma is not None:
            running = 0.0
            for t in reversed(range(n)):
                running = reward[t] + gamma * running
                returns[t] = running
        for t in range(n):
            self.add(
                {k: v[t] for k, v in obs.items()},
                action[t],
                reward[t],
                {k: v[t + 1] for k, v in obs.items()},
                bool(terminated[t]),
                truncated=t == n - 1,
                intervention=bool(intervention[t]) if intervention is not None else False,
                mc_return=returns[t],
            )

    # -- sampling ------------------------------------------------------------------------------
    def indices(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniform over valid transition starts: draw among written slots, redraw the few that are
        not starts (one final frame per episode), instead of listing the starts on every call."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(0, self.high_water, shape, generator=generator)
        bad = ~self.valid[idx]
        while bool(bad.any()):
            idx[bad] = torch.randint(0, self.high_water, (int(bad.sum()),), generator=generator)
            bad = ~self.valid[idx]
        return idx

    def gather(self, idx: torch.Tensor, n_step: int = 1, gamma: float = 1.0) -> Batch:
        """The transitions starting at `idx`; with n_step > 1, n-step rows (module docstring)."""
        flat = idx.reshape(-1)

        def take(store: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
            return store.index_select(0, at).reshape(*idx.shape, *store.shape[1:])

        reward, last, discount = self.reward.index_select(0, flat), flat, None
        if n_step > 1:
            going = torch.ones_like(flat, dtype=torch.bool)
            steps = torch.ones_like(flat)
            for k in range(1, n_step):
                at = (flat + k) % self.capacity
                going &= self.valid.index_select(0, at)
                reward = reward + going * gamma**k * self.reward.index_select(0, at)
                steps += going
            last = (flat + steps - 1) % self.capacity
            discount = (gamma ** steps.to(reward.dtype)).reshape(idx.shape)
        return Batch(
            obs={k: take(v, flat) for k, v in self.obs.items()},
            action=take(self.action, flat),
            reward=reward.reshape(idx.shape),
            next_obs={k: take(v, (last + 1) % self.capacity) for k, v in self.obs.items()},
            terminated=take(self.terminated, last),
            intervention=take(self.intervention, flat),
            mc_return=take(self.mc_return, flat),
            discount=discount,
        )

    # -- persistence ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The written slots only (a fresh 1M-slot buffer with 5k transitions saves 5k slots)."""
        n = self.high_water
        return {
            "capacity": self.capacity,
            "obs_shapes": {k: list(s) for k, s in self.obs_shapes.items()},
            "slots": n,
            "obs": {k: v[:n].clone() for k, v in self.obs.items()},
            **{name: getattr(self, name)[:n].clone() for name in (*_SCALARS, "action", "valid")},
            "cursor": self.cursor,
            "size": self.size,
            "added": self.added,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        shapes = {k: tuple(s) for k, s in state["obs_shapes"].items()}
        if shapes != self.obs_shapes or state["capacity"] > self.capacity:
            raise ValueError(
                f"saved replay data (capacity {state['capacity']}, observations {shapes}) does not fit this "
                f"buffer (capacity {self.capacity}, observations {self.obs_shapes})"
            )
        n = state["slots"]
        for k, v in state["obs"].items():
            self.obs[k][:n] = v
        for name in (*_SCALARS, "action", "valid"):
            getattr(self, name)[:n] = state[name]
        self.cursor, self.size, self.added = state["cursor"], state["size"], state["added"]
        self.high_water = n


def stored_states(*buffers: ReplayBuffer | None) -> torch.Tensor:
    """Every "state" observation written so far in the given buffers (None skipped), for normalizer fits."""
    parts = [b.obs["state"][: b.high_water] for b in buffers if b is not None and b.high_water]
    return torch.cat(parts)


def demo_rows(online: ReplayBuffer, demos: ReplayBuffer | None, batch_size: int, demo_fraction: float) -> int:
    """How many of each batch's rows `sample_block` takes from the demonstrations (they come first)."""
    if demos is None or len(demos) == 0:
        return 0
    if len(online) == 0:
        return batch_size  # offline pretraining: demonstrations only
    return round(batch_size * demo_fraction)


def sample_block(
    online: ReplayBuffer,
    demos: ReplayBuffer | None,
    utd: int,
    batch_size: int,
    demo_fraction: float = 0.5,
    generator: torch.Generator | None = None,
    n_step: int = 1,
    gamma: float = 1.0,
) -> Batch:
    """A (utd, batch_size) block; with demos, the first `demo_rows(...)` of each batch's rows
    come from the demonstrations and the rest from online data (RLPD symmetric sampling).
    n_step > 1: n-step rows discounted by `gamma` (ReplayBuffer.gather)."""
    n_demo = demo_rows(online, demos, batch_size, demo_fraction)
    online_part = None
    if n_demo < batch_size:
        online_part = online.gather(online.indices((utd, batch_size - n_demo), generator), n_step, gamma)
    if n_demo == 0:
        return online_part
    demo_part = demos.gather(demos.indices((utd, n_demo), generator), n_step, gamma)
    if online_part is None:
        return demo_part
    return Batch.concat(demo_part, online_part)
