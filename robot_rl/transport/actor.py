"""What an actor (a robot, or a twin worker) needs from the learner, as one library object.

`ActorClient` sends every transition the actor collects (exactly once, across learner restarts),
keeps the policy's weights at the newest version the learner published, and watches the learner:
`learner_alive` turns false within `peer_timeout_s` of the last sign of life, is logged once, and
`may_act` then says whether to keep acting with the last weights or stop the robot
(`on_learner_lost`). Reconnecting is automatic. Call `poll()` once per control step; nothing in it
blocks. The sim actors of `robot-rl train --async` and the ROS actor node use it the same way.

Transitions travel as rows, one per policy step, holding the observation the action was taken in:
the learner pairs each row with the next one from the same actor, so camera frames cross the wire
once. `record()` adds a step; `end_episode(final_obs)` adds the final observation of an episode; `send(step)`
is both for a `robot_rl.rollout.Step`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from robot_rl.config import param, stable_hash
from robot_rl.errors import ConfigError
from robot_rl.transport.channel import Outbox
from robot_rl.transport.sockets import ClientKeys, ServerKeys, TransitionSender
from robot_rl.transport.weights import WeightSubscriber, load_into
from robot_rl.transport.wire import Hello

log = logging.getLogger(__name__)

#: row fields besides the observation's own keys
ROW_FIELDS = (
    "action",
    "reward",
    "terminated",
    "truncated",
    "success",
    "intervention",
    "final",
    "weight_version",
)


@dataclasses.dataclass(kw_only=True)
class TransportConfig:
    """Actor/learner settings (the `transport:` section of a training config)."""

    bind: str = param("tcp://127.0.0.1:5555", doc="learner: address for transitions (ZeroMQ endpoint)")
    weights_bind: str | None = param(None, doc="learner: address for weights; None: bind's port + 1")
    connect: str = param("tcp://127.0.0.1:5555", doc="actor: the learner's transitions address")
    weights_connect: str | None = param(None, doc="actor: the learner's weights address; None: port + 1")
    server_secret_key: str | None = param(
        None, doc="learner: CURVE secret key file (robot-rl keys generate); required off loopback"
    )
    authorized_keys: str | None = param(None, doc="learner: folder of actor public keys it admits")
    client_secret_key: str | None = param(None, doc="actor: its CURVE secret key file")
    server_public_key: str | None = param(None, doc="actor: the learner's public key file")
    batch_size: int = param(32, doc="transitions per message", gt=0)
    heartbeat_s: float = param(0.25, doc="heartbeat interval, both directions", unit="s", gt=0)
    peer_timeout_s: float = param(
        1.5, doc="silence after which the other side is reported lost", unit="s", gt=0, le=2.0
    )
    on_learner_lost: str = param(
        "keep_acting", doc="actor: keep_acting (with the last weights) or stop (hold the robot safe)"
    )
    outbox_memory_mb: float = param(
        256.0, doc="actor: unacknowledged transitions kept in memory", unit="MB", gt=0
    )
    spill_dir: str | None = param(None, doc="actor: folder for transitions past the memory budget")
    durable_acks: bool = param(
        True, doc="learner: acknowledge only checkpointed transitions (a SIGKILL loses none)"
    )
    checkpoint_interval_s: float = param(30.0, doc="learner: time between checkpoints", unit="s", gt=0)
    weights_interval_s: float = param(0.2, doc="learner: time between weight publishes", unit="s", ge=0)
    stats_interval_s: float = param(2.0, doc="learner: time between stats.json updates", unit="s", gt=0)
    max_ahead_steps: int = param(
        0,
        doc="learner: simulated actors pause while this many received steps are untrained at the "
        "configured UTD (0: never; robots never pause)",
        ge=0,
    )

    def validate(self, source: str, prefix: str) -> None:
        if self.on_learner_lost not in ("keep_acting", "stop"):
            key = f"{prefix}.on_learner_lost" if prefix else "on_learner_lost"
            raise ConfigError(source, key, "keep_acting or stop", self.on_learner_lost)
        for role, a, b in (
            ("learner", "server_secret_key", "authorized_keys"),
            ("actor", "client_secret_key", "server_public_key"),
        ):
            if (getattr(self, a) is None) != (getattr(self, b) is None):
                key = f"{prefix}.{b}" if prefix else b
                raise ConfigError(source, key, f"set together with {a} ({role} CURVE keys)", getattr(self, b))

    def server_keys(self) -> ServerKeys | None:
        if self.server_secret_key is None:
            return None
        return ServerKeys(self.server_secret_key, str(self.authorized_keys))

    def client_keys(self) -> ClientKeys | None:
        if self.client_secret_key is None:
            return None
        return ClientKeys(self.client_secret_key, str(self.server_public_key))


def next_port(endpoint: str) -> str:
    """tcp://host:P -> tcp://host:P+1 (the weights socket's default place)."""
    head, _, port = endpoint.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        raise ConfigError(
            "", "transport.weights_bind", "an explicit weights address when bind has no fixed port", endpoint
        )
    return f"{head}:{int(port) + 1}"


def policy_hash(config: Any) -> str:
    """Hash of what actor and learner must agree on for transitions and weights to fit: robot, task,
    preset, agent overrides, cameras and reward (not step counts, seeds or addresses)."""
    keys = ("robot", "task", "preset", "agent", "cameras", "reward")
    return stable_hash({k: getattr(config, k) for k in keys})


class ActorClient:
    """Transitions up, weights down, the learner watched. See the module docstring."""

    def __init__(
        self,
        actor_id: str,
        hello: Hello,
        settings: TransportConfig,
        agent: Any = None,
        context: Any = None,
    ):
        self.actor_id, self.settings, self.agent = actor_id, settings, agent
        self.outbox = Outbox(
            actor_id,
            batch_size=settings.batch_size,
            max_memory_bytes=int(settings.outbox_memory_mb * 1024 * 1024),
            spill_dir=settings.spill_dir,
        )
        keys = settings.client_keys()
        self.sender = TransitionSender(
            hello,
            self.outbox,
            settings.connect,
            context=context,
            keys=keys,
            heartbeat_interval_s=settings.heartbeat_s,
        )
        weights_at = settings.weights_connect or next_port(settings.connect)
        self.subscriber = WeightSubscriber(
            weights_at, timeout_s=settings.peer_timeout_s, context=context, keys=keys
        )
        self.version = -1  # weights in use; -1: none yet (act at random)
        self.version_time = 0.0  # time.time() when they were loaded
        self._was_alive = False
        self._action_size = 0
        self._episode_open = False
        self.lost_count = 0

    # -- transitions -----------------------------------------------------------------------------
    def record(
        self,
        obs: Mapping[str, np.ndarray],
        action: np.ndarray,
        reward: float,
        terminated: bool,
        truncated: bool,
        success: bool = False,
        intervention: bool = False,
    ) -> None:
        """One policy step: the observation the action was taken in, and what followed it."""
        self._add(obs, action, reward, terminated, truncated, success, intervention, final=False)

    def send(self, step: Any) -> None:
        """One `robot_rl.rollout.Step`, and the episode's final observation after a step that ended it."""
        self.record(
            step.obs,
            step.action,
            step.reward,
            step.terminated,
            step.truncated,
            step.success,
            step.intervention,
        )
        if step.done:
            self.end_episode(step.next_obs, step.success)

    def end_episode(self, final_obs: Mapping[str, np.ndarray], success: bool = False) -> None:
        """The last observation of an episode (after the step that ended it)."""
        action = np.zeros(self._action_size, np.float32)
        self._add(final_obs, action, 0.0, False, False, success, False, final=True)

    def _add(self, obs, action, reward, terminated, truncated, success, intervention, final) -> None:
        action = np.asarray(action, np.float32).reshape(-1)
        self._action_size = action.shape[0]
        row = {k: np.asarray(v) for k, v in obs.items()}
        start, self._episode_open = not self._episode_open, not final
        row.update(
            start=np.bool_(start),
            action=action,
            reward=np.float32(reward),
            terminated=np.bool_(terminated),
            truncated=np.bool_(truncated),
            success=np.bool_(success),
            intervention=np.bool_(intervention),
            final=np.bool_(final),
            weight_version=np.int64(self.version),
        )
        self.sender.add(row, max(0, self.version))

    # -- the loop --------------------------------------------------------------------------------
    def poll(self) -> bool:
        """Network housekeeping, once per control step; True when newer weights were loaded."""
        self.sender.step()
        weights = self.subscriber.latest()
        loaded = False
        if weights is not None and weights.version > self.version and self.agent is not None:
            load_into(self.agent, weights.arrays)
            self.version, self.version_time, loaded = weights.version, time.time(), True
        alive = self.learner_alive
        if alive != self._was_alive:
            if alive:
                log.info("learner at %s is reachable", self.settings.connect)
            else:
                self.lost_count += 1
                keep = self.settings.on_learner_lost == "keep_acting"
                what = "keeps acting with its last weights" if keep else "stops the robot"
                log.warning(
                    "learner at %s lost: nothing heard for %.1f s; actor %r %s and reconnects by itself",
                    self.settings.connect,
                    self.settings.peer_timeout_s,
                    self.actor_id,
                    what,
                )
            self._was_alive = alive
        return loaded

    @property
    def connected(self) -> bool:
        """The learner welcomed this actor (and has not forgotten it since)."""
        return self.sender.welcomed

    @property
    def learner_alive(self) -> bool:
        return self.subscriber.learner_alive

    @property
    def hold(self) -> bool:
        """The learner asks simulated actors to wait for training to catch up."""
        return self.subscriber.hold and self.learner_alive

    @property
    def may_act(self) -> bool:
        """False while the learner is lost and `on_learner_lost` is stop."""
        return self.learner_alive or self.settings.on_learner_lost == "keep_acting"

    @property
    def unacked(self) -> int:
        return self.outbox.unacked

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Send what is staged and wait until the learner holds everything; True if it does."""
        return self.sender.flush(timeout_s)

    def close(self) -> None:
        self.outbox.close()
        self.sender.close()
        self.subscriber.close()
