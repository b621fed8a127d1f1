"""Task observations <-> their standard messages (a spec's `tasks.<task>.inputs`, resolved by
robot_rl.rosgraph.task_inputs).

`read` turns a message into task-field values for the actor's ObservationBuilder (which checks
sizes, finiteness and age); `fill` writes task-field values into a message, as the twin publishes
them (a perception node or a goal publisher on hardware fills the same fields). Plain attribute
access on the message objects: no rclpy needed to use or test them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from robot_rl.rosgraph import TaskInput
from robot_rl.spec import canonical_cube_quat


def read(inp: TaskInput, msg: Any) -> dict[str, list[float]]:
    """Task-field name -> values carried by `msg` (a message of `inp.topic.type`)."""
    (first, _), *rest = inp.fields
    if inp.layout == "point":
        p = msg.point
        return {first: [p.x, p.y, p.z]}
    if inp.layout == "vector":
        v = msg.vector
        return {first: [v.x, v.y, v.z]}
    if inp.layout == "pose":
        p, q = msg.pose.position, msg.pose.orientation
        quat = [q.x, q.y, q.z, q.w]
        if inp.symmetry == "cube":
            quat = canonical_cube_quat(quat).tolist()
        return {first: [p.x, p.y, p.z], rest[0][0]: quat}
    if inp.layout == "track_pose":
        p, q = msg.pose.position, msg.pose.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        heading = (yaw + math.pi) % (2.0 * math.pi) - math.pi  # the twin's [-pi, pi)
        return {first: [heading], rest[0][0]: [p.y]}
    if inp.layout == "polygon":
        return {first: [v for pt in msg.polygon.points for v in (pt.x, pt.y)]}
    if inp.layout == "scan":
        # No return (inf, or beyond range_max) reads as range_max, as the twin's rays do; NaN stays
        # NaN and is refused downstream as a bad sensor value.
        r = np.asarray(msg.ranges, dtype=np.float64)
        return {first: np.where(r > msg.range_max, msg.range_max, r).tolist()}
    raise ValueError(f"unknown task input layout {inp.layout!r}")


def fill(inp: TaskInput, msg: Any, values: Sequence[float], range_max: float = 0.0) -> Any:
    """Write the task fields' values (concatenated, observation order) into `msg`; returns it."""
    v = [float(x) for x in values]
    if inp.layout == "point":
        msg.point.x, msg.point.y, msg.point.z = v[0:3]
    elif inp.layout == "vector":
        msg.vector.x, msg.vector.y, msg.vector.z = v[0:3]
    elif inp.layout == "pose":
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = v[0:3]
        q.x, q.y, q.z, q.w = v[3:7]
    elif inp.layout == "track_pose":
        msg.pose.position.y = v[1]
        msg.pose.orientation.z, msg.pose.orientation.w = math.sin(0.5 * v[0]), math.cos(0.5 * v[0])
    elif inp.layout == "polygon":
        from geometry_msgs.msg import Point32

        msg.polygon.points = [Point32(x=v[i], y=v[i + 1], z=0.0) for i in range(0, len(v), 2)]
    elif inp.layout == "scan":
        from robot_rl.rosgraph import WALL_SCAN_ANGLES

        msg.angle_min, msg.angle_max, msg.angle_increment = WALL_SCAN_ANGLES
        msg.range_min, msg.range_max = 0.0, float(range_max or max(v))
        msg.ranges = v
    else:
        raise ValueError(f"unknown task input layout {inp.layout!r}")
    return msg
