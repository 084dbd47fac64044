"""Yaw directions in a latent space, fitted through yaw-binned centroids, one line per side.

Pure numerics (numpy) plus the .npz file of the result. Sides follow the angle contract:
``positive`` is yaw > 0 (the character turns towards its own left, the face to the viewer's
right), ``negative`` is yaw < 0; a sample at exactly 0 feeds both sides.

The fit, for one side: keep the samples whose group label equals ``match`` (the attribute
that must not leak into the direction, e.g. the light direction), split them into bins of
increasing |yaw|, take each bin's centroid (K x D) and mean angle (K), and fit
``centroid = intercept + slope * angle`` by weighted least squares over the bins. ``slope``
(D) is the latent step per degree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animator.core.errors import AnimatorError

SIDES: tuple[str, ...] = ("positive", "negative")
WEIGHTINGS: tuple[str, ...] = ("count", "sqrt", "uniform")
FILE_VERSION = 1


class LatentError(AnimatorError, ValueError):
    """Bad input to the latent tools (data, parameters, files, models): a one-line reason."""


def read_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """All arrays of the .npz at ``path`` (no pickles); LatentError "PATH: file not found" or
    "PATH: not a <what> (reason)" otherwise."""
    path = Path(path)
    if not path.is_file():
        raise LatentError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise LatentError(f"{path}: not a {what} ({exc})") from None


@dataclass(frozen=True)
class SideFit:
    """The line fitted for one side.

    slope, intercept: float64[D] (latent units per degree; latent at yaw 0);
    bin_edges: float64[K, 2] signed degrees [lo, hi) of each bin; bin_angles: float64[K] mean
    yaw of each bin's samples; centroids: float64[K, D]; counts: int64[K]; weights: float64[K]
    (normalised to sum 1); residuals: float64[K, D] = centroid - line(angle);
    r2: weighted share of the centroids' variance the line explains (1 = on a line).
    """

    side: str
    slope: np.ndarray
    intercept: np.ndarray
    bin_edges: np.ndarray
    bin_angles: np.ndarray
    centroids: np.ndarray
    counts: np.ndarray
    weights: np.ndarray
    residuals: np.ndarray
    r2: float

    @property
    def rms_residual(self) -> float:
        """Weighted RMS distance of the centroids from the line (latent units)."""
        return float(np.sqrt(np.sum(self.weights * np.sum(self.residuals ** 2, axis=1))))


@dataclass(frozen=True)
class LatentDirections:
    """Both sides' lines, the group they were matched on, and where they came from."""

    positive: SideFit
    negative: SideFit
    match: str | None = None
    space: str = ""

    @property
    def dim(self) -> int:
        return int(self.positive.slope.shape[0])

    def side(self, name: str) -> SideFit:
        if name not in SIDES:
            raise LatentError(f"side must be one of {', '.join(SIDES)}, not {name!r}")
        return self.positive if name == "positive" else self.negative

    def summary(self) -> str:
        lines = [f"latent directions: D = {self.dim}, matched on "
                 f"{self.match if self.match is not None else 'all samples'}"
                 + (f", space {self.space}" if self.space else "")]
        for fit in (self.positive, self.negative):
            lines.append(
                f"  {fit.side:8s}: {len(fit.bin_angles)} bins over "
                f"[{fit.bin_edges[:, 0].min():+.1f}, {fit.bin_edges[:, 1].max():+.1f}] deg, "
                f"{int(fit.counts.sum())} samples, |slope| {np.linalg.norm(fit.slope):.4g}/deg, "
                f"R^2 {fit.r2:.4f}, rms residual {fit.rms_residual:.4g}")
        return "\n".join(lines)

    # --- file -----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write as .npz (atomically; the name gets no extra suffix)."""
        from animator.core.outputs import atomic_output

        arrays: dict[str, np.ndarray] = {
            "version": np.array(FILE_VERSION),
            "match": np.array("" if self.match is None else self.match),
            "has_match": np.array(self.match is not None),
            "space": np.array(self.space),
        }
        for fit in (self.positive, self.negative):
            for key in ("slope", "intercept", "bin_edges", "bin_angles", "centroids", "counts",
                        "weights", "residuals"):
                arrays[f"{fit.side}_{key}"] = getattr(fit, key)
            arrays[f"{fit.side}_r2"] = np.array(fit.r2)
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatentDirections:
        path = Path(path)
        arrays = read_npz(path, "directions .npz")
        if int(arrays.get("version", -1)) != FILE_VERSION:
            raise LatentError(f"{path}: not a latent directions file (version "
                              f"{arrays.get('version', 'missing')}, expected {FILE_VERSION})")
        try:
            fits = {}
            for side in SIDES:
                fits[side] = SideFit(
                    side, *(np.asarray(arrays[f"{side}_{k}"]) for k in (
                        "slope", "intercept", "bin_edges", "bin_angles", "centroids",
                        "counts", "weights", "residuals")),
                    r2=float(arrays[f"{side}_r2"]))
        except KeyError as exc:
            raise LatentError(f"{path}: missing array {exc}") from None
        dims = {fits[s].slope.shape for s in SIDES} | {fits[s].intercept.shape for s in SIDES}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise LatentError(f"{path}: slopes/intercepts are not vectors of one length")
        if not all(np.all(np.isfinite(fits[s].slope)) for s in SIDES):
            raise LatentError(f"{path}: slopes are not finite")
        match = str(arrays["match"]) if bool(arrays.get("has_match", False)) else None
        return cls(fits["positive"], fits["negative"], match=match,
                   space=str(arrays.get("space", "")))


# --- fitting -------------------------------------------------------------------------------

class DirectionFitter:
    """Fits :class:`LatentDirections` (scikit-learn style: parameters here, data in ``fit``).

    bin_width_deg: width of the |yaw| bins of each side, starting at 0 (used when
        ``bin_edges`` is None); max_abs_yaw_deg: samples beyond it are ignored (None: all).
    bin_edges: explicit increasing signed edges in degrees, e.g. [-30, -20, -10, 0, 10, 20,
        30]; each bin [lo, hi) (the last one closed) must lie on one side of 0.
    min_bins: fewest bins a side may have (>= 2: a line needs two points).
    weights: bin weights in the regression: 'count' (samples per bin), 'sqrt', 'uniform'.
    on_empty: 'error' (an empty bin inside the range is an error) or 'drop' (skip it).
    split_sides: True (the method): one line per side; False: one line through the bins of
        both sides (stored as both sides' line; the baseline that bends at large angles).
    """

    def __init__(self, bin_width_deg: float = 5.0, *, bin_edges=None,
                 max_abs_yaw_deg: float | None = None, min_bins: int = 3,
                 weights: str = "count", on_empty: str = "error",
                 split_sides: bool = True) -> None:
        self.bin_width_deg = bin_width_deg
        self.bin_edges = bin_edges
        self.max_abs_yaw_deg = max_abs_yaw_deg
        self.min_bins = min_bins
        self.weights = weights
        self.on_empty = on_empty
        self.split_sides = split_sides

    def _validate_params(self) -> None:
        if self.bin_edges is None:
            w = float(self.bin_width_deg)
            if not np.isfinite(w) or w <= 0:
                raise LatentError(f"bin_width_deg must be a positive number, not {w}")
        else:
            e = np.asarray(self.bin_edges, dtype=np.float64)
            if e.ndim != 1 or len(e) < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
                raise LatentError("bin_edges must be at least 2 finite, strictly increasing "
                                  "angles")
        if self.max_abs_yaw_deg is not None and not float(self.max_abs_yaw_deg) > 0:
            raise LatentError("max_abs_yaw_deg must be positive")
        if int(self.min_bins) != self.min_bins or self.min_bins < 2:
            raise LatentError(f"min_bins must be an integer >= 2, not {self.min_bins}")
        if self.weights not in WEIGHTINGS:
            raise LatentError(f"weights must be one of {', '.join(WEIGHTINGS)}, "
                              f"not {self.weights!r}")
        if self.on_empty not in ("error", "drop"):
            raise LatentError(f"on_empty must be 'error' or 'drop', not {self.on_empty!r}")

    def _side_edges(self, side: str, abs_yaw: np.ndarray) -> np.ndarray:
        """float64[K, 2] signed [lo, hi) edges of the side's bins."""
        sign = 1.0 if side == "positive" else -1.0
        if self.bin_edges is not None:
            e = np.asarray(self.bin_edges, dtype=np.float64)
            pairs = np.stack([e[:-1], e[1:]], axis=1)
            straddle = (pairs[:, 0] < 0) & (pairs[:, 1] > 0)
            if np.any(straddle):
                lo, hi = pairs[straddle][0]
                raise LatentError(f"bin [{lo:g}, {hi:g}) straddles yaw 0: make 0 an edge "
                                  f"(each side is fitted on its own)")
            keep = pairs[:, 0] >= 0 if sign > 0 else pairs[:, 1] <= 0
            return pairs[keep]
        w = float(self.bin_width_deg)
        top = float(abs_yaw.max()) if len(abs_yaw) else 0.0
        n = max(1, int(np.ceil(top / w - 1e-9)))
        mags = np.arange(n + 1) * w
        pairs = np.stack([mags[:-1], mags[1:]], axis=1)
        return pairs if sign > 0 else -pairs[:, ::-1]

    def _bin_side(self, side: str, Z: np.ndarray, yaw: np.ndarray, what: str) -> dict:
        """The side's non-empty bins: edges [K, 2], counts [K], angles [K], centroids [K, D]."""
        on_side = yaw >= 0 if side == "positive" else yaw <= 0
        if self.max_abs_yaw_deg is not None:
            on_side &= np.abs(yaw) <= float(self.max_abs_yaw_deg)
        if not np.any(on_side):
            rel = ">=" if side == "positive" else "<="
            raise LatentError(f"no {what} on the {side} side (yaw {rel} 0): cannot fit that "
                              f"side's direction")
        zs, ys = Z[on_side], yaw[on_side]
        pairs = self._side_edges(side, np.abs(ys))
        if len(pairs) == 0:
            raise LatentError(f"bin_edges have no bin on the {side} side")
        last = len(pairs) - 1
        members = []
        for k, (lo, hi) in enumerate(pairs):
            upper = (ys <= hi) if k == last else (ys < hi)
            members.append(np.flatnonzero((ys >= lo) & upper))
        empty = [(lo, hi) for (lo, hi), m in zip(pairs, members, strict=True) if len(m) == 0]
        if empty and self.on_empty == "error":
            lo, hi = empty[0]
            raise LatentError(
                f"{side} side: {len(empty)} empty yaw bin(s) among {what}, the first "
                f"[{lo:+g}, {hi:+g}) deg: use wider bins, other edges or on_empty='drop'")
        full = [k for k, m in enumerate(members) if len(m)]
        if len(full) < self.min_bins:
            raise LatentError(f"{side} side: only {len(full)} non-empty yaw bin(s) of {what}, "
                              f"at least {self.min_bins} needed: use narrower bins or more data")
        members = [members[k] for k in full]
        counts = np.array([len(m) for m in members], dtype=np.int64)
        return {"edges": pairs[full], "counts": counts,
                "angles": np.array([ys[m].mean() for m in members]),
                "centroids": np.stack([zs[m].mean(axis=0) for m in members])}

    def _bin_weights(self, counts: np.ndarray) -> np.ndarray:
        w = {"count": counts.astype(np.float64), "sqrt": np.sqrt(counts),
             "uniform": np.ones(len(counts))}[self.weights]
        return w / w.sum()

    def fit(self, embeddings, yaw_deg, groups=None, match=None, space: str = ""
            ) -> LatentDirections:
        """Fit both sides.

        embeddings: float[N, D]; yaw_deg: float[N] degrees; groups: labels[N] (e.g. light
        direction 'left'/'centre'/'right') or None; match: the label whose samples feed the fit
        (None: all samples: the naive fit). Returns :class:`LatentDirections` and keeps it as
        ``self.directions_``.
        """
        self._validate_params()
        Z = np.asarray(embeddings, dtype=np.float64)
        yaw = np.asarray(yaw_deg, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] == 0 or Z.shape[1] == 0:
            raise LatentError(f"embeddings must be N x D with N, D >= 1, not shape {Z.shape}")
        if yaw.shape != (Z.shape[0],):
            raise LatentError(f"yaw must have one angle per embedding: shape {yaw.shape}, "
                              f"expected ({Z.shape[0]},)")
        bad = ~np.all(np.isfinite(Z), axis=1) | ~np.isfinite(yaw)
        if np.any(bad):
            raise LatentError(f"{int(bad.sum())} of {len(yaw)} samples have non-finite "
                              f"embeddings or yaw (first: row {int(np.flatnonzero(bad)[0])})")
        what = "samples"
        if match is not None:
            if groups is None:
                raise LatentError(f"match={match!r} needs group labels (one per embedding)")
            labels = np.asarray(groups).astype(str)
            if labels.shape != yaw.shape:
                raise LatentError(f"groups must have one label per embedding: shape "
                                  f"{labels.shape}, expected {yaw.shape}")
            keep = labels == str(match)
            if not np.any(keep):
                known = ", ".join(sorted(set(labels.tolist()))[:10])
                raise LatentError(f"no sample has group {match!r} (groups: {known})")
            Z, yaw = Z[keep], yaw[keep]
            what = f"samples of group {match!r}"
        bins = {side: self._bin_side(side, Z, yaw, what) for side in SIDES}
        if not self.split_sides:  # one line through every bin of both sides (the baseline)
            angles = np.concatenate([bins[s]["angles"] for s in SIDES])
            w_all = self._bin_weights(np.concatenate([bins[s]["counts"] for s in SIDES]))
            slope, intercept, _, r2 = weighted_line_fit(
                angles, np.concatenate([bins[s]["centroids"] for s in SIDES]), w_all)
        fits = {}
        for side in SIDES:
            b = bins[side]
            w = self._bin_weights(b["counts"])
            if self.split_sides:
                slope, intercept, residuals, r2 = weighted_line_fit(b["angles"], b["centroids"],
                                                                    w)
            else:
                residuals = b["centroids"] - (intercept + b["angles"][:, None] * slope)
            if not np.isfinite(r2) or not np.all(np.isfinite(slope)):
                raise LatentError(f"{side} side: the bins' mean angles do not vary: no line")
            fits[side] = SideFit(side, slope, intercept, b["edges"], b["angles"],
                                 b["centroids"], b["counts"], w, residuals, float(r2))
        self.directions_ = LatentDirections(fits["positive"], fits["negative"],
                                            match=None if match is None else str(match),
                                            space=space)
        return self.directions_


def weighted_line_fit(x: np.ndarray, Y: np.ndarray, w: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted least squares ``Y ~ a + x b`` for every column at once.

    x: float[K]; Y: float[K, D]; w: float[K] >= 0 summing to 1.
    Returns slope b float[D], intercept a float[D], residuals float[K, D], and R^2 (the weighted
    share of Y's variance about its mean that the line explains, pooled over columns).
    """
    xm = float(np.sum(w * x))
    ym = w @ Y
    dx = x - xm
    sxx = float(np.sum(w * dx * dx))
    if sxx <= 0:
        nan = np.full(Y.shape[1], np.nan)
        return nan, nan, np.full_like(Y, np.nan), float("nan")
    slope = (w * dx) @ (Y - ym) / sxx
    intercept = ym - xm * slope
    residuals = Y - (intercept + x[:, None] * slope)
    ss_res = float(np.sum(w * np.sum(residuals ** 2, axis=1)))
    ss_tot = float(np.sum(w * np.sum((Y - ym) ** 2, axis=1)))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return slope, intercept, residuals, r2


# --- applying ------------------------------------------------------------------------------

def yaw_step(directions: LatentDirections, target_deg: float, source_yaw_deg: float = 0.0
             ) -> np.ndarray:
    """float64[D]: the latent displacement that turns a face from ``source_yaw_deg`` to
    ``target_deg``: each side's slope times the part of the way that lies on that side (a move
    across 0 uses both lines)."""
    s, t = float(source_yaw_deg), float(target_deg)
    if not (np.isfinite(s) and np.isfinite(t)):
        raise LatentError(f"angles must be finite (source {s}, target {t})")
    step = np.zeros(directions.dim)
    pos_part = max(t, 0.0) - max(s, 0.0)
    neg_part = min(t, 0.0) - min(s, 0.0)
    if pos_part:
        step += directions.positive.slope * pos_part
    if neg_part:
        step += directions.negative.slope * neg_part
    return step


def apply_yaw(z, directions: LatentDirections, target_deg: float,
              source_yaw_deg: float = 0.0) -> np.ndarray:
    """``z`` (float[D] or float[N, D]) moved along the side directions from ``source_yaw_deg``
    to ``target_deg``: ``z + slope * angle`` (per side)."""
    z = np.asarray(z, dtype=np.float64)
    if z.shape[-1:] != (directions.dim,):
        raise LatentError(f"latent of shape {z.shape} does not match the directions' D = "
                          f"{directions.dim}")
    return z + yaw_step(directions, target_deg, source_yaw_deg)
