"""Soft actor-critic with the RLPD recipe, one file top to bottom.

Presets carry the published defaults:

- `rlpd` (Ball et al. 2023, "Efficient Online RL with Offline Data"; SERL's learner): 10
  LayerNorm critics, target = min over a random subset of 2, 20 critic updates per env step
  with one actor and one temperature update per block, batches half demonstrations and half
  online data, target entropy -|A|/2.
- `sac` (Haarnoja et al. 2018): 2 critics, one update per env step, target entropy -|A|.
- `droq` (Hiraoka et al. 2022): 2 critics with dropout 0.01 + LayerNorm, 20 updates per step.

`update(block)` takes a whole UTD block at once (tensors shaped (utd, batch, ...)) and returns
a dict of detached tensors: nothing inside the block calls `.item()`, copies to the host,
logs or does I/O.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from robot_rl.agents.encoders import STATE, Obs, ObservationEncoder, random_shift
from robot_rl.agents.networks import EnsembleCritic, TanhGaussianActor
from robot_rl.config import from_dict, param
from robot_rl.errors import ConfigError


@dataclass(kw_only=True)
class SACConfig:
    """Learner hyper-parameters. Defaults are RLPD's; `preset()` gives the others."""

    num_critics: int = param(10, doc="critics in the ensemble (RLPD 10, SAC/DroQ 2)", gt=0)
    critic_subset: int = param(
        2, doc="critics the target takes the min over, sampled per update (RLPD 2)", gt=0
    )
    utd: int = param(20, doc="critic updates per env step (RLPD/DroQ 20, SAC 1)", gt=0)
    batch_size: int = param(256, doc="transitions per critic update", gt=0)
    demo_fraction: float = param(
        0.5, doc="share of each batch from demonstrations (RLPD symmetric: 0.5)", ge=0, le=1
    )
    hidden: tuple[int, ...] = param((256, 256), doc="hidden widths of actor and critics")
    layer_norm: bool = param(True, doc="LayerNorm after each critic hidden layer (RLPD, DroQ)")
    critic_dropout: float = param(0.0, doc="dropout in the critics (DroQ 0.01)", ge=0, lt=1)
    gamma: float = param(0.99, doc="discount per policy step", gt=0, le=1)
    n_step: int = param(
        1,
        doc="rewards summed along the stored episode before bootstrapping (1: one-step TD, the SAC/RLPD "
        "default; 3-5 carry value faster at high policy rates)",
        gt=0,
    )
    tau: float = param(0.005, doc="target-network Polyak rate per critic update", gt=0, le=1)
    lr: float = param(3e-4, doc="Adam learning rate, all networks", gt=0)
    init_temperature: float = param(1.0, doc="initial entropy temperature alpha", gt=0)
    target_entropy_scale: float = param(0.5, doc="target entropy = -scale * |A| (RLPD 0.5, SAC 1)", ge=0)
    backup_entropy: bool = param(
        True, doc="subtract alpha*log pi in the target (switch off for sparse rewards)"
    )
    bc_weight: float = param(
        0.0,
        doc="behaviour-cloning term (squared error) on the demonstration rows of the actor loss, where the "
        "critics rate the demonstrated action above the policy's (Q-filter, Nair et al. 2018); 0: off (RLPD)",
        ge=0,
    )
    bc_q_filter: bool = param(
        True,
        doc="BC only where the critics prefer the demonstrated action (off: on every demonstration row)",
    )
    normalize_state: bool = param(
        True,
        doc="standardise the state vector with statistics fitted on the first data (saved with the agent)",
    )
    encoder_channels: tuple[int, ...] = param((32, 32, 32, 32), doc="conv channels per camera encoder layer")
    encoder_strides: tuple[int, ...] = param((2, 2, 2, 1), doc="conv strides (2,2,2,1: 128 px -> 13x13 maps)")
    encoder_features: int = param(50, doc="features per camera after LayerNorm + tanh (DrQ 50)", gt=0)
    image_shift: int = param(4, doc="random-shift augmentation of camera frames (DrQ 4)", unit="px", ge=0)
    encoder_weights: str | None = param(
        None, doc="local file of pretrained camera-encoder weights (save_camera_weights); None: random init"
    )
    freeze_encoder: bool = param(False, doc="never update the camera encoders (use with encoder_weights)")

    def validate(self, source: str, prefix: str) -> None:
        if self.critic_subset > self.num_critics:
            key = f"{prefix}.critic_subset" if prefix else "critic_subset"
            raise ConfigError(source, key, f"at most num_critics ({self.num_critics})", self.critic_subset)
        if len(self.encoder_channels) != len(self.encoder_strides):
            key = f"{prefix}.encoder_strides" if prefix else "encoder_strides"
            raise ConfigError(
                source, key, f"one stride per encoder channel entry ({len(self.encoder_channels)})",
                list(self.encoder_strides),
            )  # fmt: skip


PRESETS: dict[str, dict[str, Any]] = {
    "rlpd": {},
    "sac": {"num_critics": 2, "utd": 1, "layer_norm": False, "target_entropy_scale": 1.0},
    "droq": {"num_critics": 2, "utd": 20, "critic_dropout": 0.01, "target_entropy_scale": 1.0},
}


def preset(name: str, **overrides: Any) -> SACConfig:
    """A named preset (`rlpd`, `sac`, `droq`) with optional field overrides, checked like a config file."""
    if name not in PRESETS:
        raise ConfigError("", "preset", f"one of: {', '.join(PRESETS)}", name)
    return from_dict(SACConfig, {**PRESETS[name], **overrides}, source=f"preset {name}")


class Batch(NamedTuple):
    """Transitions; in a UTD block every tensor has a leading (utd,) dimension.

    Observations are dicts: "state" (B, D) float32 and one (B, H, W, 3) uint8 tensor per camera.
    """

    obs: Obs
    action: torch.Tensor  # (B, A) in [-1, 1]
    reward: torch.Tensor  # (B,)
    next_obs: Obs
    terminated: torch.Tensor  # (B,) 1.0 where the MDP ended (no bootstrap), else 0.0
    intervention: torch.Tensor | None = None  # (B,) 1.0 where a human took over
    mc_return: torch.Tensor | None = None  # (B,) discounted return to the episode end (Cal-QL)
    # (B,) gamma^m of an m-step row (n-step returns: `reward` is then the discounted m-step sum and
    # next_obs the observation m steps on); None: one-step rows, discounted by the config's gamma
    discount: torch.Tensor | None = None

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """`fn` applied to every tensor, observation dicts included."""
        return Batch(*(_apply(fn, x) for x in self))

    def minibatch(self, i: int) -> Batch:
        """The i-th batch of a UTD block."""
        return self.map(lambda x: x[i])

    @staticmethod
    def concat(first: Batch, second: Batch, dim: int = 1) -> Batch:
        """Rows of `first` then `second` along `dim` (the batch dimension of a block)."""
        return Batch(*(_apply2(lambda a, b: torch.cat([a, b], dim), a, b) for a, b in zip(first, second)))


def _apply(fn: Callable[[torch.Tensor], torch.Tensor], x: Any) -> Any:
    if x is None:
        return None
    return {k: fn(v) for k, v in x.items()} if isinstance(x, dict) else fn(x)


def _apply2(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    return {k: fn(a[k], b[k]) for k in a} if isinstance(a, dict) else fn(a, b)


def as_obs(obs: torch.Tensor | Mapping[str, torch.Tensor]) -> Obs:
    """A bare state tensor is the observation {"state": tensor}."""
    return dict(obs) if isinstance(obs, Mapping) else {STATE: obs}


#: the fused Adam kernel torch.optim.Adam(fused=True) itself calls (torch is pinned in the install)
_FUSED_ADAM = hasattr(torch, "_fused_adam_")


def adam_step(opt: torch.optim.Optimizer) -> None:
    """`opt.step()` of a fused Adam, minus the per-call Python bookkeeping.

    `Optimizer.step` re-walks every parameter's state, regroups the tensors by device and runs
    its hooks on each call: ~0.15 ms, 5% of a `sac` update at batch 256. Once Adam has created
    its state, this runs the same two kernels Adam's fused path runs (step count, fused update)
    on the optimizer's own state tensors, so results, checkpoints and `opt.step()` are unchanged
    (a test holds them bit-identical). Anything else falls back to `opt.step()`.
    """
    groups = []
    for group in opt.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        states = [opt.state[p] for p in params]
        unusual = group["amsgrad"] or group["maximize"] or group["differentiable"]
        plain = group["fused"] and not (unusual or group.get("decoupled_weight_decay", False))
        if not (plain and all(states) and _FUSED_ADAM):
            opt.step()  # first step (creates the state) or a configuration this path does not cover
            return
        groups.append((group, params, states))
    for group, params, states in groups:
        steps = [state["step"] for state in states]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params,
            [p.grad for p in params],
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
        )


class SAC(nn.Module):
    """Actor, critic ensemble, target ensemble, temperature and their optimizers."""

    def __init__(
        self,
        obs_shapes: Mapping[str, Sequence[int]] | int,
        action_size: int,
        config: SACConfig | None = None,
    ):
        super().__init__()
        self.config = config = config or SACConfig()
        if isinstance(obs_shapes, int):
            obs_shapes = {STATE: (obs_shapes,)}
        self.obs_shapes = {k: tuple(int(d) for d in v) for k, v in obs_shapes.items()}
        self.action_size = action_size
        # One encoder shared by actor and critics (DrQ/SERL): the critic loss trains it, the actor
        # sees its features detached. The target critics reuse it without a gradient (DrQ-v2).
        self.encoder = ObservationEncoder(
            self.obs_shapes,
            config.encoder_channels,
            config.encoder_strides,
            config.encoder_features,
            config.normalize_state,
        )
        if config.encoder_weights:
            self.encoder.load_camera_weights(config.encoder_weights)
        if config.freeze_encoder:
            self.encoder.cameras.requires_grad_(False)
        features = self.encoder.feature_size
        self.actor = TanhGaussianActor(features, action_size, config.hidden)
        self.critic = EnsembleCritic(
            features + action_size,
            config.num_critics,
            config.hidden,
            config.layer_norm,
            config.critic_dropout,
        )
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(float(config.init_temperature)).log())
        self.target_entropy = -config.target_entropy_scale * action_size
        # fused: one kernel per parameter for the whole Adam step; the default CPU path runs ~10
        # separate elementwise ops per parameter (same update rule, 2-5x slower on the ensemble).
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr, fused=True)
        trained_encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        self.critic_opt = torch.optim.Adam(
            [*self.critic.parameters(), *trained_encoder], lr=config.lr, fused=True
        )
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=config.lr, fused=True)
        self._critic_params = list(self.critic.parameters())
        self._target_params = list(self.target_critic.parameters())

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor | Mapping[str, torch.Tensor], deterministic: bool = False
    ) -> torch.Tensor:
        """Batched observations (a dict, or a bare state tensor) -> actions (B, A) in [-1, 1]."""
        features = self.encoder(as_obs(obs))
        if deterministic:
            return self.actor.deterministic(features)
        return self.actor.sample(features)[0]

    @torch.no_grad()
    def policy(self, obs: Mapping[str, Any], deterministic: bool = True) -> np.ndarray:
        """One env observation (unbatched dict of arrays, as the twin returns it) -> one action array."""
        batched = {k: torch.as_tensor(np.asarray(obs[k]))[None] for k in self.obs_shapes}
        return self.act(batched, deterministic)[0].numpy()

    @torch.no_grad()
    def fit_normalizer(self, states: torch.Tensor) -> None:
        """Fix the state statistics from early data (demonstrations + warm-up); a no-op once fitted."""
        norm = self.encoder.normalizer
        if norm is not None and not bool(norm.fitted):
            norm.fit(states)

    def augment(self, block: Batch) -> Batch:
        """DrQ random shift on every camera frame of a block (obs and next_obs shifted independently)."""
        if not self.encoder.has_pixels or self.config.image_shift == 0:
            return block
        shift = self.config.image_shift

        def shifted(obs: Obs) -> Obs:
            return {k: random_shift(v, shift) if k in self.encoder.cameras else v for k, v in obs.items()}

        return block._replace(obs=shifted(block.obs), next_obs=shifted(block.next_obs))

    # -- the update, top to bottom ---------------------------------------------------------------
    def critic_loss(
        self, batch: Batch, features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """TD loss of every critic (mean over members); also returns Q and the detached features of obs.

        `features`: the encoder's (grad-carrying) output for batch.obs when the caller already has it.
        """
        cfg = self.config
        alpha = self.log_alpha.detach().exp()
        if features is None:
            features = self.encoder(batch.obs)  # camera encoders learn from the critic loss only
        with torch.no_grad():
            next_features = self.encoder(batch.next_obs)
            next_action, next_log_prob = self.actor.sample(next_features)
            # RLPD: min over a random subset of the target ensemble (REDQ-style) curbs overestimation.
            # Only the subset is evaluated: 2 of 10 target critics is a fifth of the target cost.
            subset = torch.randperm(cfg.num_critics, device=next_action.device)[: cfg.critic_subset]
            members = subset if cfg.critic_subset < cfg.num_critics else None  # min ignores order
            next_q = self.target_critic(next_features, next_action, members).min(0).values
            if cfg.backup_entropy:
                next_q = next_q - alpha * next_log_prob
            discount = cfg.gamma if batch.discount is None else batch.discount
            target = batch.reward + discount * (1.0 - batch.terminated) * next_q
        q = self.critic(features, batch.action)  # (E, B)
        # mse_loss: the squared error and its mean in one kernel, forward and backward
        return F.mse_loss(q, target.expand_as(q)), q.detach(), features.detach()

    def actor_loss(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """On detached encoder features: the actor never moves the encoder (DrQ)."""
        action, log_prob = self.actor.sample(features)
        # The critics are frozen here so the actor loss leaves their gradients untouched.
        for p in self._critic_params:
            p.requires_grad_(False)
        q = self.critic(features, action).mean(0)  # RLPD: mean over the whole ensemble
        for p in self._critic_params:
            p.requires_grad_(True)
        loss = (self.log_alpha.detach().exp() * log_prob - q).mean()
        return loss, log_prob.detach()

    def bc_loss(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Squared error of the policy's deterministic action to the demonstrated one; with the
        Q-filter only on rows where the critics prefer the demonstration."""
        error = (self.actor.deterministic(features) - action).square().sum(-1)
        return (self.bc_keep(features, action) * error).mean()

    def bc_keep(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """1 for the demonstration rows the BC term uses, 0 for the others (Q-filter, Nair et al. 2018)."""
        if not self.config.bc_q_filter:
            return torch.ones_like(action[:, 0])
        with torch.no_grad():
            q_demo = self.critic(features, action).mean(0)
            q_policy = self.critic(features, self.actor.deterministic(features)).mean(0)
            return (q_demo > q_policy).to(action.dtype)

    def temperature_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        return -(self.log_alpha.exp() * (log_prob + self.target_entropy)).mean()

    def update(self, block: Batch, demo_rows: int = 0) -> dict[str, torch.Tensor]:
        """`utd` critic updates on block[0..utd-1], then one actor and one temperature update on the last.

        `demo_rows`: the first rows of each batch that are demonstrations (`replay.demo_rows`); only
        the behaviour-cloning term (`bc_weight`) uses it."""
        block = self.augment(block)
        utd = block.action.shape[0]
        for i in range(utd):
            batch = block.minibatch(i)
            critic_loss, q, features = self.critic_loss(batch)
            self.critic_opt.zero_grad(set_to_none=True)
            critic_loss.backward()
            adam_step(self.critic_opt)
            with torch.no_grad():
                torch._foreach_lerp_(self._target_params, self._critic_params, self.config.tau)

        actor_loss, log_prob = self.actor_loss(features)
        extra = {}
        if self.config.bc_weight > 0 and demo_rows > 0:
            bc = self.bc_loss(features[:demo_rows], batch.action[:demo_rows])
            actor_loss = actor_loss + self.config.bc_weight * bc
            extra["bc_loss"] = bc.detach()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        adam_step(self.actor_opt)

        alpha_loss = self.temperature_loss(log_prob)
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        adam_step(self.alpha_opt)
        return {
            "critic_loss": critic_loss.detach(),
            "q_mean": q.mean(),
            "actor_loss": actor_loss.detach(),
            "entropy": -log_prob.mean(),
            "alpha": self.log_alpha.detach().exp(),
            "alpha_loss": alpha_loss.detach(),
            **extra,
        }

    def update_from(
        self, online: Any, demos: Any, generator: torch.Generator | None = None
    ) -> dict[str, Any]:
        """Sample one (utd, batch_size) block from the replay buffers, demonstrations first
        (`demo_fraction` of each batch, RLPD's symmetric sampling), and `update` on it with those rows
        marked for the BC term. Every trainer (train, learner, practice) updates through this."""
        from robot_rl.agents.replay import demo_rows, sample_block

        cfg = self.config
        block = sample_block(
            online, demos, cfg.utd, cfg.batch_size, cfg.demo_fraction, generator, cfg.n_step, cfg.gamma
        )
        return self.update(block, demo_rows(online, demos, cfg.batch_size, cfg.demo_fraction))

    # -- checkpoints -----------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """Networks, optimizers and temperature: everything needed to continue training."""
        return {
            "config": dataclasses.asdict(self.config),
            "obs_shapes": {k: list(v) for k, v in self.obs_shapes.items()},
            "action_size": self.action_size,
            "model": self.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
        }

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> SAC:
        config = from_dict(SACConfig, state["config"], source="checkpoint")
        # the weights come from the checkpoint, never again from the pretrained-encoder file
        config = dataclasses.replace(config, encoder_weights=None)
        agent = cls(state["obs_shapes"], state["action_size"], config)
        agent.load_state_dict(state["model"])
        agent.actor_opt.load_state_dict(state["actor_opt"])
        agent.critic_opt.load_state_dict(state["critic_opt"])
        agent.alpha_opt.load_state_dict(state["alpha_opt"])
        return agent
