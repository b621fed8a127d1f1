"""Offline pretraining from demonstrations before online RL, one file top to bottom. Off by default.

- `bc`: behaviour cloning initialises the actor: the deterministic action tanh(mean) regresses
  onto the demonstrated action (mean squared error); critics and std head are left to online RL.
- `calql` (Nakamoto et al. 2023, "Cal-QL"; RoboFuME's pretraining, Yang et al. 2023): the SAC
  critic loss plus CQL's conservative term, alpha * (logsumexp_a Q(s, a) - Q(s, a_data)), over
  uniform actions and policy actions at s and s' (with importance weights, CQL(H)). Cal-QL's
  calibration: Q of policy actions inside the logsumexp is floored at the data's Monte-Carlo
  return, so the pessimism never pushes values below what the demonstrations actually achieved
  and online fine-tuning does not start with an "unlearning" dip. Actor and temperature take
  ordinary SAC steps on the same batches.

Both read the demonstration buffer only; `mc_return` must have been stored with the agent's
gamma (`ReplayBuffer.add_episode(..., gamma=...)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from robot_rl.agents.replay import ReplayBuffer, sample_block
from robot_rl.agents.sac import SAC, Batch
from robot_rl.config import param
from robot_rl.errors import ConfigError

METHODS = ("none", "bc", "calql")


@dataclass(kw_only=True)
class PretrainConfig:
    """Offline pretraining on the demonstrations before online training starts."""

    method: str = param("none", doc="none, bc (actor only) or calql (actor, critics, temperature)")
    steps: int = param(2_000, doc="gradient steps (one batch each)", gt=0)
    batch_size: int = param(256, doc="demonstration transitions per step", gt=0)
    cql_alpha: float = param(5.0, doc="weight of the conservative term (Cal-QL 5 for manipulation)", ge=0)
    cql_samples: int = param(10, doc="actions per state for the logsumexp, per source (CQL 10)", gt=0)
    cql_temperature: float = param(1.0, doc="temperature of the logsumexp (CQL 1)", gt=0)
    calibrate: bool = param(True, doc="floor policy-action Q at the Monte-Carlo return (Cal-QL); off: CQL")

    def validate(self, source: str, prefix: str) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                source, f"{prefix}.method" if prefix else "method", f"one of {METHODS}", self.method
            )


def bc_loss(agent: SAC, batch: Batch) -> torch.Tensor:
    features = agent.encoder(batch.obs)
    return (agent.actor.deterministic(features) - batch.action).square().sum(-1).mean()


def calql_critic_loss(
    agent: SAC, batch: Batch, cfg: PretrainConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """SAC's TD loss + the (calibrated) conservative term; also returns the detached obs features."""
    live = agent.encoder(batch.obs)  # with grad: TD and conservative terms both shape the encoder
    td_loss, q_data, features = agent.critic_loss(batch, live)
    n, batch_size = cfg.cql_samples, batch.action.shape[0]
    action_size = agent.action_size
    repeated = live.repeat(n, 1)  # (n*B, F), sample-major
    with torch.no_grad():
        next_features = agent.encoder(batch.next_obs).repeat(n, 1)
        pi_action, pi_log_prob = agent.actor.sample(features.repeat(n, 1))
        next_action, next_log_prob = agent.actor.sample(next_features)
    uniform = torch.rand(n * batch_size, action_size) * 2 - 1

    def q_of(actions: torch.Tensor) -> torch.Tensor:  # (E, n, B)
        return agent.critic(repeated, actions).reshape(-1, n, batch_size)

    q_uniform, q_pi, q_next = q_of(uniform), q_of(pi_action), q_of(next_action)
    if cfg.calibrate:
        floor = batch.mc_return.reshape(1, 1, batch_size)
        q_pi, q_next = torch.maximum(q_pi, floor), torch.maximum(q_next, floor)
    # importance weights: the uniform density on [-1, 1]^A is 2^-A; policy samples by their own log-prob
    candidates = torch.cat(
        [
            q_uniform + action_size * math.log(2.0),
            q_pi - pi_log_prob.reshape(1, n, batch_size),
            q_next - next_log_prob.reshape(1, n, batch_size),
        ],
        dim=1,
    )
    temp = cfg.cql_temperature
    pushed_down = temp * torch.logsumexp(candidates / temp, dim=1)  # (E, B)
    q_now = agent.critic(live, batch.action)
    conservative = (pushed_down - q_now).mean()
    loss = td_loss + cfg.cql_alpha * conservative
    info = {"td_loss": td_loss.detach(), "cql_gap": conservative.detach(), "q_data": q_data.mean()}
    return loss, info, features


def calql_step(agent: SAC, batch: Batch, cfg: PretrainConfig) -> dict[str, torch.Tensor]:
    critic_loss, info, features = calql_critic_loss(agent, batch, cfg)
    agent.critic_opt.zero_grad(set_to_none=True)
    critic_loss.backward()
    agent.critic_opt.step()
    with torch.no_grad():
        torch._foreach_lerp_(agent._target_params, agent._critic_params, agent.config.tau)

    # the actor reuses the critic step's detached features, as SAC.update does (one encoder pass)
    actor_loss, log_prob = agent.actor_loss(features)
    agent.actor_opt.zero_grad(set_to_none=True)
    actor_loss.backward()
    agent.actor_opt.step()

    alpha_loss = agent.temperature_loss(log_prob)
    agent.alpha_opt.zero_grad(set_to_none=True)
    alpha_loss.backward()
    agent.alpha_opt.step()
    return {**info, "critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach()}


def pretrain(
    agent: SAC,
    demos: ReplayBuffer,
    cfg: PretrainConfig,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Run `cfg.steps` offline steps of `cfg.method` on the demonstrations; returns the last losses."""
    from tqdm import tqdm

    if cfg.method == "none":
        return {}
    if len(demos) == 0:
        raise ConfigError(
            "", "pretrain.method", "demonstrations to pretrain on (give demos: DIR)", cfg.method
        )
    bc_opt = torch.optim.Adam(agent.actor.parameters(), lr=agent.config.lr) if cfg.method == "bc" else None
    info: dict[str, Any] = {}
    for _ in tqdm(range(cfg.steps), desc=f"pretrain {cfg.method}", disable=not progress, leave=False):
        batch = agent.augment(sample_block(demos, None, 1, cfg.batch_size, generator=generator)).minibatch(0)
        if bc_opt is not None:
            loss = bc_loss(agent, batch)
            bc_opt.zero_grad(set_to_none=True)
            loss.backward()
            bc_opt.step()
            info = {"bc_loss": loss.detach()}
        else:
            info = calql_step(agent, batch, cfg)
    return {k: float(v) for k, v in info.items()}
