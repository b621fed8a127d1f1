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
