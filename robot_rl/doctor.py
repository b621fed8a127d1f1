"""`robot-rl doctor`: what this machine can run, and what each missing piece disables."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    disables: str  # what does not work without it

    @property
    def status(self) -> str:
        return "ok" if self.ok else "missing"


def _module_version(module: str) -> tuple[bool, str]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # an optional module may fail on import in many ways
        return False, f"not importable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    version = getattr(mod, "__version__", None)
    if version is None:
        from importlib import metadata

        try:
            version = metadata.version(module)
        except metadata.PackageNotFoundError:
            version = "installed"
    return True, str(version)


def _tool_version(tool: str) -> tuple[bool, str]:
    path = shutil.which(tool)
    if path is None:
        return False, "not on PATH"
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{path} does not run ({exc})"
    return True, (out.strip().splitlines() or [path])[0]


def _torch() -> Check:
    ok, version = _module_version("torch")
    if not ok:
        return Check("torch", False, version, "the learner, training, evaluation and export")
    from robot_rl.runtime import configure_torch, torch_threads

    torch = configure_torch()
    cuda = "CUDA available" if torch.cuda.is_available() else "CPU only"
    return Check("torch", True, f"{version}, {torch_threads()} intra-op thread(s), {cuda}", "")


def _rclpy() -> Check:
    ok, version = _module_version("rclpy")
    if not ok:
        return Check(
            "rclpy + RMW",
            False,
            f"{version}; pip install 'robot_rl[ros]' or source a ROS 2 install",
            "the ROS 2 nodes and their tests",
        )
    try:
        from rclpy.utilities import get_rmw_implementation_identifier

        rmw = get_rmw_implementation_identifier()
    except Exception as exc:  # rclpy imports but its C extension or RMW does not load
        return Check(
            "rclpy + RMW", False, f"rclpy imports but the middleware does not load: {exc}", "the ROS 2 nodes"
        )
    scope = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET (default)")
    domain = os.environ.get("ROS_DOMAIN_ID", "0 (default)")
    return Check("rclpy + RMW", True, f"rmw {rmw}, discovery range {scope}, domain id {domain}", "")


def _ros_launch() -> Check:
    """Can `ros2 launch robot_rl ...` find this install: launch_ros present, the ament layout in this
    environment's prefix, and the prefix on AMENT_PREFIX_PATH."""
    from robot_rl.ros_install import layout_problems

    name, disables = "ros2 launch", "ros2 launch robot_rl ... (the nodes still run as console scripts)"
    ok, version = _module_version("launch_ros")
    if not ok:
        return Check(
            name, False, "no launch_ros: it comes with a ROS 2 install (source it), not PyPI", disables
        )
    paths = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    found = next((p for p in paths if not layout_problems(p)), None)  # colcon, pip or ros-install
    if found:
        return Check(name, True, f"launch_ros {version}, robot_rl in {found}", "")
    problems = layout_problems(sys.prefix)
    if problems:
        return Check(name, False, f"{problems[0]}: run robot-rl ros-install", disables)
    return Check(name, False, f"{sys.prefix} is not on AMENT_PREFIX_PATH: export it there", disables)


def _realsense() -> Check:
    ok, version = _module_version("pyrealsense2")
    if not ok:
        return Check(
            "pyrealsense2", False, f"{version}; pip install 'robot_rl[camera]'", "the RealSense camera node"
        )
    try:
        import pyrealsense2 as rs

        devices = len(rs.context().query_devices())
    except Exception as exc:  # no USB access in containers, etc.
        return Check("pyrealsense2", True, f"{version}, cannot list devices ({exc})", "")
    return Check("pyrealsense2", True, f"{version}, {devices} camera(s) connected", "")


def run_checks() -> list[Check]:
    checks = [
        Check("python", sys.version_info >= (3, 10), sys.version.split()[0], "everything (3.10+ needed)")
    ]
    checks.append(_torch())
    from robot_rl.errors import silenced_output

    with silenced_output():
        ok, detail = _module_version("pybullet")
    checks.append(
        Check(
            "pybullet",
            ok,
            detail if ok else f"{detail}; pip install 'robot_rl[sim]'",
            "the twin and sim-only training",
        )
    )
    checks.append(_rclpy())
    checks.append(_ros_launch())
    checks.append(_realsense())
    ok, detail = _module_version("zmq")
    checks.append(Check("pyzmq", ok, detail, "the actor/learner split over the network"))
    for tool, disables in (
        ("gcc", "host compile checks of exported C policies"),
        (
            "arm-none-eabi-gcc",
            "building the Crazyflie app and Cortex-M4 policies (apt-get install gcc-arm-none-eabi)",
        ),
        (
            "qemu-system-arm",
            "running exported policies on an emulated STM32F405 (apt-get install qemu-system-arm)",
        ),
    ):
        ok, detail = _tool_version(tool)
        checks.append(Check(tool, ok, detail, disables))
    try:
        from robot_rl.spec import known_robots, load_robot_spec

        robots = known_robots()
        for robot in robots:
            load_robot_spec(robot)
        checks.append(Check("robot specs", bool(robots), ", ".join(robots) or "none found", "every robot"))
    except Exception as exc:  # report a broken spec instead of crashing the doctor
        checks.append(Check("robot specs", False, str(exc), "the robots whose spec does not load"))
    return checks


def report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        line = f"{c.name:<{width}}  {c.status:<7}  {c.detail}"
        if not c.ok and c.disables:
            line += f"\n{'':<{width}}           -> without it: {c.disables}"
        lines.append(line)
    return "\n".join(lines)


def as_json(checks: list[Check]) -> list[dict]:
    return [asdict(c) | {"status": c.status} for c in checks]
