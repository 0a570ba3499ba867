"""The files beside OUTPUT that make a run safe: the lock, and the temporary file renamed over it.

- `OUTPUT.lock` is held with `flock` for the whole run, so the OS releases it when the process
  dies, however it dies. The file itself is left in place: deleting it would let a run that is
  just opening it lock an inode nobody else sees, and two runs would write the same output.
- The final output is written to `.OUTPUT.<random>.tmp` beside it, fsynced and renamed over it,
  so readers see the old file or the new one, never half of one. A run killed while writing it
  leaves the temporary file behind; the next run on the same output (holding the lock, so no
  other run can be writing one) removes it.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import io
import os
import sys
import tempfile
from collections.abc import Callable
from typing import IO

LOCK_SUFFIX = ".lock"
TEMP_SUFFIX = ".tmp"

Writer = Callable[[IO[str]], None]


def output_problem(output: str) -> str | None:
    """Why `output` cannot be written (a usage error), or None."""
    if output == "-":
        return None
    if os.path.isdir(output):
        return f"output {output} is a directory"
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        return f"output directory {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write to output directory {parent}"
    return None


def try_lock(path: str) -> int | None:
    """An fd holding an exclusive flock on `path` (created if needed), or None if another
    process holds it. Closing the fd releases the lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _temp_prefix(output: str) -> tuple[str, str]:
    directory, base = os.path.split(os.path.abspath(output))
    return directory, f".{base}."


def remove_stale_temps(output: str) -> list[str]:
    """Delete temporary files a killed run left beside `output`; call only while holding its
    lock. Returns the paths removed."""
    directory, prefix = _temp_prefix(output)
    removed = []
    for path in glob.glob(os.path.join(glob.escape(directory), glob.escape(prefix) + "*"
                                       + TEMP_SUFFIX)):
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed.append(path)
    return removed


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(output: str, write: Writer) -> None:
    """Write through `write(stream)` to a temporary file beside `output`, then rename it over."""
    directory, prefix = _temp_prefix(output)
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private; the output should get the usual permissions.
        os.chmod(temp_path, 0o666 & ~_current_umask())
        os.replace(temp_path, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise
    # The rename itself must reach the disk before the journal that backs it is deleted.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_stdout(write: Writer) -> None:
    """Write through `write(stream)` to stdout as UTF-8 without closing sys.stdout."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        write(sys.stdout)
        sys.stdout.flush()
        return
    stream = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        write(stream)
        stream.flush()
    finally:
        stream.detach()  # leave sys.stdout's buffer open
