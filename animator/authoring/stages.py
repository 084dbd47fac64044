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
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animator.authoring import imagefile
from animator.authoring.backend import RigBackend, TweenJob
from animator.authoring.verify import Expect, Verifier, VerifyError
from animator.core import shutdown
from animator.core.outputs import atomic_output, refuse_inputs, write_text_atomic
from animator.rig import (
    CONFIG_NAME,
    ENDPOINTS_DIR,
    IMAGE_FORMAT_KEY,
    MANIFEST_NAME,
    MOUTH_CHART_KEY,
    REST_EXPRESSION,
    SEQUENCES_DIR,
    RigConfig,
    RigError,
    layer_relpaths,
    load_rig,
    sequence_dirname,
    sequence_manifest,
    tween_filename,
)

#: The pose the seed's extremes are made at and its neutral pose sequences start from.
REST_POSE = "center"
#: The photo-rig config ``build`` uses by default (the toon backend uses the toon's own).
DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_expressions.json")
#: The config of ``rig build --mouth-chart``: the rest face and a blink at five poses.
MOUTH_CHART_CONFIG_PATH = Path(__file__).with_name("mouth_chart_expressions.json")
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


def _wants(dest: Path, overwrite: bool) -> bool:
    return overwrite or not dest.exists()


def _endpoint_name(expr: str, pose: str, ext: str = ".png") -> str:
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
        dest = Path(outdir) / _endpoint_name(expr.id, pose, ext)

        def make(expr=expr) -> np.ndarray:
            return backend.expression(base(), expr, pose, config)

        job = Job(f"{expr.id} @ {pose}", dest, dest.name, make,
                  _endpoint_expect(config, expr.id, pose))
        if not _wants(dest, overwrite):
            plan.skipped += 1
            plan.existing.append(job)
            continue
        jobs.append(job)
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
    neutral_src = endpoints_dir / _endpoint_name(REST_EXPRESSION, source_pose, ext)
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
        src = endpoints_dir / _endpoint_name(expr.id, source_pose, ext)
        copied = expr.id == REST_EXPRESSION and bool(plan.before)
        if not (src.exists() or copied or assume_sources):
            plan.notes.append(f"[!] Missing source pose for expr '{expr.id}': {src} not found "
                              f"(make it first with 'animator rig extremes'); skipped")
            continue
        for pose in config.poses:
            if pose == source_pose:
                continue
            dest = endpoints_dir / _endpoint_name(expr.id, pose, ext)

            def make(expr=expr, src=src, pose=pose) -> np.ndarray:
                return backend.pose(read_image(src), expr, source_pose, pose, config)

            job = Job(f"{expr.id} @ {pose}", dest, dest.name, make,
                      _endpoint_expect(config, expr.id, pose))
            if not _wants(dest, overwrite):
                plan.skipped += 1
                plan.existing.append(job)
                continue
            jobs.append(job)
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
        ends = {0.0: endpoints_dir / _endpoint_name(*sp.start, ext),
                1.0: endpoints_dir / _endpoint_name(*sp.end, ext)}
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
                job = Job(f"{sp.label} t={t:.2f}", dest, f"{sp.folder.name}/{dest.name}", make,
                          expect)
                if not _wants(dest, overwrite):
                    plan.skipped += 1
                    plan.existing.append(job)
                    continue
                plan.levels[level].append(job)
        plan.after.append(_manifest_step(sp, grid, ext))
    return plan


def _copy_ends_step(sp: _Path, ends: dict[float, Path], overwrite: bool, ext: str
                    ) -> Callable[[], None]:
    def step() -> None:
        sp.folder.mkdir(parents=True, exist_ok=True)
        for t, src in ends.items():
            dest = sp.folder / tween_filename(t, ext)
            if src.exists() and _wants(dest, overwrite):
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


# --- running -----------------------------------------------------------------------------

@dataclass
class Tally:
    success: int = 0
    failed: int = 0
    check_failed: bool = False  # the finished rig failed its check (a verifying build)

    def __iadd__(self, other: Tally) -> Tally:
        self.success += other.success
        self.failed += other.failed
        self.check_failed = self.check_failed or other.check_failed
        return self

    def done_line(self) -> str:
        return f"[i] Done. Success: {self.success}, Failed: {self.failed}"

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.check_failed


def _stdout_log(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stdout)  # keeps a progress bar on stderr intact
    sys.stdout.flush()


def _reason(exc: BaseException) -> str:
    """One line for a failed job: the message of our errors, type + message otherwise."""
    text = " ".join(str(exc).split())
    if type(exc).__module__ == "builtins" or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


@dataclass
class Runner:
    """Carries plans out: ``max_workers`` threads (1 for a backend that is not thread
    safe), one line per job, a progress bar on a terminal. With a ``verifier`` every image is
    measured before it is written (a bad one fails with the reason and is not written), and
    images a plan leaves alone because they exist are measured too."""

    backend: RigBackend
    max_workers: int = 4
    progress: bool = True
    log: Callable[[str], None] = _stdout_log
    #: files the run reads (portrait, config, ...): no job may write over one of them
    inputs: tuple[Path, ...] = ()
    verifier: Verifier | None = None

    def _execute(self, job: Job) -> None:
        image = job.make()
        if self.verifier is not None and job.expect is not None:
            self.verifier.check(job.shown, np.asarray(image), job.expect)
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        write_image(job.dest, image)

    def _verify_existing(self, job: Job) -> None:
        self.verifier.check(job.shown, read_image(job.dest), job.expect)

    def run(self, plan: Plan) -> Tally:
        from tqdm import tqdm

        refuse_inputs([job.dest for level in plan.levels for job in level], self.inputs)

        for note in plan.notes:
            self.log(note)
        if plan.skipped:
            self.log(f"[i] Skipping {plan.skipped} existing images (--overwrite redoes them)")
        for step in plan.before:
            step()
        workers = max(1, self.max_workers if getattr(self.backend, "thread_safe", False)
                      else 1)
        if plan.n_jobs:
            self.log(f"[i] Generating {plan.n_jobs} {plan.what} with {workers} workers...")
        else:
            self.log(f"[i] No {plan.what} to make")
        tally = Tally()
        existing = [j for j in plan.existing if j.expect is not None] if self.verifier else []
        bar = tqdm(total=plan.n_jobs + len(existing), unit="img",
                   disable=not (self.progress and sys.stderr.isatty()))
        pool = ThreadPoolExecutor(workers)
        try:
            if existing:
                futures = {pool.submit(self._verify_existing, job): job for job in existing}
                for fut in as_completed(futures):
                    job, exc = futures[fut], fut.exception()
                    if exc is not None:
                        tally.failed += 1
                        self.log(f"[✗] {job.label} -> {job.shown} (existing): {_reason(exc)}")
                    bar.update(1)
            for level in plan.levels:
                futures = {pool.submit(self._execute, job): job for job in level}
                for fut in as_completed(futures):
                    shutdown.check()  # SIGTERM: stop like Ctrl-C (finished images are kept)
                    job, exc = futures[fut], fut.exception()
                    if exc is None:
                        tally.success += 1
                        self.log(f"[✓] {job.label} -> {job.shown}")
                    else:
                        tally.failed += 1
                        self.log(f"[✗] {job.label} -> {job.shown}: {_reason(exc)}")
                    bar.update(1)
        finally:
            bar.close()
            pool.shutdown(wait=True, cancel_futures=True)
        for step in plan.after:
            step()
        return tally


# --- the whole rig --------------------------------------------------------------------------

def plan_layers(config: RigConfig, backend, outdir: Path, *, ext: str,
                overwrite: bool = False) -> Plan:
    """The head layer of every pose (``layers/``: matte and clean plate, see
    animator/authoring/head_layer.py), for a backend that makes them."""
    plan = Plan("head layers")
    jobs = []
    for pose in config.poses:
        for kind, rel in zip(("matte", "plate"), layer_relpaths(pose, ext), strict=True):
            dest = Path(outdir) / rel

            def make(pose=pose, kind=kind) -> np.ndarray:
                layer = backend.head_layer(pose)
                return layer.matte[..., None] if kind == "matte" else layer.plate

            job = Job(f"head {kind} @ {pose}", dest, rel, make)
            if not _wants(dest, overwrite):
                plan.skipped += 1
                continue
            jobs.append(job)
    plan.levels.append(jobs)
    return plan


def _config_text(config_path: Path, ext: str, mouth_chart: dict | None = None) -> str:
    """The rig's expressions.json: the build's config, with the image format when it is not
    the seed's PNG and the mouth chart's measured placement."""
    text = Path(config_path).read_text(encoding="utf-8")
    if ext == ".png" and mouth_chart is None:
        return text
    raw = json.loads(text)
    if ext != ".png":
        raw[IMAGE_FORMAT_KEY] = ext.lstrip(".")
    if mouth_chart is not None:
        raw[MOUTH_CHART_KEY] = mouth_chart
    return json.dumps(raw, indent=2) + "\n"


def _build_mouth_chart(backend, config: RigConfig, outdir: Path, pose: str, ext: str,
                       runner: Runner):
    """The mouths of a mouth chart (animator/authoring/mouth_chart.py) into ``outdir``; the
    ChartResult, or None after logging why it failed."""
    from animator.authoring.mouth_chart import (
        MouthChartError,
        build_chart,
        mouth_files,
        write_mouths,
    )

    runner.log("[i] Mouth chart: mouths A-F and X at the rest pose, placed on every pose")
    if not hasattr(backend, "face_image"):
        raise RigBuildError(f"a mouth chart is drawn by the warp backend, not "
                            f"'{getattr(backend, 'name', backend)}'")
    refuse_inputs([outdir / rel for rel in mouth_files(ext).values()], runner.inputs)
    bases = {p: read_image(outdir / ENDPOINTS_DIR / _endpoint_name(REST_EXPRESSION, p, ext))
             for p in config.poses}
    try:
        result = build_chart(backend, config, bases, pose)
    except MouthChartError as exc:
        runner.log(f"[✗] {exc}")
        return None
    write_mouths(outdir, result, ext, write_image)
    opens = ", ".join(f"{r['shape']} {r['open']:.2f}" for r in result.records)
    runner.log(f"[✓] mouths (measured openings: {opens})")
    return result


def _endpoint_records(config: RigConfig, verifier: Verifier, ext: str) -> list[dict]:
    """The verifier's records of every endpoint, in the shape ``check.summarise`` takes."""
    out = []
    for expr in config.expressions:
        for pose in config.poses:
            rec = verifier.records.get(_endpoint_name(expr, pose, ext))
            if rec is None:
                rec = {"face": False, "error_deg": None, "open": None}
            out.append({**rec, "expr": expr, "pose": pose})
    return out


def build_rig(config_path: Path, portrait: Path, outdir: Path, runner: Runner, *,
              max_depth: int = 2, overwrite: bool = False, verify: bool = True,
              endpoint_copies: bool = True) -> Tally:
    """All stages into ``outdir`` (endpoints/, sequences/, layers/); ``expressions.json`` is
    written last, and only when nothing failed (and, with ``verify``, the rig passed its
    check), so a folder holding it is a complete rig (checked by loading it). A re-run makes
    only what is missing.

    A backend with ``prepare`` (warp) gets the portrait first and may refuse it (no human
    face) before anything is written; its ``image_ext`` sets the image format; with
    ``head_layer`` it makes the head layers. ``verify`` measures every image as it is made
    (backends whose images FaceMesh can read: ``verifiable``). ``endpoint_copies``: write
    the seed's 000/100 copies of the endpoints into every sequence folder.
    """
    config = RigConfig.load(config_path)
    outdir = Path(outdir)
    if not Path(portrait).is_file():
        raise RigBuildError(f"{portrait}: portrait not found")
    backend = runner.backend
    pose = rest_pose(config)
    prepare = getattr(backend, "prepare", None)
    if prepare is not None:
        prepare(Path(portrait), config, pose)  # may refuse the portrait: nothing written yet
    ext = getattr(backend, "image_ext", ".png")
    endpoints, sequences = outdir / ENDPOINTS_DIR, outdir / SEQUENCES_DIR
    verifier = None
    if verify and getattr(backend, "verifiable", False):
        reference = backend.portrait if prepare is not None else read_image(Path(portrait))
        try:
            verifier = Verifier(config, reference,
                                lambda e: endpoints / _endpoint_name(e, pose, ext), read_image)
        except VerifyError as exc:
            raise RigBuildError(f"{portrait}: {exc}") from None
    elif verify:
        runner.log(f"[i] {getattr(backend, 'name', 'this')} backend: its images are not "
                   f"measured (FaceMesh cannot read them)")
    endpoints.mkdir(parents=True, exist_ok=True)
    runner.verifier = verifier
    tally = Tally()
    try:
        runner.log("[i] Stage 1/3: extreme expressions")
        tally += runner.run(plan_extremes(config, backend, portrait, pose, endpoints,
                                          include_neutral=True, overwrite=overwrite, ext=ext))
        runner.log("[i] Stage 2/3: head poses")
        tally += runner.run(plan_tilts(config, backend, endpoints, source_pose=pose,
                                       overwrite=overwrite, ext=ext))
        runner.log("[i] Stage 3/3: tween sequences")
        tally += runner.run(plan_sequences(config, backend, endpoints, sequences,
                                           max_depth=max_depth, overwrite=overwrite, ext=ext,
                                           endpoint_copies=endpoint_copies))
        if hasattr(backend, "head_layer") and prepare is not None:
            runner.log("[i] Head layers (matte and clean plate per pose)")
            tally += runner.run(plan_layers(config, backend, outdir, ext=ext,
                                            overwrite=overwrite))
        chart = None
        if tally.failed == 0 and config.mouth_chart is not None:
            chart = _build_mouth_chart(backend, config, outdir, pose, ext, runner)
            tally += Tally(1, 0) if chart is not None else Tally(0, 1)
        if tally.failed == 0 and verifier is not None:
            summary = verifier.summary(_endpoint_records(config, verifier, ext))
            refuse_inputs([outdir / "check.json"], runner.inputs)
            write_text_atomic(outdir / "check.json", json.dumps(
                {"rig": str(outdir), "summary": summary,
                 "images": sorted(verifier.records.values(), key=lambda r: r["image"]),
                 **({"mouth_chart": chart.records} if chart is not None else {})},
                indent=2) + "\n")
            runner.log(f"[i] Check: {_summary_line(summary)}")
            tally.check_failed = not summary["passed"]
    finally:
        runner.verifier = None
        if verifier is not None:
            verifier.close()
    if tally.ok:
        refuse_inputs([outdir / CONFIG_NAME], runner.inputs)
        write_text_atomic(outdir / CONFIG_NAME, _config_text(
            Path(config_path), ext, None if chart is None else chart.placement))
        load_rig(outdir)  # the contract holds, or RigError says where it breaks
        runner.log(f"[i] Rig ready: {outdir}")
    elif tally.failed:
        runner.log(f"[!] {tally.failed} images failed; {CONFIG_NAME} not written. Run the "
                   f"same command again to retry only the missing images.")
    else:
        runner.log(f"[✗] The rig failed its check; {CONFIG_NAME} not written (see "
                   f"{outdir / 'check.json'}; --no-verify builds it anyway)")
    return tally


def _summary_line(summary: dict) -> str:
    med = summary["median_abs_pose_error_deg"]
    worst = summary["max_abs_pose_error_deg"]
    parts = [f"median |pose error| pitch {med['pitch']}, yaw {med['yaw']}, roll {med['roll']} "
             f"deg (max {worst['pitch']}, {worst['yaw']}, {worst['roll']})",
             "mouth order " + ("ok" if summary["mouth_order_ok"]
                               else f"WRONG {summary['mouth_order_wrong']}")]
    if summary["endpoints_without_face"]:
        parts.append(f"no face in {', '.join(summary['endpoints_without_face'])}")
    if summary["tween_order_wrong"]:
        parts.append(f"tweens out of order in {', '.join(summary['tween_order_wrong'])}")
    return "; ".join(parts) + (" -> PASSED" if summary["passed"] else " -> FAILED")


def plan_build(config_path: Path, portrait: Path, outdir: Path, *, max_depth: int = 2,
               overwrite: bool = False, ext: str = ".png", layers: bool = False) -> list[Plan]:
    """The plans of ``build_rig`` without running anything (for --dry-run): later stages
    assume the images of earlier ones; ``layers``: the backend makes head layers too."""
    config = RigConfig.load(config_path)
    outdir = Path(outdir)
    endpoints, sequences = outdir / ENDPOINTS_DIR, outdir / SEQUENCES_DIR
    pose = rest_pose(config)
    return [plan_extremes(config, None, portrait, pose, endpoints, include_neutral=True,
                          overwrite=overwrite, ext=ext),
            plan_tilts(config, None, endpoints, source_pose=pose, overwrite=overwrite,
                       assume_sources=True, ext=ext),
            plan_sequences(config, None, endpoints, sequences, max_depth=max_depth,
                           overwrite=overwrite, assume_endpoints=True, ext=ext),
            *([plan_layers(config, None, outdir, ext=ext, overwrite=overwrite)] if layers
              else [])]


def dry_run_lines(plans: list[Plan], backend_name: str, size: str, quality: str) -> list[str]:
    """What a run would do: image counts per stage and, for the openai backend, the cost."""
    lines = [f"[dry-run] {p.what}: {p.n_jobs} to make, {p.skipped} existing" for p in plans]
    n = sum(p.n_jobs for p in plans)
    if backend_name == "openai":
        from animator.authoring.openai_backend import MODEL, PRICE_ASSUMPTION, price_per_image

        price = price_per_image(size, quality)
        lines.append(f"[dry-run] {n} API calls to {MODEL} ({size}, quality {quality}): "
                     f"about ${n * price:.2f} at ${price:.3f} per image")
        lines.append(f"[dry-run] assumption: {PRICE_ASSUMPTION}")
    else:
        lines.append(f"[dry-run] {n} images with the offline '{backend_name}' backend "
                     f"(no API calls, no cost)")
    return lines


def default_config_path(backend_name: str) -> Path:
    """The config ``build`` uses without --config: the toon's for the toon backend, the
    photo-rig default otherwise."""
    if backend_name == "toon":
        from animator.authoring.toon import CONFIG_PATH

        return CONFIG_PATH
    return DEFAULT_CONFIG_PATH


def make_backend(name: str, *, size: str = "1024x1536", quality: str = "high",
                 max_attempts: int = 5, directions: str | None = None,
                 encoder: str | None = None, decoder: str | None = None,
                 pca: str | None = None, image_size: int = 512,
                 crop: bool = True) -> RigBackend:
    """The backend called ``name`` (warp, openai, toon, latent), imported only when asked
    for. ``latent`` turns yaw along fitted ``directions`` in the space given by an ONNX
    ``encoder``/``decoder`` pair or a ``pca`` file (default: FaceMesh landmarks); it leaves
    expressions and tweens to the warp backend."""
    if name == "latent":
        if directions is None:
            raise RigBuildError("--backend latent needs --directions DIRS.npz (fit them with "
                                "'animator rig latent fit')")
        from animator.authoring.latent_backend import LatentBackend
        from animator.authoring.warp import WarpBackend

        return LatentBackend.from_files(directions, encoder=encoder, decoder=decoder, pca=pca,
                                        landmarks=not (encoder or decoder or pca),
                                        delegate=WarpBackend())
    if name == "toon":
        from animator.authoring.toon_backend import ToonBackend

        return ToonBackend()
    if name == "openai":
        from animator.authoring.openai_backend import OpenAIBackend

        return OpenAIBackend(size=size, quality=quality, max_attempts=max_attempts)
    if name == "warp":
        from animator.authoring.warp import WarpBackend

        return WarpBackend(size_px=image_size, crop=crop)
    raise RigBuildError(f"--backend {name}: unknown backend (warp, openai, toon, latent)")
