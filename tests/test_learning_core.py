"""One rollout and one learning core: `robot-rl train` (Trainer), `robot-rl learner` and `train --async`
(Learner, fed by actor rows) and `robot-rl practice` (a core per direction) all update through
`robot_rl.learning.LearningCore`, so the behaviour-cloning term (`agent: {bc_weight: W}`) acts in each
of them, and only in the actor. Their steps come from `robot_rl.rollout`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_train import TINY, record_expert_demos

from robot_rl.rollout import Recorder, episode, steps
from robot_rl.run_config import TrainConfig
from robot_rl.train import Trainer
from robot_rl.transport.wire import TransitionBatch


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    return record_expert_demos(tmp_path_factory.mktemp("demos"), episodes=2)


def random_steps(env, n: int, seed: int = 0):
    """`n` rollout steps of uniform-random actions, across episodes as the training loops take them."""
    rng = np.random.default_rng(seed)
    act = lambda obs: rng.uniform(-1, 1, env.action_space.shape)  # noqa: E731
    rollout = steps(env, act, seed)
    return [next(rollout) for _ in range(n)]


def actor_rows(actor_id: str, taken: list) -> TransitionBatch:
    """The rows an actor streams for these steps (`ActorClient.send`: one a step, one final an episode)."""
    rows, open_episode = [], False
    for s in taken:
        rows.append({**s.obs, "start": not open_episode, "action": s.action, "reward": s.reward,
                     "terminated": s.terminated, "truncated": s.truncated, "success": s.success,
                     "intervention": s.intervention, "final": False})  # fmt: skip
        open_episode = True
        if s.done:
            rows.append({**s.next_obs, "start": False, "action": np.zeros_like(s.action), "reward": 0.0,
                         "terminated": False, "truncated": False, "success": s.success,
                         "intervention": False, "final": True})  # fmt: skip
            open_episode = False
    arrays = {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}
    arrays["weight_version"] = np.zeros(len(rows), np.int64)
    return TransitionBatch(actor_id=actor_id, first_seq=0, count=len(rows), weight_version=0, arrays=arrays)


def parameters(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def after_one_block(core) -> tuple[dict, torch.Tensor, torch.Tensor]:
    info = core.update_block(torch.Generator().manual_seed(7))
    return info, parameters(core.agent.actor), parameters(core.agent.critic)


def assert_bc_changes_the_actor_only(make_core) -> None:
    """The same entry point, data and draws, with bc_weight 0 and 5: one update block each."""
    plain, actor0, critic0 = after_one_block(make_core(0.0))
    cloned, actor1, critic1 = after_one_block(make_core(5.0))
    assert "bc_loss" not in plain and float(cloned["bc_loss"]) > 0.0
    assert torch.equal(critic0, critic1), "the BC term must not touch the critics"
    assert not torch.allclose(actor0, actor1), "bc_weight did not change the actor update"


def config(demos, bc_weight: float) -> TrainConfig:
    agent = {**TINY, "bc_weight": bc_weight, "bc_q_filter": False}
    return TrainConfig(robot="panda", task="reach", agent=agent, demos=str(demos), steps=100, seed=3)


def test_bc_weight_changes_the_update_of_robot_rl_train(demos, tmp_path):
    """Trainer.run itself: 20 random warm-up steps, then one update block (and the row it reports)."""
    import json

    def run(bc_weight):
        cfg = dataclasses.replace(config(demos, bc_weight), steps=21, start_steps=21, eval_episodes=1)
        trainer = Trainer(cfg, tmp_path / f"train_{bc_weight}", progress=False)
        trainer.run()
        row = json.loads((tmp_path / f"train_{bc_weight}" / "metrics.jsonl").read_text())
        assert trainer.updates == TINY["utd"]
        return row, parameters(trainer.agent.actor), parameters(trainer.agent.critic)

    plain, actor0, critic0 = run(0.0)
    cloned, actor1, critic1 = run(5.0)
    assert "bc_loss" not in plain and cloned["bc_loss"] > 0.0
    assert torch.equal(critic0, critic1), "the BC term must not touch the critics"
    assert not torch.allclose(actor0, actor1), "bc_weight did not change the actor update"


def test_bc_weight_changes_the_update_of_robot_rl_learner_and_train_async(demos, tmp_path):
    """The learner (alone or under `train --async`) learns from actor rows; it binds nothing until run()."""
    from robot_rl.learner import Learner

    def make_core(bc_weight):
        learner = Learner(config(demos, bc_weight), tmp_path / f"learner_{bc_weight}", progress=False)
        learner._insert(actor_rows("actor0", random_steps(learner.env, 64)))
        # every row paired with the next one; the last waits for the observation that follows it
        assert learner.step == 64 and len(learner.online) == 63
        return learner.core

    assert_bc_changes_the_actor_only(make_core)


def test_bc_weight_changes_the_update_of_robot_rl_practice(tmp_path):
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    def make_core(bc_weight):
        agent = {"hidden": [16, 16], "utd": 1, "num_critics": 2, "batch_size": 16, "bc_weight": bc_weight}
        cfg = PracticeConfig(minutes=0.1, demo_episodes=1, agent=agent)
        practice = Practice(cfg, tmp_path / f"practice_{bc_weight}", progress=False)
        core = practice.cores["forward"]
        for step in random_steps(practice.env, 32):
            core.add(step)
        return core

    assert_bc_changes_the_actor_only(make_core)


def test_steps_runs_episode_after_episode_seeded_as_episode_does():
    from robot_rl.sim import make_twin

    env = make_twin("panda", "reach")
    zero = lambda obs: np.zeros(env.action_space.shape, np.float32)  # noqa: E731
    first, second = list(episode(env, zero, 5)), list(episode(env, zero, 6))
    rollout = steps(env, zero, 5)
    across = [next(rollout) for _ in range(len(first) + len(second))]
    assert [s.index for s in across] == [s.index for s in first] + [s.index for s in second]
    assert across[len(first) - 1].done and across[len(first)].index == 1
    for a, b in zip(across, first + second):
        assert np.array_equal(a.obs["state"], b.obs["state"]) and a.reward == b.reward


def test_the_ros_actors_recorder_builds_the_steps_episode_builds():
    """The ROS actor sends an action per timer tick and learns what followed at the next one; the
    Recorder it uses gives the Step `episode()` gives, the safety layer's action included."""
    from robot_rl.safety import SafeEnv
    from robot_rl.sim import make_twin

    env = SafeEnv(make_twin("panda", "reach"))
    push = lambda obs: np.full(env.action_space.shape, 5.0, np.float32)  # noqa: E731  (beyond [-1, 1])
    looped = list(episode(env, push, 1))
    obs, _ = env.reset(seed=1)
    recorder, ticked = Recorder(), []
    while not ticked or not ticked[-1].done:
        recorder.sent(obs, push(obs), intervention=True)
        obs, reward, terminated, truncated, info = env.step(push(obs))
        ticked.append(recorder.observed(obs, reward, terminated, truncated, info))
    assert len(ticked) == len(looped) and not recorder.pending and recorder.index == 0
    for a, b in zip(ticked, looped):
        assert np.array_equal(a.action, b.action) and np.all(np.abs(a.action) <= 1.0)  # the sent action
        assert (a.index, a.reward, a.done) == (b.index, b.reward, b.done)
        assert a.intervention and not b.intervention
