"""`robot-rl bench loop`: the latency/jitter benchmark runs the real graph, reports sane figures, and
its real-time loops meet the 5 ms latency / 2 ms jitter goals wherever real-time scheduling is granted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")


# measures loop latency and jitter: run alone (setup.cfg)
pytestmark = pytest.mark.solo

GOALS = {"latency_ms_p99": 5.0, "jitter_ms_p99": 2.0}  # docs/benchmarks.md, the ROS loop's goals


def realtime_permitted(priority: int) -> bool:
    """Whether the kernel grants SCHED_FIFO at `priority` here, asked directly (not through robot_rl),
    in a child process: the test process itself must not run real-time."""
    code = f"import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param({priority}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def bench_loop(robot_rl_bin) -> dict:
    """One quick run of the bench (both loops, and their real-time twins where permitted)."""
    # the bench leases its own domains
    proc = subprocess.run(
        [robot_rl_bin, "bench", "loop", "--quick", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_bench_loop_quick_prints_latency_and_jitter_of_both_loops(bench_loop):
    result = bench_loop
    # the real-time loops run exactly where the kernel grants the bench's priority (80)
    realtime = realtime_permitted(80)
    assert result["settings"]["realtime"].startswith("SCHED_FIFO 80") == realtime, result["settings"]
    assert set(result["loops"]) == {"10hz", "100hz"} | (
        {"10hz_realtime", "100hz_realtime"} if realtime else set()
    )
    assert result["goals"] == GOALS
    for key, loop in result["loops"].items():
        assert loop["policy_hz"] == (10 if key.startswith("10hz") else 100)
        # the nodes really ran under SCHED_FIFO in the real-time loops (every thread, DDS's too)
        fifo = [tuple(map(int, x.split("/"))) for x in loop["node_threads_fifo"]]
        assert len(fifo) == 2
        assert all(a == b > 1 for a, b in fifo) if key.endswith("_realtime") else all(a == 0 for a, _ in fifo)
        # the run's seconds of policy steps at the loop's rate; a step that comes too late is skipped,
        # not run twice, so a loaded machine loses some (over half at 100 Hz on 2 busy cores), never adds
        seconds = result["settings"]["seconds_per_loop"]
        assert seconds == 3.0  # --quick
        assert (
            0.3 * seconds * loop["policy_hz"]
            <= loop["policy_steps"]
            <= 1.05 * seconds * loop["policy_hz"] + 1
        ), f"{key}: {loop['policy_steps']} policy steps in {seconds} s"
        lat, jit = loop["latency_ms"], loop["jitter_ms"]
        assert lat["n"] >= 0.8 * loop["policy_steps"]  # every step's command reaches the driver
        assert jit["n"] == loop["policy_steps"] - 1  # one interval between consecutive steps
        # milliseconds, not seconds or microseconds: two hops on loopback take over 0.05 ms and a
        # step that took a second would have missed ten 10 Hz periods
        assert 0.05 < lat["p50"] <= lat["p99"] <= lat["max"] < 1000.0
        assert 0.0 <= jit["p50"] <= jit["p99"] <= jit["max"] < 1000.0
        assert loop["meets_goals"] == {
            "latency_ms_p99": lat["p99"] <= GOALS["latency_ms_p99"],
            "jitter_ms_p99": jit["p99"] <= GOALS["jitter_ms_p99"],
        }


def test_realtime_loops_meet_the_latency_and_jitter_goals(bench_loop):
    result = bench_loop
    if not realtime_permitted(80):
        # the bench says why it did not measure, and how to permit it
        assert result["settings"]["realtime"].startswith("not measured: not permitted")
        assert "rtprio" in result["settings"]["realtime"]
        pytest.skip(f"real-time scheduling is not granted here: {result['settings']['realtime']}")
    # under SCHED_FIFO other load on the machine cannot delay a policy step or a command; without it
    # a busy 2-core machine puts 10 ms into a short run (docs/benchmarks.md)
    for key in ("10hz_realtime", "100hz_realtime"):
        lat, jit = result["loops"][key]["latency_ms"], result["loops"][key]["jitter_ms"]
        assert lat["p99"] <= GOALS["latency_ms_p99"], f"{key}: latency p99 {lat['p99']} ms"
        assert jit["p99"] <= GOALS["jitter_ms_p99"], f"{key}: jitter p99 {jit['p99']} ms"


def realtime_probe(priority: int) -> list[str]:
    """set_realtime(priority), then set_realtime(0), in a child process with a second thread running:
    what each returned and which threads ran SCHED_FIFO after each."""
    code = (
        "import os, threading, time\n"
        "from robot_rl.runtime import set_realtime\n"
        "t = threading.Thread(target=time.sleep, args=(2,)); t.start()\n"
        "tids = lambda: os.listdir('/proc/self/task')\n"
        "def fifo(): return sorted(os.sched_getscheduler(int(x)) == os.SCHED_FIFO for x in tids())\n"
        f"reason = set_realtime({priority})\n"
        "print(reason, fifo(), set_realtime(0), fifo())\n"
        "try:\n    set_realtime(100)\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_set_realtime_moves_every_thread_and_back_and_refuses_bad_priorities():
    lines = realtime_probe(10)
    assert lines[1].startswith("ConfigError") and "realtime_priority" in lines[1] and "1-99" in lines[1]
    if not realtime_permitted(10):
        # refused: the reason says how to permit it, nothing changed
        assert lines[0].startswith("not permitted") and "rtprio" in lines[0], lines[0]
        assert lines[0].endswith("[False, False] None [False, False]"), lines[0]
    else:  # permitted: both threads moved, then both back
        assert lines[0] == "None [True, True] None [False, False]"
