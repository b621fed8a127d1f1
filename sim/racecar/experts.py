"""Scripted racecar expert: pure pursuit on the course centreline with a speed profile.

Steering is pure pursuit (Coulter, "Implementation of the Pure Pursuit Path Tracking
Algorithm", CMU-RI-TR-92-01, 1992) about the rear axle: with a goal point on the centreline a
distance l_d ahead at bearing alpha, the bicycle-model angle is atan(2 L sin(alpha) / l_d).
The speed target is the largest speed that keeps lateral acceleration below `lateral_accel`
on every bend within braking distance. It reads the twin's true pose (privileged: no noise)
and acts in the env's action space, keeping to the law's action-rate limit itself so that the
recorded action is the applied one.
"""

from __future__ import annotations

import math

import numpy as np

from robot_rl.sim.base import Expert
from robot_rl.sim.racecar.tasks import wrap_angle


class PurePursuitExpert(Expert):
    """Pure pursuit on the centreline plus a curvature-limited speed target."""

    #: goal-point distance l_d = lookahead_m + lookahead_time_s * speed (m, s)
    lookahead_m = 0.6
    lookahead_time_s = 0.25
    #: largest lateral acceleration planned on the bends (m/s^2; tyre friction 1 allows ~9)
    lateral_accel = 3.0
    #: deceleration assumed when slowing for a bend ahead (m/s^2)
    braking_decel = 2.0
    #: how far ahead bends are looked for (m) and the step of that search (m)
    preview_m = 2.5
    preview_step_m = 0.25
    #: speed-error feedback added to the feed-forward speed target (m/s per m/s): it makes up
    #: for the speed the torque-limited wheels lose to drag and slip
    speed_gain = 0.5

    def plan(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        robot, course = self.env.robot, self.env.task.course
        law = robot.controller
        geometry, config = law.geometry, law.config
        st = robot.state()
        s = course.project(st.x, st.y)[0]
        speed = max(st.speed, 0.0)

        lookahead = self.lookahead_m + self.lookahead_time_s * speed
        gx, gy, _ = course.pose(s + lookahead)
        dx, dy = gx - st.x, gy - st.y
        alpha = wrap_angle(math.atan2(dy, dx) - st.yaw)
        steer = math.atan2(2.0 * geometry.wheelbase_m * math.sin(alpha), math.hypot(dx, dy))

        target = config.max_speed
        for d in np.arange(0.0, self.preview_m, self.preview_step_m):
            k = course.curvature(s + d)
            if k > 0.0:
                v_bend = math.sqrt(self.lateral_accel / k)
                target = min(target, math.sqrt(v_bend * v_bend + 2.0 * self.braking_decel * d))
        throttle = (target + self.speed_gain * (target - speed)) / config.max_speed

        action = np.array([steer / config.max_steer_rad, throttle])
        limit = config.action_rate_limit
        return np.clip(np.clip(action, law.action - limit, law.action + limit), -1.0, 1.0).astype(np.float32)


EXPERTS: dict[str, type[Expert]] = {"laps": PurePursuitExpert}
