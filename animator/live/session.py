"""A live session from options: open the sources and sinks the options name, run the loop,
release everything (Ctrl-C, a closed window, the end of ``seconds`` or an error alike)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from animator.core.errors import LiveError
from animator.core.types import Frame
from animator.engine import Engine, EngineConfig
from animator.live.clock import FrameClock
from animator.live.loop import LiveLoop
from animator.live.sync import AudioTiming, SyncEstimate, SyncMonitor
from animator.sinks.compose import FrameCompositor
from animator.sources.expression_track import check_expression
from animator.stages.face_cue import cue_keys
from animator.stages.idle_blinks import IdleBlinkParams
from animator.stages.mouth_rest import MouthRestParams


@dataclass(frozen=True)
class LiveOptions:
    audio: str | None = None  # "mic", "mic:DEVICE" or an audio file
    camera: str | None = None  # device index or video file
    rig_dir: str | Path | None = None
    model_path: str | Path | None = None
    fps: float = 30.0
    seed: int = 0
    motion_gain: float = 1.0  # natural motion: 0 still, 1 default, 2 lively
    mouth_gain: float | None = None  # lips from audio: EngineConfig.open_gain (None: default)
    head: str | None = None  # synth | tracked | mix; None: tracked with a camera, else synth
    window: bool = False
    web_port: int | None = None
    allow_origins: tuple[str, ...] = ()  # origins besides the page's own (--allow-origin)
    virtual_cam: bool = False
    vmc: tuple[str, int] | None = None
    width_px: int = 512
    background_rgb: tuple[int, int, int] = (236, 240, 244)
    loop_files: bool = False  # start audio/video files again at their end
    seconds: float | None = None  # stop after this long (None: until Ctrl-C)
    mirror: bool = True
    #: the first this many seconds are the user's face at rest (needs a camera)
    calibrate_s: float = 0.0
    expression: str = "neutral"  # the face held while the mouth rests, until a cue
    idle_blinks: bool = True  # blink now and then while no face drives the eyes
    osc_in: tuple[str, int] | None = None  # listen for OSC expression cues here

    @property
    def head_mode(self) -> str:
        return self.head or ("tracked" if self.camera is not None else "synth")


@dataclass
class LiveSummary:
    ticks: int = 0
    late: int = 0
    skipped: int = 0
    stale: int = 0
    nonfinite: int = 0  # keypoint frames the model gave as NaN/inf (the last good ones shown)
    interrupted: bool = False
    sinks: dict[str, dict[str, int]] = field(default_factory=dict)
    sync: SyncEstimate | None = None  # audio -> mouth latency at the end (audio in only)


#: Seconds of running after which the measured audio -> mouth latency is reported.
SYNC_REPORT_S = 10.0


def run_live(opts: LiveOptions, *, stop: threading.Event | None = None,
             on_ready: Callable[[dict[str, str]], None] | None = None,
             on_tick: Callable[[Frame], None] | None = None,
             on_sync: Callable[[SyncEstimate], None] | None = None) -> LiveSummary:
    """Run live mode until Ctrl-C / ``stop`` / ``opts.seconds`` / a closed window; every
    device and server is released on the way out, whatever ended it.

    on_ready(info) is called once everything is open, with e.g. {"web": URL, "sync": the
    audio -> mouth latency from the model (animator.live.sync)}; with audio in,
    on_sync(estimate) once after ``SYNC_REPORT_S`` seconds, with the pipeline measured.
    """
    from animator.rig import default_rig_dir, load_rig
    from keypoints.mappingnet import MappingNet
    from keypoints.stream import AudioLipStream

    if opts.audio is None and opts.camera is None:
        raise LiveError("live mode needs an input: --audio mic|FILE and/or --camera INDEX|FILE")
    if opts.head_mode != "synth" and opts.camera is None:
        raise LiveError(f"--head {opts.head_mode} follows your head: it needs --camera")
    if opts.calibrate_s and opts.camera is None:
        raise LiveError("--calibrate learns your face at rest: it needs --camera")
    rig = load_rig(Path(opts.rig_dir) if opts.rig_dir is not None else default_rig_dir())
    check_expression(opts.expression, rig.config.expressions, "--expression")
    # lips from a face: read against that face's own rest (each face rests differently)
    face_lips = opts.camera is not None and opts.audio is None
    engine = Engine(rig, EngineConfig(fps=opts.fps, seed=opts.seed, head=opts.head_mode,
                                      mouth_rest=MouthRestParams() if face_lips else None,
                                      calibrate_s=opts.calibrate_s,
                                      motion_gain=opts.motion_gain,
                                      open_gain=None if face_lips else opts.mouth_gain,
                                      idle_blinks=IdleBlinkParams() if opts.idle_blinks
                                      else None, expression=opts.expression))
    keys = cue_keys(rig.config)
    summary = LiveSummary()
    info: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        audio = lip_stream = face = sync = None
        if opts.audio is not None:
            from animator.sources.audio_input import BLOCK_SAMPLES

            model = MappingNet.load(opts.model_path)
            rate = model.feature_config.sample_rate
            audio = stack.enter_context(_open_audio(opts.audio, rate, opts.loop_files))
            lip_stream = AudioLipStream(model, None, _shape_model(model))
            sync = SyncMonitor(AudioTiming.of(model, BLOCK_SAMPLES, opts.fps))
        if opts.camera is not None:
            from animator.sources.camera import TrackedCamera, parse_camera

            face = stack.enter_context(TrackedCamera(parse_camera(opts.camera),
                                                     loop=opts.loop_files))
        sinks = []
        if opts.window:
            from animator.sinks.window import WindowSink

            compositor = FrameCompositor(rig, opts.width_px, opts.background_rgb)
            sinks.append(stack.enter_context(WindowSink(compositor, on_cue=engine.cue,
                                                        keys=keys)))
            info["keys"] = ", ".join(f"{k} {name}" for k, name in keys.items())
        if opts.web_port is not None:
            from animator.sinks.web import WebSink

            web = stack.enter_context(WebSink(rig, opts.web_port,
                                              allow_origins=opts.allow_origins,
                                              on_cue=engine.cue, keys=keys, sync=sync))
            sinks.append(web)
            info["web"] = web.url
            info["cue"] = f"POST {web.url}expression/NAME"
        if opts.virtual_cam:
            from animator.sinks.vcam import VirtualCamSink

            # a compositor of its own: each sink composes in its own thread
            compositor = FrameCompositor(rig, opts.width_px, opts.background_rgb)
            sinks.append(stack.enter_context(VirtualCamSink(compositor, opts.fps)))
        if opts.vmc is not None:
            from animator.sinks.vmc import VmcSink

            sinks.append(stack.enter_context(VmcSink(*opts.vmc)))
            info["vmc"] = f"{opts.vmc[0]}:{opts.vmc[1]}"
        if opts.osc_in is not None:
            from animator.sources.osc_input import ADDRESS, OscCueInput

            osc_in = stack.enter_context(OscCueInput(*opts.osc_in, engine.cue,
                                                     engine.expressions))
            info["osc-in"] = f"{osc_in.host}:{osc_in.port} {ADDRESS} NAME"
        loop = stack.enter_context(LiveLoop(engine, sinks, audio=audio, lip_stream=lip_stream,
                                            face=face, mirror=opts.mirror))
        clock = FrameClock(opts.fps)
        if sync is not None:
            info["sync"] = sync.estimate().line()
        report_at = max(1, round(SYNC_REPORT_S * opts.fps))

        def ticked(frame: Frame) -> None:
            if sync is not None:
                sync.record_step(loop.last_step_s)
                if sync.n_ticks == report_at and on_sync is not None:
                    on_sync(sync.estimate())
            if on_tick is not None:
                on_tick(frame)

        try:  # from the moment the user is told it runs, Ctrl-C is a normal end
            if on_ready is not None:
                on_ready(info)
            loop.run(clock, stop=stop, duration_s=opts.seconds, on_tick=ticked)
        except KeyboardInterrupt:  # Ctrl-C is how live mode normally ends
            summary.interrupted = True
        finally:
            # the sinks finish the frame they hold first: a frame still in a mailbox would
            # be counted neither handled nor dropped (closing twice is harmless)
            loop.close()
            summary.ticks, summary.late, summary.skipped = loop.n_ticks, clock.n_late, \
                clock.n_skipped
            summary.stale, summary.sinks = loop.n_stale, loop.sink_stats()
            summary.nonfinite = lip_stream.n_nonfinite if lip_stream is not None else 0
            summary.sync = sync.estimate() if sync is not None else None
    return summary


def _open_audio(spec: str, sample_rate: int, loop: bool):
    """'mic' / 'mic:DEVICE' -> Microphone; anything else -> FileAudio (played in real time)."""
    from animator.sources.audio_input import FileAudio, Microphone

    if spec == "mic" or spec.startswith("mic:"):
        device = spec[4:] or None
        if device is not None and device.isdigit():
            device = int(device)
        return Microphone(device, sample_rate)
    return FileAudio(spec, sample_rate, loop=loop)


def _shape_model(lips):
    """The shipped mouth-shape model (Rhubarb's A-H, X for the sinks and mouth charts), or
    None when it is not installed or does not fit the lip model ``lips`` (shapes then follow
    the mouth's opening)."""
    from keypoints.visemenet import ShapeModel, default_shape_model_path, fits_lips

    path = default_shape_model_path()
    shapes = ShapeModel.load(path) if path.is_file() else None
    return shapes if shapes is not None and fits_lips(shapes, lips) else None
