"""The batch job behind `batch-ocr run`: walk, lock, recognise in shared batches, journal, write.

How a run stays trustworthy for cron (DESIGN.md, "Runs that cron can trust"):
- `OUTPUT.lock` is held with `flock` for the whole run; a second run on the same output exits 3.
  The lock file is left in place: deleting it would let a waiting run lock a file nobody else sees.
- Each finished file is appended to `OUTPUT.journal.jsonl` (flushed and fsynced per chunk). The
  final CSV/JSON/JSONL is written from the journal to a temporary file beside OUTPUT and renamed
  over it, then the journal is deleted. An interrupted run leaves OUTPUT as it was (exit 130) and
  `--resume` continues from the journal; output is always written in sorted file order from the
  journal, so a resumed run writes the same bytes as an uninterrupted one (JSON's
  `summary.seconds` adds up the time of all the runs).
- Only file names and journal offsets are held for the whole run; page images stream through
  bounded chunks.

Walking: hidden entries are skipped and files whose suffix is not an image suffix are ignored,
but a directory or dangling symlink named like an image (`x.png`) gets an error row, because the
user expected an image there (a directory is still walked too).

Several INPUTs: each directory's files are named with that INPUT as given as a prefix (`scans/a.png`
for INPUT `scans`), so names from different directories cannot collide; with a single directory
INPUT names are relative to it. A file INPUT is always named as given. A name found twice is
read once.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from batch_ocr import images
from batch_ocr.records import (
    STATUS_EMPTY,
    STATUS_ERROR,
    STATUS_OK,
    FileResult,
    PageImage,
    PageResult,
)
from batch_ocr.writers import (
    FormatError,
    SummaryCounter,
    file_from_dict,
    file_to_dict,
    format_for,
    write_results,
)

EXIT_OK = 0
EXIT_SOME_ERRORS = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130  # for SIGINT and SIGTERM alike

SEGMENT_MODES = ("auto", "page", "line")
JOURNAL_SUFFIX = ".journal.jsonl"
LOCK_SUFFIX = ".lock"
JOURNAL_VERSION = 1

# One recogniser call gets pages from several files (the model batches their lines together), but
# a chunk is cut early by pixels so that a run of huge scans cannot exhaust memory.
PAGES_PER_CHUNK = 32
PIXELS_PER_CHUNK = 64_000_000
# Unreadable files need no recognition; journal them in groups rather than all at the end.
FILES_PER_CHUNK = 64
LOG_EVERY_FILES = 100
LOG_EVERY_SECONDS = 30.0


class UsageError(Exception):
    """A problem with the job's arguments (exit 2); str() is the message for the user."""


class _Interrupted(BaseException):
    """SIGINT/SIGTERM arrived; a BaseException so per-file `except Exception` cannot swallow it."""


@dataclass(frozen=True)
class InputFile:
    name: str  # as written to the output: '/'-separated, relative to its INPUT
    path: str  # where to read it
    problem: str = ""  # known to be unreadable before opening (e.g. a directory we cannot list)


# --------------------------------------------------------------------------------------- walking

def _slashed(path: str) -> str:
    return _utf8_safe(path.replace(os.sep, "/"))


def _utf8_safe(text: str) -> str:
    """`text` with undecodable file-name bytes (lone surrogates) spelled as backslash escapes:
    the output is UTF-8, and such a name must neither crash the job nor merge with another."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that did not come from file-name bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _walk(root: str) -> Iterator[tuple[str, str, str]]:
    """(name relative to root, path, known problem) for every image-named entry under root.

    Symlinks are followed, but each real directory is walked once, so loops end. Names are built
    from the walked path, never from resolved links, so they cannot escape the root.
    """
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
            shown = _utf8_safe(entry.name)
            rel = f"{rel_dir}/{shown}" if rel_dir else shown
            image_named = os.path.splitext(entry.name)[1].lower() in images.IMAGE_SUFFIXES
            try:
                is_dir = entry.is_dir()  # follows symlinks; a dangling link is not a directory
            except OSError:
                is_dir = False
            if image_named:
                # Directories and dangling links named like images still get a row (an error
                # row, from images.describe_path_problem): the user expected a file there.
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


# ----------------------------------------------------------------------------------- reading

def _reason(exc: BaseException) -> str:
    if isinstance(exc, images.ImageError):
        return _utf8_safe(str(exc))
    if isinstance(exc, MemoryError):
        return "out of memory while reading this file"
    return _utf8_safe(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _pages_of(item: InputFile, max_pixels: int) -> Iterator[PageImage]:
    if item.problem:
        raise images.ImageError(item.problem)
    problem = images.describe_path_problem(item.path)
    if problem:
        raise images.ImageError(problem)
    yield from images.read_pages(item.path, max_pixels=max_pixels)


@dataclass
class _OpenFile:
    """A file whose pages are being read or are waiting for recognition."""

    item: InputFile
    pages: list[PageResult] = field(default_factory=list)
    error: str = ""
    read_done: bool = False

    def result(self) -> FileResult:
        if self.error:
            return FileResult(self.item.name, STATUS_ERROR, self.error, [])
        pages = sorted(self.pages, key=lambda p: p.page)
        has_lines = any(page.lines for page in pages)
        return FileResult(self.item.name, STATUS_OK if has_lines else STATUS_EMPTY, "", pages)


# ----------------------------------------------------------------------------------- signals

class _SignalGuard:
    """Turns SIGINT/SIGTERM into `_Interrupted`, but never in the middle of a journal write."""

    def __init__(self) -> None:
        self._critical = 0
        self._pending = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalGuard:
        # signal.signal only works in the main thread; elsewhere Ctrl-C stays KeyboardInterrupt.
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        if self._critical:
            self._pending = True
        else:
            raise _Interrupted(signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if not self._critical and self._pending:
            self._pending = False
            raise _Interrupted()


# ----------------------------------------------------------------------------------- journal

class _Journal:
    """Finished files, one JSON line each, indexed by name -> byte offset for the final write."""

    def __init__(self, fh: IO[bytes], guard: _SignalGuard, seconds_before: float = 0.0):
        self.fh = fh
        self.guard = guard
        self.index: dict[str, int] = {}
        self.seconds_before = seconds_before

    @classmethod
    def read(cls, fh: IO[bytes], guard: _SignalGuard) -> tuple[_Journal, dict | None]:
        """Index an existing journal; a torn last line (a crash mid-write) is cut off."""
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
                    journal.index[record["file"]] = offset
                    journal.seconds_before = max(journal.seconds_before, float(record.get("t", 0)))
            except (ValueError, KeyError, TypeError):
                break
            offset += len(raw)
        fh.seek(offset)
        fh.truncate()
        return journal, header

    def write_header(self, header: dict) -> None:
        self._append([json.dumps(header, ensure_ascii=False)])

    def add(self, results: list[FileResult], seconds: float) -> None:
        lines = []
        for result in results:
            record = file_to_dict(result)
            record["t"] = round(self.seconds_before + seconds, 3)
            lines.append(json.dumps(record, ensure_ascii=False))
        offsets = self._append(lines)
        for result, offset in zip(results, offsets):
            self.index[result.file] = offset

    def _append(self, lines: list[str]) -> list[int]:
        if not lines:
            return []
        with self.guard.critical():
            self.fh.seek(0, io.SEEK_END)
            offsets = []
            position = self.fh.tell()
            data = bytearray()
            for line in lines:
                encoded = (line + "\n").encode("utf-8")
                offsets.append(position + len(data))
                data += encoded
            self.fh.write(data)
            self.fh.flush()
            os.fsync(self.fh.fileno())
        return offsets

    def results(self, names: list[str]) -> Iterator[FileResult]:
        for name in names:
            self.fh.seek(self.index[name])
            record = json.loads(self.fh.readline())
            yield file_from_dict(record)


# ---------------------------------------------------------------------------------- progress

class _Progress:
    """tqdm on a terminal, else a log line every LOG_EVERY_FILES files / LOG_EVERY_SECONDS."""

    def __init__(self, total: int, done: int, quiet: bool, progress: bool | None):
        self.stream = sys.stderr
        self.quiet = quiet
        self.total, self.done = total, done
        self.lines = self.errors = 0
        self.start = self.last_log = time.monotonic()
        self.bar = None
        use_bar = progress if progress is not None else _isatty(self.stream)
        if use_bar and not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="file", file=self.stream,
                            dynamic_ncols=True)

    def log(self, message: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(f"batch-ocr: {message}", file=self.stream)
        else:
            print(f"batch-ocr: {message}", file=self.stream, flush=True)

    def finished(self, result: FileResult) -> None:
        self.done += 1
        self.lines += sum(len(page.lines) for page in result.pages)
        if result.status == STATUS_ERROR:
            self.errors += 1
            self.log(f"error row for {result.file}: {result.error}")
        if self.bar is not None:
            self.bar.set_postfix(lines=self.lines, errors=self.errors, refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if self.done % LOG_EVERY_FILES == 0 or now - self.last_log >= LOG_EVERY_SECONDS:
            self.last_log = now
            self.log(f"{self.done}/{self.total} files, {self.lines} lines, {self.errors} errors, "
                     f"{now - self.start:.1f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# ------------------------------------------------------------------------------- recognition

class _Batcher:
    """Gathers pages from consecutive files into chunks, recognises them, journals finished files."""

    def __init__(self, recognizer, segment: str, journal: _Journal, progress: _Progress,
                 started: float):
        self.recognizer = recognizer
        self.segment = segment
        self.journal = journal
        self.progress = progress
        self.started = started
        self.chunk: list[tuple[_OpenFile, int, Any]] = []
        self.chunk_pixels = 0
        self.waiting: list[_OpenFile] = []

    def run(self, todo: list[InputFile], max_pixels: int) -> None:
        for item in todo:
            state = _OpenFile(item)
            self.waiting.append(state)
            pages = _pages_of(item, max_pixels)
            while True:
                try:
                    page = next(pages, None)
                except Exception as exc:  # one bad file never stops the batch
                    state.error = _reason(exc)
                    break
                if page is None:
                    break
                state.pages.append(PageResult(page.page, page.width, page.height))
                self.chunk.append((state, len(state.pages) - 1, page.gray))
                self.chunk_pixels += int(page.gray.size)
                if len(self.chunk) >= PAGES_PER_CHUNK or self.chunk_pixels >= PIXELS_PER_CHUNK:
                    self.flush()
            state.read_done = True
            if len(self.waiting) >= FILES_PER_CHUNK:
                self.flush()
        self.flush()

    def _recognise(self, grays: list) -> list:
        lines = self.recognizer.read_pages(grays, segment=self.segment)
        if len(lines) != len(grays):
            raise RuntimeError(f"recogniser returned {len(lines)} results for {len(grays)} pages")
        return lines

    def flush(self) -> None:
        live = [entry for entry in self.chunk if not entry[0].error]
        self.chunk, self.chunk_pixels = [], 0
        if live:
            try:
                per_page = self._recognise([gray for _, _, gray in live])
            except Exception:
                # Retry page by page so only the file that upsets the recogniser gets an error.
                per_page = []
                for state, _, gray in live:
                    try:
                        per_page.append(self._recognise([gray])[0])
                    except Exception as exc:
                        state.error = state.error or f"recognition failed: {_reason(exc)}"
                        per_page.append([])
            for (state, index, _), lines in zip(live, per_page):
                state.pages[index].lines = list(lines)
        done = [state for state in self.waiting if state.read_done]
        self.waiting = [state for state in self.waiting if not state.read_done]
        results = [state.result() for state in done]
        self.journal.add(results, time.monotonic() - self.started)
        for result in results:
            self.progress.finished(result)


# ------------------------------------------------------------------------------------ output

def _output_problem(output: str) -> str | None:
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


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomically(output: str, write) -> None:
    """Write through `write(stream)` to a temporary file beside `output`, then rename it over."""
    directory, base = os.path.split(os.path.abspath(output))
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".tmp")
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
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write_stdout(write) -> None:
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


# ------------------------------------------------------------------------------------- job

def _fail(message: str) -> None:
    print(f"batch-ocr: error: {message}", file=sys.stderr, flush=True)


def _lock(path: str) -> int | None:
    """An fd holding an exclusive flock on `path`, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _journal_header(card: dict, segment: str) -> dict:
    return {"journal": JOURNAL_VERSION, "model": card.get("name"),
            "model_version": card.get("version"), "segment": segment}


def run_job(inputs: list[str], output: str, fmt: str | None = None, model: str = "printed",
            segment: str = "auto", batch_size: int = 32, resume: bool = False,
            quiet: bool = False, raw_text: bool = False, max_pixels: int = 100_000_000,
            recognizer=None, progress: bool | None = None) -> int:
    """Read every image under `inputs` and write one CSV/JSON/JSONL `output` ('-' = stdout).

    Returns the exit code of DESIGN.md: 0 all read, 1 some files failed, 2 usage / model /
    output path problem, 3 another run holds the lock, 130 interrupted (SIGINT or SIGTERM).
    `recognizer` replaces `load_model(model)` (tests inject fakes); `progress` forces the tqdm bar
    on or off (default: on when stderr is a terminal).
    """
    try:
        fmt = format_for(output, fmt)
        if segment not in SEGMENT_MODES:
            raise UsageError(f"unknown segment mode {segment!r}; choose one of "
                             f"{', '.join(SEGMENT_MODES)}")
        if batch_size < 1 or max_pixels < 1:
            raise UsageError("--batch-size and --max-pixels must be positive")
        if not inputs:
            raise UsageError("no INPUT given")
        for given in inputs:
            if not os.path.lexists(given):
                raise UsageError(f"input {given} does not exist")
        problem = _output_problem(output)
        if problem:
            raise UsageError(problem)
    except (FormatError, UsageError) as exc:
        _fail(str(exc))
        return EXIT_USAGE

    to_stdout = output == "-"
    lock_fd = None
    if not to_stdout:
        try:
            lock_fd = _lock(output + LOCK_SUFFIX)
        except OSError as exc:
            _fail(f"cannot create lock file {output + LOCK_SUFFIX}: {exc.strerror}")
            return EXIT_USAGE
        if lock_fd is None:
            _fail(f"another batch-ocr run is writing {output} (lock {output + LOCK_SUFFIX} is "
                  "held); not starting a second one")
            return EXIT_LOCKED
    try:
        with _SignalGuard() as guard:
            return _run_locked(inputs, output, fmt, model, segment, batch_size, resume, quiet,
                               raw_text, max_pixels, recognizer, progress, guard)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)  # closing releases the flock


def _run_locked(inputs, output, fmt, model, segment, batch_size, resume, quiet, raw_text,
                max_pixels, recognizer, progress, guard: _SignalGuard) -> int:
    started = time.monotonic()
    to_stdout = output == "-"
    journal_path = output + JOURNAL_SUFFIX
    progress_bar: _Progress | None = None
    journal_fh: IO[bytes] | None = None

    def note(message: str) -> None:
        if not quiet:
            print(f"batch-ocr: {message}", file=sys.stderr, flush=True)

    try:
        if recognizer is None:
            from batch_ocr.recognizer import ModelError, load_model

            try:
                recognizer = load_model(model)
            except (ModelError, OSError) as exc:
                _fail(str(exc))
                return EXIT_USAGE
        recognizer.batch_size = batch_size
        card = dict(getattr(recognizer, "card", {}) or {})
        header = _journal_header(card, segment)

        try:
            listing = list_inputs(inputs)
        except UsageError as exc:
            _fail(str(exc))
            return EXIT_USAGE

        if to_stdout:
            if resume:
                note("--resume has no effect when writing to stdout")
            journal_fh = tempfile.TemporaryFile()
            journal = _Journal(journal_fh, guard)
            journal.write_header(header)
        else:
            fd = os.open(journal_path, os.O_RDWR | os.O_CREAT, 0o666)
            journal_fh = os.fdopen(fd, "r+b")
            journal, old_header = _Journal.read(journal_fh, guard)
            if resume and old_header is not None and old_header != header:
                _fail(f"{journal_path} was written with model {old_header.get('model')} "
                      f"{old_header.get('model_version')}, segment {old_header.get('segment')}; "
                      "run without --resume to start over")
                return EXIT_USAGE
            if resume and old_header is not None:
                note(f"resuming: {len(journal.index)} files already done")
            else:
                if old_header is not None or journal.index:
                    note(f"discarding {journal_path} of an unfinished run "
                         "(pass --resume to continue it)")
                elif resume:
                    note("nothing to resume; starting from the beginning")
                journal_fh.seek(0)
                journal_fh.truncate()
                journal = _Journal(journal_fh, guard)
                journal.write_header(header)

        todo = [item for item in listing if item.name not in journal.index]
        progress_bar = _Progress(len(listing), len(listing) - len(todo), quiet, progress)
        _Batcher(recognizer, segment, journal, progress_bar, started).run(todo, max_pixels)
        progress_bar.close()

        summary = SummaryCounter(seconds_before=journal.seconds_before, started=started)
        names = [item.name for item in listing]

        def write(stream) -> None:
            write_results(fmt, journal.results(names), stream, card, summary, raw_text=raw_text)

        if to_stdout:
            _write_stdout(write)
        else:
            _write_atomically(output, write)
            journal_fh.close()
            journal_fh = None
            os.unlink(journal_path)
        note(f"{summary.files} files: {summary.ok} ok, {summary.empty} empty, "
             f"{summary.error} error; {summary.lines} lines in {summary.seconds:.1f} s"
             + ("" if to_stdout else f" -> {output}"))
        return EXIT_SOME_ERRORS if summary.error else EXIT_OK
    except OSError as exc:
        # Per-file read errors never get here; this is the journal or the output failing.
        _fail(f"cannot write {output if not to_stdout else 'to stdout'}: {exc}")
        return EXIT_USAGE
    except (_Interrupted, KeyboardInterrupt):
        if progress_bar is not None:
            progress_bar.close()
        if to_stdout:
            _fail("interrupted")
        else:
            _fail(f"interrupted; {output} is unchanged, finished files are kept in "
                  f"{journal_path}: rerun with --resume to continue")
        return EXIT_INTERRUPTED
    finally:
        if journal_fh is not None:
            journal_fh.close()
