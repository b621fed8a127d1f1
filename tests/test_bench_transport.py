"""`robot-rl bench transport --quick --json`: the console script prints one JSON object with every
documented figure, measured between real processes over loopback."""

import json
import os
import subprocess

import pytest

pytest.importorskip("zmq")


def test_quick_transport_bench_prints_every_figure_as_json(robot_rl_bin):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [robot_rl_bin, "bench", "transport", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["benchmark"] == "transport"
    assert {"cpu", "cores", "date"} <= set(result["machine"])
    assert result["settings"]["quick"] is True
    assert result["settings"]["transition"]["cameras"] == {"wrist": [128, 128, 3], "front": [128, 128, 3]}

    runs = result["transitions"]["runs"]
    assert set(runs) == {"batch_32", "batch_8"}
    # two 128x128 RGB frames (98,304 bytes) and a few hundred bytes of state, action and scalars
    assert 98_304 < result["transitions"]["payload_bytes_per_transition"] < 100_000
    for run in runs.values():
        # transitions per wall second over loopback: more than 10, fewer than a million
        assert 10 < run["transitions_per_s"] < 1e6 and run["mb_per_s"] > 0
        # the payload alone is ~98 KB per transition; MB/s must be consistent with it
        per_transition = run["mb_per_s"] * 1e6 / run["transitions_per_s"]
        assert 98_000 < per_transition < 100_000
        assert run["meets_goal"] == (run["transitions_per_s"] >= result["goals"]["transitions_per_s"])

    weights = result["weights"]
    assert 0.9e6 < weights["actor_params"] < 1.2e6
    # float32 weights: 4 bytes a parameter, in MB
    assert weights["message_mb"] == pytest.approx(4 * weights["actor_params"] / 1e6, abs=0.01)
    assert (
        weights["publishes"] == 10 and weights["loaded"] + weights["skipped"] == 10 and weights["loaded"] >= 1
    )
    # milliseconds from publish to in use: a 4 MB message takes over 0.1 ms, and under a second
    lat = weights["latency_ms_p50"], weights["latency_ms_p99"], weights["latency_ms_max"]
    assert 0.1 < lat[0] <= lat[1] <= lat[2] < 1000.0, lat
    assert weights["meets_goal"] == (
        weights["latency_ms_p99"] <= result["goals"]["weights_in_use_ms"] and weights["skipped"] == 0
    )

    assert set(result["goals"]) == set(result["meets_goals"]) == {"transitions_per_s", "weights_in_use_ms"}
    assert set(result["figures"]) == {
        "transitions_per_s",
        "mb_per_s",
        "weights_latency_ms_p50",
        "weights_latency_ms_p99",
    }
    assert result["figures"] == {
        "transitions_per_s": runs["batch_32"]["transitions_per_s"],
        "mb_per_s": runs["batch_32"]["mb_per_s"],
        "weights_latency_ms_p50": weights["latency_ms_p50"],
        "weights_latency_ms_p99": weights["latency_ms_p99"],
    }
    assert result["meets_goals"] == {
        "transitions_per_s": runs["batch_32"]["meets_goal"],
        "weights_in_use_ms": weights["meets_goal"],
    }
