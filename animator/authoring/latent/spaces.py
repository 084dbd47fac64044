"""Encoders/decoders behind one small interface: an ONNX pair, PCA, FaceMesh landmarks.

Every space has ``name``, ``dim`` (D) and

- ``encode(X) -> float64[N, D]`` and ``decode(Z) -> X`` on batches of the space's items
  (images as float arrays in [0, 1] for the ONNX and PCA spaces; float[P, 3] landmark sets
  in pixels for the landmark space, decoded to the normalised face frame);
- ``encode_image(rgb) -> (z float64[D], context)`` and ``decode_image(z, context) ->
  uint8[H, W, 3]``: what the rig backend uses; ``context`` carries what decoding needs from
  the source (its size; for landmarks, the image and its landmarks).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from animator.authoring.latent import geometry
from animator.authoring.latent.directions import LatentError, read_npz
from keypoints.onnx_session import NotAModel, open_session


class LatentSpace(Protocol):
    name: str
    dim: int

    def encode(self, X) -> np.ndarray: ...

    def decode(self, Z) -> np.ndarray: ...

    def encode_image(self, rgb: np.ndarray) -> tuple[np.ndarray, Any]: ...

    def decode_image(self, z: np.ndarray, context: Any) -> np.ndarray: ...


def _as_batch(Z, dim: int) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim == 1:
        Z = Z[None]
    if Z.ndim != 2 or Z.shape[1] != dim:
        raise LatentError(f"latents must be N x {dim}, not shape {Z.shape}")
    if not np.all(np.isfinite(Z)):
        raise LatentError("latents are not finite")
    return Z


# --- images <-> model items ---------------------------------------------------------------

def _layout(item_shape: tuple[int, ...]) -> str:
    """'chw', 'hwc' or 'flat'/'hw' for a model's per-item image shape."""
    if len(item_shape) == 3 and item_shape[0] in (1, 3) and item_shape[2] not in (1, 3):
        return "chw"
    if len(item_shape) == 3 and item_shape[2] in (1, 3):
        return "hwc"
    if len(item_shape) == 2:
        return "hw"
    raise LatentError(f"cannot read an image layout from item shape {item_shape}: expected "
                      f"C x H x W or H x W x C with C = 1 or 3, or H x W")


def image_to_item(rgb: np.ndarray, item_shape: tuple[int, ...]) -> np.ndarray:
    """uint8[H, W, 3|4] -> float32 item of ``item_shape`` in [0, 1] (resized, alpha dropped,
    grey when the item has one channel)."""
    import cv2

    layout = _layout(item_shape)
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
        raise LatentError(f"image must be uint8 H x W x 3 or 4, not {img.dtype} {img.shape}")
    img = img[..., :3]
    h, w = (item_shape[1:] if layout == "chw" else item_shape[:2])
    channels = {"chw": item_shape[0], "hwc": item_shape[-1], "hw": 1}[layout]
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    if channels == 1:
        small = small.mean(axis=2, keepdims=True)
    if layout == "chw":
        return np.ascontiguousarray(small.transpose(2, 0, 1))
    return small[..., 0] if layout == "hw" else small


def item_to_image(item: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """float item in [0, 1] (layout read from its shape) -> uint8[H, W, 3] at ``size_wh``."""
    import cv2

    item = np.asarray(item, dtype=np.float32)
    layout = _layout(item.shape)
    img = {"chw": lambda a: a.transpose(1, 2, 0), "hwc": lambda a: a,
           "hw": lambda a: a[..., None]}[layout](item)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return cv2.resize(img, tuple(int(v) for v in size_wh), interpolation=cv2.INTER_LINEAR)


class _ImageItems:
    """encode_image/decode_image for spaces whose items are images of ``item_shape``."""

    item_shape: tuple[int, ...]

    def encode_image(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        z = self.encode(image_to_item(rgb, self.item_shape)[None])[0]
        return z, (int(rgb.shape[1]), int(rgb.shape[0]))

    def decode_image(self, z: np.ndarray, context: tuple[int, int]) -> np.ndarray:
        return item_to_image(self.decode(z)[0], context)


# --- PCA ----------------------------------------------------------------------------------

class PcaSpace(_ImageItems):
    """Principal components of items (images or any arrays), by numpy SVD.

    n_components: D, 1 <= D <= min(N, F) where F = values per item. After ``fit``:
    ``mean_`` float64[F], ``components_`` float64[D, F] (orthonormal rows),
    ``explained_variance_ratio_`` float64[D], ``item_shape`` the shape of one item.
    """

    name = "pca"

    def __init__(self, n_components: int = 16) -> None:
        self.n_components = n_components

    @property
    def dim(self) -> int:
        self._check_fitted()
        return int(self.components_.shape[0])

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise LatentError("this PcaSpace is not fitted yet: call fit(X) or PcaSpace.load")

    def fit(self, X) -> PcaSpace:
        """X: float[N, ...] (N items of one shape)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim < 2 or X.shape[0] < 2:
            raise LatentError(f"PCA needs at least 2 items, got shape {X.shape}")
        flat = X.reshape(len(X), -1)
        if not np.all(np.isfinite(flat)):
            raise LatentError("PCA input is not finite")
        n = self.n_components
        if int(n) != n or not 1 <= n <= min(flat.shape):
            raise LatentError(f"n_components must be an integer in [1, {min(flat.shape)}] "
                              f"(items x values), not {n}")
        self.item_shape = tuple(X.shape[1:])
        self.mean_ = flat.mean(axis=0)
        _, s, vt = np.linalg.svd(flat - self.mean_, full_matrices=False)
        var = s ** 2
        self.components_ = vt[:n]
        self.explained_variance_ratio_ = var[:n] / var.sum() if var.sum() > 0 else var[:n]
        return self

    def transform(self, X) -> np.ndarray:
        """float[N, *item_shape] -> float64[N, D]."""
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1:] != self.item_shape:
            raise LatentError(f"items of shape {X.shape[1:]} do not match the PCA's "
                              f"{self.item_shape}")
        return (X.reshape(len(X), -1) - self.mean_) @ self.components_.T

    def inverse_transform(self, Z) -> np.ndarray:
        """float[N, D] -> float64[N, *item_shape]."""
        self._check_fitted()
        Z = _as_batch(Z, self.dim)
        return (Z @ self.components_ + self.mean_).reshape(len(Z), *self.item_shape)

    encode = transform
    decode = inverse_transform

    def save(self, path: str | os.PathLike) -> None:
        from animator.core.outputs import atomic_output

        self._check_fitted()
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, kind=np.array("pca"), mean=self.mean_, components=self.components_,
                     explained_variance_ratio=self.explained_variance_ratio_,
                     item_shape=np.array(self.item_shape, dtype=np.int64))

    @classmethod
    def load(cls, path: str | os.PathLike) -> PcaSpace:
        path = Path(path)
        d = read_npz(path, "PCA space file")
        if str(d.get("kind", "")) != "pca":
            raise LatentError(f"{path}: not a PCA space file")
        try:
            space = cls(int(d["components"].shape[0]))
            space.mean_ = d["mean"]
            space.components_ = d["components"]
            space.explained_variance_ratio_ = d["explained_variance_ratio"]
            space.item_shape = tuple(int(v) for v in d["item_shape"])
        except (ValueError, KeyError) as exc:
            raise LatentError(f"{path}: not a PCA space file ({exc})") from None
        if not (space.components_.shape[1] == space.mean_.shape[0]
                == int(np.prod(space.item_shape))):
            raise LatentError(f"{path}: inconsistent PCA arrays")
        return space


# --- ONNX encoder/decoder pair --------------------------------------------------------------

def _session(path: Path, threads: int):
    try:
        return open_session(path, threads)
    except NotAModel as exc:
        raise LatentError(f"{path}: {exc}") from None


def _one_io(sess, path: Path, kind: str):
    ins, outs = sess.get_inputs(), sess.get_outputs()
    if len(ins) != 1 or len(outs) != 1:
        raise LatentError(f"{path}: the {kind} must have exactly one input and one output "
                          f"(has {len(ins)} and {len(outs)})")
    if ins[0].type != "tensor(float)":
        raise LatentError(f"{path}: the {kind}'s input must be float32, not {ins[0].type}")
    shape = list(ins[0].shape)
    if not shape:
        raise LatentError(f"{path}: the {kind}'s input has no batch dimension")
    rest = shape[1:]
    if not all(isinstance(v, int) and v > 0 for v in rest):
        raise LatentError(f"{path}: the {kind}'s input shape {shape} must be fixed after the "
                          f"batch dimension")
    batch = shape[0] if isinstance(shape[0], int) else None  # None: any batch size
    return ins[0].name, tuple(rest), batch


class OnnxSpace(_ImageItems):
    """A user's encoder + decoder ONNX pair (onnxruntime, CPU).

    encoder: float32[B, *item] -> [B, ...] with D values per item; decoder: [B, *latent]
    (D values) -> float32[B, *item]. B may be symbolic (any batch) or 1. Shapes are read from
    the models and checked by one probe run; images go in as floats in [0, 1].
    """

    name = "onnx"

    def __init__(self, encoder_path, decoder_path, threads: int = 1) -> None:
        self.encoder_path, self.decoder_path = Path(encoder_path), Path(decoder_path)
        self._enc = _session(self.encoder_path, threads)
        self._dec = _session(self.decoder_path, threads)
        self._enc_in, self.item_shape, self._enc_batch = _one_io(
            self._enc, self.encoder_path, "encoder")
        self._dec_in, self._latent_shape, self._dec_batch = _one_io(
            self._dec, self.decoder_path, "decoder")
        try:
            probe = self._enc.run(None, {self._enc_in: np.zeros((1, *self.item_shape),
                                                                np.float32)})[0]
        except Exception as exc:
            raise LatentError(f"{self.encoder_path}: fails on an input of shape "
                              f"{(1, *self.item_shape)} ({' '.join(str(exc).split())[:200]})"
                              ) from None
        if probe.ndim < 1 or probe.shape[0] != 1:
            raise LatentError(f"{self.encoder_path}: output shape {probe.shape} has no batch "
                              f"dimension of 1 for one input")
        self.dim = int(np.prod(probe.shape[1:]))
        if int(np.prod(self._latent_shape)) != self.dim:
            raise LatentError(f"the decoder {self.decoder_path} takes {self._latent_shape} "
                              f"({int(np.prod(self._latent_shape))} values) but the encoder "
                              f"{self.encoder_path} gives {tuple(probe.shape[1:])} "
                              f"({self.dim} values)")
        out = self._run_dec(np.zeros((1, self.dim)))
        if tuple(out.shape[1:]) != self.item_shape:
            raise LatentError(f"the decoder {self.decoder_path} outputs items of shape "
                              f"{tuple(out.shape[1:])}, the encoder {self.encoder_path} takes "
                              f"{self.item_shape}")

    def _run(self, sess, name, batch, X, path) -> np.ndarray:
        chunks = [X] if batch is None else [X[i:i + batch] for i in range(0, len(X), batch)]
        outs = []
        for c in chunks:
            if batch is not None and len(c) != batch:
                raise LatentError(f"{path}: fixed batch size {batch} does not divide {len(X)}")
            try:
                outs.append(sess.run(None, {name: np.ascontiguousarray(c, np.float32)})[0])
            except Exception as exc:
                raise LatentError(f"{path}: run failed ({' '.join(str(exc).split())[:200]})"
                                  ) from None
        return np.concatenate(outs)

    def _run_dec(self, Z: np.ndarray) -> np.ndarray:
        return self._run(self._dec, self._dec_in, self._dec_batch,
                         Z.reshape(len(Z), *self._latent_shape), self.decoder_path)

    def encode(self, X) -> np.ndarray:
        """float[N, *item_shape] (or one item) -> float64[N, D]."""
        X = np.asarray(X, dtype=np.float32)
        if X.shape == self.item_shape:
            X = X[None]
        if X.shape[1:] != self.item_shape:
            raise LatentError(f"{self.encoder_path}: items of shape {X.shape[1:]} given, the "
                              f"model takes {self.item_shape}")
        out = self._run(self._enc, self._enc_in, self._enc_batch, X, self.encoder_path)
        return out.reshape(len(X), -1).astype(np.float64)

    def decode(self, Z) -> np.ndarray:
        """float[N, D] -> float64[N, *item_shape]."""
        return self._run_dec(_as_batch(Z, self.dim)).astype(np.float64)


# --- FaceMesh landmarks -------------------------------------------------------------------

class LandmarkSpace:
    """Landmark sets as latents: z = the face-frame (normalised, see ``geometry``) 3D points
    flattened, D = 3P. ``decode`` gives face-frame points; ``to_pixels`` puts them back with a
    reference's centre and scale; images decode by warping the source image from its
    landmarks to the moved ones (``animator.authoring.warp.warp_image``)."""

    name = "landmarks"

    def __init__(self, n_points: int = 478) -> None:
        if int(n_points) != n_points or n_points < 4:
            raise LatentError(f"n_points must be an integer >= 4, not {n_points}")
        self.n_points = int(n_points)
        self.dim = 3 * self.n_points

    def encode(self, X) -> np.ndarray:
        """float[N, P, 3] (or [P, 3]) pixel-frame landmarks -> float64[N, 3P]."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2:
            X = X[None]
        if X.shape[1:] != (self.n_points, 3):
            raise LatentError(f"landmarks must be N x {self.n_points} x 3, not {X.shape}")
        if not np.all(np.isfinite(X)):
            raise LatentError("landmarks are not finite")
        try:
            return np.stack([geometry.normalise(p)[0].ravel() for p in X])
        except ValueError as exc:
            raise LatentError(str(exc)) from None

    def decode(self, Z) -> np.ndarray:
        """float[N, 3P] -> face-frame points float64[N, P, 3]."""
        Z = _as_batch(Z, self.dim)
        return Z.reshape(len(Z), self.n_points, 3)

    @staticmethod
    def to_pixels(points: np.ndarray, reference_px: np.ndarray) -> np.ndarray:
        """Face-frame points float[P, 3] -> pixel frame with ``reference_px``'s centre and
        scale (the source's landmarks, float[P, 3])."""
        _, centre, scale = geometry.normalise(reference_px)
        return geometry.denormalise(points, centre, scale)

    def encode_image(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        try:
            from keypoints.face import FaceTracker
        except ImportError:
            raise LatentError("landmark space: keypoints.face.FaceTracker is not available "
                              "to find the face's landmarks") from None
        img = np.ascontiguousarray(np.asarray(rgb)[..., :3])
        with FaceTracker(static_image_mode=True) as tracker:
            obs = tracker.process(img)
        if obs is None:
            raise LatentError("landmark space: no face found in the image")
        pts = np.asarray(obs.landmarks_px, dtype=np.float64)[: self.n_points]
        return self.encode(pts)[0], (np.asarray(rgb), pts)

    def decode_image(self, z: np.ndarray, context: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        image, src_px = context
        dst_px = self.to_pixels(self.decode(z)[0], src_px)
        try:
            from animator.authoring.warp import warp_image
        except ImportError:
            raise LatentError("landmark space: decoding to an image needs "
                              "animator.authoring.warp.warp_image, which is not available; "
                              "decode() gives the moved landmarks") from None
        return warp_image(image, src_px[:, :2], dst_px[:, :2], depth=-dst_px[:, 2])
