"""The batch job with a fake recogniser: walking, statuses, exit codes, lock, journal, resume."""
from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from batch_ocr import job
from batch_ocr.batching import DEFAULT_BATCH_SIZE
from batch_ocr.job import list_inputs, run_job
from batch_ocr.records import CharConfidence, LineResult
from batch_ocr.writers import CSV_COLUMNS


class FakeRecognizer:
    """Deterministic lines from image statistics; blank (all white) pages have none."""

    card = {"name": "fake", "version": "0.0", "charset": "abc", "input_height": 32}

    def __init__(self, fail_width: int | None = None, on_call=None):
        self.batch_size = None
        self.fail_width = fail_width
        self.on_call = on_call
        self.calls: list[int] = []

    def read_pages(self, pages, segment="auto"):
        self.calls.append(len(pages))
        if self.on_call is not None:
            self.on_call(len(self.calls))
        out = []
        for gray in pages:
            height, width = gray.shape
            if width == self.fail_width:
                raise RuntimeError("fake recogniser cannot read this width")
            if gray.min() == 255:
                out.append([])
                continue
            mean = float(gray.mean())
            texts = [f"mean {mean:.3f}, {width}x{height}", f"={width}+{height}"]
            out.append([
                LineResult(line=i, text=text, confidence=(mean / 255.0) ** (i + 1),
                           box=(0, i * height // 2, width, height // 2),
                           chars=[CharConfidence(c, 0.9) for c in text])
                for i, text in enumerate(texts)
            ])
        return out

    @property
    def pages_read(self) -> int:
        return sum(self.calls)


def _image(path: Path, seed: int, size=(40, 24), blank=False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = np.full(size[::-1], 255, np.uint8) if blank else \
        rng.integers(0, 255, size[::-1], dtype=np.uint8)
    Image.fromarray(pixels).save(path)


GOOD = ["UPPER.PNG", "a.png", "blank.png", "dir.png/inner.png", "multi.tif", "sub/b.png",
        "sub/deeper/c.jpg"]
BAD = ["dangling.png", "dir.png", "text.png", "zero.png"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    _image(root / "a.png", 1)
    _image(root / "UPPER.PNG", 2, size=(31, 20))
    _image(root / "sub" / "b.png", 3)
    _image(root / "sub" / "deeper" / "c.jpg", 4, size=(50, 30))
    _image(root / "blank.png", 5, blank=True)
    _image(root / "dir.png" / "inner.png", 6)
    _image(root / ".hidden.png", 7)
    _image(root / ".hiddendir" / "d.png", 8)
    frames = [Image.fromarray(np.full((20, 30), v, np.uint8)) for v in (10, 200)]
    frames[0].save(root / "multi.tif", save_all=True, append_images=frames[1:])
    (root / "notes.txt").write_text("not an image")
    (root / "zero.png").write_bytes(b"")
    (root / "text.png").write_text("hello, I am text")
    os.symlink(root / "nowhere.png", root / "dangling.png")
    os.symlink("..", root / "sub" / "loop")
    return root


def _run(tree: Path, output: Path, **kwargs) -> tuple[int, FakeRecognizer]:
    recognizer = kwargs.pop("recognizer", None) or FakeRecognizer()
    kwargs.setdefault("quiet", True)
    code = run_job([str(tree)], str(output), recognizer=recognizer, **kwargs)
    return code, recognizer


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values={"confidence": [""]})


def test_list_inputs_walks_sorted_skips_hidden_and_survives_loops(tree: Path):
    names = [item.name for item in list_inputs([str(tree)])]
    assert names == sorted(GOOD + BAD)
    assert not any(name.startswith(".") or "/." in name for name in names)
    assert all("loop" not in name for name in names)


def test_list_inputs_names_for_files_and_several_inputs(tree: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other"
    _image(other / "a.png", 9)
    assert [i.name for i in list_inputs(["in/a.png"])] == ["in/a.png"]
    names = [i.name for i in list_inputs(["in/sub/deeper", "other", "in/sub/b.png"])]
    assert names == ["in/sub/b.png", "in/sub/deeper/c.jpg", "other/a.png"]


def test_names_never_escape_the_root_through_symlinks(tmp_path: Path):
    outside = tmp_path / "outside"
    _image(outside / "o.png", 1)
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    assert [i.name for i in list_inputs([str(root)])] == ["link/o.png"]


def test_every_file_accounted_for_sorted_with_statuses(tree: Path, tmp_path: Path):
    output = tmp_path / "out.csv"
    code, recognizer = _run(tree, output)
    assert code == 1  # the bad files are errors
    frame = _read(output)
    assert list(frame.columns) == CSV_COLUMNS
    assert sorted(set(frame["file"])) == sorted(GOOD + BAD)
    keys = list(zip(frame["file"], frame["page"], frame["line"]))
    assert keys == sorted(keys)
    status = frame.groupby("file")["status"].first()
    assert {f for f in status.index if status[f] == "error"} == set(BAD)
    assert status["blank.png"] == "empty"
    errors = frame.set_index("file")["error"]
    assert errors["dir.png"] == "is a directory"
    assert errors["dangling.png"] == "broken symbolic link"
    assert errors["zero.png"] and errors["text.png"]
    multi = frame[frame["file"] == "multi.tif"]
    assert sorted(set(multi["page"])) == [0, 1]
    assert (frame[frame["status"] == "ok"]["text"].str.startswith("'=").sum()
            == len(frame[frame["status"] == "ok"]) // 2)  # formula-like lines neutralised
    assert recognizer.batch_size == DEFAULT_BATCH_SIZE
    assert max(recognizer.calls) > 1  # pages of several files share a recogniser call
    assert not (tmp_path / "out.csv.journal.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_all_good_files_exit_0(tmp_path: Path):
    root = tmp_path / "in"
    _image(root / "a.png", 1)
    _image(root / "b.png", 2, blank=True)
    code, _ = _run(root, tmp_path / "out.jsonl")
    assert code == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "ok", "empty"]
    assert rows[1]["text"].startswith("=")  # JSON Lines texts are not neutralised


def test_single_file_input_is_named_as_given(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _image(tmp_path / "scans" / "x.png", 3)
    code = run_job(["scans/x.png"], "out.csv", recognizer=FakeRecognizer(), quiet=True)
    assert code == 0
    assert set(_read(tmp_path / "out.csv")["file"]) == {"scans/x.png"}


def test_chunks_are_bounded(tree: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 3)
    code, recognizer = _run(tree, tmp_path / "out.csv")
    assert code == 1 and max(recognizer.calls) <= 3 and len(recognizer.calls) >= 3


def test_recogniser_failure_marks_only_that_file(tmp_path: Path):
    root = tmp_path / "in"
    _image(root / "a.png", 1, size=(40, 24))
    _image(root / "b.png", 2, size=(13, 24))
    _image(root / "c.png", 3, size=(40, 24))
    code, _ = _run(root, tmp_path / "out.csv", recognizer=FakeRecognizer(fail_width=13))
    assert code == 1
    frame = _read(tmp_path / "out.csv")
    status = frame.groupby("file")["status"].first().to_dict()
    assert status == {"a.png": "ok", "b.png": "error", "c.png": "ok"}
    assert "recognition failed" in frame.set_index("file").loc["b.png", "error"]


def test_json_output(tree: Path, tmp_path: Path):
    code, _ = _run(tree, tmp_path / "out.json")
    doc = json.loads((tmp_path / "out.json").read_text())
    assert code == 1
    assert doc["model"] == FakeRecognizer.card
    assert [f["file"] for f in doc["files"]] == sorted(GOOD + BAD)
    summary = doc["summary"]
    assert (summary["files"], summary["error"], summary["empty"]) == (11, 4, 1)
    assert summary["ok"] == 6 and summary["lines"] == 2 * 7  # multi.tif has two pages


def test_usage_errors_exit_2(tree: Path, tmp_path: Path, capsys):
    assert run_job([str(tree)], str(tmp_path / "out.txt"), recognizer=FakeRecognizer()) == 2
    assert "format" in capsys.readouterr().err
    assert run_job([str(tmp_path / "missing")], str(tmp_path / "o.csv"),
                   recognizer=FakeRecognizer()) == 2
    assert run_job([str(tree)], str(tmp_path / "o.csv"), segment="words",
                   recognizer=FakeRecognizer()) == 2
    assert run_job([str(tree)], str(tmp_path), fmt="csv", recognizer=FakeRecognizer()) == 2
    assert not (tmp_path / "o.csv").exists()


def test_unwritable_output_is_found_before_loading_the_model(tree: Path, tmp_path: Path, capsys):
    # A bad model *and* a bad output: the output is checked first (no model is loaded at all).
    code = run_job([str(tree)], str(tmp_path / "no" / "such" / "dir" / "o.csv"),
                   model="no-such-model")
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_model_exits_2(tree: Path, tmp_path: Path, capsys):
    assert run_job([str(tree)], str(tmp_path / "o.csv"), model="no-such-model") == 2
    assert "no-such-model" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_lock_held_by_another_fd_exits_3(tree: Path, tmp_path: Path, capsys):
    output = tmp_path / "out.csv"
    output.write_text("previous\n")
    with open(str(output) + ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, recognizer = _run(tree, output)
    assert code == 3
    assert "lock" in capsys.readouterr().err
    assert recognizer.calls == [] and output.read_text() == "previous\n"
    assert _run(tree, output)[0] == 1  # released: the next run works


def test_lock_held_by_another_process_exits_3(tree: Path, tmp_path: Path):
    output = tmp_path / "out.csv"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); sys.stdin.read()", str(output) + ".lock"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert _run(tree, output)[0] == 3
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert not output.exists()


def test_stdout_output_matches_file_output(tree: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(tree, tmp_path / "out.csv")
    capsys.readouterr()
    code = run_job([str(tree)], "-", fmt="csv", recognizer=FakeRecognizer(), quiet=True)
    assert code == 1
    assert capsys.readouterr().out == (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.csv", "out.csv.lock"]


def _interrupt_on_call(n: int):
    def on_call(call: int) -> None:
        if call == n:
            os.kill(os.getpid(), signal.SIGTERM)
    return on_call


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_sigterm_then_resume_gives_the_uninterrupted_bytes(tree: Path, tmp_path: Path,
                                                           monkeypatch, suffix, capsys):
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 2)
    full = tmp_path / f"full{suffix}"
    assert _run(tree, full)[0] == 1

    output = tmp_path / f"out{suffix}"
    output.write_text("old complete output\n")
    interrupted = FakeRecognizer(on_call=_interrupt_on_call(3))
    code, _ = _run(tree, output, recognizer=interrupted)
    assert code == 130
    assert "--resume" in capsys.readouterr().err
    assert output.read_text() == "old complete output\n"  # untouched, still valid
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    journal = Path(str(output) + ".journal.jsonl")
    done = [json.loads(line)["file"] for line in journal.read_text().splitlines()[1:]]
    assert 0 < len(done) < len(GOOD + BAD)

    code, resumed = _run(tree, output, resume=True)
    assert code == 1
    assert output.read_bytes() == full.read_bytes()
    assert not journal.exists()
    # pages of files already journaled were not read again
    total_pages = FakeRecognizer()
    _run(tree, tmp_path / "count.csv", recognizer=total_pages)
    assert resumed.pages_read < total_pages.pages_read


def test_resume_tolerates_a_torn_last_line(tree: Path, tmp_path: Path, monkeypatch):
    full = tmp_path / "full.json"
    assert _run(tree, full)[0] == 1

    # A run that dies after journaling everything but before writing the output.
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    output = tmp_path / "out.json"
    with monkeypatch.context() as patch:
        patch.setattr(job, "write_atomically", crash)
        assert _run(tree, output)[0] == 130
    journal = Path(str(output) + ".journal.jsonl")
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 + len(GOOD + BAD)  # header + every file
    journal.write_bytes(b"".join(lines[:4]) + lines[4][: len(lines[4]) // 2])

    code, resumed = _run(tree, output, resume=True)
    assert code == 1
    ours, theirs = json.loads(output.read_text()), json.loads(full.read_text())
    ours["summary"].pop("seconds")
    theirs["summary"].pop("seconds")
    assert ours == theirs
    assert not journal.exists()


def test_without_resume_an_old_journal_is_discarded(tree: Path, tmp_path: Path, capsys):
    output = tmp_path / "out.csv"
    journal = Path(str(output) + ".journal.jsonl")
    header = json.dumps({"journal": 1, "model": "fake", "model_version": "0.0",
                         "segment": "auto"})
    fake_line = json.dumps({"file": "a.png", "status": "ok", "error": "", "pages": [
        {"page": 0, "width": 1, "height": 1, "lines": [
            {"line": 0, "text": "STALE", "confidence": 1.0, "box": [0, 0, 1, 1], "chars": []}]}]})
    journal.write_text(header + "\n" + fake_line + "\n")
    code, _ = _run(tree, output, quiet=False)
    assert code == 1
    assert "discarding" in capsys.readouterr().err
    assert "STALE" not in output.read_text()

    journal.write_text(header + "\n" + fake_line + "\n")
    _run(tree, output, resume=True)
    assert "STALE" in output.read_text()  # --resume trusts the journal


def test_resume_with_another_model_is_refused(tree: Path, tmp_path: Path, capsys):
    output = tmp_path / "out.csv"
    journal = Path(str(output) + ".journal.jsonl")
    journal.write_text(json.dumps({"journal": 1, "model": "other", "model_version": "9",
                                   "segment": "auto"}) + "\n")
    assert _run(tree, output, resume=True)[0] == 2
    assert "without --resume" in capsys.readouterr().err
    assert journal.exists() and not output.exists()


def test_progress_log_lines_and_quiet(tree: Path, tmp_path: Path, capsys):
    _run(tree, tmp_path / "a.csv", quiet=False, progress=False)
    err = capsys.readouterr().err
    assert "11 files: 6 ok, 1 empty, 4 error" in err
    assert "error row for zero.png:" in err
    _run(tree, tmp_path / "b.csv", quiet=True)
    assert capsys.readouterr().err == ""
    _run(tree, tmp_path / "c.csv", quiet=False, progress=True)
    assert "11/11" in capsys.readouterr().err  # the tqdm bar


def test_output_permissions_follow_umask(tree: Path, tmp_path: Path):
    old = os.umask(0o022)
    try:
        _run(tree, tmp_path / "out.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


def test_csv_has_no_half_rows(tree: Path, tmp_path: Path):
    _run(tree, tmp_path / "out.csv")
    frame = pd.read_csv(io.StringIO((tmp_path / "out.csv").read_text()), keep_default_na=False)
    assert frame.shape[1] == len(CSV_COLUMNS) and len(frame) >= len(GOOD + BAD)


def test_undecodable_file_names_are_escaped_not_fatal(tmp_path: Path):
    root = tmp_path / "in"
    _image(root / "good.png", 1)
    raw_name = os.path.join(os.fsencode(root), b"caf\xe9.png")
    with open(raw_name, "wb") as fh:
        fh.write((root / "good.png").read_bytes())
    code, _ = _run(root, tmp_path / "out.csv")
    assert code == 0
    files = set(_read(tmp_path / "out.csv")["file"])
    assert files == {"good.png", "caf\\xe9.png"}


# ------------------------------------------------------------------ reading ahead in a thread

class _Prepared:
    def __init__(self, gray):
        self.gray = gray


class PreparingRecognizer(FakeRecognizer):
    """Works ahead like the real recogniser: `prepare_page` (segmentation and crops) runs in the
    job's reader thread, `read_pages` (the model) on the main thread; both are recorded."""

    def __init__(self, fail_prepare_width: int | None = None, delay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.fail_prepare_width = fail_prepare_width
        self.delay = delay
        self.prepared = 0
        self.consumed = 0
        self.most_ahead = 0
        self.threads: dict[str, set[str]] = {"prepare": set(), "read": set()}

    def prepare_page(self, gray, segment="auto"):
        self.threads["prepare"].add(threading.current_thread().name)
        if gray.shape[1] == self.fail_prepare_width:
            raise ValueError("cannot segment this width")
        self.prepared += 1
        return _Prepared(gray)

    def read_pages(self, pages, segment="auto"):
        self.threads["read"].add(threading.current_thread().name)
        assert all(isinstance(page, _Prepared) for page in pages)
        self.consumed += len(pages)
        time.sleep(self.delay)  # the model at work: the reader goes ahead as far as it may
        self.most_ahead = max(self.most_ahead, self.prepared - self.consumed)
        return super().read_pages([page.gray for page in pages], segment)


def _many_images(root: Path, count: int) -> Path:
    for index in range(count):
        _image(root / f"p{index:03d}.png", index, size=(30 + index % 7, 20))
    return root


@pytest.mark.parametrize("recognizer", [FakeRecognizer, PreparingRecognizer])
def test_reading_ahead_writes_what_reading_in_turn_writes(recognizer, tree: Path,
                                                           tmp_path: Path, monkeypatch):
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 2)
    outputs = []
    for ahead in (False, True):
        monkeypatch.setattr(job, "READ_AHEAD", ahead)
        output = tmp_path / f"ahead-{ahead}.jsonl"
        reader = recognizer()
        assert _run(tree, output, recognizer=reader)[0] == 1
        outputs.append((output.read_bytes(), reader.calls))
    assert outputs[0] == outputs[1]  # same rows, same order, same chunks


def test_pages_are_prepared_in_the_reader_thread_at_most_one_chunk_ahead(tmp_path: Path,
                                                                         monkeypatch):
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 3)
    root = _many_images(tmp_path / "in", 30)
    reader = PreparingRecognizer(delay=0.1)
    assert _run(root, tmp_path / "out.csv", recognizer=reader)[0] == 0
    assert reader.threads == {"prepare": {"batch-ocr-reader"}, "read": {"MainThread"}}
    assert reader.consumed == reader.prepared == 30
    # While the model reads a chunk the next one is ready, but never more than that one.
    assert 1 <= reader.most_ahead <= 3
    assert not [t for t in threading.enumerate() if t.name == "batch-ocr-reader"]


def test_a_page_that_fails_to_prepare_marks_only_its_file(tmp_path: Path):
    root = tmp_path / "in"
    _image(root / "a.png", 1, size=(40, 24))
    _image(root / "b.png", 2, size=(13, 24))
    _image(root / "c.png", 3, size=(40, 24))
    reader = PreparingRecognizer(fail_prepare_width=13)
    assert _run(root, tmp_path / "out.csv", recognizer=reader)[0] == 1
    frame = _read(tmp_path / "out.csv")
    status = frame.groupby("file")["status"].first().to_dict()
    assert status == {"a.png": "ok", "b.png": "error", "c.png": "ok"}
    error = frame.set_index("file").loc["b.png", "error"]
    assert error == "recognition failed: ValueError: cannot segment this width"


def test_sigterm_while_reading_ahead_leaves_a_journal_that_resumes(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 2)
    root = _many_images(tmp_path / "in", 12)
    full = tmp_path / "full.csv"
    assert _run(root, full, recognizer=PreparingRecognizer())[0] == 0

    output = tmp_path / "out.csv"
    interrupted = PreparingRecognizer(delay=0.05, on_call=_interrupt_on_call(3))
    assert _run(root, output, recognizer=interrupted)[0] == 130
    assert not [t for t in threading.enumerate() if t.name == "batch-ocr-reader"]
    assert not output.exists()
    journal = Path(str(output) + ".journal.jsonl")
    done = [json.loads(line)["file"] for line in journal.read_text().splitlines()[1:]]
    assert done == [f"p{index:03d}.png" for index in range(4)]  # two chunks recognised

    resumed = PreparingRecognizer()
    assert _run(root, output, recognizer=resumed, resume=True)[0] == 0
    assert output.read_bytes() == full.read_bytes()
    assert resumed.consumed == 12 - 4


def test_one_page_files_fill_chunks_that_grow_from_the_first(tmp_path: Path, monkeypatch):
    # Width-sorted batches pad less the more crops a chunk holds, but the model waits for the
    # first chunk: chunks start at FIRST_CHUNK_PAGES and double up to PAGES_PER_CHUNK.
    monkeypatch.setattr(job, "FIRST_CHUNK_PAGES", 8)
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 30)
    root = _many_images(tmp_path / "in", 100)
    code, recognizer = _run(root, tmp_path / "out.csv")
    assert code == 0 and recognizer.calls == [8, 16, 30, 30, 16]
    monkeypatch.setattr(job, "FIRST_CHUNK_PAGES", 32)
    code, recognizer = _run(root, tmp_path / "out2.csv")
    assert recognizer.calls == [30, 30, 30, 10]  # the first chunk is already the largest


def test_chunks_of_large_pages_grow_from_a_few_pages(tmp_path: Path, monkeypatch):
    # Scanned pages fill a chunk by pixels long before they fill it by count: the pixel bound
    # starts at FIRST_CHUNK_PIXELS and doubles up to PIXELS_PER_CHUNK, so the model's first
    # chunk is a few pages, not a few dozen.
    root = tmp_path / "in"
    for index in range(40):
        _image(root / f"p{index:03d}.png", index, size=(40, 24))  # 960 pixels each
    monkeypatch.setattr(job, "FIRST_CHUNK_PIXELS", 4 * 960)
    monkeypatch.setattr(job, "PIXELS_PER_CHUNK", 16 * 960)
    code, recognizer = _run(root, tmp_path / "out.csv")
    assert code == 0 and recognizer.calls == [4, 8, 16, 12]
    monkeypatch.setattr(job, "FIRST_CHUNK_PIXELS", 10**9)  # never below PIXELS_PER_CHUNK
    code, recognizer = _run(root, tmp_path / "flat.csv")
    assert recognizer.calls == [16, 16, 8]
    assert (tmp_path / "flat.csv").read_bytes() == (tmp_path / "out.csv").read_bytes()


def test_a_few_files_left_after_a_full_chunk_join_it(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(job, "FIRST_CHUNK_PAGES", 8)
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 30)
    root = _many_images(tmp_path / "in", 90)
    code, recognizer = _run(root, tmp_path / "out.csv")
    # 8, 16, 30, 30 and 6 left: no more than a quarter of a chunk, so the last chunk takes them.
    assert code == 0 and recognizer.calls == [8, 16, 30, 36]
    full = (tmp_path / "out.csv").read_bytes()
    monkeypatch.setattr(job, "TAIL_SHARE", 1000)  # never merge
    code, recognizer = _run(root, tmp_path / "apart.csv")
    assert recognizer.calls == [8, 16, 30, 30, 6]
    assert (tmp_path / "apart.csv").read_bytes() == full  # every file once, either way


def test_unreadable_files_are_journaled_in_groups_while_a_chunk_fills(tmp_path: Path):
    root = tmp_path / "in"
    _image(root / "a.png", 1)
    for index in range(job.FILES_PER_CHUNK + 5):
        (root / f"bad{index:03d}.png").write_bytes(b"")
    _image(root / "z.png", 2)
    output = tmp_path / "out.csv"
    journaled_before_recognition = []

    def count_journal(call: int) -> None:
        lines = Path(str(output) + ".journal.jsonl").read_text().splitlines()
        journaled_before_recognition.append(len(lines) - 1)

    code, recognizer = _run(root, output, recognizer=FakeRecognizer(on_call=count_journal))
    assert code == 1 and recognizer.calls == [2]  # a.png and z.png read together
    assert journaled_before_recognition == [job.FILES_PER_CHUNK]
    assert len(_read(output)) == 2 * 2 + job.FILES_PER_CHUNK + 5
