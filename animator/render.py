"""Offline rendering: an audio file -> mp4 (+ timeline JSON, plot PNG).

This is the streaming engine fed from a file as fast as it goes: the audio is pushed in
chunks exactly as a live source would push it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from animator.core import shutdown
from animator.core.outputs import Output, atomic_outputs, check_outputs
from animator.core.types import Frame
from animator.engine import AudioAnimator, EngineConfig
from animator.rig import default_rig_dir, load_rig
from animator.sinks.compose import FrameCompositor
from animator.sinks.exports import timeline_dict, write_plot, write_timeline
from animator.sinks.mp4 import Mp4Writer
from keypoints.assets import default_model_path
from keypoints.audio import decode_audio, resample, to_mono
from keypoints.mappingnet import MappingNet, ModelContractError
from keypoints.stream import AudioLipStream

#: Audio is fed to the engine in chunks of this length, as a live source would feed it.
CHUNK_S = 0.2
#: Video containers ``-o`` writes.
VIDEO_SUFFIXES = (".mp4",)
#: Share of keypoint frames that may be non-finite before a render refuses the model.
MAX_NONFINITE_SHARE = 0.01


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
    rig_dir = Path(rig_dir) if rig_dir is not None else default_rig_dir()
    model_path = Path(model_path or default_model_path())
    outputs = [Output(out_path, "video", VIDEO_SUFFIXES)]
    if timeline_path is not None:
        outputs.append(Output(timeline_path, "timeline", (".json",)))
    if plot_path is not None:
        outputs.append(Output(plot_path, "plot", (".png",)))
    # Outputs are checked before any work, against each other and against every input file.
    check_outputs(outputs, [audio_path, model_path])
    rig = load_rig(rig_dir)
    check_outputs(outputs, [audio_path, model_path, *rig.files()])
    model = MappingNet.load(model_path)
    native, native_rate = decode_audio(audio_path)
    sample_rate = model.feature_config.sample_rate
    mono = resample(to_mono(native), native_rate, sample_rate)
    duration_s = native.shape[1] / native_rate

    animator = AudioAnimator(rig, model, config)
    compositor = FrameCompositor(rig, width_px, background_rgb)
    n_expected = max(1, round(duration_s * config.fps))
    nonfinite = NonFiniteLimit(model_path, animator.lips,
                               len(mono) / model.feature_config.hop_length)
    show = sys.stderr.isatty() if progress is None else progress
    frames: list[Frame] = []
    chunk = max(1, round(CHUNK_S * sample_rate))
    with tqdm(total=n_expected, unit="frame", disable=not show, desc="render",
              leave=False) as bar, atomic_outputs([o.path for o in outputs]) as tmps:
        with Mp4Writer(tmps[0], compositor.size, config.fps, native, native_rate) as writer:
            def emit(batch: list[Frame]) -> None:
                shutdown.check()  # SIGTERM unwinds here, like Ctrl-C
                nonfinite.check()
                for fr in batch:
                    writer.write(compositor.compose(fr.choice))
                    if on_frame is not None:
                        on_frame(fr)
                frames.extend(batch)
                bar.update(len(batch))

            for start in range(0, len(mono), chunk):
                emit(animator.push_audio(mono[start:start + chunk]))
            emit(animator.finish())

        rest = iter(tmps[1:])
        if timeline_path is not None:
            write_timeline(next(rest), timeline_dict(
                frames, fps=config.fps, duration_s=duration_s, seed=config.seed,
                audio=str(audio_path), rig=str(rig_dir), latency_ms=animator.latency_ms))
        if plot_path is not None:
            write_plot(next(rest), frames, rig.config.poses,
                       title=f"{Path(audio_path).name}  ·  motion={config.motion}  "
                             f"silence={config.silence}  seed={config.seed}")
    return RenderResult(Path(out_path), len(frames), duration_s,
                        time.perf_counter() - started, frames)


class NonFiniteLimit:
    """Refuses a model whose keypoints are non-finite in more than ``MAX_NONFINITE_SHARE`` of
    a render's frames (the stream holds the last good lips for each one, so a few are
    harmless; many mean the mouth never moves)."""

    def __init__(self, model_path: Path, lips: AudioLipStream, n_frames_expected: float) -> None:
        self._path = model_path
        self._lips = lips
        self._limit = MAX_NONFINITE_SHARE * max(1.0, n_frames_expected)

    def check(self) -> None:
        n = self._lips.n_nonfinite
        if n > self._limit:
            total = round(self._limit / MAX_NONFINITE_SHARE)
            raise ModelContractError(
                f"{self._path}: the model gave non-finite keypoints (NaN/inf) in {n} frames, "
                f"more than {MAX_NONFINITE_SHARE:.0%} of the {total} this audio makes")
