"""The camera node on a real pyrealsense2 frame path: frames injected through software_device."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

# a ROS camera node at frame rate: run alone (setup.cfg)
pytestmark = pytest.mark.solo

rs = pytest.importorskip("pyrealsense2")
rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from robot_rl.ros.camera import CameraNode, RealSenseSource  # noqa: E402
from robot_rl.ros.common import SENSOR_QOS  # noqa: E402
from robot_rl.rosgraph import camera_info_topic, camera_topic  # noqa: E402

W, H = 640, 480


def software_camera():
    """A software RealSense colour sensor streaming into a frame queue, and a function to inject."""
    device = rs.software_device()
    sensor = device.add_sensor("Color")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = W, H, 600.0, 600.0, 320.0, 240.0
    intr.model = rs.distortion.none
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = rs.stream.color, 0, 0
    stream.width, stream.height, stream.fps, stream.bpp = W, H, 30, 3
    stream.fmt, stream.intrinsics = rs.format.rgb8, intr
    profile = sensor.add_video_stream(stream)
    queue = rs.frame_queue(4, keep_frames=True)
    sensor.open(profile)
    sensor.start(queue)

    def inject(pixels: np.ndarray, number: int, t_s: float) -> None:
        frame = rs.software_video_frame()
        frame.pixels, frame.bpp, frame.stride = pixels, 3, 3 * W
        frame.timestamp, frame.domain, frame.frame_number = t_s * 1e3, rs.timestamp_domain.system_time, number
        frame.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(frame)

    return device, sensor, queue, inject


def test_camera_node_publishes_injected_frames_with_encoding_size_and_stamps(ros_domain):
    _device, sensor, queue, inject = software_camera()
    context = rclpy.Context()
    args = [
        "camera",
        "--ros-args",
        "-p",
        "robot:=panda",
        "-p",
        "name:=front",
        "-p",
        "crop:=[80, 0, 480, 480]",
    ]
    rclpy.init(context=context, args=args)
    node = CameraNode(source=RealSenseSource(queue=queue), context=context)
    probe = rclpy.create_node("probe", context=context)
    got: list = []
    probe.create_subscription(Image, camera_topic("front"), got.append, SENSOR_QOS)
    infos: list = []
    probe.create_subscription(CameraInfo, camera_info_topic("front"), infos.append, SENSOR_QOS)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(probe)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        # left half red, right half blue; the crop keeps columns 80..559, so both halves survive
        pixels = np.zeros((H, W, 3), np.uint8)
        pixels[:, : W // 2, 0] = 255
        pixels[:, W // 2 :, 2] = 255
        stamps = []
        deadline = time.monotonic() + 10
        n = 0
        while len(got) < 5 and time.monotonic() < deadline:
            stamps.append(time.time())
            inject(pixels, n, stamps[-1])
            n += 1
            time.sleep(1 / 30)
        assert len(got) >= 5, f"{len(got)} images published for {n} injected frames"
        msg = got[-1]
        assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", 128, 128, 384)
        img = np.frombuffer(msg.data, np.uint8).reshape(128, 128, 3)
        assert (img[:, :60] == [255, 0, 0]).all() and (img[:, 68:] == [0, 0, 255]).all()
        # stamped with each frame's capture time (one of the injected ones), not the publish time
        for m in got:
            t = m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec
            assert min(abs(t - s) for s in stamps) < 1e-3
        info = infos[-1]
        assert (info.width, info.height) == (128, 128)
        # intrinsics follow the crop and resize: fx 600 * 128/480, cx (320 - 80) * 128/480
        assert info.k[0] == pytest.approx(160.0) and info.k[2] == pytest.approx(64.0)
        # each CameraInfo carries its image's capture stamp (best effort may drop either message)
        stamp = lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)  # noqa: E731
        assert {stamp(i) for i in infos} & {stamp(m) for m in got}, "no CameraInfo shares an image's stamp"
        assert all(min(abs(i.header.stamp.sec + 1e-9 * i.header.stamp.nanosec - s) for s in stamps) < 1e-3
                   for i in infos)  # fmt: skip
    finally:
        executor.shutdown(timeout_sec=1)
        node.destroy_node()
        probe.destroy_node()
        rclpy.shutdown(context=context)
        sensor.stop()
        sensor.close()
