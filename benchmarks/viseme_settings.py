"""``python -m benchmarks.viseme_settings [--json OUT]``: the shape decoder's settings and the
offline shape lead re-checked on the *development* clips of benchmarks.aligned_speech (never
the scored ones, nor those the model was trained on), at 100 fps and at the product's 25 fps.

Swept: the decoder's ``confirm`` frames and ``sure`` probability (keypoints.visemenet
ShapeDecoder; the shipped ones are marked), each with the shipped lateness, then the shape
lateness of the offline lead (animator.render.SHAPE_LATENESS_S) with the shipped decoder.
Agreement is per 10 ms frame, as benchmarks.visemes scores it; ``grid``/``other``: the clips
labelled by the aligner from GRID and the rest (labels by people or other aligners).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from animator.render import SHAPE_LATENESS_S
from animator.rig import default_rig_dir, load_rig
from benchmarks.aligned_speech import cache_dir
from benchmarks.machine import machine_info
from benchmarks.visemes import VIDEO_FPS, real_set, scores, shown_shapes, summary, trained_on
from keypoints import visemenet
from keypoints.mappingnet import MappingNet

CONFIRMS = (1, 2, 3)
SURES = (0.6, 0.7, 0.8, 0.9, 1.01)  # 1.01: never at once
LATENESS_S = (-0.015, -0.005, 0.005, 0.015, 0.025, 0.035)


def measure(clips, lips, model, rig, fps: float, lead_s: float, confirm: int, sure: float
            ) -> dict:
    """{all, grid, other: summary} of the shapes shown with these settings."""
    defaults = visemenet.ShapeDecoder.__init__.__defaults__
    visemenet.ShapeDecoder.__init__.__defaults__ = (confirm, sure)
    try:
        rows: dict[str, list[dict]] = {"all": [], "grid": [], "other": []}
        for name, audio, allowed, canonical in clips:
            shapes, _ = shown_shapes(lips, model, rig, audio, len(canonical), fps, lead_s)
            row = scores(shapes, allowed, canonical)
            rows["all"].append(row)
            rows["grid" if name.startswith("grid_") else "other"].append(row)
    finally:
        visemenet.ShapeDecoder.__init__.__defaults__ = defaults
    return {k: summary(v) for k, v in rows.items() if v}


def run(root: Path, model_path: Path | None = None, log=print) -> dict:
    lips, rig = MappingNet.load(), load_rig(default_rig_dir())
    model = visemenet.ShapeModel.load(model_path)
    trained = trained_on(model.path)  # the clips the model heard in training choose nothing
    clips = [c for c in real_set(root, dev=True) if c[0] not in trained]
    shipped = visemenet.ShapeDecoder.__init__.__defaults__
    out = {"clips": len(clips), "frames": sum(len(c[3]) for c in clips),
           "left_out_trained_on": sorted(trained),
           "shipped": {"confirm": shipped[0], "sure": shipped[1],
                       "lateness_s": SHAPE_LATENESS_S}, "decoder": [], "lateness": []}
    for fps in (100.0, VIDEO_FPS):
        for confirm in CONFIRMS:
            for sure in SURES:
                res = measure(clips, lips, model, rig, fps, 0.5 / fps + SHAPE_LATENESS_S,
                              confirm, sure)
                out["decoder"].append({"fps": fps, "confirm": confirm, "sure": sure, **res})
                log(f"{fps:5.0f} fps confirm {confirm} sure {sure:.2f}: "
                    f"{res['all']['agreement']:.4f} (grid {res['grid']['agreement']:.4f}, "
                    f"other {res['other']['agreement']:.4f})")
        for late in LATENESS_S:
            if 0.5 / fps + late < 0:  # the engine takes no negative lead
                continue
            res = measure(clips, lips, model, rig, fps, 0.5 / fps + late, *shipped)
            out["lateness"].append({"fps": fps, "lateness_s": late, **res})
            log(f"{fps:5.0f} fps lateness {1000 * late:+.0f} ms: "
                f"{res['all']['agreement']:.4f} (grid {res['grid']['agreement']:.4f}, "
                f"other {res['other']['agreement']:.4f})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.viseme_settings",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--dir", type=Path, default=None, help=f"default: {cache_dir()}")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    result = run(args.dir or cache_dir(), args.model)
    result["machine"] = machine_info()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
