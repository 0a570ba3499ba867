"""The batch job behind `batch-ocr run`: lock, pick the files to read, recognise, journal, write.

How a run stays trustworthy for cron (DESIGN.md, "Runs that cron can trust"):
- `OUTPUT.lock` (and `STATE.lock` with `--state`) is held with `flock` for the whole run; a
  second run on the same output or state exits 3 (outfiles.py).
- Each finished file is appended to `OUTPUT.journal.jsonl` (journal.py). The final output is
  written from the journal, in sorted name order, to a temporary file renamed over OUTPUT; then
  the state is committed and the journal deleted. A run stopped at any point leaves OUTPUT as it
  was; SIGINT/SIGTERM exit 130 after the journal is flushed, and the same command with
  `--resume` continues from the journal and writes the same bytes as one uninterrupted run
  (JSON's `summary.seconds` adds up the time of all the runs). A journaled file whose size or
  mtime changed since is read again on resume.
- Memory is bounded by chunks, not by the folder: page images stream through chunks of at most
  PAGES_PER_CHUNK pages / PIXELS_PER_CHUNK pixels; only names and journal offsets are held for
  the whole run. A reader thread builds (decodes, segments, crops) at most one chunk ahead of
  the one the model is taking up (READ_AHEAD); the model starts on the next chunk while the
  last batches of this one run (Recognizer.read_page_groups), so a third chunk is held for
  that while. Recognition and the journal stay on the main thread, in file order, where
  SIGINT/SIGTERM arrive. On longer runs a worker process prepares single-page files for that
  thread (prepare.py), starting before the model loads.
- With `--state` (state.py) only new and changed files are read. OUTPUT then holds the files read
  by this run, or with `--master` every file under INPUT (unchanged ones from the state).

Files that cannot be read never stop the batch: each gets one `error` row whose reason comes
from images.py (or prepare.py, for images too small to hold text).
"""
from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from batch_ocr.batching import DEFAULT_BATCH_SIZE
from batch_ocr.journal import (
    JOURNAL_SUFFIX,
    Interrupted,
    Journal,
    SignalGuard,
    journal_header,
)
from batch_ocr.outfiles import (
    LOCK_SUFFIX,
    output_problem,
    remove_stale_temps,
    try_lock,
    write_atomically,
    write_stdout,
)
from batch_ocr.prefetch import Prefetch
from batch_ocr.prepare import (
    PrepWorker,
    failure_reason,
    input_pages,
    input_source,
    worker_processes,
)
from batch_ocr.progress import Progress
from batch_ocr.records import (
    STATUS_EMPTY,
    STATUS_ERROR,
    STATUS_OK,
    FileResult,
    PageResult,
)
from batch_ocr.state import Settings, State, StateError, same_stat
from batch_ocr.walk import InputFile, UsageError, list_inputs
from batch_ocr.writers import FormatError, SummaryCounter, format_for, warm_up, write_results

__all__ = ["run_job", "list_inputs", "InputFile", "UsageError", "SEGMENT_MODES"]

EXIT_OK = 0
EXIT_SOME_ERRORS = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130  # for SIGINT and SIGTERM alike

SEGMENT_MODES = ("auto", "page", "line")

# One recogniser call gets pages from several files (the model batches their lines together), but
# a chunk is cut early by pixels so that a run of huge scans cannot exhaust memory. Folders of
# one-line crops need many pages per call: only then do width-sorted batches fill up and pad little,
# and every batch costs a fixed time besides its crops (each step of the recurrent loops runs a
# few dozen ops whatever the batch size): 600 bench lines read in 1.0 s as one chunk, 1.1 s as
# chunks of 256 and 344, 1.4-1.5 s as chunks of 32, 64, 128, 256 and 120.
PAGES_PER_CHUNK = 1024
# The model waits for the first chunk to be built: chunks start at this many pages and double up
# to PAGES_PER_CHUNK. With the worker process (runs of 32 files or more) the first chunk is ready
# when the model is (it prepares about a thousand one-line files while TensorFlow loads); with the
# reader thread alone the model waits for about 0.2 s of it. The sizes depend on the files alone,
# never on timing (such as what the worker process has ready): which crops share a batch can
# change a reading's confidence, and the same run must write the same bytes.
FIRST_CHUNK_PAGES = 256
PIXELS_PER_CHUNK = 64_000_000
# Pixels grow the same way, from this many: a folder of scanned pages otherwise waits for a
# chunk of 64 megapixels (7 pages at 300 dpi, 28 at 150; 1.8 s of segmentation on 20 prose pages,
# with the model loaded and idle) before the model reads its first line; from 16 it waits for 2-7
# pages. One-line crops never reach it (256 crops of 600x40 pixels are 6 megapixels).
FIRST_CHUNK_PIXELS = 16_000_000
# When no more than 1/TAIL_SHARE of a full chunk's files are left, they join that chunk.
TAIL_SHARE = 4
# Unreadable files need no recognition; journal them in groups rather than all at the end (without
# cutting the chunk being filled: folders of one-page crops would then get chunks of this size).
FILES_PER_CHUNK = 64
# Build the next chunk (decode, segment, crop) in a reader thread while the model reads this one.
# Off, the same chunks are built in turn on the main thread (same output, one core idle).
READ_AHEAD = True


@dataclass(frozen=True)
class _Options:
    inputs: list[str]
    output: str
    fmt: str
    model: str
    segment: str
    batch_size: int
    resume: bool
    raw_text: bool
    max_pixels: int
    state_path: str | None
    reprocess: bool
    master: bool
    rotate: str = "none"

    @property
    def to_stdout(self) -> bool:
        return self.output == "-"


# ----------------------------------------------------------------------------------- reading

@dataclass
class _OpenFile:
    """A file whose pages are being read or are waiting for recognition."""

    item: InputFile
    source: dict[str, Any] | None
    pages: list[PageResult] = field(default_factory=list)
    error: str = ""
    read_done: bool = False

    def result(self) -> FileResult:
        if self.error:
            return FileResult(self.item.name, STATUS_ERROR, self.error, [])
        pages = sorted(self.pages, key=lambda p: p.page)
        has_lines = any(page.lines for page in pages)
        return FileResult(self.item.name, STATUS_OK if has_lines else STATUS_EMPTY, "", pages)


@dataclass
class _Chunk:
    """Pages for one recogniser call, and the files finished once those pages are read.

    A page is its gray array, or the recogniser's `PreparedPage` when it could segment and crop
    ahead. `done` files had all their pages in this or earlier chunks (or failed to decode)."""

    pages: list[tuple[_OpenFile, int, Any]]
    done: list[_OpenFile]


class _Batcher:
    """Gathers pages of consecutive files into chunks, recognises them, journals finished files.

    Chunks are built (files decoded, pages segmented and cropped) one ahead in a reader thread
    while the model reads the current chunk (prefetch.py); chunk boundaries, recognition and
    journaling (main thread) are the same as without the thread, so the output is too. The
    model reads the chunks as one stream of batches (each chunk's own batches, so the same
    readings), and a chunk is journaled as soon as its last batch is read."""

    def __init__(self, recognizer, segment: str, journal: Journal, progress: Progress,
                 started: float, hash_sources: bool, worker: PrepWorker | None = None):
        self.recognizer = recognizer
        self.worker = worker  # prepares single-page files in a process of its own (prepare.py)
        self.segment = segment
        self.journal = journal
        self.progress = progress
        self.started = started
        self.hash_sources = hash_sources

    def run(self, todo: list[InputFile], max_pixels: int) -> None:
        def chunks(stopping) -> Iterator[_Chunk]:
            return self._chunks(todo, max_pixels, stopping)

        if READ_AHEAD:
            ready = Prefetch(chunks, ahead=1, name="batch-ocr-reader")
        else:
            ready = contextlib.closing(chunks(lambda: False))
        taken: deque[tuple[_Chunk, list]] = deque()

        def chunk_pages(chunk_iterator) -> Iterator[list]:
            for chunk in chunk_iterator:
                live = [entry for entry in chunk.pages if not entry[0].error]
                chunk.pages = []  # the arrays go as soon as the model is done with them
                taken.append((chunk, live))
                yield [page for _, _, page in live]

        with ready as chunk_iterator, \
                contextlib.closing(self._read_groups(chunk_pages(chunk_iterator))) as outcomes:
            for outcome in outcomes:
                chunk, live = taken.popleft()
                self._finish(chunk, live, outcome)

    def _chunks(self, todo: list[InputFile], max_pixels: int, stopping) -> Iterator[_Chunk]:
        """Read files in order and cut their pages into chunks (runs in the reader thread)."""
        prepare = getattr(self.recognizer, "prepare_page", None)
        pages_in: list[tuple[_OpenFile, int, Any]] = []
        pixels = 0
        full = False
        waiting: list[_OpenFile] = []
        limit = min(FIRST_CHUNK_PAGES, PAGES_PER_CHUNK)
        cap = PAGES_PER_CHUNK  # pages that make a chunk full, even in the middle of a file
        pixel_cap = min(FIRST_CHUNK_PIXELS, PIXELS_PER_CHUNK)  # the same, in pixels
        in_chunk: set[int] = set()  # ids of the files with a page in the chunk being filled
        # Finished files with no page in that chunk (unreadable ones), kept as they finish: a scan
        # of `waiting` for them after every file was quadratic in the chunk's size (a chunk of
        # 1 024 one-line files, 0.5 million id() calls in the reader thread).
        apart: list[_OpenFile] = []

        def cut() -> _Chunk:
            nonlocal pages_in, pixels, full, waiting, limit, cap, pixel_cap, in_chunk, apart
            chunk = _Chunk(pages_in, [state for state in waiting if state.read_done])
            waiting = [state for state in waiting if not state.read_done]
            if pages_in:
                limit = min(2 * limit, PAGES_PER_CHUNK)
                pixel_cap = min(2 * pixel_cap, PIXELS_PER_CHUNK)
            pages_in, pixels, full, cap = [], 0, False, PAGES_PER_CHUNK
            in_chunk, apart = set(), []
            return chunk

        for position, item in enumerate(todo):
            if stopping():
                return
            prepared = self.worker.take(item) if self.worker is not None else None
            source = (prepared.source if prepared is not None
                      else input_source(item, self.hash_sources))  # before reading it
            state = _OpenFile(item, source)
            waiting.append(state)
            if prepared is None:
                entries = self._read_here(item, state, max_pixels, prepare)
            else:
                state.error = prepared.error
                entries = _then(prepared.pages, None if prepared.rest_from is None else
                                self._read_here(item, state, max_pixels, prepare,
                                                prepared.rest_from))
            try:
                while not stopping():
                    try:
                        entry = next(entries, None)
                    except Exception as exc:  # one bad file never stops the batch
                        state.error = failure_reason(exc)
                        break
                    if entry is None:
                        break
                    number, width, height, page = entry
                    if full:  # this file goes on past a full chunk: that chunk goes first
                        yield cut()
                    state.pages.append(PageResult(number, width, height))
                    pages_in.append((state, len(state.pages) - 1, page))
                    in_chunk.add(id(state))
                    pixels += width * height
                    full = len(pages_in) >= cap or pixels >= pixel_cap
            finally:
                close = getattr(entries, "close", None)
                if close is not None:
                    close()
            if stopping():
                return
            state.read_done = True
            if id(state) not in in_chunk:
                apart.append(state)
            left = len(todo) - position - 1
            if (len(pages_in) >= limit and 0 < left <= limit // TAIL_SHARE
                    and pixels < pixel_cap):
                # A last chunk of a few files would only make batches of a few crops (each
                # costing nearly what a full one does): those files join this chunk instead.
                limit = cap = len(pages_in) + left
                full = False
            full = full or len(pages_in) >= limit
            # A full chunk is cut once its last file is known to end (often right there, as with
            # one-page files), so that file is journaled with it: an extra chunk for it alone
            # would also take the reader's one place ahead. With no pages pending, every waiting
            # file is finished: journal them now, so a kill loses as little work as possible.
            if full or not pages_in:
                yield cut()
            elif len(apart) >= FILES_PER_CHUNK:
                journaled = {id(state) for state in apart}
                waiting = [state for state in waiting if id(state) not in journaled]
                done, apart = apart, []
                yield _Chunk([], done)
        yield cut()

    def _read_here(self, item: InputFile, state: _OpenFile, max_pixels: int, prepare,
                   first_page: int = 0) -> Iterator[tuple[int, int, int, Any]]:
        """(page number, width, height, page) for each page of `item` from `first_page` on,
        decoded in this thread."""
        pages = input_pages(item, max_pixels, first_page)
        try:
            for page in pages:
                yield page.page, page.width, page.height, self._ahead_of_time(prepare, state,
                                                                              page.gray)
        finally:
            pages.close()

    def _ahead_of_time(self, prepare, state: _OpenFile, gray):
        """The page segmented and cropped by the recogniser now, when it can; else the array."""
        if prepare is None:
            return gray
        try:
            prepared = prepare(gray, self.segment)
        except Exception as exc:  # as if recognising this page had failed
            state.error = state.error or f"recognition failed: {failure_reason(exc)}"
            return gray
        return gray if prepared is None else prepared

    def _read_groups(self, groups: Iterator[list]) -> Iterator[list | Exception]:
        """Each chunk's lines per page, or the exception its reading raised. A recogniser that
        reads chunks as one stream (`Recognizer.read_page_groups`) starts the next chunk while
        this one's last batches run; others (tests' fakes) read chunk by chunk."""
        read_groups = getattr(self.recognizer, "read_page_groups", None)
        if read_groups is not None:
            yield from read_groups(groups, segment=self.segment)
            return
        for pages in groups:
            try:
                yield self.recognizer.read_pages(pages, segment=self.segment) if pages else []
            except Exception as exc:  # noqa: BLE001 - _finish retries the chunk page by page
                yield exc

    def _recognise(self, pages: list) -> list:
        lines = self.recognizer.read_pages(pages, segment=self.segment)
        if len(lines) != len(pages):
            raise RuntimeError(f"recogniser returned {len(lines)} results for {len(pages)} pages")
        return lines

    def _finish(self, chunk: _Chunk, live: list, outcome: list | Exception) -> None:
        """Journal the files a chunk finishes, given the lines read on its `live` pages (main
        thread). A chunk whose reading failed is read again page by page, so only the file that
        upsets the recogniser gets an error."""
        if isinstance(outcome, Exception) or len(outcome) != len(live):
            outcome = []
            for state, _, page in live:
                try:
                    outcome.append(self._recognise([page])[0])
                except Exception as exc:
                    state.error = state.error or f"recognition failed: {failure_reason(exc)}"
                    outcome.append([])
        for (state, index, _), lines in zip(live, outcome):
            state.pages[index].lines = list(lines)
        results = [(state.result(), state.source) for state in chunk.done]
        self.journal.add(results, time.monotonic() - self.started)
        for result, _ in results:
            self.progress.finished(result)


def _then(first: list, rest: Iterator | None) -> Iterator:
    """The worker's pages of a file, then those the reader thread reads after them (a generator,
    so that closing it closes the file `rest` has open)."""
    yield from first
    if rest is not None:
        yield from rest


# ------------------------------------------------------------------------------------- job

def _fail(message: str) -> None:
    Progress(quiet=True, progress=False).fail(message)


def _check_arguments(inputs: list[str], output: str, fmt: str | None, segment: str,
                     batch_size: int, max_pixels: int, state: str | None, reprocess: bool,
                     master: bool) -> str:
    """The output format, or UsageError/FormatError for arguments that cannot work."""
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
    problem = output_problem(output)
    if problem:
        raise UsageError(problem)
    if (reprocess or master) and not state:
        raise UsageError(f"{'--reprocess' if reprocess else '--master'} needs --state")
    if state:
        if os.path.isdir(state):
            raise UsageError(f"state {state} is a directory")
        if not os.path.isdir(os.path.dirname(os.path.abspath(state))):
            raise UsageError(f"directory of state {state} does not exist")
        if output != "-" and os.path.abspath(state) == os.path.abspath(output):
            raise UsageError("--state and OUTPUT must be different files")
    return fmt


def run_job(inputs: list[str], output: str, fmt: str | None = None, model: str = "printed",
            segment: str = "auto", batch_size: int = DEFAULT_BATCH_SIZE, resume: bool = False,
            quiet: bool = False, raw_text: bool = False, max_pixels: int = 100_000_000,
            recognizer=None, progress: bool | None = None, state: str | None = None,
            reprocess: bool = False, master: bool = False, rotate: str = "none") -> int:
    """Read every image under `inputs` and write one CSV/JSON/JSONL `output` ('-' = stdout).

    Returns the exit code of DESIGN.md: 0 all read, 1 some files failed, 2 usage / model /
    output / state problem, 3 another run holds the lock of the output or the state, 130
    interrupted (SIGINT or SIGTERM). `state` is a SQLite file of what earlier runs read: only
    new and changed files are read, and written unless `master` asks for every file;
    `reprocess` reads every file again. `rotate='auto'` lets the recogniser turn pages that lie
    on their side or upside down. `recognizer` replaces `load_model(model)` (tests inject
    fakes); `progress` forces the tqdm bar on or off (default: on when stderr is a terminal).
    """
    try:
        fmt = _check_arguments(inputs, output, fmt, segment, batch_size, max_pixels, state,
                               reprocess, master)
    except (FormatError, UsageError) as exc:
        _fail(str(exc))
        return EXIT_USAGE
    options = _Options(list(inputs), output, fmt, model, segment, batch_size, resume, raw_text,
                       max_pixels, state, reprocess, master, rotate)

    locks: list[int] = []
    try:
        for target, what in ((output, "output"), (state, "state")):
            if not target or target == "-":
                continue
            lock_path = target + LOCK_SUFFIX
            try:
                fd = try_lock(lock_path)
            except OSError as exc:
                _fail(f"cannot create lock file {lock_path}: {exc.strerror}")
                return EXIT_USAGE
            if fd is None:
                _fail(f"another batch-ocr run is using the {what} {target} (lock {lock_path} is "
                      "held); not starting a second one")
                return EXIT_LOCKED
            locks.append(fd)
        with SignalGuard() as guard:
            return _Run(options, Progress(quiet, progress), guard).run(recognizer)
    finally:
        for fd in locks:
            os.close(fd)  # closing releases the flock


class _Run:
    """One locked run; `run` returns the exit code."""

    def __init__(self, options: _Options, progress: Progress, guard: SignalGuard):
        self.options = options
        self.progress = progress
        self.guard = guard
        self.started = time.monotonic()
        self.journal_path = options.output + JOURNAL_SUFFIX
        self.journal_fh: IO[bytes] | None = None
        self.state: State | None = None

    def run(self, recognizer) -> int:
        options = self.options
        try:
            return self._run(recognizer)
        except (StateError, UsageError) as exc:
            self.progress.fail(str(exc))
            return EXIT_USAGE
        except OSError as exc:
            # Per-file read errors never get here; this is the journal or the output failing.
            where = "to stdout" if options.to_stdout else options.output
            self.progress.fail(f"cannot write {where}: {exc}")
            return EXIT_USAGE
        except (Interrupted, KeyboardInterrupt):
            if options.to_stdout:
                self.progress.fail("interrupted")
            else:
                self.progress.fail(f"interrupted; {options.output} is unchanged, finished files "
                                   f"are kept in {self.journal_path}: rerun with --resume to "
                                   "continue")
            return EXIT_INTERRUPTED
        finally:
            self.progress.close()
            if self.journal_fh is not None:
                self.journal_fh.close()
            if self.state is not None:
                self.state.close()

    def _run(self, recognizer) -> int:
        options = self.options
        if recognizer is None:
            from batch_ocr.recognizer import ModelError, read_model_card

            # The card (no TensorFlow) is enough to set the run up; the model itself loads
            # once the worker process is preparing the first files (prepare.py).
            try:
                card = read_model_card(options.model)[1]
            except ModelError as exc:
                self.progress.fail(str(exc))
                return EXIT_USAGE
        else:
            card = dict(getattr(recognizer, "card", {}) or {})

        listing = list_inputs(options.inputs)
        paths = {item.name: item.path for item in listing}
        if not options.to_stdout:
            for path in remove_stale_temps(options.output):
                self.progress.log(f"removed {path} left by a run that was killed")
        if options.state_path:
            self.state = State(options.state_path,
                               Settings(card.get("name"), card.get("version"), options.segment))
        journal = self._open_journal(journal_header(card, options.segment), paths)

        todo, unchanged = [], 0
        for item in listing:
            if item.name in journal.index:
                continue
            if (self.state is not None and not options.reprocess
                    and self.state.unchanged(item.name, item.path)):
                unchanged += 1
                continue
            todo.append(item)
        if unchanged:
            self.progress.log(f"{unchanged} files unchanged since they were read "
                              f"(state {options.state_path})")
        already = len(listing) - unchanged - len(todo)
        worker = None
        # No worker for a recogniser passed in (tests, library callers) nor for rotate=auto,
        # which segments every turn of a page itself.
        processes = 0
        if recognizer is None and options.rotate == "none":
            processes = worker_processes(todo)
        if processes:
            worker = PrepWorker(todo, options.segment, int(card["input_height"]),
                                options.max_pixels,
                                fingerprint=functools.partial(input_source,
                                                              with_hash=self.state is not None),
                                processes=processes)
        try:
            if recognizer is None:
                from batch_ocr.recognizer import ModelError, load_model

                try:
                    recognizer = load_model(options.model)
                except (ModelError, OSError) as exc:
                    self.progress.fail(str(exc))
                    if not journal.index:  # nothing of this run or an earlier one to keep
                        self.journal_fh.close()
                        self.journal_fh = None
                        if not options.to_stdout:
                            os.unlink(self.journal_path)
                    return EXIT_USAGE
            recognizer.batch_size = options.batch_size
            recognizer.rotate = options.rotate
            warm_up(options.fmt, after=getattr(recognizer, "first_read", None))
            self.progress.begin(total=already + len(todo), done=already)
            _Batcher(recognizer, options.segment, journal, self.progress, self.started,
                     hash_sources=self.state is not None, worker=worker).run(
                         todo, options.max_pixels)
        finally:
            if worker is not None:
                worker.close()
        self.progress.close()

        if options.master:
            names = [item.name for item in listing]
        else:
            names = [item.name for item in listing if item.name in journal.index]
        summary = SummaryCounter(seconds_before=journal.seconds_before, started=self.started)

        def results() -> Iterator[FileResult]:
            for name in names:
                # Only --master writes names that are not journaled: unchanged files.
                yield journal.result(name) if name in journal.index else self.state.result(name)

        def write(stream) -> None:
            write_results(options.fmt, results(), stream, card, summary,
                          raw_text=options.raw_text)

        if options.to_stdout:
            write_stdout(write)
        else:
            write_atomically(options.output, write)
        if self.state is not None:
            with self.guard.critical():
                self.state.commit(journal.records(), present=set(paths))
        self.journal_fh.close()
        self.journal_fh = None
        if not options.to_stdout:
            os.unlink(self.journal_path)
        self.progress.log(
            f"{summary.files} files: {summary.ok} ok, {summary.empty} empty, {summary.error} "
            f"error; {summary.lines} lines in {summary.seconds:.1f} s"
            + ("" if options.to_stdout else f" -> {options.output}"))
        return EXIT_SOME_ERRORS if summary.error else EXIT_OK

    def _open_journal(self, header: dict[str, Any], paths: dict[str, str]) -> Journal:
        """A fresh journal, or with --resume the existing one (less files changed since)."""
        options = self.options
        if options.to_stdout:
            if options.resume:
                self.progress.log("--resume has no effect when writing to stdout")
            self.journal_fh = tempfile.TemporaryFile()
            journal = Journal(self.journal_fh, self.guard)
            journal.write_header(header)
            return journal

        def still_valid(record: dict[str, Any]) -> bool:
            name = record["file"]
            if name not in paths:
                return False
            source = record.get("source")
            return source is None or same_stat(source, paths[name])

        fd = os.open(self.journal_path, os.O_RDWR | os.O_CREAT, 0o666)
        self.journal_fh = os.fdopen(fd, "r+b")
        journal, old_header = Journal.read(self.journal_fh, self.guard, keep=still_valid)
        if options.resume and old_header is not None and old_header != header:
            raise UsageError(
                f"{self.journal_path} was written with model {old_header.get('model')} "
                f"{old_header.get('model_version')}, segment {old_header.get('segment')}; "
                "run without --resume to start over")
        if options.resume and old_header is not None:
            self.progress.log(f"resuming: {len(journal.index)} files already done")
            return journal
        if old_header is not None or journal.index:
            self.progress.log(f"discarding {self.journal_path} of an unfinished run "
                              "(pass --resume to continue it)")
        elif options.resume:
            self.progress.log("nothing to resume; starting from the beginning")
        self.journal_fh.seek(0)
        self.journal_fh.truncate()
        journal = Journal(self.journal_fh, self.guard)
        journal.write_header(header)
        return journal
