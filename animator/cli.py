"""The ``animator`` command: argument parsing and error reporting only, no logic.

Each group of subcommands lives in its own ``animator/cli_*.py`` module with a
``register(subparsers)`` function that adds its parsers and sets ``run`` to the function
carrying the command out (which imports the heavy modules lazily, to keep start-up fast).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

from animator import __version__

EXIT_BAD_INPUT = 2
#: Modules that register subcommands, in the order of ``animator --help``.
COMMAND_MODULES = ("animator.cli_render", "animator.cli_live", "animator.cli_rig")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="animator",
        description="Talking-head pose animator: speech in, a character rig's frames out. "
                    "Lip keypoints come from an audio-driven ONNX model (MappingNet); head "
                    "motion is synthesised and damped while the speaker is silent; every "
                    "frame shows the nearest image of the rig.",
        epilog="Run 'animator COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: temporary files
    removed, devices released."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from animator.core.errors import AnimatorError

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return args.run(args)
    except AnimatorError as exc:
        print(f"animator: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Terminated:
        print("animator: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("animator: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
