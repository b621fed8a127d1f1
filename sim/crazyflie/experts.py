"""Scripted Crazyflie expert: the cascaded position -> attitude -> rate -> mixer controller.

It reuses the control laws of `robot_rl.controllers.quadrotor` with the gains of the spec's
`controller:` section and the nominal model (what a real vehicle's firmware knows; integral
action absorbs randomized mass and thrust). It reads the twin's true state (privileged: no delay,
no noise) and acts in the env's action space: per-motor normalized forces in action mode
`force` (the rate loop then runs at the policy rate), collective thrust and rate setpoints in
mode `rates` (the robot's own rate loop runs at control_hz).
"""

from __future__ import annotations

import math

import numpy as np

from robot_rl.controllers.quadrotor import AttitudeController, PositionController, RateController
from robot_rl.sim.base import Expert


class CascadeExpert(Expert):
    """PID position loop, geometric attitude loop, PID rate loop and mixer, tracking the task's reference."""

    def __init__(self, env, noise: float = 0.0, rng: np.random.Generator | None = None):
        super().__init__(env, noise, rng)
        robot = env.robot
        cfg, model = robot.controller_config, robot.model
        dt = robot.spec.policy_dt
        self.position = PositionController(cfg.position, model.mass_kg, dt)
        self.attitude = AttitudeController(cfg.attitude)
        self.rate = RateController(cfg.rate, model.inertia_kg_m2, dt)

    #: overdrive of the rotor-speed command against the motor lag (privileged: reads the rotor
    #: speeds): command = desired + motor_lead (desired - current); 0 turns it off
    motor_lead = 1.0

    def reset(self) -> None:
        self.position.reset()
        self.rate.reset()
        # Privileged: hover thrust of this episode's vehicle, in the nominal thrust units the mixer uses.
        params = self.env.params
        self.position.mass = self.env.robot.model.mass_kg * params["mass_scale"] / params["thrust_scale"]

    def plan(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        robot, task = self.env.robot, self.env.task
        pos, vel, rot, rates = robot.true_state()
        target, target_vel, target_acc = task.reference()
        pos_err = [t - p for t, p in zip(target, pos)]
        vel_err = [t - v for t, v in zip(target_vel, vel)]
        thrust, rot_des = self.position.update(pos_err, vel_err, rot, 0.0, target_acc)
        rate_sp = self.attitude.update(rot, rot_des)
        if robot.action_mode == "rates":
            return robot.to_action([thrust / (4.0 * robot.model.max_thrust_n), *rate_sp])
        torque = self.rate.update(rate_sp, rates)
        u = robot.mixer.normalized(thrust, *torque)
        if self.motor_lead:
            k = self.motor_lead
            s = [min(1.0, max(0.0, (1 + k) * math.sqrt(v) - k * w)) for v, w in zip(u, robot.speed)]
            u = [v * v for v in s]
        return robot.to_action(u)


EXPERTS: dict[str, type[Expert]] = {"hover": CascadeExpert, "waypoints": CascadeExpert}
