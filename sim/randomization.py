"""Domain randomization: per-episode parameters sampled from the ranges in the robot spec.

Ranges live in `config/robots/<robot>.yaml` under `randomization:` (name -> [low, high]).
Each robot and task declares the names it understands with their nominal values; a name no
one understands is a config error at construction, not a silently ignored typo.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from robot_rl.errors import ConfigError


def check_keys(ranges: Mapping[str, list[float]], nominal: Mapping[str, float], source: str) -> None:
    for name in ranges:
        if name not in nominal:
            known = ", ".join(sorted(nominal)) or "none"
            raise ConfigError(
                source, f"randomization.{name}", f"a parameter this robot/task understands ({known})", name
            )


def sample(
    rng: np.random.Generator, ranges: Mapping[str, list[float]], nominal: Mapping[str, float], enabled: bool
) -> dict[str, float]:
    """Every parameter's value for this episode: nominal, or uniform in its range when enabled.

    Parameters are drawn in sorted-name order so a seed gives the same values whatever the
    YAML order.
    """
    values = {name: float(v) for name, v in nominal.items()}
    if enabled:
        for name in sorted(ranges):
            lo, hi = ranges[name]
            values[name] = float(rng.uniform(lo, hi))
    return values
