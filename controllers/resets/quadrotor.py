"""Quadrotor reset (crazyflie): land, disarm, re-arm, take off and settle in hover."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from robot_rl.controllers.quadrotor import AttitudeController, PositionController, RateController
from robot_rl.controllers.resets.base import ResetController


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
