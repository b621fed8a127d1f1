"""The C exporter on the host: generated code shape, -Werror builds, ctypes runs of the golden
vectors and of 1,000 random observations against PyTorch and the float32 reference model."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from robot_rl.errors import RobotRLError
from robot_rl.export import describe_mlp, generate_c, write_c
from robot_rl.export.api import measured_errors
from robot_rl.export.build import HostPolicy, build_host_library, compile_arm_object
from robot_rl.export.model import (
    RATIONAL_TANH_MAX_ERROR,
    Layer,
    PolicyDescription,
    golden_inputs,
    reference_forward,
    tanh_f32,
    torch_forward,
)

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None,
    reason="arm-none-eabi-gcc not installed (bash tools/install_system_deps.sh)",
)


@pytest.fixture(scope="module", params=[([13, 64, 64, 4], "tanh"), ([146, 64, 64, 4], "relu")], ids=str)
def net(request) -> PolicyDescription:
    sizes, act = request.param
    return describe_mlp(sizes, act, seed=3)


def build(desc: PolicyDescription, mode: str, tmp_path) -> HostPolicy:
    write_c(desc, tmp_path, mode)
    lib = build_host_library(tmp_path / "policy.c", mode)
    return HostPolicy(lib, "policy", desc.obs_size, desc.action_size)


def test_generated_code_keeps_weights_const_activations_static_and_math_float(net):
    files = generate_c(net, "reference")
    src, header = files["policy.c"], files["policy.h"]
    # every weight is a const hex-float literal; activations are static, never locals
    assert re.search(r"static const float policy_w0\[64 \* \d+\] = \{\n    -?0x1\.[0-9a-f]+p[-+]\d+f", src)
    assert "static float policy_buf_a[" in src and "static float policy_buf_b[" in src
    assert src.count("_Static_assert") >= 4 + len(net.layers)
    assert "double" not in src and "malloc" not in src and "stdio" not in src and "math.h" not in src
    # every floating literal carries the f suffix (no double promotion)
    code = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    literals = re.findall(r"(?<![\w.])(\d+\.\d*(?:[eE][-+]?\d+)?)(f?)", code)
    assert literals and all(suffix == "f" for _, suffix in literals), literals
    for key in ("MODEL_HASH", "EXPORTER_VERSION", "ROBOT_SPEC_HASH", "GOLDEN_INPUTS", "GOLDEN_OUTPUTS"):
        assert f"#define POLICY_{key}" in header
    assert f'"{net.model_hash}"' in header


def test_hex_literals_are_bit_exact(net, tmp_path):
    src = generate_c(net, "reference")["policy.c"]
    body = src.split("policy_w0[")[1].split("};")[0].split("= {", 1)[1]
    values = np.array([float.fromhex(v.strip().rstrip("f")) for v in body.split(",")], np.float32)
    np.testing.assert_array_equal(values.view(np.uint32), net.layers[0].weight.reshape(-1).view(np.uint32))


@needs_gcc
def test_reference_mode_is_bit_identical_to_the_float32_sequential_model(net, tmp_path):
    policy = build(net, "reference", tmp_path)
    ok, err = policy.selftest()
    assert ok and err < 1e-6
    obs = golden_inputs(net, 1000, seed=7)
    c_out = policy.act(obs)
    np.testing.assert_array_equal(c_out.view(np.uint32), reference_forward(net, obs).view(np.uint32))
    assert np.abs(c_out - torch_forward(net, obs)).max() <= 1e-6


@needs_gcc
def test_fast_mode_is_within_1e6_of_pytorch(net, tmp_path):
    policy = build(net, "fast", tmp_path)
    assert policy.selftest()[0]
    errors = measured_errors(net, "fast", policy, count=1000, seed=11)
    assert errors["vs_pytorch"] <= 1e-6, errors


@needs_gcc
def test_int8_action_error_is_within_one_percent_of_the_range(net, tmp_path):
    policy = build(net, "int8", tmp_path)
    assert policy.selftest()[0]
    errors = measured_errors(net, "int8", policy, count=1000, seed=5)
    assert errors["vs_reference"] == 0.0  # the numpy int8 model is the C arithmetic
    assert errors["vs_pytorch"] <= 0.01 * 2.0, errors  # actions span [-1, 1]
    assert "static const int8_t policy_w0" in (tmp_path / "policy.c").read_text()


def _tanh_only() -> PolicyDescription:
    # one 1x1 identity layer: the policy's output is exactly the generated tanh of its input
    return PolicyDescription([Layer(np.ones((1, 1)), np.zeros(1), "none")], squash=True)


@needs_gcc
@pytest.mark.parametrize("mode", ["reference", "fast"])
def test_generated_tanh_error_bound(mode, tmp_path):
    policy = build(_tanh_only(), mode, tmp_path)
    x = np.concatenate([np.linspace(-12, 12, 40001), np.geomspace(1e-9, 12, 4000)]).astype(np.float32)
    x = np.concatenate([x, -x])
    got = policy.act(x[:, None])[:, 0].astype(np.float64)
    err = np.abs(got - np.tanh(x.astype(np.float64))).max()
    bound = 1.2e-7 if mode == "reference" else RATIONAL_TANH_MAX_ERROR
    assert err <= bound, err
    if mode == "reference":
        np.testing.assert_array_equal(got.astype(np.float32), tanh_f32(x))


@needs_gcc
def test_selftest_refuses_a_corrupted_export(net, tmp_path):
    write_c(net, tmp_path, "reference")
    src = (tmp_path / "policy.c").read_text()
    # flip the sign of the first hidden weight: the golden vectors must notice
    head, rest = src.split("policy_w0[", 1)
    decl, values = rest.split("= {\n    ", 1)
    first = values.split(",", 1)[0]
    flipped = first[1:] if first.startswith("-") else "-" + first
    (tmp_path / "policy.c").write_text(
        head + "policy_w0[" + decl + "= {\n    " + flipped + values[len(first) :]
    )
    policy = HostPolicy(build_host_library(tmp_path / "policy.c", "reference"), "policy", net.obs_size, 4)
    ok, err = policy.selftest()
    assert not ok and err > 1e-5


@needs_gcc
def test_to_physical_uses_the_spec_scale_and_bias(tmp_path):
    desc = describe_mlp([5, 8, 4], "relu")
    desc.action_scale = np.full(4, 0.5, np.float32)
    desc.action_bias = np.full(4, 0.5, np.float32)  # crazyflie motor_forces: -1 -> 0, +1 -> 1
    policy = build(desc, "reference", tmp_path)
    np.testing.assert_allclose(policy.to_physical(np.array([-1, 0, 1, 0.5], np.float32)), [0, 0.5, 1, 0.75])


@needs_arm
@pytest.mark.parametrize("mode", ["reference", "fast", "int8"])
def test_cortex_m4_build_is_warning_free(net, mode, tmp_path):
    write_c(net, tmp_path, mode)
    obj = compile_arm_object(tmp_path / "policy.c", mode)
    assert obj.stat().st_size > 4 * net.weight_count // (4 if mode == "int8" else 1)


def test_bad_mode_and_name_are_one_line_errors():
    desc = describe_mlp([3, 4, 2], "relu")
    with pytest.raises(RobotRLError, match="export mode 'turbo'"):
        generate_c(desc, "turbo")
    with pytest.raises(RobotRLError, match="C name"):
        generate_c(desc, "reference", name="My-Policy")
