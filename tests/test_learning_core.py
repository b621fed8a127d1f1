"""Every trainer updates through one core (`SAC.update_from`): `robot-rl train` (Trainer), `robot-rl
learner` (Learner) and `robot-rl practice` (Practice) all pass the demonstration rows to the update,
so the behaviour-cloning term (`agent: {bc_weight: W}`) acts in each of them, and only in the actor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train import TINY, record_expert_demos

from robot_rl.run_config import TrainConfig
from robot_rl.train import Trainer


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    return record_expert_demos(tmp_path_factory.mktemp("demos"), episodes=2)


def fill_online(trainer, steps: int = 64) -> None:
    env, rng = trainer.env, np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for _ in range(steps):
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        trainer.online.add(obs, action, reward, next_obs, terminated, truncated)
        obs = next_obs if not (terminated or truncated) else env.reset(seed=1)[0]


def parameters(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def after_one_block(make, bc_weight: float):
    """The entry point built with `bc_weight`, after one update block on the same data and draws."""
    trainer = make(bc_weight)
    info = trainer.update_block(torch.Generator().manual_seed(7))
    return info, parameters(trainer.agent.actor), parameters(trainer.agent.critic)


def assert_bc_changes_the_actor_only(make) -> None:
    plain, actor0, critic0 = after_one_block(make, 0.0)
    cloned, actor1, critic1 = after_one_block(make, 5.0)
    assert "bc_loss" not in plain and float(cloned["bc_loss"]) > 0.0
    assert torch.equal(critic0, critic1), "the BC term must not touch the critics"
    assert not torch.allclose(actor0, actor1), "bc_weight did not change the actor update"


def config(demos, bc_weight: float, **extra) -> TrainConfig:
    agent = {**TINY, "bc_weight": bc_weight, "bc_q_filter": False}
    return TrainConfig(robot="panda", task="reach", agent=agent, demos=str(demos), steps=100, seed=3, **extra)


@pytest.mark.parametrize("entry", ["train", "learner"])
def test_bc_weight_acts_in_robot_rl_train_and_learner(demos, tmp_path, entry):
    from robot_rl.learner import Learner

    def make(bc_weight):
        # a Learner binds nothing until run(): its update path alone, fed as its inbox would feed it
        trainer = {"train": Trainer, "learner": Learner}[entry]
        trainer = trainer(config(demos, bc_weight), tmp_path / f"{entry}_{bc_weight}", progress=False)
        fill_online(trainer)
        return trainer

    assert_bc_changes_the_actor_only(make)


def test_bc_weight_acts_in_robot_rl_practice(tmp_path):
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    class Forward:
        """Practice's forward agent seen through the Trainer interface of `after_one_block`."""

        def __init__(self, bc_weight):
            agent = {"hidden": [16, 16], "utd": 1, "num_critics": 2, "batch_size": 16}
            cfg = PracticeConfig(minutes=0.1, demo_episodes=1, agent={**agent, "bc_weight": bc_weight})
            self.practice = Practice(cfg, tmp_path / f"practice_{bc_weight}", progress=False)
            self.agent = self.practice.agents["forward"]

        def update_block(self, generator):
            return self.practice._update("forward", generator)

    assert_bc_changes_the_actor_only(Forward)
