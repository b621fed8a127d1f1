"""Where ROS 2 looks for robot_rl, and the install step that puts it there.

`ros2 launch robot_rl ...` and `ros2 run robot_rl NODE` find a package through the ament index of
each prefix on AMENT_PREFIX_PATH (ament_index_python, launch_ros):

- `<prefix>/share/ament_index/resource_index/packages/robot_rl` marks the package;
- `<prefix>/share/robot_rl/` holds `package.xml`, `launch/` and `config/`;
- `<prefix>/lib/robot_rl/<node>` are the node executables launch_ros runs.

Every install path writes that layout:

- `colcon build`: setup.py's data_files, and setup.cfg puts the console scripts in lib/robot_rl;
- `pip install .`: data_files write share/, and the wheel carries lib/robot_rl/<node> launchers that
  run the console script pip put in <prefix>/bin (`node_launcher`);
- `pip install -e .` skips data_files: `robot-rl ros-install` writes the layout into the environment,
  with share/robot_rl's files linking to the checkout so that edited launch files and configs apply at
  once. Folders are real folders of file links: `ros2 launch` finds launch files with os.walk, which
  does not enter a linked folder. A launch file or config added to the checkout needs another run.

Standard library only: setup.py loads this file before the package is installed.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

PACKAGE = "robot_rl"
#: node executable -> console-script entry point (each is also `ros2 run robot_rl <name>`)
NODES: dict[str, str] = {
    "twin": "robot_rl.ros.twin:main",
    "actor": "robot_rl.ros.actor:main",
    "controller": "robot_rl.ros.controller:main",
    "camera": "robot_rl.ros.camera:main",
    "reward": "robot_rl.ros.reward:main",
    "reset": "robot_rl.ros.reset:main",
}
#: what share/robot_rl holds, as paths of the source checkout
SHARED = ("package.xml", "launch", "config")


def node_launcher(node: str) -> str:
    """The lib/robot_rl/<node> executable of a pip install: it runs <prefix>/bin/<node>, the console
    script pip wrote with this environment's interpreter (venv, --user and system prefixes alike)."""
    return (
        "#!/bin/sh\n"
        f"# launch_ros runs {PACKAGE}'s nodes from <prefix>/lib/{PACKAGE}; pip put this one in <prefix>/bin\n"
        f'exec "$(dirname "$0")/../../bin/{node}" "$@"\n'
    )


def write_launchers(folder: str | Path) -> list[Path]:
    """Write one executable `node_launcher` per node into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for node in NODES:
        path = folder / node
        path.write_text(node_launcher(node))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)
    return written


def source_checkout() -> Path | None:
    """The source checkout this package runs from (an editable install), or None."""
    root = Path(__file__).resolve().parent.parent
    return root if all((root / name).exists() for name in SHARED) else None


def layout_problems(prefix: str | Path) -> list[str]:
    """What `ros2 launch robot_rl ...` would miss in `prefix`, one line each; empty when it finds all."""
    prefix = Path(prefix)
    share = prefix / "share" / PACKAGE
    wanted = [prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE]
    wanted += [share / "package.xml", share / "launch" / "twin.launch.py", share / "config" / "robots"]
    problems = [f"missing {path}" for path in wanted if not path.exists()]
    # `ros2 launch robot_rl X.launch.py` looks for X in share/robot_rl with os.walk (ros2launch 0.28.0),
    # which does not enter linked folders
    walked = [name for _, _, files in os.walk(share) for name in files if name == "twin.launch.py"]
    if share.is_dir() and len(walked) != 1:
        problems.append(
            f"ros2 launch finds twin.launch.py {len(walked)} times in {share} (os.walk), not once"
        )
    for node in NODES:
        exe = prefix / "lib" / PACKAGE / node
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            problems.append(f"missing executable {exe}")
    return problems


def _link_tree(source: Path, target: Path) -> list[Path]:
    """`target` mirrors `source` (a file or a folder) with real folders and one link per file; links
    whose file is gone are removed. Returns the links."""
    from robot_rl.errors import RobotRLError

    if target.is_symlink() and target.is_dir():
        target.unlink()  # a linked folder (what an earlier version wrote): os.walk would not enter it
    if source.is_file():
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            raise RobotRLError(f"{target} is a folder, not a file: remove it and re-run robot-rl ros-install")
        target.symlink_to(source)
        return [target]
    links = []
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            links += _link_tree(path, dest)
    for stale in target.rglob("*") if target.is_dir() else ():
        if stale.is_symlink() and not stale.exists():
            stale.unlink()
    return links


def install_ros_layout(prefix: str | Path | None = None) -> list[Path]:
    """Write the ament index entry, share/robot_rl (links to the checkout) and lib/robot_rl/<node> into
    `prefix` (default: this environment). For editable installs; returns the paths it wrote."""
    from robot_rl.errors import RobotRLError

    prefix = Path(prefix or sys.prefix)
    source = source_checkout()
    if source is None:
        raise RobotRLError(
            "robot-rl ros-install links share/robot_rl to a source checkout, and this robot_rl is not one: "
            "a non-editable `pip install .` already wrote the ROS layout"
        )
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    share = prefix / "share" / PACKAGE
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        share.mkdir(parents=True, exist_ok=True)
        written = [marker]
        for name in SHARED:
            written += _link_tree(source / name, share / name)
        written += write_launchers(prefix / "lib" / PACKAGE)
    except OSError as exc:
        raise RobotRLError(
            f"cannot write the ROS layout into {prefix}: {exc.strerror} (pass another --prefix)"
        ) from exc
    return written
