"""The one learning core: what `robot-rl train` (`Trainer`), `robot-rl learner` (`Learner`) and
`robot-rl practice` (one core per direction) learn with, so a feature of the update lands in all three.

A `LearningCore` holds the agent (`SAC` from a preset and its overrides, `make_agent`), its online
replay buffer and its demonstration buffer. `add` puts a step (`robot_rl.rollout.Step`, or a
transition the learner paired from actor rows, `robot_rl.transport.rows.Transition`) into the
online buffer, and into the demonstrations too when a person or the scripted expert acted
(HIL-SERL). `update_block` is one UTD block through `SAC.update_from`: demonstration and online
rows sampled together, the demonstration rows marked for the behaviour-cloning term
(`agent: {bc_weight: W}`). The state normaliser is fitted on the demonstrations and the data so
far before the first update, then stays fixed. `state` / `load_state` are the core's part of a
checkpoint; `MetricsLog` writes the metrics rows (metrics.jsonl, TensorBoard).

Actors that only act (the twin actors, the ROS actor) build their agent with `acting_agent`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robot_rl.agents.replay import ReplayBuffer
from robot_rl.agents.sac import SAC


def make_agent(
    obs_shapes: dict[str, tuple[int, ...]], action_size: int, preset_name: str, overrides: dict[str, Any]
) -> SAC:
    """A fresh agent: the preset (`rlpd`, `sac`, `droq`) with a run's `agent:` overrides."""
    from robot_rl.agents.sac import preset

    return SAC(obs_shapes, action_size, preset(preset_name, **overrides))


def acting_agent(
    obs_shapes: dict[str, tuple[int, ...]], action_size: int, preset_name: str, overrides: dict[str, Any]
) -> SAC:
    """The agent an actor acts with (eval mode) until the learner's weights replace its parameters."""
    return make_agent(obs_shapes, action_size, preset_name, overrides).eval()


class LearningCore:
    """One agent with its buffers, update, and checkpoint state (see the module docstring)."""

    def __init__(
        self,
        obs_shapes: dict[str, tuple[int, ...]],
        action_size: int,
        preset_name: str,
        overrides: dict[str, Any],
        online_slots: int,
    ):
        self.agent = make_agent(obs_shapes, action_size, preset_name, overrides)
        self.online = ReplayBuffer(online_slots, obs_shapes, action_size)
        self.demos: ReplayBuffer | None = None
        self.updates = 0  # critic updates so far
        self.fitted = False  # the normaliser holds the statistics the next update uses

    def add(self, step: Any) -> None:
        """One transition (anything with the fields of `robot_rl.rollout.Step`): online, and also a
        demonstration where a person or an expert chose the action."""
        s = step
        self.online.add(s.obs, s.action, s.reward, s.next_obs, s.terminated, s.truncated, s.intervention)
        if s.intervention and self.demos is not None:
            self.demos.add(s.obs, s.action, s.reward, s.next_obs, s.terminated, s.truncated, True)

    def fit_normalizer(self) -> None:
        """State statistics from the demonstrations and the online data so far."""
        from robot_rl.agents.replay import stored_states

        self.agent.fit_normalizer(stored_states(self.online, self.demos))
        self.fitted = True

    def pretrain(self, config: Any, generator: Any, progress: bool, refit: bool) -> dict[str, float]:
        """Offline pretraining on the demonstrations (`robot_rl.agents.pretrain`), the normaliser
        fitted on them first. `refit`: fit it again, with the warm-up data, before the first online
        update (`robot-rl train`); else it stays as pretraining saw it (practice)."""
        from robot_rl.agents.pretrain import pretrain

        self.fit_normalizer()
        result = pretrain(self.agent, self.demos, config, generator, progress=progress)
        self.fitted = not refit
        return result

    def update_block(self, generator: Any) -> dict[str, Any]:
        """One UTD block: `utd` critic updates and one actor/temperature update on a block sampled
        from the demonstrations and the online data (`SAC.update_from`, BC term included)."""
        if not self.fitted:
            self.fit_normalizer()
        info = self.agent.update_from(self.online, self.demos, generator)
        self.updates += self.agent.config.utd
        return info

    def state(self) -> dict[str, Any]:
        """The core's part of a checkpoint: networks, optimizers, temperature, normaliser, buffers."""
        return {
            "agent": self.agent.checkpoint(),
            "online": self.online.state_dict(),
            "demos": self.demos.state_dict() if self.demos is not None else None,
        }

    def load_state(self, agent: dict[str, Any], online: dict[str, Any], demos: dict[str, Any] | None) -> None:
        """The parts `state` wrote; saved demonstrations (None: keep the current ones) replace the
        buffer read from the folder, interventions included."""
        self.agent = SAC.from_checkpoint(agent)
        self.online.load_state_dict(online)
        if demos is not None:
            if self.demos is None:
                self.demos = ReplayBuffer.from_state_dict(demos)
            else:
                self.demos.load_state_dict(demos)


def loss_fields(info: dict[str, Any]) -> dict[str, float]:
    """The last update's losses and statistics as metrics-row fields."""
    return {k: float(v) for k, v in info.items()}


class MetricsLog:
    """A run's metrics: one JSON row per line in metrics.jsonl and, with `tensorboard` (when it is
    installed), each numeric field as a scalar under tb/."""

    def __init__(self, out: Path, tensorboard: bool):
        self.file = (Path(out) / "metrics.jsonl").open("a")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional: metrics.jsonl has everything
                pass
            else:
                self.tb = SummaryWriter(str(Path(out) / "tb"))

    def write(self, row: dict[str, Any], step: int) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.tb is not None:
            for key, value in row.items():
                if key != "step" and value is not None:
                    self.tb.add_scalar(key, value, step)
            self.tb.flush()

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
