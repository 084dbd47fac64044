"""Text prompts for image-editing backends, built from per-axis descriptions.

The descriptions live in ONE table, ``descriptions.json`` next to this module, keyed by axis
(``mouth``, ``eyes``, ``brows``, ``poses``) and value. A rig config may override any of them
with a top-level ``"descriptions"`` object of the same shape, and name its character with a
top-level ``"character"`` string (e.g. "a watercolor portrait of a young boy"); nothing about a
particular character is hard-coded here. Pose names without a description are described from
their angles (``pose_angles``, ARCHITECTURE.md conventions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from animator.rig import Expression, RigConfig

DESCRIPTIONS_PATH = Path(__file__).with_name("descriptions.json")
#: The tables of a descriptions object: the expression features and the head poses.
FEATURES: tuple[str, ...] = ("mouth", "eyes", "brows")
POSES_KEY = "poses"


def _load_defaults() -> dict:
    return json.loads(DESCRIPTIONS_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Descriptions:
    """The character and per-axis value descriptions a config's prompts are made from."""

    character: str
    tables: dict[str, dict[str, str]]  # axis ("mouth", "eyes", "brows", "poses") -> value -> text
    pose_angles: dict[str, tuple[float, float, float]]  # pose -> (pitch, yaw, roll) degrees

    @classmethod
    def for_config(cls, config: RigConfig) -> Descriptions:
        """The defaults, overridden by the config's ``character`` and ``descriptions``."""
        defaults = _load_defaults()
        raw = config.raw
        tables = {axis: dict(defaults.get(axis, {})) for axis in (*FEATURES, POSES_KEY)}
        overrides = raw.get("descriptions", {})
        if isinstance(overrides, dict):
            for axis, table in overrides.items():
                if axis in tables and isinstance(table, dict):
                    tables[axis].update({k: str(v) for k, v in table.items()})
        character = raw.get("character")
        if not isinstance(character, str) or not character.strip():
            character = defaults["character"]
        angles = {p: tuple(float(a) for a in v) for p, v in config.pose_angles.items()}
        return cls(character.strip(), tables, angles)

    def feature(self, axis: str, value: str) -> str:
        """Description of one expression feature value (its name, readable, if unknown)."""
        text = self.tables.get(axis, {}).get(value)
        return text if text else f"{axis}: {value.replace('_', ' ')}"

    def expression(self, expr: Expression) -> str:
        """The whole face of ``expr``: mouth, eyes and brows, one clause each."""
        return "; ".join(self.feature(axis, getattr(expr, axis)) for axis in FEATURES)

    def pose(self, pose: str) -> str:
        """Description of a head pose (from its angles when the table lacks it)."""
        text = self.tables[POSES_KEY].get(pose)
        if text:
            return text
        return describe_angles(*self.pose_angles.get(pose, (0.0, 0.0, 0.0)))


def describe_angles(pitch: float, yaw: float, roll: float) -> str:
    """Words for a head pose in degrees (pitch > 0 chin up, yaw > 0 towards the character's
    own left, roll > 0 towards its own left shoulder)."""
    parts = []
    if yaw:
        side = "left" if yaw > 0 else "right"
        view = "right" if yaw > 0 else "left"
        parts.append(f"head turned about {abs(yaw):g} degrees toward the character's own "
                     f"{side}, so the face turns toward the viewer's {view}")
    if pitch:
        parts.append(f"chin {'raised' if pitch > 0 else 'lowered'} in a small "
                     f"{'upward' if pitch > 0 else 'downward'} nod of about {abs(pitch):g} "
                     f"degrees")
    if roll:
        side = "left" if roll > 0 else "right"
        view = "right" if roll > 0 else "left"
        parts.append(f"head tilted about {abs(roll):g} degrees toward the character's own "
                     f"{side} shoulder, which appears on the viewer's {view}")
    return "; ".join(parts) if parts else "head facing straight toward the viewer, level"


_KEEP = ("Keep the identity, hairstyle, clothing, accessories, art style, colours, framing "
         "and background of the reference image exactly.")


def expression_prompt(d: Descriptions, expr: Expression, pose: str) -> str:
    """Prompt turning the neutral reference (at ``pose``) into ``expr``."""
    return "\n".join([
        f"The same image of {d.character}, with a new facial expression.",
        f"Use the reference image for identity and everything else. {_KEEP}",
        "",
        "Facial expression:",
        f"  - Change the expression to: {d.expression(expr)}.",
        "",
        "Head pose:",
        f"  - Keep the head pose of the reference image: {d.pose(pose)}.",
        "",
        "Only change the mouth, eyes and eyebrows as described.",
    ])


def pose_prompt(d: Descriptions, expr: Expression, source_pose: str, target_pose: str) -> str:
    """Prompt turning the reference (``expr`` at ``source_pose``) to ``target_pose``."""
    return "\n".join([
        f"The same image of {d.character}, with a new head pose.",
        f"Use the reference image for identity and facial expression. {_KEEP}",
        "",
        "Head pose:",
        f"  - The reference shows: {d.pose(source_pose)}.",
        f"  - Change the head pose to: {d.pose(target_pose)}.",
        "",
        "Facial expression:",
        "  - Keep the facial expression identical to the reference image.",
        f"  - The expression should match this description: {d.expression(expr)}.",
        "",
        "Only adjust the head's orientation. Do NOT change the mouth, eyes or eyebrows (other "
        "than small perspective adjustments), hairstyle, clothing or background.",
    ])


def tween_prompt(d: Descriptions, start: Expression, start_pose: str, end: Expression,
                 end_pose: str, t_left: float, t_right: float, t: float) -> str:
    """Prompt for the in-between of two references: the first at ``t_left``, the second at
    ``t_right`` on the path from (``start``, ``start_pose``) at 0 to (``end``, ``end_pose``)
    at 1; the image asked for sits at ``t``."""
    frac = (t - t_left) / (t_right - t_left)
    lines = [
        f"An in-between animation frame of {d.character}.",
        "Two reference images are given: two frames of the same short animation. "
        f"{_KEEP}",
        "",
        f"The animation goes from: {d.expression(start)}, {d.pose(start_pose)};",
        f"to: {d.expression(end)}, {d.pose(end_pose)}.",
        f"The first reference is at {round(100 * t_left)}% of the way, the second at "
        f"{round(100 * t_right)}%.",
        "",
        f"Draw the frame at {round(100 * t)}% of the way: {round(100 * frac)}% of the way from "
        "the first reference to the second, so that mouth opening, lip shape, eyes, "
        "eyebrows and head position are all exactly in between.",
    ]
    return "\n".join(lines)

