"""Weights channel (learner -> actors, latest only) and liveness, over real ZeroMQ on loopback."""

from __future__ import annotations

import time

import numpy as np
import pytest

from robot_rl.agents.sac import SAC, preset
from robot_rl.transport.liveness import HeartbeatTimer, PeerMonitor
from robot_rl.transport.weights import WeightPublisher, WeightSubscriber, actor_weights, load_into
from robot_rl.transport.wire import WireError

# heartbeat and dead-peer deadlines: run alone (setup.cfg)
pytestmark = pytest.mark.solo

zmq = pytest.importorskip("zmq")


def _wait(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _connected_pair(heartbeat_interval_s: float = 0.5, **sub_kwargs):
    pub = WeightPublisher(heartbeat_interval_s=heartbeat_interval_s)
    sub = WeightSubscriber(pub.endpoint, **sub_kwargs)
    # PUB drops messages until the subscription has reached it: heartbeat until one arrives.
    assert _wait(lambda: (pub.tick() or True) and sub.learner_alive), "subscriber never connected"
    return pub, sub


def _small_agent(seed: int) -> SAC:
    import torch

    torch.manual_seed(seed)
    return SAC(5, 2, preset("sac", hidden=(16, 16)))


def test_slow_subscriber_gets_only_the_newest_version():
    pub, sub = _connected_pair()
    try:
        weights = {"w": np.zeros((64, 64), np.float32)}
        seen = []
        for version in range(50):
            weights["w"][0, 0] = version
            pub.publish(version, weights)
            if version % 10 == 0:  # a slow actor looks only now and then
                time.sleep(0.02)
                if (got := sub.latest()) is not None:
                    seen.append(got.version)

        # Then the actor keeps polling once per control step while the learner loop ticks; the tick
        # sends version 49 if a full queue held it back.
        def newest_arrived() -> bool:
            pub.tick()
            seen.append(sub.latest().version)
            return seen[-1] == 49

        assert _wait(newest_arrived, timeout_s=3.0), f"version 49 never arrived: {seen[-5:]}"
        assert seen == sorted(seen), f"an older version came back after a newer one: {seen}"
        assert sub.latest().arrays["w"][0, 0] == 49
        # a stale version published by mistake is refused at the source
        with pytest.raises(WireError, match="not newer"):
            pub.publish(3, weights)
    finally:
        sub.close()
        pub.close()


def test_one_latest_call_skips_every_stale_version_queued():
    pub, sub = _connected_pair()
    try:
        for version in range(10):
            pub.publish(version, {"w": np.full(4, version, np.float32)})  # most are held back, then replaced
        deadline = time.monotonic() + 2.0
        while pub.pending and time.monotonic() < deadline:
            pub.tick()
            time.sleep(0.01)
        assert not pub.pending
        # The actor is busy meanwhile, then polls once per control step. What the receive queue
        # (rcvhwm 2) holds arrives at once; what waits behind it in the publisher's queue comes after
        # the first drain makes room, so the newest version may take a second call, never one call per
        # version published.
        seen, drained = [], []
        deadline = time.monotonic() + 2.0
        while (not seen or seen[-1] != 9) and time.monotonic() < deadline:
            time.sleep(0.1)
            before = sub.received
            seen.append(sub.latest().version)
            drained.append(sub.received - before)
        assert seen[-1] == 9 and sub.latest().arrays["w"][0] == 9, f"versions seen per call: {seen}"
        assert seen == sorted(seen) and len(seen) < 10, f"versions seen per call: {seen}"
        assert max(drained) >= 2, f"one latest() call must drain every queued version: {drained}"
    finally:
        sub.close()
        pub.close()


def test_weights_roundtrip_into_a_real_agent_gives_the_same_policy():
    source, target = _small_agent(0), _small_agent(1)
    obs = {"state": np.linspace(-1, 1, 5).astype(np.float32)}
    assert not np.allclose(source.policy(obs), target.policy(obs))
    pub, sub = _connected_pair()
    try:
        pub.publish(7, actor_weights(source))
        assert _wait(lambda: sub.latest() is not None)
        message = sub.latest()
        assert message.version == 7
        load_into(target, message.arrays)
    finally:
        sub.close()
        pub.close()
    np.testing.assert_array_equal(source.policy(obs), target.policy(obs))


def test_mismatched_weights_are_refused_in_one_line():
    agent = _small_agent(0)
    before = agent.policy({"state": np.ones(5, np.float32)})
    other = SAC(5, 2, preset("sac", hidden=(32, 16)))
    with pytest.raises(WireError) as shape_error:
        load_into(agent, actor_weights(other))
    assert "shape" in str(shape_error.value) and "\n" not in str(shape_error.value)
    renamed = actor_weights(agent)
    renamed["actor.extra"] = renamed.pop("actor.mean.bias")
    with pytest.raises(WireError, match=r"missing.*unexpected") as name_error:
        load_into(agent, renamed)
    assert "\n" not in str(name_error.value)
    # a refused load changes nothing
    np.testing.assert_array_equal(before, agent.policy({"state": np.ones(5, np.float32)}))


def test_peer_monitor_marks_dead_after_timeout_and_alive_when_seen_again():
    monitor = PeerMonitor(timeout_s=2.0)
    monitor.seen("actor-0", now=100.0)
    monitor.seen("actor-1", now=101.0)
    assert monitor.dead(now=101.9) == []
    assert monitor.dead(now=102.0) == ["actor-0"]
    assert monitor.alive("actor-1", now=102.0) and not monitor.alive("actor-0", now=102.0)
    monitor.seen("actor-0", now=102.5)
    assert monitor.dead(now=102.5) == []
    assert monitor.dead(now=103.0) == ["actor-1"]
    assert monitor.alive("actor-0", now=103.0)
    assert not monitor.alive("never-seen", now=0.0)


def test_heartbeat_timer_fires_once_per_interval():
    timer = HeartbeatTimer(interval_s=0.5)
    fired = [t for t in np.arange(0.0, 2.0, 0.1).round(1) if timer.due(float(t))]
    assert fired == [0.0, 0.5, 1.0, 1.5]


def test_subscriber_reports_a_stopped_publisher_dead_within_timeout():
    pub, sub = _connected_pair(heartbeat_interval_s=0.1, timeout_s=0.5)
    try:
        # heartbeats alone keep the learner alive while no weights are published
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pub.tick()
            assert sub.learner_alive
            time.sleep(0.05)
        pub.close()
        stopped = time.monotonic()
        assert _wait(lambda: not sub.learner_alive, timeout_s=2.0)
        assert time.monotonic() - stopped < 0.5 + 0.3
    finally:
        sub.close()


def test_an_actor_that_stops_reading_does_not_starve_the_others():
    pub, healthy = _connected_pair(heartbeat_interval_s=0.1)
    stalled = WeightSubscriber(pub.endpoint, rcvhwm=1)
    assert _wait(lambda: (pub.tick() or True) and stalled.learner_alive), "stalled subscriber never connected"
    big = {"w": np.ones(1_000_000, np.float32)}  # 4 MB: a few fill the stalled actor's pipe
    try:
        for version in range(1, 13):
            pub.publish(version, big)
            _wait(
                lambda v=version: (
                    (pub.tick() or True) and healthy.latest() is not None and healthy.version == v
                ),
                0.4,
            )
        # never reading again, the stalled actor must not hold the newest version back for long
        assert _wait(
            lambda: (pub.tick() or True) and healthy.latest() is not None and healthy.version == 12, 3.0
        )
        assert healthy.learner_alive
    finally:
        stalled.close()
        healthy.close()
        pub.close()
