"""`robot-rl reward ...`: collect labelled frames, train and audit success detectors, benchmark them."""

from __future__ import annotations

import argparse
import json

from robot_rl.errors import RobotRLError

DEFAULT_CONFIG = {"pick_cube": "panda_pick_cube.yaml", "peg_insert": "panda_peg_insert.yaml"}


def _classifier_config(args: argparse.Namespace, meta: dict):
    from robot_rl.config import from_dict, load, to_dict
    from robot_rl.paths import config_dir
    from robot_rl.reward.classifier import ClassifierConfig

    path = args.config
    task = meta.get("task")
    if path is None and task in DEFAULT_CONFIG:
        path = config_dir() / "reward" / DEFAULT_CONFIG[task]
    cfg = load(ClassifierConfig, path, section="classifier") if path else ClassifierConfig()
    data = to_dict(cfg)
    if args.config is None:
        # the task's default config names the spec's cameras: keep those the frames have
        data["cameras"] = [c for c in data["cameras"] if c in meta.get("cameras", [])]
    for key in ("epochs", "max_positives", "threshold", "seed"):
        if getattr(args, key, None) is not None:
            data[key] = getattr(args, key)
    if args.cameras:
        data["cameras"] = [c for c in args.cameras.split(",") if c]
    if args.condition is not None:
        data["conditions"] = list(args.condition)
    return from_dict(ClassifierConfig, data, source="command line")


def cmd_collect(args: argparse.Namespace) -> int:
    from robot_rl.reward.dataset import collect

    cameras = tuple(c for c in (args.cameras or "").split(",") if c)
    policy = None
    if args.policy:
        from robot_rl.run_config import load_checkpoint

        _, agent = load_checkpoint(args.policy)
        policy = lambda obs: agent.policy(obs, deterministic=False)  # noqa: E731
    result = collect(
        args.robot,
        args.task,
        args.out,
        episodes=args.episodes,
        seed=args.seed,
        cameras=cameras,
        randomize=not args.nominal,
        every=args.every,
        progress=not args.json,
        policy=policy,
    )
    print(json.dumps(result) if args.json else f"{result['frames']} frames in {args.out}: {result['labels']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from robot_rl.reward.dataset import load_frames

    frames = load_frames(args.frames)
    task = frames.meta.get("task")
    if args.backend == "classifier":
        from robot_rl.reward.classifier import train_classifier

        model = train_classifier(frames, _classifier_config(args, frames.meta), progress=not args.json)
    else:
        from robot_rl.reward.base import ProprioCondition
        from robot_rl.reward.vlm import ClipReward

        if not args.clip_dir or not args.text:
            raise RobotRLError(
                "--backend clip needs --clip-dir DIR (a local CLIP model) and --text 'task done'"
            )
        cameras = [c for c in (args.cameras or "").split(",") if c] or list(frames.meta["cameras"])
        model = ClipReward(
            args.clip_dir,
            args.text,
            args.failure_text or "",
            cameras=cameras,
            threshold=args.threshold or 0.5,
            conditions=[ProprioCondition.parse(t) for t in args.condition or []],
            state_layout=frames.meta.get("state_layout", []),
            info={"robot": frames.meta.get("robot"), "task": task},
        )
        if not args.zero_shot:
            model.adapt(frames, seed=args.seed or 0)
    model.save(args.out)
    summary = {"model": str(args.out), "kind": model.kind, **model.info}
    print(
        json.dumps(summary) if args.json else f"reward model written to {args.out}: {json.dumps(model.info)}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from robot_rl.reward.base import load_model
    from robot_rl.reward.dataset import load_frames
    from robot_rl.reward.metrics import evaluate

    model = load_model(args.model)
    frames = load_frames(args.frames)
    if args.threshold is not None:
        model.threshold = args.threshold
    if args.no_condition:
        model.conditions = []
    result = {"model": str(args.model), "frames_dir": str(args.frames), **evaluate(model, frames)}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<26} {value}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from robot_rl.benchmarks import reward

    result = reward.run(
        tasks=args.tasks or None, quick=args.quick, work_dir=args.work_dir, progress=not args.json
    )
    print(json.dumps(result) if args.json else reward.table(result))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add `reward` and its actions to the `robot-rl` subcommands."""
    p = subparsers.add_parser("reward", help="learned success detectors: collect frames, train, audit")
    sub = p.add_subparsers(dest="reward_command", required=True, metavar="ACTION")

    c = sub.add_parser(
        "collect", help="frames from the twin labelled by the simulator (success/near miss/failure)"
    )
    c.add_argument("--robot", default="panda")
    c.add_argument("--task", default="pick_cube", help="pick_cube, peg_insert (panda) or laps (racecar)")
    c.add_argument("--out", required=True, help="frame folder (created, or appended to)")
    c.add_argument("--episodes", type=int, default=100, help="episodes to run (default 100)")
    c.add_argument("--seed", type=int, default=0, help="first episode seed (episode i uses seed+i)")
    c.add_argument("--cameras", help="comma-separated spec cameras (default: all of the robot's)")
    c.add_argument("--every", type=int, default=2, help="keep every N-th step's frame (default 2)")
    c.add_argument("--nominal", action="store_true", help="domain randomization off (default on)")
    c.add_argument("--json", action="store_true", help="print one JSON object, no progress bar")
    c.add_argument(
        "--policy",
        metavar="RUN_DIR",
        help="run a trained policy's checkpoint instead of the experts (hard negatives: what a policy "
        "trained on a reward model really does, labelled by the simulator; append to the training frames)",
    )
    c.set_defaults(func=cmd_collect)

    t = sub.add_parser("train", help="train a reward model on collected frames")
    t.add_argument("frames", metavar="FRAMES", help="frame folder from robot-rl reward collect")
    t.add_argument("--out", required=True, help="model folder to write")
    t.add_argument("--backend", choices=["classifier", "clip"], default="classifier")
    t.add_argument("--config", help="YAML with a classifier: section (default config/reward/<task>)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--max-positives", type=int, dest="max_positives", help="success frames used at most")
    t.add_argument("--threshold", type=float, help="success probability threshold")
    t.add_argument("--cameras", help="comma-separated cameras (default: all in the frames)")
    t.add_argument(
        "--condition",
        action="append",
        help="proprioceptive check ANDed in, e.g. 'gripper_width>0.01' (repeat)",
    )
    t.add_argument("--seed", type=int)
    t.add_argument("--clip-dir", help="clip backend: local directory of a CLIP model")
    t.add_argument("--text", help="clip backend: the task done, in words")
    t.add_argument("--failure-text", help="clip backend: the task not done (default derived from --text)")
    t.add_argument("--zero-shot", action="store_true", help="clip backend: no head adaptation")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "eval", help="accuracy, precision, recall, near-miss FPR, ms per frame on labelled frames"
    )
    e.add_argument("model", metavar="MODEL", help="model folder from robot-rl reward train")
    e.add_argument("frames", metavar="FRAMES", help="held-out frame folder (other seeds)")
    e.add_argument("--threshold", type=float, help="override the model's threshold")
    e.add_argument(
        "--no-condition", action="store_true", help="drop the proprioceptive condition (image only)"
    )
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    b = sub.add_parser("bench", help="collect, train and audit on panda pick_cube and peg_insert (the goals)")
    b.add_argument("--tasks", nargs="*", help="only these panda tasks")
    b.add_argument("--quick", action="store_true", help="tiny counts: a smoke run, not a measurement")
    b.add_argument("--work-dir", help="keep frames and models here (default a temporary folder)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)
    return p
