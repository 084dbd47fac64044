"""A portrait made ready for the warp backend: is there a human face, and the head-and-shoulders
crop at the rig's size.

FaceMesh alone is not a human-face test: it fits its mesh to a monkey's or a dog's face too
(measured on the shared portraits). BlazePose (mediapipe's person detector and body landmarks,
bundled in the wheel like FaceMesh) finds a person on every human portrait there (photos,
paintings, a statue, a 3D cartoon) and on none of the animals, so a face counts as human
when BlazePose finds a person whose nose lies on it.

The crop (``head_crop_box``) is a square around the face, ``CROP_FACE_WIDTHS`` face widths on a
side with the face centre ``CROP_FACE_Y`` of the way down, clipped to the image (a face near
the border stays off-centre; nothing is padded); it is scaled to the rig's size.
"""

from __future__ import annotations

import cv2
import numpy as np

from keypoints.face import CHIN, FOREHEAD, FaceObservation, FaceTracker
from keypoints.native_log import native_notices_filtered

#: Side of the head-and-shoulders crop, in face widths (FaceMesh's face oval).
CROP_FACE_WIDTHS = 2.6
#: Where the face centre sits in the crop, as a fraction of the side from the top.
CROP_FACE_Y = 0.46
#: Images are searched for people at most this large (pixels, longer side): speed only.
DETECT_MAX_PX = 1024
#: The message (after the file name) for a portrait without a human face.
NO_HUMAN_FACE = "no human face"


class PortraitError(Exception):
    """A portrait the warp backend cannot use; the message is one line."""


def head_crop_box(face_box_px: tuple[float, float, float, float], image_size: tuple[int, int]
                  ) -> tuple[int, int, int]:
    """(x0, y0, side) pixels: the square head-and-shoulders crop of a face whose landmark box
    is ``face_box_px`` (x0, y0, x1, y1) in an image of ``image_size`` (width, height)."""
    fx0, fy0, fx1, fy1 = face_box_px
    w, h = image_size
    side = int(round(min(CROP_FACE_WIDTHS * (fx1 - fx0), w, h)))
    side = max(side, 1)
    cx, cy = 0.5 * (fx0 + fx1), 0.5 * (fy0 + fy1)
    x0 = int(round(np.clip(cx - 0.5 * side, 0, w - side)))
    y0 = int(round(np.clip(cy - CROP_FACE_Y * side, 0, h - side)))
    return x0, y0, side


def _face_box(obs: FaceObservation) -> tuple[float, float, float, float]:
    lm = obs.landmarks_px[:, :2].astype(np.float64)
    x0, x1 = float(lm[:, 0].min()), float(lm[:, 0].max())
    return x0, float(lm[FOREHEAD, 1]), x1, float(lm[CHIN, 1])


def _downscaled(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    scale = min(1.0, DETECT_MAX_PX / max(rgb.shape[:2]))
    if scale >= 1.0:
        return np.ascontiguousarray(rgb), 1.0
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def _person_on_face(pose, rgb: np.ndarray, face_box: tuple[float, float, float, float]
                    ) -> bool:
    """Does BlazePose find a person in ``rgb`` whose nose lies in ``face_box`` (pixels)?"""
    result = pose.process(np.ascontiguousarray(rgb))
    if not result.pose_landmarks:
        return False
    nose = result.pose_landmarks.landmark[0]
    h, w = rgb.shape[:2]
    x, y = nose.x * w, nose.y * h
    x0, y0, x1, y1 = face_box
    return x0 <= x <= x1 and y0 - 0.2 * (y1 - y0) <= y <= y1


def find_human_face(rgb: np.ndarray, tracker: FaceTracker) -> FaceObservation:
    """The human face in ``rgb`` (uint8[H, W, 3]); raises PortraitError(NO_HUMAN_FACE ...)
    when FaceMesh finds no face or BlazePose finds no person on it (an animal)."""
    small, scale = _downscaled(rgb)
    obs = tracker.process(small)
    if obs is None:
        raise PortraitError(f"{NO_HUMAN_FACE} (no face found)")
    box = _face_box(obs)
    import mediapipe as mp  # heavy; only when a portrait is prepared

    with native_notices_filtered():
        # model_complexity=1 is the landmark model bundled in the wheel (0 and 2 would be
        # downloaded, which must never happen).
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
            found = _person_on_face(pose, small, box)
            if not found:  # a tight crop of a large image can help the detector
                x0, y0, side = head_crop_box(box, (small.shape[1], small.shape[0]))
                crop = small[y0:y0 + side, x0:x0 + side]
                shifted = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
                found = _person_on_face(pose, crop, shifted)
    if not found:
        raise PortraitError(f"{NO_HUMAN_FACE} (the face found is not a person's)")
    if scale != 1.0:
        obs = FaceObservation(obs.landmarks_px / np.float32(scale),
                              (rgb.shape[1], rgb.shape[0]))
    return obs


def crop_and_scale(rgba: np.ndarray, box: tuple[int, int, int] | None, size_px: int
                   ) -> np.ndarray:
    """uint8[H', W', C]: ``rgba`` cut to ``box`` (x0, y0, side; None = the whole image) and
    scaled to ``size_px`` wide (height by the aspect, made even)."""
    if box is not None:
        x0, y0, side = box
        rgba = rgba[y0:y0 + side, x0:x0 + side]
    h, w = rgba.shape[:2]
    out_w = int(size_px)
    out_h = max(2, int(round(h * out_w / w / 2)) * 2)
    if (out_w, out_h) == (w, h):
        return np.ascontiguousarray(rgba)
    interp = cv2.INTER_AREA if out_w < w else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(rgba), (out_w, out_h), interpolation=interp)


def prepare_portrait(rgba: np.ndarray, size_px: int, crop: bool, tracker: FaceTracker
                     ) -> np.ndarray:
    """uint8[S, S, 4] (or the image's aspect without ``crop``): the portrait ready to warp.
    Raises PortraitError when it shows no human face."""
    obs = find_human_face(np.ascontiguousarray(rgba[..., :3]), tracker)
    h, w = rgba.shape[:2]
    box = head_crop_box(_face_box(obs), (w, h)) if crop else None
    return crop_and_scale(rgba, box, size_px)
