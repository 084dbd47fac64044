"""The range calibration of a trained LipNet: open mouths open as wide as the targets do.

A network trained with squared errors predicts the mean of what could follow a sound, so its
widest openings fall short of the targets' (the rig's ``ah`` is 0.55 mouth widths; the first
learned model's 99th percentile was about 0.27). The calibration stretches every opening
beyond OPEN_KNEE_W (closed lips stay closed) so that the QUANTILE-th percentile of the
predicted opening over the speech frames of held-out recordings equals the targets'.
"""

from __future__ import annotations

import numpy as np
import torch

from keypoints.training.data import Example, pad_context
from keypoints.training.model import OPEN_KNEE_W, LipNet

QUANTILE = 98.0
MAX_GAIN = 2.5


def opening(points: np.ndarray) -> np.ndarray:
    """float[T, K, 3] -> float[T]: upper - lower inner lip y."""
    return points[:, 0, 1] - points[:, 1, 1]


def fit_open_gain(model: LipNet, examples: list[Example], silence_value: float) -> dict:
    """Set model.open_gain (in [1, MAX_GAIN]) from ``examples``; returns what was measured."""
    past, future = model.config.context_past, model.config.context_future
    pred, true = [], []
    model.eval()
    with torch.no_grad():
        for e in examples:
            if not e.speech.any():
                continue
            f = torch.from_numpy(pad_context(e.features, past, future, silence_value)[None])
            p = model(f)[0].numpy()
            pred.append(opening(p)[e.speech])
            true.append(opening(e.keypoints)[e.speech])
    if not pred:
        return {"gain": 1.0, "frames": 0}
    p_all, t_all = np.concatenate(pred), np.concatenate(true)
    qp, qt = np.percentile(p_all, QUANTILE), np.percentile(t_all, QUANTILE)
    gain = float(np.clip((qt - OPEN_KNEE_W) / max(qp - OPEN_KNEE_W, 1e-3), 1.0, MAX_GAIN))
    model.open_gain.fill_(gain)
    return {"gain": round(gain, 4), "frames": int(p_all.size), "quantile": QUANTILE,
            "pred_quantile_w": round(float(qp), 4), "target_quantile_w": round(float(qt), 4)}
