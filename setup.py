"""robot_rl: installs with colcon (ament_python) and with plain pip (editable or not).

`controllers/` and `sim/` live at the top level of the repository (they are the robot-facing
layers) but are imported as `robot_rl.controllers` and `robot_rl.sim`. What ROS 2 needs in the
install prefix, and how each install path writes it, is in robot_rl/ros_install.py.
"""

import importlib.util
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1: in the `wheel` package, which colcon builds may lack (none built)
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:
        bdist_wheel = None

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("_ros_install", HERE / "robot_rl" / "ros_install.py")
ros_install = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ros_install)
PACKAGE = ros_install.PACKAGE

# Top-level folders installed inside the robot_rl namespace.
MAPPED = {"controllers": f"{PACKAGE}.controllers", "sim": f"{PACKAGE}.sim"}


def mapped_packages() -> tuple[list[str], dict[str, str]]:
    packages = find_packages(include=[PACKAGE, f"{PACKAGE}.*"])
    package_dir = {}
    for folder, name in MAPPED.items():
        package_dir[name] = folder
        packages.append(name)
        for sub in find_packages(where=folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


def data_files() -> list[tuple[str, list[str]]]:
    files = [
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.py"))),
    ]
    for folder in sorted({str(p.parent) for p in HERE.glob("config/**/*.yaml")}):
        rel = Path(folder).relative_to(HERE)
        files.append(
            (f"share/{PACKAGE}/{rel}", sorted(str(p.relative_to(HERE)) for p in Path(folder).glob("*.yaml")))
        )
    return [(dest, srcs) for dest, srcs in files if srcs]


def with_ros_launchers(base: type) -> type:
    """`pip install .` builds a wheel, and pip puts its console scripts in <prefix>/bin, where
    launch_ros does not look: the wheel also carries lib/robot_rl/<node> launchers (data files). colcon
    installs with setup.cfg's install_scripts instead and never builds a wheel."""

    class bdist_wheel_with_ros_launchers(base):
        def run(self):
            folder = Path("build") / "ros_launchers"  # data_files sources must be relative paths
            launchers = ros_install.write_launchers(HERE / folder)
            self.distribution.data_files.append((f"lib/{PACKAGE}", [str(folder / p.name) for p in launchers]))
            super().run()

    return bdist_wheel_with_ros_launchers


packages, package_dir = mapped_packages()

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-robot RL: RLPD learner, reward models, resets, PyBullet twin, ROS 2 nodes, C export.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8")
    if (HERE / "README.md").exists()
    else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    package_data={f"{PACKAGE}.sim": ["assets/*", "assets/**/*"]},
    include_package_data=True,
    data_files=data_files(),
    zip_safe=False,
    install_requires=[
        "numpy>=1.24",
        "pyyaml>=6.0",
        "pyzmq>=25",
        "msgpack>=1.0",
        "gymnasium>=1.0",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        # robot-rl eval --video: GIF and MP4 (imageio-ffmpeg ships its own ffmpeg binary)
        "imageio>=2.30",
        "imageio-ffmpeg>=0.4",
        # torch is a hard requirement of the learner; install it first with an explicit
        # version (`pip install torch==2.13.0`, CPU wheel) so pip does not pull CUDA builds.
        "torch>=2.1",
    ],
    extras_require={
        "sim": ["pybullet>=3.2.6"],
        "ros": [
            "ros-rclpy",
            "ros-std-msgs",
            "ros-sensor-msgs",
            "ros-geometry-msgs",
            "ros-nav-msgs",
            "ros-std-srvs",
            "ros-rmw-fastrtps-cpp",
        ],
        "camera": ["pyrealsense2"],
        # robot-rl export --target onnx (torch.export-based exporter); onnxruntime checks the graph in tests
        "export": ["onnx>=1.16", "onnxscript>=0.2", "onnxruntime>=1.18"],
        # robot_rl.reward's CLIP backend (models are loaded from a local folder, never downloaded)
        "reward": ["transformers>=4.40"],
        # bench/: the SB3 baseline and stratified-bootstrap statistics (rliable). rliable's bootstrap
        # is arch's and passes `random_state`, which arch 8 removed; arch 7 fails to import on pandas 3.
        "bench": ["stable-baselines3>=2.3", "rliable>=1.0", "arch<8", "pandas<3", "scipy>=1.10"],
        "dev": [
            "pytest>=7",
            "pytest-timeout",
            "pytest-xdist",
            "ruff>=0.6",
            "stable-baselines3>=2.3",
            "rliable>=1.0",
            "arch<8",
            "pandas<3",
            "scipy>=1.10",
            "tensorboard>=2.12",
            # tests/test_ros_install.py: a real colcon build of the package
            "colcon-common-extensions>=0.3",
        ],
    },
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [f"{PACKAGE.replace('_', '-')}={PACKAGE}.cli:main"]
        + [f"{name}={target}" for name, target in ros_install.NODES.items()],
    },
    cmdclass={"bdist_wheel": with_ros_launchers(bdist_wheel)} if bdist_wheel else {},
)
