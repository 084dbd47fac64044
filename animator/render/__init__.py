"""Offline rendering: one file (:func:`render`: the live loop with a fast clock and queueing
sinks, :mod:`animator.render.offline`) and many (:mod:`animator.render.batch`: local worker
processes or a Ray cluster, :mod:`animator.render.runners`).

The settings below are shared by those modules; everything else is imported on first use, so
that ``animator --help`` and a timeline-only run load no video code.
"""

from __future__ import annotations

from typing import Any

#: Audio fed to the lip stream per loop tick, seconds, at least (offline reads a whole model
#: block, ``MODEL_BATCH`` frames, per tick: fewer, larger pushes through the vectorised
#: stages): the granularity of Ctrl-C and of the non-finite check; it does not change the
#: frames (the stream is chunk-invariant).
CHUNK_S = 0.2
#: Keypoint frames per MappingNet call offline (see AudioLipStream's ``block_frames``):
#: 1 computes every frame alone, exactly as live mode does; 256 (2.56 s at a 10 ms hop)
#: does ~30x less work and changes only the rounding of the keypoints.
MODEL_BATCH = 256
#: How late the mouth shapes run (seconds): offline, a frame shows the shape this much after
#: the middle of its display time (see :func:`offline_shape_lead_s`). Chosen on the
#: development clips and the synthetic sets of ``python -m benchmarks.visemes`` only.
SHAPE_LATENESS_S = 0.005


def offline_shape_lead_s(fps: float) -> float:
    """EngineConfig.shape_lead_s of an offline render at ``fps``: a frame held 1/fps shows
    the shape of the middle of its display time, plus SHAPE_LATENESS_S. Offline only: the
    renderer has the whole file, so reading ahead costs no latency (live keeps 0)."""
    return 0.5 / fps + SHAPE_LATENESS_S


#: ``--speaking lookahead``: each frame shows the causal speaking state this many seconds
#: ahead (EngineConfig.speaking_lead_s; 2 frames at 25 fps). The causal state is late by its
#: onset confirmation and voice window (~35-65 ms) and its hangover (offsets ~105-135 ms).
#: Chosen on the development clips of ``python -m benchmarks.speaking_dev --lookahead`` and
#: the synthetic tuning split: onsets and offsets 55 / 55 ms late -> 25 / 25 ms early
#: (median, real development clips), the synthetic ones within 60 ms; 0.04 s left synthetic
#: offsets 65-95 ms late.
OFFLINE_SPEAKING_LEAD_S = 0.08

#: Share of keypoint frames that may be non-finite before a render refuses the model.
MAX_NONFINITE_SHARE = 0.01

_LAZY = {"render": "offline", "RenderResult": "offline", "VIDEO_SUFFIXES": "offline"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"animator.render.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'animator.render' has no attribute {name!r}")
