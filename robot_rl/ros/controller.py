"""controller: the robot-side command layer between the actor and the robot's driver.

Every command passes `controllers.safety_layer.SafetyLayer`, the code the twin trains and is
evaluated behind: the operator's e-stop, the fault latch (a non-finite state), the stale-sensor
stop (a state topic older than `safety.sensor_max_age_s`: the blind fallback while it lasts), the
command watchdog (spec `safety.command_timeout_s`, checked at `watchdog_hz`), the
robot's shield, and its one hold / land / brake law. The layer sees the driver's state in the
spec's layout (the measured fields, `robot_rl.ros.inputs`). What it decides is shaped into the
driver's command by the robot's shaper and message codecs (robot_rl.robots.<robot>: the Panda's
equilibrium pose in the safety box, the Crazyflie's motor forces, or thrust and body rates with
`action_mode: rates`, the car's steering and speed with the action-rate limit) and published at
once; a fallback is streamed at the policy rate to robots that take setpoint streams (quadrotor,
car), and sent once to the Panda, whose equilibrium persists. To the streamed robots a policy step
the actor missed brings the last action again, through the shield.

An action whose channel names are not this controller's layout is refused (an actor and a
controller set to different action modes must not fly). A latched fault holds until
`/robot_rl/controller/resume` (the reset node calls it). The e-stop (`/robot_rl/estop`,
std_srvs/SetBool) latches on `data: true` and only `data: false` clears it: neither a resume nor
a reset does.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from robot_rl.controllers.safety_layer import Decision, SafetyLayer
from robot_rl.observations import InputError, ObservationBuilder
from robot_rl.robots import adapter
from robot_rl.ros.common import LATCHED_QOS, GraphNode, run, stamp_s, to_stamp
from robot_rl.ros.inputs import SensorInputs
from robot_rl.rosgraph import ACTION, CONTROLLER_STATE, EPISODE, ESTOP_SERVICE, RESUME_SERVICE
from robot_rl.spec import load_robot_spec

#: observation fields the actor computes rather than the driver measures: the controller's layer
#: goes without them (`last_action` it keeps itself, from what it sent)
NOT_MEASURED = ("pos_error",)
#: the controller's published state per stop reason (a sensor never seen yet is a hold, not a fault)
STATE_OF = {
    "estop": "estop",
    "fault": "fault",
    "stale_sensor": "hold",
    "watchdog": "hold",
    "nan_action": "hold",
}
DOING = {"hold": "holding pose", "land": "landing", "brake": "braking"}
#: a streamed setpoint with no fresh action for this many policy periods is sent again through the shield
#: (and then every period)
MISSED_STEP = 1.5
#: a watchdog check this much later than its period says so in the log (the node was not scheduled)
WATCHDOG_LATE_S = 0.05


class ControllerNode(SensorInputs, GraphNode):
    kind = "controller"

    def __init__(self):
        super().__init__()
        p = self.p
        self.spec = load_robot_spec(p["robot"])
        self.adapter = adapter(self.spec, p["action_mode"])
        self.shaper = self.adapter.shaper()
        obs_fields = [f for f in self.spec.observation if f.name not in NOT_MEASURED]
        self.builder = ObservationBuilder(self.spec, only=[f.name for f in obs_fields])
        self.target = np.zeros(3)  # SensorInputs' pos_error target: unused here
        self.layer = SafetyLayer(self.spec, action_fields=self.shaper.fields, obs_fields=obs_fields)
        self.doing = DOING[self.layer.fallback_mode]
        self.last_sent = np.zeros(self.shaper.size, np.float32)
        self.holding = True  # nothing commanded yet: the robot holds
        self.state = ""
        self.command_pubs = {
            key: self.pub(t) for key, t in self.adapter.COMMANDS[self.adapter.action_mode].items()
        }
        self.state_pub = self.create_publisher(String, CONTROLLER_STATE.name, LATCHED_QOS)
        # When messages of several topics wait together, the executor takes them in the order the
        # subscriptions were made: the driver's state first (an action is shaped from the newest
        # state), then an episode start, then the action.
        self.subscribe_inputs()
        self.sub(EPISODE, self.on_episode)
        self.sub(ACTION, self.on_action)
        self.create_service(Trigger, RESUME_SERVICE, self.on_resume)
        self.create_service(SetBool, ESTOP_SERVICE, self.on_estop)
        self.create_timer(1.0 / p["watchdog_hz"], self.on_timer)
        # Streamed setpoints (quadrotor, car) keep flowing while stopped; the Panda's equilibrium persists.
        self.stream_safe = self.layer.fallback_mode != "hold"
        self.safe_every = max(1, round(p["watchdog_hz"] / self.spec.rates.policy_hz))
        self.sent_at = -float("inf")  # when the last command went out (this node's clock, s)
        self.repeating = False  # the last command sent repeated the last action (no fresh one came)
        self._ticks = 0
        self._checked = time.monotonic()
        self.set_state("hold")

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_pub.publish(String(data=state))

    # -- inputs ---------------------------------------------------------------------------------
    def _update_stamped(self, name: str, values: Any, stamp_s: float, topic: str) -> None:
        """A driver state field into the builder (and the shaper, which keeps what it needs). A
        non-finite value latches the fault and the robot stops at once."""
        if name not in self.builder.fields:
            return
        try:
            self.builder.update(name, values, stamp_s, source=topic)
        except InputError as exc:
            self.bad_input(exc)
            return
        self.shaper.measured(name, values)

    def on_state(self, key: str, msg: Any) -> None:
        """A driver state message: once its fields are in, the layer observes the state (when complete)."""
        super().on_state(key, msg)
        stamp = stamp_s(msg.header.stamp)
        if "last_action" in self.builder.fields:
            self.builder.update("last_action", self.last_sent, stamp)  # what this node sent, as of now
        obs = self.builder.build(stamp)
        if obs is not None:
            self.layer.observe(obs["state"], self.builder.oldest_stamp())

    def bad_input(self, exc: InputError) -> None:
        """A non-finite state value: the fault latches and the robot stops at once."""
        first = not self.layer.fault.engaged
        self.layer.reject(str(exc))
        if first:
            self.stop_now(self.now_s())
            self.get_logger().error(f"{exc}; {self.doing} until {RESUME_SERVICE} is called")

    def _feedback(self) -> dict[str, Any]:
        """What the shield reads beyond the action: the commanded target and the odometry position."""
        position = (
            self._position[0] if self._position is not None and self.layer.shield.uses_position else None
        )
        return {"commanded": self.shaper.commanded, "position": position}

    def on_action(self, msg: Any) -> None:
        values = np.asarray(msg.position, dtype=np.float64)
        if list(msg.name) != self.shaper.channels or values.size != self.shaper.size:
            self.get_logger().error(
                f"action refused: channels [{', '.join(msg.name)}] ({values.size} values), this controller "
                f"(action_mode {self.adapter.action_mode}) takes [{', '.join(self.shaper.channels)}]: give "
                "actor and controller the same action_mode",
                throttle_duration_sec=1.0,
            )
            return
        now = self.now_s()
        # A command is as fresh as the observation it was computed from (arrival can lag behind);
        # a stamp from the future (clock skew between machines) counts as now.
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        if self.layer.stop_reason(now) is not None and self.holding:
            return  # stopped already: the timer streams the fallback
        decision = self.layer.command(values, now, issued=stamp, **self._feedback())
        if decision.reason == "nan_action":
            self.get_logger().error(
                f"action refused: {np.round(values, 3).tolist()} is not finite; {self.doing} for this step",
                throttle_duration_sec=1.0,
            )
        self.send(decision, min(now, stamp), now)
        self.repeating = False

    def on_timer(self) -> None:
        self._check_scheduling()
        now = self.now_s()
        reason = self.layer.stop_reason(now) or ("watchdog" if self.layer.watchdog.expired(now) else None)
        if reason is None:
            # A policy step without an action: the last one stands, still through the shield, as in the
            # twin behind SafeEnv (a setpoint the driver holds unwatched could flip a quadrotor within
            # the watchdog's timeout). The first repeat waits a little longer for a late action.
            wait = self.spec.policy_dt * (1.0 if self.repeating else MISSED_STEP)
            if self.stream_safe and not self.holding and now - self.sent_at >= wait:
                self.send(self.layer.command(None, now, **self._feedback()), now)
                self.repeating = True
            return
        if not self.holding or self._state_of(reason) != self.state:
            self.stop_now(now)
            self._ticks = 0
            return
        self._ticks += 1
        if self.stream_safe and self._ticks % self.safe_every == 0:
            self.stop_now(now)

    def _check_scheduling(self) -> None:
        """One line when this node's own watchdog check ran late (the process was not scheduled): every
        stop it decides can be late by as much, whatever the timeout says."""
        checked, self._checked = self._checked, time.monotonic()
        late = self._checked - checked - 1.0 / self.p["watchdog_hz"]
        if late > WATCHDOG_LATE_S:
            self.get_logger().warning(
                f"watchdog check ran {1000 * late:.0f} ms late: this node was not scheduled (an overloaded "
                "CPU?); a stop can be as late",
                throttle_duration_sec=1.0,
            )

    def _state_of(self, reason: str) -> str:
        return "fault" if self.layer.fault.engaged and reason == "stale_sensor" else STATE_OF[reason]

    def stop_now(self, now: float) -> None:
        """Send the layer's fallback (hold, land or brake, from the newest state)."""
        self.send(self.layer.command(None, now, **self._feedback()), now)

    def on_episode(self, msg: Any) -> None:
        """A new episode starts where the reset left the robot: the next command builds on the
        measured state, not on the reference of the episode before (a teleporting reset moves the arm
        faster than the watchdog would notice), and the car's rate limit starts from standing."""
        self.shaper.restart()
        self.adapter.restart()  # a twist from pose differences does not span the reset

    def on_resume(self, request: Any, response: Any) -> Any:
        self.layer.resume()
        if self.layer.estop.engaged:  # a fault cleared, but only the e-stop service releases the e-stop
            response.success, response.message = False, f"e-stop engaged: clear it with {ESTOP_SERVICE} false"
            return response
        self.set_state("hold")  # until a fresh action arrives
        response.success, response.message = True, "resumed"
        return response

    def on_estop(self, request: Any, response: Any) -> Any:
        if request.data and not self.layer.estop.engaged:
            self.layer.estop.trigger(f"{ESTOP_SERVICE} called")
            self.stop_now(self.now_s())
            self.get_logger().error(f"e-stop engaged: {self.doing}; clear it with {ESTOP_SERVICE} false")
        elif not request.data and self.layer.estop.engaged:
            self.layer.estop.clear()
            self.set_state("fault" if self.layer.fault.engaged else "hold")  # until a fresh action arrives
            self.get_logger().warning("e-stop cleared: acting again on the next fresh action")
        engaged = self.layer.estop.engaged
        response.success, response.message = True, "e-stop engaged" if engaged else "e-stop clear"
        return response

    # -- output ---------------------------------------------------------------------------------
    def send(self, decision: Decision, stamp_s: float, now: float | None = None) -> None:
        """Shape and publish what the layer decided (stamped `stamp_s`, at `now`, default the stamp);
        the controller's state follows it."""
        if decision.stopped:
            if not self.holding:
                self.shaper.resync()  # the fallback starts from the measured state (the Panda: its pose)
                self.holding = True
                self._say_why(decision.reason, stamp_s if now is None else now)
            self.set_state(self._state_of(decision.reason))
        elif self.holding:
            self.shaper.resync()
            self.holding = False
        if self.publish(self.shaper.command(decision.action), stamp_s) and not decision.stopped:
            self.set_state("ok")
        self.sent_at = stamp_s if now is None else now
        self.last_sent = np.asarray(decision.action, np.float32)

    def _say_why(self, reason: str, now: float) -> None:
        """One line when the robot stops for a reason that has no line of its own (with the newest
        action's age: how long after the last command the robot stopped)."""
        age = f"newest action {1000 * (now - (self.layer.watchdog.last_command or now)):.0f} ms old"
        if reason == "watchdog":
            self.get_logger().warning(
                f"no action for {1000 * self.spec.safety.command_timeout_s:.0f} ms: {self.doing} ({age})"
            )
        elif reason == "stale_sensor" and self.layer.sensors.lost(now):
            self.get_logger().error(
                f"stale sensor: state ({', '.join(self.builder.missing(now))}); {self.doing} until it is "
                f"fresh again and an action arrives ({age})",
                throttle_duration_sec=5.0,
            )

    def publish(self, cmd: dict[str, Any], stamp_s: float) -> bool:
        if not cmd:
            return False
        for key, msg in self.adapter.encode(cmd, to_stamp(stamp_s)):
            self.command_pubs[key].publish(msg)
        return True


def main() -> int:
    return run(ControllerNode)
