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
from robot_rl.robots.base import RobotAdapter
from robot_rl.ros import task_messages
from robot_rl.ros.common import stamp_s
from robot_rl.rosgraph import POSITION_TARGET, TaskInput, camera_topic


def image_array(msg: Image, topic: str) -> np.ndarray:
    """An rgb8 `sensor_msgs/Image` as an HxWx3 uint8 array (a view of the message's bytes), or
    InputError naming the topic."""
    if msg.encoding != "rgb8":
        raise InputError(f"image on {topic} has encoding {msg.encoding!r}; rgb8 expected")
    if len(msg.data) != msg.height * msg.width * 3:
        raise InputError(f"image on {topic} has {len(msg.data)} bytes for {msg.height}x{msg.width} rgb8")
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)


class SensorInputs:
    """Mixin for a GraphNode with `builder` (ObservationBuilder), `adapter` (the robot's:
    robot_rl.robots) and `target` (a vehicle's position target, for `pos_error`).

    `subscribe_inputs` subscribes the driver's state topics, the cameras and the task inputs; a
    subclass overrides `on_frame` to act on each accepted camera frame.
    """

    builder: ObservationBuilder
    adapter: RobotAdapter
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
        for key, topic in self.adapter.STATE.items():
            self.sub(topic, lambda m, key=key: self.on_state(key, m))
        for cam in cameras:
            self.create_subscription(Image, camera_topic(cam), lambda m, c=cam: self.on_image(c, m), 1)
        for inp in tasks:
            self.sub(inp.topic, lambda m, inp=inp: self.on_task(inp, m))

    def on_state(self, key: str, msg: Any) -> None:
        """A driver state message: its fields (the adapter's codec) into the builder; a vehicle's
        position into `pos_error`, and the shield's box check (a non-finite one is refused)."""
        topic, stamp = self.adapter.STATE[key].name, msg.header.stamp
        values = self.adapter.decode(key, msg)
        if "position" in values:
            try:
                position = check_finite(values.pop("position"), f"{topic} (position)")
            except InputError as exc:
                self.bad_input(exc)
                return
            self._position = (position, stamp_s(stamp), topic)
            self._update_pos_error()
        for name, field_values in values.items():
            self._update(name, field_values, stamp, topic)

    def restart_inputs(self, since_s: float) -> None:
        """A new episode from `since_s` on: inputs stamped before it count as missing, and the codecs
        forget what they kept (a pose to difference across a reset)."""
        self.builder.restart(since_s)
        self.adapter.restart()

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
