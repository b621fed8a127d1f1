"""Twin actors for the actor/learner split, and `robot-rl train --async` which runs them.

`run_twin_actor` is one actor process: a twin environment acting with the newest weights the
learner published (uniformly random until the first arrive, as the sync loop's warm-up), sending
every step through `ActorClient`. It honours the learner's hold requests (so a learner on a slower
machine trains at its configured UTD) and `on_learner_lost`. `train_async` starts a `Learner` on
loopback ports and K actor processes (`robot-rl actor`), the same code a robot deployment runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.run_config import TrainConfig
from robot_rl.runtime import stop_processes

log = logging.getLogger(__name__)


def run_twin_actor(
    config: TrainConfig,
    actor_id: str,
    steps: int | None = None,
    seed: int = 0,
    **transport_overrides: Any,
) -> dict[str, Any]:
    """Act until `steps` policy steps are done (then at the end of that episode), SIGTERM or SIGINT;
    then wait (up to 10 s) until the learner holds every transition. Returns counts."""
    from robot_rl.agents.replay import obs_shapes_of
    from robot_rl.learner import transport_config
    from robot_rl.learning import acting_agent
    from robot_rl.rollout import steps as rollout_steps
    from robot_rl.runtime import configure_torch
    from robot_rl.sim import make_twin
    from robot_rl.transport.actor import ActorClient, policy_hash
    from robot_rl.transport.wire import Hello

    torch = configure_torch()
    torch.manual_seed(seed)
    settings = transport_config(config, **transport_overrides)
    env = make_twin(config.robot, config.task, cameras=config.cameras, randomize=config.randomize)
    if config.behind_layer(env.robot_spec):
        from robot_rl.safety import SafeEnv

        env = SafeEnv(env)
    agent = acting_agent(
        obs_shapes_of(env.observation_space), env.action_space.shape[0], config.preset, config.agent
    )
    hello = Hello(actor_id=actor_id, config_hash=policy_hash(config), spec_hash=env.robot_spec.hash)
    client = ActorClient(actor_id, hello, settings, agent=agent)
    stop = False

    def request_stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    rng = np.random.default_rng(seed)

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        if client.version < 0:
            return rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        return agent.policy(obs, deterministic=False)

    rollout = rollout_steps(env, act, seed)  # episode k seeded seed + k
    episode, done_steps, waited_s = 0, 0, 0.0
    try:
        # a twin has nothing to do before its learner answers (and a refusal ends it here)
        waiting_since = time.monotonic()
        while not stop and not client.connected:
            client.poll()
            time.sleep(0.01)
            if time.monotonic() - waiting_since > 10:
                log.warning("still waiting for the learner at %s", settings.connect)
                waiting_since = time.monotonic()
        while not stop:
            client.poll()
            if not client.may_act or client.hold:
                time.sleep(0.005)
                waited_s += 0.005
                continue
            step = next(rollout)
            client.send(step)
            done_steps += 1
            if step.done:
                episode += 1
                if steps is not None and done_steps >= steps:
                    break
        flushed = client.flush(10.0)
    finally:
        client.close()
        env.close()
    return {
        "actor": actor_id,
        "steps": done_steps,
        "episodes": episode,
        "rows": client.outbox.next_seq,
        "all_acknowledged": flushed,
        "weight_version": client.version,
        "waited_s": round(waited_s, 2),
    }


def train_async(
    config: TrainConfig, out_dir: str | Path, actors: int, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """The learner in this process and `actors` twin actor processes over loopback."""
    from robot_rl.learner import Learner

    if actors < 1:
        raise ConfigError("", "--actors", "at least 1", actors)
    overrides: dict[str, Any] = {"bind": "tcp://127.0.0.1:0", "weights_bind": "tcp://127.0.0.1:0"}
    if "max_ahead_steps" not in config.transport:
        # twin actors outrun a CPU learner: pause them so training keeps the configured UTD
        overrides["max_ahead_steps"] = 64
    learner = Learner(config, out_dir, resume=resume, progress=progress, **overrides)
    transitions_at, weights_at = learner.net.endpoints
    out = Path(out_dir)
    procs: list[subprocess.Popen] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        for i in range(actors):
            log_file = (out / f"actor{i}.log").open("a")
            cmd = [
                sys.executable, "-m", "robot_rl.cli", "actor", "--config", str(out / "config.yaml"),
                "--connect", transitions_at, "--weights", weights_at, "--id", f"actor{i}",
                "--seed", str(config.seed + 1_000_000 * (i + 1) + learner.episode),
            ]  # fmt: skip
            procs.append(subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env))
            log_file.close()
        result = learner.run()
    finally:
        stop_processes(procs, signal.SIGTERM, timeout_s=15.0)
    failed = [i for i, p in enumerate(procs) if p.returncode not in (0, -signal.SIGTERM)]
    if failed:
        raise RobotRLError(f"actor process(es) {failed} failed: see {out}/actor<N>.log")
    return {**result, "actors": actors}
