"""Firmware folders: the Crazyflie out-of-tree app compiles against the API stubs with the
firmware's flags and, built for the host, turns firmware state into the spec's observation and
gates its motors; the RC-car loop maps actions exactly like controllers/ackermann.py, survives
random bytes and goes to neutral throttle within 100 ms of lost input."""

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
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None,
    reason="arm-none-eabi-gcc not installed (bash tools/install_system_deps.sh)",
)
#: the firmware's own C flags (tools/make: gnu11, -Wall, -Wmissing-braces, -fno-strict-aliasing,
#: -Wdouble-promotion, section GC) and its Cortex-M4F target, plus issue 8's stricter warnings
FIRMWARE_FLAGS = [
    "-std=gnu11", "-Wall", "-Wmissing-braces", "-fno-strict-aliasing", "-Wdouble-promotion",
    "-ffunction-sections", "-fdata-sections", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
    "-mfpu=fpv4-sp-d16", "-Os", "-Werror", "-Wextra", "-Wshadow", "-Wconversion",
]  # fmt: skip


def test_car_config_header_matches_the_racecar_spec():
    assert (FIRMWARE / "rccar" / "car_config.h").read_text() == car_config_header(), (
        "firmware/rccar/car_config.h is stale: python -c 'from robot_rl.export.firmware import "
        "write_car_config; write_car_config()'"
    )


@needs_arm
def test_crazyflie_app_compiles_against_the_stubs_with_the_firmware_flags(tmp_path):
    desc = describe_mlp([22, 64, 64, 4], "relu")
    spec = load_robot_spec("crazyflie")
    desc.obs_fields = [(f.name, f.size, f.unit) for f in spec.observation]
    desc.policy_hz = spec.rates.policy_hz
    write_c(desc, tmp_path, "fast")
    for source in (FIRMWARE / "crazyflie" / "src" / "controller_policy.c", tmp_path / "policy.c"):
        obj = tmp_path / (source.stem + ".o")
        cmd = ["arm-none-eabi-gcc", *FIRMWARE_FLAGS, f"-I{FIRMWARE / 'crazyflie' / 'stubs'}", f"-I{tmp_path}"]
        proc = subprocess.run([*cmd, "-c", str(source), "-o", str(obj)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    # a policy with another observation layout must not compile into the app
    desc.obs_fields = [("state", 22, "")]
    write_c(desc, tmp_path, "fast")
    proc = subprocess.run(
        [
            *cmd,
            "-c",
            str(FIRMWARE / "crazyflie" / "src" / "controller_policy.c"),
            "-o",
            str(tmp_path / "x.o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0


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


# -- Crazyflie app on the host -------------------------------------------------------------------
class Vec3(ctypes.Structure):
    _fields_ = [
        ("timestamp", ctypes.c_uint32),
        ("x", ctypes.c_float),
        ("y", ctypes.c_float),
        ("z", ctypes.c_float),
    ]


class Quat(ctypes.Structure):
    _fields_ = [("timestamp", ctypes.c_uint32)] + [(k, ctypes.c_float) for k in "xyzw"]


class Axis3f(ctypes.Structure):
    _fields_ = [(k, ctypes.c_float) for k in "xyz"]


class SensorData(ctypes.Structure):
    _fields_ = [("acc", Axis3f), ("gyro", Axis3f), ("mag", Axis3f), ("baro", ctypes.c_float * 3),
                ("interruptTimestamp", ctypes.c_uint64)]  # fmt: skip


class State(ctypes.Structure):
    _fields_ = [("attitude", Vec3), ("attitudeQuaternion", Quat), ("position", Vec3), ("velocity", Vec3),
                ("acc", Vec3)]  # fmt: skip


class Setpoint(ctypes.Structure):
    _fields_ = [("timestamp", ctypes.c_uint32), ("attitude", Vec3), ("attitudeRate", Vec3),
                ("attitudeQuaternion", Quat), ("thrust", ctypes.c_float), ("position", Vec3),
                ("velocity", Vec3), ("acceleration", Vec3), ("velocity_body", ctypes.c_bool),
                ("mode", ctypes.c_int * 7)]  # fmt: skip


class Control(ctypes.Structure):
    _fields_ = [("normalizedForces", ctypes.c_float * 4), ("controlMode", ctypes.c_int)]


class ParamEntry(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint8), ("name", ctypes.c_char_p), ("address", ctypes.c_void_p)]


SHIM = """
#include <stdint.h>
uint64_t shim_now_us;
uint64_t usecTimestamp(void) { return shim_now_us; }
int consolePrintf(const char *format, ...) { (void)format; return 0; }
"""


@needs_gcc
def test_crazyflie_app_builds_the_spec_observation_and_gates_the_motors(tmp_path):
    from robot_rl.controllers.quadrotor import rotation_from_quaternion
    from robot_rl.export.build import HostPolicy, build_host_library

    desc = describe_mlp([22, 32, 4], "tanh", seed=4)
    spec = load_robot_spec("crazyflie")
    desc.obs_fields = [(f.name, f.size, f.unit) for f in spec.observation]
    desc.policy_hz = spec.rates.policy_hz
    desc.action_scale, desc.action_bias = np.full(4, 0.5, np.float32), np.full(4, 0.5, np.float32)
    write_c(desc, tmp_path, "reference")
    (tmp_path / "shim.c").write_text(SHIM)
    lib_path = tmp_path / "libcfapp.so"
    cmd = ["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-ffp-contract=off",
           "-fPIC", "-shared", f"-I{FIRMWARE / 'crazyflie' / 'stubs'}", f"-I{tmp_path}",
           str(FIRMWARE / "crazyflie" / "src" / "controller_policy.c"), str(tmp_path / "policy.c"),
           str(tmp_path / "shim.c"), "-o", str(lib_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    app = ctypes.CDLL(str(lib_path))
    app.controllerOutOfTreeTest.restype = ctypes.c_bool
    reference = HostPolicy(build_host_library(tmp_path / "policy.c", "reference"), "policy", 22, 4)
    now = ctypes.c_uint64.in_dll(app, "shim_now_us")
    assert app.controllerOutOfTreeTest()
    rng = np.random.default_rng(0)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    state, sensors, setpoint, control = State(), SensorData(), Setpoint(), Control()
    (
        state.attitudeQuaternion.x,
        state.attitudeQuaternion.y,
        state.attitudeQuaternion.z,
        state.attitudeQuaternion.w,
    ) = q
    state.position.x, state.position.y, state.position.z = 0.1, -0.2, 0.9
    state.velocity.x, state.velocity.y, state.velocity.z = 0.3, 0.0, -0.1
    sensors.gyro.x, sensors.gyro.y, sensors.gyro.z = 90.0, -45.0, 10.0  # deg/s
    setpoint.position.x, setpoint.position.y, setpoint.position.z = 0.0, 0.0, 1.0
    now.value = 5_000_000
    setpoint.timestamp = 5_000
    step = ctypes.c_uint32(1000)  # a multiple of 1000 Hz / 100 Hz: a policy step
    app.controllerOutOfTree(ctypes.byref(control), ctypes.byref(setpoint), ctypes.byref(sensors),
                            ctypes.byref(state), step)  # fmt: skip
    expected_obs = np.concatenate([
        [0.1, -0.2, -0.1], rotation_from_quaternion(*q), [0.3, 0.0, -0.1],
        np.radians([90.0, -45.0, 10.0]), [-1.0, -1.0, -1.0, -1.0],
    ]).astype(np.float32)  # fmt: skip
    forces = np.array(control.normalizedForces)
    assert control.controlMode == 2  # controlModeForce
    np.testing.assert_allclose(forces, reference.to_physical(reference.act(expected_obs)), atol=2e-6)
    assert (forces >= 0).all() and (forces <= 1).all()
    # between policy steps the forces hold; a stale setpoint (dead man) cuts them to zero
    sensors.gyro.x = 500.0
    app.controllerOutOfTree(ctypes.byref(control), ctypes.byref(setpoint), ctypes.byref(sensors),
                            ctypes.byref(state), ctypes.c_uint32(1001))  # fmt: skip
    np.testing.assert_array_equal(np.array(control.normalizedForces), forces)
    now.value += 201_000
    app.controllerOutOfTree(ctypes.byref(control), ctypes.byref(setpoint), ctypes.byref(sensors),
                            ctypes.byref(state), ctypes.c_uint32(1010))  # fmt: skip
    assert list(control.normalizedForces) == [0.0] * 4
    # the `policy.enable` parameter (found by name in the param table, as the client does) gates too
    setpoint.timestamp = int(now.value // 1000)
    table = (ParamEntry * 5).in_dll(app, "__params_policy")
    enable = next(e for e in table if e.name == b"enable")
    assert [e.name for e in table[1:4]] == [b"enable", b"rate_hz", b"deadman_ms"]
    app.controllerOutOfTree(ctypes.byref(control), ctypes.byref(setpoint), ctypes.byref(sensors),
                            ctypes.byref(state), ctypes.c_uint32(1020))  # fmt: skip
    assert max(control.normalizedForces) > 0.0
    ctypes.c_uint8.from_address(enable.address).value = 0
    app.controllerOutOfTree(ctypes.byref(control), ctypes.byref(setpoint), ctypes.byref(sensors),
                            ctypes.byref(state), ctypes.c_uint32(1030))  # fmt: skip
    assert list(control.normalizedForces) == [0.0] * 4
