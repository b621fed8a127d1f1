"""Car reset (racecar): back up turning toward the course, drive onto the centreline, stop."""

from __future__ import annotations

import math

import numpy as np

from robot_rl.controllers.resets.base import ResetController


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
