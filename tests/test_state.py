"""`--state`: nightly runs read only new and changed files; `--master` keeps one complete output."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest

from batch_ocr import job
from batch_ocr.job import run_job
from batch_ocr.state import State

sys.path.insert(0, str(Path(__file__).parent))
from job_helper import LineReader, line_image, make_line_images  # noqa: E402


def _night(root: Path, output: Path, state: Path, reader: LineReader | None = None,
           **kwargs) -> tuple[int, LineReader]:
    reader = reader or LineReader()
    code = run_job([str(root)], str(output), state=str(state), recognizer=reader, quiet=True,
                   **kwargs)
    return code, reader


def _files(output: Path) -> list[str]:
    frame = pd.read_csv(output, keep_default_na=False)
    return list(frame["file"])


def _state_rows(state: Path) -> dict[str, tuple]:
    with sqlite3.connect(state) as db:
        return {name: rest for name, *rest in db.execute(
            "SELECT name, size, mtime_ns, sha256, model, model_version, status FROM files")}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "scans"
    make_line_images(root, 4)  # line_0000 line_0001 part2/line_0002 line_0003
    return root


def test_add_change_touch_and_remove_between_nights(folder: Path, tmp_path: Path):
    state = tmp_path / "state.sqlite"
    code, reader = _night(folder, tmp_path / "night1.csv", state)
    assert code == 0 and reader.pages_read == 4
    assert _files(tmp_path / "night1.csv") == ["line_0000.png", "line_0001.png", "line_0003.png",
                                               "part2/line_0002.png"]
    rows = _state_rows(state)
    assert set(rows) == set(_files(tmp_path / "night1.csv"))
    size, mtime_ns, sha256, model, version, status = rows["line_0000.png"]
    assert size == (folder / "line_0000.png").stat().st_size and len(sha256) == 64
    assert (model, version, status) == ("fake-lines", "1", "ok")

    # Nothing changed: nothing read, a valid output with only the header.
    code, reader = _night(folder, tmp_path / "night2.csv", state)
    assert code == 0 and reader.pages_read == 0
    assert (tmp_path / "night2.csv").read_text().count("\n") == 1

    # Add one, change one, touch one (same bytes, new mtime), remove one.
    line_image("a new scan").save(folder / "line_0009.png")
    line_image("changed text").save(folder / "line_0001.png")
    os.utime(folder / "line_0003.png", ns=(1_000_000_000, 1_000_000_000))
    (folder / "part2" / "line_0002.png").unlink()
    code, reader = _night(folder, tmp_path / "night3.csv", state)
    assert code == 0 and reader.pages_read == 2
    assert _files(tmp_path / "night3.csv") == ["line_0001.png", "line_0009.png"]
    rows = _state_rows(state)
    assert set(rows) == {"line_0000.png", "line_0001.png", "line_0003.png", "line_0009.png"}
    assert rows["line_0003.png"][1] == 1_000_000_000  # the touch was recorded, not re-read

    code, reader = _night(folder, tmp_path / "night4.csv", state)
    assert reader.pages_read == 0


def test_master_output_is_always_the_complete_folder(folder: Path, tmp_path: Path):
    state, master = tmp_path / "state.sqlite", tmp_path / "master.csv"
    assert _night(folder, master, state, master=True)[0] == 0
    line_image("a new scan").save(folder / "line_0009.png")
    line_image("changed text").save(folder / "line_0001.png")
    (folder / "line_0000.png").unlink()
    code, reader = _night(folder, master, state, master=True)
    assert code == 0 and reader.pages_read == 2

    fresh = tmp_path / "fresh.csv"
    assert run_job([str(folder)], str(fresh), recognizer=LineReader(), quiet=True) == 0
    assert master.read_bytes() == fresh.read_bytes()  # as if the whole folder were read tonight
    assert "line_0000.png" not in _files(master)


def test_master_json_summary_counts_every_file(folder: Path, tmp_path: Path):
    state, master = tmp_path / "state.sqlite", tmp_path / "master.json"
    _night(folder, master, state, master=True)
    (folder / "blank.png").write_bytes(b"")
    assert _night(folder, master, state, master=True)[0] == 1
    doc = json.loads(master.read_text())
    assert doc["summary"]["files"] == 5 and doc["summary"]["error"] == 1
    assert [f["file"] for f in doc["files"]][:2] == ["blank.png", "line_0000.png"]


def test_new_model_version_and_reprocess_read_everything(folder: Path, tmp_path: Path):
    state = tmp_path / "state.sqlite"
    _night(folder, tmp_path / "a.csv", state)

    assert _night(folder, tmp_path / "b.csv", state, reprocess=True)[1].pages_read == 4
    assert _night(folder, tmp_path / "b2.csv", state, segment="line")[1].pages_read == 4

    def newer() -> LineReader:
        reader = LineReader()
        reader.card = dict(LineReader.card, version="2")
        return reader

    code, reader = _night(folder, tmp_path / "c.csv", state, reader=newer(), segment="line")
    assert code == 0 and reader.pages_read == 4 and len(_files(tmp_path / "c.csv")) == 4
    assert {row[4] for row in _state_rows(state).values()} == {"2"}
    assert _night(folder, tmp_path / "d.csv", state, reader=newer(),
                  segment="line")[1].pages_read == 0


def test_error_files_are_tried_again_every_night(folder: Path, tmp_path: Path):
    state = tmp_path / "state.sqlite"
    (folder / "copying.png").write_bytes(b"")
    assert _night(folder, tmp_path / "a.csv", state)[0] == 1
    code, _ = _night(folder, tmp_path / "b.csv", state)
    assert code == 1 and _files(tmp_path / "b.csv") == ["copying.png"]
    line_image("copied now").save(folder / "copying.png")
    code, reader = _night(folder, tmp_path / "c.csv", state)
    assert code == 0 and reader.pages_read == 1
    assert _state_rows(state)["copying.png"][-1] == "ok"


def test_interrupted_night_changes_no_state_and_resumes(folder: Path, tmp_path: Path,
                                                        monkeypatch):
    state, output = tmp_path / "state.sqlite", tmp_path / "night.csv"
    make_line_images(folder, 6, start=10)
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 1)
    reference = tmp_path / "reference.csv"
    assert run_job([str(folder)], str(reference), recognizer=LineReader(), quiet=True) == 0

    class Interrupting(LineReader):
        def read_pages(self, pages, segment="auto"):
            if self.pages_read == 4:
                os.kill(os.getpid(), signal.SIGTERM)
            return super().read_pages(pages, segment)

    code, _ = _night(folder, output, state, reader=Interrupting())
    assert code == 130 and not output.exists()
    assert _state_rows(state) == {}  # nothing committed by a run that did not finish
    code, reader = _night(folder, output, state, resume=True)
    assert code == 0 and reader.pages_read == 10 - 4
    assert output.read_bytes() == reference.read_bytes()
    assert len(_state_rows(state)) == 10


def test_resume_rereads_files_changed_since_they_were_journaled(folder: Path, tmp_path: Path,
                                                                monkeypatch):
    output = tmp_path / "out.csv"
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 1)

    class Interrupting(LineReader):
        def read_pages(self, pages, segment="auto"):
            if self.pages_read == 3:
                os.kill(os.getpid(), signal.SIGTERM)
            return super().read_pages(pages, segment)

    assert run_job([str(folder)], str(output), recognizer=Interrupting(), quiet=True) == 130
    line_image("edited after the crash").save(folder / "line_0000.png")
    reader = LineReader()
    assert run_job([str(folder)], str(output), recognizer=reader, quiet=True, resume=True) == 0
    assert reader.pages_read == 2  # line_0000 again, and the one never read
    fresh = tmp_path / "fresh.csv"
    run_job([str(folder)], str(fresh), recognizer=LineReader(), quiet=True)
    assert output.read_bytes() == fresh.read_bytes()


@pytest.mark.parametrize("kwargs, message", [
    ({"master": True}, "--master needs --state"),
    ({"reprocess": True}, "--reprocess needs --state"),
    ({"state": "SELF"}, "must be different files"),
    ({"state": "DIR"}, "is a directory"),
])
def test_state_usage_errors_exit_2(kwargs, message, folder: Path, tmp_path: Path, capsys):
    output = tmp_path / "out.csv"
    if kwargs.get("state") == "SELF":
        kwargs["state"] = str(output)
    elif kwargs.get("state") == "DIR":
        kwargs["state"] = str(tmp_path)
    assert run_job([str(folder)], str(output), recognizer=LineReader(), **kwargs) == 2
    assert message in capsys.readouterr().err and not output.exists()


def test_a_file_that_is_not_a_database_exits_2(folder: Path, tmp_path: Path, capsys):
    state = tmp_path / "state.sqlite"
    state.write_text("this is not sqlite " * 100)
    assert _night(folder, tmp_path / "out.csv", state)[0] == 2
    assert "cannot use state" in capsys.readouterr().err


def test_state_api_reads_results_back(folder: Path, tmp_path: Path):
    state_path = tmp_path / "state.sqlite"
    _night(folder, tmp_path / "out.csv", state_path)
    state = State(str(state_path), job.Settings("fake-lines", "1", "auto"))
    try:
        assert state.names() == sorted(_files(tmp_path / "out.csv"))
        result = state.result("line_0001.png")
        assert result.status == "ok" and result.pages[0].lines[0].text.startswith("ink ")
        assert state.unchanged("line_0001.png", str(folder / "line_0001.png"))
        assert not state.unchanged("line_0001.png", str(folder / "missing.png"))
    finally:
        state.close()
