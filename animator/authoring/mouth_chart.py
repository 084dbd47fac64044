"""A mouth chart from a portrait (``animator rig build --mouth-chart``): the rest face at every
pose as base images, and the mouth shapes an outline can show (Rhubarb's A-F and X, from
animator.stages.mouth_shapes) rendered by the warp backend on the portrait at the rest pose,
cut out around the mouth with a soft edge, and placed at each pose where FaceMesh finds the
mouth on that pose's base image. G (upper teeth on the lower lip) and H (the tongue) are not
drawn: the warp paints openings, not teeth on a lip or a tongue; the chart shows Rhubarb's
basic shape instead (A and C, animator.rig.CHART_FALLBACK).

Every mouth is verified like the rig's other images: a face is found on the full render, A
and X measure closed, and the openings of B, C and D rise in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animator.authoring.face_params import Face
from animator.rig import REST_EXPRESSION, MouthShape, RigConfig, mouth_relpath
from animator.stages.mouth_shapes import SHAPE_MOUTHS
from keypoints.face import MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT, OUTER_LIP_LOWER, OUTER_LIP_UPPER

#: The config of ``rig build --mouth-chart``: the rest face and a blink at five poses.
CONFIG_PATH = Path(__file__).with_name("mouth_chart_expressions.json")
#: The shapes the builder draws.
DRAWN = ("A", "B", "C", "D", "E", "F", "X")
#: The mouth box: the lips' box over every drawn shape, grown by this share per side.
BOX_MARGIN = 0.35
#: Largest opening (mouth widths) FaceMesh may read on a closed chart mouth (A, X).
MAX_CLOSED_OPEN = 0.12
#: How far an opening may fall back along B, C, D (FaceMesh noise).
ORDER_SLACK = 0.02
_LIPS = sorted(set(OUTER_LIP_UPPER + OUTER_LIP_LOWER))


class MouthChartError(Exception):
    """A mouth that fails its measurement; the message says which and why."""


@dataclass(frozen=True)
class ChartResult:
    mouths: dict[str, np.ndarray]  # shape -> uint8[h, w, 4]
    placement: dict  # the expressions.json "mouth_chart" value
    records: list[dict]  # measurements, for check.json


def _lips_px(obs) -> np.ndarray:
    return obs.landmarks_px[_LIPS, :2].astype(np.float64)


def _corner_angle_deg(obs) -> float:
    """Angle of the corner-to-corner line, degrees, > 0 clockwise on screen."""
    left = obs.landmarks_px[MOUTH_CORNER_LEFT, :2]
    right = obs.landmarks_px[MOUTH_CORNER_RIGHT, :2]
    a, b = (right, left) if right[0] < left[0] else (left, right)
    return float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))


def soft_ellipse(w: int, h: int, feather: float = 0.25) -> np.ndarray:
    """float32[h, w] in [0, 1]: 1 inside an ellipse filling the box, falling to 0 at its
    edge over ``feather`` of the radius."""
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((x + 0.5 - w / 2) / (w / 2), (y + 0.5 - h / 2) / (h / 2))
    return np.clip((1.0 - r) / feather, 0.0, 1.0).astype(np.float32)


def build_chart(backend, config: RigConfig, base_images: dict[str, np.ndarray],
                rest_pose: str) -> ChartResult:
    """The chart's mouths and placement. ``backend``: a prepared WarpBackend (``face_image``
    and ``observe``); base_images: pose -> the rest face at that pose, uint8[H, W, 3|4].
    Raises MouthChartError naming the shape or pose that fails."""
    renders, obs = {}, {}
    for shape in DRAWN:
        o, w, r = SHAPE_MOUTHS[shape]
        renders[shape] = backend.face_image(Face(MouthShape(o, w, r)), REST_EXPRESSION,
                                            rest_pose, f"mouth {shape}")
        obs[shape] = backend.observe(renders[shape])
        if obs[shape] is None:
            raise MouthChartError(f"mouth {shape}: no face found in the result")
    records = [{"shape": s, "open": round(float(obs[s].mouth_open()), 4),
                "open_target": SHAPE_MOUTHS[s][0]} for s in DRAWN]
    opens = {r["shape"]: r["open"] for r in records}
    for s in ("A", "X"):
        if opens[s] > MAX_CLOSED_OPEN:
            raise MouthChartError(f"mouth {s}: opens {opens[s]:.2f} mouth widths, it should "
                                  f"be closed")
    for a, b in (("B", "C"), ("C", "D")):
        if opens[b] < opens[a] - ORDER_SLACK:
            raise MouthChartError(f"mouth {b}: opens {opens[b]:.2f}, less than {a} "
                                  f"({opens[a]:.2f})")
    pts = np.concatenate([_lips_px(o) for o in obs.values()])
    lo, hi = pts.min(0), pts.max(0)
    size = hi - lo
    lo, hi = lo - BOX_MARGIN * size, hi + BOX_MARGIN * size
    h_img, w_img = renders["X"].shape[:2]
    x0, y0 = max(0, int(np.floor(lo[0]))), max(0, int(np.floor(lo[1])))
    x1, y1 = min(w_img, int(np.ceil(hi[0]))), min(h_img, int(np.ceil(hi[1])))
    alpha = soft_ellipse(x1 - x0, y1 - y0)
    mouths = {}
    for shape, img in renders.items():
        crop = img[y0:y1, x0:x1].copy()
        if crop.shape[2] == 3:
            crop = np.concatenate([crop, np.full(crop.shape[:2] + (1,), 255, np.uint8)], 2)
        crop[:, :, 3] = (crop[:, :, 3] * alpha + 0.5).astype(np.uint8)
        mouths[shape] = crop
    # where the box goes on each pose: carried from the rest pose's mouth to the pose's
    rest = backend.observe(base_images[rest_pose])
    if rest is None:
        raise MouthChartError(f"pose {rest_pose}: no face found on the base image")
    rest_centre = _lips_px(rest).mean(0)
    rest_angle = _corner_angle_deg(rest)
    box_centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    per_pose = {}
    for pose, image in base_images.items():
        o = rest if pose == rest_pose else backend.observe(image)
        if o is None:
            raise MouthChartError(f"pose {pose}: no face found on the base image")
        angle = _corner_angle_deg(o) - rest_angle
        rad = np.radians(angle)
        rot = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
        centre = _lips_px(o).mean(0) + rot @ (box_centre - rest_centre)
        per_pose[pose] = {"x": round(float(centre[0]), 2), "y": round(float(centre[1]), 2),
                          "angle": round(float(angle), 2)}
    placement = {**per_pose[rest_pose],
                 "poses": {p: v for p, v in per_pose.items() if p != rest_pose}}
    return ChartResult(mouths, placement, records)


def mouth_files(ext: str) -> dict[str, str]:
    """shape -> the chart's relative image path, for the drawn shapes."""
    return {s: mouth_relpath(s, ext) for s in DRAWN}


def write_mouths(outdir: Path, result: ChartResult, ext: str, write_image) -> None:
    for shape, rel in mouth_files(ext).items():
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, result.mouths[shape])


def make_mouth_chart(backend, config: RigConfig, outdir: Path, pose: str, ext: str,
                     runner) -> ChartResult | None:
    """A build's mouth chart stage: the mouths into ``outdir`` from the rest faces already
    written there; the ChartResult, or None after logging why it failed."""
    from animator.authoring.plans import RigBuildError, endpoint_filename, read_image, write_image
    from animator.core.outputs import refuse_inputs
    from animator.rig import ENDPOINTS_DIR

    runner.log("[i] Mouth chart: mouths A-F and X at the rest pose, placed on every pose")
    if not hasattr(backend, "face_image"):
        raise RigBuildError(f"a mouth chart is drawn by the warp backend, not "
                            f"'{getattr(backend, 'name', backend)}'")
    refuse_inputs([outdir / rel for rel in mouth_files(ext).values()], runner.inputs)
    bases = {p: read_image(outdir / ENDPOINTS_DIR / endpoint_filename(REST_EXPRESSION, p, ext))
             for p in config.poses}
    try:
        result = build_chart(backend, config, bases, pose)
    except MouthChartError as exc:
        runner.log(f"[✗] {exc}")
        return None
    write_mouths(outdir, result, ext, write_image)
    opens = ", ".join(f"{r['shape']} {r['open']:.2f}" for r in result.records)
    runner.log(f"[✓] mouths (measured openings: {opens})")
    return result
