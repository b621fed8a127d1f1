"""Where the installed YAML configs live, for every way of installing the package."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from robot_rl.errors import RobotRLError

_SOURCE_CONFIG = Path(__file__).resolve().parent.parent / "config"


def config_dir() -> Path:
    """The `config/` folder: $ROBOT_RL_CONFIG_DIR, a source checkout, a pip prefix or an ament prefix."""
    candidates = []
    if os.environ.get("ROBOT_RL_CONFIG_DIR"):
        candidates.append(Path(os.environ["ROBOT_RL_CONFIG_DIR"]))
    candidates.append(_SOURCE_CONFIG)
    for prefix in (
        sys.prefix,
        site.getuserbase(),
        *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep),
    ):
        if prefix:
            candidates.append(Path(prefix) / "share" / "robot_rl" / "config")
    for path in candidates:
        if (path / "robots").is_dir():
            return path
    raise RobotRLError(
        "cannot find robot_rl's config/ folder (robot specs): reinstall robot_rl or set ROBOT_RL_CONFIG_DIR"
    )
