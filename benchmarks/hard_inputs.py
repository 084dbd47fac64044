"""The lip model on hard and bad input: non-speech (noise, tones, a buzz, DC, silence),
degenerate signals (zero length, clipped, very quiet) and telephone speech; per signal the
share of video frames the speaking state calls speech, the mean opening and whether every
keypoint was finite."""

from __future__ import annotations

import numpy as np

from animator.stages.speaking import SpeakingParams
from benchmarks.lip_metrics import lip_stream_voice, named, opening, speaking_state, video_indices
from keypoints.audio import resample
from keypoints.corpus import dataset
from keypoints.corpus.augment import coloured_noise
from keypoints.mappingnet import MappingNet

SEED = 1234
SR = dataset.SAMPLE_RATE


def hard_inputs(seconds: float = 6.0) -> dict[str, np.ndarray]:
    """Non-speech and degenerate signals (float32 at SR), plus 8 kHz telephone speech."""
    rng = np.random.default_rng(SEED)
    n = int(seconds * SR)
    speech = dataset.speech_recording(np.random.default_rng([SEED, 99]), "test", seconds, None)
    x = speech.samples
    phone = resample(resample(x, SR, 8000), 8000, SR)[: x.size]
    return {
        "white noise -30 dBFS": (coloured_noise(rng, n, "white", SR) * 10 ** (-30 / 20)),
        "pink noise -20 dBFS": (coloured_noise(rng, n, "pink", SR) * 10 ** (-20 / 20)),
        "fan noise -25 dBFS": (coloured_noise(rng, n, "fan", SR) * 10 ** (-25 / 20)),
        "music-like tones": dataset.tone_music(rng, n),
        "digital silence": np.zeros(n),
        "DC offset 0.5": np.full(n, 0.5),
        "zero length": np.zeros(0),
        "full-scale square 200 Hz": np.sign(np.sin(2 * np.pi * 200 * np.arange(n) / SR)),
        "speech clipped (+30 dB)": np.clip(x * 10 ** (30 / 20), -1, 1),
        "speech very quiet (-50 dB)": x * 10 ** (-50 / 20),
        "speech 8 kHz telephone": phone,
        "speech + DC 0.3": x + 0.3,
    }


def behaviour(model: MappingNet, signals: dict[str, np.ndarray], params: SpeakingParams) -> dict:
    """Per signal: share of video frames the mask calls speech, mean opening, non-finite."""
    out = {}
    for name, x in signals.items():
        points, bad, voice = lip_stream_voice(model, np.asarray(x, np.float32))
        names = model.keypoint_names
        idx = video_indices(points.shape[0], dataset.FRAME_RATE_HZ)
        inner = np.stack([named(points, names, "upper_lip"),
                          named(points, names, "lower_lip")], 1)[idx]
        mask = speaking_state(inner.astype(np.float64), params, voice[idx])
        out[name] = {
            "speaking": round(float(np.mean(mask >= 0.5)), 3) if mask.size else 0.0,
            "mean_open": round(float(np.mean(opening(points, names))), 3) if points.size else 0.0,
            "finite": bool(np.all(np.isfinite(points))) and bad == 0,
            "frames": int(points.shape[0]),
        }
    return out


def hard_table(result: dict) -> str:
    labels = list(result["models"])
    lines = ["| input | " + " | ".join(f"{m}: speaking share, mean open, finite"
                                      for m in labels) + " |",
             "|---" * (1 + len(labels)) + "|"]
    for name in next(iter(result["models"].values()))["hard_inputs"]:
        cells = [name]
        for m in labels:
            h = result["models"][m]["hard_inputs"][name]
            cells.append(f"{h['speaking']:.2f}, {h['mean_open']:.3f}, "
                         f"{'yes' if h['finite'] else 'NO'} ({h['frames']} frames)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
