"""`--state STATE.sqlite`: what earlier runs read, so a nightly run reads only new or changed files.

One row per output name: the file's size, mtime and SHA-256 when it was read, the model name and
version and segment mode that read it, its status and its full result (the `writers.file_to_dict`
shape, compact as the journal keeps it; `file_from_dict` reads either form). A file is read again
when
- it is new, or its size or mtime changed and its content hash did too (a `touch` or a copy that
  keeps the bytes only refreshes the stored size and mtime);
- the model name or version or the segment mode differs from the stored one;
- its last result was `error` (the cause, e.g. a half-copied scan or a permission, may be gone);
- the run passes `--reprocess`.

The state changes only in `State.commit`, one SQLite transaction run after the output has been
renamed into place: a run that is killed changes nothing, so running it again (with `--resume`,
or without) selects the same files. Names no longer found under INPUT are deleted in the same
transaction. Because every row keeps its result, a run with `--master` can write the complete
table of the folder each night without reading unchanged files.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from batch_ocr.records import STATUS_ERROR, FileResult
from batch_ocr.writers import file_from_dict

SCHEMA_VERSION = 1
_HASH_BLOCK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY,
    size INTEGER,
    mtime_ns INTEGER,
    sha256 TEXT,
    model TEXT,
    model_version TEXT,
    segment TEXT,
    status TEXT NOT NULL,
    result TEXT NOT NULL
);
"""


class StateError(Exception):
    """The state database cannot be used (exit 2); str() is the message for the user."""


@dataclass(frozen=True)
class Settings:
    """What produced a result: another model, version or segment mode means reading again."""

    model: str | None
    model_version: str | None
    segment: str


def source_of(path: str, with_hash: bool) -> dict[str, Any] | None:
    """{'size', 'mtime_ns', 'sha256'} of the file at `path` (sha256 None unless `with_hash`), or
    None when it cannot be stat'ed or read (it will get an error row anyway)."""
    try:
        info = os.stat(path)
        digest = _sha256(path) if with_hash else None
    except OSError:
        return None
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    # O_NONBLOCK: a path that became a FIFO must not hang the job (images.py reads it the same way).
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def same_stat(source: dict[str, Any] | None, path: str) -> bool:
    """True when `path` still has the size and mtime recorded in `source`."""
    if not source:
        return False
    try:
        info = os.stat(path)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns) == (source.get("size"), source.get("mtime_ns"))


class State:
    """An open state database (see the module docstring)."""

    def __init__(self, path: str, settings: Settings):
        self.path = path
        self.settings = settings
        # Files that are unchanged but were touched: their new size/mtime is saved on commit.
        self.touched: list[tuple[str, dict[str, Any]]] = []
        try:
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA synchronous = FULL")
            with self.db:
                self.db.executescript(_SCHEMA)
                row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if row is None:
                    self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif row[0] != str(SCHEMA_VERSION):
                    raise StateError(f"state {path} has schema {row[0]}, this batch-ocr "
                                     f"reads schema {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            with contextlib.suppress(Exception):
                self.db.close()
            raise StateError(f"cannot use state {path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def unchanged(self, name: str, path: str) -> bool:
        """True when `name` was read before, with these settings, without error, and the file
        at `path` still has the same content (see the module docstring)."""
        row = self.db.execute(
            "SELECT size, mtime_ns, sha256, model, model_version, segment, status "
            "FROM files WHERE name = ?", (name,)).fetchone()
        if row is None:
            return False
        size, mtime_ns, sha256, model, model_version, segment, status = row
        if status == STATUS_ERROR or sha256 is None:
            return False
        if Settings(model, model_version, segment) != self.settings:
            return False
        if same_stat({"size": size, "mtime_ns": mtime_ns}, path):
            return True
        source = source_of(path, with_hash=True)
        if source is None or source["sha256"] != sha256:
            return False
        self.touched.append((name, source))
        return True

    def result(self, name: str) -> FileResult:
        row = self.db.execute("SELECT result FROM files WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise KeyError(name)
        return file_from_dict(json.loads(row[0]))

    def commit(self, records: Iterable[dict[str, Any]], present: set[str]) -> None:
        """Store the journaled `records` of this run, save touched files' new size and mtime,
        and forget every name not in `present`, all in one transaction."""
        settings = self.settings
        try:
            with self.db:
                for record in records:
                    source = record.get("source") or {}
                    result = {key: record[key] for key in ("file", "status", "error", "pages")}
                    self.db.execute(
                        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (record["file"], source.get("size"), source.get("mtime_ns"),
                         source.get("sha256"), settings.model, settings.model_version,
                         settings.segment, record["status"],
                         json.dumps(result, ensure_ascii=False)))
                self.db.executemany(
                    "UPDATE files SET size = ?, mtime_ns = ? WHERE name = ?",
                    [(source["size"], source["mtime_ns"], name) for name, source in self.touched])
                gone = [(name,) for (name,) in self.db.execute("SELECT name FROM files")
                        if name not in present]
                self.db.executemany("DELETE FROM files WHERE name = ?", gone)
        except sqlite3.Error as exc:
            raise StateError(f"cannot update state {self.path}: {exc}") from exc
        self.touched = []

    def names(self) -> list[str]:
        return [name for (name,) in self.db.execute("SELECT name FROM files ORDER BY name")]
