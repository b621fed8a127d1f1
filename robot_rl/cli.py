"""`robot-rl`: the command line. Each subcommand is a thin layer over a library function.

Errors a user can cause print one line (`error: ...`) and exit with status 2; they never
surface as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from robot_rl.errors import RobotRLError
from robot_rl.quickstart import add_parser as add_demo_parser
from robot_rl.registry import DEFAULT_ROBOT, DEFAULT_TASK, ENVS


def _cameras(text: str | None) -> tuple[str, ...]:
    return tuple(c for c in (text or "").split(",") if c)


def _add_env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--robot", default=DEFAULT_ROBOT, help=f"robot spec name or path (default {DEFAULT_ROBOT})"
    )
    p.add_argument("--task", default=DEFAULT_TASK, help=f"task name (default {DEFAULT_TASK})")
    p.add_argument("--cameras", default="", help="comma-separated spec cameras to render, e.g. wrist,front")
    p.add_argument(
        "--randomize", action="store_true", help="domain randomization on (ranges from the robot spec)"
    )
    p.add_argument("--seed", type=int, default=0, help="first episode seed (episode i uses seed+i)")


# -- subcommands -------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    from robot_rl import doctor

    checks = doctor.run_checks()
    print(json.dumps(doctor.as_json(checks), indent=2) if args.json else doctor.report(checks))
    return 0 if all(c.ok for c in checks if c.name in ("python", "robot specs")) else 1


def cmd_envs(args: argparse.Namespace) -> int:
    for entry in ENVS:
        extra = f"  {entry.kwargs}" if entry.kwargs else ""
        print(f"{entry.id:<36} robot={entry.robot:<10} task={entry.task}{extra}")
    return 0


def _make_env(args: argparse.Namespace):
    from robot_rl.sim import make_twin

    return make_twin(args.robot, args.task, cameras=_cameras(args.cameras), randomize=args.randomize)


def cmd_demos(args: argparse.Namespace) -> int:
    from robot_rl.demos import DemoWriter, env_metadata, expert_episodes

    env = _make_env(args)
    writer = DemoWriter(args.out, {**env_metadata(env), "source": "scripted expert", "noise": args.noise})
    attempts = successes = 0
    # up to 3 attempts per wanted episode: without --keep-failures only successes count
    episodes = expert_episodes(
        env, args.task, 3 * args.episodes, args.seed, args.noise, writer, args.keep_failures, args.episodes
    )
    for episode in episodes:
        attempts += 1
        successes += episode.succeeded
    kept = len(writer.metadata["episodes"])
    print(f"{kept} episodes written to {args.out} ({successes}/{attempts} expert episodes succeeded)")
    if kept < args.episodes:
        print(
            f"error: the expert succeeded too rarely to collect {args.episodes} successful episodes",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a trained checkpoint on its twin task (seeds distinct from training's)."""
    from robot_rl import evaluate
    from robot_rl.run_config import load_checkpoint
    from robot_rl.sim import make_twin

    if args.video_episodes < 1:
        raise RobotRLError(f"--video-episodes must be at least 1 (got {args.video_episodes})")
    video = evaluate.check_video_path(args.video) if args.video else None
    seed = evaluate.EVAL_SEED if args.seed is None else args.seed
    config, agent = load_checkpoint(args.checkpoint)
    ckpt = Path(args.checkpoint)
    # the cameras the policy was trained on are part of its observation
    env = make_twin(config.robot, config.task, cameras=config.cameras, randomize=args.randomize)
    if not args.no_safety:
        from robot_rl.safety import SafeEnv

        env = SafeEnv(env)
    try:
        result = evaluate.run_episodes(
            agent.policy,
            env,
            args.episodes,
            seed,
            frames=min(args.video_episodes, args.episodes) if video else 0,
            frames_camera=args.camera,
            progress=True,
        )
    finally:
        env.close()
    report = {
        "checkpoint": str(ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt),
        "robot": config.robot,
        "task": config.task,
        "preset": config.preset,
        "randomized": args.randomize,
        "safety_layer": not args.no_safety,
        "first_seed": seed,
        **result.as_dict(),
        "video": str(video) if video else None,
    }
    if video is not None:
        evaluate.write_video(evaluate.video_frames(result), video, result.video_fps)
    print(json.dumps(report) if args.json else evaluate.table(report))
    return 0


def _print_run(result: dict, out: str, files: str) -> int:
    """A finished run's summary as JSON, then where its files are."""
    print(json.dumps(result, indent=2))
    print(f"run directory: {out} ({files})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Sim-only training on a twin task; --config FILE gives a TrainConfig YAML, flags override it."""
    import time

    from robot_rl.paths import run_config_file
    from robot_rl.run_config import load_train_config
    from robot_rl.train import Trainer

    config_file = run_config_file(args.config, args.out, args.resume)
    config = load_train_config(
        config_file,
        robot=args.robot,
        task=args.task,
        preset=args.preset,
        steps=args.steps,
        demos=args.demos,
        seed=args.seed,
    )
    out = (
        args.out
        or f"runs/{Path(config.robot).stem}_{config.task}_{config.preset}_{time.strftime('%Y%m%d-%H%M%S')}"
    )
    if args.async_:
        from robot_rl.actor import train_async

        result = train_async(config, out, args.actors, resume=args.resume)
    else:
        result = Trainer(config, out, resume=args.resume).run()
    return _print_run(result, out, "config.yaml, metrics.jsonl, curve.png, checkpoint.pt")


def cmd_practice(args: argparse.Namespace) -> int:
    """Reset-free forward/backward practice on a twin task (see robot_rl.practice)."""
    import time

    from robot_rl.paths import run_config_file
    from robot_rl.practice import Practice
    from robot_rl.run_config import load_practice_config

    config_file = run_config_file(args.config, args.out, args.resume)
    config = load_practice_config(config_file, minutes=args.minutes, seed=args.seed)
    out = args.out or f"runs/practice_{config.robot}_{config.task}_{time.strftime('%Y%m%d-%H%M%S')}"
    result = Practice(config, out, resume=args.resume).run()
    return _print_run(result, out, "config.yaml, metrics.jsonl, curve.png, checkpoint.pt")


def cmd_learner(args: argparse.Namespace) -> int:
    """The learner process: serves actors over ZeroMQ, trains, checkpoints (see robot_rl.learner)."""
    import time

    from robot_rl.learner import Learner
    from robot_rl.paths import run_config_file
    from robot_rl.run_config import load_train_config

    config_file = run_config_file(args.config, args.out, args.resume)
    if not config_file:
        raise RobotRLError(
            "robot-rl learner needs --config FILE (a training config with a transport: section)"
        )
    config = load_train_config(config_file, steps=args.steps)
    out = args.out or f"runs/learner_{Path(config.robot).stem}_{config.task}_{time.strftime('%Y%m%d-%H%M%S')}"
    result = Learner(config, out, resume=args.resume, bind=args.bind, weights_bind=args.weights_bind).run()
    return _print_run(result, out, "stats.json, stats.jsonl, metrics.jsonl, checkpoint.pt")


def cmd_actor(args: argparse.Namespace) -> int:
    """A twin actor process for a learner (robots use the ROS actor node)."""
    import logging

    from robot_rl.actor import run_twin_actor
    from robot_rl.run_config import load_train_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = load_train_config(args.config)
    result = run_twin_actor(
        config,
        args.id,
        steps=args.steps,
        seed=args.seed,
        connect=args.connect,
        weights_connect=args.weights,
    )
    print(json.dumps(result), flush=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """A checkpoint's deterministic policy as dependency-free C (or ONNX), checked on the host."""
    from robot_rl.export import export_checkpoint

    result = export_checkpoint(args.checkpoint, args.out, args.target, args.mode, int8=args.int8)
    print(json.dumps(result.as_dict(), indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from robot_rl.benchmarks import run_benchmark

    options = {"quick": args.quick, "robots": args.robots or None, "episodes": args.episodes}
    result, table = run_benchmark(args.what, options, progress=not args.json)
    print(json.dumps(result) if args.json else table(result))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from robot_rl.transport.keys import generate_keypair

    public, secret = generate_keypair(args.dir, args.name, force=args.force)
    print(f"public key: {public}")
    print(f"secret key: {secret} (mode 0600: never copy it off this machine)")
    print(f"on the learner: copy {public.name} to every actor (the server key they check)")
    print(f"on an actor: copy {public.name} into the learner's authorized keys folder to let it in")
    return 0


def cmd_ros_install(args: argparse.Namespace) -> int:
    from robot_rl.ros_install import install_ros_layout, layout_problems

    prefix = Path(args.prefix or sys.prefix)
    written = install_ros_layout(prefix)
    links = sum(1 for path in written if path.is_symlink())
    print(
        f"wrote the ament index entry, {links} links in share/robot_rl and the node executables into {prefix}"
    )
    problems = layout_problems(prefix)
    if problems:
        raise RobotRLError(f"the ROS layout in {prefix} is incomplete: {problems[0]}")
    path = "${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    print(f"ros2 launch finds robot_rl with: export AMENT_PREFIX_PATH={prefix}{path}")
    return 0


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robot-rl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("doctor", help="what this machine can run, and what each missing piece disables")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("envs", help="list the registered twin environments")
    p.set_defaults(func=cmd_envs)

    add_demo_parser(sub)

    p = sub.add_parser("eval", help="evaluate a trained checkpoint: success, return, cycle time, video")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint.pt or a run directory from robot-rl train")
    p.add_argument("--episodes", type=int, default=20, help="evaluation episodes (default 20)")
    p.add_argument("--randomize", action="store_true", help="domain randomization on (spec ranges)")
    p.add_argument(
        "--no-safety",
        action="store_true",
        help="the bare twin (default: every action through the safety layer the robot's controller runs)",
    )
    p.add_argument("--video", help="write the first episodes to FILE (.gif or .mp4)")
    p.add_argument("--video-episodes", type=int, default=3, help="episodes in the video (default 3)")
    p.add_argument("--camera", help="spec camera for the video (default the spec's first)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument(
        "--seed",
        type=int,
        help="first episode seed (default 10000000, far above training's seed + episode index)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demos", help="record scripted-expert demonstrations to a folder")
    _add_env_args(p)
    p.add_argument("--episodes", type=int, default=20, help="successful episodes to write")
    p.add_argument("--out", required=True, help="demonstration folder (created, or appended to)")
    p.add_argument("--noise", type=float, default=0.0, help="Gaussian action noise std (normalized units)")
    p.add_argument("--keep-failures", action="store_true", help="also write episodes the expert failed")
    p.set_defaults(func=cmd_demos)

    p = sub.add_parser("train", help="train a policy on a twin task (sim only)")
    p.add_argument("--config", help="TrainConfig YAML (e.g. config/train/panda_reach_smoke.yaml)")
    p.add_argument("--robot", help=f"robot (default {DEFAULT_ROBOT})")
    p.add_argument("--task", help=f"task (default {DEFAULT_TASK})")
    p.add_argument("--preset", help="learner preset: rlpd (default), sac or droq")
    p.add_argument("--steps", type=int, help="environment steps")
    p.add_argument("--demos", help="demonstration folder from robot-rl demos")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="run directory (default runs/<robot>_<task>_<preset>_<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument(
        "--async",
        dest="async_",
        action="store_true",
        help="learner and --actors twin actor processes over loopback ZeroMQ (as on a robot)",
    )
    p.add_argument("--actors", type=int, default=1, help="twin actor processes with --async (default 1)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("learner", help="the learner process: trains on transitions from actors over ZeroMQ")
    p.add_argument("--config", help="TrainConfig YAML; its transport: section sets addresses and keys")
    p.add_argument(
        "--bind", help="transitions address (default tcp://127.0.0.1:5555; others need CURVE keys)"
    )
    p.add_argument("--weights-bind", help="weights address (default: --bind's port + 1)")
    p.add_argument("--out", help="run directory (default runs/learner_<robot>_<task>_<time>)")
    p.add_argument("--steps", type=int, help="stop after this many environment steps from actors")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.set_defaults(func=cmd_learner)

    p = sub.add_parser("actor", help="a twin actor process that feeds a learner")
    p.add_argument("--config", required=True, help="the learner's TrainConfig YAML (hashes must match)")
    p.add_argument("--connect", help="learner transitions address (default from the config)")
    p.add_argument("--weights", help="learner weights address (default: --connect's port + 1)")
    p.add_argument("--id", default="actor0", help="actor name, unique per learner (default actor0)")
    p.add_argument("--steps", type=int, help="stop at the end of the episode that reaches this many steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the actor's episodes and exploration")
    p.set_defaults(func=cmd_actor)

    from robot_rl.benchmarks import BENCHMARKS

    p = sub.add_parser("bench", help="benchmarks that print JSON (figures go to docs/benchmarks.md)")
    p.add_argument(
        "what",
        choices=list(BENCHMARKS),
        help="; ".join(f"{name}: {help_text}" for name, (help_text, _, _) in BENCHMARKS.items()),
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--robots", nargs="*", help="only these robots")
    p.add_argument("--episodes", type=int, default=100, help="episodes per task and setting (experts)")
    p.add_argument("--quick", action="store_true", help="tiny counts: a smoke run, not a measurement")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("export", help="export a checkpoint's policy to dependency-free C (or ONNX)")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint.pt or a run directory from robot-rl train")
    p.add_argument("--target", choices=["c", "onnx"], default="c", help="c (default) or onnx")
    p.add_argument("--out", required=True, help="folder for policy.h/.c (or policy.onnx) and export.json")
    p.add_argument(
        "--mode",
        choices=["reference", "fast"],
        default="reference",
        help="reference: sequential sums, bit-identical everywhere; fast: fused multiply-adds, M4 kernel",
    )
    p.add_argument("--int8", action="store_true", help="int8 weights for MCUs without an FPU (reports error)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("keys", help="CURVE keys that authenticate actors and the learner off localhost")
    keys_sub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = keys_sub.add_parser("generate", help="write NAME.key (public) and NAME.key_secret (mode 0600) to DIR")
    k.add_argument("dir", metavar="DIR", help="folder for the key files (created with mode 0700)")
    k.add_argument("--name", default="learner", help="key name, e.g. learner or actor0 (default learner)")
    k.add_argument("--force", action="store_true", help="replace existing key files of this name")
    k.set_defaults(func=cmd_keys)

    p = sub.add_parser(
        "ros-install",
        help="after `pip install -e .`: write the ament index entry, share/robot_rl and lib/robot_rl/<node> "
        "so `ros2 launch robot_rl ...` finds the package (a plain `pip install .` writes them itself)",
    )
    p.add_argument("--prefix", help="install prefix (default: this environment, sys.prefix)")
    p.set_defaults(func=cmd_ros_install)

    from robot_rl.reward.cli import add_parser as add_reward_parser

    add_reward_parser(sub)

    p = sub.add_parser(
        "practice", help="reset-free forward/backward practice on a twin task (panda pick_place)"
    )
    p.add_argument("--config", help="PracticeConfig YAML (e.g. config/train/panda_pick_place_practice.yaml)")
    p.add_argument("--minutes", type=float, help="simulated minutes of practice (default 30)")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="run directory (default runs/practice_<robot>_<task>_<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.set_defaults(func=cmd_practice)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("episodes",):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
            print(f"error: --{name} must be at least 1 (got {getattr(args, name)})", file=sys.stderr)
            return 2
    try:
        return int(args.func(args) or 0)
    except RobotRLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
