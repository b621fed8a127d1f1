"""Car shield: throttle cut above the spec's speed limit; the fallback brakes with the steering held."""

from __future__ import annotations

import numpy as np

from robot_rl.controllers.shields.base import Shield


class CarShield(Shield):
    """Cars: throttle cut (speed target 0: the ESC brakes) above `safety.max_speed`; fallback brakes."""

    fallback_mode = "brake"

    def __init__(self, spec, action_fields, obs_fields):
        super().__init__(spec, action_fields, obs_fields)
        self.throttle = self.action_slices["throttle"].start
        self.steering = self.action_slices["steering"].start
        self.max_speed = spec.safety.max_speed
        self.cut = False

    def filter(self, action, state, commanded=None, contact_force=None, position=None):
        out = np.array(action, dtype=np.float32, copy=True)
        speed = float(state[self.obs_slices["speed"]][0])
        self.cut = self.max_speed is not None and abs(speed) > self.max_speed
        if self.cut and out[self.throttle] * speed > 0.0:
            out[self.throttle] = 0.0
        return out

    def fallback(self, state):
        out = np.zeros(self.action_size, dtype=np.float32)
        if state is not None and "last_action" in self.obs_slices:
            out[self.steering] = state[self.obs_slices["last_action"]][0]  # steering held
        return out

    @property
    def overriding(self) -> bool:
        return self.cut
