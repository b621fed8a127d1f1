"""What every node shares: QoS profiles, message types by name, parameters, stamps, main()."""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from robot_rl.errors import RobotRLError
from robot_rl.rosgraph import COMMAND, NODE_PARAMS, Topic, check_node_params, msg_type

#: sensor data: a late sample is worth less than the next one
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
#: commands: the newest must arrive, older ones are worthless
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
#: status: late joiners get the current value
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def qos_of(topic: Topic) -> QoSProfile:
    return COMMAND_QOS if topic.qos == COMMAND else SENSOR_QOS


def stamp_s(stamp: Any) -> float:
    return stamp.sec + 1e-9 * stamp.nanosec


def to_stamp(t_s: float) -> Any:
    from builtin_interfaces.msg import Time

    sec = int(t_s)
    return Time(sec=sec, nanosec=round((t_s - sec) * 1e9) % 1_000_000_000)


class TopicNode(Node):
    """A node that speaks robot_rl.rosgraph Topics (their types and QoS) on the node's clock."""

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def pub(self, topic: Topic, qos: QoSProfile | None = None):
        return self.create_publisher(msg_type(topic.type), topic.name, qos or qos_of(topic))

    def sub(self, topic: Topic, callback: Callable[[Any], None], qos: QoSProfile | None = None):
        return self.create_subscription(msg_type(topic.type), topic.name, callback, qos or qos_of(topic))


class GraphNode(TopicNode):
    """A node whose parameters are NODE_PARAMS[kind]: declared with defaults, unknown keys refused."""

    kind = ""

    def __init__(self, name: str | None = None, context: Any = None):
        super().__init__(
            name or self.kind, context=context, automatically_declare_parameters_from_overrides=True
        )
        given = {n: p.value for n, p in self._parameters.items()}
        check_node_params(self.kind, given, source=f"node '{self.get_name()}' parameters")
        for key, default in NODE_PARAMS[self.kind].items():
            if not self.has_parameter(key):
                self.declare_parameter(key, default)
        self.p = {key: self.get_parameter(key).value for key in NODE_PARAMS[self.kind]}
        for key in ("cameras",):
            if key in self.p:
                self.p[key] = [c for c in (self.p[key] or []) if c]
        if self.p.get("realtime_priority"):
            self._go_realtime(int(self.p["realtime_priority"]))

    def _go_realtime(self, priority: int) -> None:
        """SCHED_FIFO for every thread, DDS's included; refused -> one warning, normal scheduling."""
        from robot_rl.runtime import set_realtime

        reason = set_realtime(priority)
        if reason is None:
            self.get_logger().info(f"running SCHED_FIFO at priority {priority}")
        else:
            self.get_logger().warning(
                f"realtime_priority {priority} not applied ({reason}); running with normal scheduling"
            )


#: a node has stopped this long after SIGINT/SIGTERM (ros2 launch escalates to SIGTERM at 5 s)
SHUTDOWN_GRACE_S = 4.0


class _Signals:
    """Where a SIGINT/SIGTERM may raise KeyboardInterrupt in the main thread: before rclpy is up, and
    while the executor spins (the exception is what ends its wait: the context's shutdown alone does
    not always wake it). Not while the node is built or torn down: rclpy's own handler (which calls
    ours) has shut the context down already, and an exception there would land anywhere, even after a
    failed rcl call or in run()'s cleanup; `seen` tells run() not to start spinning."""

    rclpy_up = False
    armed = False
    seen = False


def _stop_signal(signum: int, frame: Any) -> None:
    _Signals.seen = True
    if not _Signals.rclpy_up or _Signals.armed:
        raise KeyboardInterrupt


#: the shutdown watchdog: a separate small process, so that it acts even when a thread of the node holds
#: the GIL in C (a stuck rclpy or middleware call), where no thread of the node could
_WATCHDOG = """
import os, select, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the whole process group
signal.signal(signal.SIGTERM, signal.SIG_IGN)
fd, pid, grace, name = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
while True:
    data = os.read(fd, 64)
    if not data:
        sys.exit(0)  # the node has exited: its end of the pipe is closed
    if signal.SIGINT in data or signal.SIGTERM in data:
        break
deadline = time.monotonic() + grace
while (left := deadline - time.monotonic()) > 0:
    if select.select([fd], [], [], left)[0] and not os.read(fd, 64):
        sys.exit(0)  # stopped in time
print(f"error: {name} still stopping {grace:g} s after the signal: killing it; its threads' stacks follow",
      file=sys.stderr, flush=True)
os.kill(pid, signal.SIGUSR2)  # faulthandler in the node prints every thread's stack, GIL or not
time.sleep(0.5)
os.kill(pid, signal.SIGKILL)
"""


def bound_shutdown(grace_s: float = SHUTDOWN_GRACE_S) -> subprocess.Popen:
    """From the first SIGINT/SIGTERM on, the node has `grace_s` to stop; then its threads' stacks are
    printed and it is killed. A stop stuck anywhere (a callback, the middleware, a C call that holds
    the GIL) still ends, and says where it stuck.

    Python's C-level handler writes each handled signal to the wakeup fd at once, whatever the node's
    threads are doing, and rclpy calls the handler it replaced; a watchdog process reads the other
    end. SIGTERM gets a Python handler too, so that it reaches the fd, and it stops the node as SIGINT
    does (also before rclpy is up). Call before rclpy.init, in the main thread."""
    _Signals.rclpy_up = _Signals.armed = _Signals.seen = False
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    watchdog = subprocess.Popen(
        [sys.executable, "-S", "-c", _WATCHDOG, str(read_fd), str(os.getpid()), str(grace_s),
         os.path.basename(sys.argv[0])],
        pass_fds=(read_fd,),
    )  # fmt: skip
    os.close(read_fd)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(sig) in (default, None):
            signal.signal(sig, _stop_signal)
    return watchdog


def run(
    node_factory: Callable[[], Node],
    executor_factory: Callable[[], Any] | None = None,
    shutdown_grace_s: float = SHUTDOWN_GRACE_S,
) -> int:
    """init, build, spin until SIGINT/SIGTERM, shut down (within `shutdown_grace_s`, `bound_shutdown`);
    a user error is one line and exit 2."""
    bound_shutdown(shutdown_grace_s)
    rclpy.init(args=sys.argv)
    _Signals.rclpy_up = True
    node = executor = None
    try:
        node = node_factory()
        # An executor of our own, always shut down below: a signal that lands while it is between the
        # ready callbacks of one wait leaves its wait generator holding every entity of the node "in
        # use", and destroy_node waits for that (rclpy.spin's global executor was never shut down).
        executor = (executor_factory or rclpy.executors.SingleThreadedExecutor)()
        executor.add_node(node)
        try:
            _Signals.armed = True
            if not _Signals.seen:  # a signal while the node was built: stop without spinning
                executor.spin()
        finally:
            _Signals.armed = False
    except RobotRLError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        _Signals.armed = False
    except Exception:
        time.sleep(0.05)  # a signal's shutdown may still be under way
        if rclpy.ok():
            raise
        # SIGTERM shut the context down under a running callback: a normal stop
    finally:
        close = getattr(node, "close", None)
        if close is not None:
            close()
        # Shut the context down before destroying the node, as launch_ros does (try_shutdown takes the
        # context's lock, so it also waits for the shutdown rclpy's own signal handler started). A
        # callback still running holds the node in use and destroy_node waits for it: callbacks that
        # wait (the reset node's service calls) stop waiting when the context is down, and the
        # executor's shutdown drops its wait generator. What still sticks is killed on time by
        # `bound_shutdown`, with its stacks.
        rclpy.try_shutdown()
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)  # callbacks still running finish first
        if node is not None:
            node.destroy_node()
    return 0
