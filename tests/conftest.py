"""Test-wide settings. DDS discovery stays on loopback and each test run leases its own domain (no
other robot_rl process on this machine uses it while the run holds it), set here before anything can
import rclpy."""

import os
import sys
from pathlib import Path

import pytest

from robot_rl.dds import lease_domain  # no rclpy behind it

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
_RUN_DOMAIN = lease_domain()  # held for the whole run
os.environ["ROS_DOMAIN_ID"] = str(_RUN_DOMAIN.domain)
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Nothing a test starts may wait for a keyboard: a CI runner's stdin can be a terminal or a pipe that
# never closes, and a prompt (the human-reset fallback) would then wait for ever. Every process
# started from here reads end-of-file instead.
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def robot_rl_bin() -> str:
    """The installed `robot-rl` console script of this interpreter's environment."""
    path = Path(sys.executable).parent / "robot-rl"
    assert path.exists(), f"robot-rl console script missing next to {sys.executable}: pip install -e ."
    return str(path)


@pytest.fixture
def ros_domain(monkeypatch) -> int:
    """A ROS domain of this test alone, set as ROS_DOMAIN_ID for it and the processes it starts."""
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    with lease_domain() as lease:
        monkeypatch.setenv("ROS_DOMAIN_ID", str(lease.domain))
        yield lease.domain
