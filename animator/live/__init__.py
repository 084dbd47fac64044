"""Live mode: devices (or files played as if they were devices) in, frame choices out on a
fixed schedule, through the same :class:`animator.engine.Engine` as offline rendering.

sources: ``audio_in`` (microphone, audio file in real time), ``camera`` (webcam, video file)
loop:    ``clock`` (fixed schedule), ``loop`` (sources -> engine -> sinks), ``mailbox``
         (one slot per sink: a slow sink drops frames, never stalls the loop), ``realtime``
         (process settings while it runs: one BLAS thread, frozen GC, short GIL switch)
sinks:   ``window``, ``web`` (+ ``static/``), ``vcam``, ``vmc`` (with ``osc``)
"""

from animator.core.errors import AnimatorError


class LiveError(AnimatorError):
    """A device or sink that cannot be used (missing library, no display, port taken...);
    the message is one line and says what to do."""
