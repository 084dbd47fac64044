"""Offline rendering: an audio file -> mp4 (+ timeline JSON, plot PNG).

This is the streaming engine fed from a file as fast as it goes: the audio is pushed in
chunks exactly as a live source would push it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from animator.compose import FrameCompositor
from animator.core.outputs import OutputError, atomic_output
from animator.engine import AudioAnimator, EngineConfig, Frame
from animator.export import timeline_dict, write_plot, write_timeline
from animator.mp4 import Mp4Writer
from animator.rig import load_rig
from keypoints.assets import default_rig_dir
from keypoints.audio import decode_audio, resample, to_mono
from keypoints.mappingnet import DEFAULT_MODEL_PATH, MappingNet

#: Audio is fed to the engine in chunks of this length, as a live source would feed it.
CHUNK_S = 0.2


@dataclass(frozen=True)
class RenderResult:
    out_path: Path
    n_frames: int
    duration_s: float
    elapsed_s: float
    frames: list[Frame]

    @property
    def realtime_factor(self) -> float:
        return self.duration_s / self.elapsed_s if self.elapsed_s > 0 else float("inf")


def check_writable(*paths: str | Path | None) -> None:
    """Fail before any work if an output's folder is missing or read-only."""
    for p in paths:
        if p is None:
            continue
        parent = Path(p).parent
        if not parent.is_dir():
            raise OutputError(f"{p}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"{p}: directory {parent} is not writable")
        if Path(p).is_dir():
            raise OutputError(f"{p}: is a directory")


def render(audio_path: str | Path, out_path: str | Path, *, rig_dir: str | Path | None = None,
           model_path: str | Path | None = None, config: EngineConfig | None = None,
           width_px: int = 512, background_rgb: tuple[int, int, int] = (236, 240, 244),
           timeline_path: str | Path | None = None, plot_path: str | Path | None = None,
           progress: bool | None = None,
           on_frame: Callable[[Frame], None] | None = None) -> RenderResult:
    """Render ``audio_path`` with the rig at ``rig_dir`` (default: the built-in character).

    progress: a progress bar on stderr (default: only when stderr is a terminal).
    on_frame: called after each video frame is encoded (benchmarks, machine progress).
    """
    started = time.perf_counter()
    config = config or EngineConfig()
    check_writable(out_path, timeline_path, plot_path)
    rig_dir = Path(rig_dir) if rig_dir is not None else default_rig_dir()
    rig = load_rig(rig_dir)
    model = MappingNet.load(model_path or DEFAULT_MODEL_PATH)
    native, native_rate = decode_audio(audio_path)
    sample_rate = model.feature_config.sample_rate
    mono = resample(to_mono(native), native_rate, sample_rate)
    duration_s = native.shape[1] / native_rate

    animator = AudioAnimator(rig, model, config)
    compositor = FrameCompositor(rig, width_px, background_rgb)
    n_expected = max(1, round(duration_s * config.fps))
    show = sys.stderr.isatty() if progress is None else progress
    frames: list[Frame] = []
    chunk = max(1, round(CHUNK_S * sample_rate))
    with tqdm(total=n_expected, unit="frame", disable=not show, desc="render",
              leave=False) as bar, atomic_output(out_path) as tmp:
        with Mp4Writer(tmp, compositor.size, config.fps, native, native_rate) as writer:
            def emit(batch: list[Frame]) -> None:
                for fr in batch:
                    writer.write(compositor.compose(fr.choice))
                    if on_frame is not None:
                        on_frame(fr)
                frames.extend(batch)
                bar.update(len(batch))

            for start in range(0, len(mono), chunk):
                emit(animator.push_audio(mono[start:start + chunk]))
            emit(animator.finish())

    if timeline_path is not None:
        write_timeline(timeline_path, timeline_dict(
            frames, fps=config.fps, duration_s=duration_s, seed=config.seed,
            audio=str(audio_path), rig=str(rig_dir), latency_ms=animator.latency_ms))
    if plot_path is not None:
        write_plot(plot_path, frames, rig.config.poses,
                   title=f"{Path(audio_path).name}  ·  motion={config.motion}  "
                         f"silence={config.silence}  seed={config.seed}")
    return RenderResult(Path(out_path), len(frames), duration_s,
                        time.perf_counter() - started, frames)
