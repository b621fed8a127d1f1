"""The hostile messages of tests/test_transport_fuzz.py: a seeded generator of invalid transport
messages (each checked to fail `decode_message` on its own), well-formed ones of the wrong kind or
peer, and raw non-ZeroMQ bytes for a bound TCP port."""

from __future__ import annotations

import functools
import socket
import time

import msgpack
import numpy as np

from robot_rl.transport.wire import (
    MAX_HEADER_BYTES,
    PROTOCOL_VERSION,
    Ack,
    Heartbeat,
    Hello,
    Refuse,
    TransitionBatch,
    Welcome,
    WireError,
    decode_message,
)

SEED = 4  # issue 4; change it to explore, keep it fixed so failures reproduce
MESSAGES = 10_000
CAP = 1 << 20  # max message bytes of the sockets under test: over-cap messages stay cheap to send
HASHES = {"config_hash": "c" * 64, "spec_hash": "s" * 64}

# what a message is expected to do to a server
INVALID = "invalid"  # decode_message raises WireError
OTHER = "other"  # well-formed, but a kind this server does not take from a client
NO_HELLO = "no_hello"  # well-formed batch/heartbeat from a peer that never said Hello
BAD_HELLO = "bad_hello"  # well-formed Hello whose robot spec hash differs


def make_batch(
    rng: np.random.Generator, first_seq: int = 0, count: int = 2, actor: str = "fuzz"
) -> TransitionBatch:
    return TransitionBatch(
        actor_id=actor,
        first_seq=first_seq,
        count=count,
        weight_version=0,
        arrays={
            "image": rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8),
            "state": rng.standard_normal((count, 4)).astype(np.float32),
            "done": np.zeros(count, bool),
        },
    )


_BASE = [bytes(f) for f in make_batch(np.random.default_rng(SEED)).to_frames()]
_OVER_CAP_FRAME = bytes(CAP // 3)  # shared: four of them make a message over CAP


def _parts() -> tuple[dict, list[bytes]]:
    """A fresh copy of the decoded header and the array frames of a valid batch, to mangle."""
    return msgpack.unpackb(_BASE[0], raw=False), list(_BASE[1:])


def _pack(head: object) -> bytes:
    return msgpack.packb(head, use_bin_type=True)


def _set(path: tuple, value: object):
    def mangle(head: dict) -> dict:
        target = head
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return head

    return mangle


def _drop(path: tuple):
    def mangle(head: dict) -> dict:
        target = head
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return head

    return mangle


# One field mangled in an otherwise valid header; each makes the message invalid.
HEADER_MANGLES = [
    _set(("v",), PROTOCOL_VERSION + 1),
    _set(("v",), "1"),
    _set(("v",), 1.0),
    _set(("v",), True),
    _set(("kind",), "evil"),
    _set(("kind",), 7),
    _set(("kind",), b"transitions"),
    _drop(("kind",)),
    _drop(("a",)),
    _set(("x",), 1),
    _set(("h",), ["actor_id"]),
    _set(("h",), None),
    _set(("a",), {"image": 1}),
    _set(("a",), "image"),
    _drop(("h", "count")),
    _drop(("h", "actor_id")),
    _set(("h", "extra"), 1),
    _set(("h", "first_seq"), -1),
    _set(("h", "first_seq"), "0"),
    _set(("h", "first_seq"), 2**64 - 1),
    _set(("h", "first_seq"), 1.5),
    _set(("h", "first_seq"), None),
    _set(("h", "count"), 0),
    _set(("h", "count"), 3),
    _set(("h", "count"), -2),
    _set(("h", "count"), 2**62),
    _set(("h", "actor_id"), 5),
    _set(("h", "actor_id"), "x" * 600),
    _set(("h", "actor_id"), [[[[["deep"]]]]]),
    _set(("h", "actor_id"), msgpack.ExtType(5, b"code")),
    _set(("h", "actor_id"), {b"bytes key": 1}),
    _set(("h", "weight_version"), -1),
    _set(("h", "weight_version"), float("nan")),
]

# Lies in the array specs ([name, dtype, shape]) about frames that are left as they are.
SPEC_MANGLES = [
    (1, "float64"),  # dtype with another item size: frame length disagrees
    (1, "object"),
    (1, "O"),
    (1, "<f4"),
    (1, "complex64"),
    (1, 5),
    (1, None),
    (2, "double"),  # shape lies: doubled first axis, dropped axis, negative, non-integer
    (2, "drop"),
    (2, [-2, 8, 8, 3]),
    (2, [2.0, 8, 8, 3]),
    (2, ["2", 8, 8, 3]),
    (2, [1] * 9),
    (2, 384),
    (2, [2**40, 2**40, 3]),  # huge declared sizes
    (2, [2**62]),
    (2, [0, 2**62]),
    (2, [2**63 - 1, 0, 0]),
    (0, ""),
    (0, "x" * 200),
    (0, 5),
    (0, "state"),  # the same name twice
    ("spec", ["image", "uint8"]),
    ("spec", ["image", "uint8", [2, 8, 8, 3], "extra"]),
    ("spec", "image"),
]


def _invalid(rng: np.random.Generator) -> list[bytes]:
    """One message that must be rejected, of a randomly chosen flavour."""
    flavour = rng.choice(
        ["random", "header", "spec", "truncated", "bool", "extra_frames", "too_many_frames", "over_cap"],
        p=[0.2, 0.25, 0.2, 0.15, 0.04, 0.1, 0.04, 0.02],
    )
    if flavour == "random":
        sizes = rng.integers(0, 200, rng.integers(1, 5))
        return [rng.bytes(int(n)) for n in sizes]
    head, arrays = _parts()
    if flavour == "header":
        mangle = HEADER_MANGLES[rng.integers(len(HEADER_MANGLES))]
        return [_pack(mangle(head)), *arrays]
    if flavour == "spec":
        where, value = SPEC_MANGLES[rng.integers(len(SPEC_MANGLES))]
        spec = head["a"][0]  # the image: (2, 8, 8, 3) uint8
        if where == "spec":
            head["a"][0] = value
        elif value == "double":
            spec[2] = [4, 8, 8, 3]
        elif value == "drop":
            spec[2] = [2, 8, 8]
        else:
            spec[where] = value
        return [_pack(head), *arrays]
    if flavour == "truncated":
        choice = rng.integers(4)
        if choice == 0:  # an array frame cut short
            index = int(rng.integers(len(arrays)))
            arrays[index] = arrays[index][: -int(rng.integers(1, len(arrays[index]) + 1))]
        elif choice == 1:  # an array frame missing
            del arrays[int(rng.integers(len(arrays)))]
        elif choice == 2:  # the header cut short
            packed = _pack(head)
            return [packed[: int(rng.integers(0, len(packed)))], *arrays]
        else:  # an array frame too long
            index = int(rng.integers(len(arrays)))
            arrays[index] = arrays[index] + rng.bytes(int(rng.integers(1, 64)))
        return [_pack(head), *arrays]
    if flavour == "bool":  # a bool array holding bytes other than 0 and 1
        arrays[2] = bytes([0, int(rng.integers(2, 256))])
        return [_pack(head), *arrays]
    if flavour == "extra_frames":
        return [_pack(head), *arrays, *(rng.bytes(16) for _ in range(rng.integers(1, 6)))]
    if flavour == "too_many_frames":
        return [_pack(head), *arrays, *([b"x"] * 300)]
    # over the cap: every frame below the sockets' per-frame limit, the whole message above CAP,
    # or a header frame over MAX_HEADER_BYTES
    if rng.random() < 0.5:
        return [_pack(head), *arrays, *([_OVER_CAP_FRAME] * 4)]
    head["h"]["pad"] = bytes(MAX_HEADER_BYTES + 1)
    return [_pack(head), *arrays]


def _well_formed(rng: np.random.Generator, label: str) -> list[bytes]:
    if label == OTHER:
        message = [
            Ack(actor_id="fuzz", acked_seq=int(rng.integers(-1, 100))),
            Welcome(actor_id="fuzz", weight_version=3),
            Refuse(reason="no"),
        ][rng.integers(3)]
    elif label == NO_HELLO:
        message = (
            make_batch(rng, first_seq=int(rng.integers(0, 100)))
            if rng.random() < 0.5
            else Heartbeat(sender="fuzz", time_s=1.0)
        )
    else:
        message = Hello(actor_id="fuzz", config_hash="c" * 64, spec_hash="d" * 64)
    return [bytes(f) for f in message.to_frames()]


@functools.lru_cache(maxsize=1)
def hostile_messages() -> tuple[tuple[str, list[bytes]], ...]:
    """MESSAGES (label, frames) from the fixed seed, generated once for all tests."""
    rng = np.random.default_rng(SEED)
    labels = [INVALID, OTHER, NO_HELLO, BAD_HELLO]
    cumulative = np.cumsum([0.93, 0.03, 0.03, 0.01])
    out = []
    for _ in range(MESSAGES):
        label = labels[int(np.searchsorted(cumulative, rng.random() * cumulative[-1]))]
        frames = _invalid(rng) if label == INVALID else _well_formed(rng, label)
        if label == INVALID:  # the oracle: fails on its own, whatever the server does
            try:
                decode_message(frames, CAP)
            except WireError:
                pass
            else:
                raise AssertionError(f"generated an 'invalid' message that decodes: {frames[0][:80]!r}")
        out.append((label, frames))
    return tuple(out)


def tcp_garbage(port: int, rng: np.random.Generator, socket_type: bytes) -> list[socket.socket]:
    """Raw bytes on a bound port: random streams, and a ZMTP 3 greeting followed by a frame that
    declares 2**62 bytes. Returns a connection left open (a peer that stays silent)."""
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(rng.bytes(int(rng.integers(1, 65536))))
    greeting = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + bytes(31)
    prop = b"\x0bSocket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    ready = b"\x05READY" + prop
    huge_frame = b"\x02" + (2**62).to_bytes(8, "big") + b"payload"
    for tail in (b"", rng.bytes(300), bytes([4, len(ready)]) + ready + huge_frame):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(greeting + tail)
            time.sleep(0.01)
    silent = socket.create_connection(("127.0.0.1", port), timeout=2)
    silent.sendall(greeting[:10])
    return [silent]


def wait_for(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def log_messages(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]
