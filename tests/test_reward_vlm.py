"""The CLIP reward backend on a tiny randomly initialised CLIP saved to a temporary folder: the real
loading, zero-shot scoring, few-shot head training and save/load code runs, nothing is downloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

from robot_rl.errors import RobotRLError  # noqa: E402
from robot_rl.reward import FrameSet, evaluate, load_model  # noqa: E402
from robot_rl.reward.vlm import ClipReward  # noqa: E402


def _byte_symbols() -> list[str]:
    """The printable stand-in of every byte that byte-level BPE vocabularies use."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    extra = [b for b in range(256) if b not in printable]
    codes = printable + [256 + i for i in range(len(extra))]
    return [chr(c) for c in codes]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A 2-layer CLIP (32-wide, 32x32 images) and a character-level tokenizer, saved like a real one."""
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip")
    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    n = len(vocab)
    config = transformers.CLIPConfig(
        text_config=dict(
            vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            max_position_embeddings=64, bos_token_id=n - 2, eos_token_id=n - 1, pad_token_id=n - 1,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=8,
        ),
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.CLIPModel(config).save_pretrained(folder)
    tokenizer = transformers.CLIPTokenizer(
        vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt")
    )
    tokenizer.save_pretrained(folder)
    return folder


def _colour_frames(n_episodes: int = 8, per_episode: int = 6, seed: int = 0) -> FrameSet:
    """Success frames show a red square in the middle, the others a blue one (plus noise)."""
    rng = np.random.default_rng(seed)
    images, records = [], []
    for episode in range(n_episodes):
        for step in range(per_episode):
            success = step >= per_episode // 2
            img = rng.integers(0, 60, size=(64, 64, 3)).astype(np.uint8)
            img[16:48, 16:48] = (220, 30, 30) if success else (30, 30, 220)
            images.append(img)
            records.append({"episode": episode, "step": step, "label": "success" if success else "failure"})
    meta = {"cameras": ["front"], "state_layout": [{"name": "gripper_width", "size": 1}]}
    return FrameSet({"front": np.stack(images)}, np.zeros((len(records), 1), np.float32), records, meta)


def test_zero_shot_scores_frames_from_a_task_text(tiny_clip):
    model = ClipReward(tiny_clip, "the red cube is lifted", cameras=["front"], threshold=0.5)
    frames = _colour_frames(2, 4)
    p = model.probability(frames.images)
    assert p.shape == (len(frames),) and np.all((p > 0) & (p < 1))
    # the score depends on the text: another description gives other numbers
    other = ClipReward(tiny_clip, "a peg in a hole", "an empty table", cameras=["front"])
    assert not np.allclose(p, other.probability(frames.images))


def test_few_shot_head_learns_the_labels_and_round_trips(tiny_clip, tmp_path):
    model = ClipReward(tiny_clip, "the red cube is lifted", cameras=["front"], threshold=0.5)
    train, held_out = _colour_frames(8, 6, seed=0), _colour_frames(4, 6, seed=1)
    model.adapt(train, epochs=200, seed=0)
    result = evaluate(model, held_out, timing=False)
    assert result["accuracy"] >= 0.9
    folder = model.save(tmp_path / "clip_reward")
    again = load_model(folder)
    assert isinstance(again, ClipReward) and again.head is not None
    np.testing.assert_allclose(
        again.probability(held_out.images), model.probability(held_out.images), atol=1e-6
    )
    assert json.loads((folder / "reward_model.json").read_text())["model_dir"] == str(tiny_clip.resolve())


def test_missing_model_is_one_line_naming_the_path_and_the_fix(tmp_path):
    where = tmp_path / "no_clip_here"
    with pytest.raises(RobotRLError) as err:
        ClipReward(where, "done", cameras=["front"])
    text = str(err.value)
    assert str(where) in text and "save_pretrained" in text and "\n" not in text
