"""The ``animator`` command: argument parsing and error reporting only, no logic.

Each group of subcommands lives in its own ``animator/cli_*.py`` module with a
``register(subparsers)`` function that adds its parsers and sets ``run`` to the function
carrying the command out (which imports the heavy modules lazily, to keep start-up fast).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from animator import __version__

EXIT_BAD_INPUT = 2
_python_show_warning = warnings.showwarning
#: Modules that register subcommands, in the order of ``animator --help``.
COMMAND_MODULES = ("animator.cli.render", "animator.cli.batch", "animator.cli.live",
                   "animator.cli.rig")


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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Input warnings as one line on stderr; anything else as Python shows it."""
    from animator.core.errors import InputWarning

    if issubclass(category, InputWarning):
        print(f"animator: warning: {message}", file=sys.stderr, flush=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from animator.core import shutdown
    from animator.core.errors import AnimatorError
    from keypoints.compute_threads import compute_threads

    warnings.showwarning = _show_warning

    uninstall = shutdown.install()
    try:
        with compute_threads():  # one BLAS thread in every command (see that module)
            return args.run(args)
    except AnimatorError as exc:
        print(f"animator: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except shutdown.Terminated:
        print("animator: terminated", file=sys.stderr)
        return shutdown.EXIT_TERMINATED
    except KeyboardInterrupt:
        print("animator: interrupted", file=sys.stderr)
        return shutdown.EXIT_INTERRUPTED
    finally:
        uninstall()


if __name__ == "__main__":
    sys.exit(main())
