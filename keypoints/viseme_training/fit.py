"""The seeded training loop of the shape model: random crops, AdamW, cosine learning rate.

Loss per frame: -log P(allowed set) (the probability the model gives to the shapes the sound
allows: any of them is right) + w_canonical x cross-entropy towards the sound's canonical
shape where it has one (so that, among the allowed shapes, the model prefers the one an
animator draws when nothing else decides).

Feature augmentation (per crop, with probability ``p_feature_aug``), for voices and rooms
espeak-ng does not make: a vocal-tract length warp of the mel axis (bands read at b x alpha,
alpha in ``VTLP_RANGE``), a spectral tilt and a smooth EQ bump (log10 units: 0.1 = 1 dB), and
in ``BAND_CUT_SHARE`` of them a roll-off above a random band (recordings made at 8-11 kHz or
through cheap microphones carry little above 3-5 kHz).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from keypoints.viseme_training.data import VisemeExample
from keypoints.viseme_training.model import ShapeNet


@dataclass(frozen=True)
class ShapeTrainSettings:
    seed: int = 0
    steps: int = 12000
    batch: int = 16
    crop_frames: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-4
    threads: int = 2
    w_canonical: float = 0.3
    p_feature_aug: float = 0.8
    band_cut_share: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)


def pad_context(features: np.ndarray, past: int, future: int, silence_value: float
                ) -> np.ndarray:
    """float32[n_mels, past + T + future]: the first frame repeated before, silence after (as
    the streaming runner pads)."""
    return np.concatenate([np.repeat(features[:, :1], past, axis=1), features,
                           np.full((features.shape[0], future), silence_value, np.float32)],
                          axis=1).astype(np.float32)


VTLP_RANGE = (0.82, 1.2)
TILT_MAX = 0.6  # +-6 dB from the lowest band to the highest
BUMP_MAX = 0.5  # +-5 dB
CUT_BANDS = (40, 76)  # roll-off start, mel band (40: ~1.9 kHz, 76: ~7 kHz of 55-7600 Hz)
CUT_SLOPE = (0.1, 0.6)  # per band above the start (1-6 dB a band)


def augment_features(f: np.ndarray, rng: np.random.Generator, silence_value: float,
                     band_cut_share: float = 0.0) -> np.ndarray:
    """float32[n_mels, T] log-mel -> the same as a different voice and channel would give."""
    n = f.shape[0]
    bands = np.arange(n, dtype=np.float64)
    alpha = rng.uniform(*VTLP_RANGE)
    src = np.clip(bands * alpha, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (src - lo)[:, None]
    out = (1 - w) * f[lo] + w * f[hi]
    shape = rng.uniform(-TILT_MAX, TILT_MAX) * (bands / (n - 1) - 0.5)
    centre, width = rng.uniform(0, n), rng.uniform(4, 16)
    shape += rng.uniform(-BUMP_MAX, BUMP_MAX) * np.exp(-0.5 * ((bands - centre) / width) ** 2)
    if band_cut_share and rng.random() < band_cut_share:
        start = rng.integers(*CUT_BANDS)
        shape -= rng.uniform(*CUT_SLOPE) * np.maximum(bands - start, 0)
    out = out + shape[:, None]
    return np.maximum(out, silence_value).astype(np.float32)


def set_loss(logits: torch.Tensor, allowed: torch.Tensor, canonical: torch.Tensor,
             w_canonical: float) -> torch.Tensor:
    """logits float[B, 9, T]; allowed bool[B, T, 9]; canonical int64[B, T] (-1: none)."""
    logp = torch.log_softmax(logits, dim=1).transpose(1, 2)  # [B, T, 9]
    in_set = torch.logsumexp(logp.masked_fill(~allowed, -1e9), dim=-1)
    has = canonical >= 0
    canon = torch.gather(logp, -1, canonical.clamp(min=0)[..., None])[..., 0]
    canon_term = -(canon * has).sum() / has.sum().clamp(min=1)
    return -in_set.mean() + w_canonical * canon_term


def evaluate(model: ShapeNet, examples: list[VisemeExample], silence_value: float
             ) -> float:
    """Share of frames whose argmax shape is allowed, over whole examples."""
    model.eval()
    past, future = model.config.context_past, model.config.context_future
    ok = n = 0
    with torch.no_grad():
        for e in examples:
            f = torch.from_numpy(pad_context(e.features, past, future, silence_value)[None])
            pred = model(f)[0].argmax(0).numpy()
            ok += int(e.allowed[np.arange(len(pred)), pred].sum())
            n += len(pred)
    model.train()
    return ok / max(1, n)


def fit(model: ShapeNet, train: list[VisemeExample], val: list[VisemeExample],
        silence_value: float, s: ShapeTrainSettings, log=print) -> list[dict]:
    """Train ``model`` in place; returns the curve (every 10 % of the steps)."""
    torch.manual_seed(s.seed)
    torch.set_num_threads(s.threads)
    rng = np.random.default_rng(s.seed)
    past, future = model.config.context_past, model.config.context_future
    padded = [pad_context(e.features, past, future, silence_value) for e in train]
    lengths = np.array([len(e.canonical) for e in train], dtype=np.float64)
    p = lengths / lengths.sum()
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    warmup = max(1, s.steps // 20)
    curve: list[dict] = []
    running = None
    t0 = time.perf_counter()
    model.train()
    for step in range(s.steps):
        lr = s.lr * (step + 1) / warmup if step < warmup else \
            0.5 * s.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, s.steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = lr
        feats, allowed, canon = [], [], []
        for i in rng.choice(len(train), size=s.batch, p=p):
            e, n = train[i], len(train[i].canonical)
            crop = min(s.crop_frames, n)
            start = int(rng.integers(0, n - crop + 1))
            f = padded[i][:, start : start + crop + past + future]
            if rng.random() < s.p_feature_aug:
                f = augment_features(f, rng, silence_value, s.band_cut_share)
            a, c = e.allowed[start : start + crop], e.canonical[start : start + crop]
            if crop < s.crop_frames:  # short example: pad with silence targets (X)
                extra = s.crop_frames - crop
                f = np.pad(f, ((0, 0), (0, extra)), mode="edge")
                a = np.concatenate([a, np.repeat(a[-1:], extra, 0)])
                c = np.concatenate([c, np.repeat(c[-1:], extra)])
            feats.append(f)
            allowed.append(a)
            canon.append(c)
        loss = set_loss(model(torch.from_numpy(np.stack(feats))),
                        torch.from_numpy(np.stack(allowed)), torch.from_numpy(np.stack(canon)),
                        s.w_canonical)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        if (step + 1) % max(1, s.steps // 10) == 0 or step + 1 == s.steps:
            entry = {"step": step + 1, "seconds": round(time.perf_counter() - t0, 1),
                     "loss": round(running, 5),
                     "val_agreement": round(evaluate(model, val, silence_value), 4)}
            curve.append(entry)
            log(" ".join(f"{k} {v}" for k, v in entry.items()))
    model.eval()
    return curve
