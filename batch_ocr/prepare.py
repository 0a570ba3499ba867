"""Input files -> pages ready for the model (decoded, segmented, cropped), and a worker process
that does this ahead of the main process.

The job reads files in a reader thread one chunk ahead of the model (job.py). A worker process
takes that work off the thread, for two reasons a thread cannot serve:
- It starts (forked) before TensorFlow is imported, and works through the first files while the
  main process imports TensorFlow and loads the model (2-3 s of one core that would otherwise
  wait); the import holds the GIL, and so does much of segmentation, so a thread barely overlaps
  it. 600 one-line images are all prepared by the time the model is loaded.
- A native crash (a decoder's segfault on a hostile file) or an out-of-memory kill ends the
  worker, not the run: that file gets an error row and a new worker goes on with the next file.

Folders of scanned pages get a worker process per core (worker_processes): there segmentation,
not the model, is the slower side.

The worker prepares the first WORKER_PAGES pages of a file; the reader thread reads the rest of a
longer one page by page (from `rest_from`), so memory stays bounded by pages, not by the length of
a TIFF. Each process answers in submission order, and the workers work a bounded number of files
ahead of the one being taken (AHEAD, IN_FLIGHT, and AHEAD_BYTES of crops). A process sends
its answers in groups (REPLY_GROUP), and says in shared memory which file it is on, so that a
crash still costs only the file it happened on.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from batch_ocr import images
from batch_ocr.state import source_of
from batch_ocr.tf_core import tensorflow_loaded
from batch_ocr.walk import InputFile, utf8_safe

# A page narrower or lower than this cannot hold a readable character (1x1 pixels, one row).
MIN_TEXT_SIDE = 4
# How far the worker may get ahead of the file being taken: enough files to cover the start-up
# of the main process (a few hundred one-line crops take under a second), capped by the bytes
# of crops waiting (a dense page has some hundred kilobytes of them).
AHEAD = 2048
AHEAD_BYTES = 64 * 1024 * 1024
# Requests queued per process and not yet answered, at most. AHEAD_BYTES can only hold back
# requests not yet made: with all AHEAD of them queued at once, worker processes faster than the
# model (pages on a machine with cores to spare) would prepare AHEAD pages, a gigabyte of
# crops, whatever the bound. So a process has at most IN_FLIGHT_BYTES of crops in flight, going
# by the mean crops of the files answered so far (FIRST_IN_FLIGHT files before the first
# answer), and never more than IN_FLIGHT files: 256 one-line files (about 2 MB of crops), some 40
# pages. The receiver thread tops the queues up as each reply arrives; 32 files (32 ms of
# one-line crops) cover its longest wait for the GIL while TensorFlow imports.
IN_FLIGHT = 256
FIRST_IN_FLIGHT = 32
IN_FLIGHT_BYTES = 16 * 1024 * 1024
# Pages of one file the worker prepares (a fax, a scanned letter): a longer file's other pages
# are read by the job page by page, so that memory follows pages, not the length of a TIFF.
WORKER_PAGES = 16
# How often a wait for a reply checks that the worker is still alive.
_POLL_S = 0.2
# A process sends the files it has prepared in groups of up to REPLY_GROUP: one message per file
# cost it about a fifth of its time on one-line crops (each send wakes the receiving thread, and
# the preparing slowed down after every wake): 0.93 against 0.82 ms a file in groups of 8, 0.77
# in groups of 32. Larger groups still save the job's process its wakes (a receiver's wake, a
# top-up's message, the reader's wake): 2 400 one-line files, 8 runs alternating, groups of up
# to 128 (at most 0.1 s) and 256 in flight against 16 (0.01 s) and 32: 9.40 against 9.75 s,
# CPU 17.7 against 18.1 s; groups of 256 (0.2 s) were no better. A group goes as soon as no
# request waits (the receiver then tops them up), or when its first file would have waited
# REPLY_WAIT_S by the time the next file is ready (judged by the last file's time), so pages
# (50 ms and more each) go one at a time, as soon as each is ready.
REPLY_GROUP = 128
REPLY_WAIT_S = 0.1

PAGES, ERROR = "pages", "error"


def failure_reason(exc: BaseException) -> str:
    """The error text for a file whose reading raised `exc`."""
    if isinstance(exc, images.ImageError):
        return utf8_safe(str(exc))
    if isinstance(exc, MemoryError):
        return "out of memory while reading this file"
    return utf8_safe(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def input_pages(item: InputFile, max_pixels: int, first_page: int = 0
                ) -> Iterator[images.PageImage]:
    """The pages of an input file from `first_page` on; ImageError for files that cannot hold
    text."""
    if item.problem:
        raise images.ImageError(item.problem)
    # read_pages checks the path itself first (describe_path_problem) and raises its ImageError.
    for page in images.read_pages(item.path, max_pixels=max_pixels, first_page=first_page):
        height, width = page.gray.shape
        if min(height, width) < MIN_TEXT_SIDE:
            raise images.ImageError(f"image too small to hold text: {width}x{height} pixels")
        yield page


def input_source(item: InputFile, with_hash: bool) -> dict[str, Any] | None:
    """The fingerprint a state keeps of an input file (state.source_of), None for a file known
    to be unreadable. Taken before the file is read: if it changes while being read, the next run
    sees a different size/mtime and reads it again."""
    return None if item.problem else source_of(item.path, with_hash)


@dataclass
class Prepared:
    """What the worker made of one file: `kind` PAGES with `pages` [(page number, width, height,
    PreparedPage)], or ERROR with `error` (the file's error text) and the pages read before it.
    `rest_from`: the number of the first page left for the job to read (None: none left)."""

    kind: str
    pages: list[tuple[int, int, int, Any]] = field(default_factory=list)
    error: str = ""
    rest_from: int | None = None
    source: Any = None  # the file's fingerprint, taken just before the worker read it


def _prepare_file(item: InputFile, segment: str, height: int, max_pixels: int,
                  fingerprint=None) -> Prepared:
    source = fingerprint(item) if fingerprint is not None else None
    prepared = _prepare_pages(item, segment, height, max_pixels)
    prepared.source = source
    return prepared


def _prepare_pages(item: InputFile, segment: str, height: int, max_pixels: int) -> Prepared:
    """The pages of `item` segmented and cropped here, up to WORKER_PAGES of them: the rest
    (`rest_from` on) are for the job to read, from a page whose segmentation fails on (the job
    reports that per page and goes on with the next). A page that fails to decode ends the file
    as the job's own reading does: the pages before it are kept and the file gets the error."""
    from batch_ocr.recognizer import prepare_page

    done: list[tuple[int, int, int, Any]] = []
    pages = input_pages(item, max_pixels)
    try:
        for page in pages:
            try:
                prepared = prepare_page(page.gray, segment, height, keep_gray=False)
            except Exception:  # noqa: BLE001 - the job's reading says what, for this page alone
                return Prepared(PAGES, done, rest_from=page.page)
            done.append((page.page, page.width, page.height, prepared))
            if len(done) == WORKER_PAGES:
                # Not looking further: that would decode the next page only to hand it back.
                return Prepared(PAGES, done, rest_from=page.page + 1)
    except Exception as exc:  # the file itself is bad: its error row, with any pages before
        return Prepared(ERROR, done, error=failure_reason(exc))
    finally:
        pages.close()
    return Prepared(PAGES, done)


def _serve(requests, replies, segment: str, height: int, max_pixels: int, fingerprint=None,
           current=None) -> None:
    """The worker process: prepare each requested file, in order, and send them in groups of
    (number, Prepared) pairs. Requests come in lists of (number, InputFile) (None ends it);
    `current.value` (shared memory) is set to each file's number before the file is touched."""
    # Ctrl-C reaches the whole process group; the main process decides how a run ends, and
    # stops this one with SIGTERM (a forked worker would otherwise inherit the job's handlers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import cv2

    cv2.setNumThreads(1)  # the cores belong to the model; this process is one more reader
    group: list[tuple[int, Prepared]] = []
    first_done = 0.0
    cost = 0.0  # seconds the last file took: what the next one will make the group wait
    waiting: list[tuple[int, InputFile]] = []  # the requests of the last list, last first
    while True:
        # A send blocks while the reader lags (back-pressure).
        if group and (len(group) >= REPLY_GROUP
                      or time.monotonic() + cost - first_done >= REPLY_WAIT_S
                      or not waiting and requests.empty()):
            replies.send(group)
            group = []
        if not waiting:
            request = requests.get()
            if request is None:
                if group:
                    replies.send(group)
                return
            waiting = request[::-1]
        number, item = waiting.pop()
        if current is not None:
            # Before the file is touched: if it crashes this process, the job knows which file
            # did it, and that the unsent files before it were fine (PrepWorker._crashed).
            current.value = number
        started = time.monotonic()
        prepared = _prepare_file(item, segment, height, max_pixels, fingerprint)
        done = time.monotonic()
        cost = done - started
        if not group:
            first_done = done
        group.append((number, prepared))


@dataclass
class _Process:
    """One worker process and what talks to it; `generation` tells its news from a former
    process's in the same place (each start takes a new number)."""

    process: Any
    requests: Any
    generation: int
    current: Any  # shared: the number of the file the process is on (-1 before the first)


class PrepWorker:
    """`worker.take(item)` -> Prepared, for `items` taken in the order given to the constructor.

    `processes` worker processes start at once; file i goes to process i % processes, so each
    answers its files in order and the replies are merged back into file order. A receiver
    thread per process collects its replies as they come (so they keep working while the main
    process imports TensorFlow), and requests are topped up while fewer than AHEAD files are
    prepared or pending, their crops hold less than AHEAD_BYTES and each process has fewer
    unanswered than IN_FLIGHT_BYTES allows (at most IN_FLIGHT). If a process dies, the file it
    was on gets an error row and a new process takes over its other unanswered files (those it
    prepared but had not sent yet included). `close()` stops them (also when the run is
    interrupted)."""

    crashed_error = "the image reader crashed on this file (worker process ended: {why})"

    def __init__(self, items: list[InputFile], segment: str, height: int, max_pixels: int,
                 fingerprint=None, serve=None, processes: int = 1):
        self._items = list(items)
        self._args = (segment, height, max_pixels)
        # The process's main function: _serve; tests pass one that crashes on purpose.
        self._serve = serve or _serve
        # fingerprint(item) (picklable: a spawned worker gets a copy) runs in the worker just
        # before it reads the file, as the reader thread does (input_source), and off this
        # process's start-up: with --state it hashes every file.
        self._fingerprint = fingerprint
        self._changed = threading.Condition()
        self._ready: dict[int, Prepared] = {}
        self._failed: dict[int, Prepared] = {}  # error rows of files a process crashed on
        self._held = 0  # bytes of crops in _ready
        self._answered = self._answered_bytes = 0  # files answered so far, and their crops
        self._next = 0  # index of the next item to submit
        self._taken = 0  # index of the next item to take
        self._generations = 0  # numbers given to processes started so far
        self._ended: set[int] = set()  # generations whose process has gone
        self._processes: list[_Process | None] = [None] * max(1, processes)
        self._closed = False
        self.restarts = 0
        with self._changed:
            for place in range(len(self._processes)):
                self._start(place)
            self._fill()

    def _start(self, place: int) -> None:  # with self._changed held
        # Requests go through a queue (its feeder thread never blocks); replies through a pipe
        # (see _serve) that the receiver thread empties.
        self._generations += 1
        generation = self._generations
        # Chosen again on each start: a replacement worker starts after the model has loaded
        # TensorFlow, and is then spawned rather than forked.
        context = multiprocessing.get_context(start_method())
        requests = context.Queue()
        receiver, sender = context.Pipe(duplex=False)
        current = context.RawValue("q", -1)
        process = context.Process(
            target=self._serve, args=(requests, sender, *self._args, self._fingerprint, current),
            name="batch-ocr-prepare", daemon=True)
        with _opencv_threads_stopped(context):
            process.start()
        sender.close()  # the worker holds the only sending end: its exit shows as EOF here
        self._processes[place] = _Process(process, requests, generation, current)
        # A replacement takes over the files of its place submitted to the one that died and not
        # answered, but for the one it died on.
        again = [(number, self._items[number]) for number in range(self._taken, self._next)
                 if number % len(self._processes) == place and number not in self._ready
                 and number not in self._failed]
        if again:
            requests.put(again)
        threading.Thread(target=self._receive, args=(receiver, place, generation),
                         name="batch-ocr-prepare-replies", daemon=True).start()

    def _fill(self) -> None:  # with self._changed held
        # Asked, not yet answered.
        in_flight = self._next - self._taken - len(self._ready) - len(self._failed)
        limit = self._in_flight_limit() * len(self._processes)
        # One message per process and call: a message per file (a lock, two reads and a poll in
        # the worker) was about 40 of the 90 us a one-line file spent outside its preparing.
        lists: list[list[tuple[int, InputFile]]] = [[] for _ in self._processes]
        while (self._next < len(self._items) and self._next < self._taken + AHEAD
               and self._held < AHEAD_BYTES and in_flight < limit):
            in_flight += 1
            lists[self._next % len(self._processes)].append((self._next, self._items[self._next]))
            self._next += 1
        for place, requests in zip(self._processes, lists):
            if requests:
                place.requests.put(requests)

    def _receive(self, receiver, place: int, generation: int) -> None:
        try:
            while True:
                group = receiver.recv()
                with self._changed:
                    if self._closed or self._processes[place].generation != generation:
                        return
                    for number, prepared in group:
                        self._ready[number] = prepared
                        size = _crop_bytes(prepared)
                        self._held += size
                        self._answered_bytes += size
                    self._answered += len(group)
                    self._fill()
                    self._changed.notify_all()
        except BaseException:  # noqa: BLE001 - EOF (the process ended) or anything else: either
            pass  # way no more news comes from this process, and `take` must not wait for it
        finally:
            receiver.close()
            with self._changed:
                self._ended.add(generation)
                self._changed.notify_all()

    def _in_flight_limit(self) -> int:  # with self._changed held
        """Files each process may have asked and not answered (see IN_FLIGHT)."""
        if not self._answered:
            return min(FIRST_IN_FLIGHT, IN_FLIGHT)
        mean = self._answered_bytes / self._answered
        return max(1, min(IN_FLIGHT, int(IN_FLIGHT_BYTES / mean) if mean else IN_FLIGHT))

    def take(self, item: InputFile) -> Prepared:
        with self._changed:
            number = self._taken
            if number >= len(self._items) or self._items[number] is not item:
                raise ValueError("PrepWorker items must be taken in the order they were given")
            place = number % len(self._processes)
            while number not in self._ready and number not in self._failed:
                # A process that has gone sent all it would: its receiver saw every group
                # before the end of the pipe.
                if self._processes[place].generation in self._ended:
                    self._crashed(place, number)
                else:
                    self._changed.wait(_POLL_S)
            prepared = self._failed.pop(number, None)
            if prepared is None:
                prepared = self._ready.pop(number)
                self._held -= _crop_bytes(prepared)
            self._taken += 1
            self._fill()
            return prepared

    def _crashed(self, place: int, number: int) -> None:  # with self._changed held
        """The process of `place` ended without answering file `number`: the file it was on
        gets an error row, and a new process takes over the place's other unanswered files."""
        gone = self._processes[place]
        gone.process.join(1.0)
        why = _exit_description(gone.process.exitcode)
        # The file it was on; an earlier number (it ended between files, killed from outside)
        # puts the blame on the file awaited, so that a process that keeps dying still moves on.
        culprit = max(number, int(gone.current.value))
        _stop(gone)
        self.restarts += 1
        # The worker's fingerprint of this file went with it (its next run reads it again anyway:
        # error rows are always retried).
        item = self._items[culprit]
        source = self._fingerprint(item) if self._fingerprint is not None else None
        self._failed[culprit] = Prepared(ERROR, error=self.crashed_error.format(why=why),
                                         source=source)
        self._start(place)
        self._fill()

    def close(self) -> None:
        with self._changed:
            self._closed = True  # the receivers' last news is no longer wanted
            for process in self._processes:
                _stop(process)
            self._ready.clear()


def _stop(worker: _Process) -> None:
    if worker.process.is_alive():
        worker.process.terminate()  # it holds nothing that needs a clean exit
    worker.process.join(1.0)
    worker.requests.close()
    worker.requests.cancel_join_thread()


@contextlib.contextmanager
def _opencv_threads_stopped(context):
    """OpenCV's thread pool stopped while a worker is forked, restarted after.

    A process forked while this one's pool threads run (any earlier OpenCV work in this process:
    a library caller's second run, a test suite) copies the pool without its threads, and its
    first `cv2.setNumThreads` then waits for them forever. A fresh `batch-ocr run` forks before
    OpenCV has done anything, but it must not hang wherever it forks.
    """
    cv2 = sys.modules.get("cv2")
    if cv2 is None or context.get_start_method() != "fork":
        yield
        return
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # joins the pool's threads here, in the parent that has them
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _crop_bytes(prepared: Prepared) -> int:
    return sum(crop.nbytes for _, _, _, page in prepared.pages
               for crops in page.crops for crop in crops)


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def start_method() -> str:
    """fork while TensorFlow is not loaded (the child is a copy of a small process that has
    NumPy and OpenCV already and re-runs nothing), else spawn (forking a process that runs
    TensorFlow's thread pools is unsafe)."""
    if not tensorflow_loaded() and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def worker_processes(items: list[InputFile]) -> int:
    """How many worker processes a run over `items` should prepare files in (0: none, the
    reader thread reads them).

    Folders of pages get one per core, up to MAX_PREPARE_PROCESSES; others one. None for a
    handful of small files (starting it is not won back; two pages, at a tenth of a second or
    more each, win it back), and by default only while TensorFlow is not yet loaded: the worker
    pays off by overlapping that import, and a spawned worker would re-import the caller's main
    module (multiprocessing's rule), which a library caller's script may not expect.
    BATCH_OCR_PREPARE_PROCESS=0 turns it off, 1 turns it on for any run with files.
    """
    from batch_ocr.tf_setup import usable_cores

    choice = os.environ.get("BATCH_OCR_PREPARE_PROCESS", "auto").strip().lower()
    if choice in ("0", "false", "no", "off") or not items:
        return 0
    forced = choice in ("1", "true", "yes", "on")
    if not forced and start_method() != "fork":
        return 0  # before sampling headers: their answer could not change this one
    pages = len(items) >= MIN_PAGE_FILES_FOR_WORKER and _page_folder(items)
    if not forced and len(items) < MIN_FILES_FOR_WORKER and not pages:
        return 0
    return max(1, min(MAX_PREPARE_PROCESSES, usable_cores())) if pages else 1


# Below this many files the worker is not worth a process, unless they are pages.
MIN_FILES_FOR_WORKER = 32
MIN_PAGE_FILES_FOR_WORKER = 2
# Worker processes for folders of pages: one per core, up to this many. Segmenting a scanned
# page costs two to three times what the model spends reading it, so one process kept the model
# waiting with a core to spare. Folders of smaller images (one-line crops, words) get one: there
# the model is the slower side, and a second process only competed with the TensorFlow import
# (a start 0.1-0.2 s later on 600 line crops).
MAX_PREPARE_PROCESSES = 4
# A folder is one of pages when the median image, in a sample of its files, has this many
# pixels (a page scanned at 150 dpi has 2 million, a line crop some tens of thousands).
PAGE_PIXELS = 1_000_000
_SAMPLE_FILES = 16


def _page_folder(items: list[InputFile]) -> bool:
    """Whether the median image of a sample of `items` (headers only) is page-sized."""
    step = max(1, len(items) // _SAMPLE_FILES)
    sample = [images.header_pixels(item.path) for item in items[::step][:_SAMPLE_FILES]
              if not item.problem]
    counts = sorted(count for count in sample if count is not None)
    return bool(counts) and counts[len(counts) // 2] >= PAGE_PIXELS
