"""Frame geometry for cameras: crop and resize to a robot spec camera's size (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robot_rl.errors import ConfigError


def crop_resize(frame: np.ndarray, crop: Sequence[int], width: int, height: int) -> np.ndarray:
    """Crop (x, y, w, h; w = 0: none) then resize to width x height by area-sampled nearest pixels.

    Nearest sampling of pixel centres keeps the policy's input identical to what the same frame
    gives on any machine (no interpolation library in the loop).
    """
    x, y, w, h = (int(v) for v in crop)
    if w > 0:
        if x < 0 or y < 0 or h <= 0 or x + w > frame.shape[1] or y + h > frame.shape[0]:
            raise ConfigError(
                "camera", "crop", f"x, y, w, h inside the {frame.shape[1]}x{frame.shape[0]} frame", list(crop)
            )
        frame = frame[y : y + h, x : x + w]
    rows = ((np.arange(height) + 0.5) * frame.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * frame.shape[1] / width).astype(np.int64)
    return np.ascontiguousarray(frame[rows][:, cols])
