"""Where the shipped data lives: ``assets/`` of the checkout, or ``$ANIMATOR_ASSETS``."""

from __future__ import annotations

import os
from pathlib import Path

#: The built-in character used when no rig is given.
DEFAULT_CHARACTER = "toon"


def assets_dir() -> Path:
    """The assets folder: ``$ANIMATOR_ASSETS`` if set, else the checkout's ``assets/``."""
    env = os.environ.get("ANIMATOR_ASSETS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "assets"


def default_rig_dir() -> Path:
    return assets_dir() / "characters" / DEFAULT_CHARACTER


def default_model_path() -> Path:
    return assets_dir() / "models" / "mappingnet.onnx"
