"""Camera observations (encoders, augmentation, pretrained/frozen weights, state normalisation)
and offline pretraining (behaviour cloning, Cal-QL) of the learner."""

import copy

import pytest
import torch

from robot_rl.agents.encoders import random_shift
from robot_rl.agents.pretrain import PretrainConfig, bc_loss, pretrain
from robot_rl.agents.replay import ReplayBuffer, sample_block
from robot_rl.agents.sac import SAC, preset
from robot_rl.errors import RobotRLError

SHAPES = {"state": (5,), "front": (32, 32, 3)}
SMALL = {
    "hidden": (32, 32),
    "utd": 2,
    "batch_size": 8,
    "num_critics": 3,
    "encoder_channels": (8, 8),
    "encoder_strides": (2, 2),
    "encoder_features": 16,
}


def pixel_block(utd=2, batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    buf = ReplayBuffer(64, SHAPES, 2)
    for t in range(30):
        obs = {
            "state": torch.randn(5, generator=g),
            "front": torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8),
        }
        nxt = {
            "state": torch.randn(5, generator=g),
            "front": torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8),
        }
        buf.add(obs, torch.rand(2, generator=g) * 2 - 1, float(t % 3), nxt, t % 10 == 9)
    return sample_block(buf, None, utd, batch, generator=g)


def test_random_shift_moves_whole_frames_and_replicates_borders():
    frames = torch.arange(2 * 6 * 6, dtype=torch.int32).reshape(2, 6, 6, 1).to(torch.uint8)
    torch.manual_seed(0)
    out = random_shift(frames, pad=2)
    assert out.shape == frames.shape and out.dtype == torch.uint8
    for i in range(2):
        # every output frame is the input translated by one integer offset, clamped at the border
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(
                out[i, ..., 0],
                frames[i, (torch.arange(6) + dy).clamp(0, 5)][:, (torch.arange(6) + dx).clamp(0, 5), 0],
            )
        ]
        assert matches
    assert torch.equal(random_shift(frames, pad=0), frames)


def test_actor_never_moves_the_camera_encoder_and_the_critic_trains_it():
    torch.manual_seed(0)
    agent = SAC(SHAPES, 2, preset("rlpd", **SMALL))
    batch = pixel_block().minibatch(0)
    _, _, features = agent.critic_loss(batch)
    agent.actor_loss(features)[0].backward()
    assert all(p.grad is None for p in agent.encoder.parameters())
    assert all(p.grad is None for p in agent.critic.parameters())
    agent.zero_grad(set_to_none=True)
    agent.critic_loss(batch)[0].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.encoder.cameras.parameters())
    assert all(p.grad is None for p in agent.actor.parameters())


def test_pretrained_encoder_weights_load_and_a_frozen_encoder_stays_put(tmp_path):
    torch.manual_seed(0)
    source = SAC(SHAPES, 2, preset("rlpd", **SMALL))
    path = tmp_path / "encoder.pt"
    source.encoder.save_camera_weights(path)
    torch.manual_seed(1)
    frozen = SAC(SHAPES, 2, preset("rlpd", **SMALL, encoder_weights=str(path), freeze_encoder=True))
    before = copy.deepcopy(frozen.encoder.cameras.state_dict())
    for k, v in source.encoder.cameras.state_dict().items():
        assert torch.equal(before[k], v), k
    actor_before = copy.deepcopy(frozen.actor.state_dict())
    for seed in range(3):
        frozen.update(pixel_block(seed=seed))
    for k, v in frozen.encoder.cameras.state_dict().items():
        assert torch.equal(before[k], v), k
    assert any(not torch.equal(actor_before[k], v) for k, v in frozen.actor.state_dict().items())

    other = {**SMALL, "encoder_channels": (4, 4)}
    with pytest.raises(RobotRLError, match="do not fit cameras"):
        SAC(SHAPES, 2, preset("rlpd", **other, encoder_weights=str(path)))
    with pytest.raises(RobotRLError, match="no encoder weights at"):
        SAC(SHAPES, 2, preset("rlpd", **SMALL, encoder_weights=str(tmp_path / "missing.pt")))


def test_state_statistics_are_fitted_once_and_travel_with_the_checkpoint():
    torch.manual_seed(0)
    agent = SAC(3, 1, preset("sac", hidden=(16, 16)))
    states = torch.randn(500, 3) * torch.tensor([0.05, 1.0, 100.0]) + torch.tensor([0.5, 0.0, -20.0])
    agent.fit_normalizer(states)
    features = agent.encoder({"state": states})
    torch.testing.assert_close(features.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(features.std(0, correction=0), torch.ones(3), atol=1e-3, rtol=0)
    agent.fit_normalizer(states * 7)  # already fitted: a second call must not move the statistics
    torch.testing.assert_close(agent.encoder({"state": states}), features)
    restored = SAC.from_checkpoint(agent.checkpoint())
    obs = {"state": states[0].numpy()}
    assert (restored.policy(obs) == agent.policy(obs)).all()


def demo_buffer(n=400, seed=0):
    """One-step episodes whose demonstrated action is 0.6 * tanh(state[0]); reward is 1 - |a - a*|."""
    g = torch.Generator().manual_seed(seed)
    buf = ReplayBuffer(2 * n + 2, 2, 1)
    for _ in range(n):
        state = torch.randn(2, generator=g)
        action = 0.6 * torch.tanh(state[:1])
        obs = {"state": torch.stack([state, state])}
        buf.add_episode(obs, action[None], [1.0], [True], gamma=0.9)
    return buf


def test_behaviour_cloning_makes_the_actor_reproduce_the_demonstrations():
    torch.manual_seed(0)
    agent = SAC(2, 1, preset("sac", hidden=(64, 64), lr=1e-3))
    demos = demo_buffer()
    batch = sample_block(demos, None, 1, 256, generator=torch.Generator().manual_seed(1)).minibatch(0)
    before = float(bc_loss(agent, batch).detach())
    info = pretrain(agent, demos, PretrainConfig(method="bc", steps=300, batch_size=64), progress=False)
    assert info["bc_loss"] < 0.01 < before
    assert float(bc_loss(agent, batch).detach()) < 0.01


def calql_values(calibrate: bool) -> dict[str, float]:
    torch.manual_seed(0)
    agent = SAC(2, 1, preset("sac", hidden=(64, 64), lr=1e-3, layer_norm=True, backup_entropy=False))
    demos = demo_buffer()
    cfg = PretrainConfig(method="calql", steps=300, batch_size=64, cql_samples=4, calibrate=calibrate)
    info = pretrain(agent, demos, cfg, progress=False)
    assert set(info) >= {"td_loss", "cql_gap", "critic_loss", "actor_loss"}
    batch = sample_block(demos, None, 1, 256, generator=torch.Generator().manual_seed(2)).minibatch(0)
    with torch.no_grad():
        features = agent.encoder(batch.obs)
        policy_action = agent.actor.deterministic(features)
        return {
            "data": float(agent.critic(features, batch.action).mean()),
            "policy": float(agent.critic(features, policy_action).mean()),
            "random": float(agent.critic(features, torch.rand_like(batch.action) * 2 - 1).mean()),
            "imitation_error": float((policy_action - batch.action).abs().mean()),
        }


def test_calql_ranks_demonstrated_actions_first_and_is_less_pessimistic_than_cql():
    calql, cql = calql_values(calibrate=True), calql_values(calibrate=False)
    for values in (calql, cql):
        assert values["data"] > values["random"] + 1.0
        assert values["imitation_error"] < 0.1  # the actor follows the conservative critic to the data
    # Cal-QL's floor at the Monte-Carlo return keeps policy values from sinking as far as CQL's
    assert calql["policy"] > cql["policy"] + 0.5


def test_pretraining_without_demonstrations_is_a_clear_error():
    agent = SAC(2, 1, preset("sac", hidden=(8, 8)))
    from robot_rl.errors import ConfigError

    with pytest.raises(ConfigError, match="demonstrations to pretrain on"):
        pretrain(agent, ReplayBuffer(4, 2, 1), PretrainConfig(method="calql", steps=1), progress=False)
    with pytest.raises(ConfigError, match="method"):
        from robot_rl.config import from_dict

        from_dict(PretrainConfig, {"method": "iql"})
