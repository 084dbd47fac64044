"""The head layer of a photo rig: a matte of head, hair and neck, and a clean plate.

At play time the compositor moves only the head layer by the residual head angle (a small
rotation about the neck and shifts), so shoulders and background stay still and no image
border shows. At build time, per pose:

- matte (float [0, 1], stored as a grey PNG): mediapipe's person segmentation of the portrait
  (bundled selfie-segmentation model) kept around the head: fully on above the chin and a
  little below it (room for the jaw of an open mouth), fading out down the neck and narrowed
  to the neck's width there, so the neck bends instead of the shoulders moving; the face
  itself always counts. The portrait's matte is carried to each pose by that pose's warp.
- plate: the neutral face's image at the pose with the head's place (the matte above the
  neck) filled smoothly from the surrounding background, the body and the rest of the
  background as they are: what shows where the moving head uncovers it.

Pure numeric except ``segment_person`` (mediapipe). Images uint8[H, W, C], masks float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from animator.authoring.warp_face import FACE_OVAL, FaceLayout
from animator.core.geometry import smoothstep
from keypoints.face import CHIN
from keypoints.native_log import native_notices_filtered

#: The matte is fully on down to this far below the chin (face heights): the jaw of the
#: widest open mouth stays inside.
NECK_START = 0.22
#: ... and fades to nothing over this much more neck (face heights).
NECK_FADE = 0.45
#: Below the chin the matte narrows to the neck: full within this many face widths of the
#: chin's vertical, gone beyond NECK_HALF_WIDTH + NECK_EDGE.
NECK_HALF_WIDTH = 0.25
NECK_EDGE = 0.25
#: Hair and head further than this from the face centre (in face-oval radii) are left to the
#: plate, fading over HEAD_EDGE: a wrong segmentation cannot drag the background along.
HEAD_REACH = 1.9
HEAD_EDGE = 0.35
#: At the chin the layer is at most this many face half-widths wide (the jaw; the shoulders
#: beside it stay on the plate).
JAW_REACH = 0.8
#: Softness of the layer's side edges beside the face (face widths; the neck's is NECK_EDGE).
JAW_EDGE = 0.15
#: Feather of the matte's edge (pixels at 512 px, scaled with the image).
FEATHER_PX_512 = 1.5
#: Matte values below this are outside the head layer.
MATTE_FLOOR = 0.02


@dataclass(frozen=True)
class HeadLayer:
    """One pose's head layer: matte uint8[H, W] (255 = moves with the head), plate
    uint8[H, W, C] (the image without the head)."""

    matte: np.ndarray
    plate: np.ndarray


def segment_person(rgb: np.ndarray) -> np.ndarray:
    """float32[H, W] in [0, 1]: how much each pixel is a person (mediapipe selfie
    segmentation, general model, bundled in the wheel)."""
    import mediapipe as mp  # heavy; build time only

    with native_notices_filtered():
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
            mask = seg.process(np.ascontiguousarray(rgb[..., :3])).segmentation_mask
    return np.clip(np.asarray(mask, np.float32), 0.0, 1.0)


def head_zone(layout: FaceLayout, size: tuple[int, int]) -> np.ndarray:
    """float32[H, W]: where the head layer may be, for an image of ``size`` (w, h): up to
    HEAD_REACH face radii from the face around the top of the head (hair), narrowing from
    the face's middle down to the jaw's width at the chin and the neck's below it, fading
    down the neck."""
    w, h = size
    lm = layout.points[:478]
    up = np.array([layout.mouth_axis[1], -layout.mouth_axis[0]])
    side = np.asarray(layout.mouth_axis, np.float64)
    chin = lm[CHIN, :2]
    fh, fw = layout.face_height_px, layout.face_width_px
    oval = lm[list(FACE_OVAL), :2]
    centre = oval.mean(0)
    half_w = 0.5 * float(np.ptp(oval @ side))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rel_x, rel_y = xx - chin[0], yy - chin[1]
    below = -(rel_x * up[0] + rel_y * up[1])  # pixels below the chin along the face's down
    across = np.abs((xx - centre[0]) * side[0] + (yy - centre[1]) * side[1])
    down_c = -((xx - centre[0]) * up[0] + (yy - centre[1]) * up[1])  # below the face centre
    # Allowed half width: the hair's reach above the face's middle, the jaw at the chin, the
    # neck below it.
    chin_depth = max(float((chin - centre) @ -up), 1.0)
    k = np.clip(down_c / chin_depth, 0.0, 1.0)
    limit = half_w * (HEAD_REACH * (1.0 - k) + JAW_REACH * k)
    neck = smoothstep(0.0, NECK_START * fh, below)
    limit = limit * (1.0 - neck) + NECK_HALF_WIDTH * fw * neck
    edge = (JAW_EDGE * (1.0 - neck) + NECK_EDGE * neck) * fw
    lateral = 1.0 - smoothstep(limit, limit + edge, across)
    vertical = 1.0 - smoothstep(NECK_START * fh, (NECK_START + NECK_FADE) * fh, below)
    radius = np.sqrt(((xx - centre[0]) / (0.5 * np.ptp(oval[:, 0]))) ** 2
                     + ((yy - centre[1]) / (0.5 * np.ptp(oval[:, 1]))) ** 2)
    reach = 1.0 - smoothstep(HEAD_REACH, HEAD_REACH + HEAD_EDGE, radius)
    return (lateral * vertical * reach).astype(np.float32)


def shape_matte(person: np.ndarray, layout: FaceLayout) -> np.ndarray:
    """float32[H, W]: the head matte from a person segmentation (see module docstring)."""
    h, w = person.shape
    zone = head_zone(layout, (w, h))
    face = np.zeros((h, w), np.uint8)
    oval = np.round(layout.points[list(FACE_OVAL), :2] * 16).astype(np.int32)
    cv2.fillPoly(face, [oval], 255, cv2.LINE_AA, 4)
    matte = np.maximum(person, face.astype(np.float32) / 255.0) * zone
    feather = FEATHER_PX_512 * w / 512.0
    matte = cv2.GaussianBlur(matte, (0, 0), feather)
    matte[matte < MATTE_FLOOR] = 0.0
    return np.clip(matte, 0.0, 1.0)


def portrait_matte(image: np.ndarray, layout: FaceLayout) -> np.ndarray:
    """float32[H, W]: the head matte of a portrait (uint8[H, W, 3|4])."""
    return shape_matte(segment_person(image), layout)


def fill_region(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """uint8[H, W, C]: ``image`` with the pixels where ``region`` (bool[H, W]) is set filled
    smoothly from their surroundings (push-pull: the known pixels averaged down an image
    pyramid until the hole is covered, then interpolated back up), fine pixels kept
    outside. Deterministic."""
    known = (~region).astype(np.float32)
    colour = image[..., :3].astype(np.float32) * known[..., None]
    levels = [(colour, known)]
    while min(levels[-1][1].shape) > 4 and levels[-1][1].min() == 0.0:
        c, k = levels[-1]
        levels.append((cv2.pyrDown(c), cv2.pyrDown(k)))
    c, k = levels[-1]
    filled = c / np.maximum(k, 1e-6)[..., None]
    for c, k in reversed(levels[:-1]):
        up = cv2.pyrUp(filled, dstsize=(k.shape[1], k.shape[0]))
        own = c / np.maximum(k, 1e-6)[..., None]
        weight = np.clip(k, 0.0, 1.0)[..., None]
        filled = own * weight + up * (1.0 - weight)
    out = image.copy()
    out[region, :3] = np.clip(filled[region] + 0.5, 0, 255).astype(np.uint8)
    return out


def head_layer_at(image: np.ndarray, matte: np.ndarray, maps: tuple[np.ndarray, np.ndarray],
                  layout: FaceLayout) -> HeadLayer:
    """The head layer of one pose: ``image`` is the neutral face at the pose (uint8[H, W,
    C]), ``matte`` the portrait's (float32[H, W]), ``maps`` the pose's warp (cv2.remap maps
    from pose pixels to portrait pixels); ``layout`` the portrait's face."""
    moved = cv2.remap(matte, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=0.0)
    h, w = matte.shape
    # Where the head uncovers something: the matte above the neck's fade (the neck below it
    # barely moves and keeps its own pixels on the plate).
    lm = layout.points[:478]
    up = np.array([layout.mouth_axis[1], -layout.mouth_axis[0]])
    chin = lm[CHIN, :2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    below = -((xx - chin[0]) * up[0] + (yy - chin[1]) * up[1])
    head = moved > MATTE_FLOOR
    head &= below < (NECK_START + 0.5 * NECK_FADE) * layout.face_height_px
    plate = fill_region(image, cv2.dilate(head.astype(np.uint8), np.ones((3, 3), np.uint8))
                        .astype(bool))
    matte_u8 = np.clip(np.round(moved * 255.0), 0, 255).astype(np.uint8)
    return HeadLayer(matte_u8, plate)
