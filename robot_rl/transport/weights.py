"""Policy weights from the learner down to the actors, latest only.

The learner's `WeightPublisher` (PUB, tiny send queue) publishes versioned `Weights`; an actor's
`WeightSubscriber` (SUB) drains whatever has arrived on each `latest()` call and keeps only the
highest version, so an actor that was busy never works through a queue of stale weights. (ZeroMQ's
CONFLATE option would do the dropping, but it does not support multipart messages, which weights
are.) When an actor's queue is full the publisher holds the newest version back (replacing any older
held one) and `tick()` retries it, so the last version of a burst is never lost. An actor that stops
reading altogether must not starve the others: a version held back for `stall_s` goes out lossily
(the stalled actor skips it). `tick()` also sends a Heartbeat every `heartbeat_interval_s` while
nothing else was sent (carrying the learner's `hold` request to simulated actors), and the
subscriber reports `learner_alive` false when neither weights nor heartbeats came for `timeout_s`,
and then rebuilds its connection (ZeroMQ gives up on a connection after a protocol error).

`actor_weights()` / `load_into()` turn an agent's actor network + observation encoder into the
name -> numpy dict that travels, and back. ZeroMQ and torch are imported inside functions only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from robot_rl.transport.liveness import HeartbeatTimer, PeerMonitor
from robot_rl.transport.sockets import ClientKeys, ServerKeys, bind_socket, connect_socket
from robot_rl.transport.wire import MAX_MESSAGE_BYTES, Heartbeat, Weights, WireError, decode_message

log = logging.getLogger(__name__)

LEARNER = "learner"
_CAMERAS = "encoder.cameras."


def actor_weights(agent: Any, include_frozen_encoder: bool = False) -> dict[str, np.ndarray]:
    """What an actor needs to act like `agent` (a `robot_rl.agents.sac.SAC`): every actor tensor as
    ``actor.<name>`` and the observation encoder (state normaliser, camera encoders) as
    ``encoder.<name>``. A frozen camera encoder never changes, so it is left out unless asked for."""
    import torch  # noqa: F401  (the state dicts hold torch tensors)

    frozen = bool(getattr(agent.config, "freeze_encoder", False)) and not include_frozen_encoder
    out: dict[str, np.ndarray] = {}
    for prefix, module in (("actor.", agent.actor), ("encoder.", agent.encoder)):
        for name, tensor in module.state_dict().items():
            key = prefix + name
            if frozen and key.startswith(_CAMERAS):
                continue
            # copy: the learner keeps training while the message is queued
            out[key] = tensor.detach().cpu().numpy().copy()
    return out


def load_into(agent: Any, weights: Mapping[str, np.ndarray]) -> None:
    """Copy `weights` (from `actor_weights`) into `agent`. Names and shapes must match exactly
    (camera encoder tensors may be absent when the agent's encoder is frozen); on any mismatch
    nothing is changed and a one-line WireError names the first difference."""
    import torch

    targets = {f"actor.{n}": t for n, t in agent.actor.state_dict(keep_vars=True).items()}
    targets |= {f"encoder.{n}": t for n, t in agent.encoder.state_dict(keep_vars=True).items()}
    optional = set()
    if getattr(agent.config, "freeze_encoder", False):
        optional = {k for k in targets if k.startswith(_CAMERAS)}
    missing = sorted(set(targets) - set(weights) - optional)
    unexpected = sorted(set(weights) - set(targets))
    if missing or unexpected:
        parts = ([f"missing {missing[:3]}"] if missing else []) + (
            [f"unexpected {unexpected[:3]}"] if unexpected else []
        )
        raise WireError(
            f"weights do not fit this agent ({'; '.join(parts)}); "
            "start actor and learner with the same robot, preset and agent config"
        )
    for name, array in weights.items():
        shape = tuple(np.shape(array))
        if shape != tuple(targets[name].shape):
            raise WireError(
                f"weights tensor {name!r} has shape {shape}, this agent's has {tuple(targets[name].shape)}; "
                "start actor and learner with the same robot, preset and agent config"
            )
    with torch.no_grad():
        for name, array in weights.items():
            target = targets[name]
            # np.array copies: received arrays are read-only views of zmq frames
            target.copy_(torch.from_numpy(np.array(array)).to(target.dtype))


class WeightPublisher:
    """Learner side. Binds `endpoint` (port 0: a free port, see `.endpoint`) and publishes weights to
    every connected actor. The send queue holds `sndhwm` messages per actor; beyond that a slow
    actor skips versions, which is what it wants: only the newest matters. A held-back version waits
    for the slowest connected actor, so call `tick()` often."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:0",
        sndhwm: int = 2,
        heartbeat_interval_s: float = 0.5,
        sender: str = LEARNER,
        context: Any = None,
        clock: Callable[[], float] = time.monotonic,
        keys: ServerKeys | None = None,
        stall_s: float = 1.0,
    ):
        import zmq

        self._zmq = zmq
        self.stall_s = stall_s
        self.hold = False
        self._hold_sent = False
        self._context = context or zmq.Context.instance()
        # XPUB with NODROP instead of PUB: PUB silently drops a message that meets a full queue,
        # which in a burst is the newest version, the one that matters. NODROP makes the send fail
        # instead (for all actors or none), so the newest version is held and retried.
        self.socket = self._context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.XPUB_NODROP, 1)
        self.socket.setsockopt(zmq.SNDHWM, sndhwm)
        self.socket.setsockopt(zmq.LINGER, 0)
        # Upstream only subscription notices travel (a few bytes): refuse anything bigger.
        self.socket.setsockopt(zmq.MAXMSGSIZE, 1024)
        self._auth = bind_socket(self.socket, endpoint, keys)
        self.endpoint: str = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.sender = sender
        self.version = -1
        self._clock = clock
        self._timer = HeartbeatTimer(heartbeat_interval_s)
        self._pending: list[bytes] | None = None
        self._pending_since = 0.0

    def publish(self, version: int, weights: Mapping[str, np.ndarray]) -> bool:
        """Send `weights` as `version` (versions must increase so actors can tell newer from older).
        True if it went out now; False if an actor's queue was full, then `tick()` sends it later
        unless a newer version replaces it first."""
        if version <= self.version:
            raise WireError(f"weights version {version} is not newer than {self.version} already published")
        # One copy into bytes: the caller may change its arrays right after, and a send that found a
        # full queue is retried from these frames.
        if self._pending is None:
            self._pending_since = self._clock()
        self._pending = [bytes(frame) for frame in Weights(version=version, arrays=weights).to_frames()]
        self.version = version
        return self._send_pending()

    def _send_pending(self) -> bool:
        if self._pending is None:
            return True
        zmq = self._zmq
        try:
            self.socket.send_multipart(self._pending, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            if self._clock() - self._pending_since < self.stall_s:
                return False
            # Some actor has not read for stall_s: send lossily so the others are served; the
            # stalled one skips this version (it keeps only the newest anyway).
            log.warning(
                "an actor has not read weights for %.1f s: it skips version %d", self.stall_s, self.version
            )
            self.socket.setsockopt(zmq.XPUB_NODROP, 0)
            try:
                self.socket.send_multipart(self._pending, flags=zmq.NOBLOCK, copy=False)
            finally:
                self.socket.setsockopt(zmq.XPUB_NODROP, 1)
        self._pending = None
        self._timer.reset(self._clock())
        return True

    def set_hold(self, hold: bool) -> None:
        """Ask simulated actors to pause (True) or go on; sent with the next tick()."""
        if hold != self.hold:
            self.hold, self._hold_sent = hold, False

    @property
    def pending(self) -> bool:
        """The newest version has not gone out yet (an actor's queue is full)."""
        return self._pending is not None

    def tick(self) -> bool:
        """Call from the learner loop: retries a held-back version, and sends a heartbeat when one is
        due (nothing else went out for `heartbeat_interval_s`). True if a heartbeat went out."""
        zmq = self._zmq
        for _ in range(1000):  # subscription notices: read (boundedly) so they do not pile up
            try:
                self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
        if not self._send_pending():
            return False  # queues full of weights: the actors have signs of life enough
        if self._hold_sent and not self._timer.due(self._clock()):
            return False
        try:
            frames = Heartbeat(sender=self.sender, time_s=time.time(), hold=int(self.hold)).to_frames()
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            return False
        self._hold_sent = True
        self._timer.reset(self._clock())
        return True

    def close(self) -> None:
        self.socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()

    def __enter__(self) -> WeightPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WeightSubscriber:
    """Actor side. Connects to the learner's publisher; `latest()` returns the newest weights seen
    so far (None before the first), never an older version after a newer one."""

    def __init__(
        self,
        endpoint: str,
        timeout_s: float = 2.0,
        rcvhwm: int = 2,
        max_bytes: int = MAX_MESSAGE_BYTES,
        context: Any = None,
        clock: Callable[[], float] = time.monotonic,
        keys: ClientKeys | None = None,
    ):
        import zmq

        self._zmq = zmq
        self._context = context or zmq.Context.instance()
        self.endpoint = endpoint
        self.max_bytes = max_bytes
        self.rcvhwm = rcvhwm
        self.keys = keys
        self._clock = clock
        self._monitor = PeerMonitor(timeout_s)
        self._latest: Weights | None = None
        self.hold = False  # the learner's last pause request (simulated actors honour it)
        self.received = 0  # messages drained, all kinds
        self.rejected = 0  # malformed messages skipped
        self.reconnects = 0
        self._open()
        self._opened_at = self._clock()

    def _open(self) -> None:
        zmq = self._zmq
        self.socket = self._context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, self.rcvhwm)
        self.socket.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        connect_socket(self.socket, self.endpoint, self.keys)

    def _drain(self) -> None:
        zmq = self._zmq
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                message = decode_message(frames, self.max_bytes)
            except WireError as exc:
                self.rejected += 1
                log.warning("dropped a malformed message from the learner: %s", exc)
                continue
            self.received += 1
            if isinstance(message, Weights):
                self._monitor.seen(LEARNER, self._clock())
                if self._latest is None or message.version > self._latest.version:
                    self._latest = message
            elif isinstance(message, Heartbeat):
                self._monitor.seen(LEARNER, self._clock())
                self.hold = bool(message.hold)

    def _reconnect_if_silent(self) -> None:
        # ZeroMQ drops a connection for good after a protocol error (a frame over MAXMSGSIZE, say);
        # a fresh socket is the way back. Also covers a learner that came back on the same address.
        now = self._clock()
        if self._monitor.alive(LEARNER, now) or now - self._opened_at < 2 * self._monitor.timeout_s:
            return
        self.socket.close(linger=0)
        self._open()
        self._opened_at = now
        self.reconnects += 1
        self.hold = False

    def latest(self) -> Weights | None:
        """Drain everything that arrived and return the highest version received so far."""
        self._drain()
        self._reconnect_if_silent()
        return self._latest

    @property
    def version(self) -> int:
        """Version of `latest()` without draining; -1 before any weights arrived."""
        return -1 if self._latest is None else self._latest.version

    @property
    def learner_alive(self) -> bool:
        """False when neither weights nor a heartbeat arrived within `timeout_s` (or ever)."""
        self._drain()
        return self._monitor.alive(LEARNER, self._clock())

    def close(self) -> None:
        self.socket.close(linger=0)

    def __enter__(self) -> WeightSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
