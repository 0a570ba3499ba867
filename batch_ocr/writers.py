"""Write finished `FileResult`s as CSV, JSON or JSON Lines (the shapes in DESIGN.md).

Every writer takes an iterable of results already in output order and streams it, so memory stays
flat however many files a job has. The same dict shape (`file_to_dict`) is what job.py journals,
so a journal line turns back into an exact `FileResult` with `file_from_dict`; the journal keeps
a line's characters in the compact form (`compact=True`, see there), which reads back the same.

Rows for files without lines (status `empty` or `error`) carry `page = line = 0` and a zero box,
so every integer column stays an integer column for `pandas.read_csv`; their `confidence` is left
empty (NaN in pandas, `null` in JSON Lines) because nothing was read. Read the CSV back with
`pandas.read_csv(path, keep_default_na=False, na_values={"confidence": [""]})` to keep texts such
as `NA` or an empty text as strings.
"""
from __future__ import annotations

import csv
import importlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from batch_ocr.records import (
    STATUS_EMPTY,
    STATUS_ERROR,
    STATUS_OK,
    CharConfidence,
    FileResult,
    LineResult,
    PageResult,
)

FORMATS = ("csv", "json", "jsonl")
CSV_COLUMNS = ["file", "page", "line", "text", "confidence", "x", "y", "width", "height",
               "status", "error"]
# Columns holding free text: the ones a spreadsheet could be tricked into running as a formula.
TEXT_COLUMNS = ("file", "text", "error")
CONFIDENCE_DECIMALS = 4

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# pandas.to_csv is called once per group of rows, so the CSV never needs the whole job in memory.
_CSV_ROWS_PER_WRITE = 2000


class FormatError(ValueError):
    """The output format cannot be decided (a usage error: exit 2)."""


def format_for(output: str, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from OUTPUT's suffix (.csv, .json, .jsonl)."""
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise FormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    if output == "-":
        raise FormatError("writing to stdout (-o -) needs --format csv|json|jsonl")
    suffix = os.path.splitext(output)[1].lower().lstrip(".")
    if suffix not in FORMATS:
        raise FormatError(f"cannot tell the format from {output!r}; name it .csv, .json or "
                          ".jsonl or pass --format")
    return suffix


def neutralise(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would evaluate as a formula; plain numbers stay as is."""
    if cell.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _confidence(value: float | None) -> float | None:
    return None if value is None else round(float(value), CONFIDENCE_DECIMALS)


def file_to_dict(result: FileResult, rounded: bool = False, compact: bool = False
                 ) -> dict[str, Any]:
    """The JSON shape of one file. `rounded` rounds confidences for output; the journal keeps the
    exact floats so that a resumed run writes the same bytes as an uninterrupted one. `compact`
    (the journal's and the state's form): a line whose text is its characters one for one keeps
    their confidences alone, `char_confidences`, in place of `chars`: a one-line file's journal
    line then takes about a third less time to write and to read back (50 -> 34 and 45 -> 32
    us), the 40-odd {"char", "confidence"} objects it no longer holds."""
    conf = _confidence if rounded else (lambda v: float(v))
    return {
        "file": result.file,
        "status": result.status,
        "error": result.error,
        "pages": [
            {
                "page": int(page.page),
                "width": int(page.width),
                "height": int(page.height),
                "lines": [
                    {
                        "line": int(line.line),
                        "text": line.text,
                        "confidence": conf(line.confidence),
                        "box": [int(v) for v in line.box],
                        **_line_chars(line, conf, compact),
                    }
                    for line in page.lines
                ],
            }
            for page in result.pages
        ],
    }


def _line_chars(line: LineResult, conf, compact: bool) -> dict[str, Any]:
    chars = line.chars
    if compact and len(chars) == len(line.text) and all(
            c.char == t for c, t in zip(chars, line.text)):
        return {"char_confidences": [conf(c.confidence) for c in chars]}
    return {"chars": [{"char": c.char, "confidence": conf(c.confidence)} for c in chars]}


def _chars_from_dict(line: dict[str, Any]) -> list[CharConfidence]:
    if "char_confidences" in line:  # the compact form: the text's characters, one for one
        return list(map(CharConfidence, line["text"], line["char_confidences"]))
    return [CharConfidence(c["char"], c["confidence"]) for c in line["chars"]]


def file_from_dict(data: dict[str, Any]) -> FileResult:
    """Inverse of `file_to_dict`, either form (used to read the journal and the state back)."""
    return FileResult(
        file=data["file"],
        status=data["status"],
        error=data.get("error", ""),
        pages=[
            PageResult(
                page=p["page"], width=p["width"], height=p["height"],
                lines=[
                    LineResult(
                        line=ln["line"], text=ln["text"], confidence=ln["confidence"],
                        box=tuple(ln["box"]),
                        chars=_chars_from_dict(ln),
                    )
                    for ln in p["lines"]
                ],
            )
            for p in data["pages"]
        ],
    )


def file_rows(result: FileResult, with_chars: bool = True) -> list[dict[str, Any]]:
    """One row per text line (CSV columns plus `chars`, unless not `with_chars`: the CSV has no
    column for them); a single row for a file without lines."""
    rows = []
    if result.status == STATUS_OK:
        for page in result.pages:
            for line in page.lines:
                x, y, w, h = (int(v) for v in line.box)
                rows.append({
                    "file": result.file, "page": int(page.page), "line": int(line.line),
                    "text": line.text, "confidence": _confidence(line.confidence),
                    "x": x, "y": y, "width": w, "height": h,
                    "status": result.status, "error": result.error,
                })
                if with_chars:
                    rows[-1]["chars"] = [{"char": c.char, "confidence": _confidence(c.confidence)}
                                         for c in line.chars]
        rows.sort(key=lambda r: (r["page"], r["line"]))
    if not rows:
        rows.append({
            "file": result.file, "page": 0, "line": 0, "text": "", "confidence": None,
            "x": 0, "y": 0, "width": 0, "height": 0,
            "status": result.status, "error": result.error,
        })
        if with_chars:
            rows[-1]["chars"] = []
    return rows


def warm_up(fmt: str, after: threading.Event | None = None) -> None:
    """Import what writing `fmt` needs (pandas, for CSV) in a background thread, once `after` is
    set: the job passes the event its recogniser sets when the first batch has been read, so the
    import runs while the model reads (whose threads hold no GIL) instead of before the first
    line or after the last. Not sooner: until the first batch is back, the model's graph is being
    traced and set up, Python that holds the GIL as the import does, and the import held the
    first batch back by 0.15-0.2 s."""
    if fmt == "csv":
        threading.Thread(target=_import_after, args=("pandas", after),
                         name="batch-ocr-import-pandas", daemon=True).start()


def _import_after(module: str, after: threading.Event | None) -> None:
    if after is not None:
        after.wait()  # a run that never reads a batch never sets it: its writer imports pandas
    importlib.import_module(module)


def write_csv(results: Iterable[FileResult], stream: IO[str], raw_text: bool = False) -> None:
    """CSV with the DESIGN.md columns; formula-like cells neutralised unless `raw_text`."""
    # Imported here, not with the module: the job imports this module before it starts its
    # worker process and loads the model, and pandas took 0.2 s of that (see `warm_up`).
    import pandas as pd

    header = True

    def flush(rows: list[dict[str, Any]]) -> None:
        nonlocal header
        frame = pd.DataFrame(rows, columns=CSV_COLUMNS)
        # An all-empty confidence column would otherwise become object dtype: keep it float.
        frame["confidence"] = frame["confidence"].astype("float64")
        if not raw_text:
            for column in TEXT_COLUMNS:
                frame[column] = frame[column].map(neutralise)
        # Python's csv module quotes a field holding a line break only if the break is part of
        # the line terminator, so a lone CR (a file name can hold one) would go out unquoted and
        # split the row for every reader. Such a group of rows gets all its texts quoted.
        has_cr = any(frame[column].str.contains("\r", regex=False).any()
                     for column in TEXT_COLUMNS)
        if has_cr and header:
            stream.write(",".join(CSV_COLUMNS) + "\n")  # the header line keeps its usual bytes
            header = False
        frame.to_csv(stream, header=header, index=False, lineterminator="\n",
                     quoting=csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL)
        header = False

    pending: list[dict[str, Any]] = []
    for result in results:
        pending.extend(file_rows(result, with_chars=False))
        if len(pending) >= _CSV_ROWS_PER_WRITE:
            flush(pending)
            pending = []
    if pending or header:
        flush(pending)


def write_jsonl(results: Iterable[FileResult], stream: IO[str]) -> None:
    """One JSON object per CSV row, with the CSV keys plus `chars` (texts are never altered)."""
    for result in results:
        for row in file_rows(result):
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(results: Iterable[FileResult], stream: IO[str], card: dict[str, Any],
               summary_after: SummaryCounter) -> None:
    """The nested JSON document; `summary_after` is read once all files have been written, so the
    summary describes exactly the files in the document."""
    stream.write('{"model": ' + json.dumps(card, ensure_ascii=False) + ',\n "files": [')
    separator = "\n  "
    for result in results:
        stream.write(separator + json.dumps(file_to_dict(result, rounded=True),
                                            ensure_ascii=False))
        separator = ",\n  "
    stream.write('\n ],\n "summary": ' + json.dumps(summary_after.as_dict()) + "}\n")


class SummaryCounter:
    """Counts files, statuses and lines as results stream past (see `counted`)."""

    def __init__(self, seconds_before: float = 0.0, started: float | None = None, clock=None):
        """`seconds` = `seconds_before` (earlier runs of a resumed job) + time since `started`
        (a `clock()` reading; default now)."""
        self._clock = clock or time.monotonic
        self._start = self._clock() if started is None else started
        self.seconds_before = seconds_before
        self.files = self.ok = self.empty = self.error = self.lines = 0

    def add(self, result: FileResult) -> None:
        self.files += 1
        if result.status == STATUS_OK:
            self.ok += 1
        elif result.status == STATUS_EMPTY:
            self.empty += 1
        elif result.status == STATUS_ERROR:
            self.error += 1
        self.lines += sum(len(page.lines) for page in result.pages)

    def counted(self, results: Iterable[FileResult]) -> Iterator[FileResult]:
        for result in results:
            self.add(result)
            yield result

    @property
    def seconds(self) -> float:
        return round(self.seconds_before + self._clock() - self._start, 3)

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "ok": self.ok, "empty": self.empty, "error": self.error,
                "lines": self.lines, "seconds": self.seconds}


def write_results(fmt: str, results: Iterable[FileResult], stream: IO[str],
                  card: dict[str, Any], summary: SummaryCounter, raw_text: bool = False) -> None:
    """Write `results` (in output order) in format `fmt`, counting them into `summary`."""
    counted = summary.counted(results)
    if fmt == "csv":
        write_csv(counted, stream, raw_text=raw_text)
    elif fmt == "jsonl":
        write_jsonl(counted, stream)
    elif fmt == "json":
        write_json(counted, stream, card, summary)
    else:
        raise FormatError(f"unknown format {fmt!r}")
