"""Liveness as pure logic: who was heard from when, and when to speak again. The clock is passed in
(seconds, e.g. `time.monotonic()`), so the logic is tested without sleeping and the sockets that use
it (`weights.WeightPublisher` / `WeightSubscriber`) stay thin."""

from __future__ import annotations

from collections.abc import Hashable

from robot_rl.errors import ConfigError


class PeerMonitor:
    """A peer is alive while it was seen less than `timeout_s` ago; `dead()` lists the others.
    A dead peer that is seen again is alive again."""

    def __init__(self, timeout_s: float = 2.0):
        if not timeout_s > 0:
            raise ConfigError(f"PeerMonitor timeout_s must be > 0 seconds, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self._last_seen: dict[Hashable, float] = {}

    def seen(self, peer: Hashable, now: float) -> None:
        # max(): a late-processed message must not move a peer's last sign of life backwards.
        self._last_seen[peer] = max(now, self._last_seen.get(peer, now))

    def alive(self, peer: Hashable, now: float) -> bool:
        last = self._last_seen.get(peer)
        return last is not None and now - last < self.timeout_s

    def dead(self, now: float) -> list[Hashable]:
        return [peer for peer, last in self._last_seen.items() if now - last >= self.timeout_s]

    def peers(self) -> list[Hashable]:
        return list(self._last_seen)

    def forget(self, peer: Hashable) -> None:
        self._last_seen.pop(peer, None)


class HeartbeatTimer:
    """`due(now)` is true once every `interval_s`: the sender calls it from its loop and sends a
    Heartbeat when it says so, so an idle sender still shows it is alive."""

    def __init__(self, interval_s: float = 0.5):
        if not interval_s > 0:
            raise ConfigError(f"heartbeat interval_s must be > 0 seconds, got {interval_s}")
        self.interval_s = float(interval_s)
        self._last: float | None = None

    def due(self, now: float) -> bool:
        if self._last is None or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False

    def reset(self, now: float) -> None:
        """Any message counts as a sign of life: no heartbeat needed for another interval."""
        self._last = now
