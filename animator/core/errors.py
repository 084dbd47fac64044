"""One base for every error that means bad input (a file, a folder, a model, an option), not a
bug. Each carries a one-line message naming the file and the problem; the CLI prints it and
exits with status 2, no traceback."""

from __future__ import annotations


class AnimatorError(Exception):
    """Bad input or an unusable output: the message is one line, "PATH: problem"."""


def one_line(text: object) -> str:
    """Collapse an exception text (or anything printable) to a single line."""
    return " ".join(str(text).split())


class InputWarning(UserWarning):
    """Input that is usable but not what it claims (a truncated file, a model that misbehaves
    now and then); the CLI prints it as one line, "animator: warning: PATH: problem"."""


def warn_input(message: str) -> None:
    """Report an :class:`InputWarning` (one line, naming the file)."""
    import warnings

    warnings.warn(message, InputWarning, stacklevel=2)


class LiveError(AnimatorError):
    """A device or sink that cannot be used (missing library, no display, port taken...);
    the message is one line and says what to do."""
