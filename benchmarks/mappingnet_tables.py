"""The MappingNet benchmark's markdown table: one row per test set, models side by side."""

from __future__ import annotations

import numpy as np


def table(result: dict) -> str:
    """Markdown: one row per test set, the models (and Rhubarb, when present) side by side."""
    labels = list(result["models"])
    rhubarb = result.get("rhubarb")
    head = "| test set | " + " | ".join(
        f"{m} open r | {m} width r | {m} F1 (default / tuned) | {m} on/off ms" for m in labels)
    if rhubarb:
        head += " | Rhubarb open r | Rhubarb F1 | Rhubarb on/off ms"
    n_cols = 1 + 4 * len(labels) + (3 if rhubarb else 0)
    lines = [head + " |", "|---" * n_cols + "|"]
    sets = list(next(iter(result["models"].values()))["sets"])
    means = {m: [] for m in labels}
    for s in sets:
        cells = [s]
        for m in labels:
            d = result["models"][m]["sets"][s]
            dd, tt = d["default"], d["tuned"]
            means[m].append((dd["f1"], tt["f1"]))
            cells += [f"{dd['corr_open']:.2f}", f"{dd['corr_width']:.2f}",
                      f"{dd['f1']:.3f} / {tt['f1']:.3f}",
                      f"{dd['onset_ms']} / {dd['offset_ms']} ({tt['onset_ms']} / "
                      f"{tt['offset_ms']})"]
        if rhubarb:
            r = rhubarb[s]
            cells += [f"{r['corr_open']:.2f}", f"{r['f1']:.3f}",
                      f"{r['onset_ms']} / {r['offset_ms']}"]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**mean F1**"]
    for m in labels:
        f = np.array(means[m])
        cells += ["", "", f"**{f[:, 0].mean():.3f} / {f[:, 1].mean():.3f}**", ""]
    if rhubarb:
        cells += ["", f"**{np.mean([r['f1'] for r in rhubarb.values()]):.3f}**", ""]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
