"""reward: reward and success for the actor (`/robot_rl/reward`, `/robot_rl/success`).

`source: twin` relays the twin's ground truth (`/twin/task_reward`, `/twin/task_success`): once per
new image of `camera` when set, else once per ground-truth sample. Learned reward models
(robot_rl.reward) plug in here as further sources.
"""

from __future__ import annotations

from typing import Any

from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32

from robot_rl.errors import ConfigError
from robot_rl.ros.common import GraphNode, run
from robot_rl.rosgraph import REWARD, SUCCESS, TWIN_REWARD, TWIN_SUCCESS, camera_topic


class RewardNode(GraphNode):
    kind = "reward"

    def __init__(self):
        super().__init__()
        if self.p["source"] != "twin":
            raise ConfigError(
                "reward", "source", "twin (learned reward models are not wired in yet)", self.p["source"]
            )
        self.reward, self.success = 0.0, False
        self.reward_pub, self.success_pub = self.pub(REWARD), self.pub(SUCCESS)
        self.sub(TWIN_SUCCESS, self.on_success)
        self.sub(TWIN_REWARD, self.on_reward)
        if self.p["camera"]:
            self.create_subscription(Image, camera_topic(self.p["camera"]), self.on_image, 1)

    def on_success(self, msg: Any) -> None:
        self.success = bool(msg.data)

    def on_reward(self, msg: Any) -> None:
        self.reward = float(msg.data)
        if not self.p["camera"]:
            self.publish()

    def on_image(self, msg: Any) -> None:
        self.publish()

    def publish(self) -> None:
        self.reward_pub.publish(Float32(data=self.reward))
        self.success_pub.publish(Bool(data=self.success))


def main() -> int:
    return run(RewardNode)
