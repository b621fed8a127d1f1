"""The Crazyflie out-of-tree app (firmware/crazyflie): its configuration asks only for what it defines,
it needs from the firmware only what the firmware exports, the stubs it compiles against in CI have
the real firmware's layouts, and on the host, with the firmware's two clocks (FreeRTOS ticks and the
microsecond timer, started apart and drifting), it builds the spec's observation, keeps flying
through boot and flight and cuts the motors when setpoints stop or `policy.enable` is 0.

Against a real firmware checkout: `CRAZYFLIE_BASE=/path/to/crazyflie-firmware pytest
tests/test_crazyflie_app.py -k real` links the app into cf2.elf and checks the layouts there.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from robot_rl.export import describe_mlp, write_c
from robot_rl.export.qemu import firmware_dir
from robot_rl.spec import load_robot_spec

APP = firmware_dir() / "crazyflie"
STUBS = APP / "stubs"
#: the firmware the stubs mirror, and the layouts measured there (arm-none-eabi, the firmware's flags)
REAL = json.loads((STUBS / "layout.json").read_text())
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None,
    reason="arm-none-eabi-gcc not installed (bash tools/install_system_deps.sh)",
)
#: the firmware's own C flags (tools/make: gnu11, -Wall, -Wmissing-braces, -fno-strict-aliasing,
#: -Wdouble-promotion, section GC, -Os -Werror) and its Cortex-M4F target, plus stricter warnings
FIRMWARE_FLAGS = [
    "-std=gnu11", "-Wall", "-Wmissing-braces", "-fno-strict-aliasing", "-Wdouble-promotion",
    "-ffunction-sections", "-fdata-sections", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
    "-mfpu=fpv4-sp-d16", "-Os", "-Werror", "-Wextra", "-Wshadow", "-Wconversion",
]  # fmt: skip
#: what each Kconfig option of app-config makes the firmware call in the app (2026.08:
#: src/modules/src/app_handler.c calls appMain; src/modules/src/controller/controller.c the OOT hooks)
REQUIRED_BY_OPTION = {
    "CONFIG_APP_ENABLE": {"appMain"},
    "CONFIG_CONTROLLER_OOT": {"controllerOutOfTreeInit", "controllerOutOfTreeTest", "controllerOutOfTree"},
}
#: what controller_policy.o took from the firmware when it linked into 2026.08's cf2.elf (`nm -u`);
#: a new dependency must be linked against the real firmware before it joins this list
FIRMWARE_SYMBOLS = {"consolePutchar", "eprintf", "usecTimestamp", "xTaskGetTickCount"}
#: (name, C expression) of every layout fact the app relies on; layout.json holds the real values
LAYOUT = [
    ("sizeof quaternion_t", "sizeof(quaternion_t)"),
    ("quaternion_t.x", "offsetof(quaternion_t, x)"),
    ("quaternion_t.w", "offsetof(quaternion_t, w)"),
    ("sizeof state_t", "sizeof(state_t)"),
    ("state_t.attitudeQuaternion", "offsetof(state_t, attitudeQuaternion)"),
    ("state_t.position", "offsetof(state_t, position)"),
    ("state_t.velocity", "offsetof(state_t, velocity)"),
    ("vec3.x", "offsetof(struct vec3_s, x)"),
    ("sizeof sensorData_t", "sizeof(sensorData_t)"),
    ("sensorData_t.gyro", "offsetof(sensorData_t, gyro)"),
    ("sizeof setpoint_t", "sizeof(setpoint_t)"),
    ("setpoint_t.timestamp", "offsetof(setpoint_t, timestamp)"),
    ("setpoint_t.position", "offsetof(setpoint_t, position)"),
    ("setpoint_t.jerk", "offsetof(setpoint_t, jerk)"),
    ("setpoint_t.mode", "offsetof(setpoint_t, mode)"),
    ("sizeof control_t", "sizeof(control_t)"),
    ("control_t.normalizedForces", "offsetof(control_t, normalizedForces)"),
    ("control_t.controlMode", "offsetof(control_t, controlMode)"),
    ("controlModeForce", "controlModeForce"),
    ("STABILIZER_NR_OF_MOTORS", "STABILIZER_NR_OF_MOTORS"),
    ("RATE_MAIN_LOOP", "RATE_MAIN_LOOP"),
    ("sizeof stabilizerStep_t", "sizeof(stabilizerStep_t)"),
    ("sizeof TickType_t", "sizeof(TickType_t)"),
    ("M2T(1000)", "M2T(1000)"),
    ("sizeof param_s", "sizeof(struct param_s)"),
    ("param_s.name", "offsetof(struct param_s, name)"),
    ("param_s.address", "offsetof(struct param_s, address)"),
    ("PARAM_UINT8", "PARAM_UINT8"),
    ("PARAM_UINT16", "PARAM_UINT16"),
    ("sizeof log_s", "sizeof(struct log_s)"),
    ("LOG_UINT32", "LOG_UINT32"),
]


def layout_probe() -> str:
    """C that stores every LAYOUT value in one array of its own section, read back with objcopy."""
    values = ",\n    ".join(f"(uint32_t)({expr})" for _, expr in LAYOUT)
    includes = [
        "autoconf.h",
        "FreeRTOS.h",
        "task.h",
        "controller.h",
        "log.h",
        "param.h",
        "stabilizer_types.h",
    ]
    return (
        "#include <stddef.h>\n#include <stdint.h>\n"
        + "".join(f'#include "{h}"\n' for h in includes)
        + '__attribute__((used, section(".robot_rl_layout"))) const uint32_t robot_rl_layout[] = {\n    '
        + values
        + "\n};\n"
    )


def read_layout(obj: Path, objcopy: str) -> dict[str, int]:
    raw = obj.with_suffix(".layout")
    subprocess.run(
        [objcopy, "-O", "binary", "--only-section=.robot_rl_layout", str(obj), str(raw)], check=True
    )
    data = raw.read_bytes()
    assert len(data) == 4 * len(LAYOUT), "layout section missing from the probe object"
    return dict(zip((name for name, _ in LAYOUT), struct.unpack(f"<{len(LAYOUT)}I", data), strict=True))


def crazyflie_policy(out: Path, mode: str = "fast", seed: int = 0) -> None:
    """A generated policy with the spec's crazyflie observation layout (as `robot-rl export` writes it)."""
    desc = describe_mlp([22, 32, 4], "tanh", seed=seed)
    spec = load_robot_spec("crazyflie")
    desc.obs_fields = [(f.name, f.size, f.unit) for f in spec.observation]
    desc.policy_hz = spec.rates.policy_hz
    desc.action_scale, desc.action_bias = np.full(4, 0.5, np.float32), np.full(4, 0.5, np.float32)
    write_c(desc, out, mode)


def arm_compile(source: Path, out: Path, policy_dir: Path) -> subprocess.CompletedProcess:
    cmd = ["arm-none-eabi-gcc", *FIRMWARE_FLAGS, f"-I{STUBS}", f"-I{policy_dir}", "-c", str(source)]
    return subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True)


def app_config() -> dict[str, str]:
    lines = (APP / "app-config").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.startswith("CONFIG_"))


def nm(obj: Path, *flags: str) -> set[str]:
    out = subprocess.run(["arm-none-eabi-nm", *flags, str(obj)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}


@needs_arm
def test_app_config_asks_only_for_what_the_app_defines_and_needs_only_firmware_exports(tmp_path):
    crazyflie_policy(tmp_path)
    obj = tmp_path / "controller_policy.o"
    proc = arm_compile(APP / "src" / "controller_policy.c", obj, tmp_path)
    assert proc.returncode == 0, proc.stderr
    defined = nm(obj, "--defined-only", "--extern-only")
    for option, value in app_config().items():
        assert option in REQUIRED_BY_OPTION, f"{option} in app-config: check what it needs in the firmware"
        if value == "y":
            missing = REQUIRED_BY_OPTION[option] - defined
            assert not missing, f"app-config sets {option}, so the firmware calls {sorted(missing)}"
    assert app_config().get("CONFIG_CONTROLLER_OOT") == "y"
    needed = nm(obj, "--undefined-only") - {"policy_act", "policy_selftest", "policy_to_physical"}
    assert needed <= FIRMWARE_SYMBOLS, f"link {sorted(needed - FIRMWARE_SYMBOLS)} against the real firmware"


@needs_arm
def test_app_compiles_with_the_firmware_flags_and_refuses_another_layout(tmp_path):
    crazyflie_policy(tmp_path)
    for source in (APP / "src" / "controller_policy.c", tmp_path / "policy.c"):
        proc = arm_compile(source, tmp_path / f"{source.stem}.o", tmp_path)
        assert proc.returncode == 0, proc.stderr
    # a hook whose signature drifts from controller.h is an error: the prototypes are in view
    wrong = (
        (APP / "src" / "controller_policy.c")
        .read_text()
        .replace("bool controllerOutOfTreeTest(void)", "int controllerOutOfTreeTest(void)")
    )
    (tmp_path / "wrong_hook.c").write_text(wrong)
    proc = arm_compile(tmp_path / "wrong_hook.c", tmp_path / "w.o", tmp_path)
    assert proc.returncode != 0 and "conflicting types for 'controllerOutOfTreeTest'" in proc.stderr
    # a policy exported with another observation layout must not compile into the app
    desc = describe_mlp([22, 16, 4], "relu")
    desc.obs_fields = [("state", 22, "")]
    write_c(desc, tmp_path, "fast")
    proc = arm_compile(APP / "src" / "controller_policy.c", tmp_path / "x.o", tmp_path)
    assert proc.returncode != 0 and "re-export" in proc.stderr


@needs_arm
def test_stubs_have_the_real_firmware_layouts(tmp_path):
    (tmp_path / "probe.c").write_text(layout_probe())
    proc = arm_compile(tmp_path / "probe.c", tmp_path / "probe.o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    stub = read_layout(tmp_path / "probe.o", "arm-none-eabi-objcopy")
    assert stub == REAL["layout"], (
        f"stubs/ differ from {REAL['firmware']}: {sorted(stub.items() ^ REAL['layout'].items())}"
    )


# -- the app on the host, with the firmware's two clocks --------------------------------------------
class Vec3(ctypes.Structure):
    _fields_ = [("timestamp", ctypes.c_uint32)] + [(k, ctypes.c_float) for k in "xyz"]


class Quat(ctypes.Structure):  # no timestamp (stabilizer_types.h)
    _fields_ = [(k, ctypes.c_float) for k in "xyzw"]


class SensorData(ctypes.Structure):
    _fields_ = [("acc", ctypes.c_float * 3), ("gyro", ctypes.c_float * 3), ("mag", ctypes.c_float * 3),
                ("baro", ctypes.c_float * 3), ("interruptTimestamp", ctypes.c_uint64)]  # fmt: skip


class State(ctypes.Structure):
    _fields_ = [("attitude", Vec3), ("attitudeQuaternion", Quat), ("position", Vec3), ("velocity", Vec3),
                ("acc", Vec3)]  # fmt: skip


class Setpoint(ctypes.Structure):
    _fields_ = [("timestamp", ctypes.c_uint32), ("attitude", Vec3), ("attitudeRate", Vec3),
                ("attitudeQuaternion", Quat), ("thrust", ctypes.c_float), ("position", Vec3),
                ("velocity", Vec3), ("acceleration", Vec3), ("jerk", Vec3), ("velocity_body", ctypes.c_bool),
                ("mode", ctypes.c_int * 7)]  # fmt: skip


class Control(ctypes.Structure):
    _fields_ = [("normalizedForces", ctypes.c_float * 4), ("controlMode", ctypes.c_int)]


class ParamEntry(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint8), ("extended_type", ctypes.c_uint8), ("name", ctypes.c_char_p),
                ("address", ctypes.c_void_p), ("callback", ctypes.c_void_p),
                ("getter", ctypes.c_void_p)]  # fmt: skip


MODE_ABS, MODE_VELOCITY = 1, 2  # stab_mode_t


#: the firmware side the app calls, with the tick count and the microsecond timer as separate clocks
SHIM = """
#include <stdint.h>
#include "debug.h"
#include "task.h"
uint32_t shim_ticks;
uint64_t shim_now_us;
TickType_t xTaskGetTickCount(void) { return shim_ticks; }
uint64_t usecTimestamp(void) { return shim_now_us; }
int consolePutchar(int ch) { return ch; }
int eprintf(putc_t putcf, const char *fmt, ...) { (void)putcf; (void)fmt; return 0; }
"""


class HostApp:
    """controller_policy.c + a generated policy + the firmware shim, as one host library."""

    def __init__(self, tmp_path: Path):
        crazyflie_policy(tmp_path, "reference", seed=4)
        (tmp_path / "shim.c").write_text(SHIM)
        (tmp_path / "probe.c").write_text(layout_probe())
        lib = tmp_path / "libcfapp.so"
        flags = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-ffp-contract=off",
                 f"-I{STUBS}", f"-I{tmp_path}"]  # fmt: skip
        sources = [APP / "src" / "controller_policy.c", tmp_path / "policy.c", tmp_path / "shim.c"]
        proc = subprocess.run(["gcc", *flags, "-fPIC", "-shared", *map(str, sources), "-o", str(lib)],
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        probe = ["gcc", *flags, "-c", str(tmp_path / "probe.c"), "-o", str(tmp_path / "probe.o")]
        proc = subprocess.run(probe, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        self.layout = read_layout(tmp_path / "probe.o", "objcopy")
        self.lib = ctypes.CDLL(str(lib))
        self.lib.controllerOutOfTreeTest.restype = ctypes.c_bool
        self.ticks = ctypes.c_uint32.in_dll(self.lib, "shim_ticks")
        self.now_us = ctypes.c_uint64.in_dll(self.lib, "shim_now_us")
        self.state, self.sensors, self.setpoint, self.control = State(), SensorData(), Setpoint(), Control()

    def step(self, stabilizer_step: int) -> np.ndarray:
        refs = (self.control, self.setpoint, self.sensors, self.state)
        self.lib.controllerOutOfTree(*map(ctypes.byref, refs), ctypes.c_uint32(stabilizer_step))
        return np.array(self.control.normalizedForces)

    def param(self, name: bytes) -> int:
        table = (ParamEntry * 5).in_dll(self.lib, "__params_policy")
        assert [e.name for e in table[1:4]] == [b"enable", b"rate_hz", b"deadman_ms"]
        return next(e.address for e in table if e.name == name)


@pytest.fixture
def app(tmp_path) -> HostApp:
    return HostApp(tmp_path)


@needs_gcc
def test_ctypes_mirror_matches_the_stubs_on_the_host(app):
    got = app.layout
    assert got["sizeof state_t"] == ctypes.sizeof(State) and got["sizeof control_t"] == ctypes.sizeof(Control)
    assert (
        got["sizeof setpoint_t"] == ctypes.sizeof(Setpoint) and got["setpoint_t.jerk"] == Setpoint.jerk.offset
    )
    assert got["sizeof sensorData_t"] == ctypes.sizeof(SensorData)
    assert got["state_t.position"] == State.position.offset and got["sizeof param_s"] == ctypes.sizeof(
        ParamEntry
    )


@needs_gcc
def test_app_builds_the_spec_observation_and_gates_the_motors(app, tmp_path):
    from robot_rl.controllers.quadrotor import rotation_from_quaternion
    from robot_rl.export.build import HostPolicy, build_host_library

    reference = HostPolicy(build_host_library(tmp_path / "policy.c", "reference"), "policy", 22, 4)
    assert app.lib.controllerOutOfTreeTest()
    q = np.random.default_rng(0).normal(size=4)
    q /= np.linalg.norm(q)
    quat = app.state.attitudeQuaternion
    quat.x, quat.y, quat.z, quat.w = q
    app.state.position.x, app.state.position.y, app.state.position.z = 0.1, -0.2, 0.9
    app.state.velocity.x, app.state.velocity.y, app.state.velocity.z = 0.3, 0.0, -0.1
    app.sensors.gyro[:] = [90.0, -45.0, 10.0]  # deg/s
    app.setpoint.position.x, app.setpoint.position.y, app.setpoint.position.z = 0.0, 0.0, 1.0
    app.setpoint.mode[:3] = [MODE_ABS] * 3
    app.ticks.value, app.now_us.value = 5_000, 4_300_000  # the µs timer started 0.7 s after the ticks
    app.setpoint.timestamp = 4_990
    forces = app.step(1000)  # a multiple of 1000 Hz / 100 Hz: a policy step
    expected_obs = np.concatenate([
        [0.1, -0.2, -0.1], rotation_from_quaternion(*q), [0.3, 0.0, -0.1],
        np.radians([90.0, -45.0, 10.0]), [-1.0, -1.0, -1.0, -1.0],
    ]).astype(np.float32)  # fmt: skip
    assert app.control.controlMode == 2  # controlModeForce
    np.testing.assert_allclose(forces, reference.to_physical(reference.act(expected_obs)), atol=2e-6)
    assert (forces > 0).all() and (forces <= 1).all()
    # between policy steps the forces hold
    app.sensors.gyro[0] = 500.0
    np.testing.assert_array_equal(app.step(1001), forces)
    # the `policy.enable` parameter (found by name in the param table, as the client does) gates them
    ctypes.c_uint8.from_address(app.param(b"enable")).value = 0
    assert list(app.step(1010)) == [0.0] * 4
    ctypes.c_uint8.from_address(app.param(b"enable")).value = 1
    assert max(app.step(1020)) > 0.0
    # a velocity setpoint (cflib's hover setpoint) is not a position to fly to
    app.setpoint.mode[0] = MODE_VELOCITY
    assert list(app.step(1030)) == [0.0] * 4


@needs_gcc
def test_app_keeps_flying_through_boot_and_flight_on_the_tick_clock(app):
    """Five seconds of a 1 kHz stabilizer loop. The µs timer starts 0.65 s after the tick count and
    runs 3% slow, as on the Crazyflie; the commander stamps setpoints in ticks every 10 ms from 1 s.
    The app must fly on every step with a fresh setpoint and stop within deadman_ms when they stop."""
    assert app.lib.controllerOutOfTreeTest()
    app.setpoint.position.z = 1.0
    app.state.attitudeQuaternion.w = 1.0
    deadman_ms = ctypes.c_uint16.from_address(app.param(b"deadman_ms")).value
    grounded, stop = [], 6_000
    for tick in range(0, stop + deadman_ms + 50):
        app.ticks.value = tick
        app.now_us.value = max(0, int((tick - 650) * 1000 * 0.97))
        if 1_000 <= tick < stop and tick % 10 == 0:
            app.setpoint.timestamp = tick  # commanderSetSetpoint stamps xTaskGetTickCount()
            app.setpoint.mode[:3] = [MODE_ABS] * 3  # before: the null setpoint, every mode disabled
        flying = bool(app.step(tick).max() > 0.0)
        if 1_000 <= tick <= stop + deadman_ms - 10 and not flying:
            grounded.append(tick)
        if tick > stop + deadman_ms:
            assert not flying, f"still commanding force {tick - stop} ms after the last setpoint"
        if tick < 1_000:
            assert not flying, f"force at tick {tick} before any setpoint"
    assert not grounded, (
        f"motors cut with a fresh setpoint at ticks {grounded[:5]}... ({len(grounded)} steps)"
    )


@needs_gcc
def test_dead_man_holds_across_the_tick_counter_wrap(app):
    assert app.lib.controllerOutOfTreeTest()
    app.state.attitudeQuaternion.w = 1.0
    app.setpoint.mode[:3] = [MODE_ABS] * 3
    start = 2**32 - 100
    for k in range(300):
        tick = (start + k) % 2**32
        app.ticks.value = tick
        if k % 10 == 0:
            app.setpoint.timestamp = tick
        assert app.step(k).max() > 0.0, f"motors cut at step {k} of the tick wrap"
    app.ticks.value = (start + 299 + 201) % 2**32  # 201 ms after the last setpoint (deadman 200 ms)
    assert app.step(310).max() == 0.0


# -- against a real firmware checkout (opt-in: CRAZYFLIE_BASE) ----------------------------------------
@needs_arm
@pytest.mark.skipif(
    not os.environ.get("CRAZYFLIE_BASE"), reason="set CRAZYFLIE_BASE to a crazyflie-firmware checkout"
)
def test_real_firmware_links_the_app_and_has_the_stub_layouts(tmp_path):
    base = Path(os.environ["CRAZYFLIE_BASE"]).resolve()
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("stubs", "build"))
    crazyflie_policy(app / "src")
    (app / "src" / "layout_probe.c").write_text(layout_probe())
    with open(app / "src" / "Kbuild", "a") as kbuild:
        kbuild.write("obj-y += layout_probe.o\n")
    proc = subprocess.run(["make", f"CRAZYFLIE_BASE={base}", "-j2"], cwd=app, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    symbols = nm(app / "build" / "cf2.elf")
    assert REQUIRED_BY_OPTION["CONFIG_CONTROLLER_OOT"] | {"policy_act"} <= symbols
    assert read_layout(app / "src" / "layout_probe.o", "arm-none-eabi-objcopy") == REAL["layout"]
    needed = nm(app / "src" / "controller_policy.o", "--undefined-only")
    assert needed - {"policy_act", "policy_selftest", "policy_to_physical"} <= FIRMWARE_SYMBOLS
