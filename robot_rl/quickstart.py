"""`robot-rl demo` (`make demo`): the main job on the default twin task, end to end.

Scripted-expert demonstrations, RLPD training with the smoke config, evaluation on unseen seeds
with a video, and the trained policy exported to C and checked on the host: what a new user runs
first, in a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robot_rl.errors import RobotRLError
from robot_rl.registry import DEFAULT_ROBOT, DEFAULT_TASK


def _demo_out(path: str) -> tuple[Path, str]:
    """The demo's output folder: `path` itself, or a fresh timestamped folder inside it when it
    already holds results (so running the demo again never overwrites the last run)."""
    import time

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise RobotRLError(f"--out {out} is a file: choose a folder for the demo's results")
    if out.is_dir() and any(out.iterdir()):
        fresh = out / time.strftime("%Y%m%d-%H%M%S")
        return fresh, f"{out} already holds results: this run writes to {fresh}"
    return out, ""


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: scripted demonstrations, RLPD training, evaluation and a video on a twin task."""
    import time

    from robot_rl import evaluate
    from robot_rl.demos import DemoWriter, env_metadata, expert_episodes
    from robot_rl.paths import config_dir
    from robot_rl.run_config import load_checkpoint, load_train_config
    from robot_rl.sim import make_twin
    from robot_rl.train import Trainer

    started = time.perf_counter()
    # Bad robot, task or camera fail here, before anything is written.
    env = make_twin(args.robot, args.task, randomize=args.randomize)
    spec = env.robot_spec
    names = tuple(c for c in args.cameras.split(",") if c)
    camera = spec.camera(names[0]).name if names else None
    if camera is None and spec.cameras:
        camera = "front" if "front" in {c.name for c in spec.cameras} else spec.cameras[0].name
    train_yaml = config_dir() / "train" / "panda_reach_smoke.yaml"
    out, note = _demo_out(args.out)
    if note:
        print(note, file=sys.stderr)

    # 1. scripted-expert demonstrations (successful episodes only)
    demos = out / "demos"
    writer = DemoWriter(demos, {**env_metadata(env), "source": "scripted expert", "noise": 0.0})
    for _ in expert_episodes(env, args.task, 3 * args.episodes, args.seed, 0.0, writer, False, args.episodes):
        pass
    kept = len(writer.metadata["episodes"])
    if kept < args.episodes:
        raise RobotRLError(
            f"the {args.robot}/{args.task} expert succeeded in only {kept} of {3 * args.episodes} episodes: "
            "pick a task whose expert works (robot-rl bench experts)"
        )

    # 2. RLPD training from those demonstrations (the smoke config; tuned for panda reach)
    config = load_train_config(
        str(train_yaml),
        robot=args.robot,
        task=args.task,
        demos=str(demos),
        seed=args.seed,
        steps=args.steps,
        eval_episodes=args.episodes,
        randomize=args.randomize,
    )
    run_dir = out / "train"
    trained = Trainer(config, run_dir).run()

    # 3. evaluation of the final checkpoint on unseen seeds, with a video of the first episodes
    _, agent = load_checkpoint(run_dir)
    env = make_twin(args.robot, args.task, randomize=args.randomize)
    video_episodes = min(args.video_episodes, args.episodes) if camera else 0
    try:
        result = evaluate.run_episodes(
            agent.policy, env, args.episodes, frames=video_episodes, frames_camera=camera, progress=True
        )
    finally:
        env.close()
    video = out / "eval.gif" if video_episodes else None
    if video is not None:
        evaluate.write_video(evaluate.video_frames(result), video, result.video_fps)

    wall = time.perf_counter() - started
    paths = {
        "demonstrations": str(demos),
        "run_directory": str(run_dir),
        "learning_curve": str(run_dir / "curve.png"),
        "checkpoint": str(run_dir / "checkpoint.pt"),
        "video": str(video) if video else None,
        "summary": str(out / "summary.json"),
    }
    summary = {
        "robot": args.robot,
        "task": args.task,
        "randomized": args.randomize,
        "demonstrations": kept,
        "train_config": str(train_yaml),
        "train": trained,
        "eval": {"first_seed": evaluate.EVAL_SEED, **result.as_dict()},
        "paths": paths,
        "wall_s": round(wall, 1),
    }
    # 4. the trained policy as dependency-free C, compiled on the host and checked on its golden vectors
    from robot_rl.export import verify_export

    exported = verify_export(run_dir, out / "export_c")
    paths["exported_c"] = str(out / "export_c")
    summary["export"] = exported.as_dict()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    ev = result.summary()
    cycle = ev["cycle_time_median_s"]
    print(
        f"{args.robot}/{args.task}: {kept} scripted demonstrations -> RLPD, {trained['steps']} env steps "
        f"in {trained['wall_s']:.0f} s -> {ev['success_rate']:.0%} success over {ev['episodes']} "
        f"evaluation episodes" + (f" (median cycle time {cycle:.1f} s)" if cycle is not None else "")
    )
    print(f"  demonstrations   {demos}")
    print(f"  run directory    {run_dir} (config.yaml, metrics.jsonl)")
    again = f"robot-rl eval {run_dir}" + (" --video eval.mp4" if camera else "")
    print(f"  checkpoint       {run_dir / 'checkpoint.pt'} (try: {again})")
    print(f"  learning curve   {run_dir / 'curve.png'}")
    if video is not None:
        print(f"  video            {video} ({video_episodes} episodes, {camera} camera)")
    else:
        print(f"  video            none ({spec.name} has no camera)")
    checked = (
        f"host gcc build, golden vectors pass, max error {exported.host_max_abs_error:.1e}"
        if exported.host_selftest
        else "not compiled: " + "; ".join(exported.notes)
    )
    print(f"  exported C       {out / 'export_c'} ({checked})")
    print(f"  summary          {out / 'summary.json'}")
    print(f"  total time       {wall:.0f} s")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add `demo` to the `robot-rl` subcommands."""
    p = subparsers.add_parser(
        "demo",
        help="the main job: expert demonstrations, RLPD training, evaluation and a video (~3 min)",
    )
    p.add_argument(
        "--robot", default=DEFAULT_ROBOT, help=f"robot spec name or path (default {DEFAULT_ROBOT})"
    )
    p.add_argument("--task", default=DEFAULT_TASK, help=f"task name (default {DEFAULT_TASK})")
    p.add_argument("--cameras", default="", help="spec camera for the video (default front)")
    p.add_argument(
        "--randomize", action="store_true", help="domain randomization in demonstrations, training and eval"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the demonstrations and of training")
    p.add_argument(
        "--episodes", type=int, default=20, help="demonstrations to record and evaluation episodes"
    )
    p.add_argument(
        "--out",
        default="demo_out",
        help="folder for the results (default demo_out; a timestamped folder inside it if it holds results)",
    )
    # smaller budgets for quick checks: not for users, so not in --help
    p.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--video-episodes", type=int, default=3, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)
    return p
