"""Scripted experts for the arm tasks: privileged state in, the env's own normalized actions out.

Each expert picks a TCP target and commands the reference step toward it (at most the 2 cm
action bound per step); the arm's law (impedance or admittance) does the rest, exactly as for a
learned policy.
Targets are set on the reference, not added to the measured pose, so the reference never
winds up while the arm lags; where millimetres matter (peg over hole) half the measured error
is added once the arm is slow, an integral action that cancels steady model-mismatch offsets.
"""

from __future__ import annotations

import numpy as np

from robot_rl.sim.arm import ArmRobot
from robot_rl.sim.arm_tasks import PickCube, Reach
from robot_rl.sim.base import Expert, TwinEnv
from robot_rl.spec import canonical_cube_quat


class ArmExpert(Expert):
    """Action building shared by the arm experts."""

    def __init__(self, env: TwinEnv, noise: float = 0.0, rng: np.random.Generator | None = None):
        super().__init__(env, noise, rng)
        self.robot: ArmRobot = env.robot
        slices = self.robot.action_slices
        fields = {f.name: f for f in self.robot.action_fields}
        self._pos = slices["ee_delta_pos"]
        self._pos_scale = np.asarray(fields["ee_delta_pos"].high)
        self._grip = slices["gripper"].start
        self._yaw = slices["ee_delta_yaw"].start if "ee_delta_yaw" in slices else None
        self._yaw_scale = float(fields["ee_delta_yaw"].high[0]) if self._yaw is not None else 1.0

    def action(
        self, target_tcp: np.ndarray, gripper: float, yaw_error: float = 0.0, integral: bool = False
    ) -> np.ndarray:
        """Move the reference toward `target_tcp` (m); `yaw_error` (rad) is turned away if yaw is on.

        `integral`: once the arm is slow, also shift the reference by half the measured x-y error,
        which removes the steady offset a mass or friction mismatch leaves between reference and
        TCP (half: latency and lag would turn a full step into a limit cycle).
        """
        out = np.zeros(self.env.action_space.shape, dtype=np.float64)
        delta = np.asarray(target_tcp) - self.robot.controller.position_ref
        if integral and self.tcp_speed() < 0.01:
            error = np.asarray(target_tcp) - self.robot.tcp_pose()[0]
            delta[:2] = 0.5 * error[:2]
        out[self._pos] = np.clip(delta / self._pos_scale, -1.0, 1.0)
        out[self._grip] = gripper
        if self._yaw is not None:
            out[self._yaw] = np.clip(yaw_error / self._yaw_scale, -1.0, 1.0)
        return out

    def tcp_speed(self) -> float:
        """Measured TCP speed (m/s)."""
        link = self.robot.client.getLinkState(self.robot.body, self.robot.tcp, computeLinkVelocity=1)
        return float(np.linalg.norm(link[6]))

    def yaw_error(self, target_yaw: float) -> float:
        """Yaw (rad) the TCP still has to turn to face `target_yaw` modulo 90 deg (square objects)."""
        _, quat = self.robot.tcp_pose()
        # The TCP points down: its x axis in the base xy plane gives the yaw.
        x, y, z, w = quat
        yaw = np.arctan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))
        return float((target_yaw - yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class ReachExpert(ArmExpert):
    """Straight to the goal."""

    def plan(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        task: Reach = self.env.task
        return self.action(task.goal, 0.0)


class PickCubeExpert(ArmExpert):
    """Hover over the cube, descend, close, wait for the grasp, lift."""

    hover = 0.07  # m above the cube centre before descending
    grasp_below = 0.005  # m below the cube centre: fingers grip its lower half

    def reset(self) -> None:
        self.phase = "approach"
        self.closed_steps = 0

    def plan(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        task: PickCube = self.env.task
        cube, raw_quat = task.cube_pose()
        cube_quat = canonical_cube_quat(raw_quat)  # upright frame: its yaw is the faces' yaw
        tcp, _ = self.robot.tcp_pose()
        yaw = np.arctan2(
            2.0 * (cube_quat[0] * cube_quat[1] + cube_quat[3] * cube_quat[2]),
            1.0 - 2.0 * (cube_quat[1] ** 2 + cube_quat[2] ** 2),
        )
        yaw_err = self.yaw_error(yaw) if self._yaw is not None else 0.0
        grasp = cube - np.array([0.0, 0.0, min(self.grasp_below, 0.5 * task.cube_size - 0.005)])
        if self.phase == "approach":
            above = np.array([cube[0], cube[1], cube[2] + self.hover])
            if np.linalg.norm(tcp[:2] - cube[:2]) < 0.006 and abs(yaw_err) < 0.05:
                self.phase = "descend"
            target = above if tcp[2] > cube[2] + 0.03 or self.phase == "approach" else grasp
            if self.phase == "approach":
                return self.action(target, -1.0, yaw_err)
        if self.phase == "descend":
            if np.linalg.norm(tcp - grasp) < 0.006:
                self.phase = "close"
            else:
                return self.action(grasp, -1.0, yaw_err)
        if self.phase == "close":
            self.closed_steps += 1
            # The Franka Hand closes at 0.1 m/s (0.04 m of travel: ~4 policy steps), the 2F-85 stand-in at
            # 0.15 m/s (0.045 m: ~3).
            if self.closed_steps > 4:
                self.phase = "lift"
            return self.action(grasp, 1.0)
        lift = np.array([tcp[0], tcp[1], task.config.lift_height + 0.05])
        return self.action(lift, 1.0)
