"""Where a timeline-only render's time goes, by wrapping the calls of each part with a
clock (used by benchmarks/render.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def timeline_breakdown(wav: Path, tmp: Path, runs: int = 3) -> dict:
    """Where a timeline-only render's time goes (median of ``runs``): the lips (keypoints/:
    log-mel, MappingNet, prosody, mouth shapes; computed in the source's own thread, so
    their wall time overlaps the rest), the loop's wait for them (``lips_wait``), the
    engine (the stages: speaking state, motion, mouth, selection), decoding the audio
    (in a thread beside the rig and the models: it overlaps them), loading the models, and
    the rest of the loop's thread (rig, loop, the timeline file; the lips' plan is made once
    per process, in the first segment):
    ``total`` = lips_wait + engine + audio_decode + models_load + rest (rest is then short by
    the decoding's overlap, a few ms)."""
    import animator.render.file_source as file_source
    import animator.render.offline as offline
    from animator.engine import Engine
    from animator.render.file_source import FileLipSource
    from animator.render.source import AudioFileSource
    from keypoints.mappingnet import MappingNet
    from keypoints.stream import AudioLipStream
    from keypoints.visemenet import ShapeModel

    spent: dict[str, float] = {}

    def clocked(owner, name: str, key: str, static: bool = False):
        original = owner.__dict__[name]
        fn = original.__func__ if static else original

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0

        setattr(owner, name, classmethod(lambda cls, *a, **k: wrapper(cls, *a, **k))
                if static else wrapper)
        return original

    patches = [(AudioLipStream, "push", "lips"), (AudioLipStream, "flush", "lips"),
               (AudioFileSource, "read", "lips_wait"), (FileLipSource, "read", "lips_wait"),
               (Engine, "push", "engine"), (Engine, "finish", "engine"),
               (offline, "decode_audio", "audio_decode"), (offline, "resample", "audio_decode"),
               (MappingNet, "load", "models_load"), (ShapeModel, "load", "models_load")]

    def clocked_segments(make, key: str):  # a generator of the whole-file lips, clocked
        def wrapper(*args, **kwargs):
            items = make(*args, **kwargs)
            while True:
                t0 = time.perf_counter()
                item = next(items, None)
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0
                if item is None:
                    return
                yield item
        return wrapper

    # the whole-file lips (two threads): the features' thread, and the models' thread minus
    # its waits for the features
    saved = [(file_source, name, getattr(file_source, name))
             for name in ("segment_features", "segment_lips")]
    file_source.segment_features = clocked_segments(saved[0][2], "lips")
    file_source.segment_lips = clocked_segments(saved[1][2], "lips")
    saved.append((FileLipSource, "_taken", FileLipSource._taken))
    FileLipSource._taken = clocked_segments(FileLipSource._taken, "lips_models_wait")
    for owner, name, key in patches:
        is_cls = isinstance(owner.__dict__[name], classmethod)
        saved.append((owner, name, clocked(owner, name, key, is_cls)))
    totals: list[dict[str, float]] = []
    try:
        for _ in range(runs):
            spent.clear()
            t0 = time.perf_counter()
            offline.render(wav, None, timeline_path=tmp / "b.json", progress=False)
            wall = time.perf_counter() - t0
            spent["lips"] = spent.get("lips", 0.0) - spent.pop("lips_models_wait", 0.0)
            in_loop = sum(v for k, v in spent.items() if k != "lips")
            totals.append({**spent, "total": wall, "rest": wall - in_loop})
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    out = {k: round(float(np.median([t.get(k, 0.0) for t in totals])), 3) for k in totals[0]}
    out["lips_share"] = round(out["lips"] / out["total"], 2)  # > 0 overlapped
    return out
