"""File outputs that never destroy an input.

Every command checks all of its outputs before any work (:func:`check_outputs`): an output
that is the same file as an input or as another output, an existing target that is not a
regular file (a folder, a device node, a FIFO), an extension that does not name a supported
format, or a missing or read-only folder is refused with one line. Outputs are then written to
hidden temporary siblings and renamed into place together when the run is complete
(:func:`atomic_outputs`): a failed, interrupted or killed run never leaves a half-written file
under a final name, a full disk is one line naming the file, and the hidden leftovers of a
killed run are removed by the next run that writes the same output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from animator.core import shutdown
from animator.core.errors import AnimatorError

#: Marker between an output's name and the writer's pid in a temporary file's name:
#: ``.NAME.PID-RANDOM.part.EXT``.
_PART = ".part"


#: Temporary files being written now (the SIGTERM watchdog removes them before a hard exit).
_active_temps: set[Path] = set()
shutdown.on_hard_exit(lambda: _remove(list(_active_temps)))


class OutputError(AnimatorError):
    """An output path that cannot or must not be written; the message names the path."""


@dataclass(frozen=True)
class Output:
    """An output a command will write. ``suffixes``: the extensions that name a format the
    writer makes (lower case, with the dot); empty accepts any."""

    path: str | os.PathLike
    what: str  # "video", "timeline", ... (for messages)
    suffixes: tuple[str, ...] = ()
    #: a folder of files (an image sequence): it may exist only as an empty folder, and is
    #: written with :func:`atomic_folder`
    folder: bool = False


def _stat(path: Path, follow: bool = True) -> os.stat_result | None:
    """stat of ``path`` or None when nothing is there; OutputError for a symlink loop or an
    unreadable path (one line naming it)."""
    try:
        return path.stat() if follow else path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"{path}: symlink loop") from None
        if exc.errno == errno.ENOTDIR:
            raise OutputError(f"{path}: a part of the path is not a folder") from None
        raise OutputError(f"{path}: cannot access ({exc.strerror})") from None


def _file_id(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None if it does not exist or cannot be read."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def real_output_path(path: str | os.PathLike) -> Path:
    """The absolute path a write to ``path`` lands on: its folder's symlinks resolved, and the
    file's own symlink followed (the target is written, the link kept)."""
    p = Path(os.path.abspath(os.fspath(path)))
    if p.is_symlink():
        _stat(p)  # a loop or a dangling chain is reported here, by name
        p = p.resolve()
    return p.parent.resolve() / p.name


def refuse_inputs(dests: Iterable[str | os.PathLike],
                  inputs: Iterable[str | os.PathLike | None]) -> None:
    """OutputError for the first of ``dests`` that is the same file as one of ``inputs``
    (through symlinks or hard links): a batch of outputs whose folders may not exist yet."""
    input_ids = {}
    for p in inputs:
        if p is not None and (fid := _file_id(p)) is not None:
            input_ids[fid] = p
    for dest in dests:
        fid = _file_id(dest)
        if fid is not None and fid in input_ids:
            raise OutputError(f"{dest}: is the input {input_ids[fid]}; an output never "
                              f"replaces an input")


def check_outputs(outputs: Sequence[Output], inputs: Iterable[str | os.PathLike | None] = ()
                  ) -> list[Path]:
    """Refuse, before any work, outputs that would destroy an input or each other.

    Returns the real path of each output (see :func:`real_output_path`), in order. Raises
    OutputError (one line naming the path) for: an unsupported extension; an existing target
    that is not a regular file; a missing, non-folder or read-only parent; the same file as
    an input (also through symlinks or hard links) or as another output.
    """
    input_ids = {}
    for p in inputs:
        if p is not None and (fid := _file_id(p)) is not None:
            input_ids[fid] = p
    seen: dict[Path, Output] = {}
    real_paths = []
    for out in outputs:
        given = Path(out.path)
        if out.suffixes and given.suffix.lower() not in out.suffixes:
            formats = ", ".join(out.suffixes)
            raise OutputError(f"{given}: a {out.what} is written as {formats}; the extension "
                              f"'{given.suffix}' names no format this command writes")
        real = real_output_path(given)
        st = _stat(real)
        if out.folder:
            if st is not None and not (stat.S_ISDIR(st.st_mode) and not any(real.iterdir())):
                raise OutputError(f"{given}: exists and is not an empty folder (a {out.what} "
                                  f"is written into a new folder)")
        elif st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise OutputError(f"{given}: is a folder")
            if not stat.S_ISREG(st.st_mode):
                raise OutputError(f"{given}: exists and is not a regular file (a device, FIFO "
                                  f"or socket is never replaced)")
            if (st.st_dev, st.st_ino) in input_ids:
                raise OutputError(f"{given}: is the input {input_ids[(st.st_dev, st.st_ino)]}; "
                                  f"an output never replaces an input")
        parent_st = _stat(real.parent)
        if parent_st is None:
            raise OutputError(f"{given}: folder {given.parent} does not exist")
        if not stat.S_ISDIR(parent_st.st_mode):
            raise OutputError(f"{given}: {given.parent} is not a folder")
        if not os.access(real.parent, os.W_OK | os.X_OK):
            raise OutputError(f"{given}: folder {given.parent} is not writable")
        if real in seen:
            raise OutputError(f"{given}: named twice, as the {seen[real].what} and the "
                              f"{out.what}")
        seen[real] = out
        real_paths.append(real)
    return real_paths


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_stale_parts(dest: Path) -> int:
    """Remove the hidden temporary files that killed runs left for ``dest`` (their writer's pid
    is gone); returns how many were removed."""
    removed = 0
    prefix = f".{dest.name}."
    suffix = f"{_PART}{dest.suffix}"
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid_text = name[len(prefix):-len(suffix)].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            with contextlib.suppress(OSError):
                (dest.parent / name).unlink()
                removed += 1
    return removed


def _write_error(exc: BaseException, temps: dict[Path, Path]) -> OutputError:
    """One line for a failed write, naming the final output the temporary file stood for."""
    filename = getattr(exc, "filename", None)
    dest = next((d for t, d in temps.items() if filename and Path(filename) == t),
                next(iter(temps.values())))
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the device"
    elif code == errno.EFBIG:
        reason = "file too large for this file system or limit"
    return OutputError(f"{dest}: cannot write ({' '.join(str(reason).split())})")


@contextlib.contextmanager
def atomic_outputs(dests: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``dests``; rename them all into place if the block
    succeeds, remove them all if it fails.

    The temporary names keep the extension (writers that pick a format from it still work),
    start with a dot and carry the writer's pid, so a later run can tell a dead run's leftover
    from a live one's file. A write error (disk full, quota, I/O) becomes one OutputError line
    naming the output. Renamed files get the usual permissions (0666 less the umask).
    """
    finals = [real_output_path(d) for d in dests]
    temps: dict[Path, Path] = {}
    try:
        for dest in finals:
            if not dest.parent.is_dir():
                raise OutputError(f"{dest}: folder {dest.parent} does not exist")
            remove_stale_parts(dest)
            try:
                fd, name = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}-",
                                            suffix=f"{_PART}{dest.suffix}", dir=dest.parent)
            except OSError as exc:
                raise OutputError(f"{dest}: cannot write ({exc.strerror})") from None
            os.close(fd)
            temps[Path(name)] = dest
            _active_temps.add(Path(name))
        yield list(temps)
        mode = 0o666 & ~_umask()
        for tmp in temps:
            os.chmod(tmp, mode)
        for tmp, dest in temps.items():
            os.replace(tmp, dest)
            _active_temps.discard(tmp)
    except OutputError:
        _remove(temps)
        raise
    except OSError as exc:
        _remove(temps)
        raise _write_error(exc, temps) from None
    except BaseException:
        _remove(temps)
        raise


@contextlib.contextmanager
def atomic_folder(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``dest`` and rename it to ``dest`` (which may
    exist only as an empty folder) if the block succeeds; remove it if the block fails."""
    import shutil

    final = real_output_path(dest)
    if not final.parent.is_dir():
        raise OutputError(f"{dest}: folder {final.parent} does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}-", suffix=_PART,
                                    dir=final.parent))
    except OSError as exc:
        raise OutputError(f"{dest}: cannot write ({exc.strerror})") from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if final.is_dir():
            final.rmdir()  # checked empty before the work (OSError if it filled since)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(exc, {tmp: final}) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove(temps: Iterable[Path]) -> None:
    for tmp in temps:
        _active_temps.discard(tmp)
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_output(dest: str | os.PathLike) -> Iterator[Path]:
    """:func:`atomic_outputs` for one file."""
    with atomic_outputs([dest]) as (tmp,):
        yield tmp


def write_bytes_atomic(dest: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_output(dest) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(dest: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``dest`` atomically."""
    write_bytes_atomic(dest, text.encode("utf-8"))
