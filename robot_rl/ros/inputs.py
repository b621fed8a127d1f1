"""Robot state, camera frames and task inputs from their topics into an ObservationBuilder.

One mapping from driver messages to the spec's observation fields, shared by the nodes that need
observations (the actor for the policy, the reward node for a reward model's proprioceptive
check). A bad message (non-finite values, a wrongly sized or encoded image) is logged once per
second with one line and never reaches the builder.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from robot_rl.observations import InputError, ObservationBuilder, check_finite
from robot_rl.ros import task_messages
from robot_rl.ros.common import stamp_s
from robot_rl.rosgraph import POSITION_TARGET, TaskInput, Topic, camera_topic


def image_array(msg: Image, topic: str) -> np.ndarray:
    """An rgb8 `sensor_msgs/Image` as an HxWx3 uint8 array (a view of the message's bytes), or
    InputError naming the topic."""
    if msg.encoding != "rgb8":
        raise InputError(f"image on {topic} has encoding {msg.encoding!r}; rgb8 expected")
    if len(msg.data) != msg.height * msg.width * 3:
        raise InputError(f"image on {topic} has {len(msg.data)} bytes for {msg.height}x{msg.width} rgb8")
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)


class SensorInputs:
    """Mixin for a GraphNode with `builder` (ObservationBuilder), `robot_name`, `topics`
    (robot_rl.rosgraph.robot_topics) and `target` (the Crazyflie's hover point, for `pos_error`).

    `subscribe_inputs` subscribes the robot's state topics, the cameras and the task inputs; a
    subclass overrides `on_frame` to act on each accepted camera frame.
    """

    builder: ObservationBuilder
    robot_name: str
    topics: dict[str, Topic]
    target: np.ndarray
    #: `follow_target`: the target comes from POSITION_TARGET, stamped, instead of a parameter
    moving_target = False
    _targets: deque | None = None  # recent (stamp, target), oldest first
    _position: tuple[np.ndarray, float, str] | None = None  # the newest position, its stamp and topic

    def follow_target(self) -> None:
        """Take the position target from POSITION_TARGET (a moving target). `pos_error` is the newest
        position minus the newest target stamped no later than it (the target of the same tick when
        both come from one clock), recomputed when either arrives, and stamped with the older of the
        two: a stale target makes `pos_error` stale and the actor does not act on it."""
        self.moving_target = True
        self._targets = deque(maxlen=64)
        self.sub(POSITION_TARGET, self.on_position_target)

    def on_position_target(self, msg: Any) -> None:
        try:
            target = check_finite([msg.point.x, msg.point.y, msg.point.z], POSITION_TARGET.name)
        except InputError as exc:
            self.get_logger().error(f"{exc}; not acting on it", throttle_duration_sec=1.0)
            return
        self._targets.append((stamp_s(msg.header.stamp), target))
        self._update_pos_error()

    def _update_pos_error(self) -> None:
        if self._position is None:
            return
        position, stamp, topic = self._position
        target = self.target
        if self.moving_target:
            earlier = [(t, value) for t, value in self._targets if t <= stamp]
            if not earlier:
                return  # the builder reports pos_error as never received, or stale
            target_stamp, target = max(earlier, key=lambda item: item[0])
            stamp = min(stamp, target_stamp)
        self._update_stamped("pos_error", position - target, stamp, topic)

    def subscribe_inputs(self, cameras: Sequence[str] = (), tasks: Sequence[TaskInput] = ()) -> None:
        t = self.topics
        if self.robot_name == "panda":
            self.sub(t["pose"], self.on_pose)
            self.sub(t["twist"], self.on_twist)
            self.sub(t["joints"], self.on_joints)
        else:
            self.sub(t["odom"], self.on_odom)
            self.sub(t["imu"], self.on_imu)
        for cam in cameras:
            self.create_subscription(Image, camera_topic(cam), lambda m, c=cam: self.on_image(c, m), 1)
        for inp in tasks:
            self.sub(inp.topic, lambda m, inp=inp: self.on_task(inp, m))

    def _update(self, name: str, values: Any, stamp: Any, topic: str) -> None:
        self._update_stamped(name, values, stamp_s(stamp), topic)

    def _update_stamped(self, name: str, values: Any, stamp_s: float, topic: str) -> None:
        try:
            self.builder.update(name, values, stamp_s, source=topic)
        except InputError as exc:
            self.bad_input(exc)

    def bad_input(self, exc: InputError) -> None:
        """A sensor message refused (non-finite, wrongly sized): one line a second, not acted on."""
        self.get_logger().error(f"{exc}; not acting on it", throttle_duration_sec=1.0)

    def on_pose(self, msg: Any) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        quat = self.builder.spec.field("ee_quat").canonical([q.x, q.y, q.z, q.w])  # the spec's sign
        topic = self.topics["pose"].name
        self._update("ee_pos", [p.x, p.y, p.z], msg.header.stamp, topic)
        self._update("ee_quat", quat, msg.header.stamp, topic)

    def on_twist(self, msg: Any) -> None:
        lin, ang, topic = msg.twist.linear, msg.twist.angular, self.topics["twist"].name
        self._update("ee_linvel", [lin.x, lin.y, lin.z], msg.header.stamp, topic)
        self._update("ee_angvel", [ang.x, ang.y, ang.z], msg.header.stamp, topic)

    def on_joints(self, msg: Any) -> None:
        fingers = [pos for name, pos in zip(msg.name, msg.position) if "finger" in name]
        if len(fingers) == 2:
            self._update("gripper_width", [sum(fingers)], msg.header.stamp, self.topics["joints"].name)

    def on_odom(self, msg: Any) -> None:
        topic, stamp = self.topics["odom"].name, msg.header.stamp
        p, o, tw = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
        if self.robot_name == "crazyflie":
            from robot_rl.controllers.quadrotor import rotation_from_quaternion

            try:  # the position feeds pos_error and the shield's box
                position = check_finite([p.x, p.y, p.z], f"{topic} (position)")
            except InputError as exc:
                self.bad_input(exc)
                return
            self._position = (position, stamp_s(stamp), topic)
            self._update_pos_error()
            self._update("rot_matrix", rotation_from_quaternion(o.x, o.y, o.z, o.w), stamp, topic)
            self._update("lin_vel", [tw.linear.x, tw.linear.y, tw.linear.z], stamp, topic)
        else:
            self._update("speed", [tw.linear.x], stamp, topic)

    def on_imu(self, msg: Any) -> None:
        w, topic = msg.angular_velocity, self.topics["imu"].name
        if self.robot_name == "crazyflie":
            self._update("body_rates", [w.x, w.y, w.z], msg.header.stamp, topic)
        else:
            self._update("yaw_rate", [w.z], msg.header.stamp, topic)

    def on_task(self, inp: TaskInput, msg: Any) -> None:
        for name, values in task_messages.read(inp, msg).items():
            self._update(name, values, msg.header.stamp, inp.topic.name)

    def on_image(self, camera: str, msg: Image) -> None:
        topic = camera_topic(camera)
        try:
            stamp = stamp_s(msg.header.stamp)
            self.builder.image(camera, image_array(msg, topic), stamp, source=topic)
        except InputError as exc:
            self.get_logger().error(str(exc), throttle_duration_sec=1.0)
            return
        self.on_frame(camera, stamp)

    def on_frame(self, camera: str, stamp: float) -> None:
        """Called after each accepted frame of `camera` (stamped `stamp`, s)."""
