"""Rig-building stages: which images a stage makes, and making them in parallel.

The stages follow the seed face-rig pipeline, with its file layout and messages:

- ``extremes``: every expression at one pose, edited from a neutral portrait;
- ``tilts``: every expression found at a source pose, turned to every other pose;
- ``sequences``: tween frames of every base path at every pose, by recursive midpoint
  subdivision (depth d gives 2**d - 1 tweens; a midpoint is made from its two neighbours,
  which may themselves have been made one level earlier), and the neutral pose sequences
  ``neutral_<rest>_to_neutral_<pose>``;
- ``build``: the three in a row into a rig folder that ``animator.rig.load_rig`` loads.

Planning is pure (no file is written): a stage's plan lists its jobs level by level, the
outputs it leaves alone because they exist, and the steps to run before (copies) and after
(manifests). ``Runner.run`` carries a plan out with a thread pool; every image is written to
a temporary file and renamed, so a killed run leaves no half-written image and a re-run
resumes where it stopped. A backend (animator/authoring/backend.py) only turns images into
an image.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animator.authoring import imagefile
from animator.authoring.backend import RigBackend, TweenJob
from animator.authoring.verify import Expect
from animator.core.outputs import atomic_output, write_text_atomic
from animator.rig import (
    MANIFEST_NAME,
    REST_EXPRESSION,
    RigConfig,
    RigError,
    sequence_dirname,
    sequence_manifest,
    tween_filename,
)

#: The pose the seed's extremes are made at and its neutral pose sequences start from.
REST_POSE = "center"
#: The photo-rig config ``build`` uses by default (the toon backend uses the toon's own).
DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_expressions.json")
MAX_DEPTH = 5  # deeper grids collide in NNN = round(100 t) file names


class RigBuildError(RigError):
    """Bad input to a rig-building stage (a missing portrait or folder, an unknown pose); the
    message names the file or option and the problem."""


# --- images -------------------------------------------------------------------------------

def read_image(path: Path) -> np.ndarray:
    """uint8[H, W, 4] RGBA of an image file (any format Pillow reads)."""
    try:
        return imagefile.read_image(path)
    except imagefile.ImageFileError as exc:
        raise RigBuildError(str(exc)) from None


def write_image(path: Path, rgba: np.ndarray) -> None:
    """Write an RGBA (or RGB) uint8 array atomically, in the format of the path's extension
    (PNG, WebP or JPEG: animator/authoring/imagefile.py)."""
    arr = np.asarray(rgba)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"{path}: backend returned {arr.dtype}{list(arr.shape)}, expected "
                         f"uint8[H, W, 4]")
    imagefile.write_image(path, arr)


def image_ext_for(backend_name: str) -> str:
    """The image format a whole-rig build with ``backend_name`` writes: full-colour lossy
    WebP for the photo warp, lossless PNG for the others (flat colour, transparency, images
    that come from elsewhere)."""
    return ".webp" if backend_name == "warp" else ".png"


# --- plans ----------------------------------------------------------------------------------

@dataclass
class Job:
    """One image to make: ``make`` returns it; it is written to ``dest``."""

    label: str  # what it shows, e.g. "neutral @ tilt_left_small"
    dest: Path
    shown: str  # the output name printed after "->"
    make: Callable[[], np.ndarray]
    expect: Expect | None = None  # what a verifying run measures it against


@dataclass
class Plan:
    """What a stage will do. Jobs of one level may run in parallel; levels run in order."""

    what: str  # e.g. "head-tilted endpoints"
    levels: list[list[Job]] = field(default_factory=list)
    skipped: int = 0  # outputs that exist and are left alone (no --overwrite)
    existing: list[Job] = field(default_factory=list)  # those outputs (verified, not made)
    notes: list[str] = field(default_factory=list)  # warnings printed before running
    before: list[Callable[[], None]] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)

    @property
    def n_jobs(self) -> int:
        return sum(len(level) for level in self.levels)

    def add(self, job: Job, level: list[Job], overwrite: bool) -> None:
        """``job`` into ``level``, or, when its output exists and ``overwrite`` is off, into
        the existing outputs (verified, not made)."""
        if should_make(job.dest, overwrite):
            level.append(job)
        else:
            self.skipped += 1
            self.existing.append(job)


def should_make(dest: Path, overwrite: bool) -> bool:
    return overwrite or not dest.exists()


def endpoint_filename(expr: str, pose: str, ext: str = ".png") -> str:
    return f"{expr}__{pose}{ext}"


def _rel_angles(config: RigConfig, pose: str) -> tuple[float, float, float]:
    """The angles of ``pose`` relative to the rest pose (what the warp renders)."""
    rel = config.pose_angles[pose] - config.pose_angles[rest_pose(config)]
    return tuple(float(a) for a in rel)


def _endpoint_expect(config: RigConfig, expr: str, pose: str) -> Expect:
    return Expect(expr, expr, 0.0, _rel_angles(config, pose),
                  at_rest=pose == rest_pose(config))


def _check_pose(config: RigConfig, pose: str, option: str) -> None:
    if pose not in config.poses:
        raise RigBuildError(f"{option} '{pose}' is not one of the config's poses "
                            f"({', '.join(config.poses)})")


def rest_pose(config: RigConfig) -> str:
    """The pose extremes are made at: ``center`` when the config has it, else its first."""
    return REST_POSE if REST_POSE in config.poses else config.poses[0]


def plan_extremes(config: RigConfig, backend: RigBackend | None, base_image: Path, pose: str,
                  outdir: Path, *, include_neutral: bool = False,
                  overwrite: bool = False, ext: str = ".png") -> Plan:
    """Every expression (``neutral`` only with ``include_neutral``) at ``pose``, each made
    from ``base_image``, the neutral face at that pose."""
    _check_pose(config, pose, "--pose")
    if not Path(base_image).is_file():
        raise RigBuildError(f"{base_image}: base image not found")
    plan = Plan(f"extreme expressions at pose '{pose}'")
    base_cache: list[np.ndarray] = []

    def base() -> np.ndarray:
        if not base_cache:  # a benign race: two threads may both read it once
            base_cache.append(read_image(Path(base_image)))
        return base_cache[0]

    jobs = []
    for expr in config.expressions.values():
        if expr.id == REST_EXPRESSION and not include_neutral:
            continue
        dest = Path(outdir) / endpoint_filename(expr.id, pose, ext)

        def make(expr=expr) -> np.ndarray:
            return backend.expression(base(), expr, pose, config)

        plan.add(Job(f"{expr.id} @ {pose}", dest, dest.name, make,
                     _endpoint_expect(config, expr.id, pose)), jobs, overwrite)
    plan.levels.append(jobs)
    return plan


def plan_tilts(config: RigConfig, backend: RigBackend | None, endpoints_dir: Path, *,
               source_pose: str = REST_POSE, base_neutral: Path | None = None,
               overwrite: bool = False, assume_sources: bool = False,
               ext: str = ".png") -> Plan:
    """Every expression found at ``source_pose`` turned to every other pose.

    An expression missing at the source pose is reported ("Missing source pose for expr
    'X'") and left out, as the seed does, unless ``assume_sources`` (a dry run of a build,
    whose earlier stage makes them). A missing ``neutral`` is copied from ``base_neutral``.
    """
    _check_pose(config, source_pose, "--source-pose")
    endpoints_dir = Path(endpoints_dir)
    plan = Plan("head-tilted endpoints")
    neutral_src = endpoints_dir / endpoint_filename(REST_EXPRESSION, source_pose, ext)
    if base_neutral is not None and not neutral_src.exists():
        if not Path(base_neutral).is_file():
            raise RigBuildError(f"{base_neutral}: base neutral image not found")

        def copy_neutral() -> None:
            endpoints_dir.mkdir(parents=True, exist_ok=True)
            write_image(neutral_src, read_image(Path(base_neutral)))

        plan.before.append(copy_neutral)
        plan.notes.append(f"[i] Copying {base_neutral} -> {neutral_src.name}")
    jobs = []
    for expr in config.expressions.values():
        src = endpoints_dir / endpoint_filename(expr.id, source_pose, ext)
        copied = expr.id == REST_EXPRESSION and bool(plan.before)
        if not (src.exists() or copied or assume_sources):
            plan.notes.append(f"[!] Missing source pose for expr '{expr.id}': {src} not found "
                              f"(make it first with 'animator rig extremes'); skipped")
            continue
        for pose in config.poses:
            if pose == source_pose:
                continue
            dest = endpoints_dir / endpoint_filename(expr.id, pose, ext)

            def make(expr=expr, src=src, pose=pose) -> np.ndarray:
                return backend.pose(read_image(src), expr, source_pose, pose, config)

            plan.add(Job(f"{expr.id} @ {pose}", dest, dest.name, make,
                         _endpoint_expect(config, expr.id, pose)), jobs, overwrite)
    plan.levels.append(jobs)
    return plan


@dataclass(frozen=True)
class _Path:
    """A tween sequence to fill: its folder and the (expression, pose) at t = 0 and 1."""

    path_id: str
    label: str  # how its jobs are named in the output lines
    folder: Path
    start: tuple[str, str]
    end: tuple[str, str]
    manifest_head: dict


def midpoint_levels(depth: int) -> list[list[float]]:
    """Path positions made at each level of recursive midpoint subdivision: level L (from 1)
    adds the odd multiples of 1 / 2**L; depth d gives 2**d - 1 positions in all."""
    if not 0 <= depth <= MAX_DEPTH:
        raise RigBuildError(f"--max-depth must be 0..{MAX_DEPTH} (got {depth})")
    return [[k / 2 ** level for k in range(1, 2 ** level, 2)] for level in range(1, depth + 1)]


def _sequence_paths(config: RigConfig, sequences_dir: Path) -> list[_Path]:
    """Every base path at every pose, then the neutral pose sequences from the rest pose."""
    out = []
    for bp in config.base_paths:
        for pose in config.poses:
            folder = sequences_dir / sequence_dirname(bp.id, pose)
            head = sequence_manifest(bp.id, bp.start, bp.end, pose, [])
            out.append(_Path(bp.id, f"{bp.id} @ {pose}", folder, (bp.start, pose),
                             (bp.end, pose), head))
    rest = rest_pose(config)
    for pose in config.poses:
        if pose == rest:
            continue
        path_id = f"{REST_EXPRESSION}_{rest}_to_{REST_EXPRESSION}_{pose}"
        head = {"path_id": path_id, "expr_start": REST_EXPRESSION,
                "expr_end": REST_EXPRESSION, "pose_start": rest, "pose_end": pose}
        out.append(_Path(path_id, path_id, sequences_dir / path_id, (REST_EXPRESSION, rest),
                         (REST_EXPRESSION, pose), head))
    return out


def plan_sequences(config: RigConfig, backend: RigBackend | None, endpoints_dir: Path,
                   sequences_dir: Path, *, max_depth: int = 2, overwrite: bool = False,
                   assume_endpoints: bool = False, ext: str = ".png",
                   endpoint_copies: bool = True) -> Plan:
    """Tween frames ``NNN.png`` (NNN = round(100 t)) of every sequence, ``000``/``100``
    copies of its endpoints and a ``manifest.json`` listing the frames that exist.

    A sequence whose endpoint images are missing is reported and left out (unless
    ``assume_endpoints``, for a dry run of a build).
    """
    levels_t = midpoint_levels(max_depth)
    endpoints_dir, sequences_dir = Path(endpoints_dir), Path(sequences_dir)
    plan = Plan(f"tween frames (depth {max_depth})")
    plan.levels = [[] for _ in levels_t]
    grid = [0.0] + sorted(t for ts in levels_t for t in ts) + [1.0]
    for sp in _sequence_paths(config, sequences_dir):
        ends = {0.0: endpoints_dir / endpoint_filename(*sp.start, ext),
                1.0: endpoints_dir / endpoint_filename(*sp.end, ext)}
        missing = [str(p) for p in ends.values() if not p.exists()]
        if missing and not assume_endpoints:
            plan.notes.append(f"[!] Missing endpoint for {sp.label}: {', '.join(missing)} "
                              f"not found; skipped")
            continue
        if endpoint_copies:  # the seed's 000/100 copies (the loader does not need them)
            plan.before.append(_copy_ends_step(sp, ends, overwrite, ext))

        def frame(t: float, sp: _Path = sp, ends: dict = ends) -> Path:
            return ends[t] if t in ends else sp.folder / tween_filename(t, ext)

        a0, a1 = (np.array(_rel_angles(config, p)) for p in (sp.start[1], sp.end[1]))
        for level, ts in enumerate(levels_t):
            step = 1.0 / 2 ** (level + 1)
            for t in ts:
                dest = frame(t)
                make = _tween_maker(backend, config, sp, t, frame, t - step, t + step)
                angles = tuple(float(a) for a in (1.0 - t) * a0 + t * a1)
                expect = Expect(sp.start[0], sp.end[0], t, angles, sequence=sp.folder.name)
                plan.add(Job(f"{sp.label} t={t:.2f}", dest, f"{sp.folder.name}/{dest.name}",
                             make, expect), plan.levels[level], overwrite)
        plan.after.append(_manifest_step(sp, grid, ext))
    return plan


def _copy_ends_step(sp: _Path, ends: dict[float, Path], overwrite: bool, ext: str
                    ) -> Callable[[], None]:
    def step() -> None:
        sp.folder.mkdir(parents=True, exist_ok=True)
        for t, src in ends.items():
            dest = sp.folder / tween_filename(t, ext)
            if src.exists() and should_make(dest, overwrite):
                with atomic_output(dest) as tmp:
                    tmp.write_bytes(src.read_bytes())
    return step


def _tween_maker(backend: RigBackend | None, config: RigConfig, sp: _Path, t: float,
                 frame: Callable[[float], Path], t_left: float, t_right: float
                 ) -> Callable[[], np.ndarray]:
    def read_frame(tt: float) -> np.ndarray:
        path = frame(tt)
        if not path.exists():
            raise RigBuildError(f"{path}: neighbour frame missing (it failed or was removed)")
        return read_image(path)

    def make() -> np.ndarray:
        job = TweenJob(sp.path_id, t, sp.start[0], sp.start[1], sp.end[0], sp.end[1],
                       read_frame(0.0), read_frame(1.0), (t_left, read_frame(t_left)),
                       (t_right, read_frame(t_right)))
        return backend.tween(job, config)
    return make


def _manifest_step(sp: _Path, grid: list[float], ext: str) -> Callable[[], None]:
    def step() -> None:
        frames = [{"t": t, "file": tween_filename(t, ext)} for t in grid
                  if (sp.folder / tween_filename(t, ext)).exists()]
        manifest = {**sp.manifest_head, "frames": frames}
        sp.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(sp.folder / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return step
