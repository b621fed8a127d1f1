"""Physical-model pieces every arm's spec `model:` shares: link inertials, joint limits, solver
settings, and the cache the generated URDFs are written to."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from robot_rl.config import param
from robot_rl.errors import ConfigError
from robot_rl.paths import write_atomic


@dataclass
class LinkInertial:
    """Inertial parameters of one link, about its centre of mass in the link frame's axes."""

    mass: float = param(doc="link mass", unit="kg", gt=0)
    com: list[float] = param(doc="centre of mass in the link frame", unit="m")
    inertia: list[float] = param(doc="ixx, ixy, ixz, iyy, iyz, izz", unit="kg m^2")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.com) != 3:
            raise ConfigError(source, f"{prefix}.com", "3 values (x, y, z)", self.com)
        if len(self.inertia) != 6:
            raise ConfigError(
                source, f"{prefix}.inertia", "6 values (ixx, ixy, ixz, iyy, iyz, izz)", self.inertia
            )


@dataclass
class JointLimit:
    """Datasheet limits of one joint (rad or m, rad/s or m/s, N m or N)."""

    lower: float = param(doc="lower position limit", unit="rad | m")
    upper: float = param(doc="upper position limit", unit="rad | m")
    velocity: float = param(doc="velocity limit", unit="rad/s | m/s", gt=0)
    effort: float = param(doc="torque (force) limit", unit="N m | N", gt=0)

    def validate(self, source: str, prefix: str) -> None:
        if self.lower >= self.upper:
            raise ConfigError(source, f"{prefix}.lower", f"a value below upper ({self.upper})", self.lower)


@dataclass
class PhysicsSettings:
    solver_iterations: int = param(10, doc="PyBullet numSolverIterations (PyBullet default 50)", gt=0)
    contact_erp: float = param(0.2, doc="contact error reduction per step", gt=0, le=1)


def cached_urdf(stem: str, text: str, cache_dir: str | Path | None = None) -> Path:
    """Path of `text` written once per content into the cache folder ($ROBOT_RL_CACHE or the temp dir)."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = Path(
        cache_dir or os.environ.get("ROBOT_RL_CACHE") or Path(tempfile.gettempdir()) / "robot_rl_cache"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}_{digest}.urdf"
    if not path.is_file():
        write_atomic(path, text)  # concurrent processes never load a half-written file
    return path
