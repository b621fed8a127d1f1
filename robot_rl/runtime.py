"""Process-wide runtime settings (torch threads, real-time scheduling) and checkpoint plumbing
(atomic torch saves, RNG state)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DEFAULT_TORCH_THREADS = 1


def torch_threads() -> int:
    """Intra-op threads for torch: $ROBOT_RL_TORCH_THREADS, else 1.

    On 2 shared cores two intra-op threads collapse small-network throughput by 5-10x, so
    one thread is the default; raise it on a workstation with a big batch.
    """
    value = os.environ.get("ROBOT_RL_TORCH_THREADS", "")
    if not value:
        return DEFAULT_TORCH_THREADS
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        from robot_rl.errors import ConfigError

        raise ConfigError("environment", "ROBOT_RL_TORCH_THREADS", "a whole number >= 1", value)
    return threads


def configure_torch(threads: int | None = None):
    """Import torch with the project's thread setting; returns the torch module."""
    import torch

    threads = threads or torch_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch


def set_realtime(priority: int) -> str | None:
    """Run every thread of this process under SCHED_FIFO at `priority` (1-99); 0 restores normal scheduling.

    Threads created afterwards inherit the policy of the thread that creates them. Returns None
    when applied, else why not (the process keeps its scheduling): a robot's control processes
    run real-time (ros2_control, franka_ros2) so that other load on the computer cannot delay a
    policy step or a command.
    """
    if not 0 <= priority <= 99:
        from robot_rl.errors import ConfigError

        raise ConfigError("", "realtime_priority", "0 (off) or a SCHED_FIFO priority 1-99", priority)
    if not hasattr(os, "sched_setscheduler"):
        return "this OS has no SCHED_FIFO"
    policy = os.SCHED_FIFO if priority else os.SCHED_OTHER
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setscheduler(int(tid), policy, os.sched_param(priority))
            except ProcessLookupError:  # the thread ended meanwhile
                continue
    except PermissionError:
        return "not permitted: give the user an rtprio limit (/etc/security/limits.conf) or CAP_SYS_NICE"
    return None


def torch_save_atomic(path: Path, state: dict[str, Any]) -> None:
    """`torch.save` of `state` to `path`, atomically: a reader sees the old file or the whole new one."""
    import io

    from robot_rl.paths import write_atomic

    buffer = io.BytesIO()
    configure_torch().save(state, buffer)
    write_atomic(path, buffer.getvalue())


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The numpy generator's and torch's global random state, as a checkpoint stores them."""
    return {"numpy": rng.bit_generator.state, "torch": configure_torch().get_rng_state()}


def restore_rng(rng: np.random.Generator, saved: dict[str, Any]) -> None:
    """Put back what `rng_state` saved."""
    rng.bit_generator.state = saved["numpy"]
    configure_torch().set_rng_state(saved["torch"])


def stop_processes(
    procs: Iterable[subprocess.Popen], sig: int = signal.SIGINT, timeout_s: float = 10.0
) -> None:
    """Send `sig` to every process still running, then wait for each; one still running after
    `timeout_s` is killed."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(sig)
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
