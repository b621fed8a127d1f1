"""C99 generator: a `PolicyDescription` -> `<name>.h` + `<name>.c`, dependency-free.

What the generated code guarantees (and the tests check):
- weights are `const` hex-float literals (bit-exact, placed in flash), row-major W[out][in];
- activations live in two `static` ping-pong buffers, never on the stack (the Crazyflie
  stabilizer task has 1.8 KB of stack);
- every dimension is a compile-time constant, cross-checked with `_Static_assert`s;
- only float arithmetic (`f` suffixes, no double), no malloc, no stdio, no libm in reference mode;
- the header carries the metadata (model hash, exporter version, robot spec hash) and golden
  input/output vectors from PyTorch; `<name>_selftest()` runs them.

Modes:
- `reference`: sequential sums (bias, then inputs 0..n-1) with separate multiply and add; built
  with -ffp-contract=off it is bit-identical on every IEEE-754 float32 machine and to
  `model.reference_forward`.
- `fast`: one fused multiply-add chain per output (same order as reference) and a rational tanh;
  on Cortex-M4F an asm kernel per input size streams 14 weights and 14 inputs per `vldmia`, so a
  multiply-add costs ~1.15 instructions. Within 1e-6 of PyTorch fp32; host and MCU agree bit for
  bit because vfma and C99 fmaf round the same.
- `int8`: per-row int8 weights with int32 dot products (4x less flash, for FPU-less MCUs).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.export.model import (
    EXPM1_COEFFS,
    EXPORTER_VERSION,
    LN2_HI,
    LN2_LO,
    LOG2E,
    RATIONAL_TANH_P,
    RATIONAL_TANH_Q,
    TANH_LINEAR,
    TANH_SATURATION,
    PolicyDescription,
    quantize,
)

MODES = ("reference", "fast", "int8")
#: golden check tolerance of the generated self-test, per mode (max abs action error vs PyTorch):
#: float modes differ from PyTorch only by summation order; int8 by quantisation (1% of [-1, 1]).
GOLDEN_TOLERANCE = {"reference": 1e-5, "fast": 1e-5, "int8": 0.02}
ACT_CODE = {"none": 0, "relu": 1, "tanh": 2}


def hexf(value: float) -> str:
    """A float32 as an exact C hex-float literal with the f suffix."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise RobotRLError(f"non-finite value {v} in the policy: the checkpoint is broken; retrain")
    mantissa, exponent = v.hex().split("p")
    return f"{mantissa.rstrip('0').rstrip('.')}p{exponent}f"


def _floats(values: np.ndarray, per_line: int = 6, indent: str = "    ") -> str:
    flat = np.asarray(values, np.float32).reshape(-1)
    items = [hexf(v) for v in flat]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)


def _macro_floats(values: np.ndarray) -> str:
    """Floats for a multi-line #define: every line but the last ends in a backslash."""
    return _floats(values, 4, "      ").replace("\n", " \\\n")


def _ints(values: np.ndarray, per_line: int = 20, indent: str = "    ") -> str:
    flat = np.asarray(values).reshape(-1)
    lines = [", ".join(str(int(v)) for v in flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    return (",\n" + indent).join(lines)


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper() or "FIELD"


def _tanh_c(p: str, fast: bool) -> str:
    """Reference: tanh(x) = expm1(2|x|) / (expm1(2|x|) + 2), expm1 by range reduction and Taylor
    series, the same operations as model.tanh_f32. Fast: the rational model.RATIONAL_TANH_*."""
    if fast:
        num = f"    num = {hexf(RATIONAL_TANH_P[-1])};\n" + "".join(
            f"    num = fmaf(num, z, {hexf(k)});\n" for k in RATIONAL_TANH_P[-2::-1]
        )
        den = f"    den = {hexf(RATIONAL_TANH_Q[-1])};\n" + "".join(
            f"    den = fmaf(den, z, {hexf(k)});\n" for k in RATIONAL_TANH_Q[-2::-1]
        )
        return f"""/* tanh(x) ~= x P(x^2) / Q(x^2), |x| clamped to 9 (tanh = +-1 in float32); err <= 3.5e-7 */
static float {p}_tanh(float x)
{{
    float c = x > 9.0f ? 9.0f : (x < -9.0f ? -9.0f : x);
    float z = c * c;
    float num, den;
{num}{den}    return (c * num) / den;
}}
"""
    c = EXPM1_COEFFS
    horner = f"    q = {hexf(c[0])};\n" + "".join(f"    q = q * r + {hexf(k)};\n" for k in c[1:])
    return f"""static float {p}_tanh(float x)
{{
    float a = x < 0.0f ? -x : x;
    float t, kf, r, q, em1, y;
    int32_t k;
    union {{ uint32_t u; float f; }} s;
    if (a < {hexf(TANH_LINEAR)}) return x;
    if (a >= {hexf(TANH_SATURATION)}) return x < 0.0f ? -1.0f : 1.0f;
    t = a * 2.0f;
    k = (int32_t)(t * {hexf(LOG2E)} + 0.5f);
    kf = (float)k;
    r = (t - kf * {hexf(LN2_HI)}) - kf * {hexf(LN2_LO)};
{horner}    q = q * r;
    s.u = (uint32_t)(k + 127) << 23; /* 2^k, exact */
    em1 = s.f * q + (s.f - 1.0f);
    y = em1 / (em1 + 2.0f);
    return x < 0.0f ? -y : y;
}}
"""


def _activation_c(p: str) -> str:
    return f"""static float {p}_activate(float v, int act)
{{
    if (act == 1) return v > 0.0f ? v : 0.0f;
    if (act == 2) return {p}_tanh(v);
    return v;
}}
"""


def _dense_reference(p: str) -> str:
    return f"""/* y = act(W x + b): bias first, then inputs in order, one rounding per operation */
static void {p}_dense(const float *w, const float *b, const float *x, float *y, int n_in, int n_out, int act)
{{
    int i, j;
    for (j = 0; j < n_out; ++j) {{
        const float *row = w + j * n_in;
        float acc = b[j];
        for (i = 0; i < n_in; ++i) acc = acc + row[i] * x[i];
        y[j] = {p}_activate(acc, act);
    }}
}}
"""


#: fast mode on Cortex-M4F: inputs and weights stream in blocks of this many floats per vldmia
BLOCK = 14
#: a row of more blocks than this loops over them instead of unrolling (flash budget)
UNROLL_BLOCKS = 4


def _asm_block(count: int) -> list[str]:
    """vldmia `count` inputs into s14.. and `count` weights into s0.., then `count` fused multiply-adds
    into the accumulator s30, in input order."""
    lines = [
        f"vldmia %[xp]!, {{s14-s{13 + count}}}" if count > 1 else "vldmia %[xp]!, {s14}",
        f"vldmia %[w]!, {{s0-s{count - 1}}}" if count > 1 else "vldmia %[w]!, {s0}",
    ]
    return lines + [f"vfma.f32 s30, s{k}, s{14 + k}" for k in range(count)]


def _arm_layer_kernel(p: str, n_in: int) -> str:
    """y[j] = b[j] + sum_i w[j][i] x[i] (one fused chain, inputs in order) for all rows, in asm."""
    blocks, tail = divmod(n_in, BLOCK)
    body: list[str] = ["1:", "mov %[xp], %[x0]", "vldmia %[b]!, {s30}"]
    if blocks > UNROLL_BLOCKS:
        body += [f"mov %[k], #{blocks}", "2:", *_asm_block(BLOCK), "subs %[k], %[k], #1", "bne 2b"]
    else:
        for _ in range(blocks):
            body += _asm_block(BLOCK)
    if tail:
        body += _asm_block(tail)
    body += ["vstmia %[y]!, {s30}", "subs %[n], %[n], #1", "bne 1b"]
    asm = "\n".join(f'        "{line}\\n\\t"' for line in body)
    clobbers = ", ".join(f'"s{k}"' for k in range(32))
    signature = "const float *w, const float *b, const float *x, float *y, int n_out"
    return f"""static void __attribute__((noinline)) {p}_rows{n_in}({signature})
{{
    const float *xp;
    int k;
    __asm__ volatile(
{asm}
        : [w] "+r"(w), [b] "+r"(b), [y] "+r"(y), [n] "+r"(n_out), [xp] "=&r"(xp), [k] "=&r"(k)
        : [x0] "r"(x)
        : {clobbers}, "cc", "memory");
    (void)k;
}}
"""


def _dense_fast(p: str, in_sizes: list[int]) -> str:
    kernels = "\n".join(_arm_layer_kernel(p, n) for n in sorted(set(in_sizes)))
    calls = "\n".join(
        f"    {'if' if i == 0 else 'else if'} (n_in == {n}) {p}_rows{n}(w, b, x, y, n_out);"
        for i, n in enumerate(sorted(set(in_sizes)))
    )
    return f"""#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP) && defined(__GNUC__)
/* Cortex-M4F: one vldmia brings {BLOCK} inputs and one {BLOCK} weights, then {BLOCK} vfma.f32 into
   one accumulator, inputs in order: the same fused chain as the portable code below, so both
   round identically (vfma and C99 fmaf are both correctly rounded fused operations). */
{kernels}
static void {p}_dense(const float *w, const float *b, const float *x, float *y, int n_in, int n_out, int act)
{{
    int j;
{calls}
    if (act != 0)
        for (j = 0; j < n_out; ++j) y[j] = {p}_activate(y[j], act);
}}
#else
/* portable: y = act(fma(w[n-1], x[n-1], ... fma(w[0], x[0], b))) */
static void {p}_dense(const float *w, const float *b, const float *x, float *y, int n_in, int n_out, int act)
{{
    int i, j;
    for (j = 0; j < n_out; ++j) {{
        const float *row = w + j * n_in;
        float acc = b[j];
        for (i = 0; i < n_in; ++i) acc = fmaf(row[i], x[i], acc);
        y[j] = {p}_activate(acc, act);
    }}
}}
#endif
"""


def _dense_int8(p: str, max_in: int) -> str:
    return f"""static int8_t {p}_qx[{max_in}];

/* each layer's input quantized to int8 by its largest magnitude, int32 dot products, one float
   rescale per output: the inner loop is integer-only */
static void {p}_dense(const int8_t *w, const float *scale, const float *b, const float *x, float *y,
                      int n_in, int n_out, int act)
{{
    int i, j;
    float amax = 0.0f, inv = 0.0f, xs = 0.0f;
    for (i = 0; i < n_in; ++i) {{
        float a = x[i] < 0.0f ? -x[i] : x[i];
        if (a > amax) amax = a;
    }}
    if (amax > 0.0f) {{
        inv = 127.0f / amax;
        xs = amax / 127.0f;
    }}
    for (i = 0; i < n_in; ++i) {{
        float v = x[i] * inv;
        {p}_qx[i] = (int8_t)(int32_t)(v + (v >= 0.0f ? 0.5f : -0.5f));
    }}
    for (j = 0; j < n_out; ++j) {{
        const int8_t *row = w + j * n_in;
        int32_t acc = 0;
        for (i = 0; i < n_in; ++i) acc += (int32_t)row[i] * (int32_t){p}_qx[i];
        y[j] = {p}_activate((float)acc * (scale[j] * xs) + b[j], act);
    }}
}}
"""


def generate_c(desc: PolicyDescription, mode: str = "reference", name: str = "policy") -> dict[str, str]:
    """{file name: text} for `<name>.h` and `<name>.c`."""
    if mode not in MODES:
        raise RobotRLError(f"export mode {mode!r}: use one of {', '.join(MODES)}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise RobotRLError(f"C name {name!r}: use lower-case letters, digits and _ (e.g. policy)")
    p, P = name, name.upper()
    sizes = desc.sizes
    obs_n, act_n = desc.obs_size, desc.action_size
    # stage 0 (normalised input) and odd layers' outputs in A, even layers' outputs in B
    has_norm = desc.norm_mean is not None
    a_sizes = ([obs_n] if has_norm else []) + [sizes[i + 1] for i in range(1, len(desc.layers), 2)]
    b_sizes = [sizes[i + 1] for i in range(0, len(desc.layers), 2)]
    size_a, size_b = max(a_sizes or [1]), max(b_sizes)
    golden_in = desc.golden_inputs if desc.golden_inputs is not None else np.zeros((1, obs_n), np.float32)
    golden_out = desc.golden_outputs if desc.golden_outputs is not None else np.zeros((1, act_n), np.float32)
    n_golden = int(golden_in.shape[0])

    # -- header ----------------------------------------------------------------------------------
    libm = "link -lm (fmaf) on hosts without an FPU FMA" if mode == "fast" else "no libm needed"
    h = [
        f"/* {name}.h: generated by robot_rl export {EXPORTER_VERSION} from {desc.source or 'a policy'}.",
        "   Do not edit: re-export instead. C99, no malloc, no stdio, float arithmetic only.",
        f"   Build the reference mode with -ffp-contract=off; {libm}. */",
        f"#ifndef {P}_H",
        f"#define {P}_H",
        "",
        "#include <stdint.h>",
        "",
        f'#define {P}_EXPORTER_VERSION "{EXPORTER_VERSION}"',
        f'#define {P}_MODEL_HASH "{desc.model_hash}"',
        f'#define {P}_ROBOT "{desc.robot}"',
        f'#define {P}_TASK "{desc.task}"',
        f'#define {P}_ROBOT_SPEC_HASH "{desc.robot_spec_hash}"',
        f'#define {P}_MODE "{mode}"',
        f"#define {P}_POLICY_HZ {int(desc.policy_hz)}",
        f"#define {P}_OBS_SIZE {obs_n}",
        f"#define {P}_ACTION_SIZE {act_n}",
        f"#define {P}_LAYERS {len(desc.layers)}",
        f"#define {P}_WEIGHT_COUNT {desc.weight_count}",
        "",
        "/* observation layout (offset, size) in the robot spec's units */",
    ]
    offset = 0
    for fname, fsize, unit in desc.obs_fields:
        h.append(f"#define {P}_OBS_{_ident(fname)}_OFFSET {offset} /* {fsize} x {unit or '-'} */")
        h.append(f"#define {P}_OBS_{_ident(fname)}_SIZE {fsize}")
        offset += fsize
    h.append("/* action layout (offset, size): the policy acts in [-1, 1]; see _to_physical */")
    offset = 0
    for fname, fsize, unit in desc.action_fields:
        h.append(f"#define {P}_ACT_{_ident(fname)}_OFFSET {offset} /* {fsize} x {unit or '-'} */")
        h.append(f"#define {P}_ACT_{_ident(fname)}_SIZE {fsize}")
        offset += fsize
    h += [
        "",
        "/* golden vectors: PyTorch inputs and deterministic actions; _selftest() reruns them */",
        f"#define {P}_GOLDEN_COUNT {n_golden}",
        f"#define {P}_GOLDEN_TOLERANCE {hexf(GOLDEN_TOLERANCE[mode])} /* max abs action error */",
        f"#define {P}_GOLDEN_INPUTS \\\n    {{ {_macro_floats(golden_in)} }}",
        f"#define {P}_GOLDEN_OUTPUTS \\\n    {{ {_macro_floats(golden_out)} }}",
        "",
        f"extern const float {p}_golden_inputs[{P}_GOLDEN_COUNT * {P}_OBS_SIZE];",
        f"extern const float {p}_golden_outputs[{P}_GOLDEN_COUNT * {P}_ACTION_SIZE];",
        "",
        "/* One observation (spec layout and units) -> normalized action in [-1, 1]. Not reentrant:",
        "   the activations live in static buffers. */",
        f"void {p}_act(const float obs[{P}_OBS_SIZE], float action[{P}_ACTION_SIZE]);",
        "/* normalized action -> the spec's physical units: low + (a + 1) (high - low) / 2 */",
        f"void {p}_to_physical(const float action[{P}_ACTION_SIZE], float physical[{P}_ACTION_SIZE]);",
        "/* runs the golden vectors: 0 when every action is within the tolerance, else -1;",
        "   *max_abs_error (may be null) receives the largest error */",
        f"int {p}_selftest(float *max_abs_error);",
        "",
        f"#endif /* {P}_H */",
        "",
    ]

    # -- source ----------------------------------------------------------------------------------
    c = [
        f"/* {name}.c: generated by robot_rl export {EXPORTER_VERSION} ({mode} mode). Do not edit. */",
        f'#include "{name}.h"',
    ]
    if mode == "fast":
        c.append("#include <math.h> /* fmaf: one instruction on FPUs with FMA */")
    c += [
        "",
        '_Static_assert(sizeof(float) == 4, "IEEE-754 single precision float required");',
        f"_Static_assert({P}_OBS_SIZE == {obs_n} && {P}_ACTION_SIZE == {act_n}, "
        '"header and source disagree");',
        "",
        f"const float {p}_golden_inputs[{P}_GOLDEN_COUNT * {P}_OBS_SIZE] = {P}_GOLDEN_INPUTS;",
        f"const float {p}_golden_outputs[{P}_GOLDEN_COUNT * {P}_ACTION_SIZE] = {P}_GOLDEN_OUTPUTS;",
        f"_Static_assert(sizeof({p}_golden_inputs) == sizeof(float) * {n_golden * obs_n}, "
        '"golden inputs size");',
        f"_Static_assert(sizeof({p}_golden_outputs) == sizeof(float) * {n_golden * act_n}, "
        '"golden outputs size");',
        "",
    ]
    if has_norm:
        c += [
            f"static const float {p}_norm_mean[{obs_n}] = {{\n    {_floats(desc.norm_mean)}}};",
            f"static const float {p}_norm_std[{obs_n}] = {{\n    {_floats(desc.norm_std)}}};",
            "",
        ]
    quant = quantize(desc) if mode == "int8" else None
    for i, layer in enumerate(desc.layers):
        n_out, n_in = layer.weight.shape
        if quant is not None:
            c.append(f"static const int8_t {p}_w{i}[{n_out} * {n_in}] = {{\n    {_ints(quant[i].q)}}};")
            c.append(f"static const float {p}_s{i}[{n_out}] = {{\n    {_floats(quant[i].scale)}}};")
        else:
            c.append(f"static const float {p}_w{i}[{n_out} * {n_in}] = {{\n    {_floats(layer.weight)}}};")
        c.append(f"static const float {p}_b{i}[{n_out}] = {{\n    {_floats(layer.bias)}}};")
        c.append(
            f"_Static_assert(sizeof({p}_w{i}) / sizeof({p}_w{i}[0]) == {n_in} * {n_out}, "
            f'"layer {i} weights");'
        )
        c.append("")
    c += [
        f"static const float {p}_action_scale[{act_n}] = {{ {_floats(desc.action_scale)} }};",
        f"static const float {p}_action_bias[{act_n}] = {{ {_floats(desc.action_bias)} }};",
        "",
        "/* activations: static ping-pong buffers, never on the caller's stack */",
        *([f"static float {p}_buf_a[{size_a}];"] if a_sizes else []),
        f"static float {p}_buf_b[{size_b}];",
        "",
        _tanh_c(p, fast=mode == "fast"),
        _activation_c(p),
    ]
    if mode == "reference":
        c.append(_dense_reference(p))
    elif mode == "fast":
        c.append(_dense_fast(p, [int(layer.weight.shape[1]) for layer in desc.layers]))
    else:
        c.append(_dense_int8(p, max(sizes[:-1])))

    body = [f"void {p}_act(const float obs[{P}_OBS_SIZE], float action[{P}_ACTION_SIZE])", "{"]
    body.append("    int i;")
    if has_norm:
        clip = hexf(desc.norm_clip)
        body += [
            f"    for (i = 0; i < {P}_OBS_SIZE; ++i) {{",
            f"        float v = (obs[i] - {p}_norm_mean[i]) / {p}_norm_std[i];",
            f"        {p}_buf_a[i] = v < -{clip} ? -{clip} : (v > {clip} ? {clip} : v);",
            "    }",
        ]
    src = f"{p}_buf_a" if has_norm else "obs"
    for i, layer in enumerate(desc.layers):
        n_out, n_in = layer.weight.shape
        dst = f"{p}_buf_b" if i % 2 == 0 else f"{p}_buf_a"
        args = f"{p}_w{i}, {p}_s{i}, {p}_b{i}" if mode == "int8" else f"{p}_w{i}, {p}_b{i}"
        body.append(
            f"    {p}_dense({args}, {src}, {dst}, {n_in}, {n_out}, {ACT_CODE[layer.activation]});"
            f" /* {layer.activation} */"
        )
        src = dst
    squash = f"{p}_tanh({src}[i])" if desc.squash else f"{src}[i]"
    body += [f"    for (i = 0; i < {P}_ACTION_SIZE; ++i) action[i] = {squash};", "}", ""]
    c += body
    c += [
        f"void {p}_to_physical(const float action[{P}_ACTION_SIZE], float physical[{P}_ACTION_SIZE])",
        "{",
        "    int i;",
        f"    for (i = 0; i < {P}_ACTION_SIZE; ++i)",
        f"        physical[i] = action[i] * {p}_action_scale[i] + {p}_action_bias[i];",
        "}",
        "",
        f"int {p}_selftest(float *max_abs_error)",
        "{",
        f"    float out[{P}_ACTION_SIZE];",
        "    float worst = 0.0f;",
        "    int g, j;",
        f"    for (g = 0; g < {P}_GOLDEN_COUNT; ++g) {{",
        f"        {p}_act(&{p}_golden_inputs[g * {P}_OBS_SIZE], out);",
        f"        for (j = 0; j < {P}_ACTION_SIZE; ++j) {{",
        f"            float d = out[j] - {p}_golden_outputs[g * {P}_ACTION_SIZE + j];",
        "            if (d < 0.0f) d = -d;",
        "            if (d != d) d = 3.0e38f; /* a NaN fails */",
        "            if (d > worst) worst = d;",
        "        }",
        "    }",
        "    if (max_abs_error) *max_abs_error = worst;",
        f"    return worst <= {P}_GOLDEN_TOLERANCE ? 0 : -1;",
        "}",
        "",
    ]
    return {f"{name}.h": "\n".join(h), f"{name}.c": "\n".join(c)}


def write_c(
    desc: PolicyDescription, out_dir: str | Path, mode: str = "reference", name: str = "policy"
) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, text in generate_c(desc, mode, name).items():
        (out / fname).write_text(text)
        paths.append(out / fname)
    return paths
