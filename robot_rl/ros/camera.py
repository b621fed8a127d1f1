"""camera: a RealSense colour stream as sensor_msgs/Image (rgb8) + CameraInfo, sized per robot spec.

Captures `width` x `height` at `fps` from the camera with `serial` (first found when empty), crops
(`crop`: x, y, w, h) and resizes to the spec camera `name` of `robot`, and publishes on
`/camera/<name>/color/image_raw` and `.../camera_info` stamped with the frame's capture time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from robot_rl.errors import RobotRLError, require
from robot_rl.imaging import crop_resize
from robot_rl.ros.common import SENSOR_QOS, GraphNode, run, to_stamp
from robot_rl.rosgraph import camera_info_topic, camera_topic
from robot_rl.spec import load_robot_spec


class RealSenseSource:
    """Colour frames from a pyrealsense2 pipeline, or from any frame queue (tests: software_device)."""

    def __init__(
        self, serial: str = "", width: int = 640, height: int = 480, fps: int = 30, queue: Any = None
    ):
        rs = require("pyrealsense2", "camera", "The camera node")
        self.rs, self.pipeline, self.queue = rs, None, queue
        if queue is None:
            self.pipeline = rs.pipeline()
            config = rs.config()
            if serial:
                config.enable_device(serial)
            config.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
            try:
                self.pipeline.start(config)
            except RuntimeError as exc:
                raise RobotRLError(
                    f"RealSense camera {serial or '(any)'} at {width}x{height} {fps} fps did not start "
                    f"({exc}): "
                    "check the serial (rs-enumerate-devices) and the USB 3 connection"
                ) from exc

    def poll(self) -> tuple[np.ndarray, float, tuple[float, float, float, float]] | None:
        """The newest colour frame (rgb uint8 HxWx3, capture time s, intrinsics fx fy ppx ppy) or None."""
        frames = self.pipeline.poll_for_frames() if self.pipeline is not None else self.queue.poll_for_frame()
        if not frames:
            return None
        frame = frames.get_color_frame() if self.pipeline is not None else frames.as_video_frame()
        if not frame:
            return None
        data = np.asanyarray(frame.get_data())
        intr = frame.get_profile().as_video_stream_profile().get_intrinsics()
        # Frame timestamps are ms on the system clock (global time enabled by default).
        return (
            data.reshape(frame.get_height(), frame.get_width(), 3),
            frame.get_timestamp() * 1e-3,
            (intr.fx, intr.fy, intr.ppx, intr.ppy),
        )

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.stop()


class CameraNode(GraphNode):
    kind = "camera"

    def __init__(self, source: Any = None, context: Any = None):
        super().__init__(context=context)
        p = self.p
        self.cam = load_robot_spec(p["robot"]).camera(p["name"])
        self.source = source or RealSenseSource(p["serial"], p["width"], p["height"], p["fps"])
        self.image_pub = self.create_publisher(Image, camera_topic(p["name"]), SENSOR_QOS)
        self.info_pub = self.create_publisher(CameraInfo, camera_info_topic(p["name"]), SENSOR_QOS)
        self.published = 0
        # poll at twice the frame rate: a frame waits at most half a period
        self.create_timer(0.5 / p["fps"], self.on_timer)

    def on_timer(self) -> None:
        got = self.source.poll()
        if got is None:
            return
        frame, t_s, (fx, fy, ppx, ppy) = got
        p, cam = self.p, self.cam
        src_w, src_h = frame.shape[1], frame.shape[0]
        x, y, w, h = p["crop"] if p["crop"][2] > 0 else (0, 0, src_w, src_h)
        out = crop_resize(frame, p["crop"], cam.width, cam.height)
        sx, sy = cam.width / w, cam.height / h
        stamp = to_stamp(t_s if abs(t_s - time.time()) < 60 else self.now_s())
        msg = Image()
        msg.header.stamp, msg.header.frame_id = stamp, p["frame_id"]
        msg.height, msg.width, msg.encoding, msg.step = cam.height, cam.width, "rgb8", 3 * cam.width
        msg.data = out.tobytes()
        info = CameraInfo()
        info.header = msg.header
        info.height, info.width, info.distortion_model = cam.height, cam.width, "plumb_bob"
        info.d = [0.0] * 5
        k = [fx * sx, 0.0, (ppx - x) * sx, 0.0, fy * sy, (ppy - y) * sy, 0.0, 0.0, 1.0]
        info.k = k
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
        self.image_pub.publish(msg)
        self.info_pub.publish(info)
        self.published += 1

    def close(self) -> None:
        self.source.close()


def main() -> int:
    return run(CameraNode)
