"""Benchmarks behind `robot-rl bench ...`: each prints one JSON object (figures go to docs/benchmarks.md).

Every module has `run(..., progress) -> dict` and `table(result) -> str`; `BENCHMARKS` names them
with their help text and the arguments the command line's flags become (--quick, --robots,
--episodes). Modules are imported only when their benchmark runs; `machine` and `seed_stats` are
helpers (the machine record, statistics over seeds) that benchmark scripts share.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

Options = dict[str, Any]  # quick, robots, episodes from the command line


def _quick_only(o: Options) -> dict[str, Any]:
    return {"quick": o["quick"]}


def _sim(o: Options) -> dict[str, Any]:
    counts = dict(steps=20, resets=10, frames=3, repeats=1) if o["quick"] else {}
    return {"robots": o["robots"], **counts}


#: name -> (help, module, how the command-line options become run() arguments)
BENCHMARKS: dict[str, tuple[str, str, Callable[[Options], dict[str, Any]]]] = {
    "sim": ("twin speed", "sim", _sim),
    "experts": (
        "scripted-expert success",
        "experts",
        lambda o: {"robots": o["robots"], "episodes": 3 if o["quick"] else o["episodes"]},
    ),
    "learner": ("updates/s vs Stable-Baselines3", "learner", _quick_only),
    "transport": ("actor/learner transitions/s and weight latency over loopback", "transport", _quick_only),
    "loop": ("ROS graph observation-to-command latency and jitter", "loop", _quick_only),
    "export": ("C policy instructions, flash, RAM and error in QEMU", "export", _quick_only),
    "resets": (
        "scripted reset success and duration (200 per robot)",
        "resets",
        lambda o: {"robots": o["robots"], "resets": 5 if o["quick"] else 200},
    ),
    "safety": (
        "100,000 adversarial actions per robot through the safety layer",
        "safety",
        lambda o: {"robots": o["robots"], "steps": 500 if o["quick"] else 100_000},
    ),
    "equivalence": (
        "the same policy and seed through the in-process twin and through the ROS graph (twin node)",
        "equivalence",
        lambda o: {"robots": o["robots"], "quick": o["quick"]},
    ),
    "safety_graph": (
        "20,000 adversarial actions per robot through the ROS controller node, the twin node as driver",
        "graph_safety",
        lambda o: {"robots": o["robots"], "quick": o["quick"]},
    ),
}


def run_benchmark(
    name: str, options: Options, progress: bool
) -> tuple[dict[str, Any], Callable[[dict], str]]:
    """(the benchmark's result, its table function)."""
    _, module_name, arguments = BENCHMARKS[name]
    module = importlib.import_module(f"robot_rl.benchmarks.{module_name}")
    return module.run(**arguments(options), progress=progress), module.table
