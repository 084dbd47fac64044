"""Offline rendering: an audio file -> mp4 and/or exports (timeline JSON, plot PNG, ...).

This is the live loop with an as-fast-as-possible clock, the audio file as its source, and
sinks that queue instead of dropping: the engine runs in this thread, the lips a few chunks
ahead in a thread of their own (animator.render.source), and the video sink composes and
encodes in its own (x264 adds threads of its own), so the work overlaps on both cores.
Without a video, no frame is composed or encoded: a timeline alone takes a fraction of a
second for a minute of speech.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from animator.core.errors import AnimatorError
from animator.core.modes import OFFLINE_SPEAKING
from animator.core.outputs import Output, atomic_folder, atomic_outputs, check_outputs
from animator.core.types import Frame, LiveFrame
from animator.engine import Engine, EngineConfig
from animator.live.clock import FastClock
from animator.live.loop import FrameLoop
from animator.render import MODEL_BATCH, OFFLINE_SPEAKING_LEAD_S, offline_shape_lead_s
from animator.render.exports import EXPORTERS, RunInfo
from animator.render.file_source import FileLipSource
from animator.render.onset_lookahead import BreathMutedSource
from animator.render.source import AudioFileSource
from keypoints.assets import default_model_path
from keypoints.audio import decode_audio, resample, to_mono
from keypoints.compute_threads import on_compute_threads
from keypoints.mappingnet import MappingNet
from keypoints.visemenet import ShapeModel, default_shape_model_path, fits_lips

#: Video containers ``-o`` writes: H.264 + AAC in mp4; with transparency (the character over
#: nothing) VP9 + Opus in webm, ProRes 4444 + PCM in mov (animator/sinks/alpha_video.py).
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")
ALPHA_SUFFIXES = (".webm", ".mov")
#: Frames a sink's queue holds: how far the loop may run ahead of the encoder (at 1080 px,
#: 32 frames are ~100 MB of choices in flight at most, and far less in practice: a queued
#: item is a frame choice, the pixels are made in the sink's thread).
QUEUE_FRAMES = 32


@dataclass(frozen=True)
class RenderResult:
    out_path: Path | None  # the video, None when only exports were written
    n_frames: int
    duration_s: float
    elapsed_s: float
    frames: list[Frame]

    @property
    def realtime_factor(self) -> float:
        return self.duration_s / self.elapsed_s if self.elapsed_s > 0 else float("inf")


class NothingToWrite(AnimatorError):
    """A render asked to write nothing."""


class FrameCollector:
    """Keeps every frame (for the exports); cheap, so it runs in the loop's thread."""

    name = "frames"
    inline = True

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def send(self, frame: LiveFrame) -> None:
        self.frames.append(frame.frame)


@on_compute_threads
def render(audio_path: str | Path, out_path: str | Path | None = None, *,
           rig_dir: str | Path | None = None, model_path: str | Path | None = None,
           config: EngineConfig | None = None, width_px: int = 512,
           background_rgb: tuple[int, int, int] = (236, 240, 244),
           timeline_path: str | Path | None = None, plot_path: str | Path | None = None,
           exports: Sequence[tuple[str, str | Path]] = (),
           model_batch: int = MODEL_BATCH, progress: bool | None = None,
           on_frame: Callable[[Frame], None] | None = None,
           model: MappingNet | None = None, keep_images: bool = False,
           expression_track: str | Path | None = None,
           shape_model_path: str | Path | None = None, visemes: bool = True,
           canvas=None, dat_fps: float = 24.0, preston_blair: bool = False,
           x264_preset: str | None = None, crf: int | None = None,
           x264_threads: int | None = None,
           lip_thread: bool = True, whole_file: bool = True) -> RenderResult:
    """Render ``audio_path`` with the rig at ``rig_dir`` (default: the built-in character)
    to the video ``out_path`` (None: no video) and the exports: ``timeline_path``,
    ``plot_path`` and ``exports`` = [(format, path)] with formats from
    :data:`~animator.render.exports.EXPORTERS`.

    model_batch: keypoint frames per model call (1: exactly as live mode, see
    :mod:`animator.render.source`). progress: a progress bar on stderr (default: only when
    stderr is a terminal). on_frame: called after each video frame is encoded, in the
    encoder's thread. model: an already loaded MappingNet (batches reuse one), which must be
    the one at ``model_path``. keep_images: keep the decoded rig images for the next render
    in this process with the same rig files and size (a batch worker's next file).
    expression_track: a timed expression track (.json or .srt, see
    :mod:`animator.sources.expression_track`), checked against the rig; ``config.expression``
    is the face before its first cue and between cues. ``config.shape_lead_s`` is set to
    :func:`~animator.render.offline_shape_lead_s` (the whole file is there: each frame shows
    the mouth shape of the middle of its display time; live shows its own time's).
    visemes: run the mouth-shape model (``shape_model_path``, default the shipped one) beside
    the lips (Frame.viseme, the cue exports, mouth charts); without it shapes come from the
    mouth's opening. canvas: an animator.sinks.compose.Canvas to place the character on.
    dat_fps, preston_blair: the moho-dat export's frame rate and shape names.
    x264_preset, crf, x264_threads: the H.264 encoder's speed preset, quality and threads for
    an .mp4 (None: the defaults of :mod:`animator.sinks.mp4`; the thread count changes the
    pictures by at most a few levels, see its ENCODER_THREADS). lip_thread: the lips computed
    in a thread of their own, ahead of the loop (False: in the loop's thread; see
    :mod:`animator.render.source`).
    whole_file: the lips of the whole file in a few large calls, only the frames shown
    (:mod:`animator.render.file_source`; the keypoints within
    keypoints.file_lips.FILE_TOLERANCE of the stream's; ``model_batch`` is then unused);
    False, or ``model_batch`` 1: the lip stream (:mod:`animator.render.source`).
    """
    started = time.perf_counter()
    config = config or EngineConfig(speaking=OFFLINE_SPEAKING)
    from animator.rig import default_rig_dir, load_rig

    rig_dir = Path(rig_dir) if rig_dir is not None else default_rig_dir()
    model_path = Path(model_path or (model.path if model is not None else
                                     default_model_path()))
    wanted = [*(("timeline", timeline_path),) * (timeline_path is not None),
              *(("plot", plot_path),) * (plot_path is not None), *exports]
    if out_path is None and not wanted:
        raise NothingToWrite(f"{audio_path}: nothing to write: give -o OUT.mp4 and/or an "
                             f"export (--timeline, --plot, --export FORMAT=PATH)")
    outputs = [Output(out_path, "video", VIDEO_SUFFIXES)] if out_path is not None else []
    outputs += [Output(path, EXPORTERS[name].what, EXPORTERS[name].suffixes,
                       EXPORTERS[name].folder) for name, path in wanted]
    shape_path = (Path(shape_model_path) if shape_model_path is not None
                  else default_shape_model_path()) if visemes else None
    # Outputs are checked before any work, against each other and against every input file.
    inputs = [audio_path, model_path, shape_path,
              *([expression_track] if expression_track else [])]
    check_outputs(outputs, inputs)
    # the audio decoded beside the rig and the models (libsndfile and onnxruntime leave the
    # interpreter to the other); its error, if any, still comes after theirs
    decoding = _Background(lambda: decode_audio(audio_path)) if lip_thread else None
    try:
        rig = load_rig(rig_dir)
        check_outputs(outputs, [*inputs, *rig.files()])
        config = replace(_with_cues(config, rig, expression_track),
                         shape_lead_s=offline_shape_lead_s(config.fps),
                         speaking_lead_s=(OFFLINE_SPEAKING_LEAD_S
                                          if config.speaking == "lookahead"
                                          else config.speaking_lead_s))
        if canvas is not None:  # the character must fit before any work
            from animator.sinks.compose import output_size

            canvas.offset(output_size(rig.image_size, width_px))
        model = model if model is not None else MappingNet.load(model_path)
        shapes = ShapeModel.load(shape_path) if shape_path is not None else None
    finally:
        if decoding is not None:
            decoding.join()  # (also on an error: no thread outlives the call)
    if shapes is not None and not fits_lips(shapes, model):
        shapes = None  # a lip model with less look-ahead: shapes follow the mouth's opening
    native, native_rate = decoding.value() if decoding is not None else decode_audio(audio_path)
    mono = resample(to_mono(native), native_rate, model.feature_config.sample_rate)
    duration_s = native.shape[1] / native_rate

    engine = Engine(rig, config)
    if whole_file and model_batch > 1:
        source = FileLipSource(mono, model, duration_s, fps=config.fps,
                               shape_lead_s=config.shape_lead_s, shapes=shapes,
                               threaded=lip_thread, batches=out_path is None)
    else:
        source = AudioFileSource(mono, model, duration_s, model_batch=model_batch,
                                 shapes=shapes, threaded=lip_thread)
    if config.speaking == "lookahead":
        source = BreathMutedSource(source, config.fps)
    collector = FrameCollector()
    show = sys.stderr.isatty() if progress is None else progress
    n_expected = max(1, round(duration_s * config.fps))
    files = [o.path for o in outputs if not o.folder]
    with _progress_bar(n_expected, show) as bar, contextlib.ExitStack() as folders, \
            atomic_outputs(files) as file_tmps, contextlib.ExitStack() as stack:
        tmps = iter(file_tmps)
        targets = {o.path: (folders.enter_context(atomic_folder(o.path)) if o.folder
                            else next(tmps)) for o in outputs}
        sinks: list = [collector]
        if out_path is not None:
            sinks.append(_video_sink(stack, targets[out_path], rig, width_px, background_rgb,
                                     config.fps, native, native_rate, on_frame, keep_images,
                                     canvas, {k: v for k, v in (("preset", x264_preset),
                                                                ("crf", crf),
                                                                ("threads", x264_threads))
                                                       if v is not None}))
        stack.callback(source.close)  # the lip thread stops with the loop, also on an error
        loop = stack.enter_context(FrameLoop(engine, source, sinks, queue_size=QUEUE_FRAMES))
        loop.run(FastClock(config.fps), on_tick=lambda _: bar.update(1))
        loop.close()  # every queued frame encoded (a sink's failure raised here)
        stack.close()  # the video finished: its last packets and the index written
        run = RunInfo(
            fps=config.fps, duration_s=duration_s, seed=config.seed, audio=str(audio_path),
            rig=str(rig_dir), latency_ms=1000.0 * model.algorithmic_latency_s,
            poses=tuple(rig.config.poses),
            title=f"{Path(audio_path).name}  ·  motion={config.motion}  "
                  f"speaking={config.speaking}  seed={config.seed}",
            dat_fps=dat_fps, preston_blair=preston_blair,
            compositor=lambda transparent: _compositor(rig, width_px, background_rgb, False,
                                                       transparent, canvas))
        for name, path in wanted:
            EXPORTERS[name].write(targets[path], collector.frames, run)
    return RenderResult(Path(out_path) if out_path is not None else None,
                        len(collector.frames), duration_s, time.perf_counter() - started,
                        collector.frames)


class _Background:
    """``fn()`` run in a thread of its own from now on; :meth:`value` is what it returned
    (what it raised is raised there). Not a concurrent.futures executor: importing it costs
    a timeline-only command ~6 ms."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self._value: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="decode",
                                        daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # raised by value(), in the caller's thread
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def value(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def _progress_bar(total: int, show: bool):
    """A tqdm bar of ``total`` frames on stderr, or one that shows nothing (and costs no
    import: tqdm takes ~40 ms to import, a tenth of a timeline-only minute)."""
    if not show:
        yield _NoBar()
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="frame", desc="render", leave=False) as bar:
        yield bar


def _with_cues(config: EngineConfig, rig, track: str | Path | None) -> EngineConfig:
    """``config`` with its expression checked against the rig and the track's cues loaded
    (CueError, one line naming the file and line, for a name the rig lacks)."""
    import dataclasses

    from animator.sources.expression_track import check_expression, load_expression_track

    check_expression(config.expression, rig.config.expressions, "--expression")
    if track is None:
        return config
    cues = tuple(load_expression_track(track, rig.config.expressions))
    return dataclasses.replace(config, expression_track=cues)


#: (key, compositor, its I420 form) kept by ``keep_images`` for the next render of this process
_kept: list = []


def _compositor(rig, width_px: int, background_rgb: tuple[int, int, int], keep: bool,
                transparent: bool = False, canvas=None, i420: bool = False):
    """A compositor for ``rig`` (``i420``: its I420 form, for the mp4 encoder); with
    ``keep``, the one of the previous render when the rig's files (path, size, modification
    time), the width and the background are the same."""
    from animator.sinks.compose import FrameCompositor
    from animator.sinks.compose_i420 import I420Compositor

    if not keep or transparent or canvas is not None:
        comp = FrameCompositor(rig, width_px, background_rgb, transparent=transparent,
                               canvas=canvas)
        return I420Compositor(comp) if i420 else comp
    files = tuple((str(p), st.st_size, st.st_mtime_ns) for p in rig.files()
                  if (st := p.stat()))
    key = (files, width_px, tuple(background_rgb))
    if not _kept or _kept[0][0] != key:
        comp = FrameCompositor(rig, width_px, background_rgb)
        _kept[:] = [(key, comp, I420Compositor(comp))]
    return _kept[0][2 if i420 else 1]


def _video_sink(stack: contextlib.ExitStack, path: Path, rig, width_px: int,
                background_rgb: tuple[int, int, int], fps: float, audio, audio_rate: int,
                on_frame: Callable[[Frame], None] | None, keep_images: bool, canvas=None,
                encoding: dict | None = None):
    """The video sink, entered on ``stack`` (PyAV and OpenCV are imported only for a video):
    mp4, or an alpha video for .webm / .mov. OpenCV works on one thread meanwhile (restored
    after): the encoder has one core and the loop and the composing the other, so a second
    OpenCV worker only waits for a core (5 % more CPU in all for a 60 s render, measured)."""
    import cv2

    from animator.sinks.mp4 import Mp4Sink, Mp4Writer

    stack.callback(cv2.setNumThreads, cv2.getNumThreads())
    cv2.setNumThreads(1)

    if path.suffix.lower() in ALPHA_SUFFIXES:
        from animator.sinks.alpha_video import AlphaVideoSink, AlphaVideoWriter

        compositor = _compositor(rig, width_px, background_rgb, False, True, canvas)
        writer = stack.enter_context(AlphaVideoWriter(path, compositor.size, fps, audio,
                                                      audio_rate))
        return stack.enter_context(AlphaVideoSink(writer, compositor, on_frame))
    compositor = _compositor(rig, width_px, background_rgb, keep_images, False, canvas,
                             i420=True)
    writer = stack.enter_context(Mp4Writer(path, compositor.size, fps, audio, audio_rate,
                                           **(encoding or {})))
    return stack.enter_context(Mp4Sink(writer, compositor, on_frame))
