"""Frame labels from the twin's true state, and the perturbed experts that produce near misses.

Every recorded frame gets one of four labels read from the simulator (never from the images):

- `success`: the task's own success test holds (cube above the lift height, peg deeper than the
  insertion depth, a lap just completed);
- `near_miss`: a hard negative that looks almost like success (cube grasped but not lifted, peg
  at the hole but not inserted, car on the course just before completing the lap);
- `failure`: any other frame;
- `boundary`: within `margin` of the success threshold (the cube 1 cm below the lift height, the
  peg 4 mm short of the depth). Whether such a frame shows success is decided by millimetres no
  128x128 camera resolves, so these frames are stored but left out of training and of the metrics.

Labellers only read the twin (`env.unwrapped.task`, `.robot`); they never change its state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError

LABELS = ("failure", "near_miss", "success", "boundary")


@dataclass
class FrameLabel:
    label: str
    #: simulator quantities behind the label (for auditing), plain floats
    facts: dict[str, float]

    @property
    def success(self) -> bool:
        return self.label == "success"


# -- panda pick_cube ---------------------------------------------------------------------------
def label_pick_cube(twin, margin: float = 0.01) -> FrameLabel:
    """Success: cube centre above lift_height. Near miss: cube held between closed fingers, or
    off the table, but not lifted that high."""
    task, robot = twin.task, twin.robot
    cube, _ = task.cube_pose()
    tcp, _ = robot.tcp_pose()
    lift = task.config.lift_height
    size = task.cube_size
    width = robot.gripper_width()
    grasped = task.holds(cube)
    raised = float(cube[2]) > 0.5 * size + 0.005
    facts = {
        "cube_z": float(cube[2]),
        "lift_height": float(lift),
        "gripper_width": width,
        "grasped": float(grasped),
        "tcp_cube_m": float(np.linalg.norm(tcp - cube)),
    }
    if cube[2] > lift:
        label = "success"
    elif cube[2] > lift - margin:
        label = "boundary"
    elif grasped or raised:
        label = "near_miss"
    else:
        label = "failure"
    return FrameLabel(label, facts)


# -- panda peg_insert --------------------------------------------------------------------------
def label_peg_insert(twin, margin: float = 0.004) -> FrameLabel:
    """Success: the task's test (peg bottom inside the hole outline, deeper than insert_depth).
    Near miss: the peg bottom within 1 cm of the hole axis and at most 2 cm above its top."""
    task = twin.task
    cfg = task.config
    bottom, _ = task.peg_bottom()
    hole = task.hole
    xy = float(np.max(np.abs(bottom[:2] - hole[:2])))
    inside = xy < 0.5 * cfg.peg_width + cfg.clearance + 1e-3
    depth = float(hole[2] - bottom[2])
    facts = {"insert_depth": depth, "xy_error_m": xy, "required_depth": float(cfg.insert_depth)}
    if inside and depth >= cfg.insert_depth:
        label = "success"
    elif inside and depth >= cfg.insert_depth - margin:
        label = "boundary"
    elif xy < 0.01 and depth > -0.02:
        label = "near_miss"
    else:
        label = "failure"
    return FrameLabel(label, facts)


# -- racecar laps ------------------------------------------------------------------------------
def label_laps(twin, window_m: float = 1.0) -> FrameLabel:
    """Success: the first lap completed no more than `window_m` ago. Near miss: within `window_m`
    before completing it. Frames later in the lap after success are `boundary` (success is latched
    by the task but nothing in the frame shows it)."""
    task = twin.task
    length = task.course.length
    progress = float(task.progress)
    facts = {"progress_m": progress, "lap_m": float(length), "laps": float(task.laps)}
    if task.success and progress <= length + window_m:
        label = "success"
    elif task.success:
        label = "boundary"
    elif length - window_m <= progress < length:
        label = "near_miss"
    else:
        label = "failure"
    return FrameLabel(label, facts)


LABELLERS: dict[tuple[str, str], Callable[..., FrameLabel]] = {
    ("panda", "pick_cube"): label_pick_cube,
    ("ur5e", "pick_cube"): label_pick_cube,  # the arms share the task (sim/arm_tasks.py)
    ("panda", "peg_insert"): label_peg_insert,
    ("racecar", "laps"): label_laps,
}


def labeller(robot: str, task: str) -> Callable[..., FrameLabel]:
    key = (robot, task)
    if key not in LABELLERS:
        known = ", ".join(f"{r}/{t}" for r, t in LABELLERS)
        raise ConfigError("", "robot/task", f"a task with simulator labels ({known})", f"{robot}/{task}")
    return LABELLERS[key]


# -- perturbed experts -------------------------------------------------------------------------
#: behaviour -> share of episodes; near-miss behaviours stop short of success on purpose
BEHAVIOURS: dict[tuple[str, str], dict[str, float]] = {
    ("panda", "pick_cube"): {"expert": 0.4, "noisy": 0.1, "hold_low": 0.3, "miss": 0.2},
    ("ur5e", "pick_cube"): {"expert": 0.4, "noisy": 0.1, "hold_low": 0.3, "miss": 0.2},
    ("panda", "peg_insert"): {"expert": 0.4, "noisy": 0.1, "hover": 0.25, "partial": 0.25},
    ("racecar", "laps"): {"expert": 0.7, "noisy": 0.3},
}


#: task settings while collecting: the arms' episodes go on after success, so success frames show the
#: state held, not only its first instant; the car's expert laps in ~75 steps: stop soon after (later
#: frames are all `boundary`)
COLLECTION_TASK_CONFIG: dict[tuple[str, str], dict[str, Any]] = {
    ("panda", "pick_cube"): {"terminate_on_success": False},
    ("ur5e", "pick_cube"): {"terminate_on_success": False},
    ("panda", "peg_insert"): {"terminate_on_success": False},
    ("racecar", "laps"): {"max_episode_steps": 110},
}


def task_config_for_collection(robot: str, task: str) -> dict[str, Any]:
    return dict(COLLECTION_TASK_CONFIG.get((robot, task), {}))


def make_behaviour(env, behaviour: str, rng: np.random.Generator):
    """An object with `reset()` and `act(obs)`: the scripted expert, or a version of it perturbed
    so that it stops just short of success (the source of near misses)."""
    from robot_rl.sim import make_expert

    twin = env.unwrapped
    noise = 0.3 if behaviour == "noisy" else 0.0
    expert = make_expert(env, noise=noise, seed=int(rng.integers(2**31)))
    key = (twin.robot_spec.name, twin.task.name)
    if behaviour in ("expert", "noisy"):
        return expert
    if key in PERTURBED:
        return PERTURBED[key](expert, behaviour, rng)
    raise ConfigError("", "behaviour", f"one of {list(BEHAVIOURS.get(key, {}))}", behaviour)


class _PickPerturbed:
    """hold_low: grasp, then lift the cube only part of the way; miss: close the gripper just above
    the cube (0.5-2 cm over its top), then lift the empty hand."""

    def __init__(self, expert, behaviour: str, rng: np.random.Generator):
        self.expert, self.behaviour, self.rng = expert, behaviour, rng

    def reset(self) -> None:
        self.expert.reset()
        task = self.expert.env.task
        rest = 0.5 * task.cube_size
        # cube centre height to hold at: between on the table and 2 cm under the lift height
        self.hold_z = float(self.rng.uniform(rest, task.config.lift_height - 0.02))
        angle = self.rng.uniform(0.0, 2.0 * np.pi)
        self.offset = np.array(
            [*(self.rng.uniform(0.0, 0.01) * np.array([np.cos(angle), np.sin(angle)])), 0.0]
        )
        self.offset[2] = rest + self.rng.uniform(0.005, 0.02)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        e = self.expert
        if self.behaviour == "hold_low" and e.phase == "lift":
            task = e.env.task
            cube, _ = task.cube_pose()
            tcp, _ = e.robot.tcp_pose()
            target = np.array([tcp[0], tcp[1], tcp[2] + (self.hold_z - cube[2])])
            return np.clip(e.action(target, 1.0), -1.0, 1.0).astype(np.float32)
        if self.behaviour == "miss" and e.phase in ("approach", "descend", "close"):
            task = e.env.task
            cube, _ = task.cube_pose()
            tcp, _ = e.robot.tcp_pose()
            goal = cube + self.offset
            if e.phase == "approach":
                above = goal + np.array([0.0, 0.0, e.hover])
                if np.linalg.norm(tcp[:2] - goal[:2]) < 0.006:
                    e.phase = "descend"
                return np.clip(e.action(above, -1.0), -1.0, 1.0).astype(np.float32)
            if e.phase == "descend":
                low = goal
                if np.linalg.norm(tcp - low) < 0.006:
                    e.phase = "close"
                return np.clip(e.action(low, -1.0), -1.0, 1.0).astype(np.float32)
        return e.act(obs)


class _PegPerturbed:
    """hover: bring the peg over the hole and hold it 0-1.5 cm above the opening; partial: push it
    in only part of the insertion depth."""

    def __init__(self, expert, behaviour: str, rng: np.random.Generator):
        self.expert, self.behaviour, self.rng = expert, behaviour, rng

    def reset(self) -> None:
        self.expert.reset()
        cfg = self.expert.env.task.config
        self.hover = float(self.rng.uniform(0.0, 0.015))
        self.partial = float(self.rng.uniform(0.0, cfg.insert_depth - 0.006))

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        e = self.expert
        task = e.env.task
        if e.phase == "insert" or (self.behaviour == "hover" and e.phase == "lower"):
            bottom, _ = task.peg_bottom()
            tcp, _ = e.robot.tcp_pose()
            offset = tcp - bottom
            z = task.hole[2] + self.hover if self.behaviour == "hover" else task.hole[2] - self.partial
            if self.behaviour == "hover" or e.phase == "insert":
                target = np.array([task.hole[0], task.hole[1], max(z, bottom[2] - e.descend_step)]) + offset
                return np.clip(e.action(target, 1.0, integral=True), -1.0, 1.0).astype(np.float32)
        return e.act(obs)


#: (robot, task) -> the near-miss versions of its expert
PERTURBED: dict[tuple[str, str], type] = {
    ("panda", "pick_cube"): _PickPerturbed,
    ("ur5e", "pick_cube"): _PickPerturbed,
    ("panda", "peg_insert"): _PegPerturbed,
}
