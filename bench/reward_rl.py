"""Learned reward in the loop: `rlpd` on panda pick_cube trained on a reward classifier's output
versus the task's true reward, same config, same steps, same seeds. Goal: the learned-reward runs
reach >= 90% of the true-reward runs' success rate.

Both arms use config/train/panda_pick_cube_bench.yaml and 20 scripted demonstrations. In the
learned arm the training env is wrapped in `LearnedReward` (reward and success from the
classifier, terminating on its success; the demonstrations' rewards are the classifier's too), and
evaluation always measures the TRUE success on the plain twin. Runs are resumable: re-running the
command continues unfinished runs from their checkpoints and skips finished ones.

    .venv/bin/python bench/reward_rl.py --model runs/reward_bench/pick_cube_model --seeds 2
    .venv/bin/python bench/reward_rl.py --model MODEL --report          # only read the runs
    .venv/bin/python bench/reward_rl.py --model MODEL --smoke           # 300 steps, one seed
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

CONFIG = "panda_pick_cube_bench.yaml"
DEMO_EPISODES = 20


def record_demos(out: Path, model=None) -> Path:
    """20 successful scripted episodes; with `model`, their rewards are the model's."""
    from robot_rl.demos import DemoWriter, env_metadata, record_episode
    from robot_rl.reward import LearnedReward
    from robot_rl.sim import make_expert, make_twin

    folder = out / ("demos_learned" if model is not None else "demos_true")
    if (folder / "metadata.json").is_file():
        return folder
    env = make_twin("panda", "pick_cube", task_config=_task_config(model))
    if model is not None:
        env = LearnedReward(env, model)
    writer = DemoWriter(folder, {**env_metadata(env.unwrapped), "source": "scripted expert", "noise": 0.0})
    expert = make_expert(env, seed=0)
    kept = attempt = 0
    while kept < DEMO_EPISODES and attempt < 3 * DEMO_EPISODES:
        episode = record_episode(env, expert.act, seed=attempt, on_reset=expert.reset)
        attempt += 1
        # kept on the arm's own success signal, as an operator with only that signal would
        if episode.succeeded:
            writer.write(episode)
            kept += 1
    env.close()
    return folder


def _task_config(model) -> dict[str, Any]:
    """With a model only the model ends an episode: were the twin to end it on the true success the
    model missed, the learner would see a terminal step worth 0 at the goal and learn to avoid it."""
    return {} if model is None else {"terminate_on_success": False}


def finished(run_dir: Path, steps: int) -> bool:
    rows = read_rows(run_dir)
    return bool(rows) and rows[-1].get("step", 0) >= steps


def read_rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_arm(arm: str, seed: int, out: Path, model_dir: Path, steps: int | None) -> Path:
    from robot_rl.paths import config_dir
    from robot_rl.reward import LearnedReward, load_model
    from robot_rl.run_config import load_train_config
    from robot_rl.train import Trainer

    model = load_model(model_dir) if arm == "learned" else None
    demos = record_demos(out, model)
    overrides: dict[str, Any] = {"seed": seed, "demos": str(demos)}
    if steps is not None:
        overrides.update(steps=steps, eval_every=min(1000, steps), checkpoint_every=min(1000, steps))
    config = load_train_config(str(config_dir() / "train" / CONFIG), **overrides)
    run_dir = out / f"{arm}_seed{seed}"
    if finished(run_dir, config.steps):
        return run_dir
    resume = (run_dir / "checkpoint.pt").is_file()
    trainer = Trainer(config, run_dir, resume=resume)
    if model is not None:
        # the learner only ever sees the classifier's reward; its evaluations use the true success
        from robot_rl.sim import make_twin

        trainer.env.close()
        twin = make_twin("panda", "pick_cube", randomize=config.randomize, task_config=_task_config(model))
        trainer.env = LearnedReward(twin, model)
    trainer.run()
    return run_dir


def report(out: Path, seeds: int) -> dict[str, Any]:
    import numpy as np

    arms = {}
    for arm in ("true", "learned"):
        finals = []
        for seed in range(seeds):
            rows = [r for r in read_rows(out / f"{arm}_seed{seed}") if r.get("success_rate") is not None]
            if rows:
                # the mean of the last three evaluations: one 20-episode evaluation is noisy
                finals.append(float(np.mean([r["success_rate"] for r in rows[-3:]])))
        arms[arm] = {
            "seeds_done": len(finals),
            "final_success": finals,
            "mean": float(np.mean(finals)) if finals else None,
        }
    ratio = None
    if arms["true"]["mean"] and arms["learned"]["mean"] is not None:
        ratio = arms["learned"]["mean"] / arms["true"]["mean"]
    return {
        "benchmark": "reward_rl",
        "arms": arms,
        "ratio": ratio,
        "goal": 0.9,
        "meets": ratio is not None and ratio >= 0.9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="pick_cube reward model folder (robot-rl reward train)"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="runs/reward_rl", help="run folder (default runs/reward_rl)")
    parser.add_argument("--steps", type=int, help="override the config's env steps")
    parser.add_argument("--smoke", action="store_true", help="300 steps, seed 0: checks the plumbing only")
    parser.add_argument("--report", action="store_true", help="only summarize the runs in --out")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds, steps = (1, 300) if args.smoke else (args.seeds, args.steps)
    if not args.report:
        for seed in range(seeds):
            for arm in ("true", "learned"):
                run_arm(arm, seed, out, Path(args.model), steps)
    result = report(out, seeds)
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
