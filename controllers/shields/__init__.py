"""Shields: per-robot filters that bound an action given the robot's state, and its fallback.

Chosen from the spec's field names by `make_shield` (an arm with Cartesian deltas, a quadrotor
with attitude and body rates, a car with throttle), so a new robot with the same kind of
interface gets the same protection. Used by `controllers.safety_layer.SafetyLayer`; see
docs/safety.md for what each guarantees and how it was measured.

Modules: `base` (the `Shield` interface, which passes actions through), `arm`, `quadrotor`, `car`.
"""

from __future__ import annotations

from robot_rl.controllers.shields.arm import ArmShield
from robot_rl.controllers.shields.base import Shield
from robot_rl.controllers.shields.car import CarShield
from robot_rl.controllers.shields.quadrotor import QuadShield, QuadShieldConfig
from robot_rl.spec import Field, RobotSpec

__all__ = ["ArmShield", "CarShield", "QuadShield", "QuadShieldConfig", "Shield", "make_shield"]


def make_shield(spec: RobotSpec, action_fields: list[Field], obs_fields: list[Field]) -> Shield:
    """The shield for a robot, chosen from what its spec's layouts contain."""
    actions = {f.name for f in action_fields}
    obs = {f.name for f in obs_fields}
    if "ee_delta_pos" in actions and "ee_pos" in obs:
        return ArmShield(spec, action_fields, obs_fields)
    if {"rot_matrix", "body_rates", "lin_vel"} <= obs and "mass_kg" in spec.model:
        return QuadShield(spec, action_fields, obs_fields)
    if "throttle" in actions and "speed" in obs:
        return CarShield(spec, action_fields, obs_fields)
    return Shield(spec, action_fields, obs_fields)
