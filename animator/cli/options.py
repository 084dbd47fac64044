"""Argument types shared by the commands: each parses one option's text or raises
argparse.ArgumentTypeError with a message that names the option and the allowed values."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def number_in(kind: type, low: float, high: float, what: str,
              unit: str = "") -> Callable[[str], float]:
    """A parser of ``kind`` (int or float) values in [low, high]."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be {'an integer' if kind is int else 'a number'}, "
                f"not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low} and {high}{unit}")
        return value

    parse.__name__ = what  # argparse names the option's type in its own messages
    return parse


fps = number_in(float, 1, 240, "fps")
width_px = number_in(int, 16, 4096, "width", " pixels")
port = number_in(int, 0, 65535, "port")
max_workers = number_in(int, 1, 64, "--max-workers")
max_depth = number_in(int, 0, 5, "--max-depth")
max_attempts = number_in(int, 1, 20, "--max-attempts")
motion_gain = number_in(float, 0, 3, "--motion-gain")


def add_motion_gain(parser: argparse.ArgumentParser) -> None:
    """--motion-gain (render and live)."""
    parser.add_argument("--motion-gain", type=motion_gain, default=1.0, metavar="G",
                        help="how much the head moves with the natural motion: 0 still, 1 the "
                             "default, 2 lively (every synthesised angle is scaled by G: the "
                             "nods on stressed syllables, the sway, the listening posture)")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds must be a number, not {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("seconds must be > 0")
    return value


def colour(text: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b)."""
    from animator.sinks.compose import parse_color

    try:
        return parse_color(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT' (VMC receivers)."""
    from animator.sinks.vmc import parse_host_port

    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def origin(text: str) -> str:
    """A web origin, 'https://host[:port]', normalised without a trailing slash."""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") \
            or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin like "
                                         f"https://studio.example or http://host:8080")
    return f"{parts.scheme}://{parts.netloc}"


def bin_edges(text: str) -> list[float]:
    """'-30,-20,...' -> signed bin edges in degrees."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("bin edges must be comma-separated degrees, e.g. "
                                         "-30,-20,-10,0,10,20,30") from None
