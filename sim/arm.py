"""What every twin arm shares: a URDF arm with a two-finger gripper on a table plane, driven by
Cartesian-delta actions through its own control law.

`ArmRobot` reads the action layout (`ee_delta_pos`, optional `ee_delta_yaw`, `gripper`), builds
the table and the arm, and provides the sensing (TCP pose, joints, gripper width), the reset
inverse kinematics and the gripper device. A subclass adds its law: `build()` loads its URDF
with `_build_arm()`, `control()` runs the law at control_hz, `reset()` applies the episode's
randomization. Its `model` (the spec's `model:` section) names the joints and links, the home
posture, the joint limits and the gripper constants; its `controller` keeps the commanded
equilibrium pose (`controllers.reference.CartesianReference`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pybullet

from robot_rl.controllers.impedance import orientation_error
from robot_rl.controllers.safety import SafetyBox
from robot_rl.errors import ConfigError
from robot_rl.sim.base import TwinRobot
from robot_rl.spec import Field, RobotSpec, field_slices

#: TCP pointing straight down, fingers opening along the base y axis (xyzw)
DOWN_QUAT = np.array([1.0, 0.0, 0.0, 0.0])
TABLE_RGBA = [0.55, 0.45, 0.35, 1.0]


class ArmRobot(TwinRobot):
    """An arm + two-finger gripper on a table plane at z = 0, base at the origin.

    Options (`robot_options` of `make_twin`): `yaw` adds the `ee_delta_yaw` action; without it
    the action is (ee_delta_pos, gripper) and the TCP keeps its start orientation.
    """

    controller: Any  # the law: a CartesianReference with reset(pos, quat, q) and joint_target

    def __init__(self, client, spec: RobotSpec, model: Any, yaw: bool = False):
        super().__init__(client, spec)
        self.model = model
        self._finger_open = 0.5 * model.gripper_open_m  # each finger's joint, hand open
        self.yaw = bool(yaw)
        names = [f.name for f in spec.action]
        for required in ("ee_delta_pos", "gripper", *(("ee_delta_yaw",) if self.yaw else ())):
            if required not in names:
                raise ConfigError(spec.source, "action", f"an '{required}' field", names)
        self._action_fields = [f for f in spec.action if self.yaw or f.name != "ee_delta_yaw"]
        self.action_slices = slices = field_slices(self._action_fields)
        self._pos_slice, self._grip_index = slices["ee_delta_pos"], slices["gripper"].start
        self._yaw_index = slices["ee_delta_yaw"].start if self.yaw else None
        fields = {f.name: f for f in spec.action}
        self._pos_low, self._pos_high = self._bounds(fields["ee_delta_pos"])
        self._yaw_low, self._yaw_high = self._bounds(fields["ee_delta_yaw"]) if self.yaw else (0.0, 0.0)
        self.box = SafetyBox.from_spec(spec.safety)
        self.control_dt = 1.0 / spec.rates.control_hz
        self.effort = np.array([model.joints[j].effort for j in model.arm_joints])
        self.params = dict(self.RANDOMIZATION)
        self.rng = np.random.default_rng(0)
        self.gripper_closed = False

    @staticmethod
    def _bounds(field) -> tuple[np.ndarray, np.ndarray]:
        if field.low is None or field.high is None:
            raise ConfigError("", f"action.{field.name}", "low and high bounds", None)
        return np.asarray(field.low, dtype=np.float64), np.asarray(field.high, dtype=np.float64)

    # -- building --------------------------------------------------------------------------
    def _build_arm(self, urdf: str) -> None:
        """The table plane and the arm from `urdf`; joint and link indices, nominal inertials."""
        c = self.client
        # Sorted overlapping pairs: the solver visits contacts in the same order whatever the
        # previous episodes did, so a seed gives the same episode.
        c.setPhysicsEngineParameter(
            numSolverIterations=self.model.physics.solver_iterations,
            contactERP=self.model.physics.contact_erp,
            deterministicOverlappingPairs=1,
        )
        # The table: an infinite collision plane. Its visual is optional: the CPU renderer pays
        # ~0.15 us per covered pixel, so a table filling a 128x128 frame costs ~2.5 ms; without
        # it the renderer's plain background is the table top. (A body without any visual gets
        # its collision shape drawn, a checkered plane costing ~5 ms, hence the speck.)
        ground = c.createCollisionShape(pybullet.GEOM_PLANE)
        if self.model.table_visual:
            top = c.createVisualShape(
                pybullet.GEOM_BOX,
                halfExtents=[0.8, 0.8, 0.005],
                visualFramePosition=[0.3, 0.0, -0.005],
                rgbaColor=TABLE_RGBA,
            )
        else:
            top = c.createVisualShape(
                pybullet.GEOM_SPHERE, radius=1e-4, visualFramePosition=[0.0, 0.0, -1.0], rgbaColor=TABLE_RGBA
            )
        self.plane = c.createMultiBody(0.0, ground, top)
        c.changeDynamics(self.plane, -1, lateralFriction=1.0)
        self.body = c.loadURDF(
            urdf,
            useFixedBase=True,
            flags=pybullet.URDF_USE_INERTIA_FROM_FILE | pybullet.URDF_ENABLE_CACHED_GRAPHICS_SHAPES,
        )
        joint_index, link_index = {}, {"base": -1}
        for i in range(c.getNumJoints(self.body)):
            info = c.getJointInfo(self.body, i)
            joint_index[info[1].decode()] = i
            link_index[info[12].decode()] = i
        self.link_index = link_index
        self.arm = [joint_index[n] for n in self.model.arm_joints]
        self.fingers = [joint_index[n] for n in self.model.finger_joints]
        self.movable = self.arm + self.fingers
        self.n_arm = len(self.arm)
        # Jacobian and inverse dynamics take every movable joint in index order: arm first, then fingers.
        movable = [
            i
            for i in range(c.getNumJoints(self.body))
            if c.getJointInfo(self.body, i)[2] != pybullet.JOINT_FIXED
        ]
        if self.movable != movable:
            raise ConfigError(
                self.spec.source, "model.arm_joints", "the URDF's movable joints in order", self.movable
            )
        self.tcp = link_index[self.model.tcp_link]
        self._quat_field = self.spec.field("ee_quat")  # its sign convention
        self.hand = link_index[self.model.hand_link]
        self.finger_links = list(self.fingers)
        links = [-1, *range(c.getNumJoints(self.body))]
        self.nominal_mass = {i: c.getDynamicsInfo(self.body, i)[0] for i in links}
        self.nominal_inertia = {i: c.getDynamicsInfo(self.body, i)[2] for i in links}
        # Bullet puts a multibody that stays still for 2 s to sleep, and a sleeping arm ignores
        # torques: an arm holding a pose must keep running its control law.
        for i in links:
            c.changeDynamics(
                self.body,
                i,
                linearDamping=0.0,
                angularDamping=0.0,
                activationState=pybullet.ACTIVATION_STATE_DISABLE_SLEEPING,
            )
        # The base never moves and always touches the plane: no contact pairs to compute.
        c.setCollisionFilterPair(self.plane, self.body, -1, -1, 0)
        c.setCollisionFilterPair(self.plane, self.body, -1, 0, 0)
        self._zeros = [0.0] * len(self.movable)
        self._zero_vel = [[0.0]] * len(self.movable)
        lower = [self.model.joints[j].lower for j in (*self.model.arm_joints, *self.model.finger_joints)]
        upper = [self.model.joints[j].upper for j in (*self.model.arm_joints, *self.model.finger_joints)]
        self._ik_limits = (lower, upper, [u - lo for lo, u in zip(lower, upper)])
        cid = c._client
        # The control loop calls PyBullet several times per update; BulletClient's per-call attribute
        # lookup (inspect + partial) costs ~2 us each, so the hot calls are bound once here.
        self._joint_states = partial(pybullet.getJointStates, self.body, self.movable, physicsClientId=cid)
        self._tcp_state = partial(
            pybullet.getLinkState, self.body, self.tcp, computeForwardKinematics=1, physicsClientId=cid
        )
        self._jacobian = partial(pybullet.calculateJacobian, self.body, self.tcp, physicsClientId=cid)
        self._step_simulation = partial(pybullet.stepSimulation, physicsClientId=cid)

    def _set_joints(self, q) -> None:
        self.client.resetJointStatesMultiDof(
            self.body, self.movable, [[float(v)] for v in q], targetVelocities=self._zero_vel
        )

    # -- episodes --------------------------------------------------------------------------
    def scale_link_masses(self, scale: float) -> None:
        """The true link masses and inertias: `scale` x the URDF's (the law's model stays nominal)."""
        for i, mass in self.nominal_mass.items():
            if mass > 0.0:
                inertia = [scale * v for v in self.nominal_inertia[i]]
                self.client.changeDynamics(self.body, i, mass=scale * mass, localInertiaDiagonal=inertia)

    def teleport(self, q_arm, width: float | None = None, quat_ref: np.ndarray | None = None) -> None:
        """Jump to a joint posture (rad) with the gripper at `width` (m, default open); the law holds
        the new pose.

        `quat_ref` sets the reference orientation (default: the reached one), so a start pose a
        hair off from pointing down is corrected by the law instead of being held.
        """
        width = self.model.gripper_open_m if width is None else width
        self._set_joints([*q_arm, 0.5 * width, 0.5 * width])
        self.gripper_closed = width < 0.5 * self.model.gripper_open_m
        self._command_gripper(self.gripper_closed)
        pos, quat = self.tcp_pose()
        self.controller.reset(
            pos, quat if quat_ref is None else quat_ref, np.asarray(q_arm, dtype=np.float64)
        )
        self._ee_pos = pos

    def solve_ik(self, position, quat=DOWN_QUAT, iterations: int = 8, tolerance: float = 2e-4) -> np.ndarray:
        """Arm joint angles (rad) putting the TCP at `position` (m) with orientation `quat`, from home.

        Damped Gauss-Newton on the 6-D pose error with PyBullet's Jacobian: ~5 iterations to
        0.2 mm, several times faster than PyBullet's own IK at that accuracy (resets <= 1 ms).
        """
        c = self.client
        n = self.n_arm
        target = np.asarray(position, dtype=np.float64)
        quat = np.asarray(quat, dtype=np.float64)
        q = np.array(self.model.home_q, dtype=np.float64)
        lower, upper = np.array(self._ik_limits[0][:n]), np.array(self._ik_limits[1][:n])
        zeros = self._zeros
        fingers = [self._finger_open, self._finger_open]
        for _ in range(iterations):
            self._set_joints([*q, *fingers])
            pos, orn = self.tcp_pose()
            err = np.concatenate([target - pos, -orientation_error(orn, quat)])
            if np.abs(err).max() < tolerance:
                break
            lin, ang = c.calculateJacobian(self.body, self.tcp, (0.0, 0.0, 0.0), [*q, *fingers], zeros, zeros)
            jac = np.array((lin, ang)).reshape(6, -1)[:, :n]
            q = np.clip(q + jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(6), err), lower, upper)
        self._set_joints([*q, *fingers])
        return q

    # -- policy and control ----------------------------------------------------------------
    def set_command(self, action: np.ndarray) -> None:
        a = np.asarray(action, dtype=np.float64)
        delta = self._pos_low + 0.5 * (a[self._pos_slice] + 1.0) * (self._pos_high - self._pos_low)
        dyaw = 0.0
        if self._yaw_index is not None:
            dyaw = float(
                self._yaw_low[0] + 0.5 * (a[self._yaw_index] + 1.0) * (self._yaw_high[0] - self._yaw_low[0])
            )
        g = a[self._grip_index]
        threshold = self.model.gripper_command_threshold
        grip = True if g > threshold else (False if g < -threshold else None)
        self._pending = (delta, dyaw, grip)
        self._substep = 0

    def _apply_pending(self) -> None:
        delta, dyaw, grip = self._pending
        self._pending = None
        self.controller.move_reference(delta, dyaw, self._ee_pos)
        if grip is not None and grip != self.gripper_closed:
            self.gripper_closed = grip
            self._command_gripper(grip)

    def set_gripper(self, close: bool) -> None:
        """Close or open the gripper now (a driver's command; a policy uses the `gripper` action)."""
        self.gripper_closed = bool(close)
        self._command_gripper(self.gripper_closed)

    def _command_gripper(self, close: bool) -> None:
        """The gripper is a position-controlled device (the Franka Hand and the Robotiq 2F alike)."""
        c = self.client
        target = 0.0 if close else self._finger_open
        for i, name in zip(self.fingers, self.model.finger_joints):
            c.setJointMotorControl2(
                self.body,
                i,
                pybullet.POSITION_CONTROL,
                targetPosition=target,
                force=self.model.joints[name].effort,
                maxVelocity=0.5 * self.model.gripper_speed,
            )

    def step(self, action: np.ndarray) -> None:
        """TwinRobot.step with the physics step bound once (no per-step hook: arms have none)."""
        self.set_command(action)
        rates = self.spec.rates
        step_simulation = self._step_simulation
        for _ in range(rates.control_substeps):
            self.control()
            for _ in range(rates.physics_substeps):
                step_simulation()

    # -- sensing ---------------------------------------------------------------------------
    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position (m) and orientation (xyzw), base frame."""
        link = self.client.getLinkState(self.body, self.tcp, computeForwardKinematics=1)
        return np.array(link[4]), np.array(link[5])

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Arm joint angles (rad) and velocities (rad/s), base to flange."""
        states = self._joint_states()[: self.n_arm]
        return np.array([s[0] for s in states]), np.array([s[1] for s in states])

    @property
    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper arm joint limits (rad) from the robot model."""
        joints = [self.model.joints[j] for j in self.model.arm_joints]
        return np.array([j.lower for j in joints]), np.array([j.upper for j in joints])

    def hold_pose(self) -> None:
        """Leave joint mode: the Cartesian law holds the reached pose with the reference orientation."""
        self.controller.joint_target = None
        pos, _ = self.tcp_pose()
        self.controller.reset(pos, np.asarray(self.controller.quat_ref), self.joint_state()[0])
        self._ee_pos = pos

    def gripper_width(self) -> float:
        """Distance between the fingers (m)."""
        states = self.client.getJointStates(self.body, self.fingers)
        return float(states[0][0] + states[1][0])

    def observe(self) -> np.ndarray:
        link = self.client.getLinkState(
            self.body, self.tcp, computeLinkVelocity=1, computeForwardKinematics=1
        )
        pos = np.array(link[4])
        quat = self._quat_field.canonical(link[5])
        noise = self.params["obs_noise_pos"]
        if noise > 0.0:
            pos = pos + self.rng.normal(0.0, noise, 3)
        out = np.concatenate([pos, quat, link[6], link[7], [self.gripper_width()]])
        return out.astype(np.float32)

    @property
    def action_fields(self) -> list[Field]:
        """The spec's action layout, without `ee_delta_yaw` unless the robot option `yaw` is on."""
        return list(self._action_fields)

    def safe_action(self) -> np.ndarray:
        """Hold: no reference change, gripper command unchanged (0 is inside the dead band)."""
        return np.zeros(sum(f.size for f in self._action_fields), dtype=np.float32)

    def link_pose(self, link: str) -> tuple[np.ndarray, np.ndarray]:
        if link not in self.link_index:
            known = ", ".join(self.link_index)
            raise ConfigError(self.spec.source, "cameras.link", f"a {self.spec.name} link ({known})", link)
        if self.link_index[link] == -1:
            pos, quat = self.client.getBasePositionAndOrientation(self.body)
            return np.array(pos), np.array(quat)
        state = self.client.getLinkState(self.body, self.link_index[link], computeForwardKinematics=1)
        return np.array(state[4]), np.array(state[5])
