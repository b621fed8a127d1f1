"""Arm shield (Cartesian-delta arms): the commanded target inside the shrunk safety box, the contact force
below the spec's limit."""

from __future__ import annotations

import numpy as np

from robot_rl.controllers.admittance import law_gains
from robot_rl.controllers.safety import SafetyBox
from robot_rl.controllers.shields.base import Shield


class ArmShield(Shield):
    """Cartesian-delta arms: the commanded target stays inside the box shrunk by `margin_m`,
    and the contact force below `safety.max_force`.

    The reference moves by the policy's delta from the commanded target (or from the measured
    TCP when the caller does not know the target); the shrunk box leaves room for the tracking
    overshoot of the impedance law, so the TCP itself stays inside the spec's box. Above
    `safety.max_speed` the reference holds.

    Contact force (when the caller measures it): the impedance law is a spring of stiffness K
    between the reference and the TCP, so against a stuck contact one more step d into it adds
    about K d of force. In contact (above `contact_n`) the steps into the measured force are
    capped so the force stays at `force_fraction` of the limit; above that the reference backs
    off by the excess over K (steps away from the contact are always allowed). The force at
    the first touch is not known in advance: the law's error clip bounds it (K x clip).
    """

    fallback_mode = "hold"
    uses_contact_force = True

    def __init__(
        self,
        spec,
        action_fields,
        obs_fields,
        margin_m: float = 0.02,
        max_force_n: float | None = None,
        force_fraction: float = 0.8,
        contact_n: float = 1.0,
    ):
        super().__init__(spec, action_fields, obs_fields)
        low, high = np.asarray(spec.safety.box_low), np.asarray(spec.safety.box_high)
        self.inner = SafetyBox(low + margin_m, high - margin_m)
        field = {f.name: f for f in action_fields}["ee_delta_pos"]
        self.delta_high = np.asarray(field.high, dtype=np.float64)
        self.delta_low = np.asarray(field.low, dtype=np.float64)
        self.pos = self.action_slices["ee_delta_pos"]
        self.max_speed = spec.safety.max_speed
        self.max_force = spec.safety.max_force if max_force_n is None else float(max_force_n)
        self.uses_contact_force = self.max_force is not None
        self.force_fraction, self.contact_n = float(force_fraction), float(contact_n)
        # The law's translational stiffness (the spec's `controller:`; the law's defaults without one):
        # the impedance law's spring, or the admittance law's virtual spring, which a stiff position
        # servo makes the arm's own against a stuck contact.
        gains = law_gains(spec.controller, spec.source)
        self.stiffness = np.asarray(gains.translational_stiffness, dtype=np.float64)
        self.clip = np.asarray(gains.translational_clip, dtype=np.float64)
        self.hold = self.clipped = self.force_limited = False

    def limit_force(
        self, delta: np.ndarray, force: np.ndarray | None, lead: np.ndarray | None = None
    ) -> np.ndarray:
        """`delta` (m) with its steps into the measured contact capped (see the class doc).

        Per axis, the law adds K_i d_i of force for a step d_i into a load F_i (a stuck contact,
        friction included). Each loaded axis gets the share |F_i| / |F| of the force budget, so
        the predicted force stays within `force_fraction` x the limit; steps that relieve a load
        are never changed; above its share no step goes further in. `lead` (m, reference minus
        TCP) gives the load the arm settles to, K x lead along the bearing axes, when that is more
        than the force measured mid-motion. The load that sets the back-off is at most the law's
        own K x clip: more is not the law's spring (an impact transient, gone by the next step,
        or a load the law cannot relieve), and backing off further would lift the arm off and
        let the next step hit again.
        """
        self.force_limited = False
        if force is None or self.max_force is None:
            return delta
        force = np.asarray(force, dtype=np.float64)
        if not np.all(np.isfinite(force)):
            return delta
        magnitude = float(np.linalg.norm(force))
        if magnitude <= self.contact_n:
            return delta
        load = np.abs(force)
        sign = np.sign(force)  # the surroundings push the arm this way, per axis
        budget = self.force_fraction * self.max_force * load / magnitude
        settled = load
        if lead is not None:  # only where the contact bears: a free axis may lead the TCP in motion
            bearing = load > 0.1 * magnitude
            settled = np.where(bearing, np.maximum(load, -self.stiffness * sign * lead), load)
        spring = np.minimum(settled, self.stiffness * self.clip)
        allowed = (budget - spring) / self.stiffness  # largest step into the load; < 0: back off
        allowed[load > budget] = np.minimum(allowed[load > budget], 0.0)  # over it: never further in
        out = np.array(delta, dtype=np.float64, copy=True)
        over = (load > 1e-9) & (-out * sign > allowed)
        out[over] = -allowed[over] * sign[over]
        self.force_limited = bool(np.any(over))
        return out

    def filter(self, action, state, commanded=None, contact_force=None, position=None):
        out = np.array(action, dtype=np.float32, copy=True)
        ee = np.asarray(state[self.obs_slices["ee_pos"]], dtype=np.float64)
        ref = ee if commanded is None else np.asarray(commanded, dtype=np.float64)
        a = out[self.pos].astype(np.float64)
        delta = self.delta_low + 0.5 * (a + 1.0) * (self.delta_high - self.delta_low)
        speed = (
            float(np.linalg.norm(state[self.obs_slices["ee_linvel"]]))
            if "ee_linvel" in self.obs_slices
            else 0.0
        )
        self.hold = self.max_speed is not None and speed > self.max_speed
        asked = delta
        delta = self.limit_force(np.zeros(3) if self.hold else delta, contact_force, ref - ee)
        # The new target, clipped into the inner box; a target already outside is pulled in.
        target = self.inner.clip(ref + delta)
        clipped = np.clip(target - ref, self.delta_low, self.delta_high)
        self.clipped = bool(np.any(np.abs(clipped - asked) > 1e-9))
        delta = clipped
        out[self.pos] = 2.0 * (delta - self.delta_low) / (self.delta_high - self.delta_low) - 1.0
        return out

    def repeat(self, last: np.ndarray) -> np.ndarray:
        # The command is a shift of the target: standing by it means no further shift.
        out = np.array(last, dtype=np.float32, copy=True)
        out[self.pos] = 0.0
        return out

    @property
    def overriding(self) -> bool:
        return self.hold or self.clipped or self.force_limited
