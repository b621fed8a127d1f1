"""`robot-rl bench transport`: the actor/learner link over loopback, with the real transport classes.

Two figures, each between two processes on this machine (multiprocessing "spawn", so nothing is
shared but the sockets):

- image transitions/s and MB/s: this process runs a `TransitionSender` (an actor) that sends
  `transitions` transitions, each two uint8 128x128x3 camera frames + float32 state (20) +
  action (7) + reward + terminated/truncated flags, to a `TransitionReceiver` (the learner) in a
  child process. The clock runs from the first `add()` to the moment every transition is
  acknowledged, and the learner's `Inbox` must hold exactly that many. At most `window`
  transitions are in flight unacknowledged (the actor's memory bound); transitions are built
  before the clock starts, so what is timed is batching, the wire and the learner's accept.
  Once per Outbox batch size (32 and 8), median of `repeats` repeats, batch sizes interleaved.
- weight latency: this process runs a `WeightPublisher` (the learner) publishing a ~1M-parameter
  actor (a real `SAC` with a 40-float observation and `weights_hidden` layers) every
  `interval_s`; a child process runs a `WeightSubscriber` calling `latest()` every millisecond
  and `load_into()` its own agent when a new version shows up. Latency = wall clock (`time.time`,
  shared by both processes) from the `publish()` call to `load_into()` returning, p50/p99 over
  `publishes` versions. A version the actor never loaded (a newer one overtook it) counts as
  skipped. Extracting the weights (`actor_weights`) happens before the clock starts and is
  reported on its own.

The machine is shared, so the figures move with whatever else runs; the JSON records the machine.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import statistics
import time
from typing import Any

import numpy as np

from robot_rl.benchmarks.machine import machine_info
from robot_rl.errors import RobotRLError

#: goals from the transport issue
GOALS = {"transitions_per_s": 2000.0, "weights_in_use_ms": 100.0}

CAMERA = (128, 128, 3)
STATE_SIZE = 20
ACTION_SIZE = 7
WEIGHTS_OBS_SIZE = 40
HASHES = {"config_hash": "bench-config", "spec_hash": "bench-spec"}
_CHILD_TIMEOUT_S = 60.0


# -- child processes (top-level functions: spawn imports them by name) ----------------------------
def _receiver_main(commands: Any, replies: Any) -> None:
    """Learner side of the transitions benchmark: serve until told to stop, then report the Inbox."""
    from robot_rl.transport import Hello, TransitionReceiver

    # every finished run leaves a silent actor that the learner reports lost after a while: expected
    # here, not worth a line on the console; what matters (losses, duplicates, malformed) is counted
    logging.getLogger("robot_rl.transport").setLevel(logging.ERROR)
    receiver = TransitionReceiver(Hello(actor_id="learner", **HASHES))
    replies.put(("endpoint", receiver.endpoint))
    try:
        while True:
            receiver.poll(0.05)
            try:
                command = commands.get_nowait()
            except queue.Empty:
                continue
            if command == "stop":
                break
            # a report request: everything polled so far is in the Inbox
            replies.put(("inbox", receiver.inbox.state_dict(), receiver.malformed))
    finally:
        receiver.close()


def _subscriber_main(endpoint: str, hidden: tuple[int, ...], replies: Any, stop: Any) -> None:
    """Actor side of the weights benchmark: poll `latest()`, load every new version, stamp it."""
    from robot_rl.runtime import configure_torch
    from robot_rl.transport import WeightSubscriber, load_into

    configure_torch(1)
    agent = _weights_agent(hidden)
    subscriber = WeightSubscriber(endpoint)
    try:
        while not subscriber.learner_alive:  # the publisher heartbeats until this side has joined
            if stop.is_set():
                return
            time.sleep(0.005)
        replies.put(("ready", time.time()))
        loaded = -1
        while not stop.is_set():
            weights = subscriber.latest()
            if weights is not None and weights.version > loaded:
                load_into(agent, weights.arrays)
                replies.put(("loaded", weights.version, time.time()))
                loaded = weights.version
            else:
                time.sleep(0.001)  # an actor between control steps; keeps the shared cores free
    finally:
        subscriber.close()


def _weights_agent(hidden: tuple[int, ...]):
    from robot_rl.agents.sac import SAC, preset

    return SAC(WEIGHTS_OBS_SIZE, ACTION_SIZE, preset("sac", hidden=tuple(hidden)))


def _get(replies: Any, process: Any, what: str, timeout_s: float = _CHILD_TIMEOUT_S) -> tuple:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return replies.get(timeout=0.2)
        except queue.Empty:
            if not process.is_alive():
                raise RobotRLError(
                    f"transport benchmark: the {what} process exited with code {process.exitcode}; "
                    "run it again, or see its traceback above"
                ) from None
    raise RobotRLError(f"transport benchmark: no answer from the {what} process within {timeout_s:g} s")


# -- transitions -----------------------------------------------------------------------------------
def _transitions(count: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "wrist": rng.integers(0, 256, CAMERA, dtype=np.uint8),
            "front": rng.integers(0, 256, CAMERA, dtype=np.uint8),
            "state": rng.standard_normal(STATE_SIZE, dtype=np.float32),
            "action": rng.uniform(-1, 1, ACTION_SIZE).astype(np.float32),
            "reward": np.float32(rng.standard_normal()),
            "terminated": np.bool_(False),
            "truncated": np.bool_(False),
        }
        for _ in range(count)
    ]


def _handshake(sender: Any, timeout_s: float) -> None:
    """Drive the sender's non-blocking handshake (Hello until welcomed), as an actor loop does."""
    deadline = time.monotonic() + timeout_s
    while not sender.welcomed:
        if time.monotonic() > deadline:
            raise RobotRLError(
                f"transport benchmark: the learner did not welcome the actor within {timeout_s:g} s"
            )
        sender.step()
        time.sleep(0.005)


def _send(endpoint: str, actor_id: str, batch_size: int, count: int, window: int, pool: list) -> dict:
    """One timed run of `count` transitions: seconds and bytes on the wire."""
    from robot_rl.transport import Hello, Outbox, TransitionSender

    sender = TransitionSender(Hello(actor_id=actor_id, **HASHES), Outbox(actor_id, batch_size), endpoint)
    try:
        _handshake(sender, 10.0)
        start = time.perf_counter()
        for i in range(count):
            sender.add(pool[i % len(pool)])
            sender.poll_acks(0)
            # bounded memory: wait for acks while a window's worth is unacknowledged
            while sender.outbox.unacked >= window:
                sender.poll_acks(0.002)
        if not sender.flush(30):
            raise RobotRLError(
                f"transport benchmark: {sender.outbox.unacked} transitions still unacknowledged after 30 s"
            )
        seconds = time.perf_counter() - start
    finally:
        sender.close()
    # what went over the wire: array bytes plus one header per batch (headers differ by a few bytes)
    sample = Outbox(actor_id, batch_size)
    for transition in pool[:batch_size]:
        sample.add(transition)
    header = len(bytes(next(iter(sample.pending())).to_frames()[0]))
    payload = sum(np.asarray(a).nbytes for a in pool[0].values())
    wire_bytes = count * payload + -(-count // batch_size) * header
    return {"seconds": seconds, "wire_bytes": wire_bytes}


def _bench_transitions(
    count: int, batch_sizes: tuple[int, ...], repeats: int, window: int, seed: int, bar: Any
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    commands, replies = ctx.Queue(), ctx.Queue()
    process = ctx.Process(target=_receiver_main, args=(commands, replies), daemon=True)
    process.start()
    try:
        _, endpoint = _get(replies, process, "learner")
        pool = _transitions(64, seed)
        payload = sum(a.nbytes for a in pool[0].values())
        runs: dict[int, list[dict]] = {b: [] for b in batch_sizes}
        for r in range(repeats):
            order = batch_sizes if r % 2 == 0 else tuple(reversed(batch_sizes))
            for batch_size in order:
                actor_id = f"bench-b{batch_size}-r{r}"
                runs[batch_size].append(_send(endpoint, actor_id, batch_size, count, window, pool))
                commands.put("report")
                _, inbox, malformed = _get(replies, process, "learner")
                inserted = inbox["next_seq"].get(actor_id, 0)
                if inserted != count or inbox["duplicates"] or inbox["gaps"] or malformed:
                    raise RobotRLError(
                        f"transport benchmark: the learner holds {inserted} of {count} transitions from "
                        f"{actor_id} ({inbox['duplicates']} duplicates, {inbox['gaps']} gaps, "
                        f"{malformed} malformed): the channel lost or duplicated data"
                    )
                bar.update(1)
        commands.put("stop")
        process.join(10)
    finally:
        if process.is_alive():
            process.terminate()
            process.join(5)
    results = {}
    for batch_size, rs in runs.items():
        rates = [count / x["seconds"] for x in rs]
        mbs = [x["wire_bytes"] / x["seconds"] / 1e6 for x in rs]
        rate = statistics.median(rates)
        results[f"batch_{batch_size}"] = {
            "outbox_batch_size": batch_size,
            "transitions_per_s": round(rate, 1),
            "mb_per_s": round(statistics.median(mbs), 1),
            "per_repeat_transitions_per_s": [round(x, 1) for x in rates],
            "meets_goal": rate >= GOALS["transitions_per_s"],
        }
    return {"payload_bytes_per_transition": payload, "runs": results}


# -- weights ---------------------------------------------------------------------------------------
def _bench_weights(publishes: int, interval_s: float, hidden: tuple[int, ...], bar: Any) -> dict[str, Any]:
    from robot_rl.runtime import configure_torch
    from robot_rl.transport import WeightPublisher, actor_weights

    torch = configure_torch(1)
    torch.manual_seed(0)
    agent = _weights_agent(hidden)
    actor_params = sum(p.numel() for p in agent.actor.parameters())
    # a short heartbeat interval only while waiting for the subscriber to join
    publisher = WeightPublisher(heartbeat_interval_s=0.05)
    ctx = multiprocessing.get_context("spawn")
    replies, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(
        target=_subscriber_main, args=(publisher.endpoint, tuple(hidden), replies, stop), daemon=True
    )
    process.start()
    published: dict[int, float] = {}
    loaded: dict[int, float] = {}
    extract_s: list[float] = []
    message_bytes = 0
    try:
        deadline = time.monotonic() + _CHILD_TIMEOUT_S
        while True:  # heartbeats until the actor has joined and built its agent
            publisher.tick()
            try:
                reply = replies.get(timeout=0.01)
                break
            except queue.Empty:
                if not process.is_alive() or time.monotonic() > deadline:
                    raise RobotRLError(
                        "transport benchmark: the weights subscriber never joined; run it again"
                    ) from None
        assert reply[0] == "ready"
        next_at = time.monotonic()
        for version in range(publishes):
            while time.monotonic() < next_at:
                publisher.tick()
                time.sleep(0.001)
            next_at += interval_s
            t0 = time.perf_counter()
            weights = actor_weights(agent)
            extract_s.append(time.perf_counter() - t0)
            published[version] = time.time()
            publisher.publish(version, weights)
            if not message_bytes:
                message_bytes = sum(a.nbytes for a in weights.values())
            while publisher.pending:
                publisher.tick()
            bar.update(1)
        # the last versions: wait until loaded (or the deadline)
        deadline = time.monotonic() + 5.0
        while publishes - 1 not in loaded and time.monotonic() < deadline:
            publisher.tick()
            try:
                reply = replies.get(timeout=0.01)
            except queue.Empty:
                continue
            if reply[0] == "loaded":
                loaded[reply[1]] = reply[2]
        while True:
            try:
                reply = replies.get_nowait()
            except queue.Empty:
                break
            if reply[0] == "loaded":
                loaded[reply[1]] = reply[2]
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)
        publisher.close()
    latencies = sorted((loaded[v] - published[v]) * 1000 for v in published if v in loaded)
    if not latencies:
        raise RobotRLError("transport benchmark: the actor loaded no weights; run it again")
    p50 = float(np.percentile(latencies, 50))
    p99 = float(np.percentile(latencies, 99))
    return {
        "actor_params": actor_params,
        "hidden": list(hidden),
        "obs_size": WEIGHTS_OBS_SIZE,
        "action_size": ACTION_SIZE,
        "message_mb": round(message_bytes / 1e6, 2),
        "tensors": len(actor_weights(agent)),
        "publishes": publishes,
        "interval_ms": round(interval_s * 1000, 1),
        "loaded": len(latencies),
        "skipped": publishes - len(latencies),
        "latency_ms_p50": round(p50, 2),
        "latency_ms_p99": round(p99, 2),
        "latency_ms_max": round(latencies[-1], 2),
        "actor_weights_extract_ms_p50": round(statistics.median(extract_s) * 1000, 2),
        "meets_goal": p99 <= GOALS["weights_in_use_ms"] and len(latencies) == publishes,
    }


def run(
    quick: bool = False,
    progress: bool = True,
    transitions: int = 20_000,
    batch_sizes: tuple[int, ...] = (32, 8),
    repeats: int = 3,
    window: int = 1024,
    publishes: int = 50,
    interval_s: float = 0.1,
    weights_hidden: tuple[int, ...] = (1000, 1000),
    seed: int = 0,
) -> dict[str, Any]:
    """Benchmark the transport; `quick` shrinks the counts to a smoke run (figures not comparable).

    `window`: transitions the actor keeps unacknowledged at most before it waits for acks.
    `weights_hidden`: actor hidden widths; (1000, 1000) on a 40-float observation and 7 actions
    is a ~1.06M-parameter actor.
    """
    from tqdm import tqdm

    if quick:
        transitions, repeats, publishes = 2000, 1, 10
    total = repeats * len(batch_sizes) + publishes
    with tqdm(total=total, desc="bench transport", disable=not progress, leave=False) as bar:
        trans = _bench_transitions(transitions, tuple(batch_sizes), repeats, window, seed, bar)
        weights = _bench_weights(publishes, interval_s, tuple(weights_hidden), bar)
    headline = trans["runs"][f"batch_{batch_sizes[0]}"]
    figures = {
        "transitions_per_s": headline["transitions_per_s"],
        "mb_per_s": headline["mb_per_s"],
        "weights_latency_ms_p50": weights["latency_ms_p50"],
        "weights_latency_ms_p99": weights["latency_ms_p99"],
    }
    return {
        "benchmark": "transport",
        "machine": machine_info(),
        "settings": {
            "quick": quick,
            "endpoint": "tcp://127.0.0.1 (port 0), sender and receiver in separate processes",
            "transitions": transitions,
            "transition": {
                "cameras": {"wrist": list(CAMERA), "front": list(CAMERA)},
                "state": STATE_SIZE,
                "action": ACTION_SIZE,
                "scalars": ["reward", "terminated", "truncated"],
            },
            "batch_sizes": list(batch_sizes),
            "repeats": repeats,
            "window": window,
            "timing": "median over repeats; first add() to everything acknowledged",
            "headline_batch_size": batch_sizes[0],
        },
        "transitions": trans,
        "weights": weights,
        "figures": figures,
        "goals": GOALS,
        "meets_goals": {
            "transitions_per_s": headline["meets_goal"],
            "weights_in_use_ms": weights["meets_goal"],
        },
    }


def table(result: dict[str, Any]) -> str:
    trans, w, goals = result["transitions"], result["weights"], result["goals"]
    kb = trans["payload_bytes_per_transition"] / 1024
    lines = [
        f"transitions: 2 x 128x128x3 uint8 + state + action ({kb:.0f} KiB each), "
        f"{result['settings']['transitions']} per run, loopback, 2 processes",
        f"{'outbox batch':<14}{'transitions/s':>15}{'MB/s':>9}{'goal':>10}",
    ]
    for r in trans["runs"].values():
        met = "met" if r["meets_goal"] else "missed"
        lines.append(
            f"{r['outbox_batch_size']:<14}{r['transitions_per_s']:>15,.0f}{r['mb_per_s']:>9}{met:>10}"
        )
    lines.append(f"goal: >= {goals['transitions_per_s']:,.0f} image transitions/s")
    met = "met" if w["meets_goal"] else "missed"
    lines.append(
        f"weights: {w['actor_params']:,}-parameter actor ({w['message_mb']} MB), {w['publishes']} publishes"
        f" every {w['interval_ms']:g} ms: publish -> loaded p50 {w['latency_ms_p50']} ms,"
        f" p99 {w['latency_ms_p99']} ms, max {w['latency_ms_max']} ms, {w['skipped']} skipped"
        f" (goal <= {goals['weights_in_use_ms']:g} ms: {met})"
    )
    return "\n".join(lines)
