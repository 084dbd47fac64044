"""Rig folders: the naming contract, the defaults for seed rigs, loading and validation.

A rig folder holds ``expressions.json``, ``endpoints/<expr>__<pose>.png`` and, optionally,
``sequences/<path_id>__<pose>/NNN.png`` tween frames (NNN = round(100 t)) with a
``manifest.json``. Rigs made by the seed pipeline load unchanged: poses without angles and
mouths without shapes take the defaults below.

Optional extensions: ``"image_format": "webp"`` (or ``"jpg"``) in ``expressions.json`` stores
every image of the rig in that format instead of PNG (full-colour photo rigs); a ``layers/``
folder with ``matte__<pose>.png`` (grey: 255 = moves with the head) and ``plate__<pose>.<ext>``
(the image without the head) for every pose gives the compositor a head layer; an expression
whose eyes are ``blink_closed`` and whose mouth and brows are the rest face's is the rig's
blink (``blink_expression``). A ``mouth_chart`` in ``expressions.json`` makes the rig a mouth
chart, as animators draw one: the rest face's endpoints are the base images and
``mouths/<shape>.<ext>`` (Rhubarb's nine shapes A-H, X; A-F required) are drawn over them,
centred where ``mouth_chart`` says per pose (``MouthPlacement``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animator.core.errors import AnimatorError
from animator.core.outputs import write_text_atomic
from animator.core.types import AXES
from keypoints.assets import assets_dir

#: The built-in character used when no rig is given (assets/characters/<name>).
DEFAULT_CHARACTER = "toon"
CONFIG_NAME = "expressions.json"
MANIFEST_NAME = "manifest.json"
ENDPOINTS_DIR = "endpoints"
SEQUENCES_DIR = "sequences"
#: The expression every speech path starts from.
REST_EXPRESSION = "neutral"
#: Optional config key: the format of every image of the rig ("png" when absent).
IMAGE_FORMAT_KEY = "image_format"
#: Image formats a rig may be stored in, with their file extensions.
IMAGE_FORMATS = {"png": ".png", "webp": ".webp", "jpg": ".jpg"}
#: Optional folder of the head layer (matte and clean plate per pose).
LAYERS_DIR = "layers"
#: The eyes value of a blink frame.
BLINK_EYES = "blink_closed"
#: Optional config key and folder of a mouth chart.
MOUTH_CHART_KEY = "mouth_chart"
MOUTHS_DIR = "mouths"
#: The mouth shapes of a chart (Rhubarb's), the ones it must draw, and the shape drawn instead
#: of an optional one it lacks (Rhubarb's basic shape for each extended one).
CHART_SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
CHART_REQUIRED = ("A", "B", "C", "D", "E", "F")
CHART_FALLBACK = {"G": "A", "H": "C", "X": "A"}

#: Angles (degrees) of the seed pipeline's pose names, which carry no angles of their own.
SEED_POSE_ANGLES: dict[str, dict[str, float]] = {
    "center": {"pitch": 0.0, "yaw": 0.0, "roll": 0.0},
    "tilt_left_small": {"pitch": 0.0, "yaw": 0.0, "roll": 8.0},
    "tilt_right_small": {"pitch": 0.0, "yaw": 0.0, "roll": -8.0},
    "nod_up_small": {"pitch": 8.0, "yaw": 0.0, "roll": 0.0},
    "nod_down_small": {"pitch": -8.0, "yaw": 0.0, "roll": 0.0},
}

#: Mouth shapes of the seed's mouth values, in keypoint units: ``open`` = inner-lip gap and
#: ``wide`` = corner-to-corner distance, both over the mouth width at rest; ``round`` = lip
#: rounding 0..1 (a drawing/prompt hint; keypoint sources do not measure it).
DEFAULT_MOUTH_SHAPES: dict[str, dict[str, float]] = {
    "neutral": {"open": 0.0, "wide": 1.0, "round": 0.0},
    "smile_soft": {"open": 0.03, "wide": 1.12, "round": 0.0},
    "smile_big": {"open": 0.12, "wide": 1.25, "round": 0.0},
    "ah": {"open": 0.55, "wide": 0.95, "round": 0.0},
    "ee": {"open": 0.2, "wide": 1.15, "round": 0.0},
    "uw": {"open": 0.18, "wide": 0.72, "round": 1.0},
    "frown": {"open": 0.0, "wide": 0.95, "round": 0.0},
}


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


# --- naming (the one place that spells the file layout) ---------------------------------

def endpoint_relpath(expr: str, pose: str, ext: str = ".png") -> str:
    """Path of an endpoint image relative to the rig folder."""
    return f"{ENDPOINTS_DIR}/{expr}__{pose}{ext}"


def layer_relpaths(pose: str, ext: str = ".png") -> tuple[str, str]:
    """(matte, plate) paths of a pose's head layer relative to the rig folder; the matte is
    always a grey PNG, the plate has the rig's image format."""
    return f"{LAYERS_DIR}/matte__{pose}.png", f"{LAYERS_DIR}/plate__{pose}{ext}"


def mouth_relpath(shape: str, ext: str = ".png") -> str:
    """Path of a mouth chart's mouth image relative to the rig folder."""
    return f"{MOUTHS_DIR}/{shape}{ext}"


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


# --- parsed config ----------------------------------------------------------------------

@dataclass(frozen=True)
class Expression:
    id: str
    mouth: str
    eyes: str
    brows: str


@dataclass(frozen=True)
class BasePath:
    id: str
    start: str
    end: str


@dataclass(frozen=True)
class MouthShape:
    open: float
    wide: float
    round: float = 0.0

    def as_array(self) -> np.ndarray:
        """float64[2]: (open, wide), the coordinates keypoint sources can measure."""
        return np.array([self.open, self.wide])


@dataclass(frozen=True)
class MouthPlacement:
    """Where a mouth chart's mouth goes on a pose's base image: its centre (x, y) in the base
    image's pixels and its rotation in degrees (> 0 clockwise on screen, as a roll > 0)."""

    x: float
    y: float
    angle_deg: float = 0.0


def _placement(spec: object, where: str, source: str,
               default: MouthPlacement | None = None) -> MouthPlacement:
    """A placement object; keys it lacks come from ``default`` (x and y are required without
    one; the angle is 0)."""
    bad = RigError(f"{source}: {where} needs numeric x and y (pixels of the base image) and "
                   f"optionally angle (degrees)")
    if not isinstance(spec, dict):
        raise bad
    base = default or MouthPlacement(float("nan"), float("nan"), 0.0)
    try:
        values = [float(spec.get(key, getattr(base, attr)))
                  for key, attr in (("x", "x"), ("y", "y"), ("angle", "angle_deg"))]
    except (TypeError, ValueError):
        raise bad from None
    if not all(np.isfinite(values)):
        raise bad
    return MouthPlacement(*values)


def parse_mouth_chart(raw: object, poses: list[str], source: str
                      ) -> dict[str, MouthPlacement] | None:
    """``mouth_chart``: {"x", "y", "angle"?, "poses"?: {pose: {"x"?, "y"?, "angle"?}}} ->
    pose -> MouthPlacement (None without a chart)."""
    if raw is None:
        return None
    where = f"'{MOUTH_CHART_KEY}'"
    base = _placement(raw, where, source)
    per_pose = raw.get("poses", {})
    if not isinstance(per_pose, dict):
        raise RigError(f"{source}: {where}.poses must be an object")
    for pose in per_pose:
        if pose not in poses:
            raise RigError(f"{source}: {where}.poses names unknown pose {pose!r}")
    return {pose: _placement(per_pose[pose], f"{where}.poses.{pose}", source, base)
            if pose in per_pose else base for pose in poses}


@dataclass
class RigConfig:
    """``expressions.json`` parsed, with the defaults of the contract filled in."""

    poses: list[str]
    expressions: dict[str, Expression]
    base_paths: list[BasePath]
    pose_angles: dict[str, np.ndarray]  # pose -> float64[3] (pitch, yaw, roll) degrees
    mouth_shapes: dict[str, MouthShape]
    raw: dict = field(repr=False)  # the file as read, for tools that write it back
    image_ext: str = ".png"  # the extension of every image (IMAGE_FORMAT_KEY)
    #: pose -> where the mouth goes, for a mouth chart (MOUTH_CHART_KEY); None otherwise
    mouth_chart: dict[str, MouthPlacement] | None = None

    @classmethod
    def from_dict(cls, raw: object, source: str) -> RigConfig:
        """Parse and validate; ``source`` names the file in error messages."""
        if not isinstance(raw, dict):
            raise RigError(f"{source}: top level must be a JSON object")
        poses = raw.get("poses")
        if not isinstance(poses, list) or not poses:
            raise RigError(f"{source}: No 'poses' array found in expressions.json")
        for pose in poses:
            check_name(pose, "pose", source)
        if len(set(poses)) != len(poses):
            raise RigError(f"{source}: 'poses' must be a list of distinct names")
        exprs_raw = raw.get("expressions")
        if not isinstance(exprs_raw, dict) or not exprs_raw:
            raise RigError(f"{source}: no 'expressions' object found")
        expressions = {}
        for eid, spec in exprs_raw.items():
            check_name(eid, "expression", source)
            if not isinstance(spec, dict):
                raise RigError(f"{source}: expression '{eid}' must be an object")
            missing = [k for k in ("mouth", "eyes", "brows") if not isinstance(spec.get(k), str)]
            if missing:
                raise RigError(f"{source}: expression '{eid}' lacks {', '.join(missing)}")
            expressions[eid] = Expression(eid, spec["mouth"], spec["eyes"], spec["brows"])
        axes = raw.get("axes")
        if isinstance(axes, dict):  # the seed's allowed values per feature: check against it
            for expr in expressions.values():
                for feature in ("mouth", "eyes", "brows"):
                    allowed = axes.get(feature)
                    value = getattr(expr, feature)
                    if isinstance(allowed, list) and value not in allowed:
                        raise RigError(f"{source}: expression '{expr.id}' has {feature} "
                                       f"'{value}', not one of axes.{feature}")
        if REST_EXPRESSION not in expressions:
            raise RigError(f"{source}: no '{REST_EXPRESSION}' expression (the rest face)")

        base_paths = []
        paths_raw = raw.get("base_paths", [])
        if not isinstance(paths_raw, list):
            raise RigError(f"{source}: 'base_paths' must be a list")
        for i, bp in enumerate(paths_raw):
            if not isinstance(bp, dict) or not all(isinstance(bp.get(k), str)
                                                   for k in ("id", "start", "end")):
                raise RigError(f"{source}: base_paths[{i}] needs string id, start and end")
            check_name(bp["id"], "base path", source)
            for end in (bp["start"], bp["end"]):
                if end not in expressions:
                    raise RigError(f"{source}: base path '{bp['id']}' names unknown "
                                   f"expression '{end}'")
            base_paths.append(BasePath(bp["id"], bp["start"], bp["end"]))

        angles_raw = raw.get("pose_angles", {})
        if not isinstance(angles_raw, dict):
            raise RigError(f"{source}: 'pose_angles' must be an object")
        pose_angles = {}
        for pose in poses:
            spec = angles_raw.get(pose, SEED_POSE_ANGLES.get(pose))
            if spec is None:
                raise RigError(f"{source}: pose '{pose}' has no angles: add it to 'pose_angles' "
                               f"as {{\"pitch\": .., \"yaw\": .., \"roll\": ..}}")
            try:
                vec = np.array([float(spec.get(a, 0.0)) for a in AXES])
            except (AttributeError, TypeError, ValueError):
                raise RigError(f"{source}: pose_angles['{pose}'] must map pitch/yaw/roll to "
                               f"numbers") from None
            if not np.all(np.isfinite(vec)):
                raise RigError(f"{source}: pose_angles['{pose}'] is not finite")
            pose_angles[pose] = vec

        shapes_raw = raw.get("mouth_shapes", {})
        if not isinstance(shapes_raw, dict):
            raise RigError(f"{source}: 'mouth_shapes' must be an object")
        mouth_shapes = {}
        for mouth in sorted({e.mouth for e in expressions.values()}):
            spec = shapes_raw.get(mouth, DEFAULT_MOUTH_SHAPES.get(mouth))
            if spec is None:
                raise RigError(f"{source}: mouth '{mouth}' has no shape: add it to "
                               f"'mouth_shapes' as {{\"open\": .., \"wide\": ..}}")
            try:
                shape = MouthShape(float(spec["open"]), float(spec["wide"]),
                                   float(spec.get("round", 0.0)))
            except (KeyError, TypeError, ValueError):
                raise RigError(f"{source}: mouth_shapes['{mouth}'] needs numeric open and "
                               f"wide") from None
            mouth_shapes[mouth] = shape
        fmt = raw.get(IMAGE_FORMAT_KEY, "png")
        if fmt not in IMAGE_FORMATS:
            raise RigError(f"{source}: '{IMAGE_FORMAT_KEY}' must be one of "
                           f"{', '.join(IMAGE_FORMATS)} (got {fmt!r})")
        chart = parse_mouth_chart(raw.get(MOUTH_CHART_KEY), list(poses), source)
        return cls(list(poses), expressions, base_paths, pose_angles, mouth_shapes, raw,
                   IMAGE_FORMATS[fmt], chart)

    @classmethod
    def load(cls, path: str | Path) -> RigConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RigError(f"{path}: file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RigError(f"{path}: cannot read ({exc})") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RigError(f"{path}: malformed JSON (line {exc.lineno}: {exc.msg})") from None
        return cls.from_dict(raw, str(path))

    def mouth_shape(self, expr: str) -> MouthShape:
        return self.mouth_shapes[self.expressions[expr].mouth]

    def blink_expression(self) -> str | None:
        """The rig's blink (eyes-closed expression): one with closed eyes (``BLINK_EYES``) and
        the rest face's mouth and brows, the seed's ``blink_closed`` first, or None. Every
        pose has an endpoint of it."""
        rest = self.expressions[REST_EXPRESSION]
        found = [eid for eid, e in self.expressions.items()
                 if e.eyes == BLINK_EYES and (e.mouth, e.brows) == (rest.mouth, rest.brows)]
        return BLINK_EYES if BLINK_EYES in found else (found[0] if found else None)


# --- the loaded rig ---------------------------------------------------------------------

@dataclass(frozen=True)
class Sequence:
    """A tween sequence at one pose; ``frames`` is sorted by t and includes t=0 and t=1
    (the endpoints, when the folder holds no copies of them)."""

    path: BasePath
    pose: str
    frames: tuple[tuple[float, str], ...]  # (t, image path relative to the rig folder)


@dataclass
class Rig:
    root: Path
    config: RigConfig
    image_size: tuple[int, int]  # (width, height) pixels, the same for every image
    sequences: dict[tuple[str, str], Sequence]  # (path_id, pose) -> Sequence
    #: pose -> (matte, plate) relative paths of the head layer; empty without layers/
    layers: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: a mouth chart's shape -> its image (a missing optional shape names its fallback's);
    #: empty for other rigs
    mouths: dict[str, str] = field(default_factory=dict)
    mouth_size: tuple[int, int] | None = None  # (width, height) of the mouth images

    def endpoint(self, expr: str, pose: str) -> str:
        return endpoint_relpath(expr, pose, self.config.image_ext)

    def image_path(self, relpath: str) -> Path:
        return self.root / relpath

    def image_relpaths(self) -> list[str]:
        """Every image the rig uses, relative to its folder, each once."""
        rels = [self.endpoint(e, p) for e in self.config.expressions for p in self.config.poses]
        rels += [rel for seq in self.sequences.values() for _, rel in seq.frames]
        rels += [rel for files in self.layers.values() for rel in files]
        rels += list(self.mouths.values())
        return list(dict.fromkeys(rels))

    def files(self) -> list[Path]:
        """Every file the rig is made of (config, images, manifests): a command's inputs."""
        manifests = [self.root / SEQUENCES_DIR / sequence_dirname(bp, pose) / MANIFEST_NAME
                     for bp, pose in self.sequences]
        return [self.root / CONFIG_NAME, *map(self.image_path, self.image_relpaths()),
                *manifests]


#: Bytes read to find an image's size: a PNG's and a WebP's are in the first 30; a JPEG's frame
#: header comes after its metadata segments (EXIF, ICC), rarely beyond the first 64 kB.
_HEADER_BYTES = {".png": 24, ".webp": 30, ".jpg": 65536}


def rig_image_size(path: Path, ext: str = ".png") -> tuple[int, int]:
    """(width, height) from the header of a rig image in the format of ``ext``; raises
    RigError for a missing or wrong-format file, or one too large to decode (see
    :data:`animator.rig_images.MAX_IMAGE_PIXELS`)."""
    from animator.rig_images import ImageFileError, jpeg_size, png_header_size, webp_size

    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER_BYTES.get(ext, 24))
    except FileNotFoundError:
        raise RigError(f"{path}: missing") from None
    except OSError as exc:
        raise RigError(f"{path}: unreadable ({exc.strerror})") from None
    parse = {".webp": webp_size, ".jpg": jpeg_size}.get(ext, png_header_size)
    try:
        return parse(head)
    except ImageFileError as exc:
        raise RigError(f"{path}: {exc}") from None


def default_rig_dir() -> Path:
    """The built-in character's rig folder."""
    return assets_dir() / "characters" / DEFAULT_CHARACTER


def load_rig(root: str | Path) -> Rig:
    """Load and validate a rig folder; raises RigError naming the first problem found."""
    root = Path(root)
    if not root.is_dir():
        raise RigError(f"{root}: rig folder not found")
    config = RigConfig.load(root / CONFIG_NAME)

    size = None
    size_src = None

    inside = root.resolve()
    ext = config.image_ext

    def check(rel: str) -> None:
        nonlocal size, size_src
        path = root / rel
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
            raise RigError(f"{path}: symlink loop") from None
        if not real.is_relative_to(inside):
            raise RigError(f"{path}: leads outside the rig folder {root}")
        wh = rig_image_size(path, Path(rel).suffix or ext)
        if size is None:
            size, size_src = wh, rel
        elif wh != size:
            raise RigError(f"{root / rel}: image is {wh[0]}x{wh[1]} but {size_src} is "
                           f"{size[0]}x{size[1]}; all rig images must have one size")

    for expr in config.expressions:
        for pose in config.poses:
            check(endpoint_relpath(expr, pose, ext))

    sequences = {}
    seq_root = root / SEQUENCES_DIR
    for bp in config.base_paths:
        for pose in config.poses:
            folder = seq_root / sequence_dirname(bp.id, pose)
            if not folder.is_dir():
                continue  # tweens are optional: selection falls back to the endpoints
            frames = _read_manifest(folder, bp, pose)
            for _, rel in frames:
                check(rel)
            # The endpoints themselves stand for t = 0 and 1 (the seed also writes copies of
            # them as 000/100.png; one image per endpoint keeps choices and caches simple).
            merged = dict(frames)
            merged.update({0.0: endpoint_relpath(bp.start, pose, ext),
                           1.0: endpoint_relpath(bp.end, pose, ext)})
            sequences[(bp.id, pose)] = Sequence(bp, pose, tuple(sorted(merged.items())))
    layers = {}
    if (root / LAYERS_DIR).is_dir():  # all poses or none: a partial head layer is a broken rig
        for pose in config.poses:
            matte, plate = layer_relpaths(pose, ext)
            check(matte)
            check(plate)
            layers[pose] = (matte, plate)
    mouths, mouth_size = ({}, None) if config.mouth_chart is None else \
        _load_mouths(root, inside, config, size)
    return Rig(root, config, size, sequences, layers, mouths, mouth_size)


def _load_mouths(root: Path, inside: Path, config: RigConfig, base_size: tuple[int, int]
                 ) -> tuple[dict[str, str], tuple[int, int]]:
    """A mouth chart's images: shape -> relpath (fallbacks filled in) and their one size;
    RigError for a missing required shape, a path leading outside the rig, images of several
    sizes or larger than the base."""
    ext = config.image_ext
    found: dict[str, str] = {}
    mouth_size = None
    for shape in CHART_SHAPES:
        rel = mouth_relpath(shape, ext)
        path = root / rel
        if not path.exists() and not path.is_symlink():
            if shape in CHART_REQUIRED:
                raise RigError(f"{path}: missing (a mouth chart draws at least "
                               f"{', '.join(CHART_REQUIRED)})")
            continue
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            raise RigError(f"{path}: symlink loop") from None
        if not real.is_relative_to(inside):
            raise RigError(f"{path}: leads outside the rig folder {root}")
        wh = rig_image_size(path, ext)
        if mouth_size is None:
            mouth_size = wh
        elif wh != mouth_size:
            raise RigError(f"{path}: mouth image is {wh[0]}x{wh[1]} but the others are "
                           f"{mouth_size[0]}x{mouth_size[1]}; a chart's mouths have one size")
        if wh[0] > base_size[0] or wh[1] > base_size[1]:
            raise RigError(f"{path}: mouth image {wh[0]}x{wh[1]} is larger than the base "
                           f"images ({base_size[0]}x{base_size[1]})")
        found[shape] = rel
    for shape, instead in CHART_FALLBACK.items():
        found.setdefault(shape, found[instead])
    return {s: found[s] for s in CHART_SHAPES}, mouth_size


def _read_manifest(folder: Path, bp: BasePath, pose: str) -> list[tuple[float, str]]:
    path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RigError(f"{path}: missing (every sequence folder needs one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RigError(f"{path}: unreadable or malformed ({exc})") from None
    if not isinstance(manifest, dict):
        raise RigError(f"{path}: top level must be a JSON object")
    expect = {"path_id": bp.id, "expr_start": bp.start, "expr_end": bp.end, "pose": pose}
    for key, want in expect.items():
        if manifest.get(key) != want:
            raise RigError(f"{path}: {key} is {manifest.get(key)!r}, expected {want!r}")
    frames = manifest.get("frames")
    if not isinstance(frames, list):
        raise RigError(f"{path}: 'frames' must be a list")
    out = []
    rel_folder = f"{SEQUENCES_DIR}/{folder.name}"
    for i, fr in enumerate(frames):
        try:
            t = float(fr["t"])
            name = str(fr["file"])
        except (KeyError, TypeError, ValueError):
            raise RigError(f"{path}: frames[{i}] needs numeric t and a file name") from None
        if not 0.0 <= t <= 1.0 or not FRAME_FILE_PATTERN.fullmatch(name):
            raise RigError(f"{path}: frames[{i}] has t outside [0, 1] or a bad file name")
        out.append((t, f"{rel_folder}/{name}"))
    return out
