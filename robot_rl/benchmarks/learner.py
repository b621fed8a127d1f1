"""`robot-rl bench learner`: learner throughput against Stable-Baselines3 and the machine's peak.

Measured in one process with 1 torch thread, side by side:

- updates/s of our `sac` preset and of Stable-Baselines3 SAC (its real `train(gradient_steps,
  batch_size)`) with the same 256x256 MLPs, batch and observation/action sizes. One update =
  one critic update + one actor update + one temperature update, in both; both sample their
  own filled replay buffer inside the timed loop.
- critic updates/s of our `rlpd` preset (10 LayerNorm critics, UTD 20, one actor update per block).
- the per-critic cost of the ensemble: (time per 10-critic update / 10) / (time per 2-critic
  update / 2), both with the `rlpd` recipe (LayerNorm, UTD 20).
- what pixels cost: critic updates/s of the `rlpd` recipe with one 128x128 camera and the default
  camera encoder (DrQ-style convs, random-shift augmentation) at batch 256, timed in UTD blocks
  of 2 (a pixel critic update takes about a second on one core; the actor update reuses the
  features the critic loss computed, so it is well under 1% of a block either way).
- the machine's peak matmul FLOP/s at 1 thread (median of timed square float32 matmuls, the
  best size wins) and the fraction of it each learner reaches.

The shared machine is noisy, so every repeat runs all learners one after another (interleaved)
and the figures are medians over repeats; the ratios (ours/SB3, fraction of peak) are taken per
repeat before the median. Learners compared with each other (ours and SB3; 10 and 2 critics)
take turns in up to 4 sub-chunks each, in ABBA order, so both see the same load from whatever
else runs on the machine.

FLOP count of one update (matmuls only, what the maths needs; LayerNorm, activations, Adam and
the target Polyak step are elementwise and left out). A linear layer in->out on a batch of B
costs 2*B*in*out per pass:

- trained network (forward + weight gradient + input gradient): 6*B*in*out per layer, except
  the first layer, whose input needs no gradient: 4*B*in*out.
- forward only (target actor on s', target critics): 2*B*in*out per layer.
- critics inside the actor loss (forward + input gradient, weights frozen): 4*B*in*out per
  layer; the first layer's input gradient counts only the action columns.

Critic update = target actor forward + K target critics forward (K = the random subset the
min is taken over: 2 for RLPD and SAC) + E critics trained. With a camera, add the encoder
trained on the observations and run forward on the next observations (a 3x3 convolution
counts 2*9*in*out per output pixel, like a linear layer; its backward like a linear layer's).
Actor update = actor trained + E critics forward with input gradient. Stable-Baselines3 also
computes critic weight gradients in its actor loss and throws them away; that work is not
counted, so both learners are held to the same useful FLOPs.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

from robot_rl.benchmarks.machine import machine_info

#: goals from the learner issue
GOALS = {"speedup_vs_sb3": 1.5, "peak_fraction": 0.7, "per_critic_cost_ratio": 1.2}


# -- FLOP count ------------------------------------------------------------------------------------
def _layers(inputs: int, hidden: tuple[int, ...], outputs: int) -> list[tuple[int, int]]:
    sizes = [inputs, *hidden, outputs]
    return list(itertools.pairwise(sizes))


def update_flops(
    obs_size: int,
    action_size: int,
    hidden: tuple[int, ...],
    critics: int,
    batch: int,
    target_critics: int | None = None,
) -> dict[str, float]:
    """Matmul FLOPs of one critic update and of one actor update (see the module docstring).

    `target_critics`: target critics the backup needs (RLPD's random subset of 2), default all.
    """
    target_critics = critics if target_critics is None else target_critics
    critic = _layers(obs_size + action_size, hidden, 1)
    # the actor's two heads (mean, log-std) are one layer of width 2|A|
    actor = _layers(obs_size, hidden, 2 * action_size)

    def forward(layers):
        return sum(2 * batch * i * o for i, o in layers)

    def trained(layers):
        (i0, o0), rest = layers[0], layers[1:]
        return 4 * batch * i0 * o0 + sum(6 * batch * i * o for i, o in rest)

    def input_grad(layers, first_inputs):
        (_, o0), rest = layers[0], layers[1:]
        return 2 * batch * first_inputs * o0 + sum(2 * batch * i * o for i, o in rest)

    critic_update = forward(actor) + target_critics * forward(critic) + critics * trained(critic)
    actor_update = trained(actor) + critics * (forward(critic) + input_grad(critic, action_size))
    return {"critic_update": float(critic_update), "actor_update": float(actor_update)}


def encoder_flops(
    height: int,
    width: int,
    channels: tuple[int, ...],
    strides: tuple[int, ...],
    features: int,
    batch: int,
) -> dict[str, float | int]:
    """Matmul FLOPs of one camera encoder (3x3 valid convolutions, then a linear layer to
    `features`) on a batch: `forward` only, and `trained` (forward + weight gradient + input
    gradient, except the first convolution, whose input is the image); `flat`: the size of the
    last feature map, which the linear layer reads."""
    forward = trained = 0
    h, w, c_in = height, width, 3
    for i, (c_out, stride) in enumerate(zip(channels, strides, strict=True)):
        h, w = (h - 3) // stride + 1, (w - 3) // stride + 1
        conv = 2 * batch * h * w * c_out * c_in * 9
        forward += conv
        trained += conv * (2 if i == 0 else 3)
        c_in = c_out
    head = 2 * batch * h * w * c_in * features
    return {"forward": float(forward + head), "trained": float(trained + 3 * head), "flat": h * w * c_in}


# -- the machine's peak ----------------------------------------------------------------------------
def peak_matmul_flops(sizes: tuple[int, ...] = (512, 1024), repeats: int = 7) -> dict[str, float]:
    """FLOP/s of square float32 matmuls at the current thread count: median per size, best size."""
    import torch

    best = {"flops": 0.0, "size": 0}
    for n in sizes:
        a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        torch.mm(a, b, out=out)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            times.append(time.perf_counter() - start)
        flops = 2.0 * n**3 / statistics.median(times)
        if flops > best["flops"]:
            best = {"flops": flops, "size": n}
    return best


# -- the learners ----------------------------------------------------------------------------------
def _ours(
    preset_name: str,
    obs_shapes: int | dict[str, tuple[int, ...]],
    action_size: int,
    batch: int,
    fill: int,
    seed: int,
    **overrides,
):
    """A callable running n update blocks (sampling included) and the config."""
    import torch

    from robot_rl.agents.replay import ReplayBuffer, sample_block
    from robot_rl.agents.sac import SAC, preset

    torch.manual_seed(seed)
    config = preset(preset_name, batch_size=batch, **overrides)
    agent = SAC(obs_shapes, action_size, config)
    buf = ReplayBuffer(fill, obs_shapes, action_size)
    # one long episode of random transitions (random frames for cameras), written straight into the storage
    for store in buf.obs.values():
        if store.dtype == torch.uint8:
            store[:] = torch.randint(0, 256, store.shape, dtype=torch.uint8)
        else:
            store[:] = torch.randn(store.shape)
    buf.action[:] = torch.rand(fill, action_size) * 2 - 1
    buf.reward[:] = torch.randn(fill)
    buf.terminated[:] = (torch.rand(fill) < 0.01).float()
    buf.valid[:-1] = True
    buf.size = buf.added = fill - 1
    buf.high_water = fill
    generator = torch.Generator().manual_seed(seed)

    def blocks(n: int) -> None:
        for _ in range(n):
            agent.update(sample_block(buf, None, config.utd, batch, generator=generator))

    return blocks, config


def _sb3(obs_size: int, action_size: int, batch: int, fill: int, seed: int, hidden: tuple[int, ...]):
    """SB3 SAC on a Box env of the same sizes, its buffer filled with random transitions."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.logger import Logger

    class BoxEnv(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_size,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (action_size,), np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(obs_size, np.float32), {}

        def step(self, action):
            return np.zeros(obs_size, np.float32), 0.0, False, False, {}

    model = SB3SAC(
        "MlpPolicy",
        BoxEnv(),
        buffer_size=fill,
        batch_size=batch,
        learning_starts=0,
        policy_kwargs={"net_arch": list(hidden)},
        device="cpu",
        seed=seed,
    )
    model.set_logger(Logger(folder=None, output_formats=[]))
    rng = np.random.default_rng(seed)
    rb = model.replay_buffer
    rb.observations[:] = rng.standard_normal(rb.observations.shape, dtype=np.float32)
    rb.next_observations[:] = rng.standard_normal(rb.next_observations.shape, dtype=np.float32)
    rb.actions[:] = rng.uniform(-1, 1, rb.actions.shape).astype(np.float32)
    rb.rewards[:] = rng.standard_normal(rb.rewards.shape, dtype=np.float32)
    rb.dones[:] = (rng.random(rb.dones.shape) < 0.01).astype(np.float32)
    rb.full, rb.pos = True, 0

    def steps(n: int) -> None:
        model.train(gradient_steps=n, batch_size=batch)

    return steps


#: learners timed in alternation because their ratio is a headline figure
_PAIRED = (("sb3_sac", "sac"), ("rlpd", "rlpd_2critics"), ("rlpd_pixels",))


def _split(count: int, parts: int) -> list[int]:
    """`count` as up to `parts` near-equal positive chunks."""
    parts = min(count, parts)
    return [count // parts + (i < count % parts) for i in range(parts)]


def _timed(fn, count: int) -> float:
    start = time.perf_counter()
    fn(count)
    return time.perf_counter() - start


def run(
    quick: bool = False,
    obs_size: int = 17,
    action_size: int = 4,
    batch_size: int = 256,
    hidden: tuple[int, ...] = (256, 256),
    updates: int = 200,
    rlpd_blocks: int = 6,
    repeats: int = 5,
    fill: int = 50_000,
    seed: int = 0,
    progress: bool = True,
    pixels: bool = True,
    camera: int = 128,
    pixel_batch: int = 256,
    pixel_utd: int = 2,
    pixel_fill: int = 1000,
) -> dict[str, Any]:
    """Benchmark the learners; `quick` shrinks every count to a smoke test (figures meaningless).

    `updates`: SAC gradient steps per timed chunk (ours and SB3); `rlpd_blocks`: UTD blocks
    per timed chunk for the 10- and 2-critic RLPD learners. `pixels`: also time the `rlpd`
    recipe with one `camera`x`camera` camera at `pixel_batch`, one block of `pixel_utd` critic
    updates per chunk, from a buffer of `pixel_fill` random frames.
    """
    from tqdm import tqdm

    from robot_rl.runtime import configure_torch

    torch = configure_torch(1)
    if quick:
        updates, rlpd_blocks, repeats, fill = 3, 1, 1, 1000
        pixel_batch, pixel_utd, pixel_fill = 8, 2, 50
    hidden = tuple(hidden)
    sac_step, sac_cfg = _ours("sac", obs_size, action_size, batch_size, fill, seed, hidden=hidden)
    sb3_step = _sb3(obs_size, action_size, batch_size, fill, seed, hidden)
    torch.set_num_threads(1)  # in case SB3 changed it
    rlpd10, rlpd_cfg = _ours("rlpd", obs_size, action_size, batch_size, fill, seed, hidden=hidden)
    rlpd2, _ = _ours("rlpd", obs_size, action_size, batch_size, fill, seed, hidden=hidden, num_critics=2)
    utd = rlpd_cfg.utd
    # name -> (callable, chunk count, critic updates per call)
    learners = {
        "sb3_sac": (sb3_step, updates, 1),
        "sac": (sac_step, updates, sac_cfg.utd),
        "rlpd": (rlpd10, rlpd_blocks, utd),
        "rlpd_2critics": (rlpd2, rlpd_blocks, utd),
    }
    pixel_shapes = {"state": (obs_size,), "front": (camera, camera, 3)}
    if pixels:
        rlpd_px, px_cfg = _ours(
            "rlpd", pixel_shapes, action_size, pixel_batch, pixel_fill, seed, hidden=hidden, utd=pixel_utd
        )
        learners["rlpd_pixels"] = (rlpd_px, 1, pixel_utd)
    for fn, _, _ in learners.values():  # warm-up: allocator, optimizer state, first-call costs
        fn(1)

    rates: dict[str, list[float]] = {name: [] for name in learners}
    peaks: list[float] = []
    peak_size = 0
    sizes = (256,) if quick else (512, 1024)
    for _ in tqdm(range(repeats), desc="bench learner", disable=not progress, leave=False):
        peak = peak_matmul_flops(sizes, repeats=3 if quick else 7)
        peaks.append(peak["flops"])
        peak_size = peak["size"]
        for group in _PAIRED:
            group = [name for name in group if name in learners]
            if not group:
                continue
            count = learners[group[0]][1]
            elapsed = dict.fromkeys(group, 0.0)
            for i, part in enumerate(_split(count, 4)):
                for name in group if i % 2 == 0 else reversed(group):
                    elapsed[name] += _timed(learners[name][0], part)
            for name in group:
                rates[name].append(count * learners[name][2] / elapsed[name])

    sac_flops = update_flops(obs_size, action_size, hidden, sac_cfg.num_critics, batch_size)
    flops_per_update = {
        # utd=1: every critic update comes with an actor update
        "sac": sac_flops["critic_update"] + sac_flops["actor_update"],
        "sb3_sac": sac_flops["critic_update"] + sac_flops["actor_update"],
    }
    for name, critics in (("rlpd", rlpd_cfg.num_critics), ("rlpd_2critics", 2)):
        f = update_flops(obs_size, action_size, hidden, critics, batch_size, rlpd_cfg.critic_subset)
        # one actor update per block of `utd` critic updates
        flops_per_update[name] = f["critic_update"] + f["actor_update"] / utd
    if pixels:
        enc = encoder_flops(
            camera,
            camera,
            px_cfg.encoder_channels,
            px_cfg.encoder_strides,
            px_cfg.encoder_features,
            pixel_batch,
        )
        features = obs_size + px_cfg.encoder_features
        f = update_flops(features, action_size, hidden, px_cfg.num_critics, pixel_batch, px_cfg.critic_subset)
        # the encoder learns from the critic loss on obs and runs forward on next_obs; the actor
        # update reuses the critic loss's (detached) features
        flops_per_update["rlpd_pixels"] = (
            f["critic_update"] + enc["trained"] + enc["forward"] + f["actor_update"] / pixel_utd
        )

    def med(values: list[float]) -> float:
        return statistics.median(values)

    learner_results = {}
    for name in learners:
        fractions = [r * flops_per_update[name] / p for r, p in zip(rates[name], peaks, strict=True)]
        learner_results[name] = {
            # two decimals below 10/s: a pixel critic update takes about a second
            "critic_updates_per_s": round(med(rates[name]), 1 if med(rates[name]) >= 10 else 2),
            "gflop_per_update": round(flops_per_update[name] / 1e9, 4),
            "gflop_per_s": round(med(rates[name]) * flops_per_update[name] / 1e9, 1),
            "peak_fraction": round(med(fractions), 3),
        }
    speedup = med([a / b for a, b in zip(rates["sac"], rates["sb3_sac"], strict=True)])
    # time per critic update / critics = 1 / (rate * critics)
    per_critic = med(
        [
            (1 / (r10 * 10)) / (1 / (r2 * 2))
            for r10, r2 in zip(rates["rlpd"], rates["rlpd_2critics"], strict=True)
        ]
    )
    figures = {
        "sac_speedup_vs_sb3": round(speedup, 2),
        "per_critic_cost_ratio_10_vs_2": round(per_critic, 3),
        "sac_peak_fraction": learner_results["sac"]["peak_fraction"],
        "rlpd_peak_fraction": learner_results["rlpd"]["peak_fraction"],
    }
    return {
        "benchmark": "learner",
        "machine": machine_info(),
        "settings": {
            "quick": quick,
            "obs_size": obs_size,
            "action_size": action_size,
            "batch_size": batch_size,
            "hidden": list(hidden),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "sac_updates_per_chunk": updates,
            "rlpd_blocks_per_chunk": rlpd_blocks,
            "rlpd_utd": utd,
            "repeats": repeats,
            "replay_fill": fill,
            "timing": "median over interleaved repeats; sampling from the replay buffer included",
            "pixels": {
                "camera": [camera, camera],
                "batch_size": pixel_batch,
                "utd_block": pixel_utd,
                "replay_frames": pixel_fill,
                "encoder_channels": list(px_cfg.encoder_channels),
                "encoder_strides": list(px_cfg.encoder_strides),
                "encoder_features": px_cfg.encoder_features,
            }
            if pixels
            else None,
        },
        "peak_matmul": {
            "gflop_per_s": round(med(peaks) / 1e9, 1),
            "best_size": peak_size,
            "per_repeat_gflop_per_s": [round(p / 1e9, 1) for p in peaks],
        },
        "learners": learner_results,
        "figures": figures,
        "goals": GOALS,
        "meets_goals": {
            "speedup_vs_sb3": speedup >= GOALS["speedup_vs_sb3"],
            "peak_fraction": min(figures["sac_peak_fraction"], figures["rlpd_peak_fraction"])
            >= GOALS["peak_fraction"],
            "per_critic_cost_ratio": per_critic <= GOALS["per_critic_cost_ratio"],
        },
    }


def table(result: dict[str, Any]) -> str:
    peak = result["peak_matmul"]
    lines = [
        f"peak matmul (1 thread, {peak['best_size']}^2 float32): {peak['gflop_per_s']} GFLOP/s",
        f"{'learner':<16}{'critic upd/s':>14}{'GFLOP/upd':>11}{'GFLOP/s':>9}{'of peak':>9}",
    ]
    for name, r in result["learners"].items():
        lines.append(
            f"{name:<16}{r['critic_updates_per_s']:>14}{r['gflop_per_update']:>11}"
            f"{r['gflop_per_s']:>9}{r['peak_fraction']:>9.1%}"
        )
    f, goals = result["figures"], result["goals"]
    lines.append(f"sac vs SB3: {f['sac_speedup_vs_sb3']}x (goal >= {goals['speedup_vs_sb3']}x)")
    lines.append(
        f"per-critic cost, 10 vs 2 critics: {f['per_critic_cost_ratio_10_vs_2']}x"
        f" (goal <= {goals['per_critic_cost_ratio']}x)"
    )
    lines.append(f"fraction of peak goal: >= {goals['peak_fraction']:.0%} (sac, rlpd)")
    px = result["settings"].get("pixels")
    if px:
        lines.append(
            f"rlpd_pixels: one {px['camera'][0]}x{px['camera'][1]} camera, default encoder,"
            f" batch {px['batch_size']}, timed in UTD blocks of {px['utd_block']}"
        )
    return "\n".join(lines)
