"""Fault injection on real line images: SIGKILL / SIGTERM / SIGINT at several points of a run, then
`--resume`; and two runs started on one output or one state.

The job runs in a child process (tests/job_helper.py) with a fake recogniser that sleeps per page,
so the signal lands while files are being read or while the output is being written.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_ocr import job
from batch_ocr.job import run_job
from batch_ocr.journal import Interrupted, SignalGuard

sys.path.insert(0, str(Path(__file__).parent))
from job_helper import LineReader, make_line_images  # noqa: E402

HELPER = Path(__file__).parent / "job_helper.py"
REPO = Path(__file__).resolve().parents[1]
FILES = 10
OLD_OUTPUT = (b"file,page,line,text,confidence,x,y,width,height,status,error\n"
              b"old.png,0,0,,,0,0,0,0,empty,\n")


@pytest.fixture(scope="module")
def lines(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lines") / "in"
    make_line_images(root, FILES)
    return root


@pytest.fixture(scope="module")
def reference(lines: Path, tmp_path_factory) -> bytes:
    """The output of one uninterrupted run."""
    output = tmp_path_factory.mktemp("ref") / "out.csv"
    assert run_job([str(lines)], str(output), recognizer=LineReader(), quiet=True) == 0
    return output.read_bytes()


def _start(lines: Path, output: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HELPER), str(lines), str(output), *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _journaled(output: Path) -> int:
    """Files in the journal (header line excluded), or -1 while there is no journal."""
    journal = Path(str(output) + ".journal.jsonl")
    try:
        return journal.read_bytes().count(b"\n") - 1
    except FileNotFoundError:
        return -1


def _temp_files(output: Path) -> list[Path]:
    return [p for p in output.parent.iterdir() if p.name.endswith(".tmp")]


def _wait_for(condition, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the job never reached the point to stop it"
        time.sleep(0.005)


# name -> (extra helper arguments, when to stop the job)
KILL_POINTS = {
    "before any file": (["--delay", "0.3"], lambda out: _journaled(out) >= 0),
    "mid-run": (["--delay", "0.08"], lambda out: _journaled(out) >= FILES // 2),
    "while writing the output": (["--slow-write", "0.1"],
                                 lambda out: any(p.stat().st_size > 100
                                                 for p in _temp_files(out))),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_resume_gives_the_uninterrupted_bytes(point, lines: Path, reference: bytes,
                                                           tmp_path: Path):
    output = tmp_path / "out.csv"
    output.write_bytes(OLD_OUTPUT)
    extra, ready = KILL_POINTS[point]
    process = _start(lines, output, *extra)
    _wait_for(lambda: ready(output), process)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    done = _journaled(output)
    assert 0 <= done <= FILES
    if point == "mid-run":
        assert FILES // 2 <= done < FILES
    if point == "while writing the output":
        assert done == FILES and _temp_files(output)  # a half-written temporary file is left
    assert output.read_bytes() == OLD_OUTPUT  # never half-written

    reader = LineReader()
    code = run_job([str(lines)], str(output), resume=True, recognizer=reader, quiet=True)
    assert code == 0
    assert output.read_bytes() == reference
    assert reader.pages_read == FILES - done  # journaled files are not read again
    assert _temp_files(output) == [] and _journaled(output) == -1


def test_killed_twice_then_resumed(lines: Path, reference: bytes, tmp_path: Path):
    output = tmp_path / "out.csv"
    for at_least in (2, 6):
        process = _start(lines, output, "--delay", "0.08", "--resume")
        _wait_for(lambda: _journaled(output) >= at_least, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert 6 <= _journaled(output) < FILES and not output.exists()
    assert run_job([str(lines)], str(output), resume=True, recognizer=LineReader(),
                   quiet=True) == 0
    assert output.read_bytes() == reference


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_stop_cleanly_with_130(signum, lines: Path, reference: bytes,
                                                  tmp_path: Path):
    output = tmp_path / "out.csv"
    process = _start(lines, output, "--delay", "0.08")
    _wait_for(lambda: _journaled(output) >= 3, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr.decode()
    assert "rerun with --resume" in stderr.decode()
    journal = Path(str(output) + ".journal.jsonl")
    assert journal.read_bytes().endswith(b"\n")  # flushed whole lines only
    done = _journaled(output)
    assert 3 <= done < FILES and not output.exists() and not _temp_files(output)

    reader = LineReader()
    assert run_job([str(lines)], str(output), resume=True, recognizer=reader, quiet=True) == 0
    assert output.read_bytes() == reference and reader.pages_read == FILES - done


def test_a_second_stop_signal_does_not_break_off_the_clean_up():
    # systemd signals the whole process group and nightly.sh forwards the same signal: the job
    # may get SIGTERM twice, the second while it is already stopping.
    cleaned_up = False
    with SignalGuard():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except Interrupted:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            cleaned_up = True
    assert cleaned_up


def test_a_signal_during_a_journal_write_waits_for_the_write():
    with SignalGuard() as guard:
        with pytest.raises(Interrupted):
            with guard.critical():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)
                finished_write = True
    assert finished_write


def test_second_run_on_the_same_output_exits_3(lines: Path, reference: bytes, tmp_path: Path,
                                               capsys):
    output = tmp_path / "out.csv"
    first = _start(lines, output, "--delay", "0.05")
    try:
        _wait_for(lambda: _journaled(output) >= 1, first)
        reader = LineReader()
        assert run_job([str(lines)], str(output), recognizer=reader) == job.EXIT_LOCKED
        assert "another batch-ocr run is using the output" in capsys.readouterr().err
        assert reader.pages_read == 0
    finally:
        _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr.decode()  # the first run was not disturbed
    assert output.read_bytes() == reference


def test_second_run_on_the_same_state_exits_3(lines: Path, tmp_path: Path, capsys):
    state = tmp_path / "state.sqlite"
    first = _start(lines, tmp_path / "night1.csv", "--delay", "0.05", "--state", str(state))
    try:
        _wait_for(lambda: _journaled(tmp_path / "night1.csv") >= 1, first)
        code = run_job([str(lines)], str(tmp_path / "night2.csv"), state=str(state),
                       recognizer=LineReader())
        assert code == job.EXIT_LOCKED
        assert "another batch-ocr run is using the state" in capsys.readouterr().err
    finally:
        _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr.decode()
    assert not (tmp_path / "night2.csv").exists()


def test_lock_is_released_when_the_holder_is_killed(lines: Path, reference: bytes,
                                                    tmp_path: Path):
    output = tmp_path / "out.csv"
    process = _start(lines, output, "--delay", "0.3")
    _wait_for(lambda: _journaled(output) >= 0, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert Path(str(output) + ".lock").exists()  # left in place, but no longer held
    assert run_job([str(lines)], str(output), recognizer=LineReader(), quiet=True) == 0
    assert output.read_bytes() == reference
