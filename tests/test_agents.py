"""The SAC/RLPD learner: fast paths equal the plain ones, losses touch only their own networks,
seeded runs repeat exactly, checkpoints round-trip, and the update actually learns."""

import copy

import pytest
import torch

from robot_rl.agents.networks import EnsembleCritic, LoopCritics
from robot_rl.agents.replay import ReplayBuffer, demo_rows, sample_block
from robot_rl.agents.sac import SAC, Batch, preset
from robot_rl.errors import ConfigError
from robot_rl.runtime import torch_save_atomic

OBS, ACT = 11, 3


def random_block(utd=4, batch=32, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        obs={"state": torch.randn(utd, batch, OBS, generator=g)},
        action=torch.rand(utd, batch, ACT, generator=g) * 2 - 1,
        reward=torch.randn(utd, batch, generator=g),
        next_obs={"state": torch.randn(utd, batch, OBS, generator=g)},
        terminated=(torch.rand(utd, batch, generator=g) < 0.1).float(),
    )


@pytest.mark.parametrize("layer_norm", [True, False])
def test_batched_ensemble_equals_per_critic_loop(layer_norm):
    torch.manual_seed(0)
    batched = EnsembleCritic(OBS + ACT, members=10, hidden=(64, 64), layer_norm=layer_norm)
    loop = LoopCritics(OBS + ACT, members=10, hidden=(64, 64), layer_norm=layer_norm)
    loop.load_from_ensemble(batched)
    obs, act = torch.randn(50, OBS), torch.rand(50, ACT)
    qb, ql = batched(obs, act), loop(obs, act)
    assert qb.shape == (10, 50)
    torch.testing.assert_close(qb, ql, rtol=1e-5, atol=1e-5)
    qb.square().sum().backward()
    ql.square().sum().backward()
    first_b = batched.net[0].weight.grad  # (E, in, out)
    for i, critic in enumerate(loop.critics):
        torch.testing.assert_close(first_b[i].T, critic[0].weight.grad, rtol=1e-4, atol=1e-5)


def test_actor_loss_leaves_critic_gradients_empty_and_the_reverse():
    torch.manual_seed(0)
    agent = SAC(OBS, ACT, preset("rlpd", hidden=(32, 32)))
    batch = random_block().minibatch(0)
    agent.actor_loss(agent.encoder(batch.obs))[0].backward()
    assert all(p.grad is None for p in agent.critic.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.actor.parameters())
    agent.zero_grad(set_to_none=True)
    agent.critic_loss(batch)[0].backward()
    assert all(p.grad is None for p in agent.actor.parameters())
    assert agent.log_alpha.grad is None
    assert all(p.grad is not None for p in agent.critic.parameters())
    assert all(p.grad is None for p in agent.target_critic.parameters())


def _params(agent):
    return torch.cat([p.detach().reshape(-1) for p in agent.parameters()])


def test_same_seed_gives_identical_parameters_after_updates():
    def run(seed):
        torch.manual_seed(seed)
        agent = SAC(OBS, ACT, preset("rlpd", hidden=(32, 32), utd=4))
        for i in range(5):
            info = agent.update(random_block(seed=i))
        return agent, info

    a, info = run(3)
    b, _ = run(3)
    c, _ = run(4)
    assert torch.equal(_params(a), _params(b))
    assert not torch.equal(_params(a), _params(c))
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in info.values())


def test_checkpoint_round_trip_continues_identically():
    torch.manual_seed(0)
    agent = SAC(OBS, ACT, preset("droq", hidden=(32, 32), utd=2))
    agent.update(random_block(utd=2))
    restored = SAC.from_checkpoint(copy.deepcopy(agent.checkpoint()))
    assert torch.equal(_params(agent), _params(restored))
    torch.manual_seed(9)
    agent.update(random_block(utd=2, seed=5))
    torch.manual_seed(9)
    restored.update(random_block(utd=2, seed=5))
    assert torch.equal(_params(agent), _params(restored))


def test_presets_carry_published_defaults():
    rlpd, sac, droq = preset("rlpd"), preset("sac"), preset("droq")
    assert (rlpd.num_critics, rlpd.critic_subset, rlpd.utd, rlpd.batch_size) == (10, 2, 20, 256)
    assert rlpd.layer_norm and rlpd.demo_fraction == 0.5 and rlpd.target_entropy_scale == 0.5
    assert (rlpd.lr, rlpd.tau) == (3e-4, 0.005)
    assert (sac.num_critics, sac.utd) == (2, 1)
    assert droq.num_critics == 2 and droq.critic_dropout == 0.01 and droq.layer_norm
    assert SAC(OBS, ACT, rlpd).target_entropy == -ACT / 2
    with pytest.raises(ConfigError, match="key 'preset': expected one of: rlpd, sac, droq"):
        preset("ppo")
    with pytest.raises(ConfigError, match=r"critic_subset'.*at most num_critics"):
        preset("sac", critic_subset=3)


def test_block_sampling_mixes_demos_and_online_half_and_half():
    online, demos = ReplayBuffer(100, OBS, ACT), ReplayBuffer(100, OBS, ACT)
    for i in range(50):
        online.add(torch.full((OBS,), 1.0), torch.zeros(ACT), 0.0, torch.zeros(OBS), False)
        demos.add(torch.full((OBS,), -1.0), torch.zeros(ACT), 1.0, torch.zeros(OBS), i % 10 == 9)
    block = sample_block(online, demos, utd=20, batch_size=256, generator=torch.Generator().manual_seed(0))
    assert block.obs["state"].shape == (20, 256, OBS) and block.reward.shape == (20, 256)
    assert (block.obs["state"][..., 0] < 0).float().mean() == 0.5
    only_online = sample_block(online, None, utd=2, batch_size=8)
    assert (only_online.obs["state"][..., 0] > 0).all()


def fill_episodes(buf, lengths, image=False):
    """Episodes whose state is 100*episode + t, so every next observation is checkable."""
    for e, length in enumerate(lengths):
        for t in range(length):
            obs = {"state": torch.full((OBS,), 100.0 * e + t)}
            nxt = {"state": torch.full((OBS,), 100.0 * e + t + 1)}
            if image:
                obs["front"] = torch.full((8, 8, 3), t, dtype=torch.uint8)
                nxt["front"] = torch.full((8, 8, 3), t + 1, dtype=torch.uint8)
            buf.add(obs, torch.zeros(ACT), float(t), nxt, terminated=False, truncated=t == length - 1)


def assert_transitions_consistent(block):
    state, next_state = block.obs["state"][..., 0], block.next_obs["state"][..., 0]
    torch.testing.assert_close(next_state, state + 1)  # the successor frame of the same episode
    torch.testing.assert_close(block.reward, state % 100)


def test_replay_stores_each_frame_once_and_never_pairs_frames_across_episodes():
    buf = ReplayBuffer(64, {"state": (OBS,), "front": (8, 8, 3)}, ACT)
    fill_episodes(buf, [5, 3, 7], image=True)
    assert len(buf) == 15 and buf.high_water == 15 + 3  # one spare frame per episode, no copies
    assert buf.obs["front"].dtype == torch.uint8
    block = sample_block(buf, None, utd=4, batch_size=256, generator=torch.Generator().manual_seed(0))
    assert block.obs["front"].shape == (4, 256, 8, 8, 3)
    assert_transitions_consistent(block)
    torch.testing.assert_close(
        block.next_obs["front"][..., 0, 0, 0].float(), block.obs["front"][..., 0, 0, 0].float() + 1
    )


@pytest.mark.parametrize("capacity", [200, 23])  # 23: the ring has overwritten the oldest episodes
def test_n_step_rows_sum_rewards_along_their_episode_and_stop_at_its_end(capacity):
    gamma, n = 0.9, 4
    episodes = [(6, False), (2, True), (9, True), (3, False), (7, False)]  # (length, terminated at the end)
    buf = ReplayBuffer(capacity, OBS, ACT)
    for e, (length, terminated) in enumerate(episodes):
        for t in range(length):
            end = t == length - 1
            obs, nxt = torch.full((OBS,), 100.0 * e + t), torch.full((OBS,), 100.0 * e + t + 1)
            buf.add({"state": obs}, torch.zeros(ACT), float(t + 1), {"state": nxt}, terminated and end, end)
    g = torch.Generator().manual_seed(0)
    block = sample_block(buf, None, utd=3, batch_size=300, generator=g, n_step=n, gamma=gamma)
    state = block.obs["state"][..., 0].reshape(-1).long()
    seen = set()
    for row, s in enumerate(state.tolist()):
        e, t = divmod(s, 100)
        length, terminated = episodes[e]
        m = min(n, length - t)  # the walk ends with the episode
        seen.add(m)
        assert block.next_obs["state"][..., 0].reshape(-1)[row] == s + m
        assert block.reward.reshape(-1)[row] == pytest.approx(sum(gamma**k * (t + k + 1) for k in range(m)))
        assert block.discount.reshape(-1)[row] == pytest.approx(gamma**m)
        assert block.terminated.reshape(-1)[row] == float(terminated and t + m == length)
    assert seen == {1, 2, 3, 4}
    one_step = sample_block(buf, None, 3, 300, generator=torch.Generator().manual_seed(0))
    assert one_step.discount is None and torch.equal(one_step.obs["state"], block.obs["state"])
    assert_transitions_consistent(one_step._replace(reward=one_step.reward - 1))


def test_the_td_target_bootstraps_with_the_rows_discount():
    agent = SAC({"state": (OBS,)}, ACT, preset("sac", hidden=(32, 32)))
    block = random_block(utd=1, batch=16).minibatch(0)._replace(terminated=torch.zeros(16))
    no_bootstrap = block._replace(terminated=torch.ones(16))
    torch.manual_seed(0)
    plain = agent.critic_loss(block)[0]
    torch.manual_seed(0)
    assert agent.critic_loss(block._replace(discount=torch.full((16,), agent.config.gamma)))[0] == plain
    torch.manual_seed(0)
    zero = agent.critic_loss(block._replace(discount=torch.zeros(16)))[0]
    torch.manual_seed(0)
    assert zero == agent.critic_loss(no_bootstrap)[0] and zero != plain


def test_replay_ring_wraps_and_round_trips_through_a_file(tmp_path):
    buf = ReplayBuffer(10, OBS, ACT)
    fill_episodes(buf, [4, 6, 5])  # 15 transitions + 3 final frames into 10 slots
    assert 0 < len(buf) < 10
    assert_transitions_consistent(sample_block(buf, None, utd=2, batch_size=200))
    torch_save_atomic(tmp_path / "buf.pt", buf.state_dict())
    assert [p.name for p in tmp_path.iterdir()] == ["buf.pt"]  # no temporary file left behind
    saved = torch.load(tmp_path / "buf.pt", weights_only=True)
    other = ReplayBuffer(10, OBS, ACT)
    other.load_state_dict(saved)
    for restored in (other, ReplayBuffer.from_state_dict(saved)):
        assert (len(restored), restored.cursor, restored.added) == (len(buf), buf.cursor, 15)
        a = sample_block(buf, None, 2, 32, generator=torch.Generator().manual_seed(1))
        b = sample_block(restored, None, 2, 32, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a.obs["state"], b.obs["state"]) and torch.equal(a.reward, b.reward)
    with pytest.raises(ValueError, match="does not fit this buffer"):
        ReplayBuffer(10, OBS + 1, ACT).load_state_dict(buf.state_dict())


def test_episode_returns_are_stored_for_calibration():
    buf = ReplayBuffer(16, 2, 1)
    obs = {"state": torch.zeros(4, 2)}
    buf.add_episode(obs, torch.zeros(3, 1), [0.0, 0.0, 1.0], [False, False, True], gamma=0.5)
    block = buf.gather(torch.tensor([0, 1, 2]))
    torch.testing.assert_close(block.mc_return, torch.tensor([0.25, 0.5, 1.0]))


def test_update_learns_a_one_step_task():
    """Reward -10 (a - 0.5)^2 in every state, episodes of one step: the mean action must reach 0.5."""
    torch.manual_seed(0)
    agent = SAC(4, 1, preset("rlpd", hidden=(64, 64), utd=5, batch_size=64, num_critics=4))
    buf = ReplayBuffer(2000, 4, 1)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        obs = torch.randn(4, generator=g)
        a = agent.act(obs[None])[0]
        buf.add(obs, a, float(-10 * ((a - 0.5) ** 2).sum()), obs, True)
        agent.update(sample_block(buf, None, utd=5, batch_size=64, generator=g))
    mean_action = agent.act(torch.randn(64, 4, generator=g), deterministic=True).mean()
    assert abs(float(mean_action) - 0.5) < 0.15


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_every_ensemble_gradient_equals_the_per_critic_loop(dropout):
    """All weights, biases and LayerNorm affines, and the action gradient the actor loss uses."""
    torch.manual_seed(0)
    batched = EnsembleCritic(OBS + ACT, members=4, hidden=(64, 64), layer_norm=True, dropout=dropout)
    loop = LoopCritics(OBS + ACT, members=4, hidden=(64, 64), layer_norm=True, dropout=dropout)
    loop.load_from_ensemble(batched)
    batched.eval(), loop.eval()  # dropout off: the two draw different masks
    obs = torch.randn(50, OBS)
    act_b, act_l = torch.rand(50, ACT, requires_grad=True), None
    act_l = act_b.detach().clone().requires_grad_()
    qb, ql = batched(obs, act_b), loop(obs, act_l)
    torch.testing.assert_close(qb, ql, rtol=1e-5, atol=1e-5)
    weights = torch.randn(4, 50)  # a different loss weight per member and sample
    (qb * weights).sum().backward()
    (ql * weights).sum().backward()
    torch.testing.assert_close(act_b.grad, act_l.grad, rtol=1e-4, atol=1e-5)
    stacked = [m for m in batched.net if not isinstance(m, torch.nn.ReLU | torch.nn.Dropout)]
    for i, critic in enumerate(loop.critics):
        plain = [m for m in critic if not isinstance(m, torch.nn.ReLU | torch.nn.Dropout)]
        for src, dst in zip(stacked, plain, strict=True):
            grad_w = src.weight.grad[i].T if src.weight.dim() == 3 and src.weight.shape[1] > 1 else None
            if grad_w is None:  # LayerNorm affine (E, 1, F)
                grad_w = src.weight.grad[i, 0]
            torch.testing.assert_close(grad_w, dst.weight.grad, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(src.bias.grad[i, 0], dst.bias.grad, rtol=1e-4, atol=1e-5)


def test_subset_of_members_trains_only_those_members():
    """The target subset path (index_select per layer) evaluates exactly the chosen members."""
    torch.manual_seed(0)
    critic = EnsembleCritic(OBS + ACT, members=5, hidden=(32, 32), layer_norm=True)
    obs, act = torch.randn(20, OBS), torch.rand(20, ACT)
    members = torch.tensor([3, 0])
    critic(obs, act, members).sum().backward()
    for p in critic.parameters():
        touched = p.grad.reshape(5, -1).abs().sum(1) > 0
        assert touched.tolist() == [True, False, False, True, False]


def test_tanh_gaussian_log_prob_matches_the_change_of_variables():
    from torch.distributions import Normal

    from robot_rl.agents.networks import TanhGaussianActor

    torch.manual_seed(0)
    actor = TanhGaussianActor(OBS, ACT, hidden=(32, 32))
    obs = torch.randn(64, OBS)
    torch.manual_seed(1)
    action, log_prob = actor.sample(obs)
    mean, log_std = actor(obs)
    torch.manual_seed(1)
    u = mean + log_std.exp() * torch.randn_like(mean)  # the same draw
    torch.testing.assert_close(action, torch.tanh(u))
    reference = Normal(mean, log_std.exp()).log_prob(u).sum(-1) - torch.log1p(-(torch.tanh(u) ** 2)).sum(-1)
    torch.testing.assert_close(log_prob, reference, rtol=1e-4, atol=1e-3)
    # and so do the actor's gradients (the reparameterised draw flows through both)
    params = list(actor.parameters())
    g_ours = torch.autograd.grad(log_prob.sum(), params)
    g_ref = torch.autograd.grad(reference.sum(), params)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_direct_adam_step_equals_optimizer_step_exactly():
    from robot_rl.agents.sac import adam_step

    def trained(step_fn):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, fused=True)
        g = torch.Generator().manual_seed(0)
        for _ in range(4):
            opt.zero_grad(set_to_none=True)
            net(torch.randn(32, 5, generator=g)).square().mean().backward()
            step_fn(opt)
        return net, opt

    ours, ours_opt = trained(adam_step)
    ref, ref_opt = trained(lambda opt: opt.step())
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(ours_opt.state.values(), ref_opt.state.values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("step", "exp_avg", "exp_avg_sq"))


def test_bc_term_follows_demonstrations_only_where_the_critics_prefer_them():
    """Reward -10 (a - 0.5)^2; demonstrations act 0.5 (good) in states with s0 > 0 and -0.9 (bad) in
    the others. The Q-filtered BC term pulls the policy to the good demonstrations and lets the
    critics overrule the bad ones; the plain RL update reports no BC loss."""
    torch.manual_seed(0)
    cfg = dict(hidden=(64, 64), utd=5, batch_size=64, num_critics=4)
    agent = SAC(4, 1, preset("rlpd", bc_weight=10.0, **cfg))
    g = torch.Generator().manual_seed(0)
    demos, online = ReplayBuffer(400, 4, 1), ReplayBuffer(2000, 4, 1)
    for _ in range(400):
        obs = torch.randn(4, generator=g)
        a = torch.tensor([0.5 if obs[0] > 0 else -0.9])
        demos.add(obs, a, float(-10 * ((a - 0.5) ** 2).sum()), obs, True)
    rows = demo_rows(online, demos, 64, 0.5)
    assert rows == 64  # no online data yet: a batch is all demonstrations
    for _ in range(300):
        obs = torch.randn(4, generator=g)
        a = agent.act(obs[None])[0]
        online.add(obs, a, float(-10 * ((a - 0.5) ** 2).sum()), obs, True)
        rows = demo_rows(online, demos, 64, 0.5)
        out = agent.update(sample_block(online, demos, 5, 64, 0.5, g), rows)
    assert rows == 32 and "bc_loss" in out
    test = torch.randn(256, 4, generator=g)
    action = agent.act(test, deterministic=True)[:, 0]
    # both halves near the good action: the bad demonstrations were filtered out, not imitated
    # (without the Q-filter the bad half lands at -0.2 at this weight)
    assert abs(float(action[test[:, 0] > 0].mean()) - 0.5) < 0.15
    assert float(action[test[:, 0] <= 0].mean()) > 0.3
    # the filter drops the bad demonstrations; without it the term uses every row
    batch = demos.gather(torch.arange(len(demos))[None])
    feats, act = agent.encoder(batch.obs)[0].detach(), batch.action[0]
    bad = batch.obs["state"][0][:, 0] <= 0
    assert float(agent.bc_keep(feats, act)[bad].mean()) < 0.2
    assert (
        float(SAC(4, 1, preset("rlpd", bc_weight=1.0, bc_q_filter=False, **cfg)).bc_keep(feats, act).mean())
        == 1
    )
    plain = SAC(4, 1, preset("rlpd", **cfg))
    assert "bc_loss" not in plain.update(sample_block(online, demos, 5, 64, 0.5, g), 32)
