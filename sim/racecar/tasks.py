"""The racecar's task: laps of a walled stadium course, checkpoints along its centreline.

The course is a stadium (two straights joined by semicircles), driven counter-clockwise, with
low-poly box walls on both sides built once. Reward is progress along the centreline toward
the next checkpoint (m per step, negative when going backwards) minus a penalty for every
step in contact with a wall, in the spirit of FastRLAP's checkpoint-progress reward
(Stachowicz et al. 2023). The camera sees red and white kerbs on the walls and centre-line
dashes; the asphalt is optional because the CPU renderer's cost is the screen area it fills.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pybullet

from robot_rl.config import param
from robot_rl.errors import ConfigError
from robot_rl.sim.base import Task

#: lidar-like ray directions in the car frame, deg (left positive)
RAY_ANGLES_DEG = (-60.0, -30.0, 0.0, 30.0, 60.0)
#: checkpoints ahead that the observation shows
CHECKPOINTS_AHEAD = 2
#: longest edge of the visual quads (m): the CPU renderer walks the screen-space bounding box of
#: every triangle, so long ones near the camera are costly
QUAD_M = 0.5


def wrap_angle(a: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def _facing(quad: list[list[float]], normal: tuple[float, float, float]) -> list[list[float]]:
    """The quad's corners in the order that makes its front face look along `normal`.

    The CPU renderer culls back faces, so the winding decides from which side a quad is seen.
    """
    (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = quad[0], quad[1], quad[2]
    ax, ay, az, bx, by, bz = x1 - x0, y1 - y0, z1 - z0, x2 - x0, y2 - y0, z2 - z0
    cross = (ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx)
    return quad if sum(c * n for c, n in zip(cross, normal)) >= 0.0 else quad[::-1]


class StadiumCourse:
    """Centreline of a stadium: straights of `straight_m` along x, semicircles of `radius_m`.

    Arc length s runs counter-clockwise from the start of the lower straight (x = -straight/2,
    y = -radius). Lateral offset is positive to the left of the driving direction (inwards).
    """

    def __init__(self, straight_m: float, radius_m: float):
        self.straight, self.radius = straight_m, radius_m
        self.half = 0.5 * straight_m
        self.arc = math.pi * radius_m
        self.length = 2.0 * (straight_m + self.arc)

    def pose(self, s: float) -> tuple[float, float, float]:
        """(x, y, heading) of the centreline at arc length s (m)."""
        s %= self.length
        L, R, h = self.straight, self.radius, self.half
        if s < L:
            return -h + s, -R, 0.0
        if s < L + self.arc:
            th = -0.5 * math.pi + (s - L) / R
            return h + R * math.cos(th), R * math.sin(th), th + 0.5 * math.pi
        if s < 2 * L + self.arc:
            return h - (s - L - self.arc), R, math.pi
        th = 0.5 * math.pi + (s - 2 * L - self.arc) / R
        return -h + R * math.cos(th), R * math.sin(th), wrap_angle(th + 0.5 * math.pi)

    def curvature(self, s: float) -> float:
        """Centreline curvature at s (1/m): 0 on the straights, 1/radius on the bends."""
        s %= self.length
        on_straight = s < self.straight or self.straight + self.arc <= s < 2 * self.straight + self.arc
        return 0.0 if on_straight else 1.0 / self.radius

    def project(self, x: float, y: float) -> tuple[float, float, float]:
        """(s, lateral offset, course heading) of the nearest centreline point to (x, y).

        The stadium is the set of points at distance `radius` from the segment between the
        bend centres, so the nearest point follows from the nearest point on that segment.
        """
        L, R, h = self.straight, self.radius, self.half
        if -h <= x <= h:
            if y < 0.0:
                return x + h, R + y, 0.0
            return L + self.arc + (h - x), R - y, math.pi
        cx = h if x > h else -h
        dist = math.hypot(x - cx, y)
        th = math.atan2(y, x - cx)
        if x > h:
            s = L + R * (th + 0.5 * math.pi)
        else:
            s = 2 * L + self.arc + R * ((th - 0.5 * math.pi) % (2.0 * math.pi))
        return s % self.length, R - dist, wrap_angle(th + 0.5 * math.pi)

    def wall_boxes(
        self, offset_m: float, thickness_m: float, segments: int
    ) -> list[tuple[tuple[float, float], float, float]]:
        """Boxes (centre xy, yaw, length) whose track-side face lies `offset_m` from the centreline.

        Positive offsets are the inner wall. Bends are polygons of `segments` boxes per
        semicircle, each face tangent to the arc at its middle.
        """
        sign = 1.0 if offset_m > 0 else -1.0
        face_r = self.radius - offset_m  # distance of the track-side face from the bend centre
        centre_r = face_r - sign * 0.5 * thickness_m
        boxes = [
            ((0.0, -centre_r), 0.0, self.straight + thickness_m),
            ((0.0, centre_r), 0.0, self.straight + thickness_m),
        ]
        step = math.pi / segments
        length = 2.0 * face_r * math.tan(0.5 * step) + thickness_m
        for cx, start in ((self.half, -0.5 * math.pi), (-self.half, 0.5 * math.pi)):
            for i in range(segments):
                th = start + (i + 0.5) * step
                boxes.append(
                    ((cx + centre_r * math.cos(th), centre_r * math.sin(th)), th + 0.5 * math.pi, length)
                )
        return boxes


@dataclass
class LapsConfig:
    """The laps task (set fields with `task_config`)."""

    straight_m: float = param(4.0, doc="length of each straight", unit="m", gt=0)
    radius_m: float = param(1.5, doc="centreline radius of the bends", unit="m", gt=0)
    width_m: float = param(1.2, doc="wall-to-wall width of the track", unit="m", gt=0)
    wall_height_m: float = param(0.3, doc="wall height (above the lidar rays)", unit="m", gt=0)
    wall_thickness_m: float = param(0.1, unit="m", gt=0)
    bend_segments: int = param(8, doc="wall boxes per semicircle (low-poly)", gt=1)
    asphalt: bool = param(
        False, doc="draw the track surface (+~1.8 ms per 128x128 frame); off: white floor, centre-line dashes"
    )
    checkpoints: int = param(16, doc="checkpoints evenly spaced along the centreline", gt=1)
    max_episode_steps: int = param(300, doc="policy steps per episode (30 s at 10 Hz, ~3 laps)", gt=0)
    success_laps: int = param(1, doc="laps to complete for success", gt=0)
    max_collisions: int = param(0, doc="collisions allowed before success is reached", ge=0)
    terminate_on_success: bool = param(False, doc="end the episode at success (default: keep lapping)")
    collision_penalty: float = param(1.0, doc="reward subtracted per step in wall contact", unit="m", ge=0)
    flip_penalty: float = param(
        5.0, doc="reward subtracted when the car flips or leaves the track", unit="m", ge=0
    )
    contact_margin_m: float = param(0.01, doc="car within this of a wall counts as contact", unit="m", ge=0)
    start_offset_m: float = param(0.2, doc="start lateral offset drawn in +-this", unit="m", ge=0)
    start_heading_rad: float = param(0.3, doc="start heading error drawn in +-this", unit="rad", ge=0)
    ray_range_m: float = param(4.0, doc="lidar-like ray length (reading when nothing is hit)", unit="m", gt=0)
    ray_height_m: float = param(0.22, doc="ray height (above the car's collision shapes)", unit="m", gt=0)
    noise_offset_m: float = param(
        0.02, doc="lateral offset noise std at sensor_noise_scale 1", unit="m", ge=0
    )
    noise_heading_rad: float = param(
        0.02, doc="heading error noise std at sensor_noise_scale 1", unit="rad", ge=0
    )
    noise_ray_m: float = param(0.03, doc="ray distance noise std at sensor_noise_scale 1", unit="m", ge=0)

    def validate(self, source: str, prefix: str) -> None:
        if self.width_m / 2 >= self.radius_m:
            raise ConfigError(
                source, f"{prefix}.width_m", f"below 2 radius_m ({2 * self.radius_m} m)", self.width_m
            )
        if self.ray_height_m >= self.wall_height_m:
            expected = f"below wall_height_m ({self.wall_height_m} m)"
            raise ConfigError(source, f"{prefix}.ray_height_m", expected, self.ray_height_m)


class Laps(Task):
    """Drive laps; success when `success_laps` laps are done with at most `max_collisions` collisions.

    A collision is the start of wall contact (contact counts within `contact_margin_m`). A lap
    is one course length of centreline progress from the random start. Success is latched for
    the rest of the episode; the episode ends early only when the car flips or leaves the track
    (or at success with `terminate_on_success`). Info: `laps`, `lap_time_s` and
    `lap_collisions` of the last finished lap (-1 before the first), `collisions`,
    `collision` (this step), `progress_m` (centreline metres since the start).
    """

    name: ClassVar[str] = "laps"
    Config = LapsConfig
    RANDOMIZATION: ClassVar[dict[str, float]] = {}

    def __init__(self, config: LapsConfig | None = None):
        self.config = config or LapsConfig()
        self.max_episode_steps = self.config.max_episode_steps
        self.course = StadiumCourse(self.config.straight_m, self.config.radius_m)
        self.spacing = self.course.length / self.config.checkpoints
        self._ray_angles = np.radians(RAY_ANGLES_DEG)

    def build(self, client, robot) -> None:
        cfg = self.config
        self.client, self.robot = client, robot
        self.dt = robot.spec.policy_dt
        tilt = robot.spec.safety.max_tilt_rad
        self.min_up_z = math.cos(tilt if tilt is not None else 1.0)
        boxes = []
        for offset in (0.5 * cfg.width_m, -0.5 * cfg.width_m):
            boxes += self.course.wall_boxes(offset, cfg.wall_thickness_m, cfg.bend_segments)
        # Collision: compound bodies of at most 16 boxes (PyBullet's limit per
        # createCollisionShapeArray), each with an invisible speck as visual, since a body
        # without a visual is drawn from its collision shapes.
        speck = client.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=[0.001] * 3, visualFramePosition=[0, 0, -50]
        )
        self.walls = [
            self._wall_collision(client, boxes[i : i + 16], speck) for i in range(0, len(boxes), 16)
        ]
        # Visual: what the camera can see, as meshes of small quads. The CPU renderer's cost is
        # the screen-space bounding box of every triangle, so hidden faces and long thin
        # triangles are left out. Alternating red and white segments like kerbs give the
        # camera motion cues.
        kerbs: tuple[list, list] = ([], [])
        for box in boxes:
            self._wall_faces(box, kerbs)
        self._mesh_body(client, kerbs[0], [0.8, 0.1, 0.1, 1.0])
        self._mesh_body(client, kerbs[1], [0.92, 0.92, 0.92, 1.0])
        if cfg.asphalt:
            half = 0.5 * cfg.width_m
            surface = self._track_quads(half, 0.0, 1) + self._track_quads(0.0, -half, 1)
        else:
            surface = self._track_quads(0.03, -0.03, 2)  # centre-line dashes
        self._mesh_body(client, surface, [0.3, 0.3, 0.32, 1.0])

    def _wall_collision(self, client, boxes: list, speck: int) -> int:
        cfg = self.config
        half = [[0.5 * length, 0.5 * cfg.wall_thickness_m, 0.5 * cfg.wall_height_m] for _, _, length in boxes]
        pos = [[xy[0], xy[1], 0.5 * cfg.wall_height_m] for xy, _, _ in boxes]
        quat = [[0.0, 0.0, math.sin(0.5 * yaw), math.cos(0.5 * yaw)] for _, yaw, _ in boxes]
        col = client.createCollisionShapeArray(
            [pybullet.GEOM_BOX] * len(boxes),
            halfExtents=half,
            collisionFramePositions=pos,
            collisionFrameOrientations=quat,
        )
        return client.createMultiBody(0, col, speck)

    def _wall_faces(self, box: tuple, kerbs: tuple[list, list]) -> None:
        """Quads (4 corners each) of a wall box's track-side face and top, in pieces <= 0.5 m
        alternating between the two kerb colours."""
        (cx, cy), yaw, length = box
        t, h = self.config.wall_thickness_m, self.config.wall_height_m
        ux, uy, nx, ny = math.cos(yaw), math.sin(yaw), -math.sin(yaw), math.cos(yaw)
        # The track-side face is the long side nearer the centreline.
        left_offset = self.course.project(cx + nx * t, cy + ny * t)[1]
        right_offset = self.course.project(cx - nx * t, cy - ny * t)[1]
        side = 0.5 * t if abs(left_offset) < abs(right_offset) else -0.5 * t
        pieces = max(1, math.ceil(length / QUAD_M))
        for k in range(pieces):
            a, b = -0.5 * length + k * length / pieces, -0.5 * length + (k + 1) * length / pieces
            fa = [cx + ux * a + nx * side, cy + uy * a + ny * side]
            fb = [cx + ux * b + nx * side, cy + uy * b + ny * side]
            ba = [cx + ux * a - nx * side, cy + uy * a - ny * side]
            bb = [cx + ux * b - nx * side, cy + uy * b - ny * side]
            facing = (nx * side, ny * side, 0.0)
            verts = kerbs[(len(kerbs[0]) + len(kerbs[1])) // 8 % 2]
            verts += _facing([[*fa, 0.0], [*fb, 0.0], [*fb, h], [*fa, h]], facing)
            verts += _facing([[*fa, h], [*fb, h], [*bb, h], [*ba, h]], (0.0, 0.0, 1.0))

    def _track_quads(self, left_m: float, right_m: float, every: int) -> list[list[float]]:
        """Quads (4 corners each) between two lateral offsets, ~QUAD_M long, every `every`-th one."""
        course = self.course
        n = max(8, math.ceil(course.length / QUAD_M))
        rows = []
        for i in range(n + 1):
            x, y, h = course.pose(i * course.length / n)
            rows.append([[x - f * math.sin(h), y + f * math.cos(h), 0.0] for f in (left_m, right_m)])
        return [
            corner
            for i, (r0, r1) in enumerate(itertools.pairwise(rows))
            if i % every == 0
            for corner in _facing([r0[0], r0[1], r1[1], r1[0]], (0.0, 0.0, 1.0))
        ]

    @staticmethod
    def _mesh_body(client, quads: list[list[float]], rgba: list[float]) -> int:
        indices = []
        for q in range(0, len(quads), 4):
            indices += [q, q + 1, q + 2, q, q + 2, q + 3]
        vis = client.createVisualShape(pybullet.GEOM_MESH, vertices=quads, indices=indices, rgbaColor=rgba)
        return client.createMultiBody(0, -1, vis)

    # -- episode -----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
        cfg = self.config
        s0 = float(rng.uniform(0.0, self.course.length))
        offset = float(rng.uniform(-cfg.start_offset_m, cfg.start_offset_m))
        heading = float(rng.uniform(-cfg.start_heading_rad, cfg.start_heading_rad))
        x, y, course_heading = self.course.pose(s0)
        # The base frame is the rear-axle centre; offset is to the left of the driving direction.
        x -= offset * math.sin(course_heading)
        y += offset * math.cos(course_heading)
        self.robot.place(x, y, course_heading + heading)
        self._rng = rng
        self.noise_scale = params.get("sensor_noise_scale", 0.0)
        self.s = self.course.project(x, y)[0]
        self.progress = 0.0
        self.steps = 0
        self.laps = 0
        self.lap_start_step = 0
        self.lap_time_s = -1.0
        self.lap_collisions = -1
        self.collisions = 0
        self.collisions_this_lap = 0
        self.in_contact = False
        self.success = False
        return {"start_s": self.s, "course_length_m": self.course.length}

    def evaluate(self) -> tuple[float, bool, bool, dict[str, Any]]:
        cfg = self.config
        state = self.robot.state()
        self.steps += 1
        s, offset, _ = self.course.project(state.x, state.y)
        ds = (s - self.s + 0.5 * self.course.length) % self.course.length - 0.5 * self.course.length
        self.s = s
        self.progress += ds
        contact = self._wall_contact()
        collision = contact and not self.in_contact
        self.in_contact = contact
        self.collisions += collision
        self.collisions_this_lap += collision
        if self.progress >= (self.laps + 1) * self.course.length:
            self.laps += 1
            self.lap_time_s = (self.steps - self.lap_start_step) * self.dt
            self.lap_collisions = self.collisions_this_lap
            self.lap_start_step, self.collisions_this_lap = self.steps, 0
        if self.laps >= cfg.success_laps and self.collisions <= cfg.max_collisions:
            self.success = True
        failed = state.up_z < self.min_up_z or abs(offset) > 0.5 * cfg.width_m + 0.5
        reward = ds - cfg.collision_penalty * contact - cfg.flip_penalty * failed
        terminated = failed or (self.success and cfg.terminate_on_success)
        info = {
            "laps": self.laps,
            "lap_time_s": self.lap_time_s,
            "lap_collisions": self.lap_collisions,
            "collisions": self.collisions,
            "collision": collision,
            "progress_m": self.progress,
            "failed": failed,
        }
        return float(reward), self.success, terminated, info

    def _wall_contact(self) -> bool:
        body, margin = self.robot.body, self.config.contact_margin_m
        return any(self.client.getClosestPoints(body, wall, margin) for wall in self.walls)

    # -- sensing -----------------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        cfg = self.config
        st = self.robot.state()
        s, offset, course_heading = self.course.project(st.x, st.y)
        obs = np.empty(2 + 2 * CHECKPOINTS_AHEAD + len(RAY_ANGLES_DEG), dtype=np.float32)
        obs[0] = wrap_angle(st.yaw - course_heading)
        obs[1] = offset
        cos_y, sin_y = math.cos(st.yaw), math.sin(st.yaw)
        nxt = math.floor(s / self.spacing) + 1
        for i in range(CHECKPOINTS_AHEAD):
            cx, cy, _ = self.course.pose((nxt + i) * self.spacing)
            dx, dy = cx - st.x, cy - st.y
            obs[2 + 2 * i] = cos_y * dx + sin_y * dy
            obs[3 + 2 * i] = -sin_y * dx + cos_y * dy
        obs[2 + 2 * CHECKPOINTS_AHEAD :] = self._rays(st)
        if self.noise_scale > 0.0:
            std = np.full(obs.shape, cfg.noise_ray_m)
            std[0], std[1 : 2 + 2 * CHECKPOINTS_AHEAD] = cfg.noise_heading_rad, cfg.noise_offset_m
            obs += (self._rng.normal(0.0, 1.0, size=obs.shape) * std * self.noise_scale).astype(np.float32)
        return obs

    def _rays(self, st) -> np.ndarray:
        cfg = self.config
        z, reach = cfg.ray_height_m, cfg.ray_range_m
        ends = [
            [st.x + reach * math.cos(a), st.y + reach * math.sin(a), z] for a in st.yaw + self._ray_angles
        ]
        hits = self.client.rayTestBatch([[st.x, st.y, z]] * len(ends), ends)
        return np.array([cfg.ray_range_m * (h[2] if h[0] >= 0 else 1.0) for h in hits])


TASKS: dict[str, type[Task]] = {"laps": Laps}
