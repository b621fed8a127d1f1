"""Rows an actor streams (one per policy step, `robot_rl.transport.actor`) paired into transitions.

Pure numpy (torch only to put the unpaired rows into a checkpoint): the learner owns one
`RowAssembler` and checkpoints it with its replay buffers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from robot_rl.transport.wire import TransitionBatch


@dataclasses.dataclass
class Transition:
    obs: dict[str, np.ndarray]
    action: np.ndarray
    reward: float
    next_obs: dict[str, np.ndarray]
    terminated: bool
    truncated: bool
    intervention: bool
    weight_version: int


class RowAssembler:
    """Rows (one per policy step, see `robot_rl.transport.actor`) -> transitions, per actor.

    A row becomes a transition when the actor's next row arrives, whose observation is its next
    observation; a `final` row only closes an episode. The one unpaired row per actor is part of
    the learner's state and goes into the checkpoint. A row that starts a new episode while the
    previous one was not closed (the actor restarted mid-episode) drops the unpaired row: its next
    observation was never seen (counted in `dangling`)."""

    def __init__(self, obs_keys: list[str]):
        self.obs_keys = obs_keys
        self.pending: dict[str, dict[str, np.ndarray]] = {}
        self.dangling = 0

    def feed(self, batch: TransitionBatch) -> Iterator[tuple[Transition | None, dict[str, Any]]]:
        """Yields (the transition completed by each row or None, that row's flags)."""
        arrays = {k: np.asarray(v) for k, v in batch.arrays.items()}
        for i in range(batch.count):
            row = {k: v[i] for k, v in arrays.items()}
            prev = self.pending.pop(batch.actor_id, None)
            if prev is not None and bool(row["start"]):
                self.dangling += 1
                prev = None
            transition = None
            if prev is not None:
                transition = Transition(
                    obs={k: prev[k] for k in self.obs_keys},
                    action=prev["action"],
                    reward=float(prev["reward"]),
                    next_obs={k: row[k] for k in self.obs_keys},
                    terminated=bool(prev["terminated"]),
                    truncated=bool(prev["truncated"]),
                    intervention=bool(prev["intervention"]),
                    weight_version=int(prev["weight_version"]),
                )
            if not bool(row["final"]):  # copies: the row is a view of a message buffer
                self.pending[batch.actor_id] = {k: np.array(v) for k, v in row.items()}
            yield transition, row

    def state_dict(self) -> dict[str, Any]:
        import torch

        return {
            "pending": {
                a: {k: torch.from_numpy(np.array(v)) for k, v in row.items()}
                for a, row in self.pending.items()
            },
            "dangling": self.dangling,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.pending = {a: {k: v.numpy() for k, v in row.items()} for a, row in state["pending"].items()}
        self.dangling = int(state.get("dangling", 0))
