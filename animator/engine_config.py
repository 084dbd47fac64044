"""The engine's settings (:class:`EngineConfig`): frame rate, seed, the motion, speaking and
head modes with their parameters, the mouth's rest and gain, eyes, expressions and the mouth
shapes' lead. Frozen and checked once when made; :mod:`animator.engine` reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from animator.core.modes import HEAD_MODES, MOTION_MODES, SPEAKING_MODES, canonical_mode
from animator.rig import REST_EXPRESSION
from animator.stages.eyes import BlinkParams
from animator.stages.idle_blinks import IdleBlinkParams
from animator.stages.motion import MotionParams
from animator.stages.mouth import AUDIO_OPEN_GAIN
from animator.stages.mouth_rest import MouthRestParams
from animator.stages.selection import SelectParams
from animator.stages.speaking import SpeakingParams


@dataclass(frozen=True)
class EngineConfig:
    fps: float = 25.0
    seed: int = 0
    motion: str = "natural"
    speaking: str = "causal"
    #: None: the natural defaults with amplitudes scaled to the rig's pose extent.
    motion_params: MotionParams | None = None
    #: natural motion: 0 still, 1 the default, 2 lively (every angle is scaled by it).
    motion_gain: float = 1.0
    speaking_params: SpeakingParams = field(default_factory=SpeakingParams)
    select_params: SelectParams = field(default_factory=SelectParams)
    #: where head angles come from: synthesised, measured (``push(..., head_deg=...)``) or
    #: measured plus synthesised.
    head: str = "synth"
    #: time constant (seconds) of the fade between a measured head and the synthesised one
    #: when measurements start or stop arriving.
    head_fade_s: float = 0.25
    #: learn the resting mouth from the lips (a face: each rests differently); None: the
    #: lips' own units are the rest (closed, width 1), as for MappingNet.
    mouth_rest: MouthRestParams | None = None
    blink_params: BlinkParams = field(default_factory=BlinkParams)
    #: the first this many seconds are the face at rest: they set the resting mouth (with
    #: ``mouth_rest``) and the open-eye level.
    calibrate_s: float = 0.0
    #: idle blinks while no face is measured (None: the eyes stay open then).
    idle_blinks: IdleBlinkParams | None = field(default_factory=IdleBlinkParams)
    #: the expression held while the mouth rests, from the first frame on ...
    expression: str = REST_EXPRESSION
    #: ... and the timed cues that change it: (start s, end s or None, expression), see
    #: animator.stages.face_cue.ExpressionTrack.
    expression_track: tuple[tuple[float, float | None, str], ...] = ()
    #: a frame at time t shows the mouth shape of the lips at t + this (s; frames wait for
    #: them): 0 live (no look-ahead, no added latency); offline (the whole file is there)
    #: animator.render.offline_shape_lead_s: mid display time plus the shapes' lateness.
    shape_lead_s: float = 0.0
    #: offline: frame i shows the speaking state of frame i + round(this * fps) (seconds; 0
    #: live): the causal state switches on after its onset confirmation and off after its
    #: hangover, so read ahead it sits on the speech (animator.render.OFFLINE_SPEAKING_LEAD_S)
    speaking_lead_s: float = 0.0
    #: a heard closed shape (A: p, b, m) shows the opening at rest (mouth_shapes.closed_by_shape)
    shape_closes_mouth: bool = True
    #: the opening of lips from a model (no ``mouth_rest``) is shown x this; None:
    #: animator.stages.mouth.AUDIO_OPEN_GAIN (benchmarks.mouth_range: real mouths open that
    #: much wider than the lip model predicts). A face's measured opening is shown as it is.
    open_gain: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 240:
            raise ValueError(f"fps must be in [1, 240], got {self.fps}")
        for name in ("motion", "speaking"):  # frozen: the aliases are resolved once, here
            object.__setattr__(self, name, canonical_mode(getattr(self, name)))
        if self.motion not in MOTION_MODES:
            raise ValueError(f"motion must be one of {MOTION_MODES}, got {self.motion!r}")
        if self.speaking not in SPEAKING_MODES:
            raise ValueError(f"speaking must be one of {SPEAKING_MODES}, got {self.speaking!r}")
        if self.head not in HEAD_MODES:
            raise ValueError(f"head must be one of {HEAD_MODES}, got {self.head!r}")
        if self.head != "synth" and (self.motion == "reference" or self.speaking == "reference"):
            raise ValueError(
                "a tracked head needs the natural motion and the causal speaking state")
        if self.head_fade_s < 0:
            raise ValueError("head_fade_s must be >= 0")
        if not 0 <= self.motion_gain <= 3:
            raise ValueError(f"motion_gain must be in [0, 3], got {self.motion_gain}")
        if self.motion == "reference" and self.motion_gain != 1.0:
            raise ValueError("motion_gain applies to the natural motion, not the reference mode")
        if not self.calibrate_s >= 0:
            raise ValueError("calibrate_s must be >= 0")
        if not 0 <= self.shape_lead_s <= 1:
            raise ValueError(f"shape_lead_s must be in [0, 1], got {self.shape_lead_s}")
        if not 0 <= self.speaking_lead_s <= 1:
            raise ValueError(f"speaking_lead_s must be in [0, 1], got {self.speaking_lead_s}")
        if self.speaking_lead_s and self.head != "synth":
            raise ValueError("speaking_lead_s is for offline renders (a synthesised head)")
        if self.open_gain is not None and not 0 < self.open_gain <= 4:
            raise ValueError(f"open_gain must be in (0, 4], got {self.open_gain}")

    @property
    def shown_open_gain(self) -> float:
        """The factor the engine shows the lips' opening with (see ``open_gain``)."""
        if self.open_gain is not None:
            return self.open_gain
        return 1.0 if self.mouth_rest is not None else AUDIO_OPEN_GAIN
