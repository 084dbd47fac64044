"""Build the symmetric reference face that ``keypoints.face`` measures head pose against.

The mediapipe wheel carries no canonical face model, so the reference is made from
FaceMesh's own 3D output on one frontal portrait (NASA's public-domain astronaut portrait,
bundled with scikit-image, a build-time tool only):

1. the mirror partner of every landmark is found by reflecting the face across its eye line
   and matching points one to one (Hungarian assignment);
2. the x axis is the mean direction from the right member of every mirror pair to the left
   one; y is the image's up direction made orthogonal to x (so pitch 0 = that portrait's own
   pitch, a person looking into the camera); z = x cross y, towards the viewer;
3. the face is averaged with its mirror image: symmetric by construction, so yaw and roll 0
   are the symmetry plane itself, independent of the portrait's small tilt and turn;
4. units: the distance of the outer eye corners = 1.

``rigid`` lists the landmarks head pose is fitted on: everything above the upper lip except
the eyes, eyelids, irises and brows (expressions move those, and the jaw).

    python -m keypoints.face_reference [IMAGE] [-o keypoints/face_reference.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keypoints.face import (
    EYE_OUTER_LEFT,
    EYE_OUTER_RIGHT,
    OUTER_LIP_UPPER,
    REFERENCE_PATH,
    FaceTracker,
)


def mirror_permutation(points: np.ndarray, x_axis: np.ndarray) -> np.ndarray:
    """int[N]: the index of each point's mirror partner across the plane through the centroid
    normal to ``x_axis`` (float[3]); points float[N, 3]."""
    from scipy.optimize import linear_sum_assignment

    x_axis = x_axis / np.linalg.norm(x_axis)
    centred = points - points.mean(0)
    mirrored = centred - 2.0 * np.outer(centred @ x_axis, x_axis)
    cost = ((mirrored[:, None, :] - centred[None, :, :]) ** 2).sum(-1)
    _, partner = linear_sum_assignment(cost)
    return partner


def symmetric_reference(world: np.ndarray) -> np.ndarray:
    """float64[N, 3]: the symmetrised face in its own frame (module docstring); ``world``
    float[N, 3] landmarks in world axes (x right, y up, z to viewer)."""
    x0 = world[EYE_OUTER_LEFT] - world[EYE_OUTER_RIGHT]
    partner = mirror_permutation(world, x0)
    for _ in range(2):  # refine the axis with all pairs, then the pairing with the axis
        pairs = world - world[partner]
        pairs[pairs @ x0 < 0] *= -1.0
        x_axis = pairs.mean(0)
        x_axis /= np.linalg.norm(x_axis)
        partner = mirror_permutation(world, x_axis)
    y_axis = np.array([0.0, 1.0, 0.0]) - x_axis[1] * x_axis
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    frame = np.stack([x_axis, y_axis, z_axis])  # rows: the new axes
    local = (world - world.mean(0)) @ frame.T
    mirrored = local[partner] * np.array([-1.0, 1.0, 1.0])
    sym = 0.5 * (local + mirrored)
    unit = np.linalg.norm(sym[EYE_OUTER_LEFT] - sym[EYE_OUTER_RIGHT])
    return sym / unit


def rigid_landmarks(points: np.ndarray) -> np.ndarray:
    """int[M]: landmarks above the upper lip, not on the eyes, irises or brows."""
    from mediapipe.python.solutions import face_mesh_connections as conn

    moving = set()
    for edges in (conn.FACEMESH_LEFT_EYE, conn.FACEMESH_RIGHT_EYE, conn.FACEMESH_LEFT_EYEBROW,
                  conn.FACEMESH_RIGHT_EYEBROW, conn.FACEMESH_IRISES, conn.FACEMESH_LIPS):
        moving.update(i for e in edges for i in e)
    lip_top = max(points[i, 1] for i in OUTER_LIP_UPPER)
    keep = [i for i in range(468) if i not in moving and points[i, 1] > lip_top + 0.05]
    return np.array(keep)


def build_reference(rgb: np.ndarray) -> dict:
    """The reference-face JSON dict from an RGB portrait (uint8[H, W, 3])."""
    with FaceTracker(static_image_mode=True) as tracker:
        obs = tracker.process(rgb)
    if obs is None:
        raise ValueError("no face found in the portrait")
    sym = symmetric_reference(obs.world_points())
    return {
        "about": "Symmetric frontal face for head pose (keypoints/face_reference.py): "
                 "mediapipe FaceMesh landmarks, world axes x left-of-face, y up, z to viewer, "
                 "unit = outer eye-corner distance.",
        "rigid": [int(i) for i in rigid_landmarks(sym)],
        "points": [[round(float(v), 5) for v in p] for p in sym],
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m keypoints.face_reference",
                                 description="Build the reference face for head pose.")
    ap.add_argument("image", nargs="?", help="frontal portrait (default: skimage astronaut)")
    ap.add_argument("-o", "--output", default=str(REFERENCE_PATH))
    args = ap.parse_args(argv)
    if args.image:
        import cv2

        bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"error: {args.image}: cannot read image", file=sys.stderr)
            return 2
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    else:
        from skimage.data import astronaut  # build-time only

        rgb = astronaut()
    Path(args.output).write_text(json.dumps(build_reference(rgb)) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
