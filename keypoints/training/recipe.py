"""``python -m keypoints.training --out assets/models/mappingnet.onnx``: the whole recipe of the
learned MappingNet, seeded: synthesise the corpus (espeak-ng), train LipNet (torch, CPU),
export to ONNX under the contract, check the file against torch, and write a JSON report
next to the model (``<out stem>.train.json``: recipe, settings, loss curve, timings) that
``python -m benchmarks.mappingnet --readme`` turns into assets/models/README.md.

Dev only: needs the ``train`` extra (torch==2.13.0) and onnx<1.23; espeak-ng (Debian
espeak-ng, libespeak-ng1).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from keypoints.assets import assets_dir

DESCRIPTION = ("LipNet: dilated CNN over log-mel, trained on a synthetic espeak-ng corpus "
               "(keypoints.training)")


def report_path(out: Path) -> Path:
    return out.with_name(out.stem + ".train.json")


def run(out: Path, recipe, settings, net_config, workers: int = 2, log=print) -> dict:
    """Corpus -> training -> ONNX at ``out``; returns (and writes) the report dict."""
    import torch

    from keypoints.corpus import dataset
    from keypoints.corpus.visemes import KEYPOINT_NAMES, rest_keypoints
    from keypoints.training.data import build_examples, mel_statistics, pad_context
    from keypoints.training.export import check_against_torch, contract_metadata, write_onnx
    from keypoints.training.fit import fit
    from keypoints.training.model import LipNet

    t0 = time.perf_counter()
    real = []  # first: a clip list that is refused stops the run before the corpus is made
    if recipe.real_clips and recipe.real_copies > 0:
        from keypoints.training.real import real_examples

        real = real_examples(recipe.real_clips, recipe.real_copies, recipe.seed)
        log(f"real: {len(recipe.real_clips)} clips x {recipe.real_copies} copies")
    examples = build_examples(recipe, workers)
    n_val = max(1, len(examples) // 25)
    val_idx = set(range(0, len(examples), max(1, len(examples) // n_val)))
    train = [e for i, e in enumerate(examples) if i not in val_idx]
    train += real  # never in the held-out loss: the real clips are few and copied
    val = [e for i, e in enumerate(examples) if i in val_idx]
    t_corpus = time.perf_counter() - t0
    frames = sum(e.keypoints.shape[0] for e in examples)
    speech_frames = sum(int(e.speech.sum()) for e in examples)
    voices = sorted({e.info["voice"]["voice"] for e in examples if "voice" in e.info})
    log(f"corpus: {len(examples)} recordings, {frames / 360000:.2f} h, "
        f"{speech_frames / frames:.0%} speech, {len(voices)} voices, {t_corpus:.0f} s")

    mean, std = mel_statistics(train)
    torch.manual_seed(settings.seed)
    model = LipNet(net_config, mean, std, rest_keypoints())
    t1 = time.perf_counter()
    curve = fit(model, train, val, dataset.FEATURES.silence_value, settings, log)
    t_train = time.perf_counter() - t1

    meta = contract_metadata(model, dataset.FEATURES, KEYPOINT_NAMES, DESCRIPTION)
    t2 = time.perf_counter()
    write_onnx(model, meta, out)
    probe = pad_context(val[0].features[:, :500], net_config.context_past,
                        net_config.context_future, dataset.FEATURES.silence_value)
    max_diff = check_against_torch(model, out, probe)
    if not max_diff < 1e-3:
        raise RuntimeError(f"onnxruntime and torch differ by {max_diff} on {out}")
    t_export = time.perf_counter() - t2
    report = {
        "model": str(out.name),
        "description": DESCRIPTION,
        "recipe": recipe.to_dict(),
        "settings": settings.to_dict(),
        "net": {**net_config.to_dict(), "receptive_field": net_config.receptive_field,
                "context_past": net_config.context_past,
                "parameters": int(sum(p.numel() for p in model.parameters()
                                      if p.requires_grad))},
        "corpus": {"recordings": len(examples), "train": len(train), "val": len(val),
                   "hours": round(frames / 360000, 3),
                   "speech_share": round(speech_frames / frames, 3),
                   "real_clips_s": round(sum(e.keypoints.shape[0] for e in real)
                                         / max(1, recipe.real_copies) / 100, 2),
                   "real_frames": sum(e.keypoints.shape[0] for e in real),
                   "voices": voices,
                   "languages": sorted({dataset.language_of(v) for v in voices})},
        "curve": curve,
        "onnx": {"bytes": out.stat().st_size, "max_abs_diff_vs_torch": max_diff,
                 "sha256": hashlib.sha256(out.read_bytes()).hexdigest()},
        "timings_s": {"corpus": round(t_corpus, 1), "train": round(t_train, 1),
                      "export": round(t_export, 1),
                      "total": round(time.perf_counter() - t0, 1)},
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
    }
    report_path(out).write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    # as keypoints.viseme_training: threads that spin while they wait slow torch on busy cores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from keypoints.training.data import CorpusRecipe
    from keypoints.training.fit import TrainSettings
    from keypoints.training.model import LipNetConfig
    from keypoints.training.options import chosen, recipe_parser

    default_out = assets_dir() / "models" / "mappingnet.onnx"
    parser = recipe_parser("python -m keypoints.training", __doc__, default_out)
    args = parser.parse_args(argv)
    recipe, settings = chosen(args, CorpusRecipe(seed=args.seed), TrainSettings(seed=args.seed))
    report = run(args.out, recipe, settings, LipNetConfig(), args.workers)
    print(json.dumps({"model": str(args.out), **report["timings_s"]}))
    return 0
