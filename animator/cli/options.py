"""Argument types shared by the commands: each parses one option's text or raises
argparse.ArgumentTypeError with a message that names the option and the allowed values."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from animator.core.modes import MOTION_MODES, OFFLINE_SPEAKING, SPEAKING_MODES, canonical_mode


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless its help already says it or there is none to show
    (a flag's False, an option's None: "(default: None)" tells a user nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, True):
            return action.help
        return super()._get_help_string(action)


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
mouth_gain = number_in(float, 0.25, 4, "--mouth-gain")


def _mode(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A mode name: today's, or the one it had before (e.g. ``seed`` for ``reference``)."""
    def parse(text: str) -> str:
        value = canonical_mode(text)
        if value not in choices:
            raise argparse.ArgumentTypeError(
                f"invalid choice {text!r} (choose from {', '.join(choices)})")
        return value
    return parse


def add_modes(parser: argparse.ArgumentParser) -> None:
    """--motion, --motion-gain and --speaking (render and batch)."""
    parser.add_argument("--motion", type=_mode(MOTION_MODES), default="natural",
                        metavar="{natural,reference}",
                        help="head motion: 'natural' (follows the speech: nods and turns on "
                             "stressed syllables, settling at phrase ends, a calmer listening "
                             "state in pauses, over phased, re-drawn sinusoids) or 'reference' "
                             "(the seed pipeline's eased sinusoids, for comparison; 'seed' is "
                             "an old name for it)")
    add_motion_gain(parser)
    add_mouth_gain(parser)
    parser.add_argument("--speaking", "--silence", dest="speaking",
                        type=_mode(SPEAKING_MODES), default=OFFLINE_SPEAKING,
                        metavar="{" + ",".join(SPEAKING_MODES) + "}",
                        help="speaking state (1 while the lips move; it damps the head motion "
                             "in pauses): 'lookahead' (the default: the causal state, with the "
                             "breath before a phrase found by hearing up to 1 s ahead and not "
                             "taken for speech), 'causal' (lip speed in mouth widths/s, onset "
                             "confirmation and hangover: exactly what live mode uses) or "
                             "'reference' (the seed pipeline's whole-clip min-max weights). "
                             "Old names: --silence, 'stream', 'seed'")


def check_modes(args: argparse.Namespace) -> None:
    """The combination ``add_modes`` cannot check alone (exits through the parser)."""
    if args.motion == "reference" and args.motion_gain != 1.0:
        args.parser.error("--motion-gain applies to the natural motion; --motion reference is "
                          "the seed pipeline's algorithm, unchanged")


def add_motion_gain(parser: argparse.ArgumentParser) -> None:
    """--motion-gain (render, batch and live)."""
    parser.add_argument("--motion-gain", type=motion_gain, default=1.0, metavar="G",
                        help="how much the head moves with the natural motion: 0 still, 1 the "
                             "default, 2 lively (every synthesised angle is scaled by G: the "
                             "nods on stressed syllables, the sway, the listening posture)")


def add_mouth_gain(parser: argparse.ArgumentParser) -> None:
    """--mouth-gain (render, batch and live)."""
    from animator.stages.mouth import AUDIO_OPEN_GAIN

    parser.add_argument("--mouth-gain", type=mouth_gain, default=None, metavar="G",
                        help="how far mouths driven by speech open beyond closed lips: 1 the "
                             "lip model's own opening, the default "
                             f"{AUDIO_OPEN_GAIN:g} is how far real speakers' mouths open "
                             "(python -m benchmarks.mouth_range), more for a cartoon's wider "
                             "mouth; closed lips stay closed, the speaking state is unchanged; "
                             "a camera's lips are always shown as measured")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds must be a number, not {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("seconds must be > 0")
    return value


def colour(text: str) -> tuple[int, int, int]:
    """'#rrggbb' or 'rrggbb' -> (r, g, b). (Parsed here, not by the compositor: every render
    parses its default background, and the compositor's module imports OpenCV, ~0.25 s that a
    timeline-only run never needs.)"""
    s = text.lstrip("#")
    if len(s) != 6 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise argparse.ArgumentTypeError(f"colour must be #rrggbb, got {text!r}")
    return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)


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
