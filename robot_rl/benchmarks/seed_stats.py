"""Statistics over seeds, as rliable computes them (Agarwal et al. 2021): the interquartile mean (IQM)
with 95% stratified-bootstrap confidence intervals (percentile method), a ratio of two IQMs, and
IQM learning curves. Every CI is reproducible from its `seed`. Needs the `bench` extra (rliable).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _estimates(data: dict[str, Any], func: Any, reps: int, seed: int) -> tuple[dict, dict]:
    """rliable's stratified-bootstrap point estimates and 95% percentile CIs, reproducible by `seed`.

    rliable's StratifiedBootstrap draws its resampling indices from numpy's global generator and
    ignores `random_state`, so the global generator is seeded for the call and restored after it.
    """
    import warnings

    from rliable import library

    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            # arch 7 (rliable's bootstrap) deprecates the RandomState that rliable passes it
            warnings.simplefilter("ignore", FutureWarning)
            return library.get_interval_estimates(
                data, func, reps=reps, random_state=np.random.RandomState(seed)
            )
    finally:
        np.random.set_state(saved)


def _iqm(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_iqm(scores)])


def iqm_with_ci(values: list[float], reps: int, seed: int = 0) -> dict[str, float]:
    """IQM of per-seed values and its 95% CI (rliable stratified bootstrap, percentile)."""
    scores = np.asarray(values, dtype=float).reshape(-1, 1)
    point, ci = _estimates({"x": scores}, _iqm, reps, seed)
    return {"iqm": float(point["x"][0]), "ci95": [float(ci["x"][0][0]), float(ci["x"][1][0])]}


def ratio_with_ci(
    numerator: list[float], denominator: list[float], reps: int, seed: int = 0
) -> dict[str, Any]:
    """IQM(numerator) / IQM(denominator), 95% CI from rliable's independent stratified bootstrap of both."""
    from rliable import metrics

    def ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x) / metrics.aggregate_iqm(y)])

    arrays = [np.asarray(v, dtype=float).reshape(-1, 1) for v in (numerator, denominator)]
    point, ci = _estimates({"r": arrays}, ratio, reps, seed)
    return {"value": float(point["r"][0]), "ci95": [float(ci["r"][0][0]), float(ci["r"][1][0])]}


def curve(runs: dict[int, list[dict[str, Any]]], reps: int) -> dict[str, Any] | None:
    """IQM success rate vs env steps with 95% CIs; at each evaluated step, over the seeds that reached it.

    Partial runs stop contributing where they stopped (`seeds_at_step` says how many remain).
    rliable needs a full (runs x tasks x steps) array, so each stretch of steps with the same
    seeds is bootstrapped on its own.
    """
    from rliable import metrics

    tables = {seed: {int(r["step"]): r["success_rate"] for r in rows} for seed, rows in runs.items() if rows}
    steps = sorted(set().union(*tables.values())) if tables else []
    if not steps:
        return None

    def per_step(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])])

    result: dict[str, Any] = {"seeds": sorted(tables), "steps": steps}
    result.update(iqm=[], ci95_low=[], ci95_high=[], seeds_at_step=[])
    stretch: list[int] = []
    for i, step in enumerate(steps):
        stretch.append(step)
        members = [s for s in tables if step in tables[s]]
        following = [s for s in tables if i + 1 < len(steps) and steps[i + 1] in tables[s]]
        if members == following:
            continue
        scores = np.array([[[tables[s][t] for t in stretch]] for s in members])  # (runs, 1 task, steps)
        point, ci = _estimates({"c": scores}, per_step, reps, 0)
        result["iqm"] += point["c"].round(4).tolist()
        result["ci95_low"] += ci["c"][0].round(4).tolist()
        result["ci95_high"] += ci["c"][1].round(4).tolist()
        result["seeds_at_step"] += [len(members)] * len(stretch)
        stretch = []
    return result
