"""The seeded training loop: random crops of the corpus, AdamW, cosine learning rate.

Loss (all in mouth widths, frames at 100 Hz):
  position   mean squared error of every keypoint coordinate
  shape      squared error of the mouth opening (upper - lower lip y) and width (corner to
             corner x), the two quantities the animator reads
  motion     squared error of the 40 ms displacement (the silence mask's video-frame step)
  stillness  hinge on the predicted 40 ms displacement of the inner lips beyond STILL_W where
             the target is still: the silence mask must see no motion in pauses and noise
Frames in the first data.OFFSET_WINDOW_S of every pause weigh 1 + w_offset in the position,
shape and motion terms: closing the mouth promptly when the sound stops (also in a reverberant
room, whose tail sounds like more speech) is what ends the silence mask on time.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from keypoints.training.data import Example, offset_weights, pad_context
from keypoints.training.model import LipNet

LAG_FRAMES = 4  # 40 ms: one video frame at 25 fps
STILL_W = 0.006  # mouth widths per 40 ms tolerated where the target rests (threshold is 0.02)


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 0
    steps: int = 10000
    batch: int = 24
    crop_frames: int = 400  # output frames per crop (4 s)
    lr: float = 3e-3
    weight_decay: float = 1e-4
    threads: int = 2
    w_shape: float = 2.0
    w_motion: float = 4.0
    w_still: float = 20.0
    w_offset: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


class CropSampler:
    """Random crops (features with context, targets) from examples, chosen by length."""

    def __init__(self, examples: list[Example], past: int, future: int, silence_value: float,
                 crop_frames: int, rng: np.random.Generator, w_offset: float = 0.0) -> None:
        self.padded = [pad_context(e.features, past, future, silence_value) for e in examples]
        self.targets = [e.keypoints for e in examples]
        self.weights = [offset_weights(e.speech, w_offset) for e in examples]
        lengths = np.array([e.keypoints.shape[0] for e in examples], dtype=np.float64)
        self.p = lengths / lengths.sum()
        self.window = past + future
        self.crop = crop_frames
        self.rng = rng

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features float[B, n_mels, crop + past + future], targets float[B, crop, K, 3],
        frame weights float[B, crop])."""
        feats, targs, weights = [], [], []
        for i in self.rng.choice(len(self.p), size=size, p=self.p):
            target, weight = self.targets[i], self.weights[i]
            n = target.shape[0]
            if n >= self.crop:
                s = int(self.rng.integers(0, n - self.crop + 1))
                f = self.padded[i][:, s : s + self.crop + self.window]
                t = target[s : s + self.crop]
                w = weight[s : s + self.crop]
            else:  # short example: pad with its last frame (rest) on the right
                extra = self.crop - n
                f = np.pad(self.padded[i], ((0, 0), (0, extra)), mode="edge")
                t = np.concatenate([target, np.repeat(target[-1:], extra, 0)])
                w = np.pad(weight, (0, extra), constant_values=1.0)
            feats.append(f)
            targs.append(t)
            weights.append(w)
        return (torch.from_numpy(np.stack(feats)), torch.from_numpy(np.stack(targs)),
                torch.from_numpy(np.stack(weights)))


def loss_terms(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
               ) -> dict[str, torch.Tensor]:
    """pred/target float[B, T, K, 3] (K >= 4, contract order), weight float[B, T] per frame
    (None: all 1) -> named loss terms."""
    if weight is None:
        weight = torch.ones(pred.shape[:2], dtype=pred.dtype)

    def mean_w(err: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """weighted mean over frames of err float[B, T, ...] (mean over the other axes)."""
        per_frame = err.reshape(err.shape[0], err.shape[1], -1).mean(-1)
        return (per_frame * w).sum() / w.sum()

    position = mean_w((pred - target) ** 2, weight)

    def open_wide(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[..., 0, 1] - x[..., 1, 1], x[..., 2, 0] - x[..., 3, 0]], -1)

    shape = mean_w((open_wide(pred) - open_wide(target)) ** 2, weight)
    d_pred = pred[:, LAG_FRAMES:] - pred[:, :-LAG_FRAMES]
    d_target = target[:, LAG_FRAMES:] - target[:, :-LAG_FRAMES]
    motion = mean_w((d_pred - d_target) ** 2, weight[:, LAG_FRAMES:])
    lips_pred = d_pred[:, :, :2].abs().amax(dim=(2, 3))  # [B, T - lag]
    lips_target = d_target[:, :, :2].abs().amax(dim=(2, 3))
    still = (lips_target < 0.002).float()
    stillness = torch.mean(still * torch.relu(lips_pred - STILL_W))
    return {"position": position, "shape": shape, "motion": motion, "stillness": stillness}


def total_loss(terms: dict[str, torch.Tensor], s: TrainSettings) -> torch.Tensor:
    return 100.0 * (terms["position"] + s.w_shape * terms["shape"] + s.w_motion * terms["motion"]
                    + s.w_still * terms["stillness"])


def evaluate_loss(model: LipNet, examples: list[Example], past: int, future: int,
                  silence_value: float, s: TrainSettings) -> float:
    """Mean total loss over whole examples (no cropping)."""
    model.eval()
    losses = []
    with torch.no_grad():
        for e in examples:
            f = torch.from_numpy(pad_context(e.features, past, future, silence_value)[None])
            t = torch.from_numpy(e.keypoints[None])
            losses.append(float(total_loss(loss_terms(model(f), t), s)))
    model.train()
    return float(np.mean(losses)) if losses else math.nan


def fit(model: LipNet, train: list[Example], val: list[Example], silence_value: float,
        s: TrainSettings, log=print) -> list[dict]:
    """Train ``model`` in place; returns the loss curve (a dict every 10 % of the steps)."""
    torch.manual_seed(s.seed)
    torch.set_num_threads(s.threads)
    rng = np.random.default_rng(s.seed)
    past, future = model.config.context_past, model.config.context_future
    sampler = CropSampler(train, past, future, silence_value, s.crop_frames, rng, s.w_offset)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    warmup = max(1, s.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return s.lr * (step + 1) / warmup
        return 0.5 * s.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, s.steps - warmup)))

    curve: list[dict] = []
    running: dict[str, float] = {}
    t0 = time.perf_counter()
    model.train()
    for step in range(s.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        feats, targs, weights = sampler.batch(s.batch)
        terms = loss_terms(model(feats), targs, weights)
        loss = total_loss(terms, s)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        for k, v in {"loss": loss, **terms}.items():
            value = float(v.detach())
            running[k] = 0.98 * running.get(k, value) + 0.02 * value
        if (step + 1) % max(1, s.steps // 10) == 0 or step + 1 == s.steps:
            entry = {"step": step + 1, "seconds": round(time.perf_counter() - t0, 1),
                     **{k: round(v, 5) for k, v in running.items()},
                     "val_loss": round(evaluate_loss(model, val, past, future, silence_value, s),
                                       5)}
            curve.append(entry)
            log(" ".join(f"{k} {v}" for k, v in entry.items()))
    model.eval()
    return curve
