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


# -- run directories (train, practice) ----------------------------------------------------------------
def run_config_file(config: str | None, out: str | None, resume: bool) -> str | None:
    """The config file a run starts from: `--config`, or on `--resume` without one the run's own."""
    if resume and not out:
        raise RobotRLError("--resume needs --out RUN_DIR: the run directory to continue")
    if resume and not config and (Path(out) / "config.yaml").is_file():
        return str(Path(out) / "config.yaml")  # a resumed run keeps its own config
    return config


def open_run_dir(out: str | Path, resume: bool) -> Path:
    """Create a run directory; refuse to overwrite a used one, or to resume one without a checkpoint."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise RobotRLError(
            f"run directory {out} is not empty: pass --resume to continue it or choose another --out"
        )
    if resume and not (out / "checkpoint.pt").exists():
        raise RobotRLError(f"nothing to resume in {out}: no checkpoint.pt (start without --resume)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename it, so a crash never leaves a torn file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
