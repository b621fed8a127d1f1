"""Test-wide settings. DDS discovery stays on loopback and each test run gets its own domain,
set here before anything can import rclpy."""

import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def robot_rl_bin() -> str:
    """The installed `robot-rl` console script of this interpreter's environment."""
    path = Path(sys.executable).parent / "robot-rl"
    assert path.exists(), f"robot-rl console script missing next to {sys.executable}: pip install -e ."
    return str(path)
