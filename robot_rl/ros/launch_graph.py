"""The node graph as a launch description, shared by launch/*.launch.py.

`driver:=twin` starts the twin in place of the robot's driver; `driver:=hardware` expects the
driver (franka_ros2, crazyswarm2, a car's base driver) to be running. Nothing else changes.
Imported only by `ros2 launch` (launch and launch_ros come with a ROS 2 install).
"""

from __future__ import annotations

from typing import Any

#: executables (console scripts) of the graph, with the drivers they need
GRAPH_NODES = ("controller", "actor", "reset", "reward")
TWIN_NODES = ("twin",)


def hardware_nodes(robot: str) -> tuple[str, ...]:
    """The nodes a hardware launch adds for a robot (its adapter's: the camera node)."""
    from robot_rl.robots import adapter

    return adapter(robot).HARDWARE_NODES


def hardware_reset(robot: str) -> dict[str, Any]:
    """The reset node's parameters on hardware (its adapter's: the Panda's arm reset runs through the
    graph; the others call the robot's own reset service)."""
    from robot_rl.robots import adapter

    return dict(adapter(robot).HARDWARE_RESET)


def generate(robot: str | None = None, driver: str | None = None) -> Any:
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    from launch import LaunchDescription

    def nodes(context: Any) -> list:
        from pathlib import Path

        from ament_index_python.packages import get_package_share_directory
        from launch_ros.actions import Node

        name = LaunchConfiguration("robot").perform(context)
        mode = LaunchConfiguration("driver").perform(context)
        params = str(Path(get_package_share_directory("robot_rl")) / "config" / "ros" / f"{name}.yaml")
        executables = list(GRAPH_NODES) + list(TWIN_NODES if mode == "twin" else hardware_nodes(name))
        out = []
        for exe in executables:
            overrides = {}
            if exe == "reset" and mode == "hardware":
                overrides.update(hardware_reset(name))
            out.append(
                Node(
                    package="robot_rl",
                    executable=exe,
                    name=exe,
                    parameters=[params, overrides] if overrides else [params],
                    output="screen",
                )
            )
        return out

    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "robot", default_value=robot or "panda", description="panda | crazyflie | racecar"
            ),
            DeclareLaunchArgument(
                "driver", default_value=driver or "hardware", description="hardware | twin"
            ),
            OpaqueFunction(function=nodes),
        ]
    )
