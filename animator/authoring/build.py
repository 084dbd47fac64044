"""The whole rig in one command (``animator rig build``): the stages in a row into a rig
folder, verified as it is made; ``expressions.json`` is written last and only for a rig that
passes its check. Also the backends by name and the dry-run summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from animator.authoring.backend import RigBackend
from animator.authoring.plans import (
    DEFAULT_CONFIG_PATH,
    Job,
    Plan,
    RigBuildError,
    endpoint_filename,
    plan_extremes,
    plan_sequences,
    plan_tilts,
    read_image,
    rest_pose,
    should_make,
)
from animator.authoring.runner import Runner, Tally
from animator.authoring.verify import Verifier, VerifyError
from animator.core.outputs import refuse_inputs, write_text_atomic
from animator.rig import (
    CONFIG_NAME,
    ENDPOINTS_DIR,
    IMAGE_FORMAT_KEY,
    MOUTH_CHART_KEY,
    SEQUENCES_DIR,
    RigConfig,
    layer_relpaths,
    load_rig,
)

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
            if not should_make(dest, overwrite):
                plan.skipped += 1
                continue
            jobs.append(job)
    plan.levels.append(jobs)
    return plan


def rig_config_text(config_path: Path, ext: str, mouth_chart: dict | None = None) -> str:
    """The rig's expressions.json: the build's config, with the image format when it is not
    the seed's PNG and a mouth chart's measured placement."""
    text = Path(config_path).read_text(encoding="utf-8")
    if ext == ".png" and mouth_chart is None:
        return text
    raw = json.loads(text)
    if ext != ".png":
        raw[IMAGE_FORMAT_KEY] = ext.lstrip(".")
    if mouth_chart is not None:
        raw[MOUTH_CHART_KEY] = mouth_chart
    return json.dumps(raw, indent=2) + "\n"


def _endpoint_records(config: RigConfig, verifier: Verifier, ext: str) -> list[dict]:
    """The verifier's records of every endpoint, in the shape ``check.summarise`` takes."""
    out = []
    for expr in config.expressions:
        for pose in config.poses:
            rec = verifier.records.get(endpoint_filename(expr, pose, ext))
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
                                lambda e: endpoints / endpoint_filename(e, pose, ext), read_image)
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
            from animator.authoring.mouth_chart import make_mouth_chart

            chart = make_mouth_chart(backend, config, outdir, pose, ext, runner)
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
        write_text_atomic(outdir / CONFIG_NAME, rig_config_text(
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
