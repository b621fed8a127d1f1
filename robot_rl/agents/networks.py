"""Networks for SAC: a batched critic ensemble, its per-critic reference, and the tanh-Gaussian actor.

The ensemble stacks every critic's weights so that one batched matmul per layer evaluates all
of them (RLPD uses 10 critics: a Python loop over 10 small MLPs is launch-bound on CPU). The
plain loop (`LoopCritics`) stays as the reference: the tests hold the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


class EnsembleLinear(nn.Module):
    """`members` independent linear layers: (E, B, in) or (B, in) -> (E, B, out)."""

    def __init__(self, members: int, in_features: int, out_features: int):
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The same distribution nn.Linear uses (kaiming-uniform with a=sqrt(5) reduces to this).
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """`members` (index tensor) evaluates only those members, in that order."""
        weight, bias = self.weight, self.bias
        if members is not None:
            weight, bias = weight.index_select(0, members), bias.index_select(0, members)
        if x.dim() == 2:
            # Shared input: a stride-0 expand feeds bmm directly, where the broadcasting
            # torch.matmul copies the input and gathers its gradient through a reshape (4x slower).
            x = x.expand(weight.shape[0], *x.shape)
        return torch.baddbmm(bias, x, weight)


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over features with a separate affine transform per member."""

    def __init__(self, members: int, features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(members, 1, features))
        self.bias = nn.Parameter(torch.zeros(members, 1, features))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        weight, bias = self.weight, self.bias
        if members is not None:
            weight, bias = weight.index_select(0, members), bias.index_select(0, members)
        # One layer_norm per member with its own affine: the native kernel fuses the affine into the
        # normalisation and its backward, where normalising all members at once and applying the
        # affine separately costs three extra passes over the activations (~1.3x slower at E=10).
        shape = x.shape[-1:]
        return torch.stack(
            [
                F.layer_norm(xe, shape, we, be, self.eps)
                for xe, we, be in zip(x.unbind(0), weight.squeeze(1).unbind(0), bias.squeeze(1).unbind(0))
            ]
        )


def critic_layers(
    in_features: int,
    hidden: tuple[int, ...],
    layer_norm: bool,
    dropout: float,
    linear: Callable[[int, int], nn.Module],
    norm: Callable[[int], nn.Module],
    inplace_relu: bool = False,
) -> list[nn.Module]:
    """One critic architecture, built from batched or plain layers: linear, [dropout], [norm], ReLU
    per hidden width, then a linear head to Q."""
    layers: list[nn.Module] = []
    size = in_features
    for width in hidden:
        layers.append(linear(size, width))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        if layer_norm:
            layers.append(norm(width))
        layers.append(nn.ReLU(inplace=inplace_relu))
        size = width
    layers.append(linear(size, 1))
    return layers


class EnsembleCritic(nn.Module):
    """E Q-functions Q_i(s, a) evaluated together: returns (E, B).

    `layer_norm` after every hidden linear (RLPD), `dropout` before it (DroQ uses 0.01).
    """

    def __init__(
        self,
        in_features: int,
        members: int,
        hidden: tuple[int, ...] = (256, 256),
        layer_norm: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.members = members
        layers = critic_layers(
            in_features,
            hidden,
            layer_norm,
            dropout,
            linear=lambda n_in, n_out: EnsembleLinear(members, n_in, n_out),
            norm=lambda width: EnsembleLayerNorm(members, width),
            # safe: no layer before a ReLU (baddbmm, dropout, stack) keeps its output for backward;
            # in place saves an allocation and a write of every hidden activation
            inplace_relu=True,
        )
        self.net = nn.Sequential(*layers)

    def forward(
        self, obs: torch.Tensor, action: torch.Tensor, members: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Q of every member, or of the `members` index subset only (then (len(members), B))."""
        x = torch.cat([obs, action], dim=-1)
        if members is None:
            return self.net(x).squeeze(-1)
        for layer in self.net:
            x = layer(x, members) if isinstance(layer, EnsembleLinear | EnsembleLayerNorm) else layer(x)
        return x.squeeze(-1)


class LoopCritics(nn.Module):
    """The reference: E separate MLPs called one after another. Same maths as EnsembleCritic."""

    def __init__(
        self,
        in_features: int,
        members: int,
        hidden: tuple[int, ...] = (256, 256),
        layer_norm: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        critics = [
            nn.Sequential(*critic_layers(in_features, hidden, layer_norm, dropout, nn.Linear, nn.LayerNorm))
            for _ in range(members)
        ]
        self.critics = nn.ModuleList(critics)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], dim=-1)
        return torch.stack([critic(x).squeeze(-1) for critic in self.critics])

    @torch.no_grad()
    def load_from_ensemble(self, ensemble: EnsembleCritic) -> None:
        """Copy an ensemble's weights, member by member (for equivalence tests)."""
        batched = [m for m in ensemble.net if not isinstance(m, nn.ReLU | nn.Dropout)]
        for i, critic in enumerate(self.critics):
            plain = [m for m in critic if not isinstance(m, nn.ReLU | nn.Dropout)]
            for src, dst in zip(batched, plain, strict=True):
                if isinstance(src, EnsembleLinear):
                    dst.weight.copy_(src.weight[i].T)
                    dst.bias.copy_(src.bias[i, 0])
                else:
                    dst.weight.copy_(src.weight[i, 0])
                    dst.bias.copy_(src.bias[i, 0])


class TanhGaussianActor(nn.Module):
    """pi(a|s): a Gaussian squashed by tanh into [-1, 1], with the change-of-variables log-prob."""

    def __init__(
        self,
        obs_size: int,
        action_size: int,
        hidden: tuple[int, ...] = (256, 256),
        log_std_range: tuple[float, float] = (-20.0, 2.0),
    ):
        super().__init__()
        layers: list[nn.Module] = []
        size = obs_size
        for width in hidden:
            layers += [nn.Linear(size, width), nn.ReLU(inplace=True)]
            size = width
        self.trunk = nn.Sequential(*layers)
        self.mean = nn.Linear(size, action_size)
        self.log_std = nn.Linear(size, action_size)
        self.log_std_range = log_std_range

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        lo, hi = self.log_std_range
        return self.mean(h), self.log_std(h).clamp(lo, hi)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action in [-1, 1] and its log-probability (B,)."""
        mean, log_std = self(obs)
        noise = torch.randn_like(mean)
        u = torch.addcmul(mean, log_std.exp(), noise)
        action = torch.tanh(u)
        # log N(u; mean, std) - sum log(1 - tanh(u)^2), with (u - mean) / std = noise and the
        # Jacobian term in the stable form 2(log2 - u - softplus(-2u)); the constants are summed once.
        # Written as few whole-tensor ops as possible: at batch 256 each op costs its dispatch.
        size = mean.shape[-1]
        const = size * (0.5 * math.log(2 * math.pi) + 2.0 * math.log(2.0))
        log_prob = (2.0 * (u + F.softplus(-2.0 * u)) - log_std).sum(-1) - 0.5 * noise.square().sum(-1) - const
        return action, log_prob

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self(obs)[0])
