"""``expressions.json`` parsed and validated, with the defaults that let the seed pipeline's
rigs load unchanged (poses without angles, mouths without shapes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animator.core.types import AXES
from animator.rig.layout import (
    IMAGE_FORMAT_KEY,
    IMAGE_FORMATS,
    MOUTH_CHART_KEY,
    RigError,
    check_name,
)

#: The expression every speech path starts from.
REST_EXPRESSION = "neutral"
#: The eyes value of a blink frame.
BLINK_EYES = "blink_closed"

#: Angles (degrees) of the seed pipeline's pose names, which carry no angles of their own.
REFERENCE_POSE_ANGLES: dict[str, dict[str, float]] = {
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
            spec = angles_raw.get(pose, REFERENCE_POSE_ANGLES.get(pose))
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
