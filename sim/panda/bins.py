"""Panda `pick_place`: move the cube from one bin to the other (forward A -> B, backward B -> A).

The two bins are marked pads on the table (visual only: no walls to jam a grasp on). An optional
tray, a low rim around the practice area as a real cell has, keeps a cube that a failed attempt
pushes or drops toward the table's edge where the arm can still fetch it. One task
config holds both directions; `set_direction` switches it between episodes, so a reset-free run
(`robot_rl.practice`) trains a forward and a backward policy in one world where each one's end
state is the other's start state (RoboFuME; SERL's bin relocation). Episodic resets place the
cube at a random spot of the source bin, as `pick_cube` does on the table.

Success: the cube rests in the target bin (centre inside the pad, on the table) with the gripper
open, i.e. placed, not held. The observation appends the target bin's centre, so a forward and a
backward policy see the same layout and one goal-conditioned policy could serve both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from robot_rl.config import param
from robot_rl.errors import ConfigError
from robot_rl.sim.panda.tasks import PickCube, _check_box

DIRECTIONS = ("forward", "backward")
#: thickness of the tray's rim (m)
TRAY_WALL = 0.01


class PickPlace(PickCube):
    """Pick the cube out of the source bin and place it in the target bin."""

    name = "pick_place"

    @dataclass
    class Config(PickCube.Config):
        max_episode_steps: int = param(100, doc="policy steps per episode (10 s at 10 Hz)", gt=0)
        bin_a: list[float] = param([0.5, -0.13], doc="bin A centre (x, y): forward's source", unit="m")
        bin_b: list[float] = param([0.5, 0.13], doc="bin B centre (x, y): forward's target", unit="m")
        bin_half: float = param(0.06, doc="half edge of each square bin pad", unit="m", gt=0)
        spawn_margin: float = param(
            0.02, doc="episodic resets keep the cube this far inside the pad", unit="m", ge=0
        )
        direction: Literal["forward", "backward"] = param("forward", doc="forward: A to B; backward: B to A")
        spawn: Literal["bin", "around"] = param(
            "bin",
            doc="episodic resets put the cube in the source bin, or anywhere within `around_half` of its "
            "centre on the table (where failed reset-free attempts leave it: demonstrations from there)",
        )
        around_half: float = param(
            0.12,
            doc="half edge of the square around the source bin that `spawn: around` uses",
            unit="m",
            gt=0,
        )
        lift_height: float = param(0.1, doc="carrying height of the cube centre", unit="m", gt=0)
        tray: list[float] = param(
            [],
            doc="inner edges [x_low, y_low, x_high, y_high] of a low rim on the table around the practice "
            "area (a real cell's tray): a cube pushed or dropped toward the edge stays where the arm can "
            "fetch it. []: no rim",
            unit="m",
        )
        tray_height: float = param(
            0.015,
            doc="rim height: under the cube's centre, so fingers grasping a cube against it close above it",
            unit="m",
            gt=0,
        )
        reward: Literal["sparse", "shaped", "progress"] = param(
            "sparse",
            doc="sparse: 1 on success; shaped: reach + grasp + transport terms in [0, 1]; progress: 1 on "
            "success, else the step's change of those terms (potential-based: holding still earns nothing)",
        )

        def validate(self, source: str, prefix: str) -> None:
            _check_box(source, self.start_low, self.start_high, "start_low/start_high", 3)
            if len(self.bin_a) != 2 or len(self.bin_b) != 2:
                raise ConfigError(source, "bin_a/bin_b", "2 values (x, y) each", [self.bin_a, self.bin_b])
            gap = np.abs(np.subtract(self.bin_a, self.bin_b)).max()
            if gap < 2 * self.bin_half:
                raise ConfigError(
                    source, "bin_a/bin_b", f"bins apart by >= 2*bin_half ({2 * self.bin_half} m)", gap
                )
            if self.around_half + self.bin_half > gap:
                limit = f"<= the bins' distance - bin_half ({gap - self.bin_half:.3f} m): clear of the target"
                raise ConfigError(source, "around_half", limit, self.around_half)
            if self.spawn_margin >= self.bin_half:
                raise ConfigError(
                    source, "spawn_margin", f"< bin_half ({self.bin_half} m)", self.spawn_margin
                )
            if self.tray:
                self._check_tray(source)

        def _check_tray(self, source: str) -> None:
            """The tray holds both bins' spawn areas with the cube clear of the rim."""
            if len(self.tray) != 4 or self.tray[0] >= self.tray[2] or self.tray[1] >= self.tray[3]:
                raise ConfigError(source, "tray", "[x_low, y_low, x_high, y_high] with low < high", self.tray)
            half = self.around_half if self.spawn == "around" else self.bin_half - self.spawn_margin
            # a spawn spot's cube clears the rim at any yaw and size: its half-diagonal, 10 % larger
            reach = half + 0.8 * self.cube_size
            for centre in (self.bin_a, self.bin_b):
                low, high = np.subtract(centre, reach), np.add(centre, reach)
                if np.any(low < self.tray[:2]) or np.any(high > self.tray[2:]):
                    limit = f"inner edges around every spawn spot (+/-{reach:.3f} m of each bin centre)"
                    raise ConfigError(source, "tray", limit, self.tray)

    def __init__(self, config: Config | None = None):
        super().__init__(config or self.Config())
        self.direction = self.config.direction
        self._potential = 0.0

    def build(self, client, robot) -> None:
        super().build(client, robot)
        half = self.config.bin_half
        self.pads = []
        for centre, rgba in (
            (self.config.bin_a, (0.2, 0.4, 0.9, 1.0)),
            (self.config.bin_b, (0.2, 0.8, 0.3, 1.0)),
        ):
            visual = client.createVisualShape(
                client.GEOM_BOX, halfExtents=[half, half, 0.0005], rgbaColor=rgba
            )
            self.pads.append(client.createMultiBody(0.0, -1, visual, basePosition=[*centre, 0.0005]))
        self.rim = self._build_tray() if self.config.tray else []

    def _build_tray(self) -> list[int]:
        """Four static walls, `tray_height` high and `TRAY_WALL` thick, outside the inner edges."""
        x0, y0, x1, y1 = self.config.tray
        h, t = 0.5 * self.config.tray_height, 0.5 * TRAY_WALL
        grey = (0.55, 0.55, 0.55, 1.0)
        walls = []
        for centre, half in (
            ([x0 - t, 0.5 * (y0 + y1)], [t, 0.5 * (y1 - y0) + 2 * t]),
            ([x1 + t, 0.5 * (y0 + y1)], [t, 0.5 * (y1 - y0) + 2 * t]),
            ([0.5 * (x0 + x1), y0 - t], [0.5 * (x1 - x0), t]),
            ([0.5 * (x0 + x1), y1 + t], [0.5 * (x1 - x0), t]),
        ):
            walls.append(self._box_body([*half, h], 0.0, grey, position=[*centre, h]))
        return walls

    # -- directions ------------------------------------------------------------------------------
    def bins(self, direction: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(source, target) bin centres (x, y) of a direction (default: the current one)."""
        a, b = np.asarray(self.config.bin_a, float), np.asarray(self.config.bin_b, float)
        return (a, b) if (direction or self.direction) == "forward" else (b, a)

    def set_direction(self, direction: str) -> None:
        if direction not in DIRECTIONS:
            raise ConfigError("", "direction", " or ".join(DIRECTIONS), direction)
        self.direction = direction

    def drop_zone(self, direction: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Low and high (x, y) corners of where a reset puts the cube in a direction's source bin:
        the pad less `spawn_margin` on each side."""
        source, half = self.bins(direction)[0], self.config.bin_half - self.config.spawn_margin
        return source - half, source + half

    def in_bin(self, centre: np.ndarray, position: np.ndarray | None = None) -> bool:
        """Whether the cube's centre (or `position`) lies over the pad at `centre`."""
        pos = self.cube_pose()[0] if position is None else position
        return bool(np.abs(pos[:2] - centre).max() <= self.config.bin_half)

    def direction_for_cube(self) -> str:
        """The direction whose source bin is nearer the cube: what reset-free practice runs next."""
        pos = self.cube_pose()[0][:2]
        a, b = np.asarray(self.config.bin_a, float), np.asarray(self.config.bin_b, float)
        return "forward" if np.linalg.norm(pos - a) <= np.linalg.norm(pos - b) else "backward"

    def place_cube(
        self, rng: np.random.Generator, bin_centre: np.ndarray, half: float | None = None
    ) -> np.ndarray:
        """Put the cube at rest at a random spot within `half` of a bin's centre (default: in the bin)."""
        half = self.config.bin_half - self.config.spawn_margin if half is None else half
        xy = bin_centre + rng.uniform(-half, half, 2)
        yaw = rng.uniform(-self.config.cube_yaw, self.config.cube_yaw)
        quat = self.client.getQuaternionFromEuler([0.0, 0.0, yaw])
        position = [xy[0], xy[1], 0.5 * self.cube_size]
        self.client.resetBasePositionAndOrientation(self.cube, position, quat)
        self.client.resetBaseVelocity(self.cube, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
        return np.asarray(position)

    # -- Task API --------------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        info = super().reset(rng, params)  # the cube body, size, mass and friction; the TCP start
        around = self.config.around_half if self.config.spawn == "around" else None
        info["cube_pos"] = self.place_cube(rng, self.bins()[0], around)
        self._potential = self.potential()
        return {**info, "direction": self.direction}

    def continue_episode(self) -> dict[str, Any]:
        """A reset-free episode start: nothing moves, the direction may have changed."""
        self._potential = self.potential()
        return {"direction": self.direction, "cube_pos": self.cube_pose()[0]}

    def potential(self) -> float:
        """The shaped terms in [0, 0.8]: TCP near the cube, cube held, cube near the target bin."""
        pos, _ = self.cube_pose()
        reach, grasped = self.reach_and_grasp(pos)
        transport = 1.0 - float(np.tanh(5.0 * np.linalg.norm(pos[:2] - self.bins()[1])))
        return 0.2 * reach + 0.2 * grasped + 0.4 * transport

    def observe(self) -> np.ndarray:
        target = np.array([*self.bins()[1], 0.0])
        return np.concatenate([super().observe(), target]).astype(np.float32)

    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        cfg = self.config
        pos, _ = self.cube_pose()
        target = self.bins()[1]
        resting = pos[2] < 0.5 * self.cube_size + 0.01
        success = bool(self.in_bin(target, pos) and resting and not self.robot.gripper_closed)
        if cfg.reward == "sparse" or success:
            reward = float(success)
        elif cfg.reward == "shaped":
            reward = self.potential()
        else:  # progress: the potential's change, so the shaping sums to its end-minus-start value
            now = self.potential()
            reward, self._potential = now - self._potential, now
        info = {"cube_height": float(pos[2]), "target_distance": float(np.linalg.norm(pos[:2] - target))}
        return reward, success, success and cfg.terminate_on_success, info
