"""A CLIP-style vision-language success detector through Hugging Face `transformers` (RoboFuME's
idea: describe the task in words instead of labelling hundreds of frames).

- zero-shot: p(success) = softmax over {success text, failure text} of CLIP's scaled cosine
  similarities, averaged over the model's cameras;
- few-shot: a logistic head on the frozen image embeddings (all cameras concatenated), trained on
  labelled frames and temperature-calibrated on held-out episodes.

The CLIP weights come from a local directory only (`local_files_only`): nothing is fetched at
run time. Images are resized and normalised here in torch, so no image-processing backend
(torchvision, PIL) is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robot_rl.errors import RobotRLError, require
from robot_rl.reward.base import RewardModel, common_kwargs, fit_temperature, sigmoid
from robot_rl.reward.dataset import FrameSet
from robot_rl.runtime import torch_save_atomic

# CLIP's published input normalisation, used when the folder has no preprocessor_config.json
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

HOW_TO_GET = (
    'save one there on a machine with network access: python -c "from transformers import CLIPModel, '
    "CLIPProcessor as P; n='openai/clip-vit-base-patch32'; "
    "CLIPModel.from_pretrained(n).save_pretrained('{dir}'); P.from_pretrained(n).save_pretrained('{dir}')\""
)


def load_clip(model_dir: str | Path):
    """(model, tokenizer, mean, std) from a local directory; one clear error line when absent."""
    folder = Path(model_dir).expanduser()
    if not (folder / "config.json").is_file():
        raise RobotRLError(f"no CLIP model at {folder} (no config.json): " + HOW_TO_GET.format(dir=folder))
    transformers = require("transformers", "reward", "The CLIP reward model")
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    try:
        model = transformers.CLIPModel.from_pretrained(folder, local_files_only=True).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RobotRLError(
            f"cannot load the CLIP model in {folder} ({first}): " + HOW_TO_GET.format(dir=folder)
        ) from None
    mean, std = CLIP_MEAN, CLIP_STD
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        cfg = json.loads(pre.read_text())
        mean, std = tuple(cfg.get("image_mean", mean)), tuple(cfg.get("image_std", std))
    return model, tokenizer, mean, std


def _features(out: Any) -> torch.Tensor:
    """transformers 4 returns the projected embedding; 5 wraps it as `pooler_output`."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class ClipReward(RewardModel):
    kind = "clip"

    def __init__(
        self,
        model_dir: str | Path,
        success_text: str,
        failure_text: str = "",
        head: nn.Linear | None = None,
        temperature: float = 1.0,
        **kw,
    ):
        super().__init__(**kw)
        self.model_dir = str(Path(model_dir).expanduser().resolve())
        self.success_text = success_text
        self.failure_text = failure_text or f"not yet: {success_text}"
        self.clip, self.tokenizer, mean, std = load_clip(self.model_dir)
        self.size = int(self.clip.config.vision_config.image_size)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)
        self.head = head
        self.temperature = float(temperature)
        with torch.no_grad():
            enc = self.tokenizer([self.success_text, self.failure_text], padding=True, return_tensors="pt")
            text = _features(self.clip.get_text_features(**enc))
            self.text = text / text.norm(dim=-1, keepdim=True)
            self.scale = float(self.clip.logit_scale.exp())

    @torch.no_grad()
    def embed(self, images: dict[str, np.ndarray], batch: int = 64) -> np.ndarray:
        """Unit-norm image embeddings, (N, cameras * dim)."""
        per_cam = []
        for cam in self.cameras:
            frames = images[cam]
            chunks = []
            for i in range(0, len(frames), batch):
                x = torch.as_tensor(frames[i : i + batch]).permute(0, 3, 1, 2).float().div_(255.0)
                x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
                e = _features(self.clip.get_image_features(pixel_values=(x - self.mean) / self.std))
                chunks.append(e / e.norm(dim=-1, keepdim=True))
            per_cam.append(torch.cat(chunks) if chunks else torch.zeros(0, self.text.shape[1]))
        return torch.cat(per_cam, dim=-1).numpy()

    def logits(self, images: dict[str, np.ndarray]) -> np.ndarray:
        emb = torch.as_tensor(self.embed(images))
        if self.head is not None:
            with torch.no_grad():
                return self.head(emb).squeeze(-1).numpy().astype(np.float64)
        dim = self.text.shape[1]
        sims = [emb[:, i * dim : (i + 1) * dim] @ self.text.T for i in range(len(self.cameras))]
        diff = torch.stack([s[:, 0] - s[:, 1] for s in sims]).mean(0)
        return (self.scale * diff).numpy().astype(np.float64)

    def probability(self, images: dict[str, np.ndarray]) -> np.ndarray:
        return sigmoid(self.logits(images) / self.temperature)

    # -- few-shot adaptation -----------------------------------------------------------------
    def adapt(
        self,
        frames: FrameSet,
        epochs: int = 300,
        lr: float = 1e-2,
        calibration_share: float = 0.2,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Fit a logistic head on frozen embeddings of labelled frames; calibrate on held-out episodes."""
        from robot_rl.reward.classifier import split_episodes

        keep = np.flatnonzero(frames.labels != "boundary")
        frames = frames.subset(keep)
        train, cal = split_episodes(frames, calibration_share, seed)
        x = torch.as_tensor(self.embed({c: frames.images[c] for c in self.cameras}), dtype=torch.float32)
        y = torch.as_tensor(frames.labels == "success", dtype=torch.float32)
        if y[train].sum() == 0 or y[train].sum() == len(train):
            raise RobotRLError(
                "few-shot adaptation needs both success and other frames: collect more episodes"
            )
        torch.manual_seed(seed)
        head = nn.Linear(x.shape[1], 1)
        pos = float(y[train].sum())
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(train) - pos) / pos))
        opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-4)
        for _ in range(epochs):
            loss = loss_fn(head(x[train]).squeeze(-1), y[train])
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.head = head.eval()
        with torch.no_grad():
            z = head(x[cal]).squeeze(-1).numpy()
        self.temperature = fit_temperature(z, y[cal].numpy())
        self.info.update(
            {
                "adapted_on": frames.counts(),
                "temperature": self.temperature,
                "final_loss": round(loss.item(), 4),
            }
        )
        return self.info

    # -- persistence -------------------------------------------------------------------------
    def _save_weights(self, folder: Path) -> dict[str, Any]:
        meta = {
            "model_dir": self.model_dir,
            "success_text": self.success_text,
            "failure_text": self.failure_text,
            "temperature": self.temperature,
            "head": None,
        }
        if self.head is not None:
            torch_save_atomic(folder / "head.pt", self.head.state_dict())
            meta["head"] = {"weights": "head.pt", "in_features": self.head.in_features}
        return meta

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any]) -> ClipReward:
        head = None
        if meta.get("head"):
            head = nn.Linear(meta["head"]["in_features"], 1)
            state = torch.load(folder / meta["head"]["weights"], map_location="cpu", weights_only=True)
            head.load_state_dict(state)
            head.eval()
        return cls(
            meta["model_dir"],
            meta["success_text"],
            meta["failure_text"],
            head=head,
            temperature=meta["temperature"],
            **common_kwargs(meta),
        )
