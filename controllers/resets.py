"""Scripted reset controllers: put the robot back in a start state without a person.

Each controller acts through the robot's own action interface (the same normalized actions a
policy sends, so they pass the same control law and safety box) and reads the robot's state:
in the twin through the twin robot's accessors; `StateArmReset` reads only the observation, as
the ROS reset node has it from the state topics on hardware. `run_reset` drives one to the end and returns a
`ResetReport` (success, duration in robot time, reason). `ResetSupervisor` counts outcomes for
the run's metrics and asks a person after `max_failures` failed resets in a row.

- Arm (`ArmReset`): precision gains, back to the home pose, a small random perturbation
  (+/-2 cm, +/-0.05 rad with the yaw action, as SERL), then compliant gains again.
  `StateArmReset` is the same move from observations alone, for the ROS reset node's `mode: graph`.
- Quadrotor (`QuadReset`): land, disarm, re-arm, take off and settle in hover at a random start.
- Car (`CarReset`): back up, turning toward the course direction, then drive forward onto the
  centreline and stop aligned with it.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot_rl.controllers.quadrotor import AttitudeController, PositionController, RateController


@dataclass
class ResetReport:
    """The outcome of one reset."""

    kind: str
    success: bool
    duration_s: float  # robot time from start to the end of the reset
    steps: int
    reason: str = ""  # why it failed, or "" on success
    info: dict[str, Any] = field(default_factory=dict)


class ResetController(ABC):
    """A reset manoeuvre: `begin`, then `act(obs)` each policy step until `done`."""

    kind = "reset"
    timeout_s = 10.0

    def __init__(self) -> None:
        self.done = False
        self.success = False
        self.reason = ""

    def begin(self, env: Any, rng: np.random.Generator) -> None:
        self.env, self.rng = env, rng
        self.done, self.success, self.reason = False, False, ""

    def finish(self, success: bool, reason: str = "") -> None:
        self.done, self.success, self.reason = True, success, reason

    def end(self) -> None:  # noqa: B027 - optional hook
        """Called once after the last step, whatever the outcome (restore gains etc.)."""

    @abstractmethod
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The next action in [-1, 1]; set `done` via `finish` when finished."""


def run_reset(
    env: Any, controller: ResetController, rng: np.random.Generator, obs: dict[str, np.ndarray] | None = None
) -> ResetReport:
    """Drive `controller` on `env` until it finishes or times out (robot time)."""
    twin = env.unwrapped
    dt = twin.robot_spec.policy_dt
    if obs is None:
        obs = twin._observation()
    controller.begin(twin, rng)
    max_steps = math.ceil(controller.timeout_s / dt)
    steps = 0
    try:
        while not controller.done and steps < max_steps:
            action = controller.act(obs)
            if controller.done:
                break
            obs, _, _, _, _ = env.step(action)
            steps += 1
        if not controller.done:
            controller.finish(False, "timeout")
    finally:
        controller.end()
    return ResetReport(controller.kind, controller.success, steps * dt, steps, controller.reason)


# -- arm -------------------------------------------------------------------------------------
class ArmReset(ResetController):
    """Home with precision gains, perturb (+/-2 cm, +/-0.05 rad), back to compliant gains.

    A joint reset comes first when a joint is within `near_limit_rad` of a limit, or when the
    Cartesian approach has not arrived after `cartesian_patience_s`: the law's joint mode walks the
    joints to the home posture (at most `joint_step_rad` per policy step), then the Cartesian law
    takes over from there. A policy that pushes into a corner of the box can stretch the elbow
    straight, a singularity the Cartesian law cannot leave by itself.
    """

    kind = "arm_home"
    timeout_s = 10.0

    def __init__(
        self,
        home: tuple[float, float, float] = (0.5, 0.0, 0.3),
        perturb_m: float = 0.02,
        perturb_rad: float = 0.05,
        precision_gain: float = 1.5,
        tolerance_m: float = 0.005,
        settle_speed: float = 0.02,
        near_limit_rad: float = 0.2,
        cartesian_patience_s: float = 4.0,
        joint_step_rad: float = 0.1,
        joint_tolerance_rad: float = 0.03,
    ):
        super().__init__()
        self.home = np.asarray(home, dtype=np.float64)
        self.perturb_m, self.perturb_rad = perturb_m, perturb_rad
        self.precision_gain, self.tolerance_m, self.settle_speed = precision_gain, tolerance_m, settle_speed
        self.near_limit_rad, self.cartesian_patience_s = near_limit_rad, cartesian_patience_s
        self.joint_step_rad, self.joint_tolerance_rad = joint_step_rad, joint_tolerance_rad

    def begin(self, env, rng):
        super().begin(env, rng)
        robot = env.robot
        law = robot.controller
        self._stiffness, self._damping = law.stiffness.copy(), law.damping.copy()
        # Precision gains: stiffer, damping scaled to keep the damping ratio.
        law.stiffness = self._stiffness * self.precision_gain
        law.damping = self._damping * math.sqrt(self.precision_gain)
        self.target = self.home + rng.uniform(-self.perturb_m, self.perturb_m, 3)
        slices = robot.action_slices
        self._pos, self._grip = slices["ee_delta_pos"], slices["gripper"].start
        self._yaw = slices["ee_delta_yaw"].start if "ee_delta_yaw" in slices else None
        fields = {f.name: f for f in robot.action_fields}
        self._scale = np.asarray(fields["ee_delta_pos"].high)
        self._yaw_left = (
            float(rng.uniform(-self.perturb_rad, self.perturb_rad)) if self._yaw is not None else 0.0
        )
        self._yaw_scale = float(fields["ee_delta_yaw"].high[0]) if self._yaw is not None else 1.0
        self._steps, self._joint_tried = 0, False
        self._joint_goal: np.ndarray | None = None
        self.joint_resets = 0
        if self._can_joint_reset(robot):
            q, _ = robot.joint_state()
            lower, upper = robot.joint_limits
            if np.any(q - lower < self.near_limit_rad) or np.any(upper - q < self.near_limit_rad):
                self._start_joint_reset(robot)

    def _can_joint_reset(self, robot) -> bool:
        return hasattr(robot, "joint_state") and hasattr(robot.controller, "joint_target")

    def _start_joint_reset(self, robot) -> None:
        self._joint_goal = robot.joint_state()[0]
        self._joint_tried = True
        self.joint_resets += 1

    def end(self):
        robot = self.env.robot
        if self._joint_goal is not None:  # timed out in joint mode: hold where the arm is
            robot.hold_pose()
        law = robot.controller
        law.stiffness, law.damping = self._stiffness, self._damping

    def _joint_step(self, robot, out: np.ndarray) -> np.ndarray:
        """One policy step of the joint reset: the joint target walks toward the home posture."""
        home = np.asarray(robot.model.home_q, dtype=np.float64)
        q, dq = robot.joint_state()
        step = np.clip(home - self._joint_goal, -self.joint_step_rad, self.joint_step_rad)
        self._joint_goal = self._joint_goal + step
        robot.controller.joint_target = self._joint_goal
        if np.abs(q - home).max() < self.joint_tolerance_rad and np.abs(dq).max() < 0.05:
            self._joint_goal = None
            robot.hold_pose()  # the Cartesian law takes over from the home posture
        return out

    def act(self, obs):
        robot = self.env.robot
        state = obs["state"]
        tcp, vel = np.asarray(state[0:3], dtype=np.float64), np.asarray(state[7:10], dtype=np.float64)
        out = np.zeros(self.env.action_space.shape, dtype=np.float32)
        out[self._grip] = -1.0  # open
        self._steps += 1
        if self._joint_goal is not None:
            return self._joint_step(robot, out)
        patience = round(self.cartesian_patience_s / self.env.robot_spec.policy_dt)
        if self._steps > patience and not self._joint_tried and self._can_joint_reset(robot):
            self._start_joint_reset(robot)
            return self._joint_step(robot, out)
        if self._yaw is not None and abs(self._yaw_left) > 1e-6:
            step = float(np.clip(self._yaw_left, -self._yaw_scale, self._yaw_scale))
            out[self._yaw] = step / self._yaw_scale
            self._yaw_left -= step
        if (
            np.linalg.norm(tcp - self.target) < self.tolerance_m
            and np.linalg.norm(vel) < self.settle_speed
            and abs(self._yaw_left) < 1e-6
            and robot.gripper_width() > 0.07
        ):
            self.finish(True)
            return out
        delta = self.target - robot.controller.position_ref
        out[self._pos] = np.clip(delta / self._scale, -1.0, 1.0)
        return out


class CubeReset(ArmReset):
    """Object reset for pick-and-lift tasks: pick the cube up, put it down at a random spot, go home.

    Reads the cube pose (the twin's; on the robot, the perception node's) and commands the arm
    through the same Cartesian deltas. A missed grasp is retried up to `retries` times.
    """

    kind = "cube_relocate"
    timeout_s = 20.0
    hover_m = 0.07
    carry_z = 0.12
    blocked_steps = 12  # policy steps of descent before a stopped hand closes where it is

    def __init__(self, spot_low=(0.4, -0.15), spot_high=(0.6, 0.15), retries: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.spot_low, self.spot_high, self.retries = np.asarray(spot_low), np.asarray(spot_high), retries

    def begin(self, env, rng):
        super().begin(env, rng)
        self.spot = rng.uniform(self.spot_low, self.spot_high)
        self.phase, self.count, self.attempt = "approach", 0, 0

    def _move(self, target, gripper: float) -> np.ndarray:
        out = np.zeros(self.env.action_space.shape, dtype=np.float32)
        delta = np.asarray(target) - self.env.robot.controller.position_ref
        out[self._pos] = np.clip(delta / self._scale, -1.0, 1.0)
        out[self._grip] = gripper
        return out

    def act(self, obs):
        task = self.env.task
        cube = task.cube_pose()[0]
        tcp = np.asarray(obs["state"][0:3], dtype=np.float64)
        half = 0.5 * task.cube_size
        grasp = cube - np.array([0.0, 0.0, min(0.005, half - 0.005)])
        self.count += 1
        if self.phase == "approach":
            if np.linalg.norm(tcp[:2] - cube[:2]) < 0.006 and tcp[2] > cube[2] + 0.03:
                self.phase, self.count = "descend", 0
            return self._move(cube + np.array([0.0, 0.0, self.hover_m]), -1.0)
        if self.phase == "descend":
            # closes at the grasp point, or where a finger came to rest on something beside the
            # cube (a tray's rim) with the fingertips at least 1 cm down its sides
            blocked = self.count > self.blocked_steps and tcp[2] < cube[2] + half - 0.01
            if np.linalg.norm(tcp - grasp) < 0.006 or blocked:
                self.phase, self.count = "close", 0
            return self._move(grasp, -1.0)
        if self.phase == "close":
            if self.count > 5:
                self.phase, self.count = "lift", 0
            return self._move(grasp, 1.0)
        if self.phase == "lift":
            if cube[2] > self.carry_z - 0.04:
                self.phase, self.count = "carry", 0
            elif self.count > 20:  # the cube stayed down: a missed grasp
                self.attempt += 1
                if self.attempt > self.retries:
                    self.finish(False, "grasp failed")
                self.phase, self.count = "approach", 0
                return self._move(tcp + np.array([0.0, 0.0, 0.02]), -1.0)
            return self._move(np.array([tcp[0], tcp[1], self.carry_z]), 1.0)
        down = np.array([self.spot[0], self.spot[1], half + 0.003])
        if self.phase == "carry":
            if cube[2] < half:  # dropped on the way: start over
                self.phase, self.count = "approach", 0
            elif np.linalg.norm(tcp[:2] - self.spot) < 0.01:
                self.phase, self.count = "lower", 0
            return self._move(np.array([self.spot[0], self.spot[1], self.carry_z]), 1.0)
        if self.phase == "lower":
            if tcp[2] < down[2] + 0.01 or self.count > 30:
                self.phase, self.count = "release", 0
            return self._move(down, 1.0)
        if self.phase == "release":
            if self.count > 5:
                self.phase, self.count = "retreat", 0
            return self._move(down, -1.0)
        if self.phase == "retreat":
            above = np.array([self.spot[0], self.spot[1], self.carry_z])
            if tcp[2] < self.carry_z - 0.02:
                return self._move(above, -1.0)
            # resting on the table (not on its edge, not in the fingers) near the spot
            placed = np.linalg.norm(cube[:2] - self.spot) < 0.025 and cube[2] < half + 0.008
            if not placed:
                self.finish(False, "cube not at the spot")
                return self._move(tcp, -1.0)
            self.phase = "home"
        return super().act(obs)  # home with the perturbation, as ArmReset


class StateArmReset(ResetController):
    """The arm reset from observations alone: home plus a +/-2 cm perturbation, gripper open.

    What the ROS reset node runs in `mode: graph`, where a reset has only what a policy has: the
    state topics and the action channel (through the controller node's reference limits and
    safety box). The position delta is a proportional step on the measured error, so the
    reference keeps moving until the measured pose arrives, whatever the impedance law's
    steady-state offset. Without the robot's control law at hand it keeps the compliant gains and
    has no joint reset; `ArmReset` (the twin's) has both. `env` needs `robot_spec` and
    `action_layout` (the twin's, or the graph's `graph_action_fields`).
    """

    kind = "arm_home_state"
    timeout_s = 10.0

    def __init__(
        self,
        home: tuple[float, float, float] = (0.5, 0.0, 0.3),
        perturb_m: float = 0.02,
        gain: float = 0.5,
        tolerance_m: float = 0.01,
        settle_speed: float = 0.02,
        open_width_m: float = 0.07,
    ):
        super().__init__()
        self.home = np.asarray(home, dtype=np.float64)
        self.perturb_m, self.gain = perturb_m, gain
        self.tolerance_m, self.settle_speed, self.open_width_m = tolerance_m, settle_speed, open_width_m

    def begin(self, env, rng):
        super().begin(env, rng)
        self.target = self.home + rng.uniform(-self.perturb_m, self.perturb_m, 3)
        self._obs = env.robot_spec.slices()
        start, self._size = 0, sum(f.size for f in env.action_layout)
        for f in env.action_layout:
            if f.name == "ee_delta_pos":
                self._pos, self._scale = slice(start, start + 3), np.asarray(f.high, dtype=np.float64)
            elif f.name == "gripper":
                self._grip = start
            start += f.size

    def act(self, obs):
        state = np.asarray(obs["state"], dtype=np.float64)
        error = self.target - state[self._obs["ee_pos"]]
        speed = np.linalg.norm(state[self._obs["ee_linvel"]])
        out = np.zeros(self._size, dtype=np.float32)
        out[self._grip] = -1.0  # open
        if (
            np.linalg.norm(error) < self.tolerance_m
            and speed < self.settle_speed
            and state[self._obs["gripper_width"]][0] > self.open_width_m
        ):
            self.finish(True)
            return out
        out[self._pos] = np.clip(self.gain * error / self._scale, -1.0, 1.0)
        return out


# -- quadrotor -------------------------------------------------------------------------------
class QuadReset(ResetController):
    """Land, disarm, re-arm, take off and settle in hover at a random start point.

    Flies the cascade of `controllers.quadrotor` on the vehicle's state estimate (the twin's
    true state here); the setpoint moves at `climb_speed` so no phase asks for a jump.
    """

    kind = "quad_land_takeoff"
    timeout_s = 15.0

    def __init__(
        self,
        hover: tuple[float, float, float] = (0.0, 0.0, 1.0),
        start_radius_m: float = 0.3,
        climb_speed: float = 0.5,
        disarm_s: float = 0.3,
        settle_s: float = 0.5,
        settle_radius_m: float = 0.05,
    ):
        super().__init__()
        self.hover = np.asarray(hover)
        self.start_radius_m, self.climb_speed = start_radius_m, climb_speed
        self.disarm_s, self.settle_s, self.settle_radius_m = disarm_s, settle_s, settle_radius_m

    def begin(self, env, rng):
        super().begin(env, rng)
        robot = env.robot
        cfg, model = robot.controller_config, robot.model
        self.dt = robot.spec.policy_dt
        # A larger vertical integral than the hover expert's: the reset flies on the nominal
        # mass, and batteries, decks and worn propellers move the hover thrust by up to ~25%.
        gains = dataclasses.replace(
            cfg.position,
            ki=[*cfg.position.ki[:2], 2.0 * cfg.position.ki[2]],
            integral_limit=[*cfg.position.integral_limit[:2], 1.5],
        )
        self.position = PositionController(gains, model.mass_kg, self.dt)
        self.attitude = AttitudeController(cfg.attitude)
        self.rate = RateController(cfg.rate, model.inertia_kg_m2, self.dt)
        self.ground_z = model.body_half_extents_m[2]
        self.max_tilt = robot.spec.safety.max_tilt_rad or 1.0
        pos = robot.true_state()[0]
        self.setpoint = np.array(pos, dtype=np.float64)
        self.goal = self.hover + rng.uniform(-self.start_radius_m, self.start_radius_m, 3)
        self.phase, self.timer, self.touchdowns = "land", 0.0, 0

    def _fly(self, target: np.ndarray, robot) -> np.ndarray:
        step = self.climb_speed * self.dt
        self.setpoint += np.clip(target - self.setpoint, -step, step)
        pos, vel, rot, rates = robot.true_state()
        moving = target - self.setpoint
        v_sp = np.sign(moving) * np.minimum(np.abs(moving) / self.dt, self.climb_speed)
        pos_err = [s - p for s, p in zip(self.setpoint, pos)]
        vel_err = [s - v for s, v in zip(v_sp, vel)]
        thrust, rot_des = self.position.update(pos_err, vel_err, rot, 0.0)
        rate_sp = self.attitude.update(rot, rot_des)
        if robot.action_mode == "rates":
            return robot.to_action([thrust / (4.0 * robot.model.max_thrust_n), *rate_sp])
        torque = self.rate.update(rate_sp, rates)
        u = robot.mixer.normalized(thrust, *torque)
        lead = [min(1.0, max(0.0, 2.0 * math.sqrt(v) - w)) for v, w in zip(u, robot.speed)]
        return robot.to_action([v * v for v in lead])

    def act(self, obs):
        robot = self.env.robot
        pos, vel, rot, _ = robot.true_state()
        if math.acos(max(-1.0, min(1.0, rot[8]))) > self.max_tilt:
            self.finish(False, "tilt limit")
            return robot.safe_action()
        speed = math.sqrt(sum(v * v for v in vel))
        if self.phase == "land":
            below = np.array([pos[0], pos[1], self.ground_z - 0.05])
            if pos[2] < self.ground_z + 0.02 and speed < 0.1:
                self.phase, self.timer = "disarmed", 0.0
                self.touchdowns += 1
            else:
                return self._fly(below, robot)
        if self.phase == "disarmed":
            self.timer += self.dt
            if self.timer >= self.disarm_s:  # re-arm: the integrators start from zero
                self.phase, self.timer = "takeoff", 0.0
                self.position.reset()
                self.rate.reset()
                self.setpoint = np.array(robot.true_state()[0], dtype=np.float64)
            return robot.to_action([0.0] * 4)  # motors off (rates mode: zero thrust and rates)
        err = float(np.linalg.norm(np.asarray(pos) - self.goal))
        if self.phase == "takeoff" and np.allclose(self.setpoint, self.goal):
            self.phase = "settle"
        if self.phase == "settle":
            self.timer = self.timer + self.dt if err < self.settle_radius_m and speed < 0.1 else 0.0
            if self.timer >= self.settle_s:
                self.finish(True)
        return self._fly(self.goal, robot)


# -- car -------------------------------------------------------------------------------------
class CarReset(ResetController):
    """Back up while turning toward the course direction, then drive onto the centreline and stop."""

    kind = "car_backup_realign"
    timeout_s = 12.0

    def __init__(
        self,
        backup_s: float = 1.5,
        aligned_rad: float = 0.15,
        centred_m: float = 0.2,
        lookahead_m: float = 0.8,
        cruise: float = 0.25,
    ):
        super().__init__()
        self.backup_s, self.aligned_rad, self.centred_m = backup_s, aligned_rad, centred_m
        self.lookahead_m, self.cruise = lookahead_m, cruise

    def begin(self, env, rng):
        super().begin(env, rng)
        self.phase, self.timer = "backup", 0.0
        self.dt = env.robot_spec.policy_dt

    def _errors(self):
        robot, course = self.env.robot, self.env.task.course
        st = robot.state()
        s, offset, heading = course.project(st.x, st.y)
        err = (st.yaw - heading + math.pi) % (2.0 * math.pi) - math.pi
        return st, s, offset, err

    def act(self, obs):
        robot, course = self.env.robot, self.env.task.course
        st, s, offset, err = self._errors()
        law = robot.controller
        if st.up_z < math.cos(robot.spec.safety.max_tilt_rad or 1.0):
            self.finish(False, "flipped")
            return robot.safe_action()
        self.timer += self.dt
        if self.phase == "backup":
            # Reversing, the yaw rate has the opposite sign of the steering: steer toward the error.
            action = np.array([math.copysign(1.0, err), -0.5])
            if self.timer >= self.backup_s or abs(err) < 0.3:
                self.phase, self.timer = "forward", 0.0
        elif self.phase == "forward":
            gx, gy, _ = course.pose(s + self.lookahead_m)
            alpha = math.atan2(gy - st.y, gx - st.x) - st.yaw
            alpha = (alpha + math.pi) % (2.0 * math.pi) - math.pi
            steer = math.atan2(2.0 * law.geometry.wheelbase_m * math.sin(alpha), self.lookahead_m)
            action = np.array([steer / law.config.max_steer_rad, self.cruise])
            if abs(err) < self.aligned_rad and abs(offset) < self.centred_m:
                self.phase = "stop"
        else:
            action = np.array([law.action[0], 0.0])
            if abs(st.speed) < 0.05:
                ok = abs(err) < 2 * self.aligned_rad and abs(offset) < 1.5 * self.centred_m
                self.finish(ok, "" if ok else "drifted while stopping")
        return np.clip(action, -1.0, 1.0).astype(np.float32)


RESETS: dict[str, type[ResetController]] = {"panda": ArmReset, "crazyflie": QuadReset, "racecar": CarReset}
#: object resets by (robot, task)
OBJECT_RESETS: dict[tuple[str, str], type[ResetController]] = {("panda", "pick_cube"): CubeReset}


def scripted_reset(
    env: Any, supervisor: ResetSupervisor, rng: np.random.Generator, objects: bool = True
) -> bool:
    """The robot's scripted reset (after its task's object reset, if any), recorded in `supervisor`.

    What a trainer calls between episodes instead of a person; returns False when a person
    declined to continue after `supervisor.max_failures` failures in a row.
    """
    twin = env.unwrapped
    robot, task = twin.robot_spec.name, twin.task.name
    controllers = [OBJECT_RESETS[(robot, task)]()] if objects and (robot, task) in OBJECT_RESETS else []
    if not controllers:
        controllers.append(RESETS[robot]())
    return all(supervisor.record(run_reset(env, controller, rng)) for controller in controllers)


def terminal_prompt(message: str) -> bool:
    """Ask on the terminal; True when the person says the robot is reset and may continue."""
    answer = input(f"{message} Reset the robot by hand, then type 'y' to continue (anything else stops): ")
    return answer.strip().lower() in ("y", "yes")


class ResetSupervisor:
    """Runs resets, counts them, and after `max_failures` failures in a row stops and asks a person.

    `stop()` makes the robot safe before asking (e.g. latch the e-stop); `ask(message) -> bool`
    is the terminal prompt in sim-only runs and a ROS service client on the robot. `metrics()`
    is what a trainer adds to its metrics rows.
    """

    def __init__(
        self,
        max_failures: int = 3,
        ask: Callable[[str], bool] = terminal_prompt,
        stop: Callable[[], None] | None = None,
    ):
        self.max_failures = max_failures
        self.ask, self.stop = ask, stop
        self.attempts = self.successes = self.failures = self.human_resets = 0
        self.failures_in_row = 0
        self.reset_time_s = 0.0
        self.reports: list[ResetReport] = []

    def record(self, report: ResetReport) -> bool:
        """Count one reset; returns False when a person declined to continue."""
        self.attempts += 1
        self.reset_time_s += report.duration_s
        self.reports.append(report)
        if report.success:
            self.successes += 1
            self.failures_in_row = 0
            return True
        self.failures += 1
        self.failures_in_row += 1
        if self.failures_in_row < self.max_failures:
            return True
        if self.stop is not None:
            self.stop()
        self.human_resets += 1
        self.failures_in_row = 0
        reason = report.reason or "failed"
        return bool(self.ask(f"{self.max_failures} automatic resets failed in a row (last: {reason})."))

    def metrics(self) -> dict[str, float]:
        return {
            "resets": self.attempts,
            "reset_successes": self.successes,
            "reset_failures": self.failures,
            "human_resets": self.human_resets,
            "reset_time_s": round(self.reset_time_s, 3),
        }
