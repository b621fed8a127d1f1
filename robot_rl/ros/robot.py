"""RosRobot: a robot over ROS 2, the twin node or hardware, behind the one Robot interface
(robot_rl.robots.interface), so that `RobotEnv(RosRobot(...))` is the same env as the twin's.

It reads the driver's state topics through the robot's adapter (robot_rl.robots.<robot>) and the
task's topics into an ObservationBuilder (stamps and ages checked: a stale input is missing), and
sends each action to the controller node on the action topic: the robot-side safety layer, the
shaper and the driver's command are the controller's, as for the actor node. Resets call a reset
service (the reset node's, or the twin's own), rewards and success come from the reward node's
topics (or the twin's ground truth). One rclpy context of its own, spun in a background thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Int32, String
from std_srvs.srv import Trigger

from robot_rl.errors import RobotRLError
from robot_rl.observations import ObservationBuilder
from robot_rl.robots.interface import Feedback, Robot
from robot_rl.ros.common import LATCHED_QOS, TopicNode, to_stamp
from robot_rl.ros.inputs import SensorInputs
from robot_rl.rosgraph import (
    ACTION,
    CONTROLLER_STATE,
    EPISODE,
    RESET_SERVICE,
    REWARD,
    SUCCESS,
    TWIN_REWARD,
    TWIN_SUCCESS,
    task_inputs,
)

#: where reward and success come from: the reward node, or the twin's ground truth
FEEDBACK_TOPICS = {"reward_node": (REWARD, SUCCESS), "twin": (TWIN_REWARD, TWIN_SUCCESS)}


class RosRobot(Robot):
    """`reset_service`: the reset node's (default) or the twin's own (`/twin/reset`: no reset node);
    `feedback`: `reward_node` or `twin`; `target`: a vehicle's position target (the hover point)."""

    def __init__(
        self,
        robot: str,
        task: str,
        action_mode: str = "",
        cameras: Sequence[str] = (),
        reset_service: str = RESET_SERVICE,
        feedback: str = "reward_node",
        target: Sequence[float] = (0.0, 0.0, 1.0),
        max_episode_steps: int = 100,
        timeout_s: float = 10.0,
        terminate_on_success: bool = True,
    ):
        if feedback not in FEEDBACK_TOPICS:
            raise RobotRLError(f"feedback {feedback!r}: expected one of {', '.join(FEEDBACK_TOPICS)}")
        super().__init__(robot, task, action_mode, cameras)
        self.task_inputs = task_inputs(self.spec, task)
        self.reset_service, self.feedback_source = reset_service, feedback
        self.target = np.asarray(target, np.float64)
        self._max_steps, self.timeout_s, self.terminate_on_success = (
            max_episode_steps,
            timeout_s,
            terminate_on_success,
        )
        self.node: Any = None
        self.last_action = np.zeros(self.adapter.size, np.float32)
        self._obs_time = self._obs_stamp = 0.0
        self.episode = 0

    @property
    def max_episode_steps(self) -> int:
        return self._max_steps

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> None:
        if self.node is not None:
            return
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = _RobotNode(self, self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.spinner = threading.Thread(target=self.executor.spin, name="ros-robot", daemon=True)
        self.spinner.start()
        self.observe()  # the driver's state arrives, or one line naming what does not
        deadline = time.monotonic() + self.timeout_s
        node = self.node
        while (  # actions (and the episode starts) go nowhere until the controller node takes them
            node.controller_state is None
            or node.action_pub.get_subscription_count() == 0
            or node.episode_pub.get_subscription_count() == 0
        ):
            if time.monotonic() > deadline:
                raise RobotRLError(
                    f"no controller node took this robot's actions within {self.timeout_s:g} s (nothing on "
                    f"{CONTROLLER_STATE.name}, or no subscriber to {ACTION.name}); start it: ros2 run "
                    f"robot_rl controller --ros-args -p robot:={self.spec.name}"
                )
            time.sleep(0.01)

    def disconnect(self) -> None:
        if self.node is None:
            return
        self.context.try_shutdown()
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.spinner.join(timeout=1.0)
        self.node = None

    # -- the episode ----------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> dict[str, Any]:
        """Call the reset service (its own seed stream: a Trigger carries none), then wait for state
        stamped after it."""
        client = self.node.reset_client
        if not client.wait_for_service(timeout_sec=self.timeout_s):
            raise RobotRLError(
                f"reset service {self.reset_service} is not available: start the reset node or twin"
            )
        future = client.call_async(Trigger.Request())
        deadline = time.monotonic() + self.timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise RobotRLError(f"no answer from {self.reset_service} in {self.timeout_s:g} s")
            time.sleep(0.005)
        answer = future.result()
        if not answer.success:
            raise RobotRLError(f"reset refused by {self.reset_service}: {answer.message}")
        self.node.restart()
        self.episode += 1
        self.node.episode_pub.publish(Int32(data=self.episode))  # the controller starts from the new state
        time.sleep(0.02)  # before the episode's first action: two topics keep no order between them
        self.last_action[:] = 0.0
        return {"reset": answer.message}

    def observe(self) -> dict[str, np.ndarray]:
        deadline = time.monotonic() + self.timeout_s
        node, builder = self.node, self.node.builder
        while True:
            now = node.now_s()
            with node.lock:
                if "last_action" in builder.fields:
                    builder.update("last_action", self.last_action, now)
                obs = builder.build(now)
            if obs is not None:
                self._obs_time, self._obs_stamp = now, builder.stamp(self.spec.observation[0].name)
                return obs
            if time.monotonic() > deadline:
                missing = ", ".join(builder.missing(now))
                raise RobotRLError(
                    f"{self.spec.name}: no fresh observation in {self.timeout_s:g} s: {missing}"
                )
            with node.lock:
                node.lock.wait(timeout=0.01)  # until the next input arrives

    def wait(self, period_s: float) -> None:
        """Until the robot's own state (its first spec field) is stamped `period_s` after the last
        observation's, less half a state period (stamps jitter by a little)."""
        node, name = self.node, self.spec.observation[0].name
        target = self._obs_stamp + period_s - 0.5 * node.state_period
        with node.lock:  # woken by every input the node takes
            node.lock.wait_for(lambda: node.builder.stamp(name) >= target, timeout=self.timeout_s)

    def act(self, action: np.ndarray) -> np.ndarray:
        action = np.asarray(action, np.float32)
        msg = JointState(name=self.adapter.channels, position=[float(a) for a in action])
        msg.header.stamp = to_stamp(self._obs_time)  # as fresh as the observation it answers
        self.node.action_pub.publish(msg)
        self.last_action = action
        return action  # the controller node's layer decides what the driver gets

    def feedback(self) -> Feedback:
        reward, success = self.node.reward, self.node.success
        info = {"controller": self.node.controller_state}  # ok | hold | fault | estop
        return Feedback(reward, success, bool(success and self.terminate_on_success), info)


class _RobotNode(SensorInputs, TopicNode):
    """The robot's side of the graph: state, task and camera inputs, the action topic, the reward and
    success topics and the reset client."""

    def __init__(self, owner: RosRobot, context: Any):
        super().__init__("robot_env", context=context)
        spec = owner.spec
        # the inputs' lock, notified on every input (RosRobot waits on it for the next state)
        self.adapter, self.target, self.lock = owner.adapter, owner.target, threading.Condition()
        self.first = spec.observation[0].name
        self.state_period = 1.0 / (spec.rates.state_hz or spec.rates.policy_hz)
        self.builder = ObservationBuilder(
            spec, owner.cameras, task_fields=[f for inp in owner.task_inputs for f in inp.fields]
        )
        if spec.task(owner.task).moving_target:
            self.follow_target()
        self.subscribe_inputs(owner.cameras, owner.task_inputs)
        self.action_pub, self.episode_pub = self.pub(ACTION), self.pub(EPISODE)
        self.reward, self.success = 0.0, False
        reward_topic, success_topic = FEEDBACK_TOPICS[owner.feedback_source]
        self.sub(reward_topic, lambda m: setattr(self, "reward", float(m.data)))
        self.sub(success_topic, lambda m: setattr(self, "success", bool(m.data)))
        self.reset_client = self.create_client(Trigger, owner.reset_service)
        self.controller_state: str | None = None
        self.create_subscription(
            String, CONTROLLER_STATE.name, lambda m: setattr(self, "controller_state", m.data), LATCHED_QOS
        )

    def _update_stamped(self, name: str, values: Any, stamp_s: float, topic: str) -> None:
        with self.lock:
            if name == self.first:  # the state period, from the stamps (a moving average)
                step = stamp_s - self.builder.stamp(name)
                if 0.0 < step < 1.0:
                    self.state_period += 0.1 * (step - self.state_period)
            super()._update_stamped(name, values, stamp_s, topic)
            self.lock.notify_all()

    def on_image(self, camera: str, msg: Any) -> None:
        with self.lock:
            super().on_image(camera, msg)
            self.lock.notify_all()

    def restart(self) -> None:
        """Forget inputs stamped before now (the world before a reset) and the old feedback."""
        with self.lock:
            self.restart_inputs(self.now_s())
        self.reward, self.success = 0.0, False
