"""The C kernels `c_gen` writes into a policy: tanh (exact or rational), the dense layer of each
mode (sequential reference sums, fused chains with a Cortex-M4F asm kernel, int8 dot products).

Each function returns C source for the prefix `p` (the policy's name); `c_gen.generate_c`
assembles them with the weights and the metadata. See `c_gen`'s docstring for what each mode
guarantees.
"""

from __future__ import annotations

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.export.model import (
    EXPM1_COEFFS,
    LN2_HI,
    LN2_LO,
    LOG2E,
    RATIONAL_TANH_P,
    RATIONAL_TANH_Q,
    TANH_LINEAR,
    TANH_SATURATION,
)


def hexf(value: float) -> str:
    """A float32 as an exact C hex-float literal with the f suffix."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise RobotRLError(f"non-finite value {v} in the policy: the checkpoint is broken; retrain")
    mantissa, exponent = v.hex().split("p")
    return f"{mantissa.rstrip('0').rstrip('.')}p{exponent}f"


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
