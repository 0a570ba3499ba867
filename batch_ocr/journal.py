"""The journal beside OUTPUT: finished files stream into it, so an interrupted run loses nothing.

`OUTPUT.journal.jsonl` starts with a header line (journal version, model name and version,
segment mode) followed by one JSON line per finished file: the `writers.file_to_dict` shape in
its compact form, plus `t` (seconds of work so far, so a resumed JSON summary adds up all runs)
and `source` (size, mtime and, with `--state`, content hash of the file when it was read). Lines
are appended in chunks, flushed and fsynced, inside `SignalGuard.critical` so SIGINT/SIGTERM
never tears one; a SIGKILL can, and `Journal.read` cuts a torn last line off. A name journaled
twice keeps its last record.

Only names and byte offsets are held in memory; results are read back one at a time when the
final output is written.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from batch_ocr.records import FileResult
from batch_ocr.writers import file_from_dict, file_to_dict

JOURNAL_SUFFIX = ".journal.jsonl"
JOURNAL_VERSION = 1


class Interrupted(BaseException):
    """SIGINT/SIGTERM arrived; a BaseException so per-file `except Exception` cannot swallow it."""


class SignalGuard:
    """Turns SIGINT/SIGTERM into `Interrupted`, but never in the middle of a journal write."""

    def __init__(self) -> None:
        self._critical = 0
        self._pending = False
        self._fired = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        # signal.signal only works in the main thread; elsewhere Ctrl-C stays KeyboardInterrupt.
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        # One stop request is enough: a second signal (systemd signals the whole process group,
        # and a wrapper script may forward the same signal) must not break off the clean-up.
        if self._fired:
            return
        if self._critical:
            self._pending = True
        else:
            self._fired = True
            raise Interrupted(signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if not self._critical and self._pending:
            self._pending = False
            self._fired = True
            raise Interrupted()


def journal_header(card: dict[str, Any], segment: str) -> dict[str, Any]:
    """What a journal must match to be resumed: results of another model cannot be mixed in."""
    return {"journal": JOURNAL_VERSION, "model": card.get("name"),
            "model_version": card.get("version"), "segment": segment}


class Journal:
    """Finished files, one JSON line each, indexed by name -> byte offset for the final write."""

    def __init__(self, fh: IO[bytes], guard: SignalGuard, seconds_before: float = 0.0):
        self.fh = fh
        self.guard = guard
        self.index: dict[str, int] = {}
        self.seconds_before = seconds_before

    @classmethod
    def read(cls, fh: IO[bytes], guard: SignalGuard,
             keep: Callable[[dict[str, Any]], bool] | None = None,
             ) -> tuple[Journal, dict[str, Any] | None]:
        """Index an existing journal; a torn last line (a crash mid-write) is cut off.

        `keep(record)` may refuse a record (its file changed since it was read): that file is
        then read again.
        """
        journal = cls(fh, guard)
        header = None
        fh.seek(0)
        offset = 0
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
                if "journal" in record:
                    header = record
                else:
                    file_from_dict(record)  # a record the final write could not use is torn
                    if keep is None or keep(record):
                        journal.index[record["file"]] = offset
                    else:
                        journal.index.pop(record["file"], None)
                    journal.seconds_before = max(journal.seconds_before, float(record.get("t", 0)))
            except (ValueError, KeyError, TypeError, AttributeError):
                break
            offset += len(raw)
        fh.seek(offset)
        fh.truncate()
        return journal, header

    def write_header(self, header: dict[str, Any]) -> None:
        self._append([json.dumps(header, ensure_ascii=False)])

    def add(self, results: list[tuple[FileResult, dict[str, Any] | None]], seconds: float) -> None:
        """Journal finished files, each with the `source` fingerprint it was read with."""
        lines = []
        for result, source in results:
            record = file_to_dict(result, compact=True)
            record["t"] = round(self.seconds_before + seconds, 3)
            record["source"] = source
            lines.append(json.dumps(record, ensure_ascii=False))
        offsets = self._append(lines)
        for (result, _), offset in zip(results, offsets):
            self.index[result.file] = offset

    def _append(self, lines: list[str]) -> list[int]:
        if not lines:
            return []
        with self.guard.critical():
            self.fh.seek(0, io.SEEK_END)
            position = self.fh.tell()
            offsets = []
            data = bytearray()
            for line in lines:
                offsets.append(position + len(data))
                data += (line + "\n").encode("utf-8")
            self.fh.write(data)
            self.fh.flush()
            os.fsync(self.fh.fileno())
        return offsets

    def record(self, name: str) -> dict[str, Any]:
        """The journaled record of `name` (the `file_to_dict` shape plus `t` and `source`)."""
        self.fh.seek(self.index[name])
        return json.loads(self.fh.readline())

    def result(self, name: str) -> FileResult:
        return file_from_dict(self.record(name))

    def records(self) -> Iterator[dict[str, Any]]:
        """Every indexed record, in name order."""
        for name in sorted(self.index):
            yield self.record(name)
