"""Synthetic ground truth for latent-direction head rotation, and the proofs run on it.

1. leak: synthetic latents z = s*theta*d_yaw + c*l*d_light + noise, where the light l
   (left/centre/right) is correlated with the yaw theta: the fit on the source's light group
   recovers d_yaw; the naive fit on all images leaks d_light into the direction.
2. curvature: a 3D point template rotated by yaw, its normalised landmarks as the latent (a
   curved path): two per-side lines against one line over +-30 degrees, error per angle.
3. onnx: the same recovery through a random orthogonal encoder/decoder pair exported to ONNX
   (built with onnx.helper): the plumbing gives the same direction.
4. closed loop: in the landmark space, the step is adjusted until the geometric yaw estimator
   reads the requested angle within 1 degree, from directions fitted on a narrow range.

``python -m benchmarks.latent`` reports them; the tests assert on the same proofs. Not used at
run time (like scikit-learn's ``datasets.make_*``, a generator of known answers).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from animator.authoring.latent import geometry
from animator.authoring.latent.calibrate import calibrate_yaw
from animator.authoring.latent.directions import DirectionFitter, LatentDirections, apply_yaw
from animator.authoring.latent.spaces import LandmarkSpace, OnnxSpace

LIGHTS = ("left", "centre", "right")
EDGES_30 = np.arange(-30.0, 30.1, 5.0)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- 1. leak -------------------------------------------------------------------------------

def leak_data(rng: np.random.Generator, n: int = 8000, dim: int = 64, s: float = 0.05,
              c: float = 1.0, noise: float = 0.1, light_slope_deg: float = 8.0) -> dict:
    """Synthetic latents with a light attribute correlated with yaw.

    Returns embeddings float64[N, D], yaw float64[N] uniform in [-30, 30], groups str[N]
    (left/centre/right: P(right) - P(left) grows with yaw, a logistic of scale
    ``light_slope_deg``), d_yaw and d_light (orthonormal float64[D]).
    """
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    d_yaw, d_light = basis[:, 0], basis[:, 1]
    yaw = rng.uniform(-30.0, 30.0, n)
    p_right = 1.0 / (1.0 + np.exp(-yaw / light_slope_deg))
    p_centre = 0.34
    u = rng.uniform(size=n)
    light = np.where(u < p_centre, 0, np.where(rng.uniform(size=n) < p_right, 1, -1))
    z = (s * yaw[:, None] * d_yaw + c * light[:, None] * d_light
         + noise * rng.standard_normal((n, dim)))
    groups = np.array(LIGHTS)[light + 1]
    return {"embeddings": z, "yaw": yaw, "groups": groups, "d_yaw": d_yaw, "d_light": d_light,
            "s": s}


def direction_scores(directions: LatentDirections, d_yaw: np.ndarray, d_light: np.ndarray
                     ) -> dict:
    """Per side: cosine of the fitted slope with d_yaw, and |cosine| with d_light (leak)."""
    return {fit.side: {"cos_yaw": round(cosine(fit.slope, d_yaw), 4),
                       "leak_light": round(abs(cosine(fit.slope, d_light)), 4)}
            for fit in (directions.positive, directions.negative)}


def leak_proof(seed: int = 0) -> dict:
    data = leak_data(np.random.default_rng(seed))
    fitter = DirectionFitter(bin_edges=EDGES_30)
    out = {}
    for name, match in (("matched", "centre"), ("naive", None)):
        dirs = fitter.fit(data["embeddings"], data["yaw"], data["groups"], match=match)
        out[name] = direction_scores(dirs, data["d_yaw"], data["d_light"])
    return out


# --- 2. curvature ---------------------------------------------------------------------------

def rotated_faces(rng: np.random.Generator, n: int, template: np.ndarray,
                  yaw_range: float = 30.0, identity: float = 0.04, jitter_px: float = 0.3,
                  centre_px=(256.0, 256.0, 0.0), scale_px: float = 100.0) -> dict:
    """Faces (template + per-identity offsets) turned by known yaw, in FaceMesh's pixel frame.

    Returns landmarks_px float64[N, P, 3], yaw float64[N] uniform in +-yaw_range, faces
    float64[N, P, 3] (each identity at yaw 0, face frame)."""
    yaw = rng.uniform(-yaw_range, yaw_range, n)
    faces = template + identity * rng.standard_normal((n, *template.shape))
    pts = np.stack([geometry.denormalise(f @ geometry.yaw_matrix(a).T, np.array(centre_px),
                                         scale_px) for f, a in zip(faces, yaw, strict=True)])
    pts += jitter_px * rng.standard_normal(pts.shape)
    return {"landmarks_px": pts, "yaw": yaw, "faces": faces}


def landmark_setup(seed: int = 0, n: int = 3000, n_points: int = 68) -> dict:
    rng = np.random.default_rng(seed)
    template = geometry.face_template(n_points, rng)
    data = rotated_faces(rng, n, template)
    space = LandmarkSpace(n_points)
    source_face = template + 0.04 * rng.standard_normal(template.shape)
    source_px = geometry.denormalise(source_face, np.array([256.0, 256.0, 0.0]), 100.0)
    return {"template": template, "space": space, "Z": space.encode(data["landmarks_px"]),
            "yaw": data["yaw"], "source_face": source_face, "source_px": source_px}


def turn_errors(directions: LatentDirections, setup: dict, targets) -> list[dict]:
    """Per target: RMS landmark error against the true rotation (face radii) and the yaw the
    geometric estimator reads on the moved landmarks."""
    space = setup["space"]
    z0 = space.encode(setup["source_px"])[0]
    ref = space.decode(z0)[0]
    rows = []
    for t in targets:
        moved = space.decode(apply_yaw(z0, directions, t))[0]
        truth = geometry.normalise(geometry.denormalise(
            setup["source_face"] @ geometry.yaw_matrix(t).T, np.zeros(3), 1.0))[0]
        rms = float(np.sqrt(np.mean(np.sum((moved - truth) ** 2, axis=1))))
        rows.append({"target": float(t), "rms": round(rms, 4),
                     "measured": round(geometry.estimate_yaw_deg(moved, ref), 2)})
    return rows


def curvature_proof(seed: int = 0) -> dict:
    setup = landmark_setup(seed)
    targets = np.arange(-30.0, 30.1, 5.0)
    out = {}
    for name, split in (("two_lines", True), ("one_line", False)):
        dirs = DirectionFitter(bin_edges=EDGES_30, split_sides=split).fit(setup["Z"],
                                                                          setup["yaw"])
        rows = turn_errors(dirs, setup, targets)
        out[name] = {"per_angle": rows,
                     "mean_rms": round(float(np.mean([r["rms"] for r in rows])), 4),
                     "max_yaw_error": round(max(abs(r["measured"] - r["target"])
                                                for r in rows), 2)}
    return out


# --- 3. onnx --------------------------------------------------------------------------------

def orthogonal_onnx_pair(folder: Path, q: np.ndarray, item_shape: tuple[int, ...],
                         offset: float = 0.0) -> tuple[Path, Path]:
    """Write encoder.onnx (x [N, *item] -> (x.flat - offset) @ q, [N, D]) and decoder.onnx
    (z [N, D] -> (z @ q.T + offset) reshaped [N, *item]) for q float[F, D] with orthonormal
    columns."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    f, d = q.shape
    n = "N"

    def save(nodes, inits, inp, out, path):
        graph = helper.make_graph(nodes, path.stem, [inp], [out], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(path))

    enc, dec = folder / "encoder.onnx", folder / "decoder.onnx"
    off = numpy_helper.from_array(np.array(offset, np.float32), "offset")
    save([helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
          helper.make_node("Sub", ["flat", "offset"], ["centred"]),
          helper.make_node("MatMul", ["centred", "q"], ["z"])],
         [numpy_helper.from_array(np.array([-1, f], np.int64), "flat_shape"),
          numpy_helper.from_array(q.astype(np.float32), "q"), off],
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, *item_shape]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [n, d]), enc)
    save([helper.make_node("MatMul", ["z", "qt"], ["centred"]),
          helper.make_node("Add", ["centred", "offset"], ["flat"]),
          helper.make_node("Reshape", ["flat", "item_shape"], ["x"])],
         [numpy_helper.from_array(np.ascontiguousarray(q.T).astype(np.float32), "qt"), off,
          numpy_helper.from_array(np.array([-1, *item_shape], np.int64), "item_shape")],
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [n, d]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, *item_shape]), dec)
    return enc, dec


def onnx_proof(seed: int = 0, folder: Path | None = None) -> dict:
    rng = np.random.default_rng(seed)
    data = leak_data(rng)
    item_shape = (1, 16, 16)
    f = int(np.prod(item_shape))
    q, _ = np.linalg.qr(rng.standard_normal((f, data["embeddings"].shape[1])))
    with tempfile.TemporaryDirectory() as tmp:
        enc, dec = orthogonal_onnx_pair(Path(folder or tmp), q, item_shape)
        space = OnnxSpace(enc, dec)
        images = (data["embeddings"] @ q.T).reshape(-1, *item_shape)
        Z = space.encode(images)
        fitter = DirectionFitter(bin_edges=EDGES_30)
        via = fitter.fit(Z, data["yaw"], data["groups"], match="centre")
        direct = fitter.fit(data["embeddings"], data["yaw"], data["groups"], match="centre")
        z_moved = apply_yaw(Z[0], via, 20.0, data["yaw"][0])
        roundtrip = space.decode(z_moved)
        expected = (direct.positive.slope if data["yaw"][0] >= 0 else direct.negative.slope)
        expected_img = ((data["embeddings"][0] + apply_yaw(np.zeros(space.dim), direct, 20.0,
                                                           data["yaw"][0])) @ q.T)
        return {"cos_via_onnx_vs_direct": round(min(cosine(via.positive.slope,
                                                           direct.positive.slope),
                                                    cosine(via.negative.slope,
                                                           direct.negative.slope)), 6),
                "scores": direction_scores(via, data["d_yaw"], data["d_light"]),
                "decoded_max_abs_error": float(np.abs(roundtrip.ravel() - expected_img).max()),
                "slope_norm": round(float(np.linalg.norm(expected)), 5)}


# --- 4. closed loop -------------------------------------------------------------------------

def _turn_rows(z0, dirs, decode, measure) -> list[dict]:
    """Per target yaw (degrees): what the open-loop step reads, and what the closed loop
    (``calibrate_yaw``) reaches, in how many iterations."""
    rows = []
    for t in (-30.0, -20.0, -8.0, 8.0, 20.0, 30.0):
        open_loop = measure(decode(apply_yaw(z0, dirs, t)))
        res = calibrate_yaw(z0, dirs, decode, measure, t, tol_deg=1.0)
        rows.append({"target": t, "open_loop": round(open_loop, 2),
                     "closed_loop": round(res.measured_deg, 2), "step": round(res.step_deg, 2),
                     "iterations": res.iterations, "converged": res.converged})
    return rows


def closed_loop_proof(seed: int = 0, fit_range: float = 10.0, read_gain: float = 1.0) -> dict:
    """Directions fitted on |yaw| <= fit_range only, then asked for up to +-30 degrees; the
    estimator reads ``read_gain`` times the true yaw (< 1: an under-reading estimator or an
    under-turning decoder, as the mesh-warp probe measured)."""
    setup = landmark_setup(seed)
    space = setup["space"]
    edges = np.arange(-fit_range, fit_range + 0.1, fit_range / 4)
    dirs = DirectionFitter(bin_edges=edges).fit(setup["Z"], setup["yaw"])
    z0 = space.encode(setup["source_px"])[0]
    ref = space.decode(z0)[0]

    def decode(z):
        return space.decode(z)[0]

    def measure(points):
        return read_gain * geometry.estimate_yaw_deg(points, ref)

    rows = _turn_rows(z0, dirs, decode, measure)
    return {"fit_range_deg": fit_range, "read_gain": read_gain, "per_target": rows}


def facemesh_closed_loop_proof(seed: int = 0, n: int = 1500, fit_range: float = 10.0) -> dict:
    """The landmark space on FaceMesh's 478-point topology (keypoints.face's reference face,
    turned with its own rotation and per-identity offsets), measured by an independent
    estimator: keypoints.face's head pose (Umeyama fit on the rigid landmarks)."""
    from animator.core.geometry import rotation_matrix
    from keypoints.face import FaceObservation, load_reference

    rng = np.random.default_rng(seed)
    ref = load_reference().points
    centre, scale, size = np.array([256.0, 256.0, 0.0]), 150.0, (512, 512)

    def to_px(face_world, yaw):
        return geometry.denormalise(face_world @ rotation_matrix(0.0, yaw, 0.0).T, centre,
                                    scale)

    yaw = rng.uniform(-fit_range, fit_range, n)
    faces = ref + 0.01 * rng.standard_normal((n, *ref.shape))
    space = LandmarkSpace(len(ref))
    Z = space.encode(np.stack([to_px(f, a) for f, a in zip(faces, yaw, strict=True)]))
    edges = np.arange(-fit_range, fit_range + 0.1, fit_range / 4)
    dirs = DirectionFitter(bin_edges=edges).fit(Z, yaw)
    source_px = to_px(ref + 0.01 * rng.standard_normal(ref.shape), 0.0)
    z0 = space.encode(source_px)[0]

    def decode(z):
        return space.to_pixels(space.decode(z)[0], source_px)

    def measure(points_px):
        return float(FaceObservation(points_px.astype(np.float32), size).head_pose_deg()[1])

    rows = _turn_rows(z0, dirs, decode, measure)
    return {"fit_range_deg": fit_range, "source_reads": round(measure(source_px), 2),
            "per_target": rows}
