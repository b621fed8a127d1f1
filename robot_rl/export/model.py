"""The deterministic policy as plain arrays, and its float32 reference arithmetic.

`PolicyDescription` is what every export target is generated from: state normalisation
((x - mean) / std, clipped), dense layers with their activations, the tanh squash of the mean
head, and the affine map from the normalized action to the robot spec's physical units. It comes
from a checkpoint (`describe_checkpoint`) or from sizes alone (`describe_mlp`, for benchmarks).

`reference_forward` is the C reference mode written in numpy: every product and sum rounded to
float32 in the order the generated C performs them (bias first, then inputs 0..n-1), so the host
C build must match it bit for bit. `tanh_f32` is the tanh both use: only +, -, *, / and an exact
power of two, so it rounds identically on any IEEE-754 single-precision FPU (glibc's and newlib's
tanhf differ in the last bit, which would break host/emulator identity).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import RobotRLError

#: written into every generated header; bump when the generated code's behaviour changes
EXPORTER_VERSION = "1.0"
ACTIVATIONS = ("relu", "tanh", "none")
F32 = np.float32

# tanh_f32 constants: ln2 split so that k * LN2_HI is exact for the k <= 26 used (t < 18)
LOG2E = F32(1.44269504)
LN2_HI = F32(0.693145752)  # 0x1.62e4p-1: 16 significant bits
LN2_LO = F32(1.42860677e-06)
#: expm1(r) on |r| <= ln2/2 by its Taylor series, highest degree first (1/7! .. 1/2!, 1)
EXPM1_COEFFS = tuple(F32(c) for c in (1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0))
#: |x| at and beyond which tanh(x) rounds to +-1 in float32
TANH_SATURATION = F32(9.0)
#: |x| below which tanh(x) == x in float32 (the cubic term is under half an ulp)
TANH_LINEAR = F32(2.0**-12)
#: fast mode: tanh(x) ~= x P(x^2) / Q(x^2) on |x| <= 9 (x clamped there), lowest degree first.
#: Fitted for this project by Sanathanan-Koerner iterations plus Lawson reweighting on [0, 9]
#: (float64 fit error 6e-9); evaluated in float32 with fused multiply-adds the measured error is
#: under 3.5e-7 (tests/test_export.py checks the bound on a dense grid).
RATIONAL_TANH_P = tuple(
    float.fromhex(h)
    for h in (
        "0x1.fffffep-1",
        "0x1.0bdc7ap-3",
        "0x1.962588p-9",
        "0x1.7483c6p-17",
        "-0x1.581a98p-26",
        "0x1.c8c038p-35",
        "-0x1.75674ap-44",
    )
)
RATIONAL_TANH_Q = tuple(
    float.fromhex(h) for h in ("0x1p+0", "0x1.db438ap-2", "0x1.90fa5ep-6", "0x1.0a30fcp-12")
)
#: measured bound of the fast-mode tanh (max |error| vs exact tanh over float32 inputs)
RATIONAL_TANH_MAX_ERROR = 3.5e-7


@dataclass
class Layer:
    """y = activation(W x + b) with W (out, in), row-major."""

    weight: np.ndarray
    bias: np.ndarray
    activation: str

    def __post_init__(self) -> None:
        self.weight = np.ascontiguousarray(self.weight, dtype=F32)
        self.bias = np.ascontiguousarray(self.bias, dtype=F32).reshape(-1)
        if self.activation not in ACTIVATIONS:
            raise RobotRLError(f"layer activation {self.activation!r}: use one of {', '.join(ACTIVATIONS)}")
        if self.weight.ndim != 2 or self.weight.shape[0] != self.bias.shape[0]:
            raise RobotRLError(f"layer weight {self.weight.shape} and bias {self.bias.shape} do not match")


@dataclass
class PolicyDescription:
    """Everything the generated code computes, and where it came from."""

    layers: list[Layer]
    norm_mean: np.ndarray | None = None
    norm_std: np.ndarray | None = None
    norm_clip: float = 10.0
    squash: bool = True
    action_scale: np.ndarray | None = None
    action_bias: np.ndarray | None = None
    #: (name, size, unit) of each observation / action slice, in order
    obs_fields: list[tuple[str, int, str]] = field(default_factory=list)
    action_fields: list[tuple[str, int, str]] = field(default_factory=list)
    robot: str = ""
    task: str = ""
    robot_spec_hash: str = ""
    policy_hz: int = 0
    source: str = ""
    #: PyTorch inputs and deterministic actions in [-1, 1] (G, obs) and (G, action)
    golden_inputs: np.ndarray | None = None
    golden_outputs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.norm_mean is not None:
            self.norm_mean = np.asarray(self.norm_mean, dtype=F32)
            self.norm_std = np.asarray(self.norm_std, dtype=F32)
        n = self.action_size
        self.action_scale = (
            np.ones(n, F32) if self.action_scale is None else np.asarray(self.action_scale, F32)
        )
        self.action_bias = np.zeros(n, F32) if self.action_bias is None else np.asarray(self.action_bias, F32)
        if not self.obs_fields:
            self.obs_fields = [("obs", self.obs_size, "")]
        if not self.action_fields:
            self.action_fields = [("action", n, "1")]
        for prev, nxt in zip(self.layers, self.layers[1:]):
            if prev.weight.shape[0] != nxt.weight.shape[1]:
                raise RobotRLError(f"layer sizes do not chain: {prev.weight.shape} then {nxt.weight.shape}")

    @property
    def obs_size(self) -> int:
        return int(self.layers[0].weight.shape[1])

    @property
    def action_size(self) -> int:
        return int(self.layers[-1].weight.shape[0])

    @property
    def sizes(self) -> list[int]:
        return [self.obs_size] + [int(layer.weight.shape[0]) for layer in self.layers]

    @property
    def weight_count(self) -> int:
        return sum(layer.weight.size + layer.bias.size for layer in self.layers)

    @property
    def model_hash(self) -> str:
        """sha256 over every number the policy computes with (16 hex digits)."""
        h = hashlib.sha256()
        for arr in self._arrays():
            h.update(np.ascontiguousarray(arr, dtype=F32).tobytes())
        h.update(repr((self.norm_clip, self.squash, [layer.activation for layer in self.layers])).encode())
        return h.hexdigest()[:16]

    def _arrays(self) -> list[np.ndarray]:
        out = [] if self.norm_mean is None else [self.norm_mean, self.norm_std]
        for layer in self.layers:
            out += [layer.weight, layer.bias]
        return [*out, self.action_scale, self.action_bias]

    def to_physical(self, action: np.ndarray) -> np.ndarray:
        return (np.asarray(action, F32) * self.action_scale + self.action_bias).astype(F32)


# -- construction --------------------------------------------------------------------------------
def _fields(fields: list[Any]) -> list[tuple[str, int, str]]:
    return [(f.name, int(f.size), f.unit) for f in fields]


def _task_fields(spec: Any, task: str) -> list[Any]:
    """The task's appended observation fields (the spec's `tasks`); [] if unknown."""
    return list(spec.tasks[task].observation) if task in spec.tasks else []


def describe_checkpoint(
    checkpoint: str | Path, golden: int = 8, seed: int = 0
) -> tuple[PolicyDescription, Any]:
    """The deterministic policy of a checkpoint (file or run directory) and its agent.

    Golden inputs are drawn around the state normaliser's statistics (so they exercise the
    range the policy saw in training, including clipped values) and run through PyTorch.
    """
    from robot_rl.run_config import load_checkpoint
    from robot_rl.spec import load_robot_spec

    config, agent = load_checkpoint(checkpoint)
    if set(agent.obs_shapes) != {"state"}:
        raise RobotRLError(
            f"{checkpoint} is a pixel policy (cameras {sorted(set(agent.obs_shapes) - {'state'})}): "
            "only state-vector policies export to C; retrain without cameras"
        )
    spec = load_robot_spec(config.robot)
    desc = describe_agent(agent, spec, task=config.task, golden=golden, seed=seed)
    desc.source = str(checkpoint)
    return desc, agent


def describe_agent(
    agent: Any, spec: Any = None, task: str = "", golden: int = 8, seed: int = 0
) -> PolicyDescription:
    """A description of `agent`'s deterministic policy (a SAC from robot_rl.agents)."""
    import torch

    linears = [m for m in agent.actor.trunk if isinstance(m, torch.nn.Linear)]
    layers = [Layer(m.weight.detach().numpy(), m.bias.detach().numpy(), "relu") for m in linears]
    head = agent.actor.mean
    layers.append(Layer(head.weight.detach().numpy(), head.bias.detach().numpy(), "none"))
    norm = agent.encoder.normalizer
    mean = std = None
    clip = 10.0
    if norm is not None:
        mean, std, clip = norm.mean.detach().numpy(), norm.std.detach().numpy(), float(norm.clip)
    kwargs: dict[str, Any] = {}
    if spec is not None:
        obs_fields = _fields(spec.observation)
        extra = layers[0].weight.shape[1] - sum(f[1] for f in obs_fields)
        if extra > 0:
            task_fields = _fields(_task_fields(spec, task))
            if sum(f[1] for f in task_fields) != extra:
                task_fields = [("task", extra, "")]
            obs_fields += task_fields
        scale, bias = [], []
        for f in spec.action:
            lo = f.low if f.low is not None else [-1.0] * f.size
            hi = f.high if f.high is not None else [1.0] * f.size
            scale += [(h - lo_) / 2.0 for lo_, h in zip(lo, hi)]
            bias += [(h + lo_) / 2.0 for lo_, h in zip(lo, hi)]
        if len(scale) == layers[-1].weight.shape[0]:
            kwargs.update(action_scale=scale, action_bias=bias, action_fields=_fields(spec.action))
        if sum(f[1] for f in obs_fields) == layers[0].weight.shape[1]:
            kwargs["obs_fields"] = obs_fields
        kwargs.update(robot=spec.name, robot_spec_hash=spec.hash, policy_hz=spec.rates.policy_hz)
    desc = PolicyDescription(layers, mean, std, clip, squash=True, task=task, **kwargs)
    inputs = golden_inputs(desc, golden, seed)
    with torch.no_grad():
        outputs = agent.act({"state": torch.from_numpy(inputs)}, deterministic=True).numpy()
    desc.golden_inputs, desc.golden_outputs = inputs, outputs.astype(F32)
    return desc


def describe_mlp(
    sizes: list[int], activation: str = "tanh", seed: int = 0, golden: int = 8, normalize: bool = True
) -> PolicyDescription:
    """A synthetic policy with PyTorch-initialised layers, e.g. sizes [146, 64, 64, 4] (benchmarks).

    Hidden layers use `activation`, the output layer none, then the tanh squash; golden outputs
    come from the same network in PyTorch.
    """
    import torch

    if activation not in ("tanh", "relu"):
        raise RobotRLError(f"activation {activation!r}: use tanh or relu")
    gen = torch.Generator().manual_seed(seed)
    torch_layers: list[torch.nn.Module] = []
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        lin = torch.nn.Linear(n_in, n_out)
        bound = 1.0 / np.sqrt(n_in)
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.uniform_(-bound, bound, generator=gen)
        last = i == len(sizes) - 2
        act = "none" if last else activation
        layers.append(Layer(lin.weight.detach().numpy(), lin.bias.detach().numpy(), act))
        torch_layers.append(lin)
        if not last:
            torch_layers.append(torch.nn.Tanh() if activation == "tanh" else torch.nn.ReLU())
    rng = np.random.default_rng(seed)
    mean = std = None
    if normalize:
        mean = rng.normal(0.0, 1.0, sizes[0]).astype(F32)
        std = rng.uniform(0.5, 2.0, sizes[0]).astype(F32)
    desc = PolicyDescription(
        layers, mean, std, 10.0, squash=True, robot="synthetic", task=f"mlp-{activation}"
    )
    net = torch.nn.Sequential(*torch_layers)
    desc.golden_inputs = golden_inputs(desc, golden, seed)
    desc.golden_outputs = torch_forward(desc, desc.golden_inputs, net)
    desc.source = "-".join(str(s) for s in sizes) + f" {activation}"
    desc._torch_net = net  # type: ignore[attr-defined]  # kept for error measurements
    return desc


def torch_forward(desc: PolicyDescription, obs: np.ndarray, net: Any = None) -> np.ndarray:
    """The policy in PyTorch fp32 (normalise, clip, network, tanh): the accuracy yardstick."""
    import torch

    if net is None:
        net = getattr(desc, "_torch_net", None)
    x = torch.from_numpy(np.asarray(obs, F32))
    with torch.no_grad():
        if desc.norm_mean is not None:
            x = ((x - torch.from_numpy(desc.norm_mean)) / torch.from_numpy(desc.norm_std)).clamp(
                -desc.norm_clip, desc.norm_clip
            )
        if net is None:
            for layer in desc.layers:
                x = torch.nn.functional.linear(
                    x, torch.from_numpy(layer.weight), torch.from_numpy(layer.bias)
                )
                x = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda v: v}[layer.activation](x)
        else:
            x = net(x)
        if desc.squash:
            x = torch.tanh(x)
    return x.numpy().astype(F32)


def golden_inputs(desc: PolicyDescription, count: int, seed: int = 0) -> np.ndarray:
    """Observations around the normaliser's statistics, 1.5 std wide (a few get clipped)."""
    rng = np.random.default_rng(seed + 12345)
    if desc.norm_mean is None:
        return rng.normal(0.0, 1.0, (count, desc.obs_size)).astype(F32)
    z = rng.normal(0.0, 1.5, (count, desc.obs_size))
    return (desc.norm_mean + z * desc.norm_std).astype(F32)


# -- float32 reference arithmetic ----------------------------------------------------------------
def tanh_f32(x: np.ndarray) -> np.ndarray:
    """The generated C's tanh, operation for operation in float32 (see module docstring)."""
    x = np.asarray(x, F32)
    a = np.abs(x)
    t = np.minimum(a, TANH_SATURATION) * F32(2.0)
    k = (t * LOG2E + F32(0.5)).astype(np.int32)  # t >= 0: truncation rounds to nearest
    kf = k.astype(F32)
    r = (t - kf * LN2_HI) - kf * LN2_LO
    q = EXPM1_COEFFS[0]
    for c in EXPM1_COEFFS[1:]:
        q = q * r + c
    q = q * r
    s = np.ldexp(F32(1.0), k).astype(F32)
    em1 = s * q + (s - F32(1.0))
    y = em1 / (em1 + F32(2.0))
    y = np.where(a >= TANH_SATURATION, F32(1.0), y)
    y = np.where(a < TANH_LINEAR, a, y)
    return np.where(x < 0, -y, y).astype(F32)


def _activate(v: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.where(v > 0, v, F32(0.0)).astype(F32)
    if activation == "tanh":
        return tanh_f32(v)
    return v


def normalize_f32(desc: PolicyDescription, obs: np.ndarray) -> np.ndarray:
    x = np.asarray(obs, F32)
    if desc.norm_mean is None:
        return x
    clip = F32(desc.norm_clip)
    return np.clip((x - desc.norm_mean) / desc.norm_std, -clip, clip).astype(F32)


def reference_forward(desc: PolicyDescription, obs: np.ndarray) -> np.ndarray:
    """(N, obs) -> (N, action) exactly as the C reference mode: bias, then inputs in order."""
    x = normalize_f32(desc, np.atleast_2d(obs))
    for layer in desc.layers:
        acc = np.broadcast_to(layer.bias, (x.shape[0], layer.bias.shape[0])).copy()
        for i in range(layer.weight.shape[1]):
            acc = (acc + layer.weight[:, i] * x[:, i : i + 1]).astype(F32)
        x = _activate(acc, layer.activation)
    return tanh_f32(x) if desc.squash else x


# -- int8 ----------------------------------------------------------------------------------------
@dataclass
class QuantizedLayer:
    """Per-row symmetric int8 weights: W ~= q * scale[row]."""

    q: np.ndarray
    scale: np.ndarray


def quantize(desc: PolicyDescription) -> list[QuantizedLayer]:
    out = []
    for layer in desc.layers:
        amax = np.abs(layer.weight).max(axis=1)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(F32)
        q = np.clip(np.rint(layer.weight / scale[:, None]), -127, 127).astype(np.int8)
        out.append(QuantizedLayer(q, scale))
    return out


def int8_forward(desc: PolicyDescription, obs: np.ndarray) -> np.ndarray:
    """The C int8 mode, operation for operation: each layer's input quantized to int8 by its
    largest magnitude (round half away from zero), int32 dot products with the int8 rows, then
    one float rescale per output."""
    x = normalize_f32(desc, np.atleast_2d(obs))
    for layer, ql in zip(desc.layers, quantize(desc)):
        amax = np.abs(x).max(axis=1, keepdims=True).astype(F32)
        live = amax > 0
        safe = np.where(live, amax, F32(1.0))
        inv = np.where(live, F32(127.0) / safe, F32(0.0)).astype(F32)
        xs = np.where(live, safe / F32(127.0), F32(0.0)).astype(F32)
        v = (x * inv).astype(F32)
        qx = np.trunc(v + np.where(v >= 0, F32(0.5), F32(-0.5)).astype(F32)).astype(np.int32)
        acc = qx @ ql.q.astype(np.int32).T
        v = (acc.astype(F32) * (ql.scale[None, :] * xs).astype(F32) + layer.bias).astype(F32)
        x = _activate(v, layer.activation)
    return tanh_f32(x) if desc.squash else x
