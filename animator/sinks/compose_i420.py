"""Frames composed straight into I420 planes, the form the H.264 encoder takes: the same
pictures as :class:`~animator.sinks.compose.FrameCompositor` followed by RGB -> I420, for
half the pixel bytes and no colour conversion per frame.

Every rig image (with its mouth, for a mouth chart), plate and matte is converted once and
kept as I420 planes (luma at full size, chroma at half). A frame's residual head move is
applied to each plane: luma with the residual map, chroma with the same map in chroma
coordinates (:func:`chroma_matrix`; a chroma sample sits at the centre of its 2 x 2 luma
block, as OpenCV's RGB -> I420 averages them). Layering is linear, so it is done per plane
(the matte averaged to half size for chroma). Only the part of the frame the moving head can
reach is resampled: the head layer's box for a layered rig; for a rig without layers, the box
of the pixels that differ from the background (what the move uncovers is that background,
as it is in the RGB path's border replication when the image's edges are background).

Not bit-identical to converting the RGB frame: each plane is resampled instead of RGB (one
rounding in another place, chroma resampled at half size); measured on the demo and a real
portrait rig in benchmarks.render (``--compose``).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import cv2
import numpy as np

from animator.core.types import FrameChoice
from animator.sinks.compose import (
    FrameCompositor,
    _box,
    _moved_box,
    read_matte,
    residual_matrix,
)

#: I420 images kept, bytes, with their packed forms (:class:`_Image`): 2.5 bytes a pixel for a
#: rig without layers (the toon: ~400 images at 512 px, ~90 at 1080 px), ~3.3 with a head
#: layer (the astronaut: ~250 at 512 px, ~45 at 1080 px, about as many as the planes alone
#: kept in half this before).
CACHE_BYTES = 256 * 2**20

Box = tuple[int, int, int, int]


def to_i420(rgb: np.ndarray) -> np.ndarray:
    """uint8[H, W, 3] RGB -> uint8[H * 3 / 2, W] I420 planes, BT.601 limited range (what x264
    and players assume for untagged SD/HD content)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def planes(buf: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Views (Y uint8[H, W], U and V uint8[H/2, W/2]) of I420 planes ``buf`` of ``size``."""
    w, h = size
    flat = buf.reshape(-1)
    n, q = w * h, w * h // 4
    return (flat[:n].reshape(h, w), flat[n:n + q].reshape(h // 2, w // 2),
            flat[n + q:n + 2 * q].reshape(h // 2, w // 2))


def chroma_matrix(m: np.ndarray) -> np.ndarray:
    """The affine map ``m`` (output <- input, luma pixels) in chroma pixels: chroma sample c
    sits at luma 2c + 0.5, so t_c = (t + A 0.5 - 0.5) / 2 and A stays."""
    mc = m.copy()
    mc[:, 2] = (m[:, 2] + 0.5 * m[:, :2].sum(axis=1) - 0.5) / 2.0
    return mc


def chroma_box(box: Box) -> Box:
    """The chroma samples that touch the luma ``box``."""
    x0, y0, x1, y1 = box
    return x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2


def reach(box: Box, m: np.ndarray, size: tuple[int, int], edge_size: tuple[int, int]
          ) -> Box:
    """The part of an output of ``size`` that an image's ``box`` (of an image of
    ``edge_size``) can cover after the map ``m`` with its border replicated: a side of the box
    on the image's edge reaches on (the replicated border), as far as any output pixel's
    source (the output's corners mapped back). Scalar arithmetic: a few microseconds, where
    small numpy arrays took ~20 (three calls a frame)."""
    x0, y0, x1, y1 = box
    w, h = size
    (a, b, c), (d, e, f) = cv2.invertAffineTransform(m).tolist()
    xs = (c, a * w + c, b * h + c, a * w + b * h + c)  # the output's corners mapped back
    ys = (f, d * w + f, e * h + f, d * w + e * h + f)
    ew, eh = edge_size
    if x0 <= 0:
        x0 = min(math.floor(min(xs)) - 1, x0)
    if y0 <= 0:
        y0 = min(math.floor(min(ys)) - 1, y0)
    if x1 >= ew:
        x1 = max(math.ceil(max(xs)) + 1, x1)
    if y1 >= eh:
        y1 = max(math.ceil(max(ys)) + 1, y1)
    (a, b, c), (d, e, f) = m.tolist()
    xs = (a * x0 + b * y0 + c, a * x1 + b * y0 + c, a * x0 + b * y1 + c, a * x1 + b * y1 + c)
    ys = (d * x0 + e * y0 + f, d * x1 + e * y0 + f, d * x0 + e * y1 + f, d * x1 + e * y1 + f)
    return (max(0, math.floor(min(xs)) - 2), max(0, math.floor(min(ys)) - 2),
            min(w, math.ceil(max(xs)) + 2), min(h, math.ceil(max(ys)) + 2))


def _warp_into(dst: np.ndarray, src: np.ndarray, m: np.ndarray, box: Box, border: int
               ) -> None:
    """dst[box] = the output of ``src`` moved by ``m`` over that box (written in place)."""
    x0, y0, x1, y1 = box
    local = m.copy()
    local[:, 2] -= (x0, y0)
    cv2.warpAffine(src, local, (x1 - x0, y1 - y0), dst=dst[y0:y1, x0:x1],
                   flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def _warped(src: np.ndarray, m: np.ndarray | None, box: Box, border: int) -> np.ndarray:
    """``src`` moved by ``m`` (None: not moved) over ``box`` of the output, a new array."""
    x0, y0, x1, y1 = box
    if m is None:
        return np.ascontiguousarray(src[y0:y1, x0:x1])
    local = m.copy()
    local[:, 2] -= (x0, y0)
    return cv2.warpAffine(src, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=0)


class _Image:
    """A rig image as I420 planes at character size, and the box of its pixels that are not
    the background (None: all background)."""

    def __init__(self, rgb: np.ndarray, background: np.ndarray | None) -> None:
        self.buf = to_i420(rgb)
        h, w = rgb.shape[:2]
        self.planes = planes(self.buf, (w, h))
        self.nbytes = self.buf.nbytes  # with the packed forms below, made when first used
        #: U and V side by side in one 4-channel image (twice, as OpenCV has no fast 2-channel
        #: warp): one warp moves both for ~75 % of the CPU of two, with the same bytes (each
        #: channel is interpolated alone with the same weights); for a rig without layers
        self.uv: np.ndarray | None = None
        #: per pose: the head packed with the pose's matte (:meth:`I420Compositor.head`)
        self.heads: dict[str, tuple[np.ndarray | None, ...]] = {}
        self.box: Box | None = (0, 0, w, h)
        if background is not None:
            x, y, bw, bh = cv2.boundingRect(255 - cv2.inRange(rgb, background, background))
            self.box = (x, y, x + bw, y + bh) if bw > 0 else None


class _LayerPlanes:
    """A pose's head layer: the plate as I420 planes, the matte (uint8, 255 = the head: a
    third of the float warp's time) at luma and chroma size and the boxes where each is not
    zero."""

    def __init__(self, plate: _Image, matte: np.ndarray) -> None:
        self.plate = plate
        h, w = matte.shape
        luma = np.round(matte * 255.0).astype(np.uint8)
        self.mattes = (luma, cv2.resize(luma, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
        self.boxes = tuple(_box(a > 0) for a in self.mattes)
        self.crops = tuple(None if b is None else _head_crop(b, (a.shape[1], a.shape[0]))
                           for a, b in zip(self.mattes, self.boxes, strict=True))


#: Pixels kept around a matte's box in a packed head: every pixel the moved matte covers
#: reads its 2 x 2 neighbours inside.
HEAD_MARGIN_PX = 2


def _head_crop(box: Box, size: tuple[int, int]) -> Box | None:
    """The matte's ``box`` grown by the margin, or None when it touches the edge of the image
    of ``size``: there the image's replicated border and the matte's clear one differ, so
    they cannot be moved together."""
    x0, y0, x1, y1 = box
    w, h = size
    if x0 <= 0 or y0 <= 0 or x1 >= w or y1 >= h:
        return None
    m = HEAD_MARGIN_PX
    return max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)


class I420Compositor:
    """``rgb``'s frames as uint8[H * 3 / 2, W] I420 planes. ``size`` and :meth:`still_key`
    are ``rgb``'s. A transparent compositor has no I420 form (alpha needs RGBA); a canvas
    that places the character at an odd pixel is composed in RGB and converted."""

    def __init__(self, rgb: FrameCompositor, cache_bytes: int = CACHE_BYTES) -> None:
        if rgb.transparent:
            raise ValueError("a transparent compositor's frames carry alpha: no I420 form")
        self.rgb = rgb
        self.size = rgb.size
        self.char_size = rgb.char_size
        self.still_key = rgb.still_key
        self._images: OrderedDict[str, _Image] = OrderedDict()
        self._cache_bytes = cache_bytes
        self.cached_bytes = 0
        self._layers: dict[str, _LayerPlanes | None] = {}
        w, h = self.char_size
        self._bg_rgb = np.array(rgb.background_rgb, np.uint8)
        bg = to_i420(np.broadcast_to(self._bg_rgb, (2, 2, 3)).copy())
        self._bg_yuv = (int(bg[0, 0]), int(bg[2, 0]), int(bg[2, 1]))
        self._offset = (0, 0)
        self._canvas: np.ndarray | None = None
        self._by_rgb = False
        if rgb._canvas is not None:
            self._offset = rgb._offset
            self._by_rgb = self._offset[0] % 2 == 1 or self._offset[1] % 2 == 1
            self._canvas = to_i420(rgb._canvas)

    def image(self, choice: FrameChoice) -> _Image:
        """The choice's image (with its mouth) as I420 planes, converted once."""
        key = choice.image if choice.overlay is None else f"{choice.image}\n{choice.overlay}"
        got = self._images.get(key)
        if got is not None:
            self._images.move_to_end(key)
            return got
        rgb = (self.rgb.base_image(choice.image, keep=False) if choice.overlay is None else
               self.rgb.with_mouth(choice.image, choice.overlay, choice.pose, keep=False))
        got = _Image(rgb, self._bg_rgb)
        self._images[key] = got
        self.cached_bytes += got.nbytes
        while self.cached_bytes > self._cache_bytes and len(self._images) > 1:
            self.cached_bytes -= self._images.popitem(last=False)[1].nbytes
        return got

    def layer(self, pose: str) -> _LayerPlanes | None:
        """The head layer of ``pose`` as planes, or None for a rig without layers."""
        if pose not in self._layers:
            rig = self.rgb.rig
            if pose not in rig.layers:
                self._layers[pose] = None
            else:
                matte_rel, plate_rel = rig.layers[pose]
                matte = read_matte(rig.image_path(matte_rel), self.char_size, rig.image_size)
                plate = _Image(self.rgb.base_image(plate_rel, keep=False), None)
                self._layers[pose] = _LayerPlanes(plate, matte)
        return self._layers[pose]

    def compose(self, choice: FrameChoice) -> np.ndarray:
        """uint8[H * 3 / 2, W]: the frame of ``choice`` as I420 planes."""
        out = np.empty((self.size[1] * 3 // 2, self.size[0]), np.uint8)
        self.compose_into(planes(out, self.size), choice)
        return out

    def compose_into(self, frame: tuple[np.ndarray, ...], choice: FrameChoice) -> None:
        """Write the frame of ``choice`` into ``frame``: (Y uint8[H, W], U and V uint8[H/2,
        W/2]), views of any row stride (e.g. an encoder frame's buffers)."""
        if self._by_rgb:
            for dst, src in zip(frame, planes(to_i420(self.rgb.compose(choice)), self.size),
                                strict=True):
                dst[:] = src
            return
        if self._canvas is not None:
            (x, y), (w, h) = self._offset, self.char_size
            for dst, src in zip(frame, planes(self._canvas, self.size), strict=True):
                dst[:] = src
            frame = tuple(p[oy:oy + ph, ox:ox + pw] for p, ox, oy, pw, ph in zip(
                frame, (x, x // 2, x // 2), (y, y // 2, y // 2), (w, w // 2, w // 2),
                (h, h // 2, h // 2), strict=True))
        self._compose_into(frame, choice)

    def _compose_into(self, targets: tuple[np.ndarray, ...], choice: FrameChoice) -> None:
        img = self.image(choice)
        m = residual_matrix(choice.residual_deg, self.char_size)
        layer = self.layer(choice.pose)
        if layer is not None:
            self._layered(targets, img, layer, m, choice.pose)
        elif m is None or img.box is None:
            for dst, src in zip(targets, img.planes, strict=True):
                dst[:] = src
        else:
            self._moved(targets, img, m)

    def _moved(self, targets: tuple[np.ndarray, ...], img: _Image, m: np.ndarray) -> None:
        """The whole image moved by ``m``: the background, and the image resampled over the
        part its non-background pixels can reach (U and V in one warp, :class:`_Image`)."""
        for dst, value in zip(targets, self._bg_yuv, strict=True):
            dst[:] = value
        luma = targets[0]
        size = (luma.shape[1], luma.shape[0])
        x0, y0, x1, y1 = box = reach(img.box, m, size, size)
        if x1 > x0 and y1 > y0:
            _warp_into(luma, img.planes[0], m, box, cv2.BORDER_REPLICATE)
        mc = chroma_matrix(m)
        size = (targets[1].shape[1], targets[1].shape[0])
        x0, y0, x1, y1 = reach(chroma_box(img.box), mc, size, size)
        if x1 > x0 and y1 > y0:
            local = mc.copy()
            local[:, 2] -= (x0, y0)
            if img.uv is None:
                u, v = img.planes[1:]
                img.uv = cv2.merge([u, v, u, v])
                self._grew(img, img.uv.nbytes)
            moved = cv2.warpAffine(img.uv, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            for k in (1, 2):
                cv2.extractChannel(moved, k - 1, targets[k][y0:y1, x0:x1])

    def head(self, img: _Image, pose: str, layer: _LayerPlanes) -> tuple[np.ndarray | None, ...]:
        """``img``'s head packed with ``pose``'s matte, over the matte's box and a margin:
        uint8[h, w, 4] (Y, matte, Y, matte) and (U, V, chroma matte, chroma matte), None for a
        matte on the image's edge; made once, kept with the image."""
        got = img.heads.get(pose)
        if got is None:
            packs = []
            for crop, matte, chans in zip(layer.crops, layer.mattes, ((0, 0), (1, 2)),
                                          strict=True):
                if crop is None:
                    packs.append(None)
                    continue
                x0, y0, x1, y1 = crop
                a, b, m = (img.planes[chans[0]][y0:y1, x0:x1],
                           img.planes[chans[1]][y0:y1, x0:x1], matte[y0:y1, x0:x1])
                packs.append(cv2.merge([a, m, a, m]) if chans[0] == 0
                             else cv2.merge([a, b, m, m]))
            got = img.heads[pose] = tuple(packs)
            self._grew(img, sum(p.nbytes for p in got if p is not None))
        return got

    def _grew(self, img: _Image, n_bytes: int) -> None:
        """Count ``n_bytes`` more kept with the cached ``img``."""
        img.nbytes += n_bytes
        self.cached_bytes += n_bytes

    def _layered(self, targets: tuple[np.ndarray, ...], img: _Image, layer: _LayerPlanes,
                 m: np.ndarray | None, pose: str) -> None:
        """The head (where the matte says) moved by ``m`` over the plate, plane by plane: the
        matte moved once per plane size (luma, then chroma for U and V); a moved head in one
        4-channel warp per plane size (:meth:`head`): the matte's zero border is the edge of
        its box replicated, and where the matte is 0 the blend is the plate, whatever it
        moved, so the bytes are those of warping each plane alone."""
        for dst, plate in zip(targets, layer.plate.planes, strict=True):
            dst[:] = plate
        heads = (None, None) if m is None else self.head(img, pose, layer)
        for k, mk in ((0, m), (1, None if m is None else chroma_matrix(m))):
            box = layer.boxes[k]
            if box is None:
                continue
            size = (targets[k].shape[1], targets[k].shape[0])
            x0, y0, x1, y1 = box = _moved_box(box, mk, size)
            if x1 <= x0 or y1 <= y0:
                continue
            if heads[k] is not None:
                moved = _warped_crop(heads[k], mk, box, layer.crops[k])
                alpha = cv2.extractChannel(moved, 1 if k == 0 else 2).astype(np.float32)
                sources = ([cv2.extractChannel(moved, 0)] if k == 0 else
                           [cv2.extractChannel(moved, 0), cv2.extractChannel(moved, 1)])
            else:
                alpha = _warped(layer.mattes[k], mk, box, cv2.BORDER_CONSTANT
                                ).astype(np.float32)
                sources = [_warped(img.planes[p], mk, box, cv2.BORDER_REPLICATE)
                           for p in ((0,) if k == 0 else (1, 2))]
            rest = 255.0 - alpha  # blendLinear divides by the weights' sum
            for p, moved_p in zip((0,) if k == 0 else (1, 2), sources, strict=True):
                under = np.ascontiguousarray(layer.plate.planes[p][y0:y1, x0:x1])
                cv2.blendLinear(moved_p, under, alpha, rest, dst=targets[p][y0:y1, x0:x1])


def _warped_crop(pack: np.ndarray, m: np.ndarray, box: Box, crop: Box) -> np.ndarray:
    """A packed head cut at ``crop`` of its image, moved by ``m`` over ``box`` of the output:
    the inverse map (OpenCV's own inversion) shifted by the crop's corner, so each output
    pixel reads the pixels the whole image's warp reads."""
    x0, y0, x1, y1 = box
    local = m.copy()
    local[:, 2] -= (x0, y0)
    inv = cv2.invertAffineTransform(local)
    inv[:, 2] -= crop[:2]
    return cv2.warpAffine(pack, inv, (x1 - x0, y1 - y0),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
