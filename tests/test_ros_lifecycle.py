"""Node lifecycle: every graph node starts and stops 20 times, each stop ends within the shutdown bound
with status 0, and a node whose stop sticks (here: a close() that never returns) is still killed
within the bound, after its threads' stacks are printed. Real processes, real rclpy and DDS on a
leased domain.

The camera node is not in the loop: it needs a RealSense device (test_ros_camera runs it in process
on a software device)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

from conftest import REPO  # noqa: E402

from robot_rl.ros.common import SHUTDOWN_GRACE_S  # noqa: E402

# whole graphs started and stopped against the clock: run alone (setup.cfg)
pytestmark = pytest.mark.solo

BIN = Path(sys.executable).parent
NODES = ("twin", "actor", "controller", "reset", "reward")
#: a stop the shutdown bound killed while the node's main thread sat in the middleware's node teardown
#: (the innermost frame of the stack the bound prints)
MIDDLEWARE_STUCK = re.compile(
    r"\(most recent call first\):\n\s+File \"[^\"]*rclpy/node\.py\", line \d+ in destroy_node\n"
)
PANDA = yaml.safe_load((REPO / "config" / "ros" / "panda.yaml").read_text())


def graph_nodes(node, names: set[str], timeout_s: float) -> set[str]:
    """The names of `names` that DDS discovery shows within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = set(node.get_node_names()) & names
        if seen == names:
            return seen
        time.sleep(0.1)
    return set(node.get_node_names()) & names


def stop(procs: dict[str, subprocess.Popen], sig: int = signal.SIGINT) -> dict[str, tuple[int, float]]:
    """Signal every process at once; each one's exit status and seconds to exit (bounded wait)."""
    start = time.monotonic()
    for proc in procs.values():
        proc.send_signal(sig)
    out = {}
    for name, proc in procs.items():
        try:
            proc.wait(timeout=SHUTDOWN_GRACE_S + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            out[name] = (None, float("inf"))
            continue
        out[name] = (proc.returncode, time.monotonic() - start)
    return out


def test_every_node_starts_and_stops_20_times_within_the_bound(ros_domain, tmp_path):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    probe = rclpy.create_node("lifecycle_probe", context=context)
    slow: list[str] = []
    killed: list[str] = []
    try:
        for round_ in range(20):
            # this round's node names are its own: DDS discovery may still list the last round's nodes
            names = {n: f"{n}_r{round_}" for n in NODES}
            params = tmp_path / f"params_{round_}.yaml"
            params.write_text(yaml.safe_dump({names[n]: v for n, v in PANDA.items() if n in names}))
            logs = {n: (tmp_path / f"{n}_{round_}.log").open("w") for n in NODES}
            procs = {
                n: subprocess.Popen(
                    [str(BIN / n), "--ros-args", "-r", f"__node:={names[n]}", "--params-file", str(params)],
                    stdout=logs[n], stderr=subprocess.STDOUT, cwd=tmp_path,
                )
                for n in NODES
            }  # fmt: skip
            seen = graph_nodes(probe, set(names.values()), timeout_s=60)
            exits = stop(procs)
            for f in logs.values():
                f.close()
            assert seen == set(names.values()), f"round {round_}: only {sorted(seen)} came up"
            for name, (code, seconds) in exits.items():
                log = (tmp_path / f"{name}_{round_}.log").read_text()[-1500:]
                if (
                    code == -signal.SIGKILL
                    and seconds < SHUTDOWN_GRACE_S + 1.5
                    and MIDDLEWARE_STUCK.search(log)
                ):
                    killed.append(f"round {round_}: {name}")  # the bound did its job: see below
                    continue
                assert code == 0, f"round {round_}: {name} exited with {code} after {seconds:.1f} s:\n{log}"
                if seconds > 3.0:
                    slow.append(f"{name} {seconds:.1f} s")
    finally:
        probe.destroy_node()
        rclpy.shutdown(context=context)
    # every stop ended within the bound with status 0; a stop over 3 s is rare
    assert len(slow) <= 2, f"slow stops: {slow}"
    # Seen once in 100 stops of a fresh-clone run (2026-12-07): a node's only thread stuck in rclpy's
    # destroy_node (rcl/rmw node teardown) after its executor and context were shut down, killed by the
    # bound with its stack. A stop stuck anywhere else, or twice, fails.
    assert len(killed) <= 1, f"stops killed by the bound: {killed}"


SILENT_TWIN_RESET = """
import sys, threading, time
import rclpy
from rclpy.executors import MultiThreadedExecutor
from std_srvs.srv import Trigger

rclpy.init()
node = rclpy.create_node("silent_twin")
node.create_service(Trigger, "/twin/reset", lambda request, response: (time.sleep(60), response)[1])
executor = MultiThreadedExecutor()
executor.add_node(node)
executor.spin()
"""


def test_a_reset_node_stopped_while_its_reset_call_waits_stops_at_once(ros_domain, tmp_path):
    """The cause of the stops the bound used to kill (about 1 in 100): SIGINT while the reset node's
    service callback waited for the twin's answer, which never came (the twin stopped too). The
    waiting callback held the node in use, so destroy_node waited for it past the bound. A node that
    is shutting down now stops waiting at once."""
    script = tmp_path / "silent_twin.py"
    script.write_text(SILENT_TWIN_RESET)
    twin = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.DEVNULL)
    reset = subprocess.Popen(
        [str(BIN / "reset"), "--ros-args", "-p", "robot:=panda"], stderr=subprocess.PIPE, text=True
    )
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    probe = rclpy.create_node("reset_caller", context=context)
    try:
        from std_srvs.srv import Trigger

        client = probe.create_client(Trigger, "/robot_rl/reset")
        assert client.wait_for_service(timeout_sec=60)
        twin_seen = probe.create_client(Trigger, "/twin/reset")
        assert twin_seen.wait_for_service(timeout_sec=60)
        client.call_async(Trigger.Request())
        time.sleep(1.5)  # the reset node's callback now waits for /twin/reset
        start = time.monotonic()
        reset.send_signal(signal.SIGINT)
        _, err = reset.communicate(timeout=SHUTDOWN_GRACE_S + 10)
        seconds = time.monotonic() - start
    finally:
        twin.kill()
        twin.wait()
        probe.destroy_node()
        rclpy.shutdown(context=context)
    assert reset.returncode == 0 and seconds < 2.0, (
        f"exit {reset.returncode} after {seconds:.1f} s:\n{err[-800:]}"
    )


STUCK = """
import sys, threading
from robot_rl.ros.common import GraphNode, run

class Stuck(GraphNode):
    kind = "controller"

    def close(self):
        threading.Event().wait()  # a stop that never returns

sys.exit(run(Stuck, shutdown_grace_s=1.0))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_that_sticks_still_ends_within_the_bound_and_says_where(ros_domain, tmp_path, sig):
    script = tmp_path / "stuck.py"
    script.write_text(STUCK)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    probe = rclpy.create_node("stuck_probe", context=context)
    try:
        assert graph_nodes(probe, {"controller"}, timeout_s=60) == {"controller"}  # up and spinning
    finally:
        probe.destroy_node()
        rclpy.shutdown(context=context)
    start = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the stuck node did not end within 15 s of the signal")
    elapsed = time.monotonic() - start
    assert proc.returncode == -signal.SIGKILL and 0.9 < elapsed < 3.0, (proc.returncode, elapsed, err[-1500:])
    first = err.splitlines()[0]
    assert (
        first == "error: stuck.py still stopping 1 s after the signal: killing it; its threads' stacks follow"
    )
    assert "in close" in err  # the stack names the stuck call


BUILDING = """
import os, signal, sys, time
from robot_rl.ros.common import GraphNode, run

class Building(GraphNode):
    kind = "controller"

    def __init__(self):
        super().__init__()
        try:
            os.kill(os.getpid(), signal.SIG{sig})  # the stop lands while the node is still being built
            time.sleep(0.5)
            self.create_publisher
        except KeyboardInterrupt:
            print("KeyboardInterrupt in the node's own code", flush=True)
            raise

sys.exit(run(Building))
"""


@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_a_signal_while_a_node_is_built_stops_it_cleanly_without_an_exception_in_its_code(
    ros_domain, tmp_path, sig
):
    """Once rclpy is up a signal stops a node through its context: no KeyboardInterrupt lands in the
    node's constructor, a callback or run()'s cleanup (one that landed after a failed rcl call used
    to end the twin with -2)."""
    script = tmp_path / "building.py"
    script.write_text(BUILDING.replace("{sig}", sig))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "KeyboardInterrupt" not in proc.stdout + proc.stderr, (
        proc.returncode, proc.stdout[-800:], proc.stderr[-800:]
    )  # fmt: skip
