"""Exports of a run besides the video: the timeline JSON and the plot PNG."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from pathlib import Path

import numpy as np

from animator.core.types import AXES, Frame

TIMELINE_VERSION = 1


def timeline_dict(frames: Sequence[Frame], *, fps: float, duration_s: float, seed: int,
                  audio: str, rig: str, latency_ms: float) -> dict:
    """The timeline of the contract: one entry per video frame."""
    return {
        "version": TIMELINE_VERSION,
        "fps": fps,
        "duration": round(duration_s, 6),
        "seed": seed,
        "audio": audio,
        "rig": rig,
        "latency_ms": round(latency_ms, 3),
        "frames": [frame_record(f) for f in frames],
    }


def frame_record(f: Frame) -> dict:
    """One frame of the timeline contract (also the body of the live page's messages)."""
    pitch, yaw, roll = np.asarray(f.angles_deg, dtype=np.float64).tolist()
    return {
        "i": f.index,
        "t": round(f.t_s, 6),
        AXES[0]: round(pitch, 4), AXES[1]: round(yaw, 4), AXES[2]: round(roll, 4),
        "speaking": round(float(f.speaking), 4),
        "open": round(float(f.mouth[0]), 4),
        "expression": f.choice.expression,
        "pose": f.choice.pose,
        "image": f.choice.image,
        "eyes": "closed" if f.eyes.closed else "open",
        "viseme": f.viseme,
    }


def count_runs(flags: np.ndarray) -> int:
    """Number of runs of True in a bool[T] (e.g. blinks in a per-frame eyes-closed track)."""
    f = np.asarray(flags, dtype=bool)
    return int(np.count_nonzero(f[1:] & ~f[:-1]) + (1 if f.size and f[0] else 0))


def timeline_json(timeline: dict) -> str:
    """``json.dumps(timeline, indent=1)``, byte for byte, ~6x faster: the frames (flat dicts
    of scalars, like the first) go through the C encoder in one call, with the indentation of a
    record's items as its separator (with ``indent``, the json module falls back to its pure-Python
    encoder); the records are then split where one ends and the next begins, at the only
    ``},`` + newline the text can hold (a newline in a string is escaped)."""
    frames = timeline["frames"]
    if not frames or any(isinstance(v, dict | list) for v in frames[0].values()):
        return json.dumps(timeline, indent=1)  # only flat records take the fast path
    head = json.dumps({k: v for k, v in timeline.items() if k != "frames"}, indent=1)
    items = json.JSONEncoder(separators=(",\n   ", ": ")).encode(frames)  # [{..},\n   {..}]
    body = items[2:-2].replace("},\n   {", "\n  },\n  {\n   ")
    return head[:-2] + ',\n "frames": [\n  {\n   ' + body + "\n  }\n ]\n}"


#: One record of the timeline JSON as json.dumps(indent=1) spells it inside the timeline:
#: the index, the numbers (their repr), then the strings and null (already JSON).
_NUMBERS = ("t", *AXES, "speaking", "open")
_TEXTS = ("expression", "pose", "image", "eyes", "viseme")
_RECORD = "  {\n" + ",\n".join(['   "i": %d', *(f'   "{k}": %r' for k in _NUMBERS),
                                *(f'   "{k}": %s' for k in _TEXTS)]) + "\n  }"


def timeline_text(frames: Sequence[Frame], **run) -> str:
    """``timeline_json(timeline_dict(frames, **run))`` byte for byte, formatted straight
    from the frames (no record dicts, no encoder pass: ~2x faster): a number's JSON is its
    repr (json.dumps spells non-finite ones its own way: such a timeline takes the dicts)."""
    out, enc = [], encode_basestring_ascii
    for f in frames:
        pitch, yaw, roll = np.asarray(f.angles_deg, dtype=np.float64).tolist()
        numbers = (round(f.t_s, 6), round(pitch, 4), round(yaw, 4), round(roll, 4),
                   round(float(f.speaking), 4), round(float(f.mouth[0]), 4))
        if not math.isfinite(sum(numbers)):  # (NaN or an infinity in any of them)
            out = []
            break
        c = f.choice
        out.append(_RECORD % (f.index, *numbers, enc(c.expression), enc(c.pose), enc(c.image),
                              '"closed"' if f.eyes.closed else '"open"',
                              "null" if f.viseme is None else enc(f.viseme)))
    if not out:
        return timeline_json(timeline_dict(frames, **run))
    head = json.dumps({k: v for k, v in timeline_dict([], **run).items() if k != "frames"},
                      indent=1)
    return head[:-2] + ',\n "frames": [\n' + ",\n".join(out) + "\n ]\n}"


def write_timeline(path: str | Path, timeline: dict | str) -> None:
    """Write the timeline JSON (a dict, or its text: :func:`timeline_text`) to ``path``
    (callers make it atomic: animator.core.outputs)."""
    text = timeline if isinstance(timeline, str) else timeline_json(timeline)
    Path(path).write_text(text + "\n", encoding="utf-8")


def write_plot(path: str | Path, frames: Sequence[Frame], poses: Sequence[str],
               title: str = "") -> None:
    """PNG at ``path`` (callers make it atomic): head angles with the chosen pose endpoint
    marked, and the speaking state with the mouth opening and the blinks (eyes closed),
    against time."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    t = np.array([f.t_s for f in frames])
    angles = np.array([f.angles_deg for f in frames]).reshape(-1, 3)
    pose_idx = np.array([poses.index(f.choice.pose) for f in frames], dtype=int)
    fig, (ax_a, ax_p, ax_m) = plt.subplots(
        3, 1, figsize=(11, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.6, 2]})
    for k, axis in enumerate(AXES):
        ax_a.plot(t, angles[:, k], lw=1.2, label=f"{axis} (deg)")
    ax_a.axhline(0, color="0.7", lw=0.6)
    ax_a.set_ylabel("head angle (deg)")
    ax_a.legend(loc="upper right", ncol=3, fontsize=8)
    if title:
        ax_a.set_title(title, fontsize=10)

    ax_p.step(t, pose_idx, where="post", color="tab:purple", lw=1.2)
    used = sorted(set(pose_idx.tolist())) or [0]
    ax_p.set_yticks(used, [poses[i] for i in used], fontsize=7)
    ax_p.set_ylim(min(used) - 0.5, max(used) + 0.5)
    ax_p.set_ylabel("pose endpoint")
    ax_p.grid(axis="y", color="0.9")

    ax_m.fill_between(t, [f.speaking for f in frames], step="mid", color="tab:green",
                      alpha=0.25, label="speaking state")
    ax_m.plot(t, [f.mouth[0] for f in frames], color="tab:red", lw=1.0,
              label="mouth open (mouth widths)")
    closed = np.array([f.eyes.closed for f in frames], dtype=bool)
    if closed.any():  # a band per blink, over the whole height of the panel
        ax_m.fill_between(t, 0, 1, where=closed, step="mid", color="tab:blue", alpha=0.45,
                          lw=0, transform=ax_m.get_xaxis_transform(),
                          label=f"eyes closed ({count_runs(closed)} blinks)")
    ax_m.set_ylim(-0.05, 1.05)
    ax_m.set_xlabel("time (s)")
    ax_m.legend(loc="upper right", ncol=3, fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110, format="png")
    finally:
        plt.close(fig)
