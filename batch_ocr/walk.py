"""INPUT arguments -> the sorted list of files a job reads, each with the name the output shows.

Walking: hidden entries are skipped and files whose suffix is not an image suffix are ignored,
but a directory or dangling symlink named like an image (`x.png`) is listed, because the user
expected an image there and gets an error row for it (a directory is still walked too).
Symlinks are followed, each real directory is walked once, so loops end.

Names: `/`-separated and relative to their INPUT directory; they are built from the walked path,
never from where a link resolves, so no name escapes its root. With several INPUTs each
directory's files get that INPUT (as given) as a prefix (`scans/a.png` for INPUT `scans`), so
names from different directories cannot collide. A file INPUT is always named as given. A name
found twice is read once. Undecodable file-name bytes are spelled as backslash escapes, because
the output is UTF-8 and such a name must neither crash the job nor merge with another name.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from batch_ocr import images


class UsageError(Exception):
    """A problem with the job's arguments (exit 2); str() is the message for the user."""


@dataclass(frozen=True)
class InputFile:
    name: str  # as written to the output: '/'-separated, relative to its INPUT
    path: str  # where to read it
    problem: str = ""  # known to be unreadable before opening (e.g. a directory we cannot list)


def utf8_safe(text: str) -> str:
    """`text` with lone surrogates (undecodable file-name bytes) spelled as backslash escapes."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that did not come from file-name bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _slashed(path: str) -> str:
    return utf8_safe(path.replace(os.sep, "/"))


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _walk(root: str) -> Iterator[tuple[str, str, str]]:
    """(name relative to root, path, known problem) for every image-named entry under root."""
    visited = {_identity(root)}
    stack = [("", root)]
    while stack:
        rel_dir, dir_path = stack.pop()
        try:
            with os.scandir(dir_path) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if not rel_dir:
                raise UsageError(f"cannot read input directory {root}: {exc.strerror}") from exc
            yield rel_dir, dir_path, f"cannot list directory: {exc.strerror or exc}"
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            shown = utf8_safe(entry.name)
            rel = f"{rel_dir}/{shown}" if rel_dir else shown
            image_named = os.path.splitext(entry.name)[1].lower() in images.IMAGE_SUFFIXES
            try:
                is_dir = entry.is_dir()  # follows symlinks; a dangling link is not a directory
            except OSError:
                is_dir = False
            if image_named:
                yield rel, entry.path, ""
            if is_dir:
                try:
                    identity = _identity(entry.path)
                except OSError:
                    continue
                if identity not in visited:
                    visited.add(identity)
                    stack.append((rel, entry.path))


def list_inputs(inputs: list[str]) -> list[InputFile]:
    """Every file to read, sorted by output name (see the module docstring for naming)."""
    found: dict[str, InputFile] = {}
    for given in inputs:
        if not os.path.lexists(given):
            raise UsageError(f"input {given} does not exist")
        if os.path.isdir(given):
            prefix = ""
            if len(inputs) > 1:
                norm = _slashed(os.path.normpath(given))
                prefix = "" if norm == "." else norm.rstrip("/") + "/"
            for rel, path, problem in _walk(given):
                found.setdefault(prefix + rel, InputFile(prefix + rel, path, problem))
        else:
            name = _slashed(given)
            found.setdefault(name, InputFile(name, given))
    return [found[name] for name in sorted(found)]
