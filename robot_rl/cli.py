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


def _run_expert(
    env, args: argparse.Namespace, writer=None, keep_failures: bool = True, target: int | None = None
):
    """Run the scripted expert for args.episodes (or until `target` kept episodes); yield episodes.

    Closes `env` when done."""
    from tqdm import tqdm

    from robot_rl.demos import record_episode
    from robot_rl.sim import make_expert

    expert = make_expert(env, noise=getattr(args, "noise", 0.0), seed=args.seed)
    wanted = target or args.episodes
    max_attempts = wanted if target is None else 3 * wanted
    attempts = kept = successes = 0
    bar = tqdm(total=wanted, desc=f"{env.robot_spec.name}/{args.task} expert", unit="ep")
    try:
        while kept < wanted and attempts < max_attempts:
            episode = record_episode(env, expert.act, seed=args.seed + attempts, on_reset=expert.reset)
            attempts += 1
            successes += episode.succeeded
            if keep_failures or episode.succeeded:
                kept += 1
                bar.update(1)
                if writer is not None:
                    writer.write(episode)
            bar.set_postfix(success=f"{successes / attempts:.0%}")
            yield episode
    finally:
        bar.close()
        env.close()


def cmd_demos(args: argparse.Namespace) -> int:
    from robot_rl.demos import DemoWriter, env_metadata

    env = _make_env(args)
    writer = DemoWriter(args.out, {**env_metadata(env), "source": "scripted expert", "noise": args.noise})
    attempts = successes = 0
    for episode in _run_expert(env, args, writer, keep_failures=args.keep_failures, target=args.episodes):
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


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the default twin task (the scripted expert until the learner lands)."""
    import numpy as np

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    episodes = list(_run_expert(_make_env(args), args))
    success = float(np.mean([ep.succeeded for ep in episodes]))
    summary = {
        "robot": args.robot,
        "task": args.task,
        "policy": "scripted expert",
        "episodes": len(episodes),
        "success_rate": success,
        "mean_return": float(np.mean([ep.episode_return for ep in episodes])),
        "mean_length": float(np.mean([ep.length for ep in episodes])),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"scripted expert on {args.robot}/{args.task}: {success:.0%} success over {len(episodes)} episodes")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Sim-only training on a twin task; --config FILE gives a TrainConfig YAML, flags override it."""
    import time

    from robot_rl.train import Trainer, load_train_config

    config = load_train_config(
        args.config,
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
    result = Trainer(config, out, resume=args.resume).run()
    print(json.dumps(result, indent=2))
    print(f"run directory: {out} (config.yaml, metrics.jsonl, curve.png, checkpoint.pt)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from robot_rl.benchmarks import experts, learner, sim

    if args.what == "learner":
        result = learner.run(quick=args.quick, progress=not args.json)
        table = learner.table
    elif args.what == "sim":
        counts = dict(steps=20, resets=10, frames=3, repeats=1) if args.quick else {}
        result = sim.run(robots=args.robots or None, progress=not args.json, **counts)
        table = sim.table
    else:
        episodes = 3 if args.quick else args.episodes
        result = experts.run(robots=args.robots or None, episodes=episodes, progress=not args.json)
        table = experts.table
    print(json.dumps(result) if args.json else table(result))
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

    p = sub.add_parser("demo", help="run the main job on the default twin task")
    _add_env_args(p)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--out", default="demo_out", help="folder for the results (default demo_out)")
    p.set_defaults(func=cmd_demo)

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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("bench", help="benchmarks that print JSON (figures go to docs/benchmarks.md)")
    p.add_argument(
        "what",
        choices=["sim", "experts", "learner"],
        help="sim: twin speed; experts: scripted-expert success; learner: updates/s vs Stable-Baselines3",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--robots", nargs="*", help="only these robots")
    p.add_argument("--episodes", type=int, default=100, help="episodes per task and setting (experts)")
    p.add_argument("--quick", action="store_true", help="tiny counts: a smoke run, not a measurement")
    p.set_defaults(func=cmd_bench)
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
