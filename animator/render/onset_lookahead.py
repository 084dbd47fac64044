"""The offline speaking state's look-ahead (``--speaking lookahead``, the default of render and
batch): an offline source whose lip frames reach the engine with the voice cue muted on the
breaths before speech (animator.stages.breath_onsets), found up to ``window_s`` ahead.

It wraps either offline source (the whole-file lips or the lip stream) and holds back the lip
frames of the last ``window_s`` until the frames after them have arrived. Decisions are made
on the video frames, each reading the lip frame the engine will show for it (its nearest,
:func:`animator.render.file_source.nearest_frames`), so both sources give the same marks. The
engine itself stays the causal one: only the cue it is fed changes (the renderer also sets
its ``speaking_lead_s``, the other half of the look-ahead).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from animator.live.loop import Reading, Source
from animator.render.file_source import nearest_frames
from animator.stages.breath_onsets import (
    BreathParams,
    breath_frames,
    context_frames,
    horizon_frames,
)
from keypoints.lips import LipFrame


def muted(frame: LipFrame) -> LipFrame:
    """``frame`` with its voice cue at 0 (a frame without prosody as it is)."""
    if frame.prosody is None:
        return frame
    return dataclasses.replace(frame, prosody=dataclasses.replace(frame.prosody, voice=0.0))


class BreathMutedSource:
    """An offline ``Source`` whose lip frames come out of ``source`` in the same order, with
    the voice cue muted on breath frames (see the module docstring); ``fps``: the engine's."""

    def __init__(self, source: Source, fps: float, params: BreathParams | None = None
                 ) -> None:
        params = params or BreathParams()
        self._source, self._fps, self._params = source, fps, params
        self._horizon, self._context = horizon_frames(fps, params), context_frames(fps, params)
        self._pending: list[LipFrame] = []  # received, not yet handed on
        self._first_pending = 0  # the lip index of _pending[0]
        # per lip frame received: time, voice cue, loudness (float arrays grown in place)
        self._times, self._voice, self._loud = (np.empty(0) for _ in range(3))
        self._nearest = np.empty(0, dtype=np.int64)  # per video frame placed so far
        self._marks = np.zeros(0, dtype=bool)  # per lip frame: its cue muted
        self._decided = 0  # video frames whose marks are final

    def drop_backlog(self) -> None:
        self._source.drop_backlog()

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    def read(self, index: int, now_s: float) -> Reading:
        reading = self._source.read(index, now_s)
        self._receive(reading.lips)
        ended = reading.end_s is not None
        n_lips = self._times.size
        if n_lips:
            self._place_video_frames()
            self._decide(ended)
        # hand on the lip frames no undecided video frame can show
        if ended:
            upto = n_lips
        elif self._decided < self._nearest.size:
            upto = int(self._nearest[self._decided])
        else:  # no video frame placed yet
            upto = self._first_pending
        n_out = max(0, upto - self._first_pending)
        out = self._pending[:n_out]
        marks = self._marks[self._first_pending:self._first_pending + n_out]
        if marks.any():
            out = [muted(f) if m else f for f, m in zip(out, marks.tolist(), strict=True)]
        del self._pending[:n_out]
        self._first_pending += n_out
        return dataclasses.replace(reading, lips=out)

    def _receive(self, lips) -> None:
        lips = list(lips)
        if not lips:
            return
        self._pending += lips
        times, voice, loud = [], [], []
        for f in lips:
            times.append(f.t_s)
            p = f.prosody
            voice.append(0.0 if p is None else p.voice)
            loud.append(-100.0 if p is None else p.loudness_db)
        self._times = np.concatenate([self._times, times])
        self._voice = np.concatenate([self._voice, voice])
        self._loud = np.concatenate([self._loud, loud])
        self._marks = np.concatenate([self._marks, np.zeros(len(lips), dtype=bool)])

    def _place_video_frames(self) -> None:
        """The nearest lip frame of every new video frame up to the last lip frame's time
        (its nearest is final: no later frame can be nearer, a tie goes to the earlier)."""
        last = self._times[-1]
        t = np.arange(self._nearest.size, int(np.floor(last * self._fps)) + 2) / self._fps
        t = t[t <= last]  # (as file_source.shown_lip_frames: the division may round past)
        if t.size:
            self._nearest = np.concatenate([self._nearest, nearest_frames(self._times, t)])

    def _decide(self, ended: bool) -> None:
        n = self._nearest.size
        final = n if ended else n - self._horizon
        if final <= self._decided:
            return
        lo = max(0, self._decided - self._context)
        idx = self._nearest[lo:n]
        marks = breath_frames(self._voice[idx], self._loud[idx], self._fps, self._params)
        new = marks[self._decided - lo:final - lo]
        self._marks[self._nearest[self._decided:final][new]] = True
        self._decided = final
