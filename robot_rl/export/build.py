"""Compile generated C on the host (ctypes) and for the Cortex-M4, with the warning flags the
issue sets; every warning is an error."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

from robot_rl.errors import RobotRLError

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wconversion", "-Wshadow"]
#: the Crazyflie's STM32F405: Cortex-M4 with the single-precision FPU, hard-float ABI
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os"]
#: reference mode must not fuse a*b+c: its sums are defined one rounding per operation
MODE_FLAGS = {"reference": ["-ffp-contract=off"], "fast": [], "int8": ["-ffp-contract=off"]}


def compiler(name: str = "gcc") -> str:
    path = shutil.which(name)
    if path is None:
        hint = "apt-get install gcc" if name == "gcc" else "bash tools/install_system_deps.sh"
        raise RobotRLError(f"{name} not found: install it ({hint})")
    return path


def run(cmd: list[str], what: str, cwd: str | Path | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise RobotRLError(f"{what} failed: {' '.join(cmd)}\n{proc.stderr.strip()}")
    return proc.stdout


def build_host_library(c_file: str | Path, mode: str, out: str | Path | None = None) -> Path:
    """A shared library of one generated `<name>.c` (host gcc, -Werror)."""
    c_file = Path(c_file)
    out = Path(out) if out else c_file.with_name(f"lib{c_file.stem}_{mode}.so")
    cmd = [
        compiler("gcc"),
        *WARNINGS,
        *MODE_FLAGS[mode],
        "-O2",
        "-fPIC",
        "-shared",
        str(c_file),
        "-o",
        str(out),
    ]
    run([*cmd, "-lm"], "host compile")
    return out


def compile_arm_object(c_file: str | Path, mode: str, out: str | Path | None = None) -> Path:
    """`arm-none-eabi-gcc -c` with the Crazyflie's FPU flags; returns the object file."""
    c_file = Path(c_file)
    out = Path(out) if out else c_file.with_suffix(".arm.o")
    cmd = [
        compiler("arm-none-eabi-gcc"),
        *WARNINGS,
        *ARM_FLAGS,
        *MODE_FLAGS[mode],
        "-c",
        str(c_file),
        "-o",
        str(out),
    ]
    run(cmd, "arm-none-eabi-gcc compile")
    return out


class HostPolicy:
    """A generated policy loaded with ctypes: `act(obs)` for one observation or a batch."""

    def __init__(self, library: str | Path, name: str = "policy", obs_size: int = 0, action_size: int = 0):
        self.lib = ctypes.CDLL(str(Path(library).resolve()))
        self.name, self.obs_size, self.action_size = name, obs_size, action_size
        fp = ctypes.POINTER(ctypes.c_float)
        self._act = getattr(self.lib, f"{name}_act")
        self._act.argtypes, self._act.restype = [fp, fp], None
        self._phys = getattr(self.lib, f"{name}_to_physical")
        self._phys.argtypes, self._phys.restype = [fp, fp], None
        self._selftest = getattr(self.lib, f"{name}_selftest")
        self._selftest.argtypes, self._selftest.restype = [fp], ctypes.c_int
        self._out = np.zeros(action_size, np.float32)
        self._obs = np.zeros(obs_size, np.float32)
        self._fp = fp

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if obs.ndim == 2:
            return np.stack([self.act(o) for o in obs])
        self._obs[:] = obs
        self._act(self._obs.ctypes.data_as(self._fp), self._out.ctypes.data_as(self._fp))
        return self._out.copy()

    def __call__(self, obs: dict) -> np.ndarray:
        """Same call as `agent.policy`: one env observation dict -> one action."""
        return self.act(obs["state"])

    def to_physical(self, action: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(action, np.float32)
        out = np.zeros(self.action_size, np.float32)
        self._phys(a.ctypes.data_as(self._fp), out.ctypes.data_as(self._fp))
        return out

    def selftest(self) -> tuple[bool, float]:
        err = ctypes.c_float(0.0)
        ok = self._selftest(ctypes.byref(err)) == 0
        return ok, float(err.value)
