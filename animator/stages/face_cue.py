"""Expressions on cue: which face the rig shows while the mouth rests, and how it gets there.

A cue (a hotkey, a control message, a timed track) names one of the rig's expressions. Speech
keeps the mouth: the rig's speech paths all start at the rest face (``neutral``), so while
the character talks the speech images are shown whatever the cue, and the cued face is held
whenever the mouth rests (the speaking mask low and the mouth near rest for ``hold_s``). A
change of face passes through the rig's tween sequences: the base path between the two
expressions when the rig has one, else two base paths through the rest face when both
expressions have one to it, else a clean cut. Each leg takes ``tween_s``.

The cue of the rest face itself changes nothing: frames are then chosen exactly as without
cues. Pure state; images are looked up by :class:`~animator.stages.selection.FrameSelector`.
"""

from __future__ import annotations

from dataclasses import dataclass

from animator.rig import BLINK_EYES, REST_EXPRESSION, BasePath, RigConfig


@dataclass(frozen=True)
class Leg:
    """One tween sequence walked from ``src`` to ``dst``."""

    path: BasePath
    forward: bool  # walked start -> end (False: end -> start)

    @property
    def src(self) -> str:
        return self.path.start if self.forward else self.path.end

    @property
    def dst(self) -> str:
        return self.path.end if self.forward else self.path.start


@dataclass(frozen=True)
class FaceView:
    """What the face shows in a frame while the mouth rests: ``expression`` settled (leg
    None), or position ``u`` in (0, 1] along ``leg`` (0 = its src, 1 = its dst)."""

    expression: str
    leg: Leg | None = None
    u: float = 0.0

    @property
    def path_t(self) -> float:
        """Position on the leg's base path (its own start -> end direction)."""
        if self.leg is None:
            return 0.0
        return self.u if self.leg.forward else 1.0 - self.u


def _leg(config: RigConfig, a: str, b: str) -> Leg | None:
    """The base path between a and b walked from a, or None."""
    for bp in config.base_paths:
        if (bp.start, bp.end) == (a, b):
            return Leg(bp, True)
    for bp in config.base_paths:
        if (bp.start, bp.end) == (b, a):
            return Leg(bp, False)
    return None


def route(config: RigConfig, a: str, b: str) -> list[Leg]:
    """The tween legs from expression a to b: the base path between them, else through the
    rest face, else none (a cut)."""
    if a == b:
        return []
    direct = _leg(config, a, b)
    if direct is not None:
        return [direct]
    if REST_EXPRESSION not in (a, b):
        first, second = _leg(config, a, REST_EXPRESSION), _leg(config, REST_EXPRESSION, b)
        if first is not None and second is not None:
            return [first, second]
    return []


def blink_of(config: RigConfig, expression: str) -> str | None:
    """The eyes-closed version of ``expression``: the rig's blink for the rest face, else an
    expression with closed eyes and the same mouth and brows (None: the rig has none, so
    that face does not blink on the image)."""
    if expression == REST_EXPRESSION:
        return config.blink_expression()
    face = config.expressions[expression]
    if face.eyes == BLINK_EYES:
        return expression
    for eid, e in config.expressions.items():
        if e.eyes == BLINK_EYES and (e.mouth, e.brows) == (face.mouth, face.brows):
            return eid
    return None


class FaceCue:
    """The cued face, one video frame per :meth:`step`.

    fps: frame rate; tween_s: seconds per tween leg; hold_s: the mouth must have rested this
    long after talking before the cued face returns (short pauses inside speech keep the
    speech images). initial: the face shown from the first frame on (no transition).
    """

    def __init__(self, config: RigConfig, fps: float, tween_s: float, hold_s: float,
                 initial: str = REST_EXPRESSION) -> None:
        if initial not in config.expressions:
            raise ValueError(f"unknown expression {initial!r}")
        self._config = config
        self._du = 1.0 if tween_s <= 0 else 1.0 / (tween_s * fps)
        self._hold = max(0, round(hold_s * fps))
        self.target = initial
        self._face = initial  # the face settled on (REST while speech images show)
        self._legs: list[Leg] = []  # the transition in flight, current leg first
        self._u = 0.0
        self._quiet = self._hold  # frames since the mouth last talked (capped)

    def cue(self, expression: str) -> None:
        """Show ``expression`` while the mouth rests, from the next frame on."""
        if expression not in self._config.expressions:
            raise ValueError(f"unknown expression {expression!r}")
        self.target = expression

    @property
    def in_transition(self) -> bool:
        return bool(self._legs)

    def step(self, talking: bool) -> FaceView | None:
        """This frame's face; None: the speech images (the mouth talks, or the rest face is
        settled, whose image the speech paths start from)."""
        if talking:
            self._quiet, self._legs, self._face = 0, [], REST_EXPRESSION
            return None
        self._quiet = min(self._quiet + 1, self._hold + 1)
        if self._quiet <= self._hold and not self._legs and self._face == REST_EXPRESSION:
            return None  # a pause inside speech: keep the speech images
        goal = self._legs[-1].dst if self._legs else self._face
        if goal != self.target:
            if self._legs:  # re-route from the nearer end of the leg in flight
                leg = self._legs[0]
                self._face = leg.src if self._u < 0.5 else leg.dst
            self._legs, self._u = route(self._config, self._face, self.target), 0.0
            if not self._legs:
                self._face = self.target  # no tweens between them: a clean cut
        if self._legs:
            self._u += self._du
            leg = self._legs[0]
            if self._u < 1.0 - 1e-9:
                return FaceView(leg.src if self._u < 0.5 else leg.dst, leg, self._u)
            self._legs.pop(0)
            self._u = 0.0
            self._face = leg.dst
            if self._legs and leg.dst == REST_EXPRESSION:
                return FaceView(leg.dst)  # the rest face between two legs
        if self._face == REST_EXPRESSION:
            return None
        return FaceView(self._face)


class ExpressionTrack:
    """Timed cues: ``cues`` = [(start s, end s or None, expression)]; from ``start`` on the
    expression is cued, until ``end`` (then ``default``) or the next cue's start.

    :meth:`step` takes frame times in increasing order and returns the expression to cue when
    the one in force changes (None otherwise): cues follow media time, not call timing.
    """

    def __init__(self, cues: tuple[tuple[float, float | None, str], ...] | list,
                 default: str = REST_EXPRESSION) -> None:
        self._cues = sorted(cues, key=lambda c: c[0])  # stable: equal starts keep file order
        self._default = default
        self._next = 0  # index of the first cue not started yet
        self._current = default

    def at(self, t_s: float) -> str:
        """The expression in force at t_s (t_s never smaller than the previous call's)."""
        while self._next < len(self._cues) and self._cues[self._next][0] <= t_s:
            self._next += 1
        if self._next == 0:
            return self._default
        _, end, name = self._cues[self._next - 1]
        return name if end is None or t_s < end else self._default

    def step(self, t_s: float) -> str | None:
        name = self.at(t_s)
        if name == self._current:
            return None
        self._current = name
        return name


#: Keys that cue expressions live (window hotkeys, the page's keys), in order.
CUE_KEYS = "0123456789"


def cue_keys(config: RigConfig) -> dict[str, str]:
    """{key: expression}: ``0`` the rest face, ``1``-``9`` the rig's other expressions in its
    order, blinks left out (they are the eyes' business)."""
    names = [REST_EXPRESSION] + [e for e, x in config.expressions.items()
                                 if e != REST_EXPRESSION and x.eyes != BLINK_EYES]
    return dict(zip(CUE_KEYS, names, strict=False))
