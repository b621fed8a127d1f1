"""ROS 2 domain leases: a DDS domain that no other robot_rl process on this machine is using.

Tests and benchmarks start whole node graphs; two of them on one domain would hear each other's
topics. `lease_domain()` takes an exclusive `flock` on one file per domain under the temp directory and
holds it until the lease is released (or the process ends, when the kernel drops the lock), so
concurrent test runs, benchmarks and CI jobs on one machine never share a domain. Discovery stays on
loopback through `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`, set by the callers.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path

# 0 is every ROS install's default (a robot on this machine may use it); with the default port
# mapping, domains above 101 collide with Linux ephemeral ports
DOMAINS = range(1, 102)


class DomainLease:
    """One held domain; `release()` (or the end of the process) frees it for others."""

    def __init__(self, domain: int, handle) -> None:
        self.domain, self._handle = domain, handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None

    def __enter__(self) -> DomainLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lease_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"robot_rl-ros-domains-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def lease_domain(exclude: tuple[int, ...] = ()) -> DomainLease:
    """A free domain, tried in random order; raises RuntimeError when all are taken."""
    skip = set(exclude)
    env = os.environ.get("ROS_DOMAIN_ID", "")
    if env.isdigit():
        skip.add(int(env))  # the domain this process's own graph runs on
    candidates = [d for d in DOMAINS if d not in skip]
    random.Random().shuffle(candidates)
    for domain in candidates:
        handle = (lease_dir() / f"{domain}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return DomainLease(domain, handle)
    raise RuntimeError(
        f"all ROS domains {DOMAINS.start}..{DOMAINS.stop - 1} are leased by other robot_rl processes "
        f"(locks in {lease_dir()}); wait for them to finish"
    )
