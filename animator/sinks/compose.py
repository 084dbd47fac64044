"""Turning a frame choice into pixels: the rig image over a background, scaled to the output
size, with the residual head angle applied as a small transform.

The residual (wanted angles minus the chosen pose's) keeps motion continuous between a
sparse rig's endpoints: roll is an in-plane rotation about the neck, which is exact; pitch
and yaw become small shifts, a first-order stand-in for the rotation they cannot show.

A rig with a head layer (``layers/``: a matte and a clean plate per pose) moves only the head:
output = plate x (1 - moved matte) + moved image x moved matte, so the shoulders and the
background are the plate's pixels, still while the pose stays, and no image border shows.
A rig without one (seed rigs, the toon) moves the whole image, as before.

A mouth chart's mouth image (``FrameChoice.overlay``) is drawn over the base image before the
head moves, centred and turned where the rig places it for the pose. ``transparent`` keeps the
rig images' alpha (RGBA frames, nothing behind the character: alpha video and PNG sequences);
a :class:`Canvas` places the character on a larger frame (e.g. 1920x1080, lower right).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from animator.core.errors import AnimatorError
from animator.core.types import FrameChoice
from animator.rig import Rig
from animator.rig.images import read_grey, read_rgb_over, read_rgba

#: Neck pivot as a fraction of (width, height): rotations about it keep the shoulders put.
PIVOT_FRAC = (0.5, 0.78)
#: Shift per degree of yaw / pitch residual, as a fraction of the output width.
SHIFT_FRAC_PER_DEG = 0.004
#: Residuals below this (degrees) are not worth a resampling pass.
_MIN_RESIDUAL_DEG = 0.02
#: Decoded images kept per compositor, bytes: the whole 187-image toon rig at 512 px (147 MB);
#: at 1080 px, the ~70 images used most recently (3.5 MB each).
CACHE_BYTES = 256 * 2**20


def output_size(rig_size: tuple[int, int], width_px: int) -> tuple[int, int]:
    """(width, height) of the output for a rig of ``rig_size``: ``width_px`` wide (made
    even) with the rig's aspect, the height rounded to even (H.264 4:2:0 needs even sizes)."""
    rw, rh = rig_size
    w = max(2, width_px - width_px % 2)
    h = max(2, round(rh * w / rw / 2) * 2)
    return w, h


def residual_matrix(residual_deg: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """float[2, 3] affine map for the residual (pitch, yaw, roll) at output ``size``, or
    None when it is negligible. roll > 0 turns the head clockwise on screen (towards the
    viewer's right), yaw > 0 shifts it right, pitch > 0 (chin up) shifts it up."""
    pitch, yaw, roll = (float(x) for x in residual_deg)
    if max(abs(pitch), abs(yaw), abs(roll)) < _MIN_RESIDUAL_DEG:
        return None
    w, h = size
    pivot = (PIVOT_FRAC[0] * w, PIVOT_FRAC[1] * h)
    m = cv2.getRotationMatrix2D(pivot, -roll, 1.0)  # OpenCV: positive = counter-clockwise
    m[0, 2] += SHIFT_FRAC_PER_DEG * w * yaw
    m[1, 2] -= SHIFT_FRAC_PER_DEG * w * pitch
    return m


def read_matte(path, size: tuple[int, int],
               expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """float32[H, W] in [0, 1] of a grey matte PNG at output ``size`` (width, height)."""
    raw = read_grey(path, expected_size)
    if (raw.shape[1], raw.shape[0]) != size:
        raw = cv2.resize(raw, size, interpolation=cv2.INTER_AREA)
    return raw.astype(np.float32) / 255.0


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) bounding box of the non-zero pixels, or None."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _moved_box(box: tuple[int, int, int, int], m: np.ndarray | None, size: tuple[int, int]
               ) -> tuple[int, int, int, int]:
    """The part of the output a layer inside ``box`` can cover after the map ``m``."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    if m is not None:
        corners = np.concatenate([corners, corners @ m[:, :2].T + m[:, 2]])
    w, h = size
    lo = np.floor(corners.min(0)).astype(int) - 2
    hi = np.ceil(corners.max(0)).astype(int) + 2
    return max(0, lo[0]), max(0, lo[1]), min(w, hi[0]), min(h, hi[1])


#: Where a Canvas puts the character: (horizontal, vertical) fractions of the free space.
PLACEMENTS: dict[str, tuple[float, float]] = {
    "bottom-right": (1.0, 1.0), "bottom-left": (0.0, 1.0), "bottom-center": (0.5, 1.0),
    "center": (0.5, 0.5), "top-left": (0.0, 0.0), "top-right": (1.0, 0.0),
    "top-center": (0.5, 0.0), "left": (0.0, 0.5), "right": (1.0, 0.5),
}


class CanvasError(AnimatorError):
    """A canvas that cannot hold the character."""


@dataclass(frozen=True)
class Canvas:
    """An output frame of ``size`` (width, height) pixels with the character placed at
    ``placement`` (a key of PLACEMENTS), ``margin_px`` from the edges it is placed against."""

    size: tuple[int, int]
    placement: str = "bottom-right"
    margin_px: int = 0

    def offset(self, char_size: tuple[int, int]) -> tuple[int, int]:
        """(x, y) of the character's top-left corner; CanvasError when it does not fit."""
        (cw, ch), (w, h) = self.size, char_size
        m = self.margin_px
        if w + 2 * m > cw or h + 2 * m > ch:
            raise CanvasError(f"the character ({w}x{h} px, margin {m}) does not fit the "
                              f"{cw}x{ch} canvas: make it smaller with --width")
        fx, fy = PLACEMENTS[self.placement]
        return m + round(fx * (cw - w - 2 * m)), m + round(fy * (ch - h - 2 * m))


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080): even sizes from 16 to 7680 x 4320 (ValueError)."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        raise ValueError(f"size must be WIDTHxHEIGHT, e.g. 1920x1080, not {text!r}") from None
    if not sep or not (16 <= size[0] <= 7680 and 16 <= size[1] <= 4320) or size[0] % 2 \
            or size[1] % 2:
        raise ValueError(f"size must be even WIDTHxHEIGHT between 16x16 and 7680x4320, "
                         f"not {text!r}")
    return size


def alpha_over(top: np.ndarray, under: np.ndarray) -> np.ndarray:
    """uint8[h, w, 4] straight-alpha ``top`` over uint8[h, w, 3 or 4] ``under`` (same
    channels out as ``under``)."""
    a = top[:, :, 3:4].astype(np.float32) / 255.0
    if under.shape[2] == 3:
        return (top[:, :, :3] * a + under * (1.0 - a) + 0.5).astype(np.uint8)
    b = under[:, :, 3:4].astype(np.float32) / 255.0
    out_a = a + b * (1.0 - a)
    rgb = (top[:, :, :3] * a + under[:, :, :3] * b * (1.0 - a)) / np.maximum(out_a, 1e-6)
    return np.concatenate([rgb + 0.5, out_a * 255.0 + 0.5], axis=2).astype(np.uint8)


class _Layer:
    """One pose's head layer at output size: matte float32[H, W], plate uint8[H, W, 3]."""

    def __init__(self, matte: np.ndarray, plate: np.ndarray) -> None:
        self.matte, self.plate = matte, plate
        self.box = _box(matte > 0.0)


class FrameCompositor:
    """Rig images -> uint8[H, W, 3] RGB output frames (uint8[H, W, 4] RGBA with
    ``transparent``); decoded images are cached, the least recently used dropped beyond
    ``cache_bytes``. ``size`` is the output frame's (the canvas's when one is given)."""

    def __init__(self, rig: Rig, width_px: int = 512,
                 background_rgb: tuple[int, int, int] = (236, 240, 244),
                 cache_bytes: int = CACHE_BYTES, *, transparent: bool = False,
                 canvas: Canvas | None = None) -> None:
        self.rig = rig
        self.char_size = output_size(rig.image_size, width_px)
        self.size = self.char_size if canvas is None else canvas.size
        self.transparent = transparent
        self._canvas = None
        if canvas is not None:
            self._offset = canvas.offset(self.char_size)
            self._canvas = np.zeros((canvas.size[1], canvas.size[0], 4 if transparent else 3),
                                    np.uint8)
            if not transparent:
                self._canvas[:] = background_rgb
        self.background_rgb = background_rgb
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes
        self.cached_bytes = 0
        self.n_decoded = 0  # images read from the rig (cache misses)
        self._layers: dict[str, _Layer] = {}

    def layer(self, pose: str) -> _Layer | None:
        """The head layer of ``pose`` at output size, or None for a rig without layers."""
        if pose not in self.rig.layers:
            return None
        got = self._layers.get(pose)
        if got is None:
            matte_rel, plate_rel = self.rig.layers[pose]
            got = _Layer(read_matte(self.rig.image_path(matte_rel), self.char_size,
                                    self.rig.image_size),
                         self.base_image(plate_rel))
            self._layers[pose] = got
        return got

    def base_image(self, relpath: str, keep: bool = True) -> np.ndarray:
        """The rig image at ``relpath`` over the background at output size, uint8[H, W, 3]
        (``keep`` False: not added to the cache, for a caller that keeps its own form)."""
        img = self._cache.get(relpath)
        if img is not None:
            self._cache.move_to_end(relpath)
            return img
        img = self._read(relpath)
        if (img.shape[1], img.shape[0]) != self.char_size:
            img = cv2.resize(img, self.char_size, interpolation=cv2.INTER_AREA)
        if keep:
            self._remember(relpath, img)
        else:
            self.n_decoded += 1
        return img

    def _read(self, relpath: str, expected: tuple[int, int] | None = None) -> np.ndarray:
        path = self.rig.image_path(relpath)
        expected = expected or self.rig.image_size
        if self.transparent:
            return read_rgba(path, expected)
        return read_rgb_over(path, self.background_rgb, expected)

    def _remember(self, key: str, img: np.ndarray) -> None:
        self._cache[key] = img
        self.n_decoded += 1
        self.cached_bytes += img.nbytes
        while self.cached_bytes > self._cache_bytes and len(self._cache) > 1:
            self.cached_bytes -= self._cache.popitem(last=False)[1].nbytes

    def with_mouth(self, image: str, overlay: str, pose: str, keep: bool = True
                   ) -> np.ndarray:
        """The base image with a mouth chart's mouth drawn on it at the pose's placement
        (``keep``: as in :meth:`base_image`)."""
        key = f"{image}\n{overlay}"
        got = self._cache.get(key)
        if got is not None:
            self._cache.move_to_end(key)
            return got
        base = self.base_image(image, keep)
        place = self.rig.config.mouth_chart[pose]
        scale = self.char_size[0] / self.rig.image_size[0]
        mouth = read_rgba(self.rig.image_path(overlay), self.rig.mouth_size)
        mw, mh = self.rig.mouth_size
        # the mouth's centre to the placement, scaled to the output and turned by its angle
        m = cv2.getRotationMatrix2D((mw / 2, mh / 2), -place.angle_deg, scale)
        m[:, 2] += (place.x * scale - mw / 2, place.y * scale - mh / 2)
        w, h = self.char_size
        moved = cv2.warpAffine(mouth, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        box = _box(moved[:, :, 3] > 0)
        out = base.copy()
        if box is not None:
            x0, y0, x1, y1 = box
            out[y0:y1, x0:x1] = alpha_over(moved[y0:y1, x0:x1], base[y0:y1, x0:x1])
        self.n_decoded += 1
        if keep:
            self._remember(key, out)
        return out

    def still_key(self, choice: FrameChoice) -> str | None:
        """A name for the frame :meth:`compose` makes of ``choice`` when that frame depends
        on the choice's images alone (no residual head move), so equal keys mean equal
        frames; None when the frame is moved."""
        if residual_matrix(choice.residual_deg, self.char_size) is not None:
            return None
        return f"{choice.image}\n{choice.overlay}\n{choice.pose}"

    def compose(self, choice: FrameChoice) -> np.ndarray:
        frame = self._compose_character(choice)
        if self._canvas is None:
            return frame
        out = self._canvas.copy()
        x, y = self._offset
        h, w = frame.shape[:2]
        out[y:y + h, x:x + w] = frame
        return out

    def _compose_character(self, choice: FrameChoice) -> np.ndarray:
        base = (self.base_image(choice.image) if choice.overlay is None
                else self.with_mouth(choice.image, choice.overlay, choice.pose))
        m = residual_matrix(choice.residual_deg, self.char_size)
        layer = self.layer(choice.pose)
        if layer is not None:
            return compose_layered(base, layer.matte, layer.plate, m, layer.box)
        if m is None:
            return base
        if self.transparent:  # nothing behind the character: what the move uncovers is clear
            return cv2.warpAffine(base, m, self.char_size, flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        return cv2.warpAffine(base, m, self.char_size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)


def compose_layered(image: np.ndarray, matte: np.ndarray, plate: np.ndarray,
                    m: np.ndarray | None, box: tuple[int, int, int, int] | None = None
                    ) -> np.ndarray:
    """uint8[H, W, 3]: ``image``'s head (where ``matte``, float32[H, W], says) moved by the
    affine map ``m`` (None: not moved) over ``plate`` (uint8[H, W, 3]). Only the part of
    the frame the layer can reach (``box``, the matte's bounding box) is computed; every
    other pixel is the plate's."""
    if box is None:
        box = _box(matte > 0.0)
        if box is None:
            return plate
    h, w = plate.shape[:2]
    x0, y0, x1, y1 = _moved_box(box, m, (w, h))
    if x1 <= x0 or y1 <= y0:
        return plate
    if m is None:
        moved = np.ascontiguousarray(image[y0:y1, x0:x1])
        alpha = np.ascontiguousarray(matte[y0:y1, x0:x1])
    else:
        local = m.copy()  # full image in, the box out
        local[:, 2] -= (x0, y0)
        size = (x1 - x0, y1 - y0)
        moved = cv2.warpAffine(image, local, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(matte, local, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    out = plate.copy()
    under = np.ascontiguousarray(plate[y0:y1, x0:x1])
    out[y0:y1, x0:x1] = cv2.blendLinear(moved, under, alpha, 1.0 - alpha)
    return out
