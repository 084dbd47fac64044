"""3D landmark geometry for the landmark latent space: normalisation, rotation, yaw.

Pure numpy. Two frames:
- pixel frame (FaceMesh's): x right, y down, z depth in pixels, smaller = nearer the camera;
- face frame (normalised): x right, y up, z towards the viewer, centroid at 0, RMS radius 1.
Yaw follows the angle contract: yaw > 0 turns the face to the viewer's right, so a rotation
about the y axis by yaw maps the nose tip (0, 0, 1) to (sin yaw, 0, cos yaw).
"""

from __future__ import annotations

import numpy as np

_FLIP = np.array([1.0, -1.0, -1.0])  # pixel frame <-> face frame (y and z reversed)


def yaw_matrix(yaw_deg: float) -> np.ndarray:
    """float64[3, 3] rotation about the face frame's y axis (contract sign)."""
    a = np.deg2rad(yaw_deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def normalise(points_px: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel-frame points float[P, 3] -> (face-frame points float64[P, 3], centre float64[3]
    in pixels, scale in pixels). Centroid and 3D RMS radius are rotation-invariant, so a pure
    rotation of a face stays a pure rotation after normalising."""
    p = np.asarray(points_px, dtype=np.float64)
    centre = p.mean(axis=0)
    q = (p - centre) * _FLIP
    scale = float(np.sqrt(np.mean(np.sum(q * q, axis=1))))
    if not scale > 0:
        raise ValueError("landmarks are all at one point: cannot normalise")
    return q / scale, centre, scale


def denormalise(points: np.ndarray, centre: np.ndarray, scale: float) -> np.ndarray:
    """Face-frame points float[P, 3] -> pixel frame, with a reference's centre and scale."""
    return np.asarray(points, dtype=np.float64) * scale * _FLIP + centre


def kabsch_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """float64[3, 3] rotation R minimising ||src @ R.T - dst|| (both float[P, 3], centred)."""
    h = src.T @ dst
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def estimate_yaw_deg(points: np.ndarray, reference: np.ndarray,
                     reference_yaw_deg: float = 0.0) -> float:
    """Yaw (degrees) of face-frame ``points`` float[P, 3], measured as the rotation that best
    aligns ``reference`` (the same face at ``reference_yaw_deg``) onto them (Kabsch), read as
    the y-axis angle of its rotated z axis. Scale-invariant (both are centred first)."""
    p = np.asarray(points, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if p.shape != r.shape or p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points {p.shape} and reference {r.shape} must both be P x 3")
    rot = kabsch_rotation(r - r.mean(axis=0), p - p.mean(axis=0))
    return float(np.rad2deg(np.arctan2(rot[0, 2], rot[2, 2]))) + reference_yaw_deg


def face_template(n_points: int, rng: np.random.Generator) -> np.ndarray:
    """A face-like point cloud float64[P, 3] in the face frame (normalised): points on the
    front of an ellipsoid (wider than deep) with a nose ridge, for synthetic ground truth."""
    u = rng.uniform(-0.8, 0.8, n_points) * np.pi / 2  # azimuth: front half only
    v = rng.uniform(-0.9, 0.9, n_points) * np.pi / 2  # elevation
    x = 0.75 * np.sin(u) * np.cos(v)
    y = 1.0 * np.sin(v)
    z = 0.55 * np.cos(u) * np.cos(v)
    z = z + 0.25 * np.exp(-(x / 0.12) ** 2 - ((y + 0.1) / 0.35) ** 2)  # nose
    pts = np.stack([x, y, z], axis=1)
    return normalise(pts * _FLIP)[0]  # through the pixel convention: centred, RMS radius 1
