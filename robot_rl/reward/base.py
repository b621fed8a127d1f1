"""What every reward model shares: cameras, a calibrated probability, a threshold, and an optional
proprioceptive condition ANDed with the threshold decision (HIL-SERL pairs its classifier with
such a check, e.g. "gripper closed", so a frame that merely looks right cannot pay out).

A model folder holds `reward_model.json` (kind, cameras, threshold, condition, state layout,
calibration, training summary) and the kind's weights (`model.pt`, a torch state dict loaded with
`weights_only=True`; nothing is unpickled). `load_model(folder)` reads any kind.
"""

from __future__ import annotations

import json
import operator
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError, Described, RobotRLError

META_FILE = "reward_model.json"
META_FORMAT = "robot_rl.reward_model/1"

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class ProprioCondition:
    """`state[field][index] <op> value`, with `field` a name of the env's state layout (the robot
    spec's observation fields, then the task's), e.g. gripper_width > 0.01 or ee_pos[2] > 0.08."""

    field: str
    op: str
    value: float
    index: int = 0

    def check(self, layout: list[dict[str, Any]]) -> None:
        if self.op not in _OPS:
            raise ConfigError("", f"condition on {self.field}", f"op one of {list(_OPS)}", self.op)
        sizes = {f["name"]: f["size"] for f in layout}
        if self.field not in sizes:
            raise ConfigError("", "condition field", f"a state field ({', '.join(sizes)})", self.field)
        if not 0 <= self.index < sizes[self.field]:
            raise ConfigError("", f"condition {self.field} index", f"0..{sizes[self.field] - 1}", self.index)

    def holds(self, state: np.ndarray, layout: list[dict[str, Any]]) -> np.ndarray:
        """Per row of `state` (S,) or (N, S): whether the condition holds."""
        start = 0
        for f in layout:
            if f["name"] == self.field:
                break
            start += f["size"]
        column = np.asarray(state, dtype=np.float64)[..., start + self.index]
        return _OPS[self.op](column, self.value)

    @staticmethod
    def parse(text: str) -> ProprioCondition:
        """'gripper_width>0.01' or 'ee_pos[2]>=0.08'."""
        for op in ("<=", ">=", "<", ">"):
            if op in text:
                left, right = text.split(op, 1)
                name, index = left.strip(), 0
                if name.endswith("]") and "[" in name:
                    name, idx = name[:-1].split("[", 1)
                    index = int(idx)
                try:
                    return ProprioCondition(name, op, float(right), index)
                except ValueError:
                    break
        raise ConfigError("", "condition", "FIELD[INDEX]<OP>VALUE, e.g. gripper_width>0.01", text)


class RewardModel(ABC):
    """A success detector on camera frames (plus optional proprioception)."""

    kind: str = ""

    def __init__(
        self,
        cameras: list[str],
        threshold: float = 0.75,
        conditions: list[ProprioCondition] | None = None,
        state_layout: list[dict[str, Any]] | None = None,
        info: dict[str, Any] | None = None,
    ):
        if not 0.0 < threshold < 1.0:
            raise ConfigError("", "threshold", "a probability strictly between 0 and 1", threshold)
        self.cameras = list(cameras)
        self.threshold = float(threshold)
        self.conditions = list(conditions or [])
        self.state_layout = list(state_layout or [])
        for c in self.conditions:
            c.check(self.state_layout)
        #: free-form facts saved with the model (robot, task, training summary)
        self.info = dict(info or {})

    # -- to implement ----------------------------------------------------------------------
    @abstractmethod
    def probability(self, images: dict[str, np.ndarray]) -> np.ndarray:
        """Calibrated success probability per frame; images[camera] is (N, H, W, 3) uint8."""

    @abstractmethod
    def _save_weights(self, folder: Path) -> dict[str, Any]:
        """Write the weights; return kind-specific meta."""

    @classmethod
    @abstractmethod
    def _load(cls, folder: Path, meta: dict[str, Any]) -> RewardModel: ...

    # -- shared ----------------------------------------------------------------------------
    def proprio_ok(self, state: np.ndarray | None) -> np.ndarray | bool:
        if not self.conditions:
            return True
        if state is None:
            raise RobotRLError("this reward model has a proprioceptive condition: pass the state vector too")
        ok = np.ones(np.asarray(state).shape[:-1], dtype=bool)
        for c in self.conditions:
            ok &= c.holds(state, self.state_layout)
        return ok

    def decide(
        self, images: dict[str, np.ndarray], state: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(probability, success) per frame: success = probability >= threshold AND the condition."""
        p = self.probability(images)
        return p, (p >= self.threshold) & self.proprio_ok(state)

    def __call__(self, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        """One unbatched env observation -> (probability, success)."""
        missing = [c for c in self.cameras if c not in obs]
        if missing:
            raise RobotRLError(
                f"the observation has no {', '.join(missing)} image: make the env with cameras={self.cameras}"
            )
        p, ok = self.decide({c: obs[c][None] for c in self.cameras}, obs.get("state"))
        return float(p[0]), bool(np.asarray(ok).reshape(-1)[0])

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        extra = self._save_weights(folder)
        meta = {
            "format": META_FORMAT,
            "kind": self.kind,
            "cameras": self.cameras,
            "threshold": self.threshold,
            "conditions": [asdict(c) for c in self.conditions],
            "state_layout": self.state_layout,
            "info": self.info,
            **extra,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=1))
        return folder


def load_model(folder: str | Path) -> RewardModel:
    """Load any saved reward model (classifier, CLIP, remote) from its folder."""
    folder = Path(folder)
    path = folder / META_FILE
    if not path.is_file():
        raise ConfigError(
            str(folder),
            "",
            "a reward model folder from `robot-rl reward train`",
            Described(f"no {META_FILE}"),
        )
    meta = json.loads(path.read_text())
    if meta.get("format") != META_FORMAT:
        raise ConfigError(str(path), "format", META_FORMAT, meta.get("format"))
    kind = meta.get("kind")
    if kind == "classifier":
        from robot_rl.reward.classifier import SuccessClassifier as cls
    elif kind == "clip":
        from robot_rl.reward.vlm import ClipReward as cls
    elif kind == "remote":
        from robot_rl.reward.remote import RemoteVLMReward as cls
    else:
        raise ConfigError(str(path), "kind", "classifier, clip or remote", kind)
    return cls._load(folder, meta)


def common_kwargs(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "cameras": meta["cameras"],
        "threshold": meta["threshold"],
        "conditions": [ProprioCondition(**c) for c in meta.get("conditions", [])],
        "state_layout": meta.get("state_layout", []),
        "info": meta.get("info", {}),
    }


# -- calibration ---------------------------------------------------------------------------------
def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """Temperature scaling (Guo et al. 2017): the T minimising the held-out NLL of sigmoid(logit / T),
    with Platt's (1999) smoothed targets.

    A 1-D problem: a log-spaced grid then a finer grid around the best point is exact enough
    and cannot diverge the way a gradient fit on a few hundred frames can."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if z.size == 0 or y.min() == y.max():
        return 1.0
    # Platt's target smoothing: on a held-out set the model separates perfectly, the plain NLL
    # keeps falling as T -> 0 and would claim certainty; the smoothed targets give a finite T
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    y = np.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def nll(t: float) -> float:
        s = z / t
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    grid = np.logspace(-2, 2, 161)
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.logspace(-0.05, 0.05, 41)
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))
