"""reward: reward and success for the actor (`/robot_rl/reward`, `/robot_rl/success`).

`source: twin` relays the twin's ground truth (`/twin/task_reward`, `/twin/task_success`): once per
new image of `camera` when set, else once per ground-truth sample.

`source: model` runs a learned reward model (`robot_rl.reward.load_model(model)`, the folders
`robot-rl reward train` writes) on each new frame of `camera` (default: the model's first camera),
with the newest frame of each other model camera no older than the spec's `sensor_max_age_s`
relative to it. It publishes the sparse classifier reward the policy trains on in the twin
(robot_rl.reward.LearnedReward: 1 on the model's success, else 0), the success, and the calibrated
probability on `/robot_rl/reward/probability` for monitoring. A model's proprioceptive conditions
("gripper closed") read the robot's state topics, as the actor does (robot_rl.ros.inputs); a frame
without fresh inputs gets no reward, and the node says which input is missing once per second.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32

from robot_rl.errors import ConfigError, Described, RobotRLError
from robot_rl.observations import ObservationBuilder
from robot_rl.robots import adapter
from robot_rl.ros.common import GraphNode, run
from robot_rl.ros.inputs import SensorInputs
from robot_rl.rosgraph import (
    REWARD,
    REWARD_PROBABILITY,
    SUCCESS,
    TWIN_REWARD,
    TWIN_SUCCESS,
    camera_topic,
    task_inputs,
)
from robot_rl.spec import load_robot_spec

SOURCES = ("twin", "model")


class RewardNode(SensorInputs, GraphNode):
    kind = "reward"

    def __init__(self):
        super().__init__()
        p = self.p
        if p["source"] not in SOURCES:
            raise ConfigError("reward", "source", " or ".join(SOURCES), p["source"])
        self.reward_pub, self.success_pub = self.pub(REWARD), self.pub(SUCCESS)
        if p["source"] == "twin":
            self.reward, self.success = 0.0, False
            self.sub(TWIN_SUCCESS, self.on_success)
            self.sub(TWIN_REWARD, self.on_reward)
            if p["camera"]:
                self.create_subscription(Image, camera_topic(p["camera"]), self.on_twin_image, 1)
        else:
            self._start_model()

    # -- source: twin ------------------------------------------------------------------------------
    def on_success(self, msg: Any) -> None:
        self.success = bool(msg.data)

    def on_reward(self, msg: Any) -> None:
        self.reward = float(msg.data)
        if not self.p["camera"]:
            self.publish(self.reward, self.success)

    def on_twin_image(self, msg: Any) -> None:
        self.publish(self.reward, self.success)

    def publish(self, reward: float, success: bool) -> None:
        self.reward_pub.publish(Float32(data=reward))
        self.success_pub.publish(Bool(data=success))

    # -- source: model -----------------------------------------------------------------------------
    def _start_model(self) -> None:
        from robot_rl.reward import load_model
        from robot_rl.runtime import configure_torch

        p = self.p
        configure_torch()
        if not p["model"]:
            raise ConfigError("reward", "model", "a reward model folder with source: model", "")
        try:
            self.model = load_model(p["model"])
        except RobotRLError:
            raise
        except Exception as exc:  # a damaged weights file: say which folder, not a traceback
            raise ConfigError("reward", "model", "a reward model folder from `robot-rl reward train`",
                              Described(f"{p['model']} does not load: {exc}")) from exc  # fmt: skip
        self.robot_name, self.spec = p["robot"], load_robot_spec(p["robot"])
        for cam in self.model.cameras:
            self.spec.camera(cam)  # a camera the robot does not have: one line naming the choices
        self.trigger = p["camera"] or self.model.cameras[0]
        if self.trigger not in self.model.cameras:
            raise ConfigError(
                "reward", "camera", f"one of the model's cameras {self.model.cameras}", self.trigger
            )
        tasks = task_inputs(self.spec, p["task"]) if p["task"] else ()
        self.builder = ObservationBuilder(
            self.spec, self.model.cameras, task_fields=[f for inp in tasks for f in inp.fields]
        )
        self.state_fields = self._condition_fields()
        self.adapter, self.target = adapter(self.spec), np.asarray(p["target"], np.float64)
        self.probability_pub = self.pub(REWARD_PROBABILITY)
        self.scored, self.seconds = 0, 0.0
        self.subscribe_inputs(self.model.cameras, tasks if self.state_fields else ())
        if p["task"] and self.spec.task(p["task"]).moving_target:
            self.follow_target()
        self.get_logger().info(
            f"reward model {p['model']} ({self.model.kind}, cameras {self.model.cameras}, threshold "
            f"{self.model.threshold:g}"
            + (f", conditions on {', '.join(self.state_fields)}" if self.state_fields else "")
            + f"): scoring each frame of {camera_topic(self.trigger)}"
        )

    def _condition_fields(self) -> dict[str, slice]:
        """Where each field a model condition reads sits in the model's state vector; the field must
        come from a topic of this robot (or of `task`) with the size the model was trained with."""
        offsets, start = {}, 0
        for f in self.model.state_layout:
            offsets[f["name"]] = slice(start, start + int(f["size"]))
            start += int(f["size"])
        self.state_size = start
        fields = {}
        for c in self.model.conditions:
            size = self.builder.fields.get(c.field)
            if c.field == "last_action" or size is None:
                given = [n for n in self.builder.fields if n != "last_action"]
                raise ConfigError("reward", f"model condition on {c.field}",
                                  f"a field read from the robot's or the task's topics ({', '.join(given)}; "
                                  "set `task` for task fields)", c.field)  # fmt: skip
            if offsets[c.field].stop - offsets[c.field].start != size:
                raise ConfigError(
                    "reward", f"model condition on {c.field}", f"{size} values", offsets[c.field]
                )
            fields[c.field] = offsets[c.field]
        return fields

    def on_frame(self, camera: str, stamp: float) -> None:
        if camera != self.trigger:
            return
        missing = [
            f"{name} ({why})"
            for name in [*self.model.cameras, *self.state_fields]
            if (why := self.builder.why_missing(name, stamp))
        ]
        if missing:
            self.get_logger().warning(
                f"no reward for the frame of {camera_topic(camera)}: missing {', '.join(missing)}",
                throttle_duration_sec=1.0,
            )
            return
        images = {c: self.builder.latest(c, stamp)[None] for c in self.model.cameras}
        state = None
        if self.state_fields:
            state = np.zeros((1, self.state_size), np.float32)
            for name, where in self.state_fields.items():
                state[0, where] = self.builder.latest(name, stamp)
        t0 = time.perf_counter()
        prob, ok = self.model.decide(images, state)
        self.seconds += time.perf_counter() - t0
        self.scored += 1
        success = bool(np.asarray(ok).reshape(-1)[0])
        self.probability_pub.publish(Float32(data=float(prob[0])))
        self.publish(float(success), success)
        if self.scored % 200 == 0:
            self.get_logger().info(
                f"{self.scored} frames scored, {1000 * self.seconds / self.scored:.1f} ms per frame"
            )


def main() -> int:
    return run(RewardNode)
