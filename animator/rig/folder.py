"""A rig folder loaded: every image checked (present, inside the folder, one size), tween
sequences read from their manifests; and where the built-in character lives."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from animator.rig.config import BasePath, RigConfig
from animator.rig.headers import ImageFileError, jpeg_size, png_header_size, webp_size
from animator.rig.layout import (
    CHART_FALLBACK,
    CHART_REQUIRED,
    CHART_SHAPES,
    CONFIG_NAME,
    FRAME_FILE_PATTERN,
    LAYERS_DIR,
    MANIFEST_NAME,
    SEQUENCES_DIR,
    RigError,
    endpoint_relpath,
    layer_relpaths,
    mouth_relpath,
    sequence_dirname,
)
from keypoints.assets import assets_dir

#: The built-in character used when no rig is given (assets/characters/<name>).
DEFAULT_CHARACTER = "toon"


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


def rig_image_size(path: str | Path, ext: str = ".png") -> tuple[int, int]:
    """(width, height) from the header of a rig image in the format of ``ext``; raises
    RigError for a missing or wrong-format file, or one too large to decode (see
    :data:`animator.rig.headers.MAX_IMAGE_PIXELS`)."""
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


def _suffix(rel: str) -> str:
    """``Path(rel).suffix`` of a path joined by "/"."""
    name = rel.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _resolved(path: str) -> str:
    """``str(Path(path).resolve())`` (a symlink loop raises RuntimeError)."""
    return str(Path(path).resolve())


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

    root_s, inside_s = str(root), str(inside)
    folders: dict[str, str] = {root_s: inside_s}  # a folder of the rig -> its real path
    listed: dict[str, dict[str, bool] | None] = {}  # a folder -> {entry: is a symlink}

    def symlink(folder: str, name: str) -> bool | None:
        """Whether ``name`` in ``folder`` is a symlink (None: no such entry, or no listing):
        one listing a folder (the directory's entry types) instead of a stat a file."""
        if folder not in listed:
            try:
                with os.scandir(folder) as entries:
                    listed[folder] = {e.name: e.is_symlink() for e in entries}
            except OSError:
                listed[folder] = None
        names = listed[folder]
        return None if names is None else names.get(name)

    def real_dir(folder: str) -> str:
        """``folder`` resolved: its parent's real path plus its name when it is no symlink
        (the rig's folders are its root's descendants), else a resolve."""
        real = folders.get(folder)
        if real is None:
            parent, name = os.path.split(folder)
            plain = (parent != folder and name not in ("", ".", "..")
                     and symlink(parent, name) is False)
            real = folders[folder] = (os.path.join(real_dir(parent), name) if plain
                                      else _resolved(folder))
        return real

    def real_path(path: str) -> str:
        """``os.path.realpath(path)``: a file that is no symlink is its folder's real path
        plus its name (a rig's ~200 images sit in ~50 folders; a resolve is a stat per
        component). Strings: pathlib costs more than the stats."""
        folder_name, name = os.path.split(path)
        if name in ("", ".", "..") or symlink(folder_name, name) is not False:
            return _resolved(path)  # a symlink, or missing: as resolve() has it
        return os.path.join(real_dir(folder_name), name)

    inside_prefix = os.path.join(inside_s, "")  # (with its trailing separator)

    def check(rel: str) -> None:
        nonlocal size, size_src
        path = os.path.join(root_s, rel)  # rel: plain names joined by "/" (animator.rig.layout)
        try:
            real = real_path(path)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
            raise RigError(f"{path}: symlink loop") from None
        if real != inside_s and not real.startswith(inside_prefix):
            raise RigError(f"{path}: leads outside the rig folder {root}")
        wh = rig_image_size(path, _suffix(rel) or ext)
        if size is None:
            size, size_src = wh, rel
        elif wh != size:
            raise RigError(f"{path}: image is {wh[0]}x{wh[1]} but {size_src} is "
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
