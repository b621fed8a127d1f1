"""Scripted experts of the Panda-only tasks (peg insertion, pick and place); the reach and pick-cube
experts every arm shares are `sim.arm_experts`."""

from __future__ import annotations

import numpy as np

from robot_rl.sim.arm_experts import ArmExpert, PickCubeExpert, ReachExpert
from robot_rl.sim.panda.bins import PickPlace
from robot_rl.sim.panda.peg import PegInsert

__all__ = ["PegInsertExpert", "PickCubeExpert", "PickPlaceExpert", "ReachExpert"]


class PegInsertExpert(ArmExpert):
    """Centre the peg over the hole at a safe height, lower it, settle, then push down slowly."""

    safe_height = 0.02  # m above the block while centring: a fast lateral move never clips an edge
    descend_step = 0.004  # m per policy step into the hole: slow enough not to jam on an edge

    def reset(self) -> None:
        self.phase = "align"

    def plan(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        task: PegInsert = self.env.task
        cfg = task.config
        bottom, _ = task.peg_bottom()
        tcp, _ = self.robot.tcp_pose()
        hole = task.hole
        offset = tcp - bottom  # where the TCP sits relative to the peg's bottom in this grasp
        xy_error = float(np.linalg.norm(bottom[:2] - hole[:2]))
        if self.phase == "align":
            if xy_error < 1e-3:
                self.phase = "lower"
            else:
                return self.action(np.array([hole[0], hole[1], hole[2] + self.safe_height]) + offset, 1.0)
        if self.phase == "lower":
            settled = xy_error < 0.3 * cfg.clearance + 2e-4 and self.tcp_speed() < 0.005
            if settled and bottom[2] < hole[2] + 0.008:
                self.phase = "insert"
            else:
                target = np.array([hole[0], hole[1], hole[2] + 0.003]) + offset
                return self.action(target, 1.0, integral=True)
        depth = max(bottom[2] - self.descend_step, hole[2] - cfg.insert_depth - 0.01)
        return self.action(np.array([hole[0], hole[1], depth]) + offset, 1.0, integral=True)


class PickPlaceExpert(PickCubeExpert):
    """Pick as `PickCubeExpert`, carry over the target bin, lower, open, and back off upward."""

    place_clearance = 0.006  # m the cube's bottom stays above the table when released

    def reset(self) -> None:
        super().reset()
        self.open_steps = 0

    def plan(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        task: PickPlace = self.env.task
        cube, _ = task.cube_pose()
        tcp, _ = self.robot.tcp_pose()
        target = task.bins()[1]
        held = self.robot.gripper_closed and np.linalg.norm(tcp - cube) < task.cube_size
        if self.phase in ("approach", "descend", "close"):
            action = super().plan(obs)
            if self.phase != "lift":
                return action
        offset = tcp - cube if held else np.zeros(3)  # the grasp's TCP-to-cube offset
        carry = np.array([target[0], target[1], task.config.lift_height]) + offset
        if self.phase == "lift":
            if not held:  # dropped on the way: start over
                self.phase, self.closed_steps = "approach", 0
                return super().plan(obs)
            if np.linalg.norm(cube[:2] - target) < 0.01:
                self.phase = "lower"
            else:
                return self.action(carry, 1.0)
        if self.phase == "lower":
            down = np.array([target[0], target[1], 0.5 * task.cube_size + self.place_clearance]) + offset
            if cube[2] < down[2] - offset[2] + 0.004:
                self.phase = "open"
            else:
                return self.action(down, 1.0)
        if self.phase == "open":
            self.open_steps += 1
            if self.open_steps > 4:  # the hand opens at 0.1 m/s
                self.phase = "retreat"
            return self.action(tcp, -1.0)
        return self.action(np.array([tcp[0], tcp[1], task.config.lift_height + 0.05]), -1.0)
