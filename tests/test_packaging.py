"""Packaging and layering: the package installs for colcon and pip, and imports point one way."""

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import REPO

CORE_FORBIDDEN = {"rclpy", "pybullet", "pybullet_data", "pybullet_utils", "pyrealsense2", "zmq"}


def test_package_xml_is_format_3_ament_python_with_run_deps_outside_export():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "robot_rl"
    deps = {e.text for e in root.findall("exec_depend")}
    assert deps >= {
        "rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "nav_msgs", "std_srvs",
        "python3-numpy", "python3-yaml", "python3-zmq",
    }  # fmt: skip
    assert root.find("export").findtext("build_type") == "ament_python"
    assert not root.find("export").findall("exec_depend")


def test_setup_installs_controllers_and_sim_in_the_namespace_with_data_files():
    code = (
        "import runpy, setuptools, json\n"
        "captured = {}\n"
        "setuptools.setup = lambda **kw: captured.update(kw)\n"
        "runpy.run_path('setup.py', run_name='__main__')\n"
        "keys = ('packages', 'package_dir', 'data_files', 'entry_points')\n"
        "print(json.dumps({k: captured[k] for k in keys}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout

    setup = json.loads(out)
    assert setup["package_dir"]["robot_rl.controllers"] == "controllers"
    assert setup["package_dir"]["robot_rl.sim"] == "sim"
    assert {"robot_rl", "robot_rl.controllers", "robot_rl.sim"} <= set(setup["packages"])
    data = {dest: files for dest, files in setup["data_files"]}
    assert data["share/ament_index/resource_index/packages"] == ["resource/robot_rl"]
    assert "config/robots/panda.yaml" in data["share/robot_rl/config/robots"]
    assert "robot-rl=robot_rl.cli:main" in setup["entry_points"]["console_scripts"]


def test_mapped_packages_import_from_the_namespace():
    import robot_rl.controllers
    import robot_rl.sim

    assert Path(robot_rl.sim.__file__).parent == REPO / "sim"
    assert Path(robot_rl.controllers.__file__).parent == REPO / "controllers"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_and_controllers_never_import_robot_middleware_or_simulators():
    offenders = []
    core = [
        p for p in (REPO / "robot_rl").rglob("*.py") if "ros" not in p.relative_to(REPO / "robot_rl").parts
    ]
    core = [p for p in core if p.relative_to(REPO / "robot_rl").parts[0] != "transport"]
    # The doctor's job is to probe optional pieces, so it may import them (inside try blocks).
    core = [p for p in core if p.name != "doctor.py"]
    for path in core + list((REPO / "controllers").rglob("*.py")):
        bad = _imports(path) & CORE_FORBIDDEN
        if path.is_relative_to(REPO / "controllers"):
            bad |= _imports(path) & {"torch"}
        if bad:
            offenders.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert not offenders


def test_importing_robot_rl_is_cheap():
    code = (
        "import sys, robot_rl; print(sorted(m for m in ('torch', 'pybullet', 'rclpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
