"""actor: observations from topics, the policy at the spec rate, episodes, resets, transitions.

Every policy step (a timer at the spec's `rates.policy_hz`) builds the observation from the newest
messages: the robot's state topics, then the task's observation topics (the spec's `tasks`:
the reach goal, the cube pose, ...), laid out as in the twin. Stale inputs, and inputs from before
the last reset, count as missing (robot_rl.observations), and then the actor does not act, so the
controller's watchdog holds the robot; the missing inputs are logged once. It picks an action
(teleop Twist input when fresh, flagged as an intervention; else the policy) and publishes it. An
episode ends on success or after `max_episode_steps`; the actor then calls the reset node and
starts the next one. Transitions go to the learner through `ActorClient` (parameter `learner`), and
episodes to a demonstration folder (parameter `demo_dir`). The action layout is the one policies
are trained with (the twin's default; `action_mode` picks another where the robot has one, e.g.
the Crazyflie's `rates`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sensor_msgs.msg import JointState
from std_msgs.msg import Int32
from std_srvs.srv import Trigger

from robot_rl.errors import ConfigError, Described
from robot_rl.observations import ObservationBuilder
from robot_rl.robots import adapter
from robot_rl.rollout import Recorder
from robot_rl.ros.common import GraphNode, run, to_stamp
from robot_rl.ros.inputs import SensorInputs
from robot_rl.rosgraph import (
    ACTION,
    EPISODE,
    RESET_SERVICE,
    REWARD,
    SUCCESS,
    TELEOP,
    task_inputs,
)
from robot_rl.spec import load_robot_spec

RESET_RETRY_S = 1.0  # pause before asking again after a failed reset


class Policy:
    """random | zero | checkpoint (robot_rl.run_config.load_checkpoint) | learner weights via ActorClient."""

    def __init__(self, kind: str, size: int, seed: int, checkpoint: str = ""):
        self.kind, self.size = kind, size
        self.rng = np.random.default_rng(seed)
        self.agent = None
        if kind == "checkpoint":
            from robot_rl.run_config import load_checkpoint

            if not checkpoint:
                raise ConfigError(
                    "actor", "checkpoint", "a run directory or checkpoint.pt with policy: checkpoint", ""
                )
            _, self.agent = load_checkpoint(checkpoint)
        elif kind not in ("random", "zero"):
            raise ConfigError("actor", "policy", "one of: random, zero, checkpoint", kind)

    def __call__(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        if self.agent is not None:
            return np.asarray(self.agent.policy(obs, deterministic=deterministic), np.float32)
        if self.kind == "zero":
            return np.zeros(self.size, np.float32)
        return self.rng.uniform(-1.0, 1.0, self.size).astype(np.float32)


class ActorNode(SensorInputs, GraphNode):
    kind = "actor"

    def __init__(self):
        super().__init__()
        p = self.p
        self.robot_name = p["robot"]
        self.spec = load_robot_spec(self.robot_name)
        self.adapter = adapter(self.spec, p["action_mode"])
        self.action_mode = self.adapter.action_mode
        self.channels = self.adapter.channels
        self.action_size = len(self.channels)
        self.task_inputs = task_inputs(self.spec, p["task"])
        self.builder = ObservationBuilder(
            self.spec,
            p["cameras"],
            task_fields=[f for inp in self.task_inputs for f in inp.fields],
            task_max_age_s=p["task_max_age_s"] or None,
        )
        self.last_action = np.zeros(self.action_size, np.float32)
        self.target = np.asarray(p["target"], np.float64)
        self.reported_missing: set[str] = set()
        self.quiet_until = -math.inf
        if self.action_mode != self.spec.action_mode() and (p["policy"] == "checkpoint" or p["learner"]):
            raise ConfigError(
                "actor",
                "action_mode",
                f"'' (the layout policies are trained with) for a trained policy or a learner; "
                f"{self.action_mode} is for random, zero or teleop",
                self.action_mode,
            )
        self.policy = Policy(p["policy"], self.action_size, p["seed"], p["checkpoint"])
        self._check_policy_fits()
        self.client = self._learner_client() if p["learner"] else None
        self.demo_writer = None
        self.episode, self.step_in_episode, self.total_steps = 0, 0, 0
        self.resetting = False
        self.recorder = Recorder()  # the transition of each policy step (robot_rl.rollout)
        self.reward, self.success, self.reward_time = 0.0, False, -math.inf
        self.teleop: np.ndarray | None = None
        self.teleop_time = -math.inf
        self.demo: dict[str, list] = {}
        self.action_pub = self.pub(ACTION)
        self.episode_pub = self.pub(EPISODE)
        self.reset_client = self.create_client(Trigger, RESET_SERVICE)
        self._subscribe()
        self.create_timer(1.0 / self.spec.rates.policy_hz, self.step)
        self.episode_pub.publish(Int32(data=self.episode))
        task = ", ".join(f"{name} <- {inp.topic.name}" for inp in self.task_inputs for name, _ in inp.fields)
        policy = f"from the learner at {p['learner']}" if p["learner"] else p["policy"]
        self.get_logger().info(
            f"actor {self.robot_name}/{p['task']}: {self.spec.rates.policy_hz} Hz, policy {policy}, "
            f"action [{', '.join(self.channels)}], task inputs [{task}]"
        )

    def _check_policy_fits(self) -> None:
        """A checkpoint trained on another task or action layout is refused at start-up, not mid-air."""
        agent = self.policy.agent
        if agent is None:
            return
        state = tuple(agent.obs_shapes.get("state", ()))
        if state != (self.builder.state_size,) or agent.action_size != self.action_size:
            raise ConfigError(
                "actor",
                "checkpoint",
                f"a policy for {self.robot_name}/{self.p['task']} (state {self.builder.state_size}, "
                f"action {self.action_size}): set the actor's task to the one it was trained on",
                Described(f"state {state}, action {agent.action_size} in {self.p['checkpoint']}"),
            )

    # -- learner ------------------------------------------------------------------------------------
    def _learner_client(self) -> Any:
        from robot_rl.learner import transport_config
        from robot_rl.learning import acting_agent
        from robot_rl.run_config import load_train_config
        from robot_rl.transport.actor import ActorClient, policy_hash
        from robot_rl.transport.wire import Hello

        p = self.p
        if not p["train_config"]:
            raise ConfigError(
                "actor", "train_config", "the learner's training config file (with learner)", ""
            )
        config = load_train_config(p["train_config"])
        shapes = {
            "state": (self.builder.state_size,),
            **{c: (self.spec.camera(c).height, self.spec.camera(c).width, 3) for c in p["cameras"]},
        }
        agent = acting_agent(shapes, self.action_size, config.preset, config.agent)
        self.policy.agent = agent
        hello = Hello(actor_id=p["actor_id"], config_hash=policy_hash(config), spec_hash=self.spec.hash)
        return ActorClient(p["actor_id"], hello, transport_config(config, connect=p["learner"]), agent=agent)

    # -- inputs (state, cameras, task: robot_rl.ros.inputs) ------------------------------------------
    def _subscribe(self) -> None:
        if self.spec.task(self.p["task"]).moving_target:
            self.follow_target()  # first: with a target and a state both waiting, the target goes first
        self.subscribe_inputs(self.p["cameras"], self.task_inputs)
        self.sub(TELEOP, self.on_teleop)
        if self.p["use_reward_node"]:
            self.sub(REWARD, self.on_reward)
            self.sub(SUCCESS, self.on_success)

    def on_teleop(self, msg: Any) -> None:
        v = [msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, msg.angular.z]
        if all(math.isfinite(x) for x in v):
            self.teleop, self.teleop_time = np.asarray(v, np.float32), self.now_s()

    def on_reward(self, msg: Any) -> None:
        self.reward, self.reward_time = float(msg.data), self.now_s()

    def on_success(self, msg: Any) -> None:
        self.success = bool(msg.data)

    def teleop_action(self, now: float) -> np.ndarray | None:
        """Teleop input, when fresh, mapped onto the action layout (Twist linear/angular per robot)."""
        if self.teleop is None or now - self.teleop_time > self.spec.safety.sensor_max_age_s:
            return None
        a = self.adapter.teleop(self.teleop, self.last_action, self.p["teleop_scale"])
        return np.clip(a, -1.0, 1.0)

    # -- the policy step ----------------------------------------------------------------------------
    def step(self) -> None:
        if self.client is not None:
            self.client.poll()
        now = self.now_s()
        if self.resetting:
            if self.reset_future is None:  # the last reset failed: ask again after a pause
                if now >= self.reset_retry_at:
                    self._request_reset()
                return
            if now - self.reset_started > self.p["reset_timeout_s"]:
                self.get_logger().error(
                    f"no answer from {RESET_SERVICE} in {self.p['reset_timeout_s']} s; asking again"
                )
                self._request_reset()
            return
        if "last_action" in self.builder.fields:
            self.builder.update("last_action", self.last_action, now)
        obs = self.builder.build(now)
        if obs is None:
            missing = self.builder.missing(now)
            names = {m.split(" ", 1)[0] for m in missing}
            if now < self.quiet_until:
                return  # just after a reset: the first fresh samples are on their way
            if names - self.reported_missing:  # once per outage, not every step
                self.get_logger().warning(f"not acting: missing inputs {', '.join(missing)}")
            self.reported_missing |= names
            return
        self.reported_missing.clear()
        if self.recorder.pending:
            self._record(obs, now)
            if self.resetting:
                return
        if self.client is not None and not self.client.may_act:
            return
        teleop = self.teleop_action(now)
        if teleop is not None:
            action = teleop
        elif self.client is not None and self.client.version < 0:
            action = self.policy.rng.uniform(-1.0, 1.0, self.action_size)  # no weights yet: explore
        else:
            action = self.policy(obs, deterministic=self.client is None)
        action = np.clip(np.nan_to_num(np.asarray(action, np.float32), nan=0.0), -1.0, 1.0)
        msg = JointState(name=self.channels, position=[float(a) for a in action])
        msg.header.stamp = to_stamp(now)
        self.action_pub.publish(msg)
        self.last_action = action
        self.recorder.sent(obs, action, intervention=teleop is not None)
        self.step_in_episode += 1
        self.total_steps += 1

    def _record(self, obs: dict[str, np.ndarray], now: float) -> None:
        """The last step's transition, now that `obs` followed it: a success ends the episode
        (terminated), `max_episode_steps` truncates it."""
        fresh = now - self.reward_time <= self.spec.safety.sensor_max_age_s
        reward = self.reward if fresh else 0.0
        success = self.success and fresh
        truncated = not success and self.step_in_episode >= self.p["max_episode_steps"]
        step = self.recorder.observed(obs, reward, success, truncated, {"success": success})
        if self.client is not None:
            self.client.send(step)
        if self.p["demo_dir"]:
            for key in ("obs", "action", "reward", "success", "intervention"):
                self.demo.setdefault(key, []).append(getattr(step, key))
        if step.done:
            self._end_episode(obs, success, truncated)

    def _end_episode(self, final_obs: dict[str, np.ndarray], success: bool, truncated: bool) -> None:
        if self.p["demo_dir"]:
            self._write_demo(final_obs, success, truncated)
        self.get_logger().info(
            f"episode {self.episode} ended after {self.step_in_episode} steps (success {success}); resetting"
        )
        self.resetting = True
        self._request_reset()

    def _request_reset(self) -> None:
        if not self.reset_client.wait_for_service(timeout_sec=0.0):
            self.get_logger().error(f"reset service {RESET_SERVICE} is not available; waiting for it")
        self.reset_started = self.now_s()
        self.reset_future = self.reset_client.call_async(Trigger.Request())
        self.reset_future.add_done_callback(self._on_reset_done)

    def _on_reset_done(self, future: Any) -> None:
        if future is not self.reset_future:
            return  # the answer to a request given up on
        result = future.result()
        if result is None or not result.success:
            # not at once: a reset node waiting for a person fails every request immediately
            self.get_logger().error(
                f"reset failed: {getattr(result, 'message', 'no answer')}; retrying every "
                f"{RESET_RETRY_S:.0f} s",
                throttle_duration_sec=10.0,
            )
            self.reset_future, self.reset_retry_at = None, self.now_s() + RESET_RETRY_S
            return
        self.episode += 1
        self.step_in_episode = 0
        # inputs stamped before now may show the old episode (the goal before the reset)
        self.restart_inputs(self.now_s())
        self.quiet_until = self.now_s() + 1.0
        self.last_action = np.zeros(self.action_size, np.float32)
        self.success, self.reward_time = False, -math.inf
        if self.p["episodes"] and self.episode >= self.p["episodes"]:
            self.get_logger().info(f"{self.episode} episodes done")
            raise SystemExit(0)
        self.resetting = False
        self.episode_pub.publish(Int32(data=self.episode))

    def _write_demo(self, final_obs: dict[str, np.ndarray], success: bool, truncated: bool) -> None:
        from robot_rl.demos import DemoWriter, Episode

        d, self.demo = self.demo, {}
        if not d:
            return
        if self.demo_writer is None:
            fields = [(f.name, f.size, f.unit) for f in self.spec.observation]
            units = {
                f.name: f.unit for f in [*self.spec.observation, *self.spec.task(self.p["task"]).observation]
            }
            fields += [(n, size, units.get(n, "")) for inp in self.task_inputs for n, size in inp.fields]
            self.demo_writer = DemoWriter(
                self.p["demo_dir"],
                {
                    "robot": self.robot_name,
                    "task": self.p["task"],
                    "spec_hash": self.spec.hash,
                    "policy_hz": self.spec.rates.policy_hz,
                    "observation": [{"name": n, "size": size, "unit": unit} for n, size, unit in fields],
                    "action": [{"name": f.name, "size": f.size, "unit": f.unit} for f in self.adapter.fields],
                    "cameras": list(self.p["cameras"]),
                    "randomized": False,
                },
            )
        obs = {k: np.stack([o[k] for o in d["obs"]] + [final_obs[k]]) for k in final_obs}
        n = len(d["action"])
        self.demo_writer.write(
            Episode(
                obs=obs,
                action=np.stack(d["action"]).astype(np.float32),
                reward=np.asarray(d["reward"], np.float32),
                terminated=np.asarray([False] * (n - 1) + [success]),
                truncated=np.asarray([False] * (n - 1) + [truncated]),
                success=np.asarray(d["success"], bool),
                intervention=np.asarray(d["intervention"], bool),
            )
        )

    def close(self) -> None:
        if self.client is not None:
            self.client.flush(FLUSH_S)
            self.client.close()


#: at shutdown, time for the learner to acknowledge the transitions still in flight
FLUSH_S = 5.0


def main() -> int:
    return run(ActorNode, shutdown_grace_s=FLUSH_S + 2.0)
