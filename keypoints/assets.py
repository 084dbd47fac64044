"""Where the shipped data lives: ``$ANIMATOR_ASSETS``, the checkout's ``assets/``, or the
``animator_assets`` package that a wheel install carries."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def assets_dir() -> Path:
    """The assets folder (see the module docstring for the order of lookup)."""
    env = os.environ.get("ANIMATOR_ASSETS")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[1] / "assets"
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec("animator_assets")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return checkout  # absent: callers report the missing file by name


def default_model_path() -> Path:
    """The shipped MappingNet (looked up anew at each call: ``$ANIMATOR_ASSETS`` may change)."""
    return assets_dir() / "models" / "mappingnet.onnx"
