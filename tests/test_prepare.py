"""The worker process that prepares single-page files ahead of the model (prepare.py)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from job_helper import counting_serve, crashing_serve, make_line_images
from PIL import Image

from batch_ocr import images, prepare, tf_setup
from batch_ocr.job import run_job
from batch_ocr.prepare import ERROR, PAGES, WORKER_PAGES, PrepWorker
from batch_ocr.recognizer import prepare_page
from batch_ocr.walk import InputFile


def _items(paths):
    return [InputFile(p.name, str(p)) for p in paths]


def _upper_name(item):  # a fingerprint a spawned worker can unpickle
    return item.name.upper()


@pytest.mark.parametrize("processes", [1, 2])
def test_worker_prepares_what_the_thread_would(tmp_path, processes):
    paths = make_line_images(tmp_path, 5)
    (tmp_path / "empty.png").write_bytes(b"")
    pages = [Image.new("L", (120, 40), 255), Image.new("L", (120, 40), 255)]
    pages[0].save(tmp_path / "two.tif", save_all=True, append_images=pages[1:])
    items = _items(paths) + [InputFile("empty.png", str(tmp_path / "empty.png")),
                             InputFile("two.tif", str(tmp_path / "two.tif")),
                             InputFile("gone.png", str(tmp_path / "gone.png"),
                                       "broken symbolic link")]
    worker = PrepWorker(items, "line", 32, 10_000_000, fingerprint=_upper_name,
                        processes=processes)
    try:
        results = [worker.take(item) for item in items]
    finally:
        worker.close()
    for item, got in zip(items[:5], results[:5]):
        assert got.kind == PAGES and got.source == item.name.upper()
        [(number, width, height, page)] = got.pages
        gray = np.asarray(Image.open(item.path).convert("L"))
        assert (number, width, height) == (0, gray.shape[1], gray.shape[0])
        here = prepare_page(gray, "line", 32)
        assert page.gray is None and page.regions == here.regions
        assert all(np.array_equal(a, b) for a, b in zip(page.crops[0], here.crops[0]))
    assert results[5].kind == ERROR and "empty" in results[5].error
    # A short multi-page file is prepared whole; a longer one's later pages are left to the job.
    assert results[6].kind == PAGES and [number for number, *_ in results[6].pages] == [0, 1]
    assert results[6].rest_from is None
    assert results[7].kind == ERROR and results[7].error == "broken symbolic link"


def test_items_must_be_taken_in_order(tmp_path):
    items = _items(make_line_images(tmp_path, 2))
    worker = PrepWorker(items, "line", 32, 10_000_000)
    try:
        with pytest.raises(ValueError):
            worker.take(items[1])
    finally:
        worker.close()


def test_the_worker_leaves_a_page_it_cannot_segment_and_the_rest_to_the_job(tmp_path,
                                                                           monkeypatch):
    import batch_ocr.recognizer as recognizer

    frames = [Image.new("L", (120 + 10 * i, 40), 255) for i in range(3)]
    frames[0].save(tmp_path / "three.tif", save_all=True, append_images=frames[1:])
    real = recognizer.prepare_page

    def fails_on_130_wide(gray, *args, **kwargs):
        if gray.shape[1] == 130:
            raise ValueError("cannot segment this width")
        return real(gray, *args, **kwargs)

    monkeypatch.setattr(recognizer, "prepare_page", fails_on_130_wide)
    item = InputFile("three.tif", str(tmp_path / "three.tif"))
    got = prepare._prepare_pages(item, "line", 32, 10_000_000)
    assert got.kind == PAGES and not got.error
    assert [number for number, *_ in got.pages] == [0] and got.rest_from == 1
    # A page that fails to decode ends the file, as in the job's own reading: the pages before
    # it are kept, the file gets the error.
    monkeypatch.undo()
    broken = tmp_path / "broken.tif"
    broken.write_bytes((tmp_path / "three.tif").read_bytes()[:-40])  # the last page cut short
    got = prepare._prepare_pages(InputFile("broken.tif", str(broken)), "line", 32, 10_000_000)
    assert got.kind == ERROR and got.error == "cannot decode image: truncated TIFF (page 2)"
    assert [number for number, *_ in got.pages] == [0, 1] and got.rest_from is None


def test_requests_reach_the_worker_a_list_at_a_time(tmp_path, monkeypatch):
    # A message per file cost the worker a tenth of a one-line crop's time; each top-up is one
    # list. 40 files: the first 32 (FIRST_IN_FLIGHT) in one message, the rest as replies come.
    items = _items(make_line_images(tmp_path, 40))
    log = tmp_path / "messages.txt"
    monkeypatch.setenv("REQUEST_LOG", str(log))
    worker = PrepWorker(items, "line", 32, 10_000_000, serve=counting_serve)
    try:
        results = [worker.take(item) for item in items]
    finally:
        worker.close()
    assert [r.kind for r in results] == [PAGES] * 40
    sizes = [int(line) for line in log.read_text(encoding="utf-8").split()]
    assert sum(sizes) == 40 and sizes[0] == prepare.FIRST_IN_FLIGHT and len(sizes) <= 9


def test_a_crash_costs_one_file_and_a_new_worker_goes_on(tmp_path):
    paths = make_line_images(tmp_path, 4)
    crash = tmp_path / "crash.png"
    paths[0].rename(crash)
    items = _items([paths[1], crash, paths[2], paths[3]])
    worker = PrepWorker(items, "line", 32, 10_000_000, serve=crashing_serve)
    try:
        results = [worker.take(item) for item in items]
    finally:
        worker.close()
    assert [r.kind for r in results] == [PAGES, ERROR, PAGES, PAGES]
    assert "crashed" in results[1].error and "SIGKILL" in results[1].error
    assert worker.restarts == 1


def test_files_prepared_but_not_yet_sent_when_the_worker_crashes_are_prepared_again(tmp_path):
    # The worker sends its files in groups: the three before the crash are most likely still
    # held unsent when it dies (their requests are all queued, so it does not send early). The
    # shared note of the file it was on blames the crash alone; the others come from its
    # replacement.
    paths = make_line_images(tmp_path, 5)
    crash = tmp_path / "crash.png"
    paths[3].rename(crash)
    items = _items([paths[0], paths[1], paths[2], crash, paths[4]])
    worker = PrepWorker(items, "line", 32, 10_000_000, serve=crashing_serve)
    try:
        results = [worker.take(item) for item in items]
    finally:
        worker.close()
    assert [r.kind for r in results] == [PAGES, PAGES, PAGES, ERROR, PAGES]
    assert "SIGKILL" in results[3].error and worker.restarts == 1
    for item, got in zip(items, results):
        if got.kind == PAGES:
            gray = np.asarray(Image.open(item.path).convert("L"))
            assert got.pages[0][1:3] == (gray.shape[1], gray.shape[0])


def test_with_two_processes_a_crash_costs_one_file_and_its_place_goes_on(tmp_path):
    # File i goes to process i % 2: the crash at 1 takes the files after it in that place (3,
    # 5) with it; its replacement prepares them, and the other place never notices.
    paths = make_line_images(tmp_path, 6)
    crash = tmp_path / "crash.png"
    paths[0].rename(crash)
    items = _items([paths[1], crash, paths[2], paths[3], paths[4], paths[5]])
    worker = PrepWorker(items, "line", 32, 10_000_000, serve=crashing_serve, processes=2)
    try:
        results = [worker.take(item) for item in items]
    finally:
        worker.close()
    assert [r.kind for r in results] == [PAGES, ERROR, PAGES, PAGES, PAGES, PAGES]
    assert "SIGKILL" in results[1].error and worker.restarts == 1
    for item, got in zip(items, results):
        if got.kind == PAGES:
            gray = np.asarray(Image.open(item.path).convert("L"))
            assert got.pages[0][1:3] == (gray.shape[1], gray.shape[0])  # its own file's page


def test_pages_get_a_worker_process_per_core_and_small_images_one(tmp_path, monkeypatch):
    monkeypatch.delenv("BATCH_OCR_PREPARE_PROCESS", raising=False)
    monkeypatch.setattr(prepare, "start_method", lambda: "fork")
    monkeypatch.setattr(prepare, "MAX_PREPARE_PROCESSES", 3)
    lines = _items(make_line_images(tmp_path / "lines", 40))
    pages = []
    for index in range(5):
        path = tmp_path / "pages" / f"p{index}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("L", (1000, 1000 + index), 255).save(path)  # headers only are read
        pages.append(path)
    pages = _items(pages)
    monkeypatch.setattr(tf_setup, "usable_cores", lambda: 8)
    assert prepare.worker_processes(pages) == 3 and prepare.worker_processes(lines) == 1
    # Two pages already win a worker back; small images need MIN_FILES_FOR_WORKER.
    assert prepare.worker_processes(pages[:2]) == 3 and prepare.worker_processes(pages[:1]) == 0
    assert prepare.worker_processes(lines[:5]) == 0
    # The median of the sample decides: a few pages among many crops (or the reverse) do not.
    assert prepare.worker_processes(lines + pages[:2]) == 1
    assert prepare.worker_processes(pages + lines[:2]) == 3
    monkeypatch.setattr(tf_setup, "usable_cores", lambda: 2)
    assert prepare.worker_processes(pages) == 2
    monkeypatch.setattr(tf_setup, "usable_cores", lambda: 1)
    assert prepare.worker_processes(pages) == 1
    (tmp_path / "empty.png").write_bytes(b"")
    assert images.header_pixels(tmp_path / "empty.png") is None
    assert images.header_pixels(tmp_path / "missing.png") is None
    assert images.header_pixels(pages[4].path) == 1000 * 1004
    # WebP's open runs libwebp on the whole file: never in the job's own process.
    Image.new("L", (1000, 1000), 255).save(tmp_path / "page.webp")
    assert images.header_pixels(tmp_path / "page.webp") is None
    assert next(iter(images.read_pages(tmp_path / "page.webp"))).gray.shape == (1000, 1000)


def test_job_output_is_the_same_with_and_without_the_worker(tmp_path, monkeypatch):
    paths = make_line_images(tmp_path / "in", prepare.MIN_FILES_FOR_WORKER)
    (tmp_path / "in" / "bad.png").write_bytes(b"not an image at all")
    # Longer than the worker takes whole: its last two pages are read by the job's thread.
    frames = [Image.open(path).convert("L") for path in paths[:WORKER_PAGES + 2]]
    frames[0].save(tmp_path / "in" / "long.tif", save_all=True, append_images=frames[1:])
    outputs = {}
    for setting in ("1", "0"):
        monkeypatch.setenv("BATCH_OCR_PREPARE_PROCESS", setting)
        used = []
        real_take = PrepWorker.take

        def take(self, item, used=used):
            prepared = real_take(self, item)
            used.append((item.name, len(prepared.pages), prepared.rest_from))
            return prepared

        monkeypatch.setattr(PrepWorker, "take", take)
        output = tmp_path / f"out{setting}.csv"
        assert run_job([str(tmp_path / "in")], str(output), quiet=True, segment="line") == 1
        outputs[setting] = output.read_bytes()
        assert bool(used) == (setting == "1")
        if setting == "1":
            assert ("long.tif", WORKER_PAGES, WORKER_PAGES) in used
    assert outputs["1"] == outputs["0"]
    frame = pd.read_csv(tmp_path / "out1.csv", keep_default_na=False)
    assert (frame["status"] == "ok").sum() == prepare.MIN_FILES_FOR_WORKER + WORKER_PAGES + 2
    assert frame[frame["file"] == "long.tif"]["page"].nunique() == WORKER_PAGES + 2
    assert frame.set_index("file").loc["bad.png", "status"] == "error"


def _absent(count: int) -> list[InputFile]:
    return [InputFile(f"{index}.png", f"/nonexistent/{index}.png") for index in range(count)]


def test_worker_only_for_enough_files_and_before_tensorflow(monkeypatch):
    monkeypatch.delenv("BATCH_OCR_PREPARE_PROCESS", raising=False)
    monkeypatch.setattr(prepare, "start_method", lambda: "fork")
    assert prepare.worker_processes(_absent(prepare.MIN_FILES_FOR_WORKER - 1)) == 0
    assert prepare.worker_processes(_absent(prepare.MIN_FILES_FOR_WORKER)) == 1
    monkeypatch.setattr(prepare, "start_method", lambda: "spawn")  # TensorFlow already loaded
    assert prepare.worker_processes(_absent(10_000)) == 0
    monkeypatch.setenv("BATCH_OCR_PREPARE_PROCESS", "0")
    assert prepare.worker_processes(_absent(10_000)) == 0
    monkeypatch.setenv("BATCH_OCR_PREPARE_PROCESS", "1")
    assert prepare.worker_processes(_absent(1)) == 1 and prepare.worker_processes([]) == 0


def test_the_job_forks_its_worker_before_opencv_is_imported():
    # What the job's main process imports before it forks: OpenCV is left to the worker, whose
    # import of it then runs beside TensorFlow's in the main process rather than before it.
    code = ("import sys\n"
            "import batch_ocr.job, batch_ocr.recognizer, batch_ocr.prepare\n"
            "assert 'cv2' not in sys.modules, 'OpenCV imported with the job'\n"
            "assert 'numpy' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_command_line_forks_its_worker_and_writes_what_the_thread_writes(tmp_path):
    """A fresh `batch-ocr run` has not loaded TensorFlow when it starts its worker: it forks."""
    import os
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", "import batch_ocr.job, batch_ocr.prepare as p; "
                            "from batch_ocr.walk import InputFile as F; "
                            "print(p.start_method(), p.worker_processes([F('a', 'a')] * 100))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.split() == ["fork", "1"]
    make_line_images(tmp_path / "in", prepare.MIN_FILES_FOR_WORKER)
    outputs = []
    for setting in ("auto", "0"):
        output = tmp_path / f"out-{setting}.csv"
        env = {**os.environ, "BATCH_OCR_PREPARE_PROCESS": setting}
        done = subprocess.run([sys.executable, "-m", "batch_ocr.cli", "run", str(tmp_path / "in"),
                               "-o", str(output), "--segment", "line", "--quiet"],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]


_FORK_AFTER_OPENCV = """
import sys
import cv2, numpy as np
sys.path.insert(0, sys.argv[2])
from job_helper import make_line_images
from pathlib import Path
from batch_ocr.prepare import PAGES, PrepWorker
from batch_ocr.walk import InputFile
# OpenCV's thread pool running in this process before the worker is forked.
big = np.random.default_rng(0).integers(0, 255, (2000, 2000), dtype=np.uint8)
cv2.GaussianBlur(big, (9, 9), 0); cv2.resize(big, (1500, 1500), interpolation=cv2.INTER_AREA)
assert cv2.getNumThreads() > 1
paths = make_line_images(Path(sys.argv[1]), 3)
items = [InputFile(p.name, str(p)) for p in paths]
worker = PrepWorker(items, "line", 32, 10_000_000)
try:
    kinds = [worker.take(item).kind for item in items]
finally:
    worker.close()
print(kinds == [PAGES] * 3, cv2.getNumThreads() > 1)
"""


def test_a_worker_forked_after_opencv_ran_threads_does_not_hang(tmp_path):
    # A forked child that inherits OpenCV's running pool waited forever in cv2.setNumThreads.
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "OPENCV_FOR_THREADS_NUM": "2"}  # a pool even on a one-core machine
    done = subprocess.run([sys.executable, "-c", _FORK_AFTER_OPENCV, str(tmp_path),
                           str(Path(__file__).parent)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"]  # files read; this process's pool restored


def test_a_model_that_fails_to_load_leaves_nothing_behind(tmp_path, monkeypatch):
    """The card is read first and the weights load while the worker reads; weights that turn out
    unreadable still end the run with exit 2, no output and no journal."""
    import json
    import shutil

    from batch_ocr.recognizer import MODELS_DIR

    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(MODELS_DIR / "printed" / "card.json", model / "card.json")
    (model / "model.keras").write_bytes(b"PK\x03\x04 not really a keras file")
    assert json.loads((model / "card.json").read_text(encoding="utf-8"))["input_height"]
    make_line_images(tmp_path / "in", prepare.MIN_FILES_FOR_WORKER)
    monkeypatch.setenv("BATCH_OCR_PREPARE_PROCESS", "1")
    output = tmp_path / "out.csv"
    assert run_job([str(tmp_path / "in")], str(output), model=str(model), quiet=True) == 2
    assert not output.exists()
    assert not (tmp_path / "out.csv.journal.jsonl").exists()
    (model / "model.keras").unlink()  # no weights at all: refused before anything starts
    assert run_job([str(tmp_path / "in")], str(output), model=str(model), quiet=True) == 2


def test_the_bytes_bound_holds_however_fast_the_processes_are(tmp_path, monkeypatch):
    # Crops waiting beyond AHEAD_BYTES stop new requests, and no more than IN_FLIGHT per process
    # are ever queued: the processes cannot run far ahead of a slow model.
    import time

    monkeypatch.setattr(prepare, "AHEAD_BYTES", 1)  # any one file's crops reach it
    monkeypatch.setattr(prepare, "IN_FLIGHT", 4)
    items = _items(make_line_images(tmp_path, 40))
    worker = PrepWorker(items, "line", 32, 10_000_000, processes=2)
    try:
        deadline = time.monotonic() + 120
        while len(worker._ready) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # time for any request beyond the bound to be answered too
        assert len(worker._ready) == 8 and worker._next == 8  # the first requests only
        results = [worker.take(item) for item in items]  # taking lets the rest through
    finally:
        worker.close()
    assert [r.kind for r in results] == [PAGES] * 40


class _Replies:
    """A reply pipe's sending end that keeps the file numbers of each group sent."""

    def __init__(self):
        self.sent: list[list[int]] = []

    def send(self, group):
        self.sent.append([number for number, _ in group])


def _serve_in_thread(monkeypatch, costs: dict[int, float], requests_lists):
    """Run `_serve` here on a plain queue, each file taking costs[number] seconds."""
    import queue
    import time

    def fake_prepare(item, *args):
        time.sleep(costs[int(item.name)])
        return prepare.Prepared(PAGES)

    monkeypatch.setattr(prepare, "_prepare_file", fake_prepare)
    monkeypatch.setattr(prepare.signal, "signal", lambda *args: None)  # not the main thread
    requests = queue.Queue()
    for request in requests_lists:
        requests.put([(number, InputFile(str(number), str(number))) for number in request])
    requests.put(None)
    replies = _Replies()
    prepare._serve(requests, replies, "line", 32, 10_000_000)
    return replies.sent


def test_quick_files_go_in_groups_and_slow_ones_alone(monkeypatch):
    # One-line files (under a millisecond each) are sent in groups: the job's process wakes once
    # a group, not once a file (groups of 16, as before, would be 13 messages here).
    quick = _serve_in_thread(monkeypatch, dict.fromkeys(range(200), 0.0005),
                             [range(100), range(100, 200)])
    assert [number for group in quick for number in group] == list(range(200))
    assert len(quick) <= 5
    # A page takes longer than a group may wait: each goes as soon as it is ready, not after the
    # next one is prepared too.
    slow = _serve_in_thread(monkeypatch, dict.fromkeys(range(3), prepare.REPLY_WAIT_S * 1.5),
                            [range(3)])
    assert slow == [[0], [1], [2]]


def test_files_in_flight_follow_the_crops_they_make():
    worker = PrepWorker.__new__(PrepWorker)  # the limit alone: no process started
    worker._answered = worker._answered_bytes = 0
    assert worker._in_flight_limit() == prepare.FIRST_IN_FLIGHT  # nothing known yet
    worker._answered, worker._answered_bytes = 100, 100 * 9_000  # one-line crops
    assert worker._in_flight_limit() == prepare.IN_FLIGHT
    worker._answered, worker._answered_bytes = 10, 10 * 400_000  # dense pages
    assert worker._in_flight_limit() == prepare.IN_FLIGHT_BYTES // 400_000 < prepare.IN_FLIGHT
    worker._answered, worker._answered_bytes = 1, 10 * prepare.IN_FLIGHT_BYTES  # one huge file
    assert worker._in_flight_limit() == 1
