"""Reset-free practice on panda pick_place: the two directions, keep-scene resets, the loop and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robot_rl.errors import ConfigError


@pytest.fixture(scope="module")
def env():
    from robot_rl.sim import make_twin

    twin = make_twin("panda", "pick_place")
    yield twin
    twin.close()


def _run_expert(env, seed: int) -> dict:
    from robot_rl.sim import make_expert

    expert = make_expert(env, seed=seed)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    for _ in range(env.unwrapped.task.max_episode_steps):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    return info


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_expert_moves_the_cube_into_the_target_bin_and_lets_go(env, direction):
    task = env.unwrapped.task
    task.set_direction(direction)
    source, target = task.bins()
    for seed in range(3):
        env.reset(seed=seed)
        assert task.in_bin(source) and not task.in_bin(target)  # episodic resets start in the source bin
        info = _run_expert(env, seed)
        assert info["success"] and task.in_bin(target) and not env.unwrapped.robot.gripper_closed
    # the observation ends with the target bin's centre on the table
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs["state"][-3:], [*target, 0.0], atol=1e-6)


def test_holding_the_cube_over_the_target_is_not_success(env):
    task = env.unwrapped.task
    task.set_direction("forward")
    env.reset(seed=1)
    task.place_cube(np.random.default_rng(0), task.bins()[1])  # cube resting in the target bin
    env.unwrapped.robot.gripper_closed = True  # ... but the hand is closed (as if still holding it)
    assert not task.evaluate()[1]
    env.unwrapped.robot.gripper_closed = False
    assert task.evaluate()[1]


def test_keep_scene_reset_starts_where_the_last_episode_ended_and_picks_the_direction_by_the_cube(env):
    task = env.unwrapped.task
    task.set_direction("forward")
    env.reset(seed=2)
    _run_expert(env, 2)  # the cube is now in bin B
    cube, tcp = task.cube_pose()[0], env.unwrapped.robot.tcp_pose()[0]
    assert task.direction_for_cube() == "backward"
    task.set_direction("backward")
    obs, info = env.reset(options={"keep_scene": True})
    np.testing.assert_allclose(task.cube_pose()[0], cube, atol=1e-9)
    np.testing.assert_allclose(env.unwrapped.robot.tcp_pose()[0], tcp, atol=1e-9)
    assert info["direction"] == "backward" and env.unwrapped.elapsed_steps == 0
    np.testing.assert_allclose(obs["state"][-3:], [*task.bins()[1], 0.0], atol=1e-6)  # now bin A
    with pytest.raises(ConfigError, match="forward or backward"):
        task.set_direction("sideways")


def test_around_spawn_starts_the_cube_off_the_pad_where_practice_leaves_it_and_the_expert_still_places_it():
    from robot_rl.sim import make_twin

    twin = make_twin("panda", "pick_place", task_config={"spawn": "around"})
    task = twin.unwrapped.task
    try:
        for direction in ("forward", "backward"):
            task.set_direction(direction)
            source, target = task.bins()
            starts = []
            for seed in range(6):
                twin.reset(seed=seed)
                xy = task.cube_pose()[0][:2]
                assert np.abs(xy - source).max() <= task.config.around_half + 1e-9
                assert not task.in_bin(target) and task.direction_for_cube() == direction
                starts.append(task.in_bin(source))
                assert _run_expert(twin, seed)["success"]
            assert not all(starts)  # most starts are off the pad (a pad is a quarter of the square)
    finally:
        twin.close()
    with pytest.raises(ConfigError, match="around_half"):
        make_twin("panda", "pick_place", task_config={"spawn": "around", "around_half": 0.25})


def test_practice_records_its_demonstrations_with_demo_task_config(tmp_path):
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    config = PracticeConfig(
        minutes=0.1, demo_episodes=4, demo_task_config={"spawn": "around"}, agent={"hidden": [16, 16]}
    )
    practice = Practice(config, tmp_path / "run", progress=False)
    a = np.asarray(practice.env.unwrapped.task.config.bin_a)
    demos = practice.demos["forward"]
    cube = demos.obs["state"][: demos.high_water, 14:16].numpy()  # cube (x, y) in every demo frame
    starts = cube[np.abs(cube).sum(1) > 0]
    assert np.abs(starts - a).max() > practice.env.unwrapped.task.config.bin_half  # not only in bin A
    assert practice.env.unwrapped.task.config.spawn == "bin"  # practice itself is untouched


def test_bins_closer_than_a_pad_are_refused():
    from robot_rl.sim import make_twin

    with pytest.raises(ConfigError, match="bin_a/bin_b"):
        make_twin("panda", "pick_place", task_config={"bin_a": [0.5, 0.0], "bin_b": [0.5, 0.05]})


def test_practice_runs_without_env_resets_counts_arm_resets_and_resumes(tmp_path):
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    small = dict(
        demo_episodes=2,
        eval_episodes=1,
        start_steps=30,
        agent={"utd": 1, "hidden": [32, 32], "num_critics": 2},
    )
    config = PracticeConfig(minutes=0.5, eval_every_minutes=0.25, **small)
    practice = Practice(config, tmp_path / "run", progress=False)
    restores = []
    twin = practice.env.unwrapped
    original = twin.client.restoreState
    twin.client.restoreState = lambda *a, **k: (restores.append(1), original(*a, **k))[1]
    row = practice.run()
    assert len(restores) == 1  # the first scene only: no episode after it restored the world
    assert row["sim_minutes"] >= 0.5 and row["hand_resets"] == 0
    episodes = row["forward_episodes"] + row["backward_episodes"]
    assert row["resets"] == episodes >= 2 and row["reset_successes"] == row["resets"]
    assert row["forward_updates"] > 0 and practice.updates["forward"] == row["forward_updates"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 3 and rows[0]["sim_minutes"] == 0.0  # the untrained baseline comes first
    assert (tmp_path / "run" / "curve.png").stat().st_size > 0
    # resume: the counters and buffers carry on
    again = Practice(
        PracticeConfig(minutes=0.75, eval_every_minutes=0.25, **small),
        tmp_path / "run",
        resume=True,
        progress=False,
    )
    assert again.sim_steps == practice.sim_steps and len(again.online["forward"]) == len(
        practice.online["forward"]
    )
    last = again.run()
    assert last["sim_minutes"] >= 0.75 and last["resets"] > row["resets"]
    with pytest.raises(Exception, match="not empty"):
        Practice(config, tmp_path / "run", progress=False)


def test_a_cube_pushed_out_of_reach_is_put_back_and_counted_as_a_hand_reset(tmp_path):
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    config = PracticeConfig(
        minutes=0.2, demo_episodes=0, eval_episodes=1, start_steps=10_000, arm_reset=False
    )
    practice = Practice(config, tmp_path / "run", progress=False)
    task = practice.env.unwrapped.task
    practice.env.reset(seed=0)
    task.client.resetBasePositionAndOrientation(task.cube, [0.9, 0.0, 0.02], [0, 0, 0, 1])  # off the table
    import torch

    practice._episode(torch.Generator(), type("Bar", (), {"update": lambda self, n: None})())
    assert practice.resets.hand_resets == 1 and practice.resets.in_workspace()
    episode, event = [
        json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    ]
    # the episode's line says where it started and how it went; the hand reset's where the person found it
    assert episode["event"] == "episode" and episode["cube_xy"][0] > 0.7 and not episode["success"]
    assert 0.0 < episode["tcp_lowest_z"] < 0.5 and len(episode["cube_quat"]) == 4
    assert event["event"] == "hand_reset" and event["cube_xy"][0] > 0.7
    assert task.in_bin(task.bins("forward")[0]) or task.in_bin(task.bins("backward")[0])


def test_arm_reset_gets_out_of_a_straight_elbow_with_a_joint_reset(env):
    """Reset-free practice drifts the arm's posture from episode to episode; a stretched arm ends with
    its elbow straight, a singularity the Cartesian law cannot leave. The arm reset walks the joints
    home first, then finishes as usual; without the joint reset it does not arrive."""
    from robot_rl.controllers.resets import ArmReset, run_reset

    twin = env.unwrapped

    def stretched():
        env.reset(seed=0)
        q = np.array(twin.robot.model.home_q, dtype=np.float64)
        q[1], q[3], q[5] = 1.25, -0.08, 1.1  # shoulder forward, elbow straight (limit -0.0698 rad)
        twin.robot.teleport(q)
        return twin._observation()

    cartesian_only = ArmReset(near_limit_rad=0.0, cartesian_patience_s=1e9)
    assert not run_reset(env, cartesian_only, np.random.default_rng(0), stretched()).success
    reset = ArmReset()
    report = run_reset(env, reset, np.random.default_rng(0), stretched())
    assert report.success and reset.joint_resets == 1
    assert twin.robot.controller.joint_target is None  # back in the Cartesian law
    assert np.linalg.norm(twin.robot.tcp_pose()[0] - reset.target) < 0.01


def test_practice_command_runs_a_config_file_and_reports_errors_in_one_line(robot_rl_bin, tmp_path):
    import subprocess

    config = tmp_path / "practice.yaml"
    config.write_text(
        "task: pick_place\nminutes: 0.2\neval_every_minutes: 0.2\ndemo_episodes: 1\neval_episodes: 1\n"
        "start_steps: 20\nagent: {hidden: [32, 32], num_critics: 2, utd: 1}\n"
        "pretrain: {method: bc, steps: 20}\n"
    )
    out = tmp_path / "run"
    proc = subprocess.run(
        [robot_rl_bin, "practice", "--config", str(config), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])["sim_minutes"] >= 0.2
    assert {"config.yaml", "metrics.jsonl", "curve.png", "checkpoint.pt"} <= {p.name for p in out.iterdir()}
    bad = subprocess.run([robot_rl_bin, "practice", "--resume"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: --resume needs --out RUN_DIR: the run directory to continue"
    )
    config.write_text("task: reach\nminutes: 0.1\n")
    wrong = subprocess.run(
        [robot_rl_bin, "practice", "--config", str(config), "--out", str(tmp_path / "r2")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert wrong.returncode == 2 and "forward/backward" in wrong.stderr and "Traceback" not in wrong.stderr


def test_progress_reward_pays_only_for_progress_and_the_placement():
    """`reward: progress` is potential-based shaping: standing still earns nothing, so holding the cube
    over the target forever can never beat placing it (1 on success)."""
    from robot_rl.sim import make_expert, make_twin

    env = make_twin("panda", "pick_place", task_config={"reward": "progress"})
    obs, _ = env.reset(seed=4)
    task = env.unwrapped.task
    start = task.potential()
    hold = np.zeros(4, np.float32)
    rewards = [env.step(hold)[1] for _ in range(5)]
    assert np.abs(rewards).max() < 0.01  # nothing moves, nothing earned
    expert = make_expert(env, seed=0)
    obs, _ = env.reset(seed=4)
    expert.reset()
    total, before_success = 0.0, start
    for _ in range(100):
        potential = task.potential()
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        total += reward
        if terminated or truncated:
            break
        before_success = task.potential()
    assert info["success"] and reward == 1.0
    np.testing.assert_allclose(total, 1.0 + before_success - start, atol=1e-6)  # the shaping telescopes
    assert potential > start
    env.close()


def test_shipped_pick_place_configs_load():
    from robot_rl.paths import config_dir
    from robot_rl.run_config import load_practice_config, load_train_config

    practice = load_practice_config(str(config_dir() / "train" / "panda_pick_place_practice.yaml"))
    episodic = load_train_config(str(config_dir() / "train" / "panda_pick_place_bench.yaml"))
    # the episodic benchmark's learner, plus the behaviour-cloning term practice needs
    learner = {k: v for k, v in practice.agent.items() if not k.startswith("bc_")}
    assert practice.task == episodic.task == "pick_place" and learner == episodic.agent
    assert practice.agent["bc_weight"] > 0 and practice.reach_half > 0 and practice.stuck_episodes > 0


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_practice_noise_acts_with_the_deterministic_action_plus_that_noise(tmp_path, noise):
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    config = PracticeConfig(demo_episodes=0, start_steps=0, practice_noise=noise, agent={"hidden": [16, 16]})
    practice = Practice(config, tmp_path / "run", progress=False)
    obs, _ = practice.env.reset(seed=0)
    mean = practice.agents["forward"].policy(obs, deterministic=True)
    actions = np.stack([practice.act("forward", obs) for _ in range(400)])
    if noise:  # the gripper latch gets no noise: it would close the hand at random
        np.testing.assert_array_equal(actions[:, -1], np.full(len(actions), mean[-1]))
        actions, mean = actions[:, :-1], mean[:-1]
    inside = np.abs(mean) < 0.8  # entries the clip to [-1, 1] leaves alone
    spread = actions[:, inside].std(axis=0)
    if noise:
        np.testing.assert_allclose(actions[:, inside].mean(axis=0), mean[inside], atol=0.015)
        np.testing.assert_allclose(spread, noise, rtol=0.2)
    else:  # the SAC sample: the untrained policy's own spread, far wider
        assert spread.min() > 0.2


def test_demo_arm_reset_starts_the_demonstrations_where_practice_starts_the_arm(tmp_path):
    from robot_rl.practice import Practice
    from robot_rl.run_config import PracticeConfig

    config = PracticeConfig(minutes=0.1, demo_episodes=3, demo_arm_reset=True, agent={"hidden": [16, 16]})
    practice = Practice(config, tmp_path / "run", progress=False)
    demos = practice.demos["forward"]
    state = demos.obs["state"][: demos.high_water].numpy()
    final = np.flatnonzero(~demos.valid[: demos.high_water - 1].numpy())  # an episode's last frame
    starts = state[np.r_[0, final + 1]]
    assert len(demos) > 0 and np.all(np.abs(starts[:, :3] - [0.5, 0.0, 0.3]) <= 0.025)  # home +/- 2 cm
