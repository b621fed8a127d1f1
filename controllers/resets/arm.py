"""Arm resets (any twin arm: the Panda, the UR5e): home with a small perturbation (`ArmReset`), the
cube picked up and put down at a random spot before that (`CubeReset`), and the same home move from
observations alone (`StateArmReset`, the ROS reset node's `mode: graph`)."""

from __future__ import annotations

import math

import numpy as np

from robot_rl.controllers.resets.base import ResetController
from robot_rl.spec import field_slices


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
            and robot.gripper_width() > robot.model.gripper_open_m - 0.01
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
    `action_layout` (the twin's, or the graph's: the robot adapter's `fields`).
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
        slices, fields = field_slices(env.action_layout), {f.name: f for f in env.action_layout}
        self._size = sum(f.size for f in env.action_layout)
        self._pos, self._grip = slices["ee_delta_pos"], slices["gripper"].start
        self._scale = np.asarray(fields["ee_delta_pos"].high, dtype=np.float64)

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
