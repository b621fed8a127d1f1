"""Reward models on real twin frames: collection labels, the classifier's save/load, thresholds and
the proprioceptive AND, the reward wrapper, and the audit figures."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

pytest.importorskip("pybullet")

from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.reward import (
    ClassifierConfig,
    LearnedReward,
    ProprioCondition,
    SuccessClassifier,
    collect,
    confusion,
    evaluate,
    load_frames,
    load_model,
    train_classifier,
)


def _field(layout, name, index=0):
    start = 0
    for f in layout:
        if f["name"] == name:
            return start + index
        start += f["size"]
    raise KeyError(name)


@pytest.fixture(scope="module")
def pick_frames(tmp_path_factory):
    """Three pick_cube episodes: the expert (successes) and grasp-but-hold-low (near misses)."""
    out = tmp_path_factory.mktemp("pick_frames")
    collect(
        "panda",
        "pick_cube",
        out,
        episodes=3,
        seed=5,
        cameras=("front",),
        every=3,
        progress=False,
        behaviours={"expert": 0.5, "hold_low": 0.5},
    )
    return load_frames(out)


@pytest.fixture(scope="module")
def pick_model(pick_frames):
    cfg = ClassifierConfig(epochs=2, channels=[8, 8, 8, 8], hidden=16, conditions=["gripper_width<0.07"])
    return train_classifier(pick_frames, cfg, progress=False)


# -- collection ----------------------------------------------------------------------------------
def test_collected_labels_agree_with_the_simulator_state(pick_frames):
    frames = pick_frames
    assert frames.images["front"].shape[1:] == (128, 128, 3)
    assert frames.images["front"].dtype == np.uint8
    assert len(frames) == frames.state.shape[0] == frames.images["front"].shape[0]
    counts = frames.counts()
    assert counts.get("success", 0) > 0 and counts.get("near_miss", 0) > 0
    layout = frames.meta["state_layout"]
    cube_z = frames.state[:, _field(layout, "cube_pos", 2)]
    for record, z in zip(frames.records, cube_z):
        # the label is the task's own success test at that frame
        assert (record["label"] == "success") == record["task_success"]
        assert (record["label"] == "success") == (record["cube_z"] > record["lift_height"])
        # and the stored observation shows the same cube (observation noise is <= 1 mm std)
        assert abs(z - record["cube_z"]) < 0.006
        if record["label"] == "near_miss":
            assert record["grasped"] or record["cube_z"] > 0.02
            assert record["cube_z"] < record["lift_height"] - 0.01
    behaviours = {r["behaviour"]: r["label"] for r in frames.records}
    assert set(behaviours) <= {"expert", "hold_low"}
    hold = [r for r in frames.records if r["behaviour"] == "hold_low"]
    assert not any(r["label"] == "success" for r in hold)  # held low: never lifted far enough


def test_racecar_lap_labels_follow_the_tasks_progress(tmp_path):
    collect("racecar", "laps", tmp_path, episodes=1, seed=0, every=2, progress=False)
    frames = load_frames(tmp_path)
    labels = frames.labels
    assert {"near_miss", "success", "failure"} <= set(labels)
    for r in frames.records:
        lap = r["lap_m"]
        assert (r["label"] in ("success", "boundary")) == r["task_success"]
        if r["label"] == "near_miss":
            assert lap - 1.0 <= r["progress_m"] < lap
        if r["label"] == "success":
            assert lap <= r["progress_m"] <= lap + 1.0


def test_collection_refuses_a_task_without_labels(tmp_path):
    with pytest.raises(ConfigError, match="panda/reach"):
        collect("panda", "reach", tmp_path, episodes=1, progress=False)


def test_load_frames_names_the_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"labels\.json"):
        load_frames(tmp_path)


# -- classifier: save, load, threshold, AND --------------------------------------------------------
def test_classifier_round_trips_through_its_folder(pick_model, pick_frames, tmp_path):
    folder = pick_model.save(tmp_path / "model")
    meta = json.loads((folder / "reward_model.json").read_text())
    assert meta["kind"] == "classifier" and meta["cameras"] == ["front"]
    again = load_model(folder)
    assert isinstance(again, SuccessClassifier)
    p1 = pick_model.probability(pick_frames.images)
    p2 = again.probability(pick_frames.images)
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-6)
    assert again.temperature == pytest.approx(pick_model.temperature)
    assert again.threshold == pick_model.threshold
    assert again.conditions == [ProprioCondition("gripper_width", "<", 0.07)]
    assert np.all((p1 >= 0) & (p1 <= 1))


def test_threshold_and_proprioceptive_condition_are_anded(pick_model, pick_frames):
    images, state = pick_frames.images, pick_frames.state
    p = pick_model.probability(images)
    width = state[:, _field(pick_frames.meta["state_layout"], "gripper_width")]
    held = width < 0.07
    assert held.any() and (~held).any()  # the set has open-gripper frames and closed ones
    for threshold in (0.2, 0.5, 0.9):
        pick_model.threshold = threshold
        _, decided = pick_model.decide(images, state)
        np.testing.assert_array_equal(decided, (p >= threshold) & held)
    pick_model.threshold = float(np.nextafter(p.max(), 1.0))  # above every probability: nothing passes
    assert not pick_model.decide(images, state)[1].any()
    pick_model.threshold = 0.75
    # without the state the condition cannot be checked: an error, not a silent pass
    with pytest.raises(RobotRLError, match="state"):
        pick_model.decide(images)


def test_condition_parsing_and_checks():
    layout = [{"name": "ee_pos", "size": 3}, {"name": "gripper_width", "size": 1}]
    c = ProprioCondition.parse("ee_pos[2]>=0.08")
    assert c == ProprioCondition("ee_pos", ">=", 0.08, 2)
    state = np.array([[0, 0, 0.1, 0.0], [0, 0, 0.05, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(c.holds(state, layout), [True, False])
    with pytest.raises(ConfigError, match="ee_pos"):
        ProprioCondition("ee_pos", ">", 0.0, 3).check(layout)
    with pytest.raises(ConfigError, match="gripper_width"):
        ProprioCondition("finger", ">", 0.0).check(layout)
    with pytest.raises(ConfigError, match="FIELD"):
        ProprioCondition.parse("gripper_width=0.01")


# -- wrapper ---------------------------------------------------------------------------------------
def test_wrapper_swaps_reward_and_success_and_keeps_the_truth(pick_model):
    from robot_rl.sim import make_expert, make_twin

    # the env is state-only: the wrapper renders the model's camera itself
    env = LearnedReward(make_twin("panda", "pick_cube"), pick_model, terminate_on_success=False)
    expert = make_expert(env)
    try:
        obs, _ = env.reset(seed=1)
        expert.reset()
        assert set(obs) == {"state"}
        pick_model.threshold = 1e-9  # the model now calls every frame a success (gripper permitting)
        disagreements = 0
        for _ in range(30):
            obs, reward, terminated, truncated, info = env.step(expert.act(obs))
            width = obs["state"][_field(pick_model.state_layout, "gripper_width")]
            assert info["success"] == (width < 0.07)
            assert reward == float(info["success"])
            assert info["true_success"] == (info["cube_height"] > 0.1)
            assert info["true_reward"] == float(info["true_success"])
            assert 0.0 <= info["reward_probability"] <= 1.0
            disagreements += info["success"] != info["true_success"]
            if terminated or truncated:
                break
        assert disagreements > 0  # the reward really is the model's, not the task's
        pick_model.threshold = 0.75
    finally:
        pick_model.threshold = 0.75
        env.close()


def test_wrapper_ends_the_episode_on_model_success(pick_model):
    from robot_rl.sim import make_twin

    pick_model.conditions, saved = [], pick_model.conditions
    pick_model.threshold = 1e-9
    env = LearnedReward(make_twin("panda", "pick_cube"), pick_model)
    try:
        env.reset(seed=2)
        _, reward, terminated, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        assert reward == 1.0 and terminated and info["success"] and not info["true_success"]
    finally:
        pick_model.threshold, pick_model.conditions = 0.75, saved
        env.close()


# -- audit figures ---------------------------------------------------------------------------------
def test_confusion_matches_a_hand_computed_matrix():
    labels = np.array(["success", "success", "success", "near_miss", "near_miss", "failure", "failure",
                       "failure", "boundary", "near_miss"])  # fmt: skip
    predicted = np.array([1, 1, 0, 1, 0, 0, 1, 0, 1, 0], dtype=bool)
    r = confusion(predicted, labels)
    # boundary left out: 9 frames; TP 2, FN 1, FP 2 (one near miss, one failure), TN 4
    assert (r["frames"], r["tp"], r["fn"], r["fp"], r["tn"]) == (9, 2, 1, 2, 4)
    assert r["accuracy"] == pytest.approx(6 / 9, abs=1e-4)
    assert r["precision"] == pytest.approx(2 / 4)
    assert r["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["fpr"] == pytest.approx(2 / 6, abs=1e-4)
    assert r["near_miss_fpr"] == pytest.approx(1 / 3, abs=1e-4)
    empty = confusion(np.zeros(2, dtype=bool), np.array(["failure", "failure"]))
    assert empty["recall"] is None and empty["precision"] is None and empty["near_miss_fpr"] is None


def test_evaluate_reports_the_models_own_decisions(pick_model, pick_frames):
    result = evaluate(pick_model, pick_frames)
    _, decided = pick_model.decide(pick_frames.images, pick_frames.state)
    assert result == {**result, **confusion(decided, pick_frames.labels)}
    assert 0 < result["ms_per_frame"] < 1000


def test_reward_cli_collect_train_eval(tmp_path, robot_rl_bin):
    frames, model = tmp_path / "frames", tmp_path / "model"
    run = dict(capture_output=True, text=True, timeout=300)
    out = subprocess.run(
        [robot_rl_bin, "reward", "collect", "--robot", "panda", "--task", "peg_insert", "--out", str(frames),
         "--episodes", "2", "--cameras", "wrist", "--every", "6", "--json"], **run)  # fmt: skip
    assert out.returncode == 0, out.stderr
    collected = json.loads(out.stdout)
    assert collected["frames"] == len(load_frames(frames))
    out = subprocess.run(
        [robot_rl_bin, "reward", "train", str(frames), "--out", str(model), "--epochs", "1", "--json"], **run
    )
    if "success" not in collected["labels"]:
        assert out.returncode == 2 and "collect more episodes" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    out = subprocess.run([robot_rl_bin, "reward", "eval", str(model), str(frames), "--json"], **run)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("accuracy", "precision", "recall", "near_miss_fpr", "ms_per_frame"):
        assert key in report
    assert report["frames"] + report["boundary_frames_excluded"] == collected["frames"]
    out = subprocess.run([robot_rl_bin, "reward", "eval", str(tmp_path), str(frames)], **run)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and len(out.stderr.splitlines()) == 1


def test_hard_negatives_from_a_policy_are_labelled_by_the_simulator(tmp_path):
    """`collect(policy=...)`: frames of what a policy does (here: closing the empty hand high above
    the table, the way a policy fooled a reward model once), labelled from the twin's state."""
    from robot_rl.reward.dataset import collect, load_frames

    close_in_the_air = np.array([0.0, 0.0, 1.0, 1.0], np.float32)  # up, close the gripper
    result = collect(
        "panda", "pick_cube", tmp_path / "mined", episodes=2, seed=7, every=10, progress=False,
        policy=lambda obs: close_in_the_air,
    )  # fmt: skip
    frames = load_frames(tmp_path / "mined")
    assert result["frames"] == len(frames) > 0
    assert set(frames.labels) == {"failure"}  # never grasped, never lifted: negatives only
    assert {r["behaviour"] for r in frames.records} == {"policy"}
