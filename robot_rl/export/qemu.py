"""Build `firmware/qemu/` around a generated policy and run it in `qemu-system-arm -M netduinoplus2`.

Instruction counts come from SysTick under `-icount shift=0` (one instruction per virtual
nanosecond), scaled by a calibration loop of known length; QEMU models no pipeline or flash
wait states, so these are instructions, not cycles.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.export.build import ARM_FLAGS, MODE_FLAGS, WARNINGS, compiler, run

QEMU = "qemu-system-arm"
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", QEMU)


def firmware_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "firmware"
    if not (path / "qemu" / "main.c").is_file():
        raise RobotRLError(f"no firmware sources at {path}: run from a robot_rl source checkout")
    return path


def missing_tools() -> list[str]:
    """The firmware tools not on PATH (tools/install_system_deps.sh installs them)."""
    return [t for t in TOOLS if shutil.which(t) is None]


@dataclass
class QemuRun:
    mode: str
    #: bit patterns of the actions on the golden inputs, (G, A) uint32
    output_bits: np.ndarray
    selftest_pass: bool
    selftest_max_abs_error: float
    instructions_per_inference: float
    #: the policy object alone: flash (code + const data) and RAM (static buffers)
    flash_bytes: int
    ram_bytes: int
    golden_bytes: int
    elf_text_bytes: int

    @property
    def outputs(self) -> np.ndarray:
        return self.output_bits.view(np.float32)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("output_bits")
        return d


def size_of(path: str | Path) -> tuple[int, int, int]:
    """(text, data, bss) bytes from arm-none-eabi-size (Berkeley format)."""
    out = run([compiler("arm-none-eabi-size"), str(path)], "arm-none-eabi-size")
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return text, data, bss


def run_policy(policy_dir: str | Path, mode: str, work_dir: str | Path, timeout_s: float = 60.0) -> QemuRun:
    """Compile the harness with `<policy_dir>/policy.c` and run it in QEMU."""
    missing = missing_tools()
    if missing:
        raise RobotRLError(
            f"missing firmware tools {', '.join(missing)}: run bash tools/install_system_deps.sh"
        )
    src = firmware_dir() / "qemu"
    policy_dir, work = Path(policy_dir).resolve(), Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    gcc = compiler("arm-none-eabi-gcc")
    flags = [*WARNINGS, *ARM_FLAGS, *MODE_FLAGS[mode], "-ffunction-sections", "-fdata-sections"]
    obj = work / "policy.o"
    run([gcc, *flags, "-c", str(policy_dir / "policy.c"), "-o", str(obj)], "arm-none-eabi-gcc compile")
    elf = work / "policy.elf"
    run(
        [
            gcc,
            *flags,
            f"-I{policy_dir}",
            str(src / "main.c"),
            str(src / "startup.c"),
            str(policy_dir / "policy.c"),
            "-T",
            str(src / "stm32f405.ld"),
            "-nostartfiles",
            "-Wl,--gc-sections",
            "--specs=nano.specs",
            "--specs=nosys.specs",
            "-lm",
            "-o",
            str(elf),
        ],
        "arm-none-eabi-gcc link",
    )
    cmd = [
        QEMU,
        "-M",
        "netduinoplus2",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-icount",
        "shift=0",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RobotRLError(
            f"QEMU did not finish within {timeout_s:.0f} s: the harness hangs or faults"
        ) from None
    # semihosting console output lands on stderr with -nographic; read both
    text = proc.stdout + proc.stderr
    lines = [ln.split()[1:] for ln in text.splitlines() if ln.startswith("RRL ")]
    if not lines or lines[-1] != ["done"]:
        raise RobotRLError(f"QEMU run ended early (exit {proc.returncode}): {text[-300:]}")
    outs = [ln for ln in lines if ln[0] == "out"]
    bits = np.array([[int(v, 16) for v in ln[2:]] for ln in outs], dtype=np.uint32)
    selftest = next(ln for ln in lines if ln[0] == "selftest")
    ticks = [int(v) for v in next(ln for ln in lines if ln[0] == "ticks")[1:]]
    empty, calib, calib_instr, infer, runs = ticks
    per_tick = calib_instr / max(calib - empty, 1)
    instructions = (infer - empty) * per_tick / runs
    text, data, bss = size_of(obj)
    header = (policy_dir / "policy.h").read_text()
    count = int(re.search(r"#define POLICY_GOLDEN_COUNT (\d+)", header).group(1))
    obs_n = int(re.search(r"#define POLICY_OBS_SIZE (\d+)", header).group(1))
    act_n = int(re.search(r"#define POLICY_ACTION_SIZE (\d+)", header).group(1))
    return QemuRun(
        mode=mode,
        output_bits=bits,
        selftest_pass=selftest[1] == "pass",
        selftest_max_abs_error=float(np.array([int(selftest[2], 16)], np.uint32).view(np.float32)[0]),
        instructions_per_inference=round(instructions, 1),
        flash_bytes=text + data,
        ram_bytes=data + bss,
        golden_bytes=4 * count * (obs_n + act_n),
        elf_text_bytes=size_of(elf)[0],
    )
