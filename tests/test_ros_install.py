"""`ros2 launch robot_rl ...` finds the package after every install path: colcon, `pip install .` and
the Makefile's `pip install -e .` + `robot-rl ros-install`.

Each path installs a copy of the checkout into a temporary prefix, and the prefix is looked up as
launch_ros does it (launch_ros 0.28.0: `FindPackagePrefix`/`FindPackageShare` call ament_index_python's
`get_package_prefix`/`get_package_share_directory`; `ExecutableInPackage` needs `<prefix>/lib/<package>`
and finds the node there with `shutil.which`). Then a node runs through that executable: the
controller, given a parameter file with an unknown key, must say so in one line and exit 2, which
proves the executable reaches the installed package with an interpreter that has rclpy.

The temporary venvs see this environment's site-packages through a .pth line (setuptools, pip, rclpy,
ament_index_python) so nothing is downloaded; the package itself comes from the temporary install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import REPO

from robot_rl.ros_install import NODES, layout_problems

LOOKUP = """
import json, os, shutil, sys
from pathlib import Path
from ament_index_python.packages import get_package_prefix, get_package_share_directory
prefix, share = Path(get_package_prefix("robot_rl")), Path(get_package_share_directory("robot_rl"))
libexec = prefix / "lib" / "robot_rl"
# ros2launch 0.28.0 get_share_file_path_from_package: os.walk of the share directory, one match
walked = [os.path.join(r, f) for r, _, files in os.walk(share) for f in files if f == "twin.launch.py"]
print(json.dumps({
    "walked": walked,
    "prefix": str(prefix), "share": str(share), "libexec_exists": libexec.is_dir(),
    "launch": sorted(p.name for p in (share / "launch").glob("*.launch.py")),
    "params": [(share / "config" / "ros" / f"{r}.yaml").is_file() for r in ("panda", "crazyflie", "racecar")],
    "executables": {n: shutil.which(n, path=str(libexec)) for n in sys.argv[1:]},
}))
"""


def source_copy(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore), as a clean source tree."""
    cmd = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(cmd, cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def venv_beside_this_one(path: Path) -> Path:
    """A new venv whose interpreter also sees this environment's packages (after its own)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([path / "bin" / "python", "-c", code], text=True).strip())
    (site / "outer.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return path / "bin" / "python"


def pip_install(python: Path, *args: str) -> None:
    cmd = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--ignore-installed",
    ]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=python.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]


def lookup(python: Path, prefix: Path, **env: str) -> dict:
    """What launch_ros finds for robot_rl with AMENT_PREFIX_PATH=prefix."""
    environ = {**os.environ, "AMENT_PREFIX_PATH": str(prefix), **env}
    out = subprocess.run([str(python), "-c", LOOKUP, *NODES], capture_output=True, text=True, env=environ,
                         cwd=prefix)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def assert_ros_finds_the_package(python: Path, prefix: Path, **env: str) -> None:
    found = lookup(python, prefix, **env)
    assert Path(found["prefix"]) == prefix and Path(found["share"]) == prefix / "share" / "robot_rl"
    assert found["libexec_exists"], "launch_ros: libexec directory lib/robot_rl does not exist"
    assert found["walked"] == [str(prefix / "share" / "robot_rl" / "launch" / "twin.launch.py")], found[
        "walked"
    ]
    assert {"twin.launch.py", "panda.launch.py", "crazyflie.launch.py", "racecar.launch.py"} <= set(
        found["launch"]
    )
    assert all(found["params"]), "share/robot_rl/config/ros/<robot>.yaml missing"
    missing = [n for n, exe in found["executables"].items() if exe != str(prefix / "lib" / "robot_rl" / n)]
    assert not missing, f"launch_ros cannot run {missing} from {prefix}/lib/robot_rl"
    assert not layout_problems(prefix)


def assert_node_runs(prefix: Path, tmp_path: Path, **env: str) -> None:
    """The controller executable in lib/robot_rl starts the installed node (rclpy and all)."""
    params = tmp_path / "bad.yaml"
    params.write_text("controller:\n  ros__parameters:\n    no_such_key: 1\n")
    exe = prefix / "lib" / "robot_rl" / "controller"
    cmd = [str(exe), "--ros-args", "--params-file", str(params)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={**os.environ, **env}, cwd=tmp_path
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "no_such_key" in lines[0], proc.stderr[-2000:]


def test_pip_install_writes_the_ros_layout(tmp_path):
    src = source_copy(tmp_path / "src")
    python = venv_beside_this_one(tmp_path / "venv")
    pip_install(python, str(src))
    prefix = tmp_path / "venv"
    assert_ros_finds_the_package(python, prefix)
    assert (prefix / "share" / "robot_rl" / "launch" / "twin.launch.py").read_text() == (
        REPO / "launch" / "twin.launch.py"
    ).read_text()
    assert_node_runs(prefix, tmp_path)


def test_editable_install_then_ros_install_writes_the_ros_layout(tmp_path):
    src = source_copy(tmp_path / "src")
    python = venv_beside_this_one(tmp_path / "venv")
    pip_install(python, "-e", str(src))
    prefix = tmp_path / "venv"
    # an editable install skips data_files: this is what robot-rl ros-install is for
    assert layout_problems(prefix)
    proc = subprocess.run([str(prefix / "bin" / "robot-rl"), "ros-install"], capture_output=True, text=True,
                          cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"AMENT_PREFIX_PATH={prefix}" in proc.stdout and len(proc.stdout.splitlines()) == 2
    assert_ros_finds_the_package(python, prefix)
    # share/robot_rl follows the checkout: an edited launch file applies without reinstalling
    twin = src / "launch" / "twin.launch.py"
    assert (prefix / "share" / "robot_rl" / "launch" / "twin.launch.py").resolve() == twin.resolve()
    assert_node_runs(prefix, tmp_path)
    # running it again is harmless
    again = subprocess.run([str(prefix / "bin" / "robot-rl"), "ros-install"], capture_output=True, text=True)
    assert again.returncode == 0 and not layout_problems(prefix)


@pytest.mark.skipif(shutil.which("colcon", path=str(Path(sys.executable).parent)) is None,
                    reason="colcon not installed (pip install colcon-common-extensions)")  # fmt: skip
def test_colcon_build_writes_the_ros_layout(tmp_path):
    ws = tmp_path / "ws"
    source_copy(ws / "src" / "robot_rl")
    colcon = Path(sys.executable).parent / "colcon"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(colcon), "build", "--event-handlers", "console_direct-"], cwd=ws,
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    prefix = ws / "install" / "robot_rl"
    # what `source install/setup.bash` adds for a Python package
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert_ros_finds_the_package(Path(sys.executable), prefix, PYTHONPATH=str(site))
    assert_node_runs(prefix, tmp_path, PYTHONPATH=str(site))


def test_doctor_says_what_ros2_launch_lacks(tmp_path, monkeypatch):
    """The doctor's `ros2 launch` line names the missing step. launch_ros itself is not on PyPI, so its
    presence is stood in for here (the one mock: the rest is real files in a temporary prefix)."""
    from robot_rl import doctor
    from robot_rl.ros_install import install_ros_layout

    real = doctor._module_version
    monkeypatch.setattr(
        doctor, "_module_version", lambda m: (True, "0.28.0") if m == "launch_ros" else real(m)
    )
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setenv("AMENT_PREFIX_PATH", "")
    check = doctor._ros_launch()
    assert not check.ok and "run robot-rl ros-install" in check.detail
    install_ros_layout(tmp_path)
    check = doctor._ros_launch()
    assert not check.ok and "not on AMENT_PREFIX_PATH" in check.detail
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert doctor._ros_launch().ok
