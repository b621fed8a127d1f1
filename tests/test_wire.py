"""Wire format between actors and learner: round trips, hostile input, handshake, a real ZeroMQ pair."""

import dataclasses
import pickle
import subprocess
import sys
import tracemalloc

import msgpack
import numpy as np
import pytest

from robot_rl.errors import RobotRLError
from robot_rl.transport import wire
from robot_rl.transport.wire import (
    PROTOCOL_VERSION,
    Ack,
    Heartbeat,
    Hello,
    Refuse,
    TransitionBatch,
    Weights,
    Welcome,
    WireError,
    check_handshake,
    decode,
    decode_message,
    encode,
)


def transitions(count: int = 2, side: int = 128, seed: int = 0) -> TransitionBatch:
    rng = np.random.default_rng(seed)
    return TransitionBatch(
        actor_id="panda-0",
        first_seq=1000,
        count=count,
        weight_version=7,
        arrays={
            "state": rng.standard_normal((count, 18)).astype(np.float32),
            "next_state": rng.standard_normal((count, 18)).astype(np.float32),
            "action": rng.uniform(-1, 1, (count, 4)),
            "reward": rng.standard_normal(count).astype(np.float16),
            "done": rng.integers(0, 2, count).astype(bool),
            "step": np.arange(count, dtype=np.int64),
            "wrist": rng.integers(0, 256, (count, side, side, 3), dtype=np.uint8),
            "front": rng.integers(0, 256, (count, side, side, 3), dtype=np.uint8),
        },
    )


def weights() -> Weights:
    rng = np.random.default_rng(1)
    return Weights(
        version=42,
        arrays={
            "actor.0.weight": rng.standard_normal((256, 18)).astype(np.float32),
            "actor.0.bias": np.zeros(256, np.float32),
            "log_alpha": np.array(-1.5, np.float32),  # 0-d tensors travel as 0-d
            "encoder.conv.weight": rng.standard_normal((32, 3, 3, 3)).astype(np.float32),
            "steps": np.array([3], np.int32),
            "codes": np.array([-3, 4], np.int8),
        },
    )


def assert_same_arrays(got: dict, sent: dict) -> None:
    assert list(got) == list(sent)
    for name, array in sent.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


def test_transition_batch_with_camera_images_round_trips():
    sent = transitions()
    got = TransitionBatch.from_frames(sent.to_frames())
    assert (got.actor_id, got.first_seq, got.count, got.weight_version) == ("panda-0", 1000, 2, 7)
    assert got.arrays["wrist"].shape == (2, 128, 128, 3)
    assert_same_arrays(got.arrays, sent.arrays)


def test_weights_round_trip_including_zero_d_tensors():
    sent = weights()
    got = Weights.from_frames(sent.to_frames())
    assert got.version == 42
    assert_same_arrays(got.arrays, sent.arrays)


@pytest.mark.parametrize(
    "message",
    [
        Hello("panda-0", config_hash="a" * 64, spec_hash="b" * 64),
        Welcome("panda-0", weight_version=3),
        Refuse("handshake refused: config hash differs"),
        Ack("panda-0", acked_seq=1001),
        Ack("panda-0", acked_seq=-1),
        Heartbeat("learner", time_s=12.5),
    ],
    ids=lambda m: m.KIND,
)
def test_header_only_messages_round_trip(message):
    got = type(message).from_frames(message.to_frames())
    assert type(got) is type(message) and dataclasses.asdict(got) == dataclasses.asdict(message)
    assert decode_message(message.to_frames()) == message


def test_decode_message_dispatches_on_kind_and_from_frames_checks_it():
    assert isinstance(decode_message(transitions(count=1, side=4).to_frames()), TransitionBatch)
    with pytest.raises(WireError, match="expected message kind 'ack', received 'hello'"):
        Ack.from_frames(Hello("a", "c", "s").to_frames())


def test_frames_are_views_not_copies_both_ways():
    image = np.random.default_rng(0).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    frames = encode(wire.TRANSITIONS, {}, {"wrist": image})
    assert np.shares_memory(np.frombuffer(frames[1], np.uint8), image)
    received = [bytes(frames[0]), bytearray(frames[1])]
    _, _, arrays = decode(received)
    assert np.shares_memory(arrays["wrist"], np.frombuffer(received[1], np.uint8))


def test_non_contiguous_and_big_endian_arrays_are_sent_as_their_values():
    strided = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    big_endian = np.arange(5, dtype=">f8")
    _, _, arrays = decode(encode(wire.WEIGHTS, {}, {"strided": strided, "be": big_endian}))
    np.testing.assert_array_equal(arrays["strided"], strided)
    np.testing.assert_array_equal(arrays["be"], big_endian)


def test_nothing_is_unpickled_and_object_arrays_are_refused(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used on received data")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    for message in (transitions(), weights(), Hello("a", "c", "s"), Heartbeat("x", 1.0)):
        decode_message(message.to_frames())
    with pytest.raises(WireError, match="dtype object"):
        encode(wire.WEIGHTS, {}, {"w": np.array([{"a": 1}, None], dtype=object)})
    with pytest.raises(WireError, match="dtype <U"):
        encode(wire.WEIGHTS, {}, {"w": np.array(["rm -rf"])})
    with pytest.raises(WireError, match="'ragged' is not an array"):
        encode(wire.WEIGHTS, {}, {"ragged": [[1, 2], [3]]})
    with pytest.raises(WireError, match="holds a int64"):
        encode(wire.ACK, {"actor_id": np.int64(3)})


def test_oversized_messages_are_refused_on_both_sides():
    frames = transitions(count=4, side=32).to_frames()
    total = sum(memoryview(f).nbytes for f in frames)
    with pytest.raises(WireError, match=f"{total} bytes, over the 10000-byte limit"):
        transitions(count=4, side=32).to_frames(max_bytes=10_000)
    with pytest.raises(WireError, match="over the 10000-byte limit"):
        decode(frames, max_bytes=10_000)
    assert decode(frames, max_bytes=total)[0] == wire.TRANSITIONS


def _raw(kind="weights", header=None, specs=(), version=PROTOCOL_VERSION, **extra):
    return msgpack.packb({"v": version, "kind": kind, "h": header or {}, "a": list(specs), **extra})


def test_claimed_huge_shape_is_refused_before_any_allocation():
    tracemalloc.start()
    try:
        with pytest.raises(WireError, match=r"claims shape \[1099511627776\]"):
            decode([_raw(specs=[["w", "float32", [2**40]]]), b"\0" * 16])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        ([_raw(specs=[["w", "float32", [3]]]), b"\0" * 8], r"claims float32\(3,\) = 12 bytes, frame 1 has 8"),
        ([_raw(specs=[["w", "float32", [-1]]]), b""], "sizes must be integers >= 0"),
        ([_raw(specs=[["w", "object", [1]]]), b"\0" * 8], "dtype 'object'"),
        ([_raw(specs=[["w", "bool", [2]]]), b"\x01\x02"], "holds bytes other than 0 and 1"),
        ([_raw(specs=[["w", "uint8", [1]]])], "describes 1 arrays but 0 array frames came"),
        ([_raw(kind="exec")], "unknown message kind 'exec'"),
        (
            [_raw(version=PROTOCOL_VERSION + 1)],
            f"peer speaks wire protocol version {PROTOCOL_VERSION + 1}, this side speaks {PROTOCOL_VERSION}",
        ),
        ([b"\xc1garbage"], "header frame is not valid msgpack"),
        ([msgpack.packb([1, 2])], "not a robot_rl message header"),
        ([_raw(header={"f": msgpack.ExtType(5, b"x")})], "holds a ExtType"),
        ([], "empty message"),
        (b"\x01\x02", "a message is a list of frames"),
        ([_raw(), "text"], "frame 1 is str"),
    ],
)
def test_bad_input_raises_one_line_wire_error(frames, match):
    with pytest.raises(WireError, match=match) as caught:
        decode(frames)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, RobotRLError)


def test_typed_messages_refuse_wrong_fields():
    with pytest.raises(WireError, match="must carry fields actor_id, acked_seq"):
        Ack.from_frames(encode(wire.ACK, {"actor_id": "a"}))
    with pytest.raises(WireError, match="'acked_seq' must be an integer >= -1"):
        Ack.from_frames(encode(wire.ACK, {"actor_id": "a", "acked_seq": "7"}))
    with pytest.raises(WireError, match="first axis must be count=3"):
        TransitionBatch("a", 0, 3, 0, {"state": np.zeros((2, 4), np.float32)}).to_frames()
    header = {"actor_id": "a", "first_seq": 0, "count": 3, "weight_version": 0}
    with pytest.raises(WireError, match="first axis must be count=3"):
        TransitionBatch.from_frames(encode(wire.TRANSITIONS, header, {"state": np.zeros(2)}))


def _hostile_headers(rng: np.random.Generator) -> list:
    """Well-formed msgpack describing things that must be refused."""
    shapes = [[2**40], [-1], [2**63], [2**64 - 1], [1.5], [True], "abc", [[1]], [2**20] * 8, [1] * 9]
    shapes += [[0, 2**62, 2**62], None, [2**31, 2**31], [-(2**63)], [2**24], [3, 2**20]]
    dtypes = ["object", "O", "<U4", "float128", "complex64", "V8", 5, None, b"uint8", "uint8 ", "<f4"]
    names = ["", "x" * 200, 5, None, b"name", ["w"]]
    good = ["w", "float32", [2]]
    specs = (
        [[["w", "float32", s]] for s in shapes]
        + [[["w", d, [2]]] for d in dtypes]
        + [[[n, "float32", [2]]] for n in names]
        + [[good, good], [["w", "float32"]], ["w"], [None], [[*good, 1]]]
    )
    headers = [_raw(specs=s) for s in specs]
    headers += [
        _raw(version=v, specs=[good]) for v in (0, PROTOCOL_VERSION + 1, "1", True, None, 1.0, 2**64 - 1)
    ]
    headers += [_raw(kind=k, specs=[good]) for k in ("evil", "", 5, None, ["hello"])]
    headers += [
        _raw(specs=[good], extra=1),
        msgpack.packb({"v": PROTOCOL_VERSION, "kind": "ack", "a": [good]}),
    ]
    headers += [msgpack.packb({"v": PROTOCOL_VERSION, "kind": "ack", "h": [], "a": [good]})]
    headers += [msgpack.packb({"v": PROTOCOL_VERSION, "kind": "ack", "h": {}, "a": {"w": good}})]
    headers += [_raw(header={"deep": [[[[[[1]]]]]]}, specs=[good]), _raw(header={1: 2}, specs=[good])]
    return [[h, rng.bytes(8)] for h in headers]


def _mutate(frames: list, rng: np.random.Generator) -> tuple[list, bool]:
    """A corrupted copy of a valid message and whether it can no longer be valid."""
    frames = [bytes(f) for f in frames]
    how = rng.integers(6)
    if how == 0:  # truncate a frame
        i = rng.integers(len(frames))
        frames[i] = frames[i][: rng.integers(len(frames[i]) + 1)]
        return frames, False
    if how == 1:  # overwrite header bytes
        head = bytearray(frames[0])
        for _ in range(rng.integers(1, 4)):
            head[rng.integers(len(head))] = rng.integers(256)
        frames[0] = bytes(head)
        return frames, False
    if how == 2:  # grow an array frame, or add one to a header-only message
        if len(frames) == 1:
            return [*frames, rng.bytes(rng.integers(0, 9))], True
        i = rng.integers(1, len(frames))
        frames[i] += rng.bytes(rng.integers(1, 9))
        return frames, True
    if how == 3:  # drop or duplicate frames
        if rng.integers(2) and len(frames) > 1:
            del frames[rng.integers(1, len(frames))]
        else:
            frames.append(frames[-1])
        return frames, True
    if how == 4:  # random frames
        return [rng.bytes(rng.integers(0, 64)) for _ in range(rng.integers(0, 5))], True
    return frames, None  # caller decodes with a max_bytes below its size


def _corrupted_cases(count: int) -> list[tuple[list, bool, int]]:
    """(frames, must be refused, max_bytes): every hostile header, then seeded mutations of valid messages."""
    rng = np.random.default_rng(2024)
    valid = [
        transitions(count=3, side=4, seed=1).to_frames(),
        Weights(3, {"w": np.ones((4, 3), np.float32), "b": np.zeros(4, np.float16)}).to_frames(),
        Hello("a", "c" * 64, "s" * 64).to_frames(),
        Ack("a", 5).to_frames(),
        Heartbeat("x", 1.0).to_frames(),
    ]
    cases = [(frames, True, wire.MAX_MESSAGE_BYTES) for frames in _hostile_headers(rng)]
    while len(cases) < count:
        frames, must_fail = _mutate(valid[rng.integers(len(valid))], rng)
        if must_fail is None:  # oversized: a limit below the message's size
            cases.append((frames, True, int(rng.integers(0, sum(len(f) for f in frames)))))
        else:
            cases.append((frames, must_fail, wire.MAX_MESSAGE_BYTES))
    return cases


def _decode_all(cases: list[tuple[list, bool, int]]) -> int:
    """Decode every case both ways; only WireError may escape, and only where a case must fail."""
    refused = 0
    for index, (frames, must_fail, max_bytes) in enumerate(cases):
        for reader in (decode, decode_message):
            try:
                reader(frames, max_bytes=max_bytes)
            except WireError as exc:
                refused += 1
                assert "\n" not in str(exc)
            else:
                assert not must_fail, f"case {index} accepted: {frames[:1]}"
    return refused


def test_ten_thousand_corrupted_messages_raise_only_wire_error():
    cases = _corrupted_cases(10_000)
    assert _decode_all(cases) > 15_000


def test_decoding_corrupted_messages_allocates_little():
    cases = _corrupted_cases(1_500)  # tracemalloc makes decoding ~7x slower: a subset suffices
    tracemalloc.start()
    try:
        _decode_all(cases)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"decoding garbage peaked at {peak} bytes"


def test_handshake_accepts_matching_hellos_and_names_what_differs():
    learner = Hello("learner", config_hash="c0ffee" * 8, spec_hash="5bec" * 16)
    check_handshake(learner, Hello("panda-0", "c0ffee" * 8, "5bec" * 16))
    with pytest.raises(WireError) as caught:
        check_handshake(learner, Hello("panda-0", "deadbeef" * 8, "5bec" * 16))
    message = str(caught.value)
    assert "config hash differs" in message and "robot spec" not in message
    assert "c0ffeec0ffee" in message and "deadbeefdead" in message and "'panda-0'" in message
    assert "\n" not in message
    with pytest.raises(WireError, match=r"robot spec hash differs \(ours 5bec5bec5bec, actor 'panda-0' 0000"):
        check_handshake(learner, Hello("panda-0", "c0ffee" * 8, "0" * 64))
    with pytest.raises(WireError, match="protocol version differs"):
        check_handshake(learner, Hello("panda-0", "c0ffee" * 8, "5bec" * 16, protocol_version=0))


def test_transition_batch_over_a_real_zmq_socket_pair():
    zmq = pytest.importorskip("zmq")
    context = zmq.Context()
    learner, actor = context.socket(zmq.PAIR), context.socket(zmq.PAIR)
    try:
        port = learner.bind_to_random_port("tcp://127.0.0.1")
        actor.connect(f"tcp://127.0.0.1:{port}")
        sent = transitions()
        actor.send_multipart(sent.to_frames(), copy=False)
        assert learner.poll(5000), "no message within 5 s"
        got = TransitionBatch.from_frames(learner.recv_multipart(copy=False))
        assert (got.actor_id, got.first_seq, got.count) == ("panda-0", 1000, 2)
        assert_same_arrays(got.arrays, sent.arrays)
        learner.send_multipart(Ack(got.actor_id, got.first_seq + got.count - 1).to_frames(), copy=False)
        assert actor.poll(5000), "no ack within 5 s"
        assert Ack.from_frames(actor.recv_multipart(copy=False)) == Ack("panda-0", 1001)
    finally:
        actor.close(linger=0)
        learner.close(linger=0)
        context.term()


def test_wire_module_does_not_import_zmq():
    code = "import sys, robot_rl.transport.wire; assert 'zmq' not in sys.modules, 'zmq imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
