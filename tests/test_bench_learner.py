"""`bench learner`: the smoke run yields every figure, and the FLOP count matches a hand count."""

import json

import pytest

from robot_rl.benchmarks import learner


def test_flop_count_matches_a_hand_count():
    # critic 3->2->1, actor 2->2->2 (heads of 1 action), batch 1, one critic
    f = learner.update_flops(obs_size=2, action_size=1, hidden=(2,), critics=1, batch=1)
    actor_fwd = 2 * (2 * 2 + 2 * 2)
    critic_fwd = 2 * (3 * 2 + 2 * 1)
    critic_trained = 4 * 3 * 2 + 6 * 2 * 1
    assert f["critic_update"] == actor_fwd + critic_fwd + critic_trained
    actor_trained = 4 * 2 * 2 + 6 * 2 * 2
    critic_input_grad = 2 * 1 * 2 + 2 * 2 * 1  # only the action column of the first layer
    assert f["actor_update"] == actor_trained + critic_fwd + critic_input_grad


@pytest.mark.solo  # measures the machine's peak FLOP/s: run alone (setup.cfg)
def test_quick_run_reports_every_learner_and_goal():
    result = learner.run(
        quick=True, obs_size=5, action_size=2, hidden=(32, 32), batch_size=32, progress=False
    )
    json.dumps(result)  # the CLI prints it as JSON
    assert result["settings"]["torch_threads"] == 1
    assert set(result["learners"]) == {"sb3_sac", "sac", "rlpd", "rlpd_2critics", "rlpd_pixels"}
    assert result["settings"]["pixels"]["camera"] == [128, 128]
    peak = result["peak_matmul"]["gflop_per_s"]
    assert 0.1 < peak < 1e5  # GFLOP/s of one core's float32 matmul
    for name, r in result["learners"].items():
        # updates per wall second of a small network: more than 10 us and less than 10 s each
        assert 0.1 < r["critic_updates_per_s"] < 1e5, (name, r)
        assert 0 < r["gflop_per_update"] < 10, (name, r)  # GFLOP, not FLOP
        # the rates and their FLOP counts agree up to the JSON's rounding: GFLOP/s to 0.1, the rate to
        # 0.1 (0.01 below 10/s), GFLOP per update to 1e-4
        rate, per_update = r["critic_updates_per_s"], r["gflop_per_update"]
        rounding = 0.05 + (0.05 if rate >= 10 else 0.005) * per_update + 5e-5 * rate
        assert r["gflop_per_s"] == pytest.approx(rate * per_update, abs=rounding + 1e-9)
        assert r["peak_fraction"] == pytest.approx(r["gflop_per_s"] / peak, abs=0.001 + 0.05 / peak)
        assert 0 < r["peak_fraction"] < 2, (name, r)
    sac_flops = learner.update_flops(5, 2, (32, 32), critics=2, batch=32)
    sac_gflop = round((sac_flops["critic_update"] + sac_flops["actor_update"]) / 1e9, 4)
    assert result["learners"]["sac"]["gflop_per_update"] == result["learners"]["sb3_sac"]["gflop_per_update"]
    assert result["learners"]["sac"]["gflop_per_update"] == sac_gflop
    # one repeat: the figures are the ratios of the rates above
    figures, rates = result["figures"], {n: r["critic_updates_per_s"] for n, r in result["learners"].items()}
    assert figures["sac_speedup_vs_sb3"] == pytest.approx(rates["sac"] / rates["sb3_sac"], rel=0.01)
    assert figures["per_critic_cost_ratio_10_vs_2"] == pytest.approx(
        (2 * rates["rlpd_2critics"]) / (10 * rates["rlpd"]), rel=0.01
    )
    goals = result["goals"]
    assert result["meets_goals"] == {
        "speedup_vs_sb3": figures["sac_speedup_vs_sb3"] >= goals["speedup_vs_sb3"],
        "peak_fraction": min(figures["sac_peak_fraction"], figures["rlpd_peak_fraction"])
        >= goals["peak_fraction"],
        "per_critic_cost_ratio": figures["per_critic_cost_ratio_10_vs_2"] <= goals["per_critic_cost_ratio"],
    }
    text = learner.table(result)
    assert "sb3_sac" in text and "per-critic cost" in text and "128x128 camera" in text


def test_target_subset_counts_only_the_subset_critics():
    full = learner.update_flops(2, 1, (2,), critics=10, batch=1)
    subset = learner.update_flops(2, 1, (2,), critics=10, batch=1, target_critics=2)
    critic_fwd = 2 * (3 * 2 + 2 * 1)
    assert full["critic_update"] - subset["critic_update"] == 8 * critic_fwd
    assert full["actor_update"] == subset["actor_update"]


def test_subset_evaluation_equals_selecting_from_the_whole_ensemble():
    """The learner evaluates only the target subset; it must match indexing the full ensemble."""
    import torch

    from robot_rl.agents.networks import EnsembleCritic

    torch.manual_seed(0)
    critic = EnsembleCritic(7, members=10, hidden=(16, 16), layer_norm=True)
    obs, act = torch.randn(9, 5), torch.randn(9, 2)
    subset = torch.tensor([7, 2])
    torch.testing.assert_close(critic(obs, act, subset), critic(obs, act).index_select(0, subset))


def test_encoder_flop_count_matches_a_hand_count_and_the_real_encoder():
    # 7x7 image, one 3x3 stride-2 conv to 2 channels (3x3 map), linear to 4 features, batch 1
    f = learner.encoder_flops(7, 7, channels=(2,), strides=(2,), features=4, batch=1)
    conv = 2 * 3 * 3 * 2 * 3 * 9
    head = 2 * (3 * 3 * 2) * 4
    assert f["forward"] == conv + head
    assert f["trained"] == 2 * conv + 3 * head  # the image needs no gradient
    # the default encoder's last map, as the count sees it, is what the real encoder flattens
    from robot_rl.agents.encoders import PixelEncoder
    from robot_rl.agents.sac import SACConfig

    cfg = SACConfig()
    count = learner.encoder_flops(128, 128, cfg.encoder_channels, cfg.encoder_strides, 50, batch=1)
    encoder = PixelEncoder(128, 128, cfg.encoder_channels, cfg.encoder_strides, 50)
    assert count["flat"] == encoder.head[0].in_features == 32 * 13 * 13


def test_paired_learners_alternate_in_chunks_that_add_up():
    assert learner._split(200, 4) == [50, 50, 50, 50]
    assert learner._split(6, 4) == [2, 2, 1, 1]
    assert learner._split(1, 4) == [1]
    result = learner.run(
        quick=True, obs_size=5, action_size=2, hidden=(16, 16), batch_size=16, progress=False, pixels=False
    )
    assert "rlpd_pixels" not in result["learners"] and result["settings"]["pixels"] is None
