"""The nightly examples in jobs/: the job file names every `run` option and parses, the wrapper
script passes exit codes through, logs per night, prunes old logs and forwards SIGTERM."""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_ocr import cli

JOBS = Path(__file__).resolve().parents[1] / "jobs"
NIGHTLY = JOBS / "nightly.sh"

# A stand-in for batch-ocr: prints its arguments, exits with $FAKE_RC (or sleeps until SIGTERM,
# then exits 130 like the real job).
FAKE = """#!/usr/bin/env bash
echo "fake batch-ocr args: $*"
if [[ "${FAKE_RC}" == sleep ]]; then
    trap 'echo "fake got TERM"; exit 130' TERM
    touch "$FAKE_READY"
    for _ in $(seq 200); do sleep 0.05; done
    exit 99
fi
echo "fake failing" >&2
exit "$FAKE_RC"
"""


def test_job_file_sets_every_run_option_and_parses(tmp_path: Path):
    options = {p.name for p in cli.run_command.params if isinstance(p, cli.click.Option)}
    options -= {"config"}
    with open(JOBS / "nightly.toml", "rb") as fh:
        keys = {cli.CONFIG_KEYS[key.replace("-", "_")] for key in tomllib.load(fh)}
    assert options - {"inputs"} <= keys and "inputs" in keys
    # Every value has the type `run` expects (the inputs do not exist here: exit 2 for that).
    result = CliRunner().invoke(cli.main, ["run", "--config", str(JOBS / "nightly.toml")])
    assert result.exit_code == 2
    assert "input /srv/scans/inbox does not exist" in result.output  # got past the job file


def test_examples_point_at_the_wrapper():
    service = (JOBS / "batch-ocr-nightly.service").read_text()
    assert "ExecStart=/opt/batch-ocr/jobs/nightly.sh /etc/batch-ocr/nightly.toml" in service
    assert "OUTPUT=/srv/ocr/results/ocr-%%F.csv" in service  # systemd escapes %
    assert "Unit=" not in (JOBS / "batch-ocr-nightly.timer").read_text()  # same name as service
    cron = [line for line in (JOBS / "crontab.example").read_text().splitlines()
            if line and not line.startswith("#")]
    assert len(cron) == 1 and r"ocr-\%F.csv" in cron[0] and "nightly.sh" in cron[0]
    assert os.access(NIGHTLY, os.X_OK)


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, str]:
    script = tmp_path / "fake-batch-ocr"
    script.write_text(FAKE)
    script.chmod(0o755)
    return dict(os.environ, BATCH_OCR=str(script), LOG_DIR=str(tmp_path / "logs"),
                OUTPUT=str(tmp_path / "out" / "ocr-%F.csv"), KEEP_LOG_DAYS="7",
                FAKE_READY=str(tmp_path / "ready"))


@pytest.mark.parametrize("rc", [0, 1, 3])
def test_wrapper_passes_the_exit_code_and_logs(rc: int, fake: dict[str, str], tmp_path: Path):
    logs = tmp_path / "logs"
    logs.mkdir()
    old = logs / "nightly-2000-01-01.log"
    old.write_text("old")
    os.utime(old, (time.time() - 10 * 86400,) * 2)
    recent = logs / "nightly-2000-01-02.log"
    recent.write_text("recent")
    (tmp_path / "out").mkdir()

    run = subprocess.run([str(NIGHTLY), "job.toml", "--reprocess"], env=dict(fake, FAKE_RC=str(rc)),
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == rc
    today = datetime.date.today().isoformat()
    log = (logs / f"nightly-{today}.log").read_text()
    output = tmp_path / "out" / f"ocr-{today}.csv"
    assert f"fake batch-ocr args: run --config job.toml --resume -o {output} --reprocess" in log
    assert "fake failing" in log and f"exit {rc}:" in log
    assert not old.exists() and recent.exists()  # logs older than KEEP_LOG_DAYS are pruned
    if rc:
        assert f"batch-ocr nightly: exit {rc}" in run.stderr and str(logs) in run.stderr
    else:
        assert run.stderr == ""


def test_wrapper_forwards_sigterm_and_reports_130(fake: dict[str, str], tmp_path: Path):
    (tmp_path / "out").mkdir()
    process = subprocess.Popen([str(NIGHTLY), "job.toml"], env=dict(fake, FAKE_RC="sleep"),
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not Path(fake["FAKE_READY"]).exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    log = next((tmp_path / "logs").glob("nightly-*.log")).read_text()
    assert "fake got TERM" in log and "exit 130: interrupted" in log
    assert "exit 130" in stderr
