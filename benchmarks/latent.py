"""Latent-direction head rotation on data with known ground truth (the proofs of
animator/authoring/latent/synthetic.py).

    python -m benchmarks.latent [--json] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys

from animator.authoring.latent.synthetic import (
    closed_loop_proof,
    curvature_proof,
    facemesh_closed_loop_proof,
    leak_proof,
    onnx_proof,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.latent", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    report = {"leak": leak_proof(args.seed), "curvature": curvature_proof(args.seed),
              "onnx": onnx_proof(args.seed), "closed_loop": [closed_loop_proof(args.seed),
                               closed_loop_proof(args.seed, read_gain=0.7)],
              "facemesh_closed_loop": facemesh_closed_loop_proof(args.seed)}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print("1. light leak (z = s*theta*d_yaw + c*light*d_light + noise, light ~ yaw):")
    for name, sc in report["leak"].items():
        for side, v in sc.items():
            print(f"  {name:8s} {side:8s}: cos(slope, d_yaw) {v['cos_yaw']:.4f}   "
                  f"|cos(slope, d_light)| {v['leak_light']:.4f}")
    c = report["curvature"]
    print("2. rotated 3D template (normalised landmarks), source at 0 turned to each angle:")
    print("  target   two lines: rms  yaw read   one line: rms  yaw read")
    for a, b in zip(c["two_lines"]["per_angle"], c["one_line"]["per_angle"], strict=True):
        print(f"  {a['target']:+6.1f}   {a['rms']:14.4f} {a['measured']:+9.2f}   "
              f"{b['rms']:13.4f} {b['measured']:+9.2f}")
    print(f"  mean rms: two lines {c['two_lines']['mean_rms']:.4f}, one line "
          f"{c['one_line']['mean_rms']:.4f}; max yaw error {c['two_lines']['max_yaw_error']} "
          f"vs {c['one_line']['max_yaw_error']} deg")
    o = report["onnx"]
    print(f"3. through an ONNX orthogonal encoder/decoder: cos(direction via ONNX, direct) "
          f"{o['cos_via_onnx_vs_direct']}; " + ", ".join(
              f"{side}: cos d_yaw {v['cos_yaw']}, leak {v['leak_light']}"
              for side, v in o["scores"].items())
          + f"; decoded max error {o['decoded_max_abs_error']:.2e}")
    for cl in report["closed_loop"]:
        print(f"4. closed loop in the landmark space (directions fitted on |yaw| <= "
              f"{cl['fit_range_deg']:g} deg; estimator reads {cl['read_gain']:g} x the true "
              f"yaw; tolerance 1 deg):")
        for r in cl["per_target"]:
            print(f"  target {r['target']:+6.1f}: open loop reads {r['open_loop']:+7.2f}, "
                  f"closed loop {r['closed_loop']:+7.2f} (step {r['step']:+.2f}, "
                  f"{r['iterations']} decodes{'' if r['converged'] else ', NOT converged'})")
    fm = report["facemesh_closed_loop"]
    print(f"5. closed loop on FaceMesh's 478 landmarks (keypoints.face reference face; "
          f"estimator: keypoints.face head pose; fitted on |yaw| <= {fm['fit_range_deg']:g} "
          f"deg; source reads {fm['source_reads']:+.2f}):")
    for r in fm["per_target"]:
        print(f"  target {r['target']:+6.1f}: open loop reads {r['open_loop']:+7.2f}, "
              f"closed loop {r['closed_loop']:+7.2f} (step {r['step']:+.2f}, "
              f"{r['iterations']} decodes{'' if r['converged'] else ', NOT converged'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
