"""The RC-car firmware loop maps actions exactly like controllers/ackermann.py, survives random bytes
and goes to neutral throttle within 100 ms of lost input (the Crazyflie app: test_crazyflie_app.py)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from robot_rl.controllers.ackermann import AckermannController
from robot_rl.export import describe_mlp, write_c
from robot_rl.export.build import WARNINGS
from robot_rl.export.firmware import car_config_header, car_frame, crc16_ccitt
from robot_rl.export.qemu import firmware_dir
from robot_rl.spec import load_robot_spec

FIRMWARE = firmware_dir()
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")


def test_car_config_header_matches_the_racecar_spec():
    assert (FIRMWARE / "rccar" / "car_config.h").read_text() == car_config_header(), (
        "firmware/rccar/car_config.h is stale: python -c 'from robot_rl.export.firmware import "
        "write_car_config; write_car_config()'"
    )


# -- RC car ------------------------------------------------------------------------------------
OBS = 15  # racecar laps: speed, yaw_rate, last_action (2) + the task's 11 course fields


class Parser(ctypes.Structure):
    _fields_ = [
        ("state", ctypes.c_uint8), ("len", ctypes.c_uint8), ("seq", ctypes.c_uint8),
        ("count", ctypes.c_uint8), ("crc", ctypes.c_uint16), ("crc_lo", ctypes.c_uint8),
        ("payload", ctypes.c_uint8 * 255),
    ]  # fmt: skip


class CarLoop(ctypes.Structure):
    _fields_ = [
        ("parser", Parser), ("obs", ctypes.c_float * OBS), ("applied", ctypes.c_float * 2),
        ("steer_rad", ctypes.c_float), ("speed_mps", ctypes.c_float), ("last_frame_ms", ctypes.c_uint32),
        ("have_frame", ctypes.c_uint8), ("last_seq", ctypes.c_uint8), ("frames_ok", ctypes.c_uint32),
        ("frames_dropped", ctypes.c_uint32),
    ]  # fmt: skip


def build_car_loop(policy_dir, out, extra=()) -> None:
    rccar = FIRMWARE / "rccar"
    cmd = ["gcc", *WARNINGS, "-O1", f"-I{rccar}", f"-I{policy_dir}", *extra]
    cmd += [str(rccar / "car_loop.c"), str(policy_dir / "policy.c"), "-o", str(out), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


class Car:
    """firmware/rccar/car_loop.c with a generated policy, through ctypes."""

    def __init__(self, policy_dir, tmp_path):
        lib = tmp_path / "libcar.so"
        build_car_loop(policy_dir, lib, ("-fPIC", "-shared"))
        self.lib = ctypes.CDLL(str(lib))
        self.state = CarLoop()
        self.ref = ctypes.byref(self.state)
        self.lib.car_loop_init(self.ref)
        self.lib.car_loop_byte.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint32]
        self.lib.car_loop_tick.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self.lib.car_apply_action.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)]
        self.lib.car_crc16.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint16]
        self.lib.car_crc16.restype = ctypes.c_uint16

    def feed(self, data: bytes, now_ms: int) -> int:
        return sum(self.lib.car_loop_byte(self.ref, b, now_ms) for b in data)

    def tick(self, now_ms: int) -> None:
        self.lib.car_loop_tick(self.ref, now_ms)

    def apply(self, action) -> None:
        a = np.ascontiguousarray(action, np.float32)
        self.lib.car_apply_action(self.ref, a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))


@pytest.fixture(scope="module")
def car_policy(tmp_path_factory):
    out = tmp_path_factory.mktemp("car_policy")
    write_c(describe_mlp([OBS, 16, 2], "relu"), out, "reference")
    return out


@needs_gcc
def test_car_mapping_and_rate_limit_match_controllers_ackermann(car_policy, tmp_path):
    car = Car(car_policy, tmp_path)
    law = AckermannController.from_spec(load_robot_spec("racecar"))
    law.reset()
    rng = np.random.default_rng(0)
    for action in rng.uniform(-1.6, 1.6, (300, 2)):
        car.apply(action)
        applied = law.set_action(action)
        cmd = law.command()
        np.testing.assert_allclose(np.array(car.state.applied), applied, atol=2e-7)
        assert car.state.steer_rad == pytest.approx(cmd.steer_rad, abs=1e-6)
        assert car.state.speed_mps == pytest.approx(cmd.speed, abs=1e-6)


@needs_gcc
def test_car_parser_survives_random_bytes_and_falls_back_to_neutral(car_policy, tmp_path):
    car = Car(car_policy, tmp_path)
    assert car.lib.car_crc16(b"123456789", 9, 0xFFFF) == crc16_ccitt(b"123456789") == 0x29B1
    rng = np.random.default_rng(1)
    obs = rng.normal(size=OBS).astype(np.float32)
    # a valid frame with a full-throttle policy output ramps the throttle (rate-limited) ...
    now = 0
    for seq in range(8):
        assert car.feed(car_frame(obs, seq), now) == 1
        now += 10
    car.state.applied[1], car.state.speed_mps = 0.9, 2.7  # driving fast when the link fails
    last_valid = now - 10
    # ... then the link turns to noise: 64 KB of random bytes, 1 byte per ms
    noise = rng.integers(0, 256, 65536, dtype=np.uint8).tobytes()
    neutral_at = None
    for i in range(0, len(noise), 64):
        car.feed(noise[i : i + 64], now)
        car.tick(now)
        if neutral_at is None and car.state.speed_mps == 0.0 and car.state.applied[1] == 0.0:
            neutral_at = now
        now += 64
    assert neutral_at is not None and neutral_at - last_valid <= 100 + 64
    assert car.state.frames_ok == 8  # random bytes never pass the CRC here
    # corrupted frames are dropped; after at most a frame's worth of bytes the parser resyncs
    frame = bytearray(car_frame(obs, 99))
    frame[10] ^= 0x40
    car.feed(bytes(frame) + bytes(300), now)
    assert car.state.frames_ok == 8
    assert car.feed(car_frame(obs, 100), now) == 1 and car.state.last_seq == 100
    # NaN observations never reach the policy; wrong lengths are dropped
    bad = obs.copy()
    bad[3] = np.nan
    assert car.feed(car_frame(bad, 101) + car_frame(obs[:5], 102), now) == 0
    assert car.state.frames_dropped >= 2


@needs_gcc
def test_car_watchdog_neutral_within_100_ms(car_policy, tmp_path):
    car = Car(car_policy, tmp_path)
    obs = np.zeros(OBS, np.float32)
    assert car.feed(car_frame(obs), 1000) == 1
    car.state.applied[1], car.state.speed_mps = 0.6, 1.8
    car.tick(1099)
    assert car.state.speed_mps == pytest.approx(1.8)
    car.tick(1100)
    assert car.state.speed_mps == 0.0 and car.state.applied[1] == 0.0


@needs_gcc
def test_car_loop_under_sanitizers(car_policy, tmp_path):
    exe = tmp_path / "fuzz"
    try:
        build_car_loop(car_policy, exe, ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                                          str(FIRMWARE / "rccar" / "fuzz_main.c")))  # fmt: skip
    except AssertionError as exc:
        if "asan" in str(exc).lower() or "ubsan" in str(exc).lower():
            pytest.skip(f"sanitizer runtime missing: {exc}")
        raise
    rng = np.random.default_rng(2)
    data = bytearray()
    for k in range(200):
        data += rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
        data += car_frame(rng.normal(size=OBS).astype(np.float32), k)
    proc = subprocess.run([str(exe)], input=bytes(data), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert b"frames_ok" in proc.stdout
