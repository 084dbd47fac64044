"""The vocabulary every stage, source and sink speaks: what is decided for a video frame and
what a sink receives. Angles are degrees in the order of :data:`AXES`; pitch > 0 chin up,
yaw > 0 the character turns towards its own left, roll > 0 it tilts towards its own left
shoulder (see the README's contract)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: Angle axes in the order used by every float[3] angle vector of the project (degrees).
AXES: tuple[str, ...] = ("pitch", "yaw", "roll")


@dataclass(frozen=True)
class FrameChoice:
    """The rig image chosen for a video frame."""

    pose: str
    expression: str  # the expression nearer to the shown image on its path
    image: str  # path relative to the rig folder
    path_t: float  # position on the speech path, 0 = rest
    residual_deg: np.ndarray  # float[3], wanted angles minus the pose's
    #: a mouth chart's mouth image drawn over ``image`` (path relative to the rig folder)
    overlay: str | None = None


@dataclass(frozen=True)
class EyeState:
    """What the eyes show in a frame (the input of frame selection, whatever makes it: the
    blink detector on a tracked face, idle blinks). closure: float64[2] in [0, 1], the
    character's left eye then right (0 open, 1 shut); closed: True while the eyes count as
    closed (a blink), with hysteresis."""

    closure: np.ndarray
    closed: bool

    @property
    def both(self) -> float:
        """Closure both eyes share (the smaller one), in [0, 1]."""
        return float(min(self.closure[0], self.closure[1]))


#: Eyes open, nothing measured (shared: its array is read-only).
EYES_OPEN = EyeState(np.zeros(2), False)
EYES_OPEN.closure.flags.writeable = False


@dataclass(frozen=True)
class Frame:
    """Everything decided for one video frame."""

    index: int
    t_s: float
    angles_deg: np.ndarray  # float[3] pitch, yaw, roll
    speaking: float  # speaking state in [0, 1] (1 while the lips move)
    mouth: np.ndarray  # float[2] (open, wide) in mouth widths (relative to the learned rest)
    choice: FrameChoice
    eyes: EyeState = EYES_OPEN
    #: the mouth shape shown, one of Rhubarb's nine (A-H, X; keypoints.visemes.SHAPES)
    viseme: str = "X"


@dataclass(frozen=True)
class LiveFrame:
    """One tick's decision, as handed to the sinks."""

    frame: Frame
    due_s: float  # clock time the tick was due, seconds
    #: centre sample of the audio lips shown, counted from the first sample the audio
    #: source delivered (at the model's rate); None without fresh audio
    audio_sample: int | None
    #: number of the camera frame the lips/head come from, None without a fresh face
    camera_frame: int | None
    decided_s: float  # clock time the frame was decided, seconds


class Sink(Protocol):
    """What the loop needs of a sink. ``send`` runs in the sink's own thread; an optional
    ``poll()`` runs in the loop's thread each tick and returns False to end the loop (a
    window that the user closed)."""

    name: str

    def send(self, frame: LiveFrame) -> None: ...
