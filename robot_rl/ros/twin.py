"""twin: a PyBullet twin that speaks its robot driver's topics.

It publishes what the real driver publishes (its adapter's topics and codecs, robot_rl.robots) at the
driver's rate (spec `rates.state_hz`),
camera images as sensor_msgs/Image, and consumes the command topic the real controller consumes,
so the rest of the graph cannot tell it from hardware. It publishes its task's observation on the
task topics (the spec's `tasks.<task>.inputs`: the reach goal, the cube pose, ...) at the state rate,
exactly what a perception node or a goal publisher provides on hardware, and for the Crazyflie the
position target (hover point or the moving figure-8 point) on POSITION_TARGET. It also serves `/twin/reset`
(std_srvs/Trigger; `reset_mode` teleport: a seeded env reset; scripted: the robot's reset controller,
see `TwinNode.scripted_reset`) and publishes the task's ground-truth reward and success for
the reward node. `action_mode` picks the robot's command layout (the Crazyflie: motor forces on
`/cf1/cmd_motors` by default, thrust and body rates on `/cf1/cmd_rates` in `rates` mode).

The twin advances in real time: each state tick runs control_hz / state_hz control-law updates.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32
from std_srvs.srv import Trigger

from robot_rl.controllers.resets import OBJECT_RESETS, RESETS, ResetReport, run_reset
from robot_rl.errors import ConfigError
from robot_rl.observations import InputError
from robot_rl.robots import adapter
from robot_rl.ros import task_messages
from robot_rl.ros.common import GraphNode, msg_type, run, stamp_s, to_stamp
from robot_rl.rosgraph import TWIN_RESET_SERVICE, TWIN_REWARD, TWIN_SUCCESS, camera_topic, task_inputs


class _AtPolicyRate:
    """The twin env seen at the robot's policy rate: the twin node steps its env at the state rate, and
    the reset controllers count steps and seconds at the policy rate (a grasp closes for 5 policy steps).

    One step applies the action, then holds it for the rest of the policy period as the twin's tick does:
    the Panda's position deltas are zero after the first state tick (the reference stays, the gripper
    keeps its command); the other robots' actions are setpoints and repeat.
    """

    def __init__(self, env: Any, spec: Any, hold_mask: np.ndarray):
        self.env = env
        twin = env.unwrapped
        self.repeat = max(1, round(twin.robot_spec.rates.policy_hz / spec.rates.policy_hz))
        self.hold_mask = hold_mask
        self.unwrapped = _WithSpec(twin, spec)

    def step(self, action: np.ndarray) -> tuple:
        out = self.env.step(action)
        hold = np.asarray(action, np.float32) * self.hold_mask
        for _ in range(self.repeat - 1):
            out = self.env.step(hold)
        return out


class _WithSpec:
    """The twin with the robot's own spec (policy rate) in place of the twin node's state-rate spec."""

    def __init__(self, twin: Any, spec: Any):
        self._twin, self.robot_spec = twin, spec

    def __getattr__(self, name: str) -> Any:
        return getattr(self._twin, name)


class TwinNode(GraphNode):
    kind = "twin"

    def __init__(self):
        super().__init__()
        from robot_rl.sim import make_twin
        from robot_rl.spec import load_robot_spec

        p = self.p
        self.robot_name = p["robot"]
        spec = load_robot_spec(self.robot_name)
        self.adapter = adapter(spec, p["action_mode"])
        self.task_inputs = task_inputs(spec, p["task"])
        self.state_hz = int(p["state_hz"] or self.adapter.state_hz)
        if p["reset_mode"] not in ("teleport", "scripted"):
            raise ConfigError("twin", "reset_mode", "teleport or scripted", p["reset_mode"])
        if spec.rates.control_hz % self.state_hz:
            raise ConfigError(
                "twin", "state_hz", f"a divisor of control_hz ({spec.rates.control_hz} Hz)", self.state_hz
            )
        # One env step = one state tick: the twin's "policy" rate becomes the state rate.
        options = self.adapter.twin_options()
        self.env = make_twin(
            self.robot_name,
            p["task"],
            randomize=p["randomize"],
            spec_overrides={"rates": {"policy_hz": self.state_hz}},
            robot_options=options,
        )
        self.twin = self.env.unwrapped
        self.robot = self.twin.robot
        self.spec = spec
        self.cameras = [spec.camera(c) for c in p["cameras"]]
        self.episode = 0
        self.reset_time = 0.0
        self.env.reset(seed=p["seed"])
        self.action = self.robot.safe_action()
        self.hold_mask = self.adapter.hold_mask(self.env)
        self._make_io()
        self.lock = threading.Lock()  # physics thread vs. command and reset callbacks
        self.running = True
        self.physics = threading.Thread(target=self.physics_loop, name="twin-physics", daemon=True)
        self.physics.start()
        if self.cameras:
            self.create_timer(1.0 / p["camera_hz"], self.publish_images)
        self.create_service(Trigger, TWIN_RESET_SERVICE, self.on_reset)
        self.get_logger().info(
            f"twin {self.robot_name}/{p['task']}: state at {self.state_hz} Hz on "
            f"{', '.join(t.name for t in self.adapter.STATE.values())}"
        )

    # -- topics --------------------------------------------------------------------------------
    def _make_io(self) -> None:
        a = self.adapter
        self.pubs = {key: self.pub(topic) for key, topic in {**a.STATE, **a.TWIN_EXTRA}.items()}
        for key, topic in a.COMMANDS[a.action_mode].items():
            self.sub(topic, lambda msg, key=key: self.on_command(key, msg))
        self.reward_pub, self.success_pub = self.pub(TWIN_REWARD), self.pub(TWIN_SUCCESS)
        self.task_pubs = [self.pub(inp.topic) for inp in self.task_inputs]
        self.image_pubs = {
            c.name: self.create_publisher(Image, camera_topic(c.name), 1) for c in self.cameras
        }

    def on_command(self, key: str, msg: Any) -> None:
        with self.lock:
            header = getattr(msg, "header", None)
            if header is not None and stamp_s(header.stamp) < self.reset_time:
                return  # a command for the world before the last reset
            try:
                self.action = self.adapter.twin_command(key, msg, self.twin, self.action)
            except InputError as exc:
                self.get_logger().error(f"command refused: {exc}", throttle_duration_sec=1.0)

    def on_reset(self, request: Any, response: Any) -> Any:
        with self.lock:
            self.episode += 1
            if self.p["reset_mode"] == "scripted":
                report = self.scripted_reset()
                if not report.success:
                    self.reset_time = self.now_s()  # commands sent before it are for the world before it
                    self.action = self.robot.safe_action()
                    response.success = False
                    response.message = (
                        f"scripted reset {report.kind} failed after {report.duration_s:.2f} s robot time: "
                        f"{report.reason}"
                    )
                    return response
                self.env.reset(options={"keep_scene": True})
                what = f"scripted reset {report.kind} in {report.duration_s:.2f} s robot time"
            else:
                self.env.reset(seed=self.p["seed"] + self.episode)
                what = "twin reset"
            self.reset_time = self.now_s()
            self.action = self.robot.safe_action()
        response.success, response.message = True, f"{what}, episode {self.episode}"
        return response

    def scripted_reset(self) -> ResetReport:
        """The task's object reset if it has one, else the robot's reset controller
        (robot_rl.controllers.resets), run through the twin's control law at the robot's policy rate.

        The caller holds the lock, so the physics thread waits: the reset is computed faster than real
        time (e.g. the Panda's home move, ~1 s of robot time, takes ~0.1 s) and its duration is reported
        in robot time. The world stays where the reset left it; nothing is teleported.
        """
        robot, task = self.robot_name, self.p["task"]
        controller = (OBJECT_RESETS.get((robot, task)) or RESETS[robot])()
        rng = np.random.default_rng(self.p["seed"] + self.episode)
        return run_reset(_AtPolicyRate(self.env, self.spec, self.hold_mask), controller, rng)

    # -- physics and sensing -------------------------------------------------------------------
    def physics_loop(self) -> None:
        """Real time on absolute deadlines: a late tick is caught up, not dropped, so the state
        rate holds on average under CPU contention; more than 0.1 s behind restarts the schedule."""
        period = 1.0 / self.state_hz
        next_t = time.monotonic()
        while self.running:
            now = time.monotonic()
            if next_t - now > 0:
                time.sleep(next_t - now)
            elif now - next_t > 0.1:
                next_t = now
            next_t += period
            try:
                with self.lock:
                    self.tick()
            except Exception as exc:  # the context was shut down under us: stop quietly
                if self.running and self.context.ok():
                    self.get_logger().error(f"twin physics stopped: {exc}")
                return

    def tick(self) -> None:
        action = self.action * self.hold_mask  # a delta applies once; a setpoint holds until the next
        self.adapter.twin_before_step(self.twin, action)
        _, reward, _, _, info = self.env.step(action)
        stamp = to_stamp(self.now_s())
        for key, msg in self.adapter.twin_state(self.twin, stamp).items():
            self.pubs[key].publish(msg)
        self._publish_task(stamp)
        # success first: the reward node publishes the pair when the reward arrives
        self.success_pub.publish(Bool(data=bool(info["success"])))
        self.reward_pub.publish(Float32(data=float(reward)))

    def _publish_task(self, stamp: Any) -> None:
        """The task's observation (what the policy sees in the twin) on its task topics."""
        if not self.task_inputs:
            return
        values, i = self.twin.task.observe(), 0
        frame = self.adapter.FRAME
        for inp, pub in zip(self.task_inputs, self.task_pubs):
            n = sum(size for _, size in inp.fields)
            part = values[i : i + n]
            i += n
            msg = msg_type(inp.topic.type)()
            msg.header.stamp, msg.header.frame_id = stamp, frame
            # a scan's range_max is the rays' reach (noise may read a little beyond it)
            reach = getattr(self.twin.task.config, "ray_range_m", 0.0) if inp.layout == "scan" else 0.0
            pub.publish(task_messages.fill(inp, msg, part, range_max=max([reach, *part])))

    def publish_images(self) -> None:
        for cam in self.cameras:
            frame = self.twin.render_camera(cam)
            msg = Image()
            msg.header.stamp, msg.header.frame_id = to_stamp(self.now_s()), f"{cam.name}_optical_frame"
            msg.height, msg.width, msg.encoding, msg.step = cam.height, cam.width, "rgb8", 3 * cam.width
            msg.data = frame.tobytes()
            self.image_pubs[cam.name].publish(msg)

    def close(self) -> None:
        self.running = False
        self.physics.join(timeout=1.0)
        self.env.close()


def main() -> int:
    return run(TwinNode)
