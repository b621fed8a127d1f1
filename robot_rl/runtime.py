"""Process-wide runtime settings: torch threads and seeding."""

from __future__ import annotations

import os

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
