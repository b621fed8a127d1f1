"""Where the installed YAML configs live, for every way of installing the package, and the files of
run directories (train, practice): opening one, atomic writes, metrics rows."""

from __future__ import annotations

import json
import os
import site
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

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


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb", fsync: bool = False) -> Iterator[IO[Any]]:
    """A file to write `path` through: a temporary file beside it, renamed over it on a clean exit.

    A crash leaves the old file or the whole new one, never half of it, and a temporary file of
    this process at most; on an error the temporary file is removed. `fsync` makes the content
    durable before the rename (what was acknowledged survives a power cut, not only a kill).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_torn_writes(folder: Path) -> None:
    """Delete the temporary files `atomic_file` leaves behind when its process is killed before the rename."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: bytes | str, fsync: bool = False) -> None:
    """Write `data` through a temporary file and a rename (`atomic_file`), so no reader sees a torn file."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w", fsync=fsync) as f:
        f.write(data)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file (metrics.jsonl); a line torn by a kill mid-write is skipped."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
