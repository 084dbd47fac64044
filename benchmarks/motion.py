"""Head motion that follows the speech: the natural mode today vs with prosody, side by side.

``python -m benchmarks.motion [--json OUT] [--quick] [--plot PNG]``

Material, never used to tune anything in keypoints/prosody.py or the motion defaults on its own
(the defaults were set by looking at plots of a few clips; every clip below is scored):

* synthetic: espeak-ng voices of the corpus' ``test`` split (languages, voice variants and texts
  the model never saw), phrases with pauses, 20 s each;
* real: the audio of ``../shared/realdata/talking_faces/*.mpg|mp4`` (GRID sentences and news
  clips, by path) and the speech recordings of Debian's ``codec2-examples`` package
  (``/usr/share/codec2``: read speech and amateur-radio voice, 8-16 kHz; the Makefile installs it).

Every clip runs through the real streaming path (AudioLipStream: log-mel, MappingNet and the
prosody, one lip frame per 10 ms) into two engines on the built-in character: today's natural
motion (``MotionParams.speech_blind()``, bit for bit the earlier output) and the new default.
Metrics, per clip, at 25 fps, over the frames where the speaking mask is >= 0.5:

* r_accent: Pearson r between the head's angular speed (|angles[i] - angles[i-1]| * fps,
  deg/s, all three axes) and the accent envelope (keypoints.prosody, sampled like the lips) at
  the best lag of 0-2 frames (speed after accent); r_energy: the same against the log RMS energy
  of the waveform (40 ms windows), measured independently of the prosody code.
* answered: share of accent peaks (find_peaks on the 100 Hz envelope: height >= PEAK_HEIGHT,
  >= 150 ms apart) followed within ANSWER_S by a peak of head speed (prominence >= half the
  median speed in speech, at least 1 deg/s); ``chance`` is the same for the peaks moved to
  random times in speech (what motion unrelated to the accents scores).
* onset shifts: share of speech onsets after a pause >= 0.5 s where the head moves >= 1 deg
  within 1 s.
* ac2s: |autocorrelation at 2 s| of the pitch angle (clips >= 8 s; any axis: the largest of
  the three).
* switches/s of the chosen pose; images: distinct rig images used.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animator.engine import Engine, EngineConfig, rig_extent_deg
from animator.rig import Rig, default_rig_dir, load_rig
from animator.stages.motion import MotionParams, MotionSynth
from benchmarks.machine import machine_info
from benchmarks.motion_metrics import (
    AC_MIN_S,
    FPS,
    LAGS,
    SPEED_PROMINENCE_MIN,
    SR,
    accent_peaks_s,
    angular_speed,
    answered_share,
    autocorr_2s,
    lagged_r,
    log_rms_energy,
    onset_shifts,
    video_samples,
)
from benchmarks.realdata import realdata_dir
from keypoints.audio import load_audio
from keypoints.features import FeatureConfig, log_mel
from keypoints.mappingnet import MappingNet
from keypoints.prosody import StreamingProsody
from keypoints.stream import AudioLipStream

CODEC2 = Path("/usr/share/codec2")
#: speech in codec2-examples (the other files there are modem signals, tones or noise)
CODEC2_SPEECH = ("raw/speech_orig_16k.wav", "wav/vk5qi.wav", "wav/ve9qrp.wav", "wav/hts1a.wav",
                 "wav/hts2a.wav", "wav/morig.wav", "wav/forig.wav")
MAX_CLIP_S = 30.0
SEED = 17


@dataclass
class Clip:
    name: str
    kind: str  # synthetic | real
    samples: np.ndarray  # float32[N] at SR


def _espeak_clip(job: tuple[int, float]) -> np.ndarray:
    from keypoints.corpus import dataset

    i, seconds = job
    return dataset.speech_recording(np.random.default_rng([SEED, i]), "test", seconds,
                                    None).samples


def synthetic_clips(n: int, seconds: float) -> list[Clip]:
    """Unseen espeak voices (the corpus' test split), each in a fresh process (espeak's audio
    depends on what the library spoke before)."""
    from keypoints.corpus.dataset import map_isolated

    audio = map_isolated(_espeak_clip, [(i, seconds) for i in range(n)], workers=2)
    return [Clip(f"espeak-{i}", "synthetic", a) for i, a in enumerate(audio)]


def real_clips(realdata: Path, quick: bool = False) -> list[Clip]:
    faces = realdata / "talking_faces"
    paths = sorted(glob.glob(str(faces / "*.mpg")) + glob.glob(str(faces / "*.mp4")))
    if not paths:
        raise SystemExit(f"{faces}: no *.mpg/*.mp4 clips (pass --realdata DIR)")
    paths += [str(CODEC2 / p) for p in CODEC2_SPEECH if (CODEC2 / p).exists()]
    if quick:
        paths = paths[::3]
    return [Clip(Path(p).name, "real", load_audio(p)[: int(MAX_CLIP_S * SR)]) for p in paths]


# --- running ------------------------------------------------------------------------------------

@dataclass
class Run:
    angles: np.ndarray  # float[T, 3] degrees
    mask: np.ndarray  # float[T]
    poses: list[str]
    images: list[str]


def lip_frames(model: MappingNet, samples: np.ndarray) -> list:
    stream = AudioLipStream(model)
    return stream.push(samples) + stream.flush()


def run_engine(rig: Rig, lips: list, duration_s: float, params: MotionParams) -> Run:
    engine = Engine(rig, EngineConfig(fps=FPS, seed=SEED, motion_params=params))
    frames = engine.push(lips) + engine.finish(duration_s)
    return Run(np.array([f.angles_deg for f in frames]), np.array([f.speaking for f in frames]),
               [f.choice.pose for f in frames], [f.choice.image for f in frames])


def score(run: Run, accent_video: np.ndarray, energy: np.ndarray, peaks_s: np.ndarray,
          chance_s: np.ndarray, duration_s: float) -> dict:
    inside = run.mask >= 0.5
    speed = angular_speed(run.angles)
    r_acc, lag_acc = lagged_r(speed, accent_video, inside)
    # a movement: a speed peak rising by at least half the median speed in speech
    prominence = max(SPEED_PROMINENCE_MIN, 0.5 * float(np.median(speed[inside]))) \
        if inside.any() else SPEED_PROMINENCE_MIN
    r_en, lag_en = lagged_r(speed, energy, inside)
    n_on, n_shift = onset_shifts(run.angles, run.mask)
    ac = autocorr_2s(run.angles) if duration_s >= AC_MIN_S else None
    switches = sum(a != b for a, b in zip(run.poses, run.poses[1:], strict=False))
    return {
        "r_accent": r_acc, "lag_accent": lag_acc, "r_energy": r_en, "lag_energy": lag_en,
        "answered": answered_share(peaks_s, speed, prominence),
        "chance": answered_share(chance_s, speed, prominence),
        "n_peaks": len(peaks_s), "onsets": n_on, "onset_shifts": n_shift,
        "ac2s": ac[0] if ac else None, "ac2s_any_axis": max(ac) if ac else None,
        "switches_per_s": switches / duration_s, "images": len(set(run.images)),
        "speech_speed_dps": float(np.median(speed[inside])) if inside.any() else 0.0,
    }


def evaluate_clip(clip: Clip, model: MappingNet, rig: Rig, modes: dict[str, MotionParams]
                  ) -> dict:
    lips = lip_frames(model, clip.samples)
    duration_s = clip.samples.size / SR
    rate_hz = model.feature_config.frame_rate_hz
    accent = np.array([lf.prosody.accent for lf in lips])
    out = {"name": clip.name, "kind": clip.kind, "seconds": duration_s}
    runs = {name: run_engine(rig, lips, duration_s, p) for name, p in modes.items()}
    n_video = len(next(iter(runs.values())).mask)
    accent_video = video_samples(accent, n_video, rate_hz)
    energy = log_rms_energy(clip.samples, n_video)
    speech = next(iter(runs.values())).mask >= 0.5  # the same mask in every mode
    peaks_s = accent_peaks_s(accent, rate_hz, speech)
    rng = np.random.default_rng([SEED, len(clip.samples)])
    in_speech = np.flatnonzero(speech) / FPS
    chance_s = (rng.choice(in_speech, size=len(peaks_s)) if len(in_speech) and len(peaks_s)
                else np.zeros(0))
    for name, run in runs.items():
        out[name] = score(run, accent_video, energy, peaks_s, chance_s, duration_s)
    return out


# --- cost -----------------------------------------------------------------------------------

def cost_us(n: int = 4000) -> dict:
    """Per-frame cost: prosody per 10 ms feature frame (pushed one at a time, as live), motion
    per video frame (today vs new)."""
    cfg = FeatureConfig()
    rng = np.random.default_rng(0)
    feats = log_mel(rng.standard_normal(SR * 8).astype(np.float32) * 0.1, cfg)
    prosody = StreamingProsody(cfg, 3)
    times = []
    for i in range(min(n, feats.shape[1])):
        col = feats[:, i:i + 1]
        t0 = time.perf_counter()
        prosody.push(col)
        times.append(time.perf_counter() - t0)
    out = {"prosody_per_feature_frame": _pcts(times)}
    base = MotionParams().scaled_to_extent(np.array([8.0, 8.0, 8.0]))
    for name, params in (("motion_today", base.speech_blind()), ("motion_new", base)):
        synth = MotionSynth(FPS, np.random.default_rng(0), params)
        masks = (np.sin(np.arange(n) / 40.0) > 0).astype(float)
        accents = np.abs(np.sin(np.arange(n) / 3.0)) * 0.4
        times = []
        for m, a in zip(masks, accents, strict=True):
            t0 = time.perf_counter()
            synth.step(m, a)
            times.append(time.perf_counter() - t0)
        out[name] = _pcts(times)
    return out


def _pcts(times_s: list[float]) -> dict:
    t = np.array(times_s[100:]) * 1e6
    return {"p50_us": float(np.percentile(t, 50)), "p99_us": float(np.percentile(t, 99))}


# --- plot -----------------------------------------------------------------------------------

def plot(clip: Clip, model: MappingNet, rig: Rig, modes: dict[str, MotionParams], path: Path,
         seconds: float = 8.0) -> None:
    """The README figure: accent envelope, head angles today vs new, and the motion gain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = clip.samples[: int(seconds * SR)]
    lips = lip_frames(model, samples)
    duration_s = samples.size / SR
    rate_hz = model.feature_config.frame_rate_hz
    accent = np.array([lf.prosody.accent for lf in lips])
    runs = {name: run_engine(rig, lips, duration_s, p) for name, p in modes.items()}
    new = modes["new"]
    gains = {g: Engine(rig, EngineConfig(fps=FPS, seed=SEED, motion_params=new, motion_gain=g))
             for g in (0.5, 2.0)}
    gain_runs = {g: np.array([f.angles_deg for f in e.push(lips) + e.finish(duration_s)])
                 for g, e in gains.items()}
    t_video = np.arange(len(runs["new"].mask)) / FPS
    t_lips = np.arange(len(accent)) / rate_hz
    fig, axes = plt.subplots(3, 1, figsize=(11, 7.5), sharex=True,
                             gridspec_kw={"height_ratios": [1, 1.6, 1.2]})

    def shade(ax):
        ax.fill_between(t_video, 0, 1, where=runs["new"].mask >= 0.5, step="mid",
                        transform=ax.get_xaxis_transform(), color="0.9", lw=0)

    ax = axes[0]
    shade(ax)
    ax.plot(t_lips, accent, color="tab:red", lw=1, label="accent envelope (prosody)")
    speed = angular_speed(runs["new"].angles)
    ax.plot(t_video, speed / max(1e-9, speed.max()) * accent.max(), color="k", lw=1,
            alpha=0.7, label="head angular speed, new (scaled)")
    ax.set_ylabel("accent")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{clip.name}: head motion that follows the speech (grey: speaking)",
                 fontsize=10)
    ax = axes[1]
    shade(ax)
    for k, (axis, colour) in enumerate((("pitch", "tab:blue"), ("yaw", "tab:orange"))):
        ax.plot(t_video, runs["today"].angles[:, k], color=colour, lw=1, ls="--", alpha=0.6,
                label=f"{axis}, today's natural mode")
        ax.plot(t_video, runs["new"].angles[:, k], color=colour, lw=1.6,
                label=f"{axis}, new (nods/turns on accents, settling, listening)")
    ax.set_ylabel("angle (deg)")
    ax.legend(loc="upper right", fontsize=7, ncol=2)
    ax = axes[2]
    shade(ax)
    ax.plot(t_video, gain_runs[0.5][:, 0], lw=1, label="--motion-gain 0.5")
    ax.plot(t_video, runs["new"].angles[:, 0], lw=1, label="--motion-gain 1 (default)")
    ax.plot(t_video, gain_runs[2.0][:, 0], lw=1, label="--motion-gain 2")
    ax.set_ylabel("pitch (deg)")
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".part.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


# --- report ---------------------------------------------------------------------------------

def summary(clips: list[dict], modes: list[str]) -> dict:
    out = {}
    for kind in ("synthetic", "real", "all"):
        sel = [c for c in clips if kind == "all" or c["kind"] == kind]
        if not sel:
            continue
        row = {}
        for m in modes:
            def med(key, sel=sel, m=m):
                vals = [c[m][key] for c in sel if c[m][key] is not None
                        and not np.isnan(c[m][key])]
                return float(np.median(vals)) if vals else None
            onsets = sum(c[m]["onsets"] for c in sel)
            row[m] = {
                "clips": len(sel),
                "r_accent": med("r_accent"), "r_energy": med("r_energy"),
                "lags_accent": [int(np.sum([c[m]["lag_accent"] == lag for c in sel]))
                                for lag in LAGS],
                "answered": float(np.sum([c[m]["answered"] * c[m]["n_peaks"] for c in sel
                                          if c[m]["n_peaks"]])
                                  / max(1, sum(c[m]["n_peaks"] for c in sel))),
                "chance": float(np.sum([c[m]["chance"] * c[m]["n_peaks"] for c in sel
                                        if c[m]["n_peaks"]])
                                / max(1, sum(c[m]["n_peaks"] for c in sel))),
                "onset_shifts": (sum(c[m]["onset_shifts"] for c in sel) / onsets
                                 if onsets else None),
                "onsets": onsets,
                "ac2s": med("ac2s"), "ac2s_max": max((c[m]["ac2s"] for c in sel
                                                      if c[m]["ac2s"] is not None), default=None),
                "ac2s_any_axis": med("ac2s_any_axis"),
                "switches_per_s": med("switches_per_s"), "images": med("images"),
                "speech_speed_dps": med("speech_speed_dps"),
            }
        out[kind] = row
    return out


def table(summ: dict, modes: list[str]) -> str:
    def f(v, fmt="{:.2f}"):
        return "-" if v is None else fmt.format(v)

    lines = ["| material | mode | r accent (median) | r log energy | answered (chance) | "
             "onset shifts | pitch abs ac 2 s (median / max) | switches/s | images | speed deg/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, row in summ.items():
        for m in modes:
            s = row[m]
            lines.append(
                f"| {kind} ({s['clips']}) | {m} | {f(s['r_accent'])} | {f(s['r_energy'])} | "
                f"{f(100 * s['answered'], '{:.0f}')} % ({f(100 * s['chance'], '{:.0f}')} %) | "
                f"{f(None if s['onset_shifts'] is None else 100 * s['onset_shifts'], '{:.0f}')} %"
                f" of {s['onsets']} | {f(s['ac2s'])} / {f(s['ac2s_max'])} | "
                f"{f(s['switches_per_s'])} | {f(s['images'], '{:.0f}')} | "
                f"{f(s['speech_speed_dps'], '{:.1f}')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="OUT", nargs="?", const="-", default=None,
                    help="write the results as JSON to OUT ('-' or no value: stdout)")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter clips (a smoke run)")
    ap.add_argument("--realdata", metavar="DIR", default=None,
                    help="the shared real material (with talking_faces/); default: "
                         "shared/realdata above the repository")
    ap.add_argument("--plot", metavar="PNG", default=None,
                    help="only draw the README figure (codec2's read speech, else a real clip)")
    args = ap.parse_args(argv)
    realdata = Path(args.realdata) if args.realdata else realdata_dir()
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json == "-" else print
    model = MappingNet.load()
    rig = load_rig(default_rig_dir())
    base = MotionParams().scaled_to_extent(rig_extent_deg(rig))
    modes = {"today": base.speech_blind(), "new": base}
    if args.plot:
        speech = CODEC2 / CODEC2_SPEECH[0]
        clip = (Clip(speech.name, "real", load_audio(speech)) if speech.exists()
                else real_clips(realdata)[0])
        plot(clip, model, rig, modes, Path(args.plot))
        log(f"{args.plot}: figure of {clip.name}")
        return 0
    started = time.perf_counter()
    clips = (synthetic_clips(2 if args.quick else 6, 10.0 if args.quick else 20.0)
             + real_clips(realdata, args.quick))
    results = []
    for clip in clips:
        results.append(evaluate_clip(clip, model, rig, modes))
        r = results[-1]
        log(f"{clip.name:>24s} {r['seconds']:5.1f} s  " + "  ".join(
            f"{m}: r {r[m]['r_accent']:+.2f} (lag {r[m]['lag_accent']}) ans "
            f"{r[m]['answered']:.2f} sw/s {r[m]['switches_per_s']:.2f}" for m in modes))
    summ = summary(results, list(modes))
    result = {"machine": machine_info(), "seconds": time.perf_counter() - started,
              "rig": str(default_rig_dir().name), "fps": FPS, "seed": SEED,
              "summary": summ, "cost": cost_us(), "clips": results}
    log(table(summ, list(modes)))
    c = result["cost"]
    log(f"cost: prosody {c['prosody_per_feature_frame']['p50_us']:.1f} us p50 / "
        f"{c['prosody_per_feature_frame']['p99_us']:.1f} us p99 per 10 ms frame; motion today "
        f"{c['motion_today']['p50_us']:.1f} / {c['motion_today']['p99_us']:.1f} us, new "
        f"{c['motion_new']['p50_us']:.1f} / {c['motion_new']['p99_us']:.1f} us per video frame")
    if args.json == "-":
        json.dump(result, sys.stdout, indent=1)
        print()
    elif args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
