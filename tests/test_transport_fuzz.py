"""Hostile input on every socket of the transport, over real ZeroMQ on loopback.

Each socket gets 10,000 messages from a seeded generator (random frames, valid headers with one
field mangled, truncated arrays, dtype/shape lies, huge declared sizes, more frames than declared,
messages over the size cap, and some well-formed messages of the wrong kind or from a peer that
never said Hello), plus raw non-ZeroMQ bytes on the bound TCP ports. Afterwards the server must
still answer a well-formed client exactly right, and its reject counters and log must account for
every bad message. Every generated "invalid" message is also checked to fail `decode_message` on
its own, so the expected counts are exact by construction, not by trusting the server.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter

import numpy as np
import pytest

from robot_rl.transport.wire import (
    MAX_MESSAGE_BYTES,
    Ack,
    Hello,
    TransitionBatch,
    Weights,
    Welcome,
    decode_message,
)

zmq = pytest.importorskip("zmq")

from fuzz_messages import (  # noqa: E402
    BAD_HELLO,
    CAP,
    HASHES,
    INVALID,
    MESSAGES,
    NO_HELLO,
    OTHER,
    SEED,
    hostile_messages,
    log_messages,
    make_batch,
    tcp_garbage,
    wait_for,
)


# -- the learner's TransitionReceiver (ROUTER) -----------------------------------------------------
def test_receiver_survives_hostile_messages_and_then_serves_a_client_exactly(caplog):
    from robot_rl.transport.sockets import TransitionReceiver

    caplog.set_level(logging.INFO, logger="robot_rl.transport")
    context = zmq.Context()
    receiver = TransitionReceiver(Hello(actor_id="learner", **HASHES), max_message_bytes=CAP, context=context)
    stop = threading.Event()
    received: list[TransitionBatch] = []

    def serve():
        while not stop.is_set():
            received.extend(receiver.poll(0.02))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sockets = []
    try:
        fuzz = context.socket(zmq.DEALER)
        fuzz.setsockopt(zmq.LINGER, 0)
        fuzz.connect(receiver.endpoint)
        sockets.append(fuzz)
        sent: Counter[str] = Counter()
        for label, frames in hostile_messages():
            fuzz.send_multipart(frames)  # blocking: every message reaches the receiver
            sent[label] += 1
            while fuzz.poll(0):  # the Refuse answers; an unread queue would only fill up
                fuzz.recv_multipart()
        assert all(sent[label] > 0 for label in (INVALID, OTHER, NO_HELLO, BAD_HELLO)), sent
        expected_rejects = sent[INVALID] + sent[OTHER]
        expected_refused = sent[NO_HELLO] + sent[BAD_HELLO]
        assert wait_for(
            lambda: receiver.malformed >= expected_rejects and receiver.refused >= expected_refused
        ), (receiver.malformed, expected_rejects, receiver.refused, expected_refused)
        time.sleep(0.1)  # nothing more may trickle in
        # the counters account for every hostile message, and so does the log, one line per reject
        assert receiver.malformed == expected_rejects
        assert receiver.refused == expected_refused
        assert receiver.inbox.inserted == 0 and not received
        assert len(log_messages(caplog, "ignored malformed message")) == sent[INVALID]
        assert len(log_messages(caplog, "ignored unexpected")) == sent[OTHER]
        assert len(log_messages(caplog, "handshake refused")) == sent[BAD_HELLO]
        assert len(log_messages(caplog, "before a handshake")) == sent[NO_HELLO]
        assert not [r for r in caplog.records if "\n" in r.getMessage()]

        # frames over the socket's own limit: ZeroMQ drops that connection before decoding
        big = context.socket(zmq.DEALER)
        big.setsockopt(zmq.LINGER, 0)
        big.connect(receiver.endpoint)
        sockets.append(big)
        big.send_multipart([bytes(CAP + 65536 + 1)])
        sockets += tcp_garbage(
            int(receiver.endpoint.rsplit(":", 1)[1]), np.random.default_rng(SEED), b"DEALER"
        )
        time.sleep(0.2)
        assert thread.is_alive()

        # a well-formed actor afterwards: welcomed, acked exactly, inserted exactly once
        client = context.socket(zmq.DEALER)
        client.setsockopt(zmq.LINGER, 0)
        client.connect(receiver.endpoint)
        sockets.append(client)

        def ask(frames, replies: int) -> list:
            client.send_multipart(frames)
            out = []
            while len(out) < replies and client.poll(5000):
                out.append(decode_message(client.recv_multipart()))
            return out

        welcome, ack = ask(Hello(actor_id="arm", **HASHES).to_frames(), 2)
        assert isinstance(welcome, Welcome) and welcome.actor_id == "arm"
        assert isinstance(ack, Ack) and ack.acked_seq == -1
        good = make_batch(np.random.default_rng(0), first_seq=0, count=5, actor="arm")
        (ack,) = ask(good.to_frames(), 1)
        assert isinstance(ack, Ack) and (ack.actor_id, ack.acked_seq) == ("arm", 4)
        (ack,) = ask(good.to_frames(), 1)  # the same batch again: acked, not inserted again
        assert ack.acked_seq == 4
        (ack,) = ask(make_batch(np.random.default_rng(1), first_seq=5, count=3, actor="arm").to_frames(), 1)
        assert ack.acked_seq == 7
    finally:
        stop.set()
        thread.join(5)
        for s in sockets:
            s.close()
        receiver.close()
        context.term()

    # raw TCP bytes not starting with a ZMTP greeting are taken for ZMTP 1.0 framing, so they can
    # arrive as (malformed) messages too: more rejects, but nothing inserted, nobody welcomed
    assert receiver.malformed >= expected_rejects and receiver.refused == expected_refused
    assert receiver.inbox.inserted == 8 and receiver.inbox.duplicates == 5 and receiver.inbox.gaps == 0
    assert [b.actor_id for b in received] == ["arm", "arm"]
    assert np.array_equal(received[0].arrays["image"], good.arrays["image"])
    assert set(receiver.stats) == {"arm"}


# -- the learner's WeightPublisher (XPUB: reads what subscribers send, in tick()) -------------------
def test_publisher_survives_hostile_upstream_messages_and_still_delivers_weights():
    from robot_rl.transport.weights import WeightPublisher, WeightSubscriber

    context = zmq.Context()
    publisher = WeightPublisher(heartbeat_interval_s=0.05, context=context)
    rogue = context.socket(zmq.XSUB)
    rogue.setsockopt(zmq.LINGER, 0)
    rogue.connect(publisher.endpoint)
    sockets = [rogue]
    subscriber = None
    try:
        rng = np.random.default_rng(SEED)
        for i, (_, frames) in enumerate(hostile_messages()):
            if rng.random() < 0.1:  # subscription-shaped junk: (un)subscribe flag + random topic
                frames = [bytes([int(rng.integers(0, 2))]) + rng.bytes(int(rng.integers(0, 64))), *frames[1:]]
            rogue.send_multipart(frames)
            if i % 500 == 0:
                publisher.tick()
        rogue.send(bytes(MAX_MESSAGE_BYTES + 1))  # over the message cap
        sockets += tcp_garbage(int(publisher.endpoint.rsplit(":", 1)[1]), rng, b"XSUB")

        # everything the rogue sent is read and thrown away by tick(); the publisher keeps going
        assert wait_for(lambda: (publisher.tick() or True) and not publisher.socket.poll(0), 20)
        subscriber = WeightSubscriber(publisher.endpoint, max_bytes=CAP, context=context)
        assert wait_for(lambda: (publisher.tick() or True) and subscriber.learner_alive, 10)
        weights = {"actor.w": np.arange(12, dtype=np.float32).reshape(3, 4)}
        assert publisher.publish(1, weights)
        assert wait_for(lambda: subscriber.latest() is not None, 5)
        latest = subscriber.latest()
        assert latest.version == 1 and np.array_equal(latest.arrays["actor.w"], weights["actor.w"])
        assert subscriber.rejected == 0
    finally:
        if subscriber is not None:
            subscriber.close()
        for s in sockets:
            s.close()
        publisher.close()
        context.term()


# -- an actor's WeightSubscriber (SUB) fed by a rogue publisher --------------------------------------
@pytest.mark.solo  # a 4 s heartbeat window: run alone (setup.cfg)
def test_subscriber_rejects_hostile_weights_messages_and_then_takes_good_ones(caplog):
    from robot_rl.transport.weights import WeightSubscriber

    caplog.set_level(logging.WARNING, logger="robot_rl.transport")
    context = zmq.Context()
    rogue = context.socket(zmq.XPUB)  # an XPUB to see the subscription arrive before sending
    rogue.setsockopt(zmq.LINGER, 0)
    rogue.setsockopt(zmq.SNDHWM, 0)  # queue without limit: nothing dropped on the rogue's side
    port = rogue.bind_to_random_port("tcp://127.0.0.1")
    subscriber = WeightSubscriber(f"tcp://127.0.0.1:{port}", max_bytes=CAP, context=context)
    garbage_server = socket.create_server(("127.0.0.1", 0))
    sockets: list = []
    try:
        assert rogue.poll(5000) and rogue.recv() == b"\x01"
        sent: Counter[str] = Counter()
        # well-formed messages of other kinds are received and ignored
        for label, frames in hostile_messages():
            rogue.send_multipart(frames)
            sent[label] += 1
            subscriber.latest()  # an actor polling; keeps the rogue's queue short
        deadline = time.monotonic() + 20
        while subscriber.rejected + subscriber.received < MESSAGES and time.monotonic() < deadline:
            subscriber.latest()
        assert subscriber.rejected == sent[INVALID]
        assert subscriber.received == MESSAGES - sent[INVALID]
        assert subscriber.latest() is None and subscriber.version == -1
        assert len(log_messages(caplog, "dropped a malformed message")) == sent[INVALID]
        assert not [r for r in caplog.records if "\n" in r.getMessage()]

        weights = {"actor.w": np.ones((2, 3), np.float32)}
        rogue.send_multipart(Weights(version=3, arrays=weights).to_frames())
        assert wait_for(lambda: (subscriber.latest() or True) and subscriber.version == 3, 5)

        # a "learner" that speaks no ZeroMQ at all: nothing arrives, nothing breaks
        port = garbage_server.getsockname()[1]
        other = WeightSubscriber(f"tcp://127.0.0.1:{port}", max_bytes=CAP, context=context)
        sockets.append(other)
        garbage_server.settimeout(5)
        conn, _ = garbage_server.accept()
        sockets.append(conn)
        conn.sendall(np.random.default_rng(SEED).bytes(100_000))
        time.sleep(0.2)
        # (bytes without a ZMTP greeting are read as ZMTP 1.0 frames: rejected like any bad message)
        assert other.latest() is None and other.received == 0 and not other.learner_alive
    finally:
        for s in sockets:
            s.close()
        garbage_server.close()
        subscriber.close()
        rogue.close()
        context.term()


def test_subscriber_reconnects_after_a_frame_over_its_cap():
    # libzmq takes a frame over MAXMSGSIZE for a protocol error and never reconnects that SUB by
    # itself; WeightSubscriber rebuilds its socket once the learner has been silent too long.
    from robot_rl.transport.weights import WeightSubscriber

    context = zmq.Context()
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    subscriber = WeightSubscriber(f"tcp://127.0.0.1:{port}", max_bytes=CAP, context=context, timeout_s=0.5)
    try:
        assert publisher.poll(5000) and publisher.recv() == b"\x01"
        publisher.send(bytes(CAP + 1))  # ZeroMQ drops the connection: the XPUB sees the unsubscribe
        assert publisher.poll(5000) and publisher.recv() == b"\x00"
        # an actor must get weights again once the learner sends sane messages
        deadline = time.monotonic() + 5
        while not publisher.poll(50) and time.monotonic() < deadline:
            subscriber.latest()
        assert publisher.poll(0), "the subscriber never connected again"
        assert publisher.recv() == b"\x01"
        assert subscriber.reconnects == 1
    finally:
        subscriber.close()
        publisher.close()
        context.term()
