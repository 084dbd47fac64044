"""Self-verification of a rig build: every image is measured with FaceMesh as it is made.

Per image (``Verifier.check``): a face is found; its head pose, taken relative to a reference
face, is within ``MAX_POSE_ERROR_DEG`` of the requested angles on every axis; its mouth
opening is sane for the expression (not wider than the target, or the portrait's own
opening, by ``MAX_OVER_OPEN``; a mouth asked to open by ``MIN_TARGET_OPEN`` or more opens by
at least ``MIN_OPEN_SHARE`` of that: FaceMesh under-reads painted openings by about a
third). References cancel the portrait's own pose and the bias an expression puts on the
estimator: images at the rest pose are compared with the portrait, the others with their
own expression at the rest pose (a tween with the blend of its two ends').

At the end (``Verifier.summary``) the endpoints are summarised as ``rig check`` does (pose
error medians, mouth openings in the expressions' order, a face everywhere) and every tween
sequence must open the mouth in order along its path. A build is ready only when that passes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animator.authoring.check import summarise
from animator.core.types import AXES
from animator.rig import RigConfig
from keypoints.face import FaceTracker

#: Largest pose error (degrees, per axis) of any image.
MAX_POSE_ERROR_DEG = 5.0
#: A mouth may measure at most this much (mouth widths) more open than its target.
MAX_OVER_OPEN = 0.3
#: A mouth meant to open by at least MIN_TARGET_OPEN must open by this share of the target.
MIN_OPEN_SHARE = 0.3
MIN_TARGET_OPEN = 0.15
#: Along a tween sequence the measured opening may fall back by this much (FaceMesh noise).
TWEEN_ORDER_SLACK = 0.06


class VerifyError(Exception):
    """An image that fails its measurement; the message says what was wrong."""


@dataclass(frozen=True)
class Expect:
    """What an image should show: expression ``expr_a`` blended a fraction ``t`` towards
    ``expr_b`` at ``angles_deg`` (float[3], relative to the rest pose); ``at_rest`` for
    images made at the rest pose (compared with the portrait)."""

    expr_a: str
    expr_b: str
    t: float
    angles_deg: tuple[float, float, float]
    at_rest: bool = False
    sequence: str | None = None  # the tween sequence (folder name) it belongs to


@dataclass(frozen=True)
class Measure:
    """FaceMesh on one image: pose (float[3] degrees) and mouth opening, or no face."""

    pose_deg: np.ndarray | None
    open: float | None

    @property
    def face(self) -> bool:
        return self.pose_deg is not None


class Verifier:
    """Measures rig images (thread safe: one FaceMesh under a lock).

    config: the rig's; reference: uint8[H, W, 3|4], the portrait the images are made from;
    endpoint: (expression) -> image file of that expression at the rest pose (read when its
    measurement is first needed as a reference).
    """

    def __init__(self, config: RigConfig, reference: np.ndarray,
                 endpoint: Callable[[str], Path], read: Callable[[Path], np.ndarray]) -> None:
        self.config = config
        self._endpoint = endpoint
        self._read = read
        self._lock = threading.Lock()
        self._tracker: FaceTracker | None = None
        self._refs: dict[str, Measure] = {}
        self.records: dict[str, dict] = {}  # shown name -> record
        self.portrait = self.measure(reference)
        if not self.portrait.face:
            raise VerifyError("no face found in the portrait itself")

    def close(self) -> None:
        with self._lock:
            if self._tracker is not None:
                self._tracker.close()
                self._tracker = None

    def measure(self, image: np.ndarray) -> Measure:
        """FaceMesh on uint8[H, W, 3|4] (alpha ignored)."""
        with self._lock:
            if self._tracker is None:
                self._tracker = FaceTracker(static_image_mode=True)
            obs = self._tracker.process(np.ascontiguousarray(image[..., :3]))
        if obs is None:
            return Measure(None, None)
        return Measure(obs.head_pose_deg(), float(obs.mouth_open()))

    def _ref(self, expr: str) -> Measure:
        with self._lock:
            got = self._refs.get(expr)
        if got is None:
            path = self._endpoint(expr)
            got = self.measure(self._read(path))
            if not got.face:
                raise VerifyError(f"no face in the reference {path.name}")
            with self._lock:
                self._refs[expr] = got
        return got

    def _target_open(self, expect: Expect) -> float:
        a = self.config.mouth_shape(expect.expr_a).open
        b = self.config.mouth_shape(expect.expr_b).open
        return (1.0 - expect.t) * a + expect.t * b

    def check(self, name: str, image: np.ndarray, expect: Expect) -> dict:
        """Measure ``image`` (called ``name``) against ``expect``; returns its record, or
        raises VerifyError with the reason."""
        m = self.measure(image)
        record = {"image": name, "expr_a": expect.expr_a, "expr_b": expect.expr_b,
                  "t": expect.t, "requested_deg": list(expect.angles_deg),
                  "face": m.face, "error_deg": None, "open": m.open,
                  "open_target": round(self._target_open(expect), 4),
                  "sequence": expect.sequence}
        with self._lock:
            self.records[name] = record
        if not m.face:
            raise VerifyError("no face found in the result")
        if expect.at_rest:
            ref_pose = self.portrait.pose_deg
        else:
            ra, rb = self._ref(expect.expr_a), self._ref(expect.expr_b)
            ref_pose = (1.0 - expect.t) * ra.pose_deg + expect.t * rb.pose_deg
        err = (m.pose_deg - ref_pose) - np.asarray(expect.angles_deg)
        record["error_deg"] = [round(float(e), 2) for e in err]
        worst = int(np.argmax(np.abs(err)))
        if abs(err[worst]) > MAX_POSE_ERROR_DEG:
            raise VerifyError(f"head pose off by {err[worst]:+.1f} deg {AXES[worst]} (at most "
                              f"{MAX_POSE_ERROR_DEG:g} allowed)")
        target = record["open_target"]
        if m.open > max(target, self.portrait.open or 0.0) + MAX_OVER_OPEN:
            raise VerifyError(f"mouth opens {m.open:.2f} mouth widths, far more than the "
                              f"{target:.2f} asked")
        if target >= MIN_TARGET_OPEN and m.open < MIN_OPEN_SHARE * target:
            raise VerifyError(f"mouth opens {m.open:.2f} mouth widths, less than "
                              f"{MIN_OPEN_SHARE:g} x the {target:.2f} asked")
        return record

    def summary(self, endpoint_records: list[dict]) -> dict:
        """The rig check's summary of the endpoint records (``check.summarise``) plus the
        tween order of every sequence measured in this run."""
        summary = summarise(endpoint_records, self.config)
        wrong = []
        by_seq: dict[str, list[tuple[float, float]]] = {}
        for rec in list(self.records.values()):
            if rec.get("sequence") and rec["open"] is not None:
                by_seq.setdefault(rec["sequence"], []).append((rec["t"], rec["open"]))
        for seq, pts in sorted(by_seq.items()):
            pts.sort()
            opens = [o for _, o in pts]
            a, b = (self.config.mouth_shape(x).open for x in self._seq_ends(seq))
            sign = 1.0 if b >= a else -1.0
            if abs(b - a) >= 0.1 and any(sign * (y - x) < -TWEEN_ORDER_SLACK
                                         for x, y in zip(opens, opens[1:], strict=False)):
                wrong.append(seq)
        summary["tween_order_wrong"] = wrong
        summary["passed"] = bool(summary["passed"] and not wrong)
        return summary

    def _seq_ends(self, seq: str) -> tuple[str, str]:
        for rec in self.records.values():
            if rec.get("sequence") == seq:
                return rec["expr_a"], rec["expr_b"]
        raise KeyError(seq)
