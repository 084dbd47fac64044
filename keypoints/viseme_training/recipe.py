"""``python -m keypoints.viseme_training --out assets/models/visemes.onnx``: the whole recipe
of the mouth-shape model, seeded: speak the corpus again with every phoneme kept (espeak-ng),
train ShapeNet (torch, CPU), export to ONNX under the viseme contract, check it against torch,
and write ``<out stem>.train.json`` (recipe, settings, curve, timings, sha256).

Dev only: needs the ``train`` extra (torch==2.13.0), onnx<1.23 and espeak-ng.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from keypoints.assets import assets_dir

DESCRIPTION = ("ShapeNet: dilated CNN over log-mel -> Rhubarb's nine mouth shapes (A-H, X), "
               "trained on a synthetic espeak-ng corpus (keypoints.viseme_training)")


def run(out: Path, recipe, settings, net_config, workers: int = 2, log=print) -> dict:
    import torch

    from keypoints.corpus import dataset
    from keypoints.viseme_training import festival
    from keypoints.viseme_training.data import build_examples
    from keypoints.viseme_training.export import check_against_torch, metadata, write_onnx
    from keypoints.viseme_training.fit import fit, pad_context
    from keypoints.viseme_training.model import ShapeNet

    t0 = time.perf_counter()
    examples = build_examples(recipe, workers)
    t_corpus = time.perf_counter() - t0
    val_idx = set(range(0, len(examples), 25))
    train = [e for i, e in enumerate(examples) if i not in val_idx]
    val = [e for i, e in enumerate(examples) if i in val_idx]
    if recipe.real_clips and recipe.real_copies > 0:
        from keypoints.viseme_training.real import real_examples

        train += real_examples(recipe.real_clips, recipe.real_copies, recipe.seed)
        log(f"real: {len(recipe.real_clips)} clips x {recipe.real_copies} copies")
    frames = sum(len(e.canonical) for e in examples)
    log(f"corpus: {len(examples)} recordings, {frames / 360000:.2f} h, {t_corpus:.0f} s")
    feats = np.concatenate([e.features for e in train], axis=1).astype(np.float64)
    mean, std = feats.mean(axis=1), np.maximum(feats.std(axis=1), 1e-3)
    del feats
    torch.manual_seed(settings.seed)
    model = ShapeNet(net_config, mean, std)
    t1 = time.perf_counter()
    silence = dataset.FEATURES.silence_value
    curve = fit(model, train, val, silence, settings, log)
    t_train = time.perf_counter() - t1
    meta = metadata(model, dataset.FEATURES, DESCRIPTION)
    write_onnx(model, meta, out)
    probe = pad_context(val[0].features[:, :500], net_config.context_past,
                        net_config.context_future, silence)
    max_diff = check_against_torch(model, out, probe)
    if not max_diff < 1e-4:
        raise RuntimeError(f"onnxruntime and torch differ by {max_diff} on {out}")
    report = {
        "model": out.name, "description": DESCRIPTION, "recipe": recipe.to_dict(),
        "settings": settings.to_dict(),
        "net": {**net_config.to_dict(), "receptive_field": net_config.receptive_field,
                "context_past": net_config.context_past,
                "parameters": int(sum(p.numel() for p in model.parameters()))},
        "corpus": {"recordings": len(examples), "train": len(train), "val": len(val),
                   "real_frames": sum(len(e.canonical) for e in train
                                      if e.info.get("kind") == "real"),
                   "hours": round(frames / 360000, 3),
                   "festival_voices": festival.available() if recipe.festival_share else [],
                   "festival_recordings": sum(str(e.info.get("voice", {}).get("voice", ""))
                                              .startswith("festival:") for e in examples)},
        "curve": curve,
        "onnx": {"bytes": out.stat().st_size, "max_abs_diff_vs_torch": max_diff,
                 "sha256": hashlib.sha256(out.read_bytes()).hexdigest()},
        "timings_s": {"corpus": round(t_corpus, 1), "train": round(t_train, 1),
                      "total": round(time.perf_counter() - t0, 1)},
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
    }
    out.with_name(out.stem + ".train.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    # OpenMP threads that spin while they wait make torch many times slower on busy cores
    # (the machine is shared); waiting passively gives the same numbers.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from keypoints.training.options import chosen, recipe_parser
    from keypoints.viseme_training.data import VisemeRecipe
    from keypoints.viseme_training.festival import available as festival_voices
    from keypoints.viseme_training.fit import ShapeTrainSettings
    from keypoints.viseme_training.model import ShapeNetConfig

    default_out = assets_dir() / "models" / "visemes.onnx"
    parser = recipe_parser("python -m keypoints.viseme_training", __doc__, default_out)
    parser.add_argument("--festival-share", type=float,
                        help="share of festival voices (default: recipe; 0 without festival)")
    args = parser.parse_args(argv)
    recipe, settings = chosen(args, VisemeRecipe(seed=args.seed),
                              ShapeTrainSettings(seed=args.seed))
    if args.festival_share is not None:
        recipe = replace(recipe, festival_share=args.festival_share)
    if recipe.festival_share > 0 and recipe.split == "train" and not festival_voices():
        # without this the corpus silently loses its real-recording voices (30 % of speech)
        print("keypoints.viseme_training: the recipe speaks part of its corpus with festival "
              "voices, which are not installed: run `make visemes` (installs them) or pass "
              "--festival-share 0", file=sys.stderr)
        return 2
    report = run(args.out, recipe, settings, ShapeNetConfig(), args.workers)
    print(json.dumps({"model": str(args.out), **report["timings_s"]}))
    return 0
