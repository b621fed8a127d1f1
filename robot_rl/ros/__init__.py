"""ROS 2 nodes (the only code that imports rclpy): thin glue around the library.

Console scripts (`ros2 run robot_rl <name>`): twin, actor, controller, reset, reward, camera.
See docs/ros.md for the graph, topics and parameters.
"""
