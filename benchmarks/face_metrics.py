"""How well the avatar follows a real face: reference measurements made from the landmarks
independently of the engine, and the scores of the webcam path against them. Pure numeric.

References (image-plane, whole-clip, non-causal: deliberately not the engine's causal,
head-rotation-removed, per-face-calibrated readings):

* opening: the inner-lip gap (mean of the three middle inner-lip landmark pairs) along the
  face's up direction (perpendicular to the eye line), over the outer eye-corner distance.
  Lips count as closed below ``CLOSED_IOD``;
* talking: frames whose opening ranges over at least ``TALK_RANGE_IOD`` within a centred
  ``TALK_WINDOW_S`` window (the mouth is moving);
* eye openness: the classic six-point eye aspect ratio in the image, both eyes averaged,
  over its median for the clip; a reference blink is a run of frames below
  ``BLINK_REF_BELOW`` whose lowest point is below ``BLINK_REF_DEPTH``.

Avatar mouth: the rig's (open, wide) of the image shown (endpoints: their expression's mouth
shape; tweens: interpolated along their path), so quantisation to the rig's frames counts.
"""

from __future__ import annotations

import numpy as np

from animator.rig import REST_EXPRESSION, Rig, endpoint_relpath

#: inner-lip landmark pairs (upper, lower) of FaceMesh, middle three
INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))
EYE_CORNERS = (33, 263)  # outer corners, the character's right then left
#: six-point eye aspect ratio: (corner, corner, (upper, lower), (upper, lower)) per eye
EAR_POINTS = ((33, 133, (160, 144), (158, 153)), (263, 362, (387, 373), (385, 380)))

CLOSED_IOD = 0.015  # about 0.03 mouth widths
TALK_RANGE_IOD = 0.05  # about 0.1 mouth widths
TALK_WINDOW_S = 0.5
BLINK_REF_BELOW = 0.6
BLINK_REF_DEPTH = 0.5
#: a detected blink matches a reference one when their frames overlap, give or take this
MATCH_SLACK_S = 0.1


def reference_opening(landmarks_px: np.ndarray) -> np.ndarray:
    """float64[T]: inner-lip gap over the eye-corner distance per frame (NaN: no face).
    landmarks_px: float[T, 478, 3] FaceMesh landmarks in pixels (NaN rows: no face)."""
    lm = np.asarray(landmarks_px, dtype=np.float64)[..., :2]
    eye_r, eye_l = lm[:, EYE_CORNERS[0]], lm[:, EYE_CORNERS[1]]
    across = eye_l - eye_r
    iod = np.linalg.norm(across, axis=1)
    # up in the image (y down): the eye line turned by -90 degrees
    up = np.stack([across[:, 1], -across[:, 0]], axis=1) / iod[:, None]
    gaps = [np.einsum("td,td->t", lm[:, a] - lm[:, b], up) for a, b in INNER_LIP_PAIRS]
    return np.mean(gaps, axis=0) / iod


def reference_eye_openness(landmarks_px: np.ndarray) -> np.ndarray:
    """float64[T]: the six-point eye aspect ratio (both eyes averaged) over its median over
    the clip (1 = open as usual, near 0 = shut; NaN: no face)."""
    lm = np.asarray(landmarks_px, dtype=np.float64)[..., :2]
    ears = []
    for c1, c2, (a1, b1), (a2, b2) in EAR_POINTS:
        width = np.linalg.norm(lm[:, c1] - lm[:, c2], axis=1)
        lids = (np.linalg.norm(lm[:, a1] - lm[:, b1], axis=1)
                + np.linalg.norm(lm[:, a2] - lm[:, b2], axis=1))
        ears.append(lids / (2.0 * width))
    ear = np.mean(ears, axis=0)
    if not np.isfinite(ear).any():  # no face in the whole clip
        return ear
    return ear / np.nanmedian(ear)


def talking_frames(opening: np.ndarray, fps: float) -> np.ndarray:
    """bool[T]: the mouth moves (reference opening ranges over ``TALK_RANGE_IOD`` within a
    centred ``TALK_WINDOW_S`` window); frames without a face are never talking."""
    n = len(opening)
    half = max(1, round(TALK_WINDOW_S * fps / 2))
    out = np.zeros(n, bool)
    for i in range(n):
        w = opening[max(0, i - half):i + half + 1]
        w = w[np.isfinite(w)]
        out[i] = np.isfinite(opening[i]) and len(w) > 1 and np.ptp(w) >= TALK_RANGE_IOD
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end)) index ranges where ``mask`` (bool[T]) is True."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def reference_blinks(openness: np.ndarray) -> list[tuple[int, int]]:
    """Reference blinks: runs of frames with openness below ``BLINK_REF_BELOW`` that reach
    below ``BLINK_REF_DEPTH`` (frames without a face break runs)."""
    below = np.nan_to_num(openness, nan=np.inf) < BLINK_REF_BELOW
    return [(a, b) for a, b in runs(below) if np.nanmin(openness[a:b]) < BLINK_REF_DEPTH]


def blink_scores(ref: list[tuple[int, int]], detected: list[tuple[int, int]], fps: float,
                 duration_s: float) -> dict:
    """Reference blinks found and false detections. ref, detected: [(start, end)) frame
    ranges. A reference blink is found when a detection overlaps it (give or take
    ``MATCH_SLACK_S``); a detection that overlaps no reference blink is false."""
    slack = round(MATCH_SLACK_S * fps)

    def overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
        return a[0] - slack < b[1] and b[0] - slack < a[1]

    found = sum(any(overlap(r, d) for d in detected) for r in ref)
    false = sum(not any(overlap(r, d) for r in ref) for d in detected)
    return {"reference": len(ref), "found": int(found), "detected": len(detected),
            "false": int(false), "minutes": round(duration_s / 60.0, 3)}


def image_mouths(rig: Rig) -> dict[str, tuple[np.ndarray, str | None]]:
    """Image path (relative to the rig) -> (float64[2] (open, wide) of the mouth it shows,
    the expression whose mouth it shows or moves towards; None for the rest mouth)."""
    cfg = rig.config
    rest = cfg.mouth_shape(REST_EXPRESSION).as_array()

    def named(expr: str) -> str | None:
        return None if np.allclose(cfg.mouth_shape(expr).as_array(), rest) else expr

    out = {endpoint_relpath(e, p): (cfg.mouth_shape(e).as_array(), named(e))
           for e in cfg.expressions for p in cfg.poses}
    for (path_id, _), seq in rig.sequences.items():
        bp = next(b for b in cfg.base_paths if b.id == path_id)
        a, b = cfg.mouth_shape(bp.start).as_array(), cfg.mouth_shape(bp.end).as_array()
        target = named(bp.end) or named(bp.start)
        for t, rel in seq.frames:
            mouth = a + t * (b - a)
            out.setdefault(rel, (mouth, None if np.allclose(mouth, rest) else target))
    return out


def rest_mouth(rig: Rig) -> np.ndarray:
    """float64[2] the rig's rest mouth (open, wide)."""
    return rig.config.mouth_shape(REST_EXPRESSION).as_array()


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r (NaN when either is constant or there are < 3 points)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def mouth_scores(opening: np.ndarray, shown: np.ndarray, rest: np.ndarray,
                 paths: list[str | None], fps: float) -> dict:
    """Scores of the avatar's mouth against the reference opening.

    opening: float[T] reference opening (NaN: no face); shown: float[T, 2] the rig's mouth
    of the image shown; rest: float[2] the rig's rest mouth; paths: the speech-path target
    per frame (None at rest or for non-speech images).
    """
    face = np.isfinite(opening)
    closed = face & (opening < CLOSED_IOD)
    talking = talking_frames(opening, fps)
    neutral = np.all(np.isclose(shown, rest), axis=1)
    used: dict[str, int] = {}
    for k in np.flatnonzero(talking):
        if paths[k] is not None:
            used[paths[k]] = used.get(paths[k], 0) + 1
    return {
        "frames": int(len(opening)), "frames_with_face": int(face.sum()),
        "closed_frames": int(closed.sum()),
        "neutral_when_closed": (round(float(neutral[closed].mean()), 4) if closed.any()
                                else None),
        "talking_frames": int(talking.sum()),
        "r_open_talking": round(pearson(shown[talking, 0], opening[talking]), 4),
        "shapes_talking": dict(sorted(used.items())),
    }
