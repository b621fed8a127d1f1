"""Transitions channel: exactly-once delivery through a lossy network, restarts of actor and learner,
spilling to disk, and real ZeroMQ sockets over tcp://127.0.0.1."""

import logging
import subprocess
import sys
import threading

import numpy as np
import pytest

from robot_rl.errors import RobotRLError
from robot_rl.transport.channel import Inbox, Outbox
from robot_rl.transport.sockets import TransitionReceiver, TransitionSender
from robot_rl.transport.wire import Ack, Hello, TransitionBatch


def transition(actor: int, index: int, side: int = 4) -> dict[str, np.ndarray]:
    """A transition whose content says who made it and when, so the learner's copy can be checked."""
    return {
        "tag": np.array([actor, index], np.int64),
        "state": np.full(3, index, np.float32),
        "image": np.full((side, side, 3), index % 256, np.uint8),
    }


def tags(batches) -> list[int]:
    return [int(tag) for batch in batches for tag in batch.arrays["tag"][:, 1]]


class Learner:
    """An Inbox plus the 'replay buffer' it feeds: the tags of the inserted transitions, per actor."""

    def __init__(self, durable_acks: bool = False):
        self.inbox = Inbox(durable_acks)
        self.stored: dict[str, list[int]] = {}

    def receive(self, batch: TransitionBatch) -> int:
        new, acked, _ = self.inbox.accept(batch)
        if new is not None:
            self.stored.setdefault(batch.actor_id, []).extend(int(t) for t in new.arrays["tag"][:, 1])
            np.testing.assert_array_equal(new.arrays["state"][:, 0], new.arrays["tag"][:, 1])
        return acked


@pytest.mark.parametrize("durable_acks", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_every_transition_arrives_exactly_once_through_a_lossy_network_and_restarts(
    tmp_path, seed, durable_acks
):
    """Actors restart from their spill dirs; with durable acks the learner is also SIGKILLed and
    restored from its last checkpoint (replay contents + inbox state) now and then."""
    rng = np.random.default_rng(seed)
    actors, per_actor = ["a0", "a1"], 150
    # A memory budget of ~3 batches, so restarts have spilled files to recover from.
    limit = 3 * 5 * sum(a.nbytes for a in transition(0, 0).values())

    def open_outbox(name):
        return Outbox(name, batch_size=5, max_memory_bytes=limit, spill_dir=tmp_path / name)

    outboxes = {name: open_outbox(name) for name in actors}
    produced = dict.fromkeys(actors, 0)
    learner = Learner(durable_acks)
    checkpoint = (Inbox().state_dict(), {})
    crashes = 0

    def save_checkpoint():
        nonlocal checkpoint
        checkpoint = (learner.inbox.state_dict(), {k: list(v) for k, v in learner.stored.items()})
        learner.inbox.mark_durable(checkpoint[0])

    wire: list[tuple[str, object]] = []  # in flight, delivered in random order: ("batch"|"ack", payload)
    restarts = recovered = dropped = duplicated = 0

    def send_all(batches):
        wire.extend(("batch", b) for b in batches)

    for _step in range(20_000):  # a bound, so a broken channel fails instead of hanging
        if not wire and all(n == per_actor for n in produced.values()):
            # Nothing in flight: what is still unacked (staged, or lost with every copy) gets resent.
            save_checkpoint()
            for outbox in outboxes.values():
                outbox.flush()
                send_all(outbox.pending())
            if not wire:
                break
        roll = rng.random()
        name = actors[rng.integers(len(actors))]
        if roll < 0.5 and produced[name] < per_actor:
            batch = outboxes[name].add(transition(actors.index(name), produced[name]))
            produced[name] += 1
            if batch is not None:
                send_all([batch])
        elif roll < 0.95 and wire:
            kind, payload = wire.pop(int(rng.integers(len(wire))))
            fate = rng.random()
            if fate < 0.2:
                dropped += 1
                continue
            if fate < 0.3:
                duplicated += 1
                wire.append((kind, payload))
            if kind == "batch":
                acked = learner.receive(payload)
                wire.append(("ack", Ack(actor_id=payload.actor_id, acked_seq=acked)))
            else:
                outboxes[payload.actor_id].ack(payload.acked_seq)
        elif roll < 0.98:
            send_all(outboxes[name].pending())  # a resend timeout / reconnect
        elif roll < 0.99:
            outboxes[name].close()  # actor process restarts with the same spill dir
            outboxes[name] = open_outbox(name)
            restarts += 1
            recovered += outboxes[name].unacked
        elif roll < 0.995:
            save_checkpoint()
        elif durable_acks:  # learner SIGKILL: a new process loads the last checkpoint
            learner = Learner(durable_acks)
            learner.inbox.load_state_dict(checkpoint[0])
            learner.stored = {k: list(v) for k, v in checkpoint[1].items()}
            crashes += 1
    else:
        pytest.fail("the channel never settled: some transitions are neither delivered nor pending")

    assert restarts > 0 and recovered > 0 and dropped > 0 and duplicated > 0
    assert learner.inbox.gaps > 0 and (crashes > 0) == durable_acks
    for name in actors:
        assert learner.stored[name] == list(range(per_actor)), name
        assert outboxes[name].unacked == 0
        assert not list((tmp_path / name).glob("*.batch")), "acked spill files must be deleted"


def test_learner_restored_from_an_older_checkpoint_loses_and_duplicates_nothing():
    outbox, learner = Outbox("arm", batch_size=8), Learner()
    for i in range(40):
        batch = outbox.add(transition(0, i))
        if batch is not None:
            outbox.ack(learner.receive(batch))
    checkpoint = (learner.inbox.state_dict(), list(learner.stored["arm"]))
    assert checkpoint[0]["next_seq"] == {"arm": 40}
    for i in range(40, 100):
        batch = outbox.add(transition(0, i))
        if batch is not None:
            learner.receive(batch)  # received after the checkpoint; acks lost in the crash
    # SIGKILL: a new learner process loads the checkpoint (sequence state + replay buffer together).
    restarted = Learner()
    restarted.inbox.load_state_dict(checkpoint[0])
    restarted.stored["arm"] = checkpoint[1]
    acked = restarted.inbox.acked("arm")  # what the handshake ack tells the actor
    assert acked == 39
    outbox.ack(acked)
    outbox.flush()
    for batch in outbox.pending():
        outbox.ack(restarted.receive(batch))
    assert restarted.stored["arm"] == list(range(100))
    assert outbox.unacked == 0 and restarted.inbox.duplicates == 0


def test_durable_acks_survive_a_learner_crash_after_acking_uncheckpointed_transitions():
    outbox, learner = Outbox("arm", batch_size=8), Learner(durable_acks=True)
    checkpoint = None
    for i in range(100):
        batch = outbox.add(transition(0, i))
        if batch is not None:
            outbox.ack(learner.receive(batch))  # every ack arrives
        if i == 49:  # the learner writes a checkpoint, then marks it durable
            checkpoint = (learner.inbox.state_dict(), list(learner.stored["arm"]))
            learner.inbox.mark_durable(checkpoint[0])
    assert learner.inbox.acked("arm") == 47 and outbox.unacked == 96 - 48  # 96..99 still staged
    restarted = Learner(durable_acks=True)  # SIGKILL after acking 48..95: they are not lost
    restarted.inbox.load_state_dict(checkpoint[0])
    restarted.stored["arm"] = checkpoint[1]
    outbox.ack(restarted.inbox.acked("arm"))
    outbox.flush()
    for batch in outbox.pending():
        outbox.ack(restarted.receive(batch))
    assert restarted.stored["arm"] == list(range(100)) and restarted.inbox.duplicates == 0


def test_inbox_drops_overlap_and_refuses_gaps_with_a_one_line_log(caplog):
    inbox, outbox = Inbox(), Outbox("x", batch_size=4)
    batches = [b for b in (outbox.add(transition(0, i)) for i in range(12)) if b is not None]
    b0, b1, b2 = batches
    with caplog.at_level(logging.WARNING):
        new, acked, report = inbox.accept(b1)
    assert new is None and acked == -1 and report.gap == 4 and inbox.gaps == 1
    assert len(caplog.records) == 1 and "\n" not in caplog.records[0].getMessage()
    assert inbox.accept(b0)[1] == 3
    assert inbox.accept(b0)[0] is None and inbox.duplicates == 4
    # An overlapping resend (2 old + 4 new) inserts only the new part.
    overlap = TransitionBatch(
        "x", 2, 6, 0, {k: np.concatenate([b0.arrays[k][2:], b1.arrays[k]]) for k in b0.arrays}
    )
    new, acked, report = inbox.accept(overlap)
    assert (new.first_seq, new.count, acked, report.duplicates) == (4, 4, 7, 2)
    np.testing.assert_array_equal(new.arrays["tag"], b1.arrays["tag"])
    assert inbox.accept(b2)[1] == 11


def test_outbox_spills_to_disk_under_a_tiny_memory_limit_and_a_new_outbox_recovers(tmp_path):
    one = sum(a.nbytes for a in transition(0, 0, side=16).values())
    outbox = Outbox("cam", batch_size=4, max_memory_bytes=6 * one, spill_dir=tmp_path)
    for i in range(50):
        outbox.add(transition(0, i, side=16))
        assert outbox.memory_bytes <= 6 * one + 4 * one  # budget plus the newest batch
    files = sorted(tmp_path.glob("*.batch"))
    assert len(files) >= 10 and not list(tmp_path.glob("*.tmp"))
    assert tags(outbox.pending()) == list(range(48))  # 2 still staged
    outbox.ack(9)  # mid-batch: 8..11 is resent whole, the learner drops 8..9
    outbox.close()

    again = Outbox("cam", batch_size=4, max_memory_bytes=6 * one, spill_dir=tmp_path)
    resent = [b for b in again.pending()]
    assert tags(resent) == list(range(8, 50))
    np.testing.assert_array_equal(resent[-1].arrays["image"][0], transition(0, 48, side=16)["image"])
    assert again.add(transition(0, 50)) is None and again.flush().first_seq == 50
    again.ack(50)
    assert again.unacked == 0 and not list(tmp_path.glob("*.batch"))
    again.add(transition(0, 51))
    again.close()
    with pytest.raises(RobotRLError, match="holds batches of actor 'cam'"):
        Outbox("other", spill_dir=tmp_path)


def test_unwritable_spill_dir_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(RobotRLError, match=r"spill directory .*file/spill is not writable") as info:
        Outbox("a", spill_dir=tmp_path / "file" / "spill")
    assert "\n" not in str(info.value)


# -- real sockets --------------------------------------------------------------------------------

HASHES = {"config_hash": "c" * 64, "spec_hash": "s" * 64}


@pytest.fixture
def receiver():
    """A learner receiver polled by a background thread, as the learner's transport loop would."""
    zmq = pytest.importorskip("zmq")
    context = zmq.Context()
    recv = TransitionReceiver(Hello(actor_id="learner", **HASHES), context=context)
    recv.received = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            recv.received.extend(recv.poll(0.02))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop_serving():  # after this, `received` holds every batch the receiver has acked
        stop.set()
        thread.join(5)

    recv.stop_serving = stop_serving
    yield recv
    stop_serving()
    recv.close()
    context.term()


def test_two_senders_deliver_1000_transitions_each_exactly_once(receiver):
    senders = [
        TransitionSender(
            Hello(actor_id=f"actor{k}", **HASHES),
            Outbox(f"actor{k}", batch_size=50),
            receiver.endpoint,
            context=receiver.context,
        )
        for k in range(2)
    ]
    for sender in senders:
        assert sender.connect(5).actor_id == sender.hello.actor_id
    for i in range(1000):
        for k, sender in enumerate(senders):
            sender.add(transition(k, i, side=16))
            sender.poll_acks(0)
    assert all(sender.flush(10) for sender in senders)
    for sender in senders:
        sender.close()
    receiver.stop_serving()
    by_actor: dict[str, list[int]] = {}
    for batch in receiver.received:
        by_actor.setdefault(batch.actor_id, []).extend(batch.arrays["tag"][:, 1].tolist())
        assert batch.arrays["image"].shape[1:] == (16, 16, 3)
    assert by_actor == {"actor0": list(range(1000)), "actor1": list(range(1000))}
    assert receiver.malformed == 0 and receiver.inbox.duplicates == 0


def test_garbage_and_truncated_messages_are_ignored_and_the_receiver_keeps_acking(receiver, caplog):
    import zmq

    raw = receiver.context.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(receiver.endpoint)
    batch = Outbox("arm", batch_size=2)
    batch.add(transition(0, 0))
    good = batch.add(transition(0, 1))
    with caplog.at_level(logging.WARNING):
        raw.send_multipart([b"\xc1garbage"])
        raw.send_multipart([bytes(f) for f in good.to_frames()][:-1])  # last array frame missing
        raw.send_multipart(Hello(actor_id="arm", **HASHES).to_frames())
        raw.send_multipart(good.to_frames())
        replies = []
        while len(replies) < 3 and raw.poll(5000):
            replies.append(raw.recv_multipart())
    raw.close()
    from robot_rl.transport.wire import decode_message

    kinds = [decode_message(r) for r in replies]
    assert [m.KIND for m in kinds] == ["welcome", "ack", "ack"]
    assert kinds[-1].acked_seq == 1
    assert receiver.malformed == 2
    assert sum("malformed" in r.getMessage() for r in caplog.records) == 2


def test_a_different_robot_spec_is_refused_with_one_line_on_both_sides(receiver, caplog):
    hello = Hello(actor_id="quad", config_hash="c" * 64, spec_hash="d" * 64)
    sender = TransitionSender(hello, Outbox("quad"), receiver.endpoint, context=receiver.context)
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(RobotRLError, match="robot spec hash differs") as info,
    ):
        sender.connect(5)
    sender.close()
    assert "\n" not in str(info.value)
    learner_side = [
        r.getMessage() for r in caplog.records if r.name.endswith("sockets") and r.levelno == logging.WARNING
    ]
    assert any("robot spec hash differs" in m and "\n" not in m for m in learner_side)
    assert receiver.refused == 1


def test_channel_logic_does_not_import_zmq():
    code = (
        "import sys, robot_rl.transport.channel as c; c.Inbox(); c.Outbox('a'); "
        "assert 'zmq' not in sys.modules, 'zmq imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_spill_write_killed_before_its_rename_is_cleared_by_the_next_outbox(tmp_path):
    # a real process killed mid-write leaves its temporary file, never a torn batch file
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom robot_rl.paths import atomic_file\n"
        "with atomic_file(Path(sys.argv[1]) / '00000000000000000000.batch', fsync=True) as f:\n"
        "    f.write(b'half a batch')\n    f.flush()\n    os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)]).returncode == 9
    assert len(list(tmp_path.glob(".*.tmp"))) == 1 and not list(tmp_path.glob("*.batch"))
    outbox = Outbox("cam", batch_size=4, max_memory_bytes=1 << 20, spill_dir=tmp_path)
    assert not list(tmp_path.glob(".*.tmp")) and list(outbox.pending()) == []
