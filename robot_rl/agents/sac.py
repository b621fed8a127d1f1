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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

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
    tau: float = param(0.005, doc="target-network Polyak rate per critic update", gt=0, le=1)
    lr: float = param(3e-4, doc="Adam learning rate, all networks", gt=0)
    init_temperature: float = param(1.0, doc="initial entropy temperature alpha", gt=0)
    target_entropy_scale: float = param(0.5, doc="target entropy = -scale * |A| (RLPD 0.5, SAC 1)", ge=0)
    backup_entropy: bool = param(
        True, doc="subtract alpha*log pi in the target (switch off for sparse rewards)"
    )

    def validate(self, source: str, prefix: str) -> None:
        if self.critic_subset > self.num_critics:
            key = f"{prefix}.critic_subset" if prefix else "critic_subset"
            raise ConfigError(source, key, f"at most num_critics ({self.num_critics})", self.critic_subset)


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
    """Transitions; in a UTD block every field has a leading (utd,) dimension."""

    obs: torch.Tensor  # (B, D) float32
    action: torch.Tensor  # (B, A) in [-1, 1]
    reward: torch.Tensor  # (B,)
    next_obs: torch.Tensor  # (B, D)
    terminated: torch.Tensor  # (B,) 1.0 where the MDP ended (no bootstrap), else 0.0

    def minibatch(self, i: int) -> Batch:
        """The i-th batch of a UTD block."""
        return Batch(*(x[i] for x in self))


class SAC(nn.Module):
    """Actor, critic ensemble, target ensemble, temperature and their optimizers."""

    def __init__(self, obs_size: int, action_size: int, config: SACConfig | None = None):
        super().__init__()
        self.config = config = config or SACConfig()
        self.obs_size, self.action_size = obs_size, action_size
        self.actor = TanhGaussianActor(obs_size, action_size, config.hidden)
        self.critic = EnsembleCritic(
            obs_size + action_size,
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
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.lr, fused=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=config.lr, fused=True)
        self._critic_params = list(self.critic.parameters())
        self._target_params = list(self.target_critic.parameters())

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        if deterministic:
            return self.actor.deterministic(obs)
        return self.actor.sample(obs)[0]

    @torch.no_grad()
    def policy(self, obs: Mapping[str, Any], deterministic: bool = True) -> np.ndarray:
        """One env observation (unbatched dict of arrays, as the twin returns it) -> one action array."""
        batched = torch.as_tensor(np.asarray(obs["state"], dtype=np.float32))[None]
        return self.act(batched, deterministic)[0].numpy()

    # -- the update, top to bottom ---------------------------------------------------------------
    def critic_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(batch.next_obs)
            # RLPD: min over a random subset of the target ensemble (REDQ-style) curbs overestimation.
            # Only the subset is evaluated: 2 of 10 target critics is a fifth of the target cost.
            subset = torch.randperm(cfg.num_critics, device=next_action.device)[: cfg.critic_subset]
            members = subset if cfg.critic_subset < cfg.num_critics else None  # min ignores order
            next_q = self.target_critic(batch.next_obs, next_action, members).min(0).values
            if cfg.backup_entropy:
                next_q = next_q - alpha * next_log_prob
            target = batch.reward + cfg.gamma * (1.0 - batch.terminated) * next_q
        q = self.critic(batch.obs, batch.action)  # (E, B)
        return ((q - target) ** 2).mean(), q.detach()

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        action, log_prob = self.actor.sample(batch.obs)
        # The critics are frozen here so the actor loss leaves their gradients untouched.
        for p in self._critic_params:
            p.requires_grad_(False)
        q = self.critic(batch.obs, action).mean(0)  # RLPD: mean over the whole ensemble
        for p in self._critic_params:
            p.requires_grad_(True)
        loss = (self.log_alpha.detach().exp() * log_prob - q).mean()
        return loss, log_prob.detach()

    def temperature_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        return -(self.log_alpha.exp() * (log_prob + self.target_entropy)).mean()

    def update(self, block: Batch) -> dict[str, torch.Tensor]:
        """`utd` critic updates on block[0..utd-1], then one actor and one temperature update on the last."""
        utd = block.obs.shape[0]
        for i in range(utd):
            batch = block.minibatch(i)
            critic_loss, q = self.critic_loss(batch)
            self.critic_opt.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_opt.step()
            with torch.no_grad():
                torch._foreach_lerp_(self._target_params, self._critic_params, self.config.tau)

        actor_loss, log_prob = self.actor_loss(batch)
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()

        alpha_loss = self.temperature_loss(log_prob)
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()
        return {
            "critic_loss": critic_loss.detach(),
            "q_mean": q.mean(),
            "actor_loss": actor_loss.detach(),
            "entropy": -log_prob.mean(),
            "alpha": self.log_alpha.detach().exp(),
            "alpha_loss": alpha_loss.detach(),
        }

    # -- checkpoints -----------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """Networks, optimizers and temperature: everything needed to continue training."""
        return {
            "config": dataclasses.asdict(self.config),
            "sizes": (self.obs_size, self.action_size),
            "model": self.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
        }

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> SAC:
        config = from_dict(SACConfig, state["config"], source="checkpoint")
        agent = cls(*state["sizes"], config)
        agent.load_state_dict(state["model"])
        agent.actor_opt.load_state_dict(state["actor_opt"])
        agent.critic_opt.load_state_dict(state["critic_opt"])
        agent.alpha_opt.load_state_dict(state["alpha_opt"])
        return agent
