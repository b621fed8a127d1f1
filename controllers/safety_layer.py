"""The safety layer every command passes through, in the twin and on hardware.

Pure numpy and robot-agnostic: it reads the robot spec (`safety:` limits, observation and action
layouts, and for quadrotors the `model:`/`controller:` sections) and decides per command:

- e-stop (`EStop`): the operator's stop; latches on request and holds until the operator clears it;
- fault latch (`SafetyLayer.fault`, an `EStop` too): a broken sensor (non-finite observations;
  stale ones too when asked) latches it; `resume()` clears it once the cause is gone (a reset),
  and it never clears the operator's e-stop;
- NaN/inf guards on observations, actions and network weights (`nonfinite_keys`, `all_finite`,
  `nonfinite_parameters`);
- stale-sensor stop (`SensorClock`): inputs older than `safety.sensor_max_age_s` (or never
  received) stop the robot with the blind fallback for as long as they are stale;
- command watchdog (`CommandWatchdog`): no fresh command within `safety.command_timeout_s` ->
  the robot's fallback (hold for arms, land for quadrotors, brake for cars);
- a shield (`controllers.shields`) per kind of robot, chosen from the spec's field names, that bounds the
  action itself: commanded arm targets stay inside the safety box shrunk by a braking margin and
  stop pressing into a contact above `safety.max_force` (given a contact force), quadrotor
  attitude stays below `safety.max_tilt_rad`, speed below `safety.max_speed` and the vehicle
  inside the safety box (given its position), car throttle is cut above `safety.max_speed`.

Times are seconds on any monotonic clock the caller chooses (simulated time in the twin, ROS
time on the robot), so the same code runs in both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl.controllers.safety import SafetyBox
from robot_rl.controllers.shields import (  # noqa: F401 - re-exported: the layer's public names
    ArmShield,
    CarShield,
    QuadShield,
    QuadShieldConfig,
    Shield,
    make_shield,
)
from robot_rl.spec import Field, RobotSpec

FALLBACKS = ("hold", "land", "brake")
#: every reason the layer counts (`SafetyLayer.counts`); "ok" is not counted
REASONS = ("shield", "estop", "fault", "watchdog", "stale_sensor", "nan_obs", "nan_action")


# -- finite guards ---------------------------------------------------------------------------
def all_finite(value: Any) -> bool:
    """True if every entry of an array (or number) is finite."""
    return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))


def nonfinite_keys(obs: Mapping[str, Any]) -> list[str]:
    """Keys of an observation dict holding NaN or inf (uint8 images are always finite)."""
    bad = []
    for key, value in obs.items():
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad.append(key)
    return bad


def nonfinite_parameters(named: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> list[str]:
    """Names of parameters (torch tensors or arrays) holding NaN or inf.

    Takes `module.named_parameters()`, a state dict or any name -> array mapping: weights
    received from a learner are checked before a robot acts with them.
    """
    items = named.items() if isinstance(named, Mapping) else named
    bad = []
    for name, value in items:
        if hasattr(value, "detach"):  # a torch tensor: its own methods, no torch import here
            if not bool(value.detach().isfinite().all()):
                bad.append(name)
        elif not all_finite(value):
            bad.append(name)
    return bad


# -- e-stop, watchdog, sensor ages ---------------------------------------------------------------
class EStop:
    """An emergency stop that latches until cleared; safe to trigger from another thread (a ROS service)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self.count = 0

    def trigger(self, reason: str = "e-stop") -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason
                self.count += 1

    def clear(self) -> None:
        with self._lock:
            self._reason = None

    @property
    def engaged(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        return self._reason


class CommandWatchdog:
    """Expires when no command arrived within `timeout_s`."""

    def __init__(self, timeout_s: float):
        self.timeout_s = float(timeout_s)
        self.last_command: float | None = None

    def feed(self, now: float) -> None:
        self.last_command = float(now)

    def reset(self, now: float) -> None:
        """Start counting from `now` (a new episode counts as a fresh command)."""
        self.last_command = float(now)

    def expired(self, now: float) -> bool:
        return self.last_command is None or now - self.last_command > self.timeout_s


class SensorClock:
    """Last stamp of every input; any input older than `max_age_s` (or never seen) is stale."""

    def __init__(self, max_age_s: float, names: Iterable[str] = ()):
        self.max_age_s = float(max_age_s)
        self.stamps: dict[str, float | None] = {name: None for name in names}

    def stamp(self, name: str, t: float) -> None:
        self.stamps[name] = float(t)

    def stale(self, now: float) -> list[str]:
        return [n for n, t in self.stamps.items() if t is None or now - t > self.max_age_s]

    def lost(self, now: float) -> list[str]:
        """The stale inputs that had been seen: a sensor that stopped, not one that has not started."""
        return [n for n, t in self.stamps.items() if t is not None and now - t > self.max_age_s]


# -- the layer -------------------------------------------------------------------------------
@dataclass
class Decision:
    """What the layer did with one command."""

    action: np.ndarray
    reason: str  # "ok", "shield", or a stop: "estop", "fault", "watchdog", "stale_sensor", "nan_action"

    @property
    def stopped(self) -> bool:
        """The action is the robot's fallback (hold, land, brake), not the policy's."""
        return self.reason not in ("ok", "shield")


class SafetyLayer:
    """All guards in one place: `command(action, state, now)` returns the action to send.

    `latch_on` lists the reasons that latch the fault (default: non-finite observations, a sensor
    that is broken); a stale sensor stops the robot for as long as it is stale (a state stream
    that pauses: a driver's reset, a radio dropout, a loaded machine), with the fallback computed
    blind (no state: the last one is old), and `latch_on=("nan_obs", "stale_sensor")` latches it
    too. A NaN action or a missed command only falls back for that step. The operator's e-stop
    (`estop`) is a separate latch.
    """

    def __init__(
        self,
        spec: RobotSpec,
        action_fields: list[Field] | None = None,
        obs_fields: list[Field] | None = None,
        latch_on: tuple[str, ...] = ("nan_obs",),
        shield: Shield | None = None,
    ):
        self.spec = spec
        action_fields = list(action_fields if action_fields is not None else spec.action)
        obs_fields = list(obs_fields if obs_fields is not None else spec.observation)
        # `shield`: one built with other thresholds than the defaults (e.g. ArmShield(max_force_n=...))
        self.shield = shield if shield is not None else make_shield(spec, action_fields, obs_fields)
        self.box = SafetyBox.from_spec(spec.safety)
        self.estop = EStop()
        self.fault = EStop()
        self.watchdog = CommandWatchdog(spec.safety.command_timeout_s)
        self.sensors = SensorClock(spec.safety.sensor_max_age_s, ["state"])
        self.latch_on = latch_on
        self.counts: dict[str, int] = {}
        self._state: np.ndarray | None = None
        self._last: np.ndarray | None = None

    @property
    def fallback_mode(self) -> str:
        return self.shield.fallback_mode

    def reset(self, now: float) -> None:
        self.shield.reset()
        self.watchdog.reset(now)
        self._state = None
        self._last = None

    def observe(self, obs: Mapping[str, Any] | np.ndarray, now: float) -> bool:
        """Record a sensor reading; a non-finite one is rejected (and latches the e-stop)."""
        state = obs["state"] if isinstance(obs, Mapping) else obs
        bad = nonfinite_keys(obs) if isinstance(obs, Mapping) else ([] if all_finite(state) else ["state"])
        if bad:
            self.reject(f"non-finite observation: {', '.join(bad)}")
            return False
        self._state = np.asarray(state, dtype=np.float32)
        self.sensors.stamp("state", now)
        return True

    def reject(self, why: str) -> None:
        """A sensor reading refused before it could be observed (non-finite): counted as `nan_obs`,
        and latches the fault."""
        self._count("nan_obs")
        if "nan_obs" in self.latch_on:
            self.fault.trigger(why)

    def _count(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1

    def _stop(self, reason: str) -> Decision:
        self._count(reason)
        state = None if reason == "stale_sensor" else self._state  # stale: the state is not known
        return Decision(self.shield.fallback(state), reason)

    @property
    def stopped(self) -> bool:
        """A latch holds the robot: the operator's e-stop or a fault."""
        return self.estop.engaged or self.fault.engaged

    def resume(self) -> None:
        """Clear a latched fault (its cause is gone: the robot was reset); the e-stop stays."""
        self.fault.clear()

    def stop_reason(self, now: float) -> str | None:
        """Why the robot must not act at `now` whatever it is commanded (a stale sensor, the e-stop,
        a latched fault), or None. A sensor that stopped latches the fault here."""
        stale = self.sensors.stale(now)
        lost = self.sensors.lost(now)
        if lost and "stale_sensor" in self.latch_on:
            self.fault.trigger("stale sensor: " + ", ".join(lost))
        if self.estop.engaged:
            return "estop"
        if stale:
            return "stale_sensor"
        if self.fault.engaged:
            return "fault"
        return None

    def command(
        self,
        action: np.ndarray | None,
        now: float,
        commanded: np.ndarray | None = None,
        controller_state: np.ndarray | None = None,
        contact_force: np.ndarray | None = None,
        position: np.ndarray | None = None,
        issued: float | None = None,
    ) -> Decision:
        """The action to send at time `now`; `action` None means no fresh command this tick.

        `controller_state`: the state the low-level controller itself measures (the flight
        controller's IMU and estimator, the arm's joint sensors), used by the shield and the
        fallback instead of the last good observation. A NaN burst on the policy's observation
        path then still stops the robot with fresh feedback.
        `contact_force` (N, base frame, the force the surroundings exert on the robot) and
        `position` (m, world frame, odometry) feed the shields that use them (arm force limit,
        quadrotor position box); without them those limits are not enforced.
        `issued`: when the command was computed (the stamp of the observation it acts on; default
        `now`); the watchdog counts its age from then, and one already older than the timeout is
        not sent.
        """
        if controller_state is not None and all_finite(controller_state):
            self._state = np.asarray(controller_state, dtype=np.float32)
        reason = self.stop_reason(now)
        if reason is not None:
            return self._stop(reason)
        fresh = action is not None
        if fresh:
            self.watchdog.feed(min(now, issued) if issued is not None else now)
            if not all_finite(action):
                return self._stop("nan_action")
        if self.watchdog.expired(now):
            return self._stop("watchdog")
        if not fresh:
            # Between commands the last one stands, still through the shield (the state moved).
            last = self._last
            action = self.shield.repeat(last) if last is not None else self.shield.fallback(self._state)
        out = self.shield.filter(
            np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0),
            self._state,
            commanded,
            contact_force=contact_force,
            position=position,
        )
        if fresh:
            self._last = np.asarray(action, dtype=np.float32)
        if self.shield.overriding:
            self._count("shield")
            return Decision(out, "shield")
        return Decision(out, "ok")
