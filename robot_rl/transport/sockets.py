"""The ZeroMQ layer of the transitions channel (DEALER -> ROUTER) over `Outbox` / `Inbox`.

Every receive waits in poll() with a deadline; LINGER 0 so closing never hangs on a dead peer.
ZeroMQ is imported inside the classes only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.transport.channel import Inbox, Outbox
from robot_rl.transport.wire import (
    MAX_MESSAGE_BYTES,
    Ack,
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


class TransitionReceiver:
    """Learner socket (ROUTER, binds): answers Hello with Welcome + Ack (or Refuse) and transitions
    with Ack. `poll(timeout_s)` handles messages for at most `timeout_s` and returns the batches new to
    the learner; malformed messages are counted (`malformed`), logged on one line and ignored."""

    def __init__(
        self,
        hello: Hello,
        inbox: Inbox | None = None,
        endpoint: str = "tcp://127.0.0.1:0",
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        weight_version: int = 0,
        context: Any = None,
    ):
        import zmq

        self.hello, self.inbox = hello, inbox if inbox is not None else Inbox()
        self.max_message_bytes, self.weight_version = max_message_bytes, weight_version
        self.malformed = 0
        self.refused = 0
        self._peers: dict[bytes, str] = {}  # routing id -> welcomed actor id
        self._context = context or zmq.Context.instance()
        self.socket = self._context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        # Headroom for the header frame on top of the payload cap.
        self.socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes + 65536)
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as exc:
            self.socket.close()
            raise RobotRLError(f"cannot listen on {endpoint} ({exc}); pick a free port") from None
        self.endpoint: str = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

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
                        peer, f"transitions from {message.actor_id!r} before a handshake; send Hello"
                    )
                    continue
                batch, acked, _ = self.inbox.accept(message)
                if batch is not None:
                    new.append(batch)
                self._send(peer, Ack(actor_id=message.actor_id, acked_seq=acked))
            else:
                self.malformed += 1
                log.warning("ignored unexpected %s message from peer %s", message.KIND, peer.hex()[:10])
        return new

    def _handshake(self, peer: bytes, theirs: Hello) -> None:
        try:
            check_handshake(self.hello, theirs)
        except WireError as exc:
            self._refuse(peer, str(exc))
            return
        self._peers[peer] = theirs.actor_id
        self._send(peer, Welcome(actor_id=theirs.actor_id, weight_version=self.weight_version))
        # The ack tells a restarted actor what the learner holds, before it sends anything.
        self._send(peer, Ack(actor_id=theirs.actor_id, acked_seq=self.inbox.acked(theirs.actor_id)))

    def _refuse(self, peer: bytes, reason: str) -> None:
        self.refused += 1
        log.warning("%s", reason)
        self._send(peer, Refuse(reason=reason[:512]))

    def _send(self, peer: bytes, message: Message) -> None:
        self.socket.send_multipart([peer, *message.to_frames()], copy=False)

    def close(self) -> None:
        self.socket.close(linger=0)


class TransitionSender:
    """Actor socket (DEALER, connects): handshake, then send batches from an `Outbox` and apply acks."""

    def __init__(self, hello: Hello, outbox: Outbox, endpoint: str, context: Any = None):
        import zmq

        self.hello, self.outbox, self.endpoint = hello, outbox, endpoint
        self.weight_version = -1
        self._context = context or zmq.Context.instance()
        self.socket = self._context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def connect(self, timeout_s: float = 5.0) -> Welcome:
        """Handshake; raises RobotRLError with the learner's one-line reason if refused. The learner
        follows its Welcome with an Ack, which tells a restarted actor what it already holds."""
        self.socket.send_multipart(self.hello.to_frames(), copy=False)
        welcome = None
        for _ in _deadline_polls(self.socket, timeout_s):
            message = self._recv()
            if isinstance(message, Refuse):
                log.error("%s", message.reason)
                raise RobotRLError(
                    f"learner at {self.endpoint} refused actor {self.hello.actor_id!r}: {message.reason}"
                )
            if isinstance(message, Welcome):
                welcome = message
                self.weight_version = message.weight_version
            elif isinstance(message, Ack) and message.actor_id == self.outbox.actor_id:
                self.outbox.ack(message.acked_seq)
                if welcome is not None:
                    return welcome
        raise RobotRLError(
            f"no answer from the learner at {self.endpoint} within {timeout_s:g} s: "
            "check that it is running and reachable"
        )

    def add(self, transition: Mapping[str, np.ndarray], weight_version: int = 0) -> None:
        """Stage one transition; sends the batch it completes."""
        batch = self.outbox.add(transition, weight_version)
        if batch is not None:
            self.send(batch)

    def send(self, batch: TransitionBatch) -> None:
        self.socket.send_multipart(batch.to_frames(), copy=False)

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
        if batch is not None:
            self.send(batch)
        if self.outbox.unacked:
            self.poll_acks(timeout_s)
        return self.outbox.unacked == 0

    def _recv(self) -> Message | None:
        try:
            return decode_message(self.socket.recv_multipart(copy=False))
        except WireError as exc:
            log.warning("ignored malformed message from the learner: %s", exc)
            return None

    def close(self) -> None:
        self.socket.close(linger=0)
