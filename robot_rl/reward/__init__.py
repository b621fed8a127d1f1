"""Learned reward: success detectors on camera frames, trained and audited in the twin.

- `SuccessClassifier` (classifier.py): small CNN per camera, random-shift augmentation,
  temperature-calibrated probability, threshold, optional proprioceptive check ANDed in.
- `ClipReward` (vlm.py): CLIP through `transformers`, zero-shot from a task text or a few-shot head.
- `RemoteVLMReward` (remote.py): a yes/no question to an OpenAI-compatible VLM server.
- `LearnedReward` (wrapper.py): a gymnasium wrapper that trains the learner on a model's reward.
- `collect` / `load_frames` (dataset.py): frames labelled from the simulator's true state.

Only numpy, torch and gymnasium are imported here; the twin and `transformers` load when used.
"""

from robot_rl.reward.base import ProprioCondition, RewardModel, load_model
from robot_rl.reward.classifier import ClassifierConfig, SuccessClassifier, train_classifier
from robot_rl.reward.dataset import FrameSet, collect, load_frames
from robot_rl.reward.metrics import confusion, evaluate
from robot_rl.reward.wrapper import LearnedReward

__all__ = [
    "ClassifierConfig",
    "FrameSet",
    "LearnedReward",
    "ProprioCondition",
    "RewardModel",
    "SuccessClassifier",
    "collect",
    "confusion",
    "evaluate",
    "load_frames",
    "load_model",
    "train_classifier",
]
