"""Learning-curve figures of run directories (`curve.png`), drawn headless with matplotlib's Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Line:
    """One curve: `style` holds matplotlib keyword arguments (color, marker, ls, ...)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    style: dict[str, Any] = field(default_factory=dict)


def save_success_curves(path: Path, lines: Sequence[Line], *, xlabel: str, title: str) -> Path:
    """Success rate (0-1) against `xlabel`, one line per `Line`; a legend when there is more than one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.5), dpi=100)
    for line in lines:
        ax.plot(line.x, line.y, label=line.label, **line.style)
    ax.set(xlabel=xlabel, ylabel="success rate", ylim=(-0.05, 1.05))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(lines) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_iqm_curves(path: Path, tasks: dict[str, Any], threshold: float) -> Path:
    """One panel per task, one line per method: the IQM success curve over seeds with its 95%
    bootstrap band (`robot_rl.benchmarks.seed_stats.curve`), log steps, the `threshold` dashed.
    `tasks`: {task: {"methods": {method: summary with "curve", "seeds_settled", "seeds_planned"}}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import NullFormatter

    names = list(tasks)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), dpi=100, squeeze=False)
    for ax, task in zip(axes[0], names):
        for method, summary in tasks[task]["methods"].items():
            c = summary["curve"]
            if not c:
                continue
            label = f"{method}: {summary['seeds_settled']}/{summary['seeds_planned']} seeds settled"
            # solid while every seed is evaluated; dotted, without a band, where some have stopped
            # (SB3 at its first 90% evaluation, a run cut short): those points are the rest only
            full = np.asarray(c["seeds_at_step"]) == max(c["seeds_at_step"])
            cut = int(np.argmin(full)) if not full.all() else len(full)
            steps, iqm = np.asarray(c["steps"]), np.asarray(c["iqm"])
            (line,) = ax.plot(steps[:cut], iqm[:cut], label=label)
            lo, hi = c["ci95_low"][:cut], c["ci95_high"][:cut]
            ax.fill_between(steps[:cut], lo, hi, color=line.get_color(), alpha=0.2)
            if cut < len(steps):
                ax.plot(
                    steps[max(cut - 1, 0) :], iqm[max(cut - 1, 0) :], color=line.get_color(), ls=":", lw=1
                )
        ax.axhline(threshold, color="grey", lw=0.8, ls="--")
        ax.set(title=task, xlabel="environment steps", ylim=(-0.05, 1.05), xscale="log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # labels at powers of ten only: no overlaps
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
        else:
            ax.text(0.5, 0.5, "no runs yet", ha="center", transform=ax.transAxes)
            ax.set_xlim(1e3, 1e5)
    axes[0][0].set_ylabel("eval success rate (IQM, 95% CI)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
