"""The rig folder's file layout: the one place that spells names and paths.

A rig folder holds ``expressions.json``, ``endpoints/<expr>__<pose>.<ext>`` and, optionally,
``sequences/<path_id>__<pose>/NNN.<ext>`` tween frames (NNN = round(100 t)) with a
``manifest.json``, and ``layers/matte__<pose>.png`` + ``layers/plate__<pose>.<ext>`` (the head
layer). Names that become paths are plain words (:data:`NAME_PATTERN`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from animator.core.errors import AnimatorError
from animator.core.outputs import write_text_atomic

CONFIG_NAME = "expressions.json"
MANIFEST_NAME = "manifest.json"
ENDPOINTS_DIR = "endpoints"
SEQUENCES_DIR = "sequences"
#: Optional config key: the format of every image of the rig ("png" when absent).
IMAGE_FORMAT_KEY = "image_format"
#: Image formats a rig may be stored in, with their file extensions.
IMAGE_FORMATS = {"png": ".png", "webp": ".webp", "jpg": ".jpg"}
#: Optional folder of the head layer (matte and clean plate per pose).
LAYERS_DIR = "layers"



class RigError(AnimatorError):
    """A rig folder that breaks the contract; the message names the file and the problem."""


#: Pose, expression and base-path names: they become file and folder names, so they are
#: plain words (no separators, no dots, no NUL); a double underscore separates the parts of
#: ``<expr>__<pose>`` and is not allowed inside a name.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Tween frame file names listed in a manifest.
FRAME_FILE_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


def check_name(name: object, what: str, source: str) -> str:
    """``name`` if it is a valid rig name, else RigError naming ``source`` and the rule."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or "__" in name:
        raise RigError(f"{source}: {what} {name!r} is not a valid name (1-64 of A-Z a-z 0-9 _ -, "
                       f"no double underscore)")
    return name


def endpoint_relpath(expr: str, pose: str, ext: str = ".png") -> str:
    """Path of an endpoint image relative to the rig folder."""
    return f"{ENDPOINTS_DIR}/{expr}__{pose}{ext}"


def layer_relpaths(pose: str, ext: str = ".png") -> tuple[str, str]:
    """(matte, plate) paths of a pose's head layer relative to the rig folder; the matte is
    always a grey PNG, the plate has the rig's image format."""
    return f"{LAYERS_DIR}/matte__{pose}.png", f"{LAYERS_DIR}/plate__{pose}{ext}"


def sequence_dirname(path_id: str, pose: str) -> str:
    """Folder name of a tween sequence (inside ``sequences/``)."""
    return f"{path_id}__{pose}"


def tween_filename(t: float, ext: str = ".png") -> str:
    """File name of the tween frame at path position ``t`` in [0, 1]."""
    return f"{round(100 * t):03d}{ext}"


def sequence_manifest(path_id: str, expr_start: str, expr_end: str, pose: str,
                      ts: list[float], ext: str = ".png") -> dict:
    """The ``manifest.json`` of a tween sequence listing the frames at positions ``ts``."""
    return {"path_id": path_id, "expr_start": expr_start, "expr_end": expr_end, "pose": pose,
            "frames": [{"t": t, "file": tween_filename(t, ext)} for t in ts]}


def write_rig_metadata(outdir: Path, manifests: list[tuple[str, dict]],
                       config_text: str) -> None:
    """Write the sequence manifests (relpath, dict), then ``expressions.json`` last: a folder
    with a config is a complete rig, so a killed build never looks finished."""
    for relpath, manifest in manifests:
        write_text_atomic(outdir / relpath, json.dumps(manifest, indent=2) + "\n")
    write_text_atomic(outdir / CONFIG_NAME, config_text)


#: Optional config key and folder of a mouth chart.
MOUTH_CHART_KEY = "mouth_chart"
MOUTHS_DIR = "mouths"
#: The mouth shapes of a chart (Rhubarb's), the ones it must draw, and the shape drawn instead
#: of an optional one it lacks (Rhubarb's basic shape for each extended one).
CHART_SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
CHART_REQUIRED = ("A", "B", "C", "D", "E", "F")
CHART_FALLBACK = {"G": "A", "H": "C", "X": "A"}


def mouth_relpath(shape: str, ext: str = ".png") -> str:
    """Path of a mouth chart's mouth image relative to the rig folder."""
    return f"{MOUTHS_DIR}/{shape}{ext}"
