"""twin: a PyBullet twin that speaks its robot driver's topics.

It publishes what the real driver publishes (robot_rl.rosgraph.ROBOT_TOPICS) at the driver's rate,
camera images as sensor_msgs/Image, and consumes the command topic the real controller consumes,
so the rest of the graph cannot tell it from hardware. It publishes its task's observation on the
task topics (robot_rl.rosgraph.TASK_INPUTS: the reach goal, the cube pose, ...) at the state rate,
exactly what a perception node or a goal publisher provides on hardware, and for the Crazyflie the
position target (hover point or the moving figure-8 point) on POSITION_TARGET. It also serves `/twin/reset`
(std_srvs/Trigger; `reset_mode` teleport: a seeded env reset; scripted: the robot's reset controller,
see `TwinNode.scripted_reset`) and publishes the task's ground-truth reward and success for
the reward node. `action_mode` picks the robot's command layout (the Crazyflie: motor forces on
`/cf1/cmd_motors` by default, thrust and body rates on `/cf1/cmd_rates` in `rates` mode).

The twin advances in real time: each state tick runs control_hz / state_hz control-law updates.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
from geometry_msgs.msg import PointStamped, PoseStamped, TwistStamped, WrenchStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Image, Imu, JointState
from std_msgs.msg import Bool, Float32
from std_srvs.srv import Trigger

from robot_rl.command_shaping import resolve_action_mode, twin_robot_options
from robot_rl.controllers.resets import OBJECT_RESETS, RESETS, ResetReport, run_reset
from robot_rl.errors import ConfigError
from robot_rl.observations import InputError, check_finite
from robot_rl.ros import task_messages
from robot_rl.ros.common import GraphNode, msg_type, run, stamp_s, to_stamp
from robot_rl.rosgraph import (
    POSITION_TARGET,
    STATE_HZ,
    TWIN_RESET_SERVICE,
    TWIN_REWARD,
    TWIN_SUCCESS,
    camera_topic,
    robot_topics,
    task_inputs,
)


class _AtPolicyRate:
    """The twin env seen at the robot's policy rate: the twin node steps its env at the state rate, and
    the reset controllers count steps and seconds at the policy rate (a grasp closes for 5 policy steps).

    One step applies the action, then holds it for the rest of the policy period as the twin's tick does:
    the Panda's position deltas are zero after the first state tick (the reference stays, the gripper
    keeps its command); the other robots' actions are setpoints and repeat.
    """

    def __init__(self, env: Any, spec: Any):
        self.env = env
        twin = env.unwrapped
        self.repeat = max(1, round(twin.robot_spec.rates.policy_hz / spec.rates.policy_hz))
        self.hold_mask = np.ones(env.action_space.shape, np.float32)
        if spec.name == "panda":
            self.hold_mask[:] = 0.0
            self.hold_mask[twin.robot.action_slices["gripper"]] = 1.0
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


def quat_from_matrix(r: Any) -> tuple[float, float, float, float]:
    """Row-major 3x3 rotation -> unit quaternion x y z w (w >= 0)."""
    m = np.asarray(r, dtype=np.float64).reshape(3, 3)
    w = math.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2.0
    x = math.copysign(math.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2.0, m[2, 1] - m[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2.0, m[0, 2] - m[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2.0, m[1, 0] - m[0, 1])
    return x, y, z, w


class TwinNode(GraphNode):
    kind = "twin"

    def __init__(self):
        super().__init__()
        from robot_rl.sim import make_twin
        from robot_rl.spec import load_robot_spec

        p = self.p
        self.robot_name = p["robot"]
        spec = load_robot_spec(self.robot_name)
        self.action_mode = resolve_action_mode(spec, p["action_mode"])
        self.topics = robot_topics(self.robot_name, self.action_mode)
        self.task_inputs = task_inputs(self.robot_name, p["task"])
        self.state_hz = int(p["state_hz"] or STATE_HZ[self.robot_name])
        if p["reset_mode"] not in ("teleport", "scripted"):
            raise ConfigError("twin", "reset_mode", "teleport or scripted", p["reset_mode"])
        if spec.rates.control_hz % self.state_hz:
            raise ConfigError(
                "twin", "state_hz", f"a divisor of control_hz ({spec.rates.control_hz} Hz)", self.state_hz
            )
        # One env step = one state tick: the twin's "policy" rate becomes the state rate.
        options = twin_robot_options(spec, self.action_mode)
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
        self.gripper = 0.0
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
            f"{', '.join(t.name for k, t in self.topics.items() if k not in ('command', 'gripper'))}"
        )

    # -- topics --------------------------------------------------------------------------------
    def _make_io(self) -> None:
        t = self.topics
        self.pubs = {key: self.pub(topic) for key, topic in t.items() if key not in ("command", "gripper")}
        self.sub(t["command"], self.on_command)
        if "gripper" in t:
            self.sub(t["gripper"], self.on_gripper)
        self.reward_pub, self.success_pub = self.pub(TWIN_REWARD), self.pub(TWIN_SUCCESS)
        self.task_pubs = [self.pub(inp.topic) for inp in self.task_inputs]
        if self.robot_name == "crazyflie":  # the position target pos_error refers to (hover point, figure-8)
            self.target_pub = self.pub(POSITION_TARGET)
        self.image_pubs = {
            c.name: self.create_publisher(Image, camera_topic(c.name), 1) for c in self.cameras
        }

    def on_command(self, msg: Any) -> None:
        with self.lock:
            self._on_command(msg)

    def _on_command(self, msg: Any) -> None:
        header = getattr(msg, "header", None)
        if header is not None and stamp_s(header.stamp) < self.reset_time:
            return  # a command for the world before the last reset
        try:
            if self.robot_name == "panda":
                p, q = msg.pose.position, msg.pose.orientation
                pos = check_finite([p.x, p.y, p.z], "equilibrium pose")
                quat = check_finite([q.x, q.y, q.z, q.w], "equilibrium pose")
                self.robot.controller.set_reference(pos, quat / max(np.linalg.norm(quat), 1e-9))
            elif self.robot_name == "crazyflie" and self.action_mode == "force":
                forces = check_finite(list(msg.effort), "motor command")
                if forces.size != 4:
                    raise InputError(f"motor command has {forces.size} forces, 4 expected (m1..m4)")
                self.action = self.robot.to_action(forces.tolist())
            elif self.robot_name == "crazyflie":
                tw = msg.twist
                cmd = check_finite([tw.linear.z, tw.angular.x, tw.angular.y, tw.angular.z], "rate command")
                self.action = self.robot.to_action(cmd.tolist())
            else:
                cmd = check_finite([msg.angular.z, msg.linear.x], "cmd_vel")
                cfg = self.robot.controller.config
                speed = cmd[1] / (cfg.max_speed if cmd[1] >= 0 else max(cfg.max_reverse_speed, 1e-9))
                self.action = np.clip([cmd[0] / cfg.max_steer_rad, speed], -1, 1).astype(np.float32)
        except InputError as exc:
            self.get_logger().error(f"command refused: {exc}", throttle_duration_sec=1.0)

    def on_gripper(self, msg: Any) -> None:
        if math.isfinite(msg.data):
            self.gripper = 1.0 if msg.data < 0.5 * self.spec.model["gripper_open_m"] else -1.0

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
            self.gripper = 0.0
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
        return run_reset(_AtPolicyRate(self.env, self.spec), controller, rng)

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
        if self.robot_name == "panda":
            action = np.zeros(self.env.action_space.shape, np.float32)
            action[-1] = self.gripper  # position deltas 0: the reference stays where commanded
        else:
            action = self.action
            if self.robot_name == "racecar":
                self.robot.controller.action = np.asarray(action, np.float64)  # the node rate-limited it
        _, reward, _, _, info = self.env.step(action)
        stamp = to_stamp(self.now_s())
        getattr(self, f"_publish_{self.robot_name}")(stamp)
        self._publish_task(stamp)
        # success first: the reward node publishes the pair when the reward arrives
        self.success_pub.publish(Bool(data=bool(info["success"])))
        self.reward_pub.publish(Float32(data=float(reward)))

    def _publish_task(self, stamp: Any) -> None:
        """The task's observation (what the policy sees in the twin) on its task topics."""
        if not self.task_inputs:
            return
        values, i = self.twin.task.observe(), 0
        frame = {"panda": "panda_link0", "crazyflie": "world", "racecar": "base_link"}[self.robot_name]
        for inp, pub in zip(self.task_inputs, self.task_pubs):
            n = sum(size for _, size in inp.fields)
            part = values[i : i + n]
            i += n
            msg = msg_type(inp.topic.type)()
            msg.header.stamp, msg.header.frame_id = stamp, frame
            # a scan's range_max is the rays' reach (noise may read a little beyond it)
            reach = getattr(self.twin.task.config, "ray_range_m", 0.0) if inp.layout == "scan" else 0.0
            pub.publish(task_messages.fill(inp, msg, part, range_max=max([reach, *part])))

    def _publish_panda(self, stamp: Any) -> None:
        r, c = self.robot, self.twin.client
        obs = r.observe()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "panda_link0"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = map(float, obs[0:3])
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = map(float, obs[3:7])
        self.pubs["pose"].publish(pose)
        twist = TwistStamped()
        twist.header = pose.header
        twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = map(float, obs[7:10])
        twist.twist.angular.x, twist.twist.angular.y, twist.twist.angular.z = map(float, obs[10:13])
        self.pubs["twist"].publish(twist)
        wrench = WrenchStamped()
        wrench.header = pose.header
        force = np.zeros(3)
        for contact in c.getContactPoints(bodyA=r.body):
            if contact[2] != r.body:
                force += np.asarray(contact[7]) * contact[9]  # normal on B, pointing at the robot
        wrench.wrench.force.x, wrench.wrench.force.y, wrench.wrench.force.z = map(float, force)
        self.pubs["wrench"].publish(wrench)
        states = c.getJointStates(r.body, r.movable)
        joints = JointState()
        joints.header = pose.header
        joints.name = list(r.model.arm_joints) + list(r.model.finger_joints)
        joints.position = [float(s[0]) for s in states]
        joints.velocity = [float(s[1]) for s in states]
        joints.effort = [float(s[3]) for s in states]
        self.pubs["joints"].publish(joints)

    def _publish_crazyflie(self, stamp: Any) -> None:
        obs = self.robot.observe()  # the sensors (delayed, noisy when randomized)
        target = self.robot.target
        point = PointStamped()
        point.header.stamp, point.header.frame_id = stamp, "world"
        point.point.x, point.point.y, point.point.z = map(float, target)
        self.target_pub.publish(point)
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "world", "cf1"
        p = odom.pose.pose.position
        p.x, p.y, p.z = (float(obs[i] + target[i]) for i in range(3))
        o = odom.pose.pose.orientation
        o.x, o.y, o.z, o.w = quat_from_matrix(obs[3:12])
        tw = odom.twist.twist
        tw.linear.x, tw.linear.y, tw.linear.z = map(float, obs[12:15])
        tw.angular.x, tw.angular.y, tw.angular.z = map(float, obs[15:18])
        self.pubs["odom"].publish(odom)
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, "cf1"
        imu.orientation = odom.pose.pose.orientation
        imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z = map(float, obs[15:18])
        self.pubs["imu"].publish(imu)

    def _publish_racecar(self, stamp: Any) -> None:
        obs = self.robot.observe()
        s = self.robot.state()
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = float(s.x), float(s.y)
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(s.yaw / 2), math.cos(s.yaw / 2)
        odom.twist.twist.linear.x = float(obs[0])
        odom.twist.twist.angular.z = float(obs[1])
        self.pubs["odom"].publish(odom)
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, "imu_link"
        imu.angular_velocity.z = float(obs[1])
        self.pubs["imu"].publish(imu)

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
