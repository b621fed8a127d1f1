"""Build twin envs and experts by robot and task name."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from robot_rl.config import from_dict
from robot_rl.errors import ConfigError
from robot_rl.spec import load_robot_spec

#: robot name -> module defining `Robot`, `TASKS` (name -> Task class) and `EXPERTS` (name -> Expert class)
ROBOT_MODULES = {
    "panda": "robot_rl.sim.panda",
    "ur5e": "robot_rl.sim.ur5e",
    "crazyflie": "robot_rl.sim.crazyflie",
    "racecar": "robot_rl.sim.racecar",
}


def _module(robot: str) -> ModuleType:
    if robot not in ROBOT_MODULES:
        raise ConfigError("", "robot", f"one of: {', '.join(ROBOT_MODULES)}", robot)
    return importlib.import_module(ROBOT_MODULES[robot])


def tasks_of(robot: str) -> list[str]:
    return list(_module(robot).TASKS)


def make_twin(
    robot: str = "panda",
    task: str = "reach",
    *,
    cameras: Sequence[str] = (),
    randomize: bool = False,
    spec: str | Path | None = None,
    spec_overrides: dict[str, Any] | None = None,
    task_config: dict[str, Any] | None = None,
    robot_options: dict[str, Any] | None = None,
    render_mode: str | None = None,
    gui: bool = False,
):
    """A twin env: `robot` names a spec in config/robots (or pass `spec=` a path to one).

    `task_config` sets fields of the task's config dataclass, `robot_options` keyword
    arguments of the robot class (e.g. the quadrotor's action mode).
    """
    from robot_rl.sim.base import TwinEnv

    robot_spec = load_robot_spec(spec or robot, spec_overrides)
    module = _module(robot_spec.name)
    if task not in module.TASKS:
        raise ConfigError("", "task", f"a {robot_spec.name} task: {', '.join(module.TASKS)}", task)
    task_cls = module.TASKS[task]
    config_cls = getattr(task_cls, "Config", None)
    task_obj = (
        task_cls(from_dict(config_cls, task_config or {}, source=f"{robot_spec.name}/{task} task config"))
        if config_cls
        else task_cls()
    )
    return TwinEnv(
        robot_spec,
        module.Robot,
        task_obj,
        cameras=cameras,
        randomize=randomize,
        robot_options=robot_options,
        render_mode=render_mode,
        gui=gui,
    )


def make_expert(env, noise: float = 0.0, seed: int = 0):
    """The scripted expert for an env's task (privileged access to the twin)."""
    twin = env.unwrapped
    module = _module(twin.robot_spec.name)
    expert_cls = module.EXPERTS[twin.task.name]
    return expert_cls(twin, noise=noise, rng=np.random.default_rng(seed))
