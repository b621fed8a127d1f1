"""`robot-rl reward bench`: the success classifier against the reward-model goals.

For each Panda task: collect training frames (seeds 0.., randomized twin), collect held-out
frames (seeds from 1,000,000, randomized: other object sizes, masses, camera mounts), train the
classifier on at most 200 positives with `config/reward/panda_<task>.yaml`, and audit it on the
held-out frames, image only and with the proprioceptive check ANDed in. Goals: accuracy >= 97%,
near-miss false-positive rate <= 2%, <= 10 ms per 128x128 frame on the CPU.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from robot_rl.benchmarks.machine import machine_info

GOALS = {"accuracy": 0.97, "near_miss_fpr": 0.02, "ms_per_image": 10.0, "max_positives": 200}
EVAL_SEED = 1_000_000


def bench_task(task: str, work: Path, quick: bool, progress: bool) -> dict[str, Any]:
    from robot_rl.config import load
    from robot_rl.paths import config_dir
    from robot_rl.reward.classifier import ClassifierConfig, train_classifier
    from robot_rl.reward.dataset import collect, load_frames
    from robot_rl.reward.metrics import evaluate

    train_eps, eval_eps = (6, 4) if quick else (150, 60)
    cfg = load(ClassifierConfig, config_dir() / "reward" / f"panda_{task}.yaml", section="classifier")
    if quick:
        cfg.epochs = 1
    train_dir, eval_dir = work / f"{task}_train", work / f"{task}_eval"
    for folder, episodes, seed in ((train_dir, train_eps, 0), (eval_dir, eval_eps, EVAL_SEED)):
        if not (folder / "labels.json").is_file():
            collect("panda", task, folder, episodes=episodes, seed=seed, progress=progress)
    train, held_out = load_frames(train_dir), load_frames(eval_dir)
    model = train_classifier(train, cfg, progress=progress)
    model.save(work / f"{task}_model")
    with_check = evaluate(model, held_out)
    conditions, model.conditions = model.conditions, []
    image_only = evaluate(model, held_out)
    model.conditions = conditions

    def goals(r: dict[str, Any]) -> dict[str, bool]:
        return {
            "accuracy": (r["accuracy"] or 0.0) >= GOALS["accuracy"],
            "near_miss_fpr": r["near_miss_fpr"] is not None and r["near_miss_fpr"] <= GOALS["near_miss_fpr"],
            "ms_per_image": r["ms_per_image"] <= GOALS["ms_per_image"],
            "positives": model.info["positives_used"] <= GOALS["max_positives"],
        }

    return {
        "robot": "panda",
        "task": task,
        "train_frames": train.counts(),
        "train_episodes": train_eps,
        "held_out_frames": held_out.counts(),
        "held_out_episodes": eval_eps,
        "held_out_seeds": f"{EVAL_SEED}..{EVAL_SEED + eval_eps - 1}",
        "positives_used": model.info["positives_used"],
        "frames_used": model.info["frames_used"],
        "temperature": round(model.temperature, 4),
        "train_s": model.info["train_s"],
        "conditions": [f"{c.field}[{c.index}]{c.op}{c.value}" for c in conditions],
        "image_only": {**image_only, "meets": goals(image_only)},
        "with_condition": {**with_check, "meets": goals(with_check)},
    }


def run(
    tasks: list[str] | None = None, quick: bool = False, work_dir: str | None = None, progress: bool = True
) -> dict[str, Any]:
    tasks = tasks or ["pick_cube", "peg_insert"]
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="reward_bench_")
        work = Path(tmp.name)
    else:
        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
    try:
        results = [bench_task(task, work, quick, progress) for task in tasks]
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {
        "benchmark": "reward",
        "machine": machine_info(),
        "quick": quick,
        "goals": GOALS,
        "results": results,
    }


def table(result: dict[str, Any]) -> str:
    head = (
        f"{'task':<12}{'check':<16}{'accuracy':>9}{'precision':>10}{'recall':>8}{'NM FPR':>8}"
        f"{'ms/img':>8}{'pos':>5}"
    )
    lines = [head]
    for r in result["results"]:
        for name in ("image_only", "with_condition"):
            m = r[name]

            def pct(v):
                return f"{v:.1%}" if v is not None else "-"

            lines.append(
                f"{r['task']:<12}{name:<16}{pct(m['accuracy']):>9}{pct(m['precision']):>10}"
                f"{pct(m['recall']):>8}{pct(m['near_miss_fpr']):>8}{m['ms_per_image']:>8.2f}{r['positives_used']:>5}"
            )
    return "\n".join(lines)
