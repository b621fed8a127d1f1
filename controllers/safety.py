"""Safety limits shared by every robot's control law: the commanded-target box.

Pure numpy: the real robot's controller node and the twin clip their commands with the
same code, so the box in `config/robots/<robot>.yaml` (`safety.box_low/box_high`) means the
same thing in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class SafetyBox:
    """An axis-aligned box (m, world frame) that commanded targets are clipped into."""

    def __init__(self, low: Sequence[float], high: Sequence[float]):
        self.low = np.asarray(low, dtype=np.float64).copy()
        self.high = np.asarray(high, dtype=np.float64).copy()
        if self.low.shape != (3,) or self.high.shape != (3,):
            raise ValueError(
                f"safety box corners need 3 values each, got {self.low.tolist()} / {self.high.tolist()}"
            )
        if np.any(self.low >= self.high):
            raise ValueError(
                f"safety box low {self.low.tolist()} must be below high {self.high.tolist()} on every axis"
            )

    @classmethod
    def from_spec(cls, safety: Any) -> SafetyBox:
        """From a spec's `safety` section (anything with `box_low` and `box_high`)."""
        return cls(safety.box_low, safety.box_high)

    def clip(self, position: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The closest point inside the box (in place when `out` is given)."""
        return np.clip(position, self.low, self.high, out=out)

    def contains(self, position: np.ndarray, tolerance: float = 0.0) -> bool:
        """True if `position` lies inside the box grown by `tolerance` (m) on every side."""
        p = np.asarray(position)
        return bool(np.all(p >= self.low - tolerance) and np.all(p <= self.high + tolerance))

    @property
    def center(self) -> np.ndarray:
        return 0.5 * (self.low + self.high)
