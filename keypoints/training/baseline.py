"""The baseline MappingNet: band energy -> mouth opening, spectral tilt -> mouth width.

Not learned: a hand-built ONNX graph that obeys the MappingNet contract, so that the whole
pipeline runs before a trained model exists. Graph (T' = T - past - future):

  log_mel [1, 80, T]
    -> mel power -> MatMul with band-averaging weights -> log10 -> [1, 3, T]
       (mean power in the speech 300-3400 Hz, low and high bands)
    -> depthwise Conv over time, kernel past+1+future, 'valid' -> [1, 3, T']  (smoothing)
    -> gate = Sigmoid((speech - ENERGY_THRESHOLD) / ENERGY_SLOPE)      in [0, 1]
       open = MAX_OPEN * gate                                          mouth-width units
       wide = 1 + gate * (WIDTH_MIN + WIDTH_SPAN * Sigmoid((high - low - TILT_CENTER)
                                                          / TILT_SLOPE) - 1)
    -> keypoints [1, T', 4, 3]: upper_lip (0, open/2, 0), lower_lip (0, -open/2, 0),
       left_corner (wide/2, 0, 0), right_corner (-wide/2, 0, 0)

Features are log10 mel power (FeatureConfig defaults: 10 * feature = dB). Build with
``python -m keypoints.training.baseline [OUT]``; ``python -m keypoints.training.baseline
--calibrate`` prints the numbers the thresholds were chosen from (needs espeak-ng). Requires
the dev extra ``onnx``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from keypoints.features import FeatureConfig, log_mel, mel_band_centers_hz
from keypoints.lips import REQUIRED_NAMES

CONFIG = FeatureConfig(
    sample_rate=16000, n_fft=512, hop_length=160, win_length=400, n_mels=80,
    fmin=55.0, fmax=7600.0,
)  # fmt: skip
CONTEXT_PAST = 8  # frames (80 ms) of history in the smoothing kernel
CONTEXT_FUTURE = 2  # frames (20 ms) of look-ahead
KEYPOINT_NAMES = REQUIRED_NAMES  # upper_lip, lower_lip, left_corner, right_corner

SPEECH_BAND_HZ = (300.0, 3400.0)
LOW_BAND_HZ = (250.0, 1000.0)  # F1 region: strong in open/back vowels
HIGH_BAND_HZ = (1800.0, 4500.0)  # F2/F3 region: strong in spread front vowels and sibilants
SMOOTHING_DECAY_FRAMES = 2.5  # exponential kernel time constant

# Calibrated with `python -m keypoints.training.baseline --calibrate` (see assets/models/README.md).
ENERGY_THRESHOLD = -3.0  # log10 mean mel power in the speech band: gate 0.5
ENERGY_SLOPE = 0.4  # log10 units per e-fold of the gate odds
MAX_OPEN = 0.6  # mouth-width units at full gate
TILT_CENTER = -1.3  # log10(high/low band power) giving the middle width
TILT_SLOPE = 0.3
WIDTH_MIN = 0.8
WIDTH_SPAN = 0.35  # width in [0.8, 1.15] when the gate is fully open

DESCRIPTION = "baseline: band-energy mouth opening (not learned)"
OPSET = 17
IR_VERSION = 8  # the IR of opset 17; loadable by every onnxruntime >= 1.11


def band_weights(config: FeatureConfig, band_hz: tuple[float, float]) -> np.ndarray:
    """float32[n_mels]: equal weights averaging the mel bands whose centre lies in band_hz."""
    centers_hz = mel_band_centers_hz(config)
    inside = (centers_hz >= band_hz[0]) & (centers_hz <= band_hz[1])
    if not inside.any():
        raise ValueError(f"no mel band centre within {band_hz} Hz")
    return (inside / inside.sum()).astype(np.float32)


def smoothing_kernel(past: int, future: int, decay_frames: float) -> np.ndarray:
    """float32[past + 1 + future]: exp(-|offset| / decay), normalised to sum 1.

    Index j weighs the frame at offset j - past from the output frame (Conv correlates).
    """
    offsets = np.arange(-past, future + 1, dtype=np.float64)
    kernel = np.exp(-np.abs(offsets) / decay_frames)
    return (kernel / kernel.sum()).astype(np.float32)


def _band_matrix(config: FeatureConfig) -> np.ndarray:
    """float32[3, n_mels]: rows average the speech, low and high bands."""
    bands = (SPEECH_BAND_HZ, LOW_BAND_HZ, HIGH_BAND_HZ)
    return np.stack([band_weights(config, band) for band in bands])


def _keypoint_basis() -> np.ndarray:
    """float32[2, K*3]: keypoints (flattened) = [open, wide] @ basis."""
    basis = np.zeros((2, len(KEYPOINT_NAMES), 3), dtype=np.float32)
    index = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
    basis[0, index["upper_lip"], 1] = 0.5
    basis[0, index["lower_lip"], 1] = -0.5
    basis[1, index["left_corner"], 0] = 0.5
    basis[1, index["right_corner"], 0] = -0.5
    return basis.reshape(2, -1)


def smoothed_band_energies(features: np.ndarray, config: FeatureConfig = CONFIG) -> np.ndarray:
    """float32[n_mels, T] -> float32[3, T - past - future]: what the graph gates on (numpy).

    Rows: log10 of the mean mel power in the speech, low and high bands, smoothed over time.
    Used for calibration; the ONNX graph computes the same with MatMul + Conv.
    """
    ln_power = features.astype(np.float64) / config.scale - config.offset
    bands = np.log10(_band_matrix(config).astype(np.float64) @ np.exp(ln_power))
    kernel = smoothing_kernel(CONTEXT_PAST, CONTEXT_FUTURE, SMOOTHING_DECAY_FRAMES)
    return np.stack([np.correlate(row, kernel, mode="valid") for row in bands])


def metadata(config: FeatureConfig = CONFIG) -> dict[str, str]:
    """The contract's metadata_props of the baseline model."""
    meta = {"contract_version": "1", **config.to_metadata()}
    meta["context_past"] = str(CONTEXT_PAST)
    meta["context_future"] = str(CONTEXT_FUTURE)
    meta["keypoint_names"] = json.dumps(list(KEYPOINT_NAMES))
    meta["description"] = DESCRIPTION
    return meta


def build_model(config: FeatureConfig = CONFIG):
    """The baseline as an onnx.ModelProto (deterministic: no timestamps, fixed key order)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: np.ndarray | float) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)

    kernel = smoothing_kernel(CONTEXT_PAST, CONTEXT_FUTURE, SMOOTHING_DECAY_FRAMES)
    n_keypoints = len(KEYPOINT_NAMES)
    initializers = [
        const("inv_scale", 1.0 / config.scale),
        const("offset", config.offset),
        const("inv_ln10", 1.0 / np.log(10.0)),
        const("band_matrix", _band_matrix(config)),  # [3, n_mels]
        const("smooth_kernel", np.tile(kernel, (3, 1, 1))),  # [3, 1, L] depthwise
        const("energy_threshold", ENERGY_THRESHOLD),
        const("energy_slope", ENERGY_SLOPE),
        const("max_open", MAX_OPEN),
        const("tilt_center", TILT_CENTER),
        const("tilt_slope", TILT_SLOPE),
        const("width_min_minus_one", WIDTH_MIN - 1.0),
        const("width_span", WIDTH_SPAN),
        const("one", 1.0),
        const("keypoint_basis", _keypoint_basis()),  # [2, K*3]
        numpy_helper.from_array(np.array([1, -1, n_keypoints, 3], dtype=np.int64), "out_shape"),
    ]
    node = helper.make_node
    nodes = [
        # undo the feature scaling: ln(mel power) = features / scale - offset
        node("Mul", ["log_mel", "inv_scale"], ["ln_scaled"]),
        node("Sub", ["ln_scaled", "offset"], ["ln_power"]),
        node("Exp", ["ln_power"], ["power"]),
        node("MatMul", ["band_matrix", "power"], ["band_power"]),  # [1, 3, T]
        node("Log", ["band_power"], ["ln_band_power"]),
        node("Mul", ["ln_band_power", "inv_ln10"], ["bands"]),  # log10 units
        node("Conv", ["bands", "smooth_kernel"], ["smooth"], group=3, pads=[0, 0]),  # [1, 3, T']
        node("Split", ["smooth"], ["speech", "low", "high"], axis=1),  # [1, 1, T'] each
        # gate: soft speech/silence decision from the smoothed speech-band energy
        node("Sub", ["speech", "energy_threshold"], ["energy_above"]),
        node("Div", ["energy_above", "energy_slope"], ["gate_logit"]),
        node("Sigmoid", ["gate_logit"], ["gate"]),
        node("Mul", ["gate", "max_open"], ["open"]),
        # width: spectral tilt (high vs low band) -> [WIDTH_MIN, WIDTH_MIN + WIDTH_SPAN]
        node("Sub", ["high", "low"], ["tilt"]),
        node("Sub", ["tilt", "tilt_center"], ["tilt_centred"]),
        node("Div", ["tilt_centred", "tilt_slope"], ["tilt_logit"]),
        node("Sigmoid", ["tilt_logit"], ["tilt_unit"]),
        node("Mul", ["tilt_unit", "width_span"], ["width_delta"]),
        node("Add", ["width_delta", "width_min_minus_one"], ["width_change"]),
        node("Mul", ["width_change", "gate"], ["gated_change"]),  # rest width in silence
        node("Add", ["gated_change", "one"], ["wide"]),
        # keypoints: [open, wide] per frame times a fixed basis
        node("Concat", ["open", "wide"], ["shape_params"], axis=1),  # [1, 2, T']
        node("Transpose", ["shape_params"], ["shape_params_t"], perm=[0, 2, 1]),  # [1, T', 2]
        node("MatMul", ["shape_params_t", "keypoint_basis"], ["flat"]),  # [1, T', K*3]
        node("Reshape", ["flat", "out_shape"], ["keypoints"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mappingnet_baseline",
        inputs=[
            helper.make_tensor_value_info("log_mel", TensorProto.FLOAT, [1, config.n_mels, "T"])
        ],
        outputs=[
            helper.make_tensor_value_info(
                "keypoints", TensorProto.FLOAT, [1, "T_out", n_keypoints, 3]
            )
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        # the name it was shipped with: the model's bytes are pinned by a test
        producer_name="talking-head-animator keypoints.baseline",
        producer_version="1",
        ir_version=IR_VERSION,
    )
    model.doc_string = DESCRIPTION
    helper.set_model_props(model, metadata(config))
    onnx.checker.check_model(model, full_check=True)
    return model


def build_baseline(path: str | Path) -> Path:
    """Write the baseline model to ``path`` (byte-identical on every rebuild)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_model().SerializeToString())
    return path


# --- calibration (dev only: needs espeak-ng) -------------------------------------------------

CALIBRATION_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "We see three green trees. Who knew you would move so soon?",
)
CALIBRATION_VOICES = ("en", "en+f3", "en-us+m3")


def _espeak(text: str, voice: str, workdir: Path) -> np.ndarray:
    """float32[N] at CONFIG.sample_rate: text spoken by espeak-ng."""
    from keypoints.audio import load_audio

    out = workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True)
    return load_audio(out, CONFIG.sample_rate)


def _rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _opening(energy: np.ndarray) -> np.ndarray:
    """The graph's mouth opening for smoothed speech-band energies (numpy, for the report)."""
    return MAX_OPEN / (1.0 + np.exp(-(energy - ENERGY_THRESHOLD) / ENERGY_SLOPE))


def _pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """float64[n], unit rms, -3 dB/octave (1/sqrt(f) spectral shaping of white noise)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n)
    return pink / pink.std()


def calibration_report() -> str:
    """Smoothed speech-band energy, opening and tilt on espeak-ng speech and on noise.

    Speech: CALIBRATION_SENTENCES x CALIBRATION_VOICES at several gains; its "active" frames are
    those whose unsmoothed speech-band power at 0 dB gain is above -6 (espeak's pauses sit at the
    -10 floor). Noise: 5 s of white and pink noise at -60/-50/-40 dBFS rms (seeded).
    """
    rng = np.random.default_rng(0)
    lines = [
        "speech-band log10 power (smoothed) and opening (mouth-width units)",
        f"{'source':34s} {'p10':>6s} {'p50':>6s} {'p90':>6s}   open p10/p50/p90",
    ]

    def row(label: str, energy: np.ndarray) -> None:
        e10, e50, e90 = np.percentile(energy, [10, 50, 90])
        o10, o50, o90 = np.percentile(_opening(energy), [10, 50, 90])
        lines.append(
            f"{label:34s} {e10:6.2f} {e50:6.2f} {e90:6.2f}   {o10:.2f} / {o50:.2f} / {o90:.2f}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        speech = np.concatenate(
            [_espeak(s, v, Path(tmp)) for v in CALIBRATION_VOICES for s in CALIBRATION_SENTENCES]
        )
        vowels = {v: _espeak(w, "en", Path(tmp)) for v, w in (("ee", "eeee"), ("oo", "oooo"))}
    speech_features = log_mel(speech, CONFIG)
    raw_speech_band = np.log10(
        band_weights(CONFIG, SPEECH_BAND_HZ).astype(np.float64)
        @ np.exp(speech_features.astype(np.float64) / CONFIG.scale - CONFIG.offset)
    )
    active = raw_speech_band[CONTEXT_PAST : raw_speech_band.size - CONTEXT_FUTURE] > -6.0
    lines.append(
        f"espeak speech: {speech.size / CONFIG.sample_rate:.1f} s, active {active.mean():.2f}"
    )
    tilts = []
    for gain_db in (0.0, -10.0, -20.0, -30.0):
        x = speech * np.float32(10 ** (gain_db / 20))
        energy = smoothed_band_energies(log_mel(x, CONFIG))
        row(
            f"espeak {gain_db:+.0f} dB active ({_rms_dbfs(x[np.abs(x) > 0]):.0f} dBFS)",
            energy[0][active],
        )
        if gain_db == 0.0:
            row("espeak pauses", energy[0][~active])
            tilts.append(("speech (active)", (energy[2] - energy[1])[active]))
    n = CONFIG.sample_rate * 5
    for name, noise in (("white", rng.standard_normal(n)), ("pink", _pink_noise(rng, n))):
        for level_dbfs in (-60.0, -50.0, -40.0):
            x = (noise * 10 ** (level_dbfs / 20)).astype(np.float32)
            row(
                f"{name} noise {level_dbfs:.0f} dBFS", smoothed_band_energies(log_mel(x, CONFIG))[0]
            )
    row("digital silence", smoothed_band_energies(log_mel(np.zeros(n, np.float32), CONFIG))[0])
    for name, x in vowels.items():
        energy = smoothed_band_energies(log_mel(x, CONFIG))
        tilts.append((f"vowel {name}", (energy[2] - energy[1])[energy[0] > ENERGY_THRESHOLD]))
    lines.append("tilt log10(high/low band power), p10 / p50 / p90 -> width at full gate (p50)")
    for name, tilt in tilts:
        p10, p50, p90 = np.percentile(tilt, [10, 50, 90])
        width = WIDTH_MIN + WIDTH_SPAN / (1.0 + np.exp(-(p50 - TILT_CENTER) / TILT_SLOPE))
        lines.append(f"  {name:32s} {p10:6.2f} {p50:6.2f} {p90:6.2f} -> {width:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from keypoints.assets import assets_dir

    default_out = assets_dir() / "models" / "baseline.onnx"
    parser = argparse.ArgumentParser(
        prog="python -m keypoints.training.baseline",
        description="Build the baseline MappingNet ONNX.")
    parser.add_argument("out", nargs="?", type=Path, default=default_out, help="output .onnx")
    parser.add_argument(
        "--calibrate", action="store_true", help="print calibration numbers, build nothing"
    )
    args = parser.parse_args(argv)
    if args.calibrate:
        print(calibration_report())
        return 0
    print(build_baseline(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
