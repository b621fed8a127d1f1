"""The learner process: trains as fast as it can on what any number of actors send over ZeroMQ.

`Learner` is the sync `Trainer` (same agent, replay buffers, demos, evaluation, checkpoint) with the
environment loop replaced by the network. A thread owns the sockets: it answers handshakes, acks and
heartbeats, reports an actor that falls silent within `peer_timeout_s`, and publishes weights, so
none of that waits for a training step. The main thread inserts what arrived into the replay buffer,
runs update blocks while `updates <= utd * env_steps` (the configured update-to-data ratio, as in
the sync loop), publishes the actor's weights every `weights_interval_s`, evaluates on the twin,
checkpoints and writes the metrics.

Exactly once across a SIGKILL: with `durable_acks` (the default) the learner acknowledges only
transitions inside a checkpoint; the checkpoint holds the replay buffers, the per-actor sequence
state and each actor's not yet paired last row (`robot_rl.transport.rows`), so a restarted learner
acks from there and the actors resend the rest.

Metrics, in the run directory: `stats.json` (the latest), `stats.jsonl` (every `stats_interval_s`),
TensorBoard scalars under `tb/`: transitions/s and bytes/s per actor, achieved UTD, weight staleness
in versions and seconds, reconnects, dropped duplicates; `metrics.jsonl` and `curve.png` as in sync
training.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import from_dict
from robot_rl.errors import ConfigError, Described
from robot_rl.paths import write_atomic
from robot_rl.run_config import TrainConfig
from robot_rl.train import Trainer
from robot_rl.transport.actor import TransportConfig, next_port, policy_hash
from robot_rl.transport.channel import Inbox
from robot_rl.transport.rows import RowAssembler
from robot_rl.transport.wire import Hello, TransitionBatch

log = logging.getLogger(__name__)


def transport_config(config: TrainConfig, **overrides: Any) -> TransportConfig:
    data = {**config.transport, **{k: v for k, v in overrides.items() if v is not None}}
    return from_dict(TransportConfig, data, source=Described("transport"), prefix="transport")


class NetworkThread(threading.Thread):
    """Owns the learner's sockets (ZeroMQ sockets belong to one thread): receives and acks
    transitions, watches actors, publishes weights and heartbeats. The main thread talks to it
    through `batches` (in) and `publish` / `set_hold` / `mark_durable` (out)."""

    def __init__(self, hello: Hello, inbox: Inbox, settings: TransportConfig, weight_version: int):
        super().__init__(name="learner-network", daemon=True)
        from robot_rl.transport.sockets import TransitionReceiver
        from robot_rl.transport.weights import WeightPublisher

        keys = settings.server_keys()
        self.receiver = TransitionReceiver(
            hello,
            inbox,
            settings.bind,
            weight_version=max(0, weight_version),
            keys=keys,
            peer_timeout_s=settings.peer_timeout_s,
        )
        try:
            self.publisher = WeightPublisher(
                settings.weights_bind or next_port(settings.bind),
                heartbeat_interval_s=settings.heartbeat_s,
                keys=keys,
            )
        except Exception:
            self.receiver.close()
            raise
        self.publisher.version = weight_version
        self.batches: queue.Queue[TransitionBatch] = queue.Queue()
        self._lock = threading.Lock()
        self._weights: tuple[int, dict[str, np.ndarray]] | None = None
        self._durable: dict[str, Any] | None = None
        self._hold = False
        self._halt = threading.Event()
        self.error: BaseException | None = None
        self.snapshot: dict[str, Any] = {}

    @property
    def endpoints(self) -> tuple[str, str]:
        return self.receiver.endpoint, self.publisher.endpoint

    def publish(self, version: int, weights: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._weights = (version, weights)

    def set_hold(self, hold: bool) -> None:
        self._hold = hold

    def mark_durable(self, inbox_state: dict[str, Any]) -> None:
        with self._lock:
            self._durable = inbox_state

    @property
    def durable_pending(self) -> bool:
        """A checkpoint's ack state has not reached the inbox yet."""
        return self._durable is not None

    def run(self) -> None:
        try:
            last_snapshot = 0.0
            while not self._halt.is_set():
                for batch in self.receiver.poll(0.01):
                    self.batches.put(batch)
                with self._lock:
                    weights, self._weights = self._weights, None
                    durable, self._durable = self._durable, None
                if durable is not None:
                    self.receiver.inbox.mark_durable(durable)
                if weights is not None:
                    self.publisher.publish(*weights)
                    self.receiver.weight_version = weights[0]
                self.publisher.set_hold(self._hold)
                self.publisher.tick()
                now = time.monotonic()
                if now - last_snapshot > 0.2:
                    self.snapshot = self._take_snapshot()
                    last_snapshot = now
        except BaseException as exc:  # surfaced by the main thread
            self.error = exc
            log.error("learner network thread failed: %s", exc)
        finally:
            self.receiver.close()
            self.publisher.close()

    def _take_snapshot(self) -> dict[str, Any]:
        r = self.receiver
        actors = {}
        for actor_id, s in r.stats.items():
            actors[actor_id] = {**dataclasses.asdict(s), "reconnects": s.reconnects}
        return {"actors": actors, "malformed": r.malformed, "refused": r.refused}

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


class Learner(Trainer):
    """`robot-rl learner`: see the module docstring."""

    def __init__(
        self,
        config: TrainConfig,
        out_dir: str | Path,
        resume: bool = False,
        progress: bool = True,
        **transport_overrides: Any,
    ):
        self.settings = transport_config(config, **transport_overrides)
        if config.expert_interventions > 0 or config.reward != "task":
            raise ConfigError(
                "",
                "expert_interventions",
                "0 with the learner (actors flag their own interventions)",
                config.expert_interventions,
            )
        self.inbox = Inbox(durable_acks=self.settings.durable_acks)
        self.assembler: RowAssembler | None = None
        self.weight_version = -1
        self._restored_transport: dict[str, Any] | None = None
        super().__init__(config, out_dir, resume=resume, progress=progress)
        self.assembler = RowAssembler(list(self.online.obs))
        if self._restored_transport is not None:
            self.assembler.load_state_dict(self._restored_transport["assembler"])
        self.applied = self.inbox.state_dict()  # the part of the inbox the replay buffer holds
        self.hello = Hello(
            actor_id="learner", config_hash=policy_hash(config), spec_hash=self.env.robot_spec.hash
        )
        self.net = NetworkThread(self.hello, self.inbox, self.settings, self.weight_version)
        self._stop_requested = False
        self.episode_success: deque[bool] = deque(maxlen=20)
        self.publish_times: dict[int, float] = {}
        self.staleness: deque[tuple[int, float]] = deque(maxlen=2000)

    # -- checkpoint ------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["transport"] = {
            "inbox": self.applied,
            "assembler": self.assembler.state_dict() if self.assembler else {"pending": {}},
            "weight_version": self.weight_version,
        }
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        super()._load_state(state)
        extra = state.get("transport")
        if extra is not None:
            self.inbox.load_state_dict(extra["inbox"])
            self.weight_version = int(extra["weight_version"])
            self._restored_transport = extra

    def save(self) -> None:
        super().save()
        if hasattr(self, "net"):
            # a copy as of this checkpoint: `applied` keeps moving while the thread picks it up
            self.net.mark_durable({**self.applied, "next_seq": dict(self.applied["next_seq"])})

    # -- loop ------------------------------------------------------------------------------------
    def _insert(self, batch: TransitionBatch) -> None:
        now = time.time()
        for transition, row in self.assembler.feed(batch):
            if transition is not None:
                self.core.add(transition)
                if transition.weight_version >= 0:
                    published = self.publish_times.get(transition.weight_version, now)
                    self.staleness.append((self.weight_version - transition.weight_version, now - published))
            if not bool(row["final"]):
                self.step += 1
                if bool(row["terminated"]) or bool(row["truncated"]):
                    self.episode += 1
                    self.episode_success.append(bool(row["success"]))
        seqs = self.applied["next_seq"]
        seqs[batch.actor_id] = batch.first_seq + batch.count

    def _publish(self) -> None:
        from robot_rl.transport.weights import actor_weights

        self.weight_version += 1
        self.publish_times[self.weight_version] = time.time()
        if len(self.publish_times) > 1000:
            self.publish_times.pop(min(self.publish_times))
        self.net.publish(self.weight_version, actor_weights(self.agent))

    def _updates_due(self) -> int:
        """Critic updates owed to reach the sync loop's schedule: `utd` per env step after warm-up."""
        return (
            self.agent.config.utd * (self.step - self.config.start_steps + 1) - self.updates
            if (self.step >= self.config.start_steps)
            else 0
        )

    def request_stop(self, *_: Any) -> None:
        self._stop_requested = True

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        torch, cfg, settings = self.torch, self.config, self.settings
        agent_cfg = self.agent.config
        if self.pretrain_config.method != "none" and not self.pretrained:
            self._pretrain()
        for sig in (signal.SIGTERM, signal.SIGINT):
            if threading.current_thread() is threading.main_thread():
                signal.signal(sig, self.request_stop)
        self.net.start()
        transitions_at, weights_at = self.net.endpoints
        log.info("learner listening: transitions %s, weights %s", transitions_at, weights_at)
        if self.progress:
            print(f"learner: transitions on {transitions_at}, weights on {weights_at}", flush=True)
        if self.updates > 0:
            self._publish()  # a restarted learner serves its restored policy right away
        generator = torch.Generator().manual_seed(cfg.seed + self.step)
        metrics = self._metrics_log()
        stats_file = (self.out / "stats.jsonl").open("a")
        tb = metrics.tb
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc=f"learner {cfg.robot}/{cfg.task}",
            disable=not self.progress,
        )
        start = last_ckpt = last_pub = last_stats = time.monotonic()
        next_eval = (self.step // cfg.eval_every + 1) * cfg.eval_every
        prev_stats: dict[str, Any] | None = None
        info_update: dict[str, Any] = {}
        last_eval: dict[str, float] = {}
        evaluated_at = -1
        try:
            while self.step < cfg.steps and not self._stop_requested:
                if self.net.error is not None:
                    raise self.net.error
                can_update = self._updates_due() > 0
                before = self.step
                try:
                    while True:  # everything that arrived; wait a little only when idle
                        batch = self.net.batches.get(timeout=0 if can_update else 0.02)
                        self._insert(batch)
                        if self.net.batches.empty():
                            break
                except queue.Empty:
                    pass
                bar.update(self.step - before)
                if self._updates_due() > 0:
                    info_update = self.update_block(generator)
                now = time.monotonic()
                if self.updates > 0 and now - last_pub >= settings.weights_interval_s:
                    self._publish()
                    last_pub = now
                if settings.max_ahead_steps:
                    self.net.set_hold(self._updates_due() / agent_cfg.utd > settings.max_ahead_steps)
                if self.step >= next_eval:
                    next_eval = (self.step // cfg.eval_every + 1) * cfg.eval_every
                    last_eval = self._evaluate_row(metrics, start, info_update)
                    evaluated_at = self.step
                if now - last_ckpt >= settings.checkpoint_interval_s:
                    self.save()
                    last_ckpt = time.monotonic()
                if now - last_stats >= settings.stats_interval_s:
                    prev_stats = self._write_stats(stats_file, tb, prev_stats)
                    last_stats = now
                    bar.set_postfix(
                        actors=sum(a["alive"] for a in prev_stats["actors"].values()),
                        utd=f"{prev_stats['utd']:.1f}",
                        success=f"{np.mean(self.episode_success) if self.episode_success else 0:.0%}",
                    )
            if self.step >= cfg.steps and evaluated_at != self.step:
                last_eval = self._evaluate_row(metrics, start, info_update)
        finally:
            bar.close()
            self.save()
            # the acks of the final checkpoint go out before the sockets close
            deadline = time.monotonic() + 0.5
            while self.net.is_alive() and time.monotonic() < deadline and self.net.durable_pending:
                time.sleep(0.01)
            self._write_stats(stats_file, tb, prev_stats)
            self.net.stop()
            stats_file.close()
            metrics.close()
        return {
            "steps": self.step,
            "episodes": self.episode,
            "updates": self.updates,
            "weight_version": self.weight_version,
            "wall_s": round(time.monotonic() - start, 2),
            **last_eval,
        }

    def _evaluate_row(self, metrics: Any, start: float, info_update: dict[str, Any]) -> dict[str, float]:
        from robot_rl.learning import loss_fields

        result = self.evaluate()
        row = {
            "step": self.step,
            "episodes": self.episode,
            "updates": self.updates,
            "wall_s": round(time.monotonic() - start, 2),
            "utd": round(self.updates / max(1, self.step), 3),
            "weight_version": self.weight_version,
            **result,
        }
        row.update(loss_fields(info_update))
        self.write_metrics(row, metrics)
        return result

    def _write_stats(self, stats_file: Any, tb: Any, prev: dict[str, Any] | None) -> dict[str, Any]:
        net = self.net.snapshot
        now = time.time()
        actors = {}
        for actor_id, a in net.get("actors", {}).items():
            entry = dict(a)
            before = (prev or {}).get("actors", {}).get(actor_id)
            dt = now - prev["time"] if prev else 0.0
            if before is not None and dt > 0:
                entry["transitions_per_s"] = round((a["transitions"] - before["transitions"]) / dt, 2)
                entry["bytes_per_s"] = round((a["bytes"] - before["bytes"]) / dt, 1)
            else:
                entry["transitions_per_s"] = entry["bytes_per_s"] = None
            actors[actor_id] = entry
        stale = list(self.staleness)
        stats = {
            "time": now,
            "env_steps": self.step,
            "episodes": self.episode,
            "updates": self.updates,
            "utd": round(self.updates / max(1, self.step), 3),
            "target_utd": self.agent.config.utd,
            "weight_version": self.weight_version,
            "staleness_versions_median": float(np.median([v for v, _ in stale])) if stale else None,
            "staleness_s_median": round(float(np.median([s for _, s in stale])), 4) if stale else None,
            "recent_success_rate": float(np.mean(self.episode_success)) if self.episode_success else None,
            "duplicates": sum(a["duplicates"] for a in actors.values()),
            "reconnects": sum(a["reconnects"] for a in actors.values()),
            "lost_actors": sorted(k for k, a in actors.items() if not a["alive"]),
            "dangling": self.assembler.dangling,
            "malformed": net.get("malformed", 0),
            "refused": net.get("refused", 0),
            "queued_batches": self.net.batches.qsize(),
            "actors": actors,
        }
        write_atomic(self.out / "stats.json", json.dumps(stats, indent=2).encode())
        stats_file.write(json.dumps(stats) + "\n")
        stats_file.flush()
        if tb is not None:
            for key in ("utd", "staleness_versions_median", "staleness_s_median", "duplicates", "reconnects"):
                if stats[key] is not None:
                    tb.add_scalar(f"transport/{key}", stats[key], self.step)
            for actor_id, a in actors.items():
                for key in ("transitions_per_s", "bytes_per_s"):
                    if a[key] is not None:
                        tb.add_scalar(f"transport/{actor_id}/{key}", a[key], self.step)
        return stats
