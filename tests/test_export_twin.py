"""The exported C policy flies and drives the twin like the PyTorch policy it came from.

Any policy serves for this comparison, so each test fits a small 64x64 actor to the scripted
expert in seconds (behaviour cloning; DAgger relabelling for the quadrotor, whose cloned policy
otherwise drifts off the states the expert visits), exports it, and runs the same seeded
episodes with PyTorch and with the C code through ctypes. Success rates must agree within 2
points; the policies differ by ~1e-7 per action, so in practice they match exactly.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from robot_rl.agents.sac import SAC, SACConfig
from robot_rl.evaluate import run_episodes
from robot_rl.export import write_c
from robot_rl.export.build import HostPolicy, build_host_library
from robot_rl.export.firmware import car_frame
from robot_rl.export.model import describe_agent
from robot_rl.sim import make_expert, make_twin

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")


def fit_to_expert(env, demos: int, dagger_rounds: int, steps: int, seed: int = 0) -> SAC:
    torch.manual_seed(seed)
    expert = make_expert(env, seed=seed)
    agent = SAC(env.observation_space["state"].shape[0], env.action_space.shape[0],
                SACConfig(hidden=(64, 64), num_critics=2, critic_subset=2))  # fmt: skip
    states, labels = [], []

    def rollout(episode_seed: int, expert_drives: bool) -> None:
        obs, _ = env.reset(seed=episode_seed)
        expert.reset()
        done = False
        while not done:
            label = np.asarray(expert.plan(obs), np.float32)
            states.append(obs["state"].copy())
            labels.append(label)
            action = label if expert_drives else agent.policy(obs)
            obs, _, terminated, truncated, _ = env.step(np.asarray(action, np.float32))
            done = terminated or truncated

    optimizer = torch.optim.Adam(agent.actor.parameters(), lr=3e-3)

    def fit() -> None:
        x = torch.from_numpy(np.stack(states))
        y = torch.from_numpy(np.stack(labels)).clamp(-0.999, 0.999)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            idx = torch.randint(0, len(x), (256,), generator=gen)
            pred = agent.actor.deterministic(agent.encoder({"state": x[idx]}))
            loss = (pred - y[idx]).square().sum(-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    for k in range(demos):
        rollout(k, True)
    agent.encoder.normalizer.fit(torch.from_numpy(np.stack(states)))
    fit()
    for r in range(dagger_rounds):
        for k in range(demos):
            rollout(1000 * (r + 1) + k, False)
        fit()
    return agent.eval()


def test_exported_policy_flies_hover_like_pytorch(tmp_path):
    env = make_twin("crazyflie", "hover")
    agent = fit_to_expert(env, demos=8, dagger_rounds=2, steps=800)
    desc = describe_agent(agent, env.robot_spec, task="hover")
    write_c(desc, tmp_path, "fast")
    c_policy = HostPolicy(build_host_library(tmp_path / "policy.c", "fast"), "policy", desc.obs_size, 4)
    assert c_policy.selftest()[0]
    episodes = 20
    torch_rate = run_episodes(agent.policy, env, episodes).summary()["success_rate"]
    c_rate = run_episodes(c_policy, env, episodes).summary()["success_rate"]
    env.close()
    assert torch_rate >= 0.25, f"the fitted policy should hover sometimes (got {torch_rate:.0%})"
    assert abs(c_rate - torch_rate) <= 0.02, (c_rate, torch_rate)


def test_car_loop_drives_laps_like_pytorch(tmp_path):
    from test_export_firmware import Car  # the ctypes binding of firmware/rccar/car_loop.c

    env = make_twin("racecar", "laps", task_config={"max_episode_steps": 120, "terminate_on_success": True})
    agent = fit_to_expert(env, demos=6, dagger_rounds=0, steps=800)
    desc = describe_agent(agent, env.robot_spec, task="laps")
    assert desc.obs_size == 15
    write_c(desc, tmp_path, "reference")
    car = Car(tmp_path, tmp_path)
    episodes, first_seed = 8, 10_000_000
    torch_rate = run_episodes(agent.policy, env, episodes, first_seed).summary()["success_rate"]

    successes = 0
    for i in range(episodes):
        obs, _ = env.reset(seed=first_seed + i)
        car.lib.car_loop_init(car.ref)
        now, done, info, seq = 0, False, {}, 0
        while not done:
            assert car.feed(car_frame(obs["state"], seq), now) == 1
            car.tick(now)
            action = np.array(car.state.applied, np.float32)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            now, seq = now + 100, seq + 1  # 10 Hz policy steps
        successes += bool(info.get("success", False))
    env.close()
    c_rate = successes / episodes
    assert torch_rate >= 0.25, f"the cloned policy should lap sometimes (got {torch_rate:.0%})"
    assert abs(c_rate - torch_rate) <= 0.02, (c_rate, torch_rate)
