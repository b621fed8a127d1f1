"""Peg insertion: a square peg held in the gripper goes into a square hole with small clearance.

Contact-rich: the peg is held by friction only (70 N Franka Hand grasp), the hole has no
chamfer, and the impedance law's clipped error bounds the insertion force (SERL's peg task).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from robot_rl.config import param
from robot_rl.sim.panda.robot import DOWN_QUAT, Robot
from robot_rl.sim.panda.tasks import PandaTask, _check_box


class PegInsert(PandaTask):
    """Insert the held peg into the hole of a fixed block deeper than `insert_depth`."""

    name = "peg_insert"

    @dataclass
    class Config:
        max_episode_steps: int = param(60, doc="policy steps per episode (6 s at 10 Hz)", gt=0)
        peg_width: float = param(0.02, doc="square peg edge", unit="m", gt=0, le=0.06)
        peg_length: float = param(0.08, doc="peg length", unit="m", gt=0)
        peg_mass: float = param(0.05, doc="nominal peg mass", unit="kg", gt=0)
        grasp_offset: float = param(0.02, doc="peg centre below the TCP in the grasp", unit="m")
        clearance: float = param(0.001, doc="gap between peg and hole wall, per side", unit="m", gt=0)
        hole_depth: float = param(0.04, doc="block height = hole depth", unit="m", gt=0)
        block_width: float = param(0.1, doc="block outer edge", unit="m", gt=0)
        hole_low: list[float] = param([0.45, -0.1], doc="hole centre sampling box (x, y), low", unit="m")
        hole_high: list[float] = param([0.6, 0.1], doc="hole centre sampling box (x, y), high", unit="m")
        start_offset_low: list[float] = param(
            [-0.04, -0.04, 0.03], doc="peg bottom start relative to the hole top centre, low", unit="m"
        )
        start_offset_high: list[float] = param(
            [0.04, 0.04, 0.08], doc="peg bottom start relative to the hole top centre, high", unit="m"
        )
        insert_depth: float = param(
            0.02, doc="peg bottom this far below the block top is success", unit="m", gt=0
        )
        reward: Literal["sparse", "dense"] = param(
            "sparse", doc="sparse: 1 on success; dense: -distance to goal (m)"
        )
        terminate_on_success: bool = param(True, doc="end the episode on success")

        def validate(self, source: str, prefix: str) -> None:
            _check_box(source, self.hole_low, self.hole_high, "hole_low/hole_high", 2)
            _check_box(source, self.start_offset_low, self.start_offset_high, "start_offset_low/high", 3)

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self.max_episode_steps = self.config.max_episode_steps
        self.hole = np.zeros(3)

    def build(self, client, robot: Robot) -> None:
        super().build(client, robot)
        cfg = self.config
        half = 0.5 * cfg.peg_width
        self.peg = self._box_body([half, half, 0.5 * cfg.peg_length], cfg.peg_mass, (0.2, 0.4, 0.9, 1.0))
        # The block: four walls around a square hole, one static compound body standing on the table.
        gap = half + cfg.clearance
        wall = 0.5 * cfg.block_width - gap
        centre = gap + 0.5 * wall
        h = 0.5 * cfg.hole_depth
        offsets = [[centre, 0.0, 0.0], [-centre, 0.0, 0.0], [0.0, centre, 0.0], [0.0, -centre, 0.0]]
        halves = [
            [0.5 * wall, 0.5 * cfg.block_width, h],
            [0.5 * wall, 0.5 * cfg.block_width, h],
            [gap, 0.5 * wall, h],
            [gap, 0.5 * wall, h],
        ]
        shape = client.createCollisionShapeArray(
            [client.GEOM_BOX] * 4, halfExtents=halves, collisionFramePositions=offsets
        )
        visual = client.createVisualShapeArray(
            [client.GEOM_BOX] * 4,
            halfExtents=halves,
            visualFramePositions=offsets,
            rgbaColors=[[0.6, 0.6, 0.55, 1.0]] * 4,
        )
        self.block = client.createMultiBody(0.0, shape, visual, basePosition=[0.5, 0.0, h])

    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        c, cfg = self.client, self.config
        self.rng, self.noise = rng, params["obs_noise_pos"]
        # object_size_scale is not applied: a resized peg would no longer fit the clearance.
        # Re-adding the peg to the broadphase drops its contact manifolds: restoreState keeps a
        # manifold the last episode left between peg and fingers, and its cached impulses would
        # make this episode depend on the previous one.
        c.setCollisionFilterGroupMask(self.peg, -1, 1, -1)
        c.changeDynamics(self.peg, -1, mass=cfg.peg_mass * params["object_mass_scale"])
        for body in (self.peg, self.block):
            c.changeDynamics(body, -1, lateralFriction=params["object_friction"])
        xy = rng.uniform(cfg.hole_low, cfg.hole_high)
        self.hole = np.array([xy[0], xy[1], cfg.hole_depth])
        c.resetBasePositionAndOrientation(
            self.block, [xy[0], xy[1], 0.5 * cfg.hole_depth], [0.0, 0.0, 0.0, 1.0]
        )
        peg_bottom = self.hole + rng.uniform(cfg.start_offset_low, cfg.start_offset_high)
        tcp = peg_bottom + np.array([0.0, 0.0, 0.5 * cfg.peg_length - cfg.grasp_offset])
        q = self.robot.solve_ik(tcp)
        self.robot.teleport(q, width=cfg.peg_width, quat_ref=DOWN_QUAT)
        pos, _ = self.robot.tcp_pose()
        c.resetBasePositionAndOrientation(
            self.peg, (pos[0], pos[1], pos[2] - cfg.grasp_offset), [0.0, 0.0, 0.0, 1.0]
        )
        c.resetBaseVelocity(self.peg, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
        return {"hole_pos": self.hole.copy(), "peg_start": peg_bottom}

    def peg_bottom(self) -> tuple[np.ndarray, np.ndarray]:
        pos, quat = self.client.getBasePositionAndOrientation(self.peg)
        rot = np.asarray(self.client.getMatrixFromQuaternion(quat)).reshape(3, 3)
        return np.array(pos) - 0.5 * self.config.peg_length * rot[:, 2], np.array(quat)

    def observe(self) -> np.ndarray:
        bottom, quat = self.peg_bottom()
        return np.concatenate([self._noisy(bottom), quat, self.hole]).astype(np.float32)

    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        cfg = self.config
        bottom, _ = self.peg_bottom()
        goal = self.hole - np.array([0.0, 0.0, cfg.insert_depth])
        inside = bool(np.all(np.abs(bottom[:2] - self.hole[:2]) < 0.5 * cfg.peg_width + cfg.clearance + 1e-3))
        depth = float(self.hole[2] - bottom[2])
        success = inside and depth >= cfg.insert_depth
        reward = float(success) if cfg.reward == "sparse" else -float(np.linalg.norm(bottom - goal))
        return reward, success, success and cfg.terminate_on_success, {"insert_depth": depth}
