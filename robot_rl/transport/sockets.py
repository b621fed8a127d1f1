"""The ZeroMQ layer of the transitions channel (DEALER -> ROUTER) over `Outbox` / `Inbox`.

Every receive waits in poll() with a deadline; LINGER 0 so closing never hangs on a dead peer.
Both sides are non-blocking state machines driven by the caller's loop: the actor's sender says
Hello until welcomed, resends what the learner has not acknowledged, sends heartbeats, and says
Hello again when the learner no longer knows it (it restarted); the receiver tracks every actor's
last sign of life and reports one that falls silent. ZeroMQ is imported inside the classes only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.transport.channel import Inbox, Outbox, batch_nbytes
from robot_rl.transport.liveness import HeartbeatTimer, PeerMonitor
from robot_rl.transport.wire import (
    MAX_MESSAGE_BYTES,
    Ack,
    Heartbeat,
    Hello,
    Message,
    Refuse,
    TransitionBatch,
    Welcome,
    WireError,
    check_handshake,
    decode_message,
)

log = logging.getLogger(__name__)


def _deadline_polls(socket: Any, timeout_s: float) -> Iterator[None]:
    """Yield each time `socket` has a message, until `timeout_s` has passed."""
    import zmq

    deadline = time.monotonic() + timeout_s
    while True:
        left_ms = max(0, int((deadline - time.monotonic()) * 1000))
        if not socket.poll(left_ms, zmq.POLLIN):
            return
        yield


def is_loopback(endpoint: str) -> bool:
    """True for tcp://127.x.y.z:port, tcp://localhost:port, ipc:// and inproc:// endpoints."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


@dataclasses.dataclass(frozen=True)
class ServerKeys:
    """CURVE for a binding socket: its secret key file and the folder of client public keys it admits."""

    secret_key: str
    authorized_keys: str


@dataclasses.dataclass(frozen=True)
class ClientKeys:
    """CURVE for a connecting socket: its secret key file and the server's public key file."""

    secret_key: str
    server_public_key: str


def check_bind(endpoint: str, keys: ServerKeys | None) -> None:
    """Only loopback may be served without authentication (anyone who reaches the port could feed
    the replay buffer or read the policy)."""
    if keys is None and not is_loopback(endpoint):
        raise RobotRLError(
            f"binding {endpoint} needs CURVE keys: run `robot-rl keys generate DIR` and set "
            "transport.server_secret_key and transport.authorized_keys (or bind 127.0.0.1)"
        )


def bind_socket(socket: Any, endpoint: str, keys: ServerKeys | None) -> Any:
    """Bind `socket` (CURVE server first when `keys`); returns the authenticator to stop, or None."""
    import zmq

    from robot_rl.transport.keys import curve_server

    check_bind(endpoint, keys)
    auth = curve_server(socket, keys.secret_key, keys.authorized_keys) if keys is not None else None
    try:
        socket.bind(endpoint)
    except zmq.ZMQError as exc:
        socket.close(linger=0)
        if auth is not None:
            auth.stop()
        raise RobotRLError(f"cannot listen on {endpoint} ({exc}); pick a free port") from None
    return auth


def connect_socket(socket: Any, endpoint: str, keys: ClientKeys | None) -> None:
    from robot_rl.transport.keys import curve_client

    if keys is not None:
        curve_client(socket, keys.secret_key, keys.server_public_key)
    socket.connect(endpoint)


@dataclasses.dataclass
class ActorStats:
    """What the learner saw of one actor (cumulative)."""

    transitions: int = 0  # new transitions accepted
    bytes: int = 0  # array bytes received in transition batches
    batches: int = 0
    duplicates: int = 0  # transitions received again and dropped
    gaps: int = 0  # batches refused because transitions before them were missing
    connects: int = 0  # handshakes; every one after the first is a reconnect
    lost: int = 0  # times the actor fell silent for longer than the timeout
    alive: bool = True

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)


class TransitionReceiver:
    """Learner socket (ROUTER, binds): answers Hello with Welcome + Ack (or Refuse) and transitions
    with Ack. `poll(timeout_s)` handles messages for at most `timeout_s` and returns the batches new to
    the learner; malformed messages are counted (`malformed`), logged on one line and ignored.
    An actor silent for `peer_timeout_s` (no batch, no heartbeat) is logged once as lost and listed
    by `lost_actors()`; it counts as a reconnect when it says Hello again."""

    def __init__(
        self,
        hello: Hello,
        inbox: Inbox | None = None,
        endpoint: str = "tcp://127.0.0.1:0",
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        weight_version: int = 0,
        context: Any = None,
        keys: ServerKeys | None = None,
        peer_timeout_s: float = 1.5,
        clock: Any = time.monotonic,
    ):
        import zmq

        self.hello, self.inbox = hello, inbox if inbox is not None else Inbox()
        self.max_message_bytes, self.weight_version = max_message_bytes, weight_version
        self.malformed = 0
        self.refused = 0
        self.stats: dict[str, ActorStats] = {}
        self._peers: dict[bytes, str] = {}  # routing id -> welcomed actor id
        self._monitor = PeerMonitor(peer_timeout_s)
        self._clock = clock
        self._context = context or zmq.Context.instance()
        self.socket = self._context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        # Headroom for the header frame on top of the payload cap.
        self.socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes + 65536)
        self._auth = bind_socket(self.socket, endpoint, keys)
        self.endpoint: str = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    @property
    def context(self) -> Any:
        return self._context

    def poll(self, timeout_s: float = 0.1) -> list[TransitionBatch]:
        new: list[TransitionBatch] = []
        for _ in _deadline_polls(self.socket, timeout_s):
            frames = self.socket.recv_multipart(copy=False)
            peer, frames = frames[0].bytes, frames[1:]
            try:
                message = decode_message(frames, self.max_message_bytes)
            except WireError as exc:
                self.malformed += 1
                log.warning("ignored malformed message from peer %s: %s", peer.hex()[:10], exc)
                continue
            if isinstance(message, Hello):
                self._handshake(peer, message)
            elif isinstance(message, TransitionBatch):
                if self._peers.get(peer) != message.actor_id:
                    self._refuse(
                        peer, f"transitions from {message.actor_id!r} before a handshake; send Hello", retry=1
                    )
                    continue
                self._seen(message.actor_id)
                batch, acked, report = self.inbox.accept(message)
                stats = self.stats[message.actor_id]
                stats.batches += 1
                stats.bytes += batch_nbytes(message)
                stats.transitions += report.inserted
                stats.duplicates += report.duplicates
                stats.gaps += 1 if report.gap else 0
                if batch is not None:
                    new.append(batch)
                self._send(peer, Ack(actor_id=message.actor_id, acked_seq=acked))
            elif isinstance(message, Heartbeat):
                if self._peers.get(peer) == message.sender:
                    self._seen(message.sender)
                    # answered with the durable ack: an idle actor learns what it may forget
                    self._send(peer, Ack(actor_id=message.sender, acked_seq=self.inbox.acked(message.sender)))
                else:
                    self._refuse(peer, f"heartbeat from {message.sender!r} before a handshake", retry=1)
            else:
                self.malformed += 1
                log.warning("ignored unexpected %s message from peer %s", message.KIND, peer.hex()[:10])
        self._check_lost()
        return new

    def lost_actors(self) -> list[str]:
        """Actors that fell silent and have not been heard from since."""
        return sorted(a for a, s in self.stats.items() if not s.alive)

    def _seen(self, actor_id: str) -> None:
        self._monitor.seen(actor_id, self._clock())
        stats = self.stats[actor_id]
        if not stats.alive:
            stats.alive = True
            log.warning("actor %r is back", actor_id)

    def _check_lost(self) -> None:
        now = self._clock()
        for actor_id in self._monitor.dead(now):
            stats = self.stats[actor_id]
            if stats.alive:
                stats.alive = False
                stats.lost += 1
                log.warning(
                    "actor %r lost: nothing heard for %.1f s (serving the others)",
                    actor_id,
                    self._monitor.timeout_s,
                )

    def _handshake(self, peer: bytes, theirs: Hello) -> None:
        try:
            check_handshake(self.hello, theirs)
        except WireError as exc:
            self._refuse(peer, str(exc))
            return
        # one connection per actor id: a reconnect replaces the old routing id
        self._peers = {p: a for p, a in self._peers.items() if a != theirs.actor_id}
        self._peers[peer] = theirs.actor_id
        stats = self.stats.setdefault(theirs.actor_id, ActorStats())
        stats.connects += 1
        if stats.connects > 1:
            log.info("actor %r reconnected", theirs.actor_id)
        self._seen(theirs.actor_id)
        self._send(peer, Welcome(actor_id=theirs.actor_id, weight_version=self.weight_version))
        # The ack tells a restarted actor what the learner holds, before it sends anything.
        self._send(peer, Ack(actor_id=theirs.actor_id, acked_seq=self.inbox.acked(theirs.actor_id)))

    def _refuse(self, peer: bytes, reason: str, retry: int = 0) -> None:
        self.refused += 1
        (log.info if retry else log.warning)("%s", reason)
        self._send(peer, Refuse(reason=reason[:512], retry=retry))

    def _send(self, peer: bytes, message: Message) -> None:
        import zmq

        try:  # a peer whose queue is full, or that is gone, must never block the learner
            self.socket.send_multipart([peer, *message.to_frames()], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            log.debug("dropped a %s to a peer whose queue is full", message.KIND)

    def close(self) -> None:
        self.socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()


class TransitionSender:
    """Actor socket (DEALER, connects): handshake, then send batches from an `Outbox` and apply acks.

    `step()` drives it from the actor's loop without blocking: Hello every `hello_interval_s` until
    welcomed, then the unacknowledged batches again, heartbeats every `heartbeat_interval_s`, acks as
    they come. A Refuse with retry (the learner restarted and does not know this connection) starts
    the handshake over; a handshake mismatch raises RobotRLError with the learner's one-line reason.
    `connect()` is the blocking handshake for scripts and tests."""

    def __init__(
        self,
        hello: Hello,
        outbox: Outbox,
        endpoint: str,
        context: Any = None,
        keys: ClientKeys | None = None,
        heartbeat_interval_s: float = 0.25,
        hello_interval_s: float = 0.5,
        clock: Any = time.monotonic,
    ):
        import zmq

        self.hello, self.outbox, self.endpoint = hello, outbox, endpoint
        self.weight_version = -1
        self.welcomed = False
        self.handshakes = 0
        self._awaiting_ack = False  # welcomed; the ack that follows says what to resend
        self._clock = clock
        self._heartbeat = HeartbeatTimer(heartbeat_interval_s)
        self._hello_timer = HeartbeatTimer(hello_interval_s)
        self._context = context or zmq.Context.instance()
        self.socket = self._context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        # a batch for a learner that is away waits in the Outbox (resent on reconnect), not in ZeroMQ
        self.socket.setsockopt(zmq.IMMEDIATE, 1)
        connect_socket(self.socket, endpoint, keys)

    def connect(self, timeout_s: float = 5.0) -> Welcome:
        """Blocking handshake (Hello repeated until answered); raises RobotRLError with the learner's
        one-line reason if refused, or when nothing answers within `timeout_s`. The learner follows
        its Welcome with an Ack, which tells a restarted actor what it already holds."""
        deadline = self._clock() + timeout_s
        self.welcomed = False
        self._hello_timer = HeartbeatTimer(min(self._hello_timer.interval_s, 0.1))
        while not self.welcomed and self._clock() < deadline:
            self.step()
            if not self.welcomed:
                self.socket.poll(20)
        if not self.welcomed:
            raise RobotRLError(
                f"no answer from the learner at {self.endpoint} within {timeout_s:g} s: "
                "check that it is running and reachable"
            )
        return Welcome(actor_id=self.outbox.actor_id, weight_version=self.weight_version)

    def step(self) -> None:
        """One non-blocking round: apply what arrived, then say Hello / heartbeat as due."""
        now = self._clock()
        for _ in _deadline_polls(self.socket, 0):
            message = self._recv()
            if isinstance(message, Refuse):
                if not message.retry:
                    self._refused(message)
                if self.welcomed:
                    log.info("the learner does not know this actor (it restarted?): saying hello again")
                self.welcomed = False
            elif isinstance(message, Welcome) and message.actor_id == self.outbox.actor_id:
                self.weight_version = message.weight_version
                self._awaiting_ack = True
            elif isinstance(message, Ack) and message.actor_id == self.outbox.actor_id:
                self.outbox.ack(message.acked_seq)
                if self._awaiting_ack:
                    # welcomed, and the ack says what the learner holds: resend everything after it
                    self._awaiting_ack = False
                    self.welcomed = True
                    self.handshakes += 1
                    self.resend_pending()
        if not self.welcomed:
            if self._hello_timer.due(now):
                self._send(self.hello)
        elif self._heartbeat.due(now):
            self._send(Heartbeat(sender=self.outbox.actor_id, time_s=time.time()))

    def _refused(self, message: Refuse) -> None:
        log.error("%s", message.reason)
        raise RobotRLError(
            f"learner at {self.endpoint} refused actor {self.hello.actor_id!r}: {message.reason}"
        )

    def add(self, transition: Mapping[str, np.ndarray], weight_version: int = 0) -> None:
        """Stage one transition; sends the batch it completes (kept for a resend if not welcomed)."""
        batch = self.outbox.add(transition, weight_version)
        if batch is not None and self.welcomed:
            self.send(batch)

    def send(self, batch: TransitionBatch) -> None:
        self._send(batch)
        self._heartbeat.reset(self._clock())

    def _send(self, message: Message) -> None:
        import zmq

        # never block the actor: what is not sent stays in the Outbox for a resend
        with contextlib.suppress(zmq.Again):
            self.socket.send_multipart(message.to_frames(), flags=zmq.NOBLOCK, copy=False)

    def resend_pending(self) -> int:
        """Send every unacknowledged batch again (after a reconnect); returns how many."""
        count = 0
        for batch in self.outbox.pending():
            self.send(batch)
            count += 1
        return count

    def poll_acks(self, timeout_s: float = 0.0) -> None:
        """Apply acks arriving within `timeout_s`; returns early once nothing is unacknowledged."""
        for _ in _deadline_polls(self.socket, timeout_s):
            message = self._recv()
            if isinstance(message, Ack) and message.actor_id == self.outbox.actor_id:
                self.outbox.ack(message.acked_seq)
                if not self.outbox.unacked:
                    return

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Send staged transitions and wait until everything is acknowledged; True if it was."""
        batch = self.outbox.flush()
        if batch is not None and self.welcomed:
            self.send(batch)
        deadline = self._clock() + timeout_s
        while self.outbox.unacked and self._clock() < deadline:
            self.step()
            self.poll_acks(min(0.05, max(0.0, deadline - self._clock())))
        return self.outbox.unacked == 0

    def _recv(self) -> Message | None:
        try:
            return decode_message(self.socket.recv_multipart(copy=False))
        except WireError as exc:
            log.warning("ignored malformed message from the learner: %s", exc)
            return None

    def close(self) -> None:
        self.socket.close(linger=0)
