"""`robot-rl bench export`: the exported C policy on the Crazyflie's chip, emulated.

For 13-64-64-4 and 146-64-64-4 networks (tanh and ReLU hidden layers, tanh squash, state
normalisation) in every numeric mode: instructions per inference in QEMU (`-M netduinoplus2`,
STM32F405, `-icount shift=0`; instructions, not cycles), flash and RAM bytes of the policy object
(arm-none-eabi-size), max abs action error vs PyTorch fp32 on 1,000 random observations, and
whether host and emulator agree bit for bit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from robot_rl.benchmarks.machine import machine_info

NETWORKS = ([13, 64, 64, 4], [146, 64, 64, 4])
ACTIVATIONS = ("tanh", "relu")
MODES = ("reference", "fast", "int8")
#: issue 8's goals
GOALS = {
    "instructions_13_tanh_fast": 14_000,
    "instructions_146_tanh_fast": 32_000,
    "ram_bytes": 1024,
    "flash_over_weights_bytes": 2048,
    "fast_error": 1e-6,
    "int8_error_fraction_of_range": 0.01,
}


def measure(sizes: list[int], activation: str, mode: str, work: Path, samples: int = 1000) -> dict[str, Any]:
    from robot_rl.export.api import measured_errors
    from robot_rl.export.build import HostPolicy, build_host_library
    from robot_rl.export.c_gen import write_c
    from robot_rl.export.model import describe_mlp
    from robot_rl.export.qemu import run_policy

    desc = describe_mlp(sizes, activation)
    out = work / f"{'-'.join(map(str, sizes))}-{activation}-{mode}"
    write_c(desc, out, mode)
    host = HostPolicy(build_host_library(out / "policy.c", mode), "policy", desc.obs_size, desc.action_size)
    errors = measured_errors(desc, mode, host, count=samples)
    emu = run_policy(out, mode, out / "qemu")
    host_bits = host.act(desc.golden_inputs).view(np.uint32)
    # what the policy stores: weights, biases, normaliser mean/std, action scale/bias
    param_bytes = 4 * (desc.weight_count + 2 * desc.obs_size + 2 * desc.action_size)
    if mode == "int8":
        param_bytes = sum(layer.weight.size + 4 * (2 * layer.bias.size) for layer in desc.layers) + 4 * (
            2 * desc.obs_size + 2 * desc.action_size
        )
    flash = emu.flash_bytes - emu.golden_bytes
    return {
        "network": "-".join(map(str, sizes)),
        "activation": activation,
        "mode": mode,
        "instructions_per_inference": emu.instructions_per_inference,
        "flash_bytes": flash,
        "parameter_bytes": param_bytes,
        "flash_over_parameters_bytes": flash - param_bytes,
        "golden_vector_bytes": emu.golden_bytes,
        "ram_bytes": emu.ram_bytes,
        "max_abs_error_vs_pytorch": errors["vs_pytorch"],
        "max_abs_error_vs_reference_model": errors["vs_reference"],
        "host_equals_emulator_bitwise": bool(np.array_equal(host_bits, emu.output_bits)),
        "emulator_selftest": emu.selftest_pass,
    }


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    from robot_rl.export.qemu import missing_tools

    missing = missing_tools()
    if missing:
        from robot_rl.errors import RobotRLError

        raise RobotRLError(
            f"missing firmware tools {', '.join(missing)}: run bash tools/install_system_deps.sh"
        )
    cases = [(n, a, m) for n in NETWORKS for a in ACTIVATIONS for m in MODES]
    if quick:
        cases = [(NETWORKS[0], "tanh", "fast")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rrl-bench-export-") as tmp:
        for sizes, act, mode in tqdm(cases, desc="export bench", unit="net", disable=not progress):
            rows.append(measure(sizes, act, mode, Path(tmp), samples=100 if quick else 1000))
    return {"machine": machine_info(), "goals": GOALS, "results": rows}


def table(result: dict[str, Any]) -> str:
    head = (
        f"{'network':<13} {'act':<5} {'mode':<10} {'instr/inf':>10} {'flash B':>8} {'over params':>11} "
        f"{'RAM B':>6} {'err vs torch':>12} {'host==qemu':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in result["results"]:
        lines.append(
            f"{r['network']:<13} {r['activation']:<5} {r['mode']:<10} "
            f"{r['instructions_per_inference']:>10,.0f} "
            f"{r['flash_bytes']:>8} {r['flash_over_parameters_bytes']:>11} {r['ram_bytes']:>6} "
            f"{r['max_abs_error_vs_pytorch']:>12.2e} {r['host_equals_emulator_bitwise']!s:>10}"
        )
    m = result["machine"]
    lines.append(f"machine: {m['cpu']}, {m['date']}; instructions from QEMU -icount shift=0 (not cycles)")
    return "\n".join(lines)
