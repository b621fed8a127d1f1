"""The lossless transitions channel: every transition an actor collects reaches the learner's replay
buffer exactly once, across dropped, duplicated or reordered messages and restarts of either side.

`Outbox` (actor) numbers transitions per actor, stacks them into `TransitionBatch`es and keeps every
batch until the learner acknowledges it; past a memory budget the oldest batches spill to files (wire
frames, never pickle) that a restarted actor finds again. `Inbox` (learner) remembers the next
expected sequence number per actor, inserts only what extends it and acks the highest contiguous
sequence; its `state_dict()` goes into the learner checkpoint next to the replay buffer, so a learner
restarted from an older checkpoint acks from there and the actors resend the rest.

`TransitionSender` / `TransitionReceiver` (`robot_rl.transport.sockets`) are the thin ZeroMQ layer
over this logic; nothing here imports ZeroMQ.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import struct
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.paths import atomic_file, remove_torn_writes
from robot_rl.transport.wire import (
    TransitionBatch,
    WireError,
)

log = logging.getLogger(__name__)

_SPILL_MAGIC = b"robot_rl-spill-1\n"
_SPILL_SUFFIX = ".batch"
_NEXT_SEQ_FILE = "next_seq"


def batch_nbytes(batch: TransitionBatch) -> int:
    """Bytes held by the arrays of `batch`."""
    return sum(np.asarray(a).nbytes for a in batch.arrays.values())


def _slice(batch: TransitionBatch, start: int) -> TransitionBatch:
    """The batch without its first `start` transitions."""
    return TransitionBatch(
        actor_id=batch.actor_id,
        first_seq=batch.first_seq + start,
        count=batch.count - start,
        weight_version=batch.weight_version,
        arrays={name: np.asarray(a)[start:] for name, a in batch.arrays.items()},
    )


def _write_durable(path: Path, chunks: list[Any]) -> None:
    # fsync before the rename: a spilled batch or the sequence counter survives a power cut whole
    with atomic_file(path, fsync=True) as f:
        for chunk in chunks:
            f.write(chunk)


class Outbox:
    """Actor side: sequence numbers, batching and the store of unacknowledged batches.

    `add()` one transition (a dict of numpy arrays) at a time; every `batch_size` transitions a batch is
    sealed and returned for sending. `ack(seq)` forgets everything up to `seq`; `pending()` yields all
    unacknowledged batches in sequence order, to resend after a reconnect. With `spill_dir`, batches
    beyond `max_memory_bytes` live in files there, and `close()` spills the rest, so a restarted actor
    with the same directory resends everything the learner has not acknowledged. (A hard kill loses
    only what was still in memory; the learner's ack then moves the sequence past what it holds.)
    """

    def __init__(
        self,
        actor_id: str,
        batch_size: int = 32,
        max_memory_bytes: int = 256 * 1024 * 1024,
        spill_dir: str | os.PathLike | None = None,
    ):
        if batch_size < 1:
            raise RobotRLError(f"outbox batch_size must be >= 1, got {batch_size}")
        self.actor_id = actor_id
        self.batch_size = batch_size
        self.max_memory_bytes = max_memory_bytes
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.next_seq = 0
        self._staged: list[Mapping[str, np.ndarray]] = []
        self._staged_version = 0
        self._memory: deque[TransitionBatch] = deque()
        self._memory_bytes = 0
        self._spilled: deque[tuple[int, int, Path]] = deque()  # (first_seq, count, file), oldest first
        if self.spill_dir is not None:
            self._open_spill_dir()

    # -- actor API -------------------------------------------------------------------------------

    def add(self, transition: Mapping[str, np.ndarray], weight_version: int = 0) -> TransitionBatch | None:
        """Stage one transition; returns the sealed batch when this one completes it, else None."""
        if self._staged and set(transition) != set(self._staged[0]):
            raise RobotRLError(
                f"transition has fields {sorted(transition)}, the previous ones had {sorted(self._staged[0])}"
            )
        if not self._staged:
            self._staged_version = weight_version
        self._staged.append(transition)
        return self.flush() if len(self._staged) >= self.batch_size else None

    def flush(self) -> TransitionBatch | None:
        """Seal the staged transitions (fewer than batch_size) into a batch; None if nothing is staged."""
        if not self._staged:
            return None
        names = list(self._staged[0])
        batch = TransitionBatch(
            actor_id=self.actor_id,
            first_seq=self.next_seq,
            count=len(self._staged),
            weight_version=self._staged_version,
            arrays={name: np.stack([np.asarray(t[name]) for t in self._staged]) for name in names},
        )
        self._staged = []
        self.next_seq += batch.count
        self._memory.append(batch)
        self._memory_bytes += batch_nbytes(batch)
        self._spill_over_budget()
        return batch

    def ack(self, acked_seq: int) -> None:
        """The learner holds every transition up to and including `acked_seq`: forget them."""
        # A restarted actor whose unspilled batches were lost must not reuse numbers the learner holds.
        self.next_seq = max(self.next_seq, acked_seq + 1)
        while self._spilled and self._spilled[0][0] + self._spilled[0][1] - 1 <= acked_seq:
            self._spilled.popleft()[2].unlink(missing_ok=True)
        if self._spilled and self._spilled[0][0] <= acked_seq:
            return  # a partly acked spilled batch is resent whole; the Inbox drops the overlap
        while self._memory and self._memory[0].first_seq <= acked_seq:
            batch = self._memory.popleft()
            self._memory_bytes -= batch_nbytes(batch)
            if batch.first_seq + batch.count - 1 > acked_seq:  # partly acked: keep the tail
                tail = _slice(batch, acked_seq + 1 - batch.first_seq)
                self._memory.appendleft(tail)
                self._memory_bytes += batch_nbytes(tail)
                break

    def pending(self) -> Iterator[TransitionBatch]:
        """Every unacknowledged sealed batch, oldest first (spilled ones are read back from disk)."""
        for _, _, path in list(self._spilled):
            if path.exists():  # else acked meanwhile
                yield self._read_spilled(path)
        yield from list(self._memory)

    @property
    def unacked(self) -> int:
        """Number of sealed transitions not yet acknowledged."""
        return sum(c for _, c, _ in self._spilled) + sum(b.count for b in self._memory)

    @property
    def memory_bytes(self) -> int:
        """Bytes of unacknowledged batches held in memory (not counting spilled ones)."""
        return self._memory_bytes

    def close(self) -> None:
        """Seal staged transitions and spill everything unacknowledged, for a restart to resend."""
        self.flush()
        if self.spill_dir is not None:
            while self._memory:
                self._spill_oldest()
            self._save_next_seq()

    # -- spill files -----------------------------------------------------------------------------

    def _open_spill_dir(self) -> None:
        assert self.spill_dir is not None
        try:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            probe = self.spill_dir / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RobotRLError(
                f"spill directory {self.spill_dir} is not writable ({exc.strerror or exc}); "
                "pass a writable directory on a local disk"
            ) from None
        remove_torn_writes(self.spill_dir)  # writes killed before their rename: the batch was in memory
        found = []
        for path in self.spill_dir.glob(f"*{_SPILL_SUFFIX}"):
            batch = self._read_spilled(path)
            if batch.actor_id != self.actor_id:
                raise RobotRLError(
                    f"spill directory {self.spill_dir} holds batches of actor {batch.actor_id!r}, "
                    f"not {self.actor_id!r}: give each actor its own spill directory"
                )
            found.append((batch.first_seq, batch.count, path))
        found.sort()
        self._spilled.extend(found)
        if found:
            self.next_seq = found[-1][0] + found[-1][1]
        seq_file = self.spill_dir / _NEXT_SEQ_FILE
        if seq_file.exists():
            try:
                self.next_seq = max(self.next_seq, int(seq_file.read_text().strip()))
            except ValueError:
                raise RobotRLError(
                    f"{seq_file} is corrupt: delete it only if the learner was reset too"
                ) from None

    def _spill_over_budget(self) -> None:
        if self.spill_dir is None:
            return
        # Keep the newest batch in memory even over budget: it is the one about to be sent.
        while self._memory_bytes > self.max_memory_bytes and len(self._memory) > 1:
            self._spill_oldest()

    def _spill_oldest(self) -> None:
        assert self.spill_dir is not None
        batch = self._memory.popleft()
        self._memory_bytes -= batch_nbytes(batch)
        frames = batch.to_frames()
        chunks: list[Any] = [_SPILL_MAGIC, struct.pack("<I", len(frames))]
        for frame in frames:
            chunks += [struct.pack("<Q", memoryview(frame).nbytes), frame]
        path = self.spill_dir / f"{batch.first_seq:020d}{_SPILL_SUFFIX}"
        try:
            _write_durable(path, chunks)
        except OSError as exc:
            self._memory.appendleft(batch)
            self._memory_bytes += batch_nbytes(batch)
            raise RobotRLError(
                f"cannot write spill file {path} ({exc.strerror or exc}); free disk space or pick another "
                "spill directory"
            ) from None
        self._spilled.append((batch.first_seq, batch.count, path))
        self._save_next_seq()

    def _save_next_seq(self) -> None:
        assert self.spill_dir is not None
        _write_durable(self.spill_dir / _NEXT_SEQ_FILE, [str(self.next_seq).encode()])

    def _read_spilled(self, path: Path) -> TransitionBatch:
        data = memoryview(path.read_bytes())
        try:
            if bytes(data[: len(_SPILL_MAGIC)]) != _SPILL_MAGIC:
                raise WireError("not a spill file")
            pos = len(_SPILL_MAGIC)
            (count,) = struct.unpack_from("<I", data, pos)
            pos += 4
            frames = []
            for _ in range(count):
                (size,) = struct.unpack_from("<Q", data, pos)
                pos += 8
                if pos + size > len(data):
                    raise WireError("truncated")
                frames.append(data[pos : pos + size])
                pos += size
            return TransitionBatch.from_frames(frames)
        except (WireError, struct.error) as exc:
            raise RobotRLError(
                f"spill file {path} is corrupt ({exc}); move it away to drop those transitions"
            ) from None


@dataclasses.dataclass
class AcceptReport:
    """What `Inbox.accept` did with one batch."""

    actor_id: str
    inserted: int = 0
    duplicates: int = 0  # transitions already held, dropped
    gap: int = 0  # transitions missing before this batch (then nothing is inserted)


class Inbox:
    """Learner side: per actor, the next expected sequence number. Each transition is inserted once.

    By default the ack is the highest contiguous sequence inserted. With `durable_acks`, it is the
    highest one in the last checkpoint (see `mark_durable`): the actors then keep everything since,
    so even transitions inserted after that checkpoint survive a learner SIGKILL."""

    def __init__(self, durable_acks: bool = False) -> None:
        self.durable_acks = durable_acks
        self.next_seq: dict[str, int] = {}
        self._durable: dict[str, int] = {}
        self.inserted = 0
        self.duplicates = 0
        self.gaps = 0

    def acked(self, actor_id: str) -> int:
        """The sequence to ack to `actor_id` (-1: nothing)."""
        seqs = self._durable if self.durable_acks else self.next_seq
        return seqs.get(actor_id, 0) - 1

    def mark_durable(self, state: Mapping[str, Any]) -> None:
        """Call with the `state_dict()` saved once its checkpoint (with the replay buffer) is on disk."""
        self._durable = dict(state["next_seq"])

    def accept(self, batch: TransitionBatch) -> tuple[TransitionBatch | None, int, AcceptReport]:
        """(the transitions new to the learner or None, sequence to ack, report)."""
        expected = self.next_seq.get(batch.actor_id, 0)
        report = AcceptReport(batch.actor_id)
        end = batch.first_seq + batch.count
        if batch.first_seq > expected:
            # Inserting would leave a hole the actor could never fill; it resends from the ack instead.
            report.gap = batch.first_seq - expected
            self.gaps += 1
            log.warning(
                "actor %r: transitions %d..%d missing before batch at %d; waiting for resend",
                batch.actor_id,
                expected,
                batch.first_seq - 1,
                batch.first_seq,
            )
            return None, self.acked(batch.actor_id), report
        report.duplicates = min(expected, end) - batch.first_seq
        self.duplicates += report.duplicates
        if end <= expected:
            return None, self.acked(batch.actor_id), report
        new = _slice(batch, expected - batch.first_seq) if expected > batch.first_seq else batch
        report.inserted = new.count
        self.inserted += new.count
        self.next_seq[batch.actor_id] = end
        return new, self.acked(batch.actor_id), report

    def state_dict(self) -> dict[str, Any]:
        """Plain data for the learner checkpoint; save it together with the replay buffer."""
        return {
            "next_seq": dict(self.next_seq),
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "gaps": self.gaps,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        seqs = state.get("next_seq") if isinstance(state, Mapping) else None
        if not isinstance(seqs, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in seqs.items()
        ):
            raise RobotRLError(
                "inbox state must hold next_seq as {actor id: int >= 0}: the checkpoint is corrupt"
            )
        self.next_seq = {k: int(v) for k, v in seqs.items()}
        self._durable = dict(self.next_seq)  # a loaded checkpoint is on disk by definition
        self.inserted = int(state.get("inserted", 0))
        self.duplicates = int(state.get("duplicates", 0))
        self.gaps = int(state.get("gaps", 0))
