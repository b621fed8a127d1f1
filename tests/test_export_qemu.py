"""The exported policy on an emulated STM32F405 (`qemu-system-arm -M netduinoplus2`): golden
vectors pass, reference and fast modes agree with the host bit for bit, and the instruction,
RAM and flash budgets of issue 8 hold."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.benchmarks.export import GOALS
from robot_rl.export import describe_mlp, write_c
from robot_rl.export.build import HostPolicy, build_host_library
from robot_rl.export.qemu import missing_tools, run_policy

pytestmark = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"firmware tools missing: {', '.join(missing_tools())} (bash tools/install_system_deps.sh)",
)


@pytest.mark.parametrize(
    "sizes,mode,max_instructions",
    [
        ([13, 64, 64, 4], "reference", None),
        ([13, 64, 64, 4], "fast", GOALS["instructions_13_tanh_fast"]),
        ([146, 64, 64, 4], "fast", GOALS["instructions_146_tanh_fast"]),
        ([13, 64, 64, 4], "int8", None),
    ],
    ids=["13-reference", "13-fast", "146-fast", "13-int8"],
)
def test_emulator_matches_host_and_meets_budgets(sizes, mode, max_instructions, tmp_path):
    desc = describe_mlp(sizes, "tanh", seed=1)
    write_c(desc, tmp_path, mode)
    host = HostPolicy(
        build_host_library(tmp_path / "policy.c", mode), "policy", desc.obs_size, desc.action_size
    )
    emu = run_policy(tmp_path, mode, tmp_path / "qemu")
    assert emu.selftest_pass
    # bit-identical actions on the golden inputs: host gcc (x86-64) vs arm-none-eabi-gcc in QEMU
    np.testing.assert_array_equal(emu.output_bits, host.act(desc.golden_inputs).view(np.uint32))
    assert emu.ram_bytes <= GOALS["ram_bytes"]
    params = 4 * (desc.weight_count + 2 * desc.obs_size + 2 * desc.action_size)
    if mode != "int8":
        assert emu.flash_bytes - emu.golden_bytes <= params + GOALS["flash_over_weights_bytes"]
    else:
        assert emu.flash_bytes < params / 2
    if max_instructions is not None:
        assert 1000 < emu.instructions_per_inference <= max_instructions
