"""Audit a reward model on frames whose truth the simulator knows."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from robot_rl.reward.base import RewardModel
from robot_rl.reward.dataset import FrameSet


def confusion(predicted: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, precision, recall and false-positive rates of success decisions.

    `labels` are frame labels (success, near_miss, failure; `boundary` frames are left out).
    Rates with an empty denominator are None rather than a made-up 0 or 1."""
    predicted = np.asarray(predicted, dtype=bool)
    labels = np.asarray(labels)
    keep = labels != "boundary"
    predicted, labels = predicted[keep], labels[keep]
    truth = labels == "success"
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    fn = int(np.sum(~predicted & truth))
    tn = int(np.sum(~predicted & ~truth))
    near = labels == "near_miss"
    fp_near = int(np.sum(predicted & near))

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "frames": len(labels),
        "positives": int(truth.sum()),
        "near_misses": int(near.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "accuracy": ratio(tp + tn, len(labels)),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "fpr": ratio(fp, fp + tn),
        "near_miss_fpr": ratio(fp_near, int(near.sum())),
    }


def time_per_frame(model: RewardModel, frames: FrameSet, repeats: int = 50) -> float:
    """Median milliseconds to score one frame (all the model's cameras), one frame at a time as a
    reward node does it."""
    n = len(frames)
    times = []
    for i in range(min(repeats + 3, max(n, 1) * 4)):
        j = i % n
        one = {c: frames.images[c][j : j + 1] for c in model.cameras}
        t0 = time.perf_counter()
        model.decide(one, frames.state[j : j + 1])
        times.append(time.perf_counter() - t0)
    return float(np.median(times[3:] if len(times) > 3 else times) * 1e3)


def evaluate(model: RewardModel, frames: FrameSet, timing: bool = True) -> dict[str, Any]:
    """Confusion figures of `model` on `frames`, plus ms per frame and per camera image."""
    images = {c: frames.images[c] for c in model.cameras}
    p, decided = model.decide(images, frames.state)
    result = confusion(np.broadcast_to(decided, p.shape), frames.labels)
    truth = frames.labels == "success"
    keep = frames.labels != "boundary"
    # calibration: mean |p - truth| per probability decile is the reliability gap
    result["brier"] = round(float(np.mean((p[keep] - truth[keep]) ** 2)), 4) if keep.any() else None
    result["boundary_frames_excluded"] = int((~keep).sum())
    result["threshold"] = model.threshold
    result["cameras"] = model.cameras
    if timing:
        ms = time_per_frame(model, frames)
        result["ms_per_frame"] = round(ms, 3)
        result["ms_per_image"] = round(ms / max(len(model.cameras), 1), 3)
    return result
