"""`batch-ocr bench` on a tiny untrained SRN: the report's shape and sanity, and no retracing."""
from __future__ import annotations

import json
import os
import stat
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from batch_ocr import bench
from batch_ocr.batching import MAX_BATCH_GROWTH, plan_batches
from batch_ocr.charset import Charset
from batch_ocr.cli import main
from batch_ocr.images import read_pages
from batch_ocr.model.build import SRNConfig, build_srn

CHARS = "0123456789abcdefghijklmnopqrstuvwxyz .,-"
HEIGHT = 16
TINY = SRNConfig(height=HEIGHT, vocab_size=Charset(CHARS).vocab_size,
                 conv=[[4, [2, 2]], [4, [2, 2]], [4, [2, 1]], [4, [2, 1]]],
                 encoder_units=4, decoder_units=8, embed_dim=4)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_model")
    build_srn(TINY).save(directory / "model.keras")
    card = {"name": "tiny", "version": "test", "charset": CHARS, "input_height": HEIGHT,
            "architecture": TINY.to_dict()}
    (directory / "card.json").write_text(json.dumps(card), encoding="utf-8")
    return directory


@pytest.fixture
def fake_tesseract(tmp_path, monkeypatch):
    """A `tesseract` on PATH that answers like the real one, so the peer harness is exercised
    on machines without Tesseract too."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tesseract"
    script.write_text("#!/bin/sh\necho 123\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return script


def test_bench_report_on_generated_lines(tiny_model_dir, tmp_path, fake_tesseract):
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(main, [
        "bench", "--generate", "8", "--repeat", "1", "--model", str(tiny_model_dir),
        "--batch-size", "4", "--model-only", "--against", "tesseract", "-o", str(report_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))

    inputs = report["inputs"]
    assert inputs["files"] == inputs["pages"] == 8
    assert inputs["lines"] >= 8 and inputs["crops"] >= inputs["lines"]
    for section in ("whole_process", "steady_state", "model_only"):
        figures = report[section]
        assert figures["seconds"] > 0 and figures["lines_per_s"] > 0, section
        assert figures["lines_per_s"] == pytest.approx(inputs["lines"] / figures["seconds"],
                                                       rel=1e-2)
        assert figures["command"]
    assert report["whole_process"]["peak_rss_mb"] > 50  # TensorFlow alone is far above this
    assert report["whole_process"]["cpu_seconds"] > 0
    startup = report["startup"]
    assert startup["seconds"] >= startup["import_s"] + startup["load_s"] > 0
    assert startup["cli_help_s"] > 0

    assert set(report["stages"]["seconds"]) == set(bench.STAGES)
    assert all(seconds >= 0 for seconds in report["stages"]["seconds"].values())
    assert report["stages"]["seconds"]["encoder"] > 0

    assert report["settings"]["arithmetic"] in ("float32", "bfloat16")
    batching = report["batching"]
    assert 0.0 <= batching["padding_fraction"] <= 1.0
    assert batching["crops"] == inputs["crops"]
    assert batching["batches"] >= inputs["crops"] / (4 * MAX_BATCH_GROWTH)
    assert batching["retraces_after_warmup"] == 0
    model = report["model_only"]
    assert model["overhead"] == pytest.approx(
        model["lines_per_s"] / report["steady_state"]["lines_per_s"] - 1.0, rel=1e-3)
    # The input REPEATED_INPUT times over less the input once: that many copies' lines less one.
    cli = report["steady_state_cli"]
    assert cli["lines"] == (bench.REPEATED_INPUT - 1) * inputs["lines"]
    assert len(cli["runs"]) == 1 and cli["command"]
    assert cli["lines_per_s"] == pytest.approx(cli["lines"] / cli["seconds"], rel=1e-2) or (
        cli["seconds"] <= 0 and cli["lines_per_s"] == 0)  # 16 tiny lines can be lost in noise

    # The model alone ran in a child beside the whole-process pair, on the same lines; `run`'s
    # overhead is also given repeat by repeat against it (one repeat here: the same figure).
    assert model["lines_read"] == inputs["lines"]
    assert len(model["overhead_cli_runs"]) == 1
    assert model["overhead_cli"] == model["overhead_cli_runs"][0]
    if cli["lines_per_s"] > 0:
        assert model["overhead_cli"] == pytest.approx(
            model["lines_per_s"] / cli["lines_per_s"] - 1.0, rel=1e-3, abs=1e-4)
    # CPU per line: the model's own, and `run`'s with the rate its cores allow at that cost.
    assert model["cpu_ms_per_line"] > 0
    cores = report["machine"]["usable_cores"]
    assert 1 <= cores <= report["machine"]["cpus"]
    if cli["cpu_ms_per_line"] > 0:  # 16 tiny lines can be lost in noise, as above
        assert cli["cpu_bound_lines_per_s"] == pytest.approx(
            cores * 1000.0 / cli["cpu_ms_per_line"], rel=1e-3)
        assert model["overhead_cli_cpu_floor"] == pytest.approx(
            model["lines_per_s"] / cli["cpu_bound_lines_per_s"] - 1.0, rel=1e-3, abs=1e-4)
        assert "CPU per line" in result.output
    else:
        assert cli["cpu_bound_lines_per_s"] is None and model["overhead_cli_cpu_floor"] is None
    # `run`'s worker process prepares the files: its share of that CPU is measured apart (on 16
    # tiny lines the figure is noise; test_child_cpu_is_split_... checks the measurement).
    assert "worker_cpu_ms_per_line" in cli

    tesseract = report["peers"]["tesseract"]
    assert tesseract["available"] is True
    assert tesseract["lines_per_s"] > 0
    assert tesseract["ratio"] == pytest.approx(
        report["whole_process"]["lines_per_s"] / tesseract["lines_per_s"], rel=1e-2)
    assert "whole process" in result.output and "tesseract" in result.output


def test_no_retrace_after_warm_up_across_widths(tiny_model_dir):
    from batch_ocr.recognizer import load_model

    recognizer = load_model(str(tiny_model_dir))
    recognizer.read_crops([np.full((HEIGHT, 40), 255, np.uint8)])
    traces = recognizer.decoder.trace_count
    rng = np.random.default_rng(0)
    for width, count in ((23, 3), (130, 5), (411, 2)):
        crops = [rng.integers(0, 256, (HEIGHT, width), dtype=np.uint8) for _ in range(count)]
        assert len(recognizer.read_crops(crops)) == count
    assert recognizer.decoder.trace_count == traces == 1


def test_padding_fraction_counts_padded_columns_and_rows():
    widths = [16, 32, 48]  # widths batches are read at (batching.batch_shape)
    # Batch [16, 32] pads to 2 x 32 columns, batch [48] needs none: 16 of 112 are padding.
    assert bench.padding_fraction([[0, 1], [2]], widths, 16) == pytest.approx(16 / 112)
    assert bench.padding_fraction([[0], [1], [2]], widths, 16) == 0.0
    # Seventeen crops are read as eighteen rows.
    assert bench.padding_fraction([list(range(17))], [32] * 17, 16) == pytest.approx(1 / 18)
    # A width off the ladder is read at the next width on it: 20 columns as 24.
    assert bench.padding_fraction([[0]], [20], 16) == pytest.approx(4 / 24)
    spread = list(np.random.default_rng(1).integers(20, 600, 200))
    planned = bench.padding_fraction(plan_batches(spread, 16), spread, 16)
    in_order = [list(range(i, min(i + 16, 200))) for i in range(0, 200, 16)]
    unsorted = bench.padding_fraction(in_order, spread, 16)
    assert 0.0 <= planned < unsorted


def test_overhead_is_the_time_beyond_the_model_as_a_share_of_the_model_time():
    # The model alone reads 500 lines/s, the pipeline 400: 2.5 ms a line instead of 2 ms.
    assert bench.pipeline_overhead(400.0, 500.0) == pytest.approx(0.25)
    assert bench.pipeline_overhead(500.0, 500.0) == 0.0
    assert bench.pipeline_overhead(0.0, 500.0) is None


def test_cpu_bound_rate_is_what_busy_cores_allow():
    # 4 ms of CPU a line on 2 cores: at most 500 lines/s, whatever the overlap.
    assert bench.cpu_bound_rate(4.0, 2) == pytest.approx(500.0)
    assert bench.cpu_bound_rate(0.0, 2) is None
    assert bench.cpu_bound_rate(-1.0, 2) is None


def test_generated_lines_are_dark_text_on_light(tmp_path):
    paths = bench.generate_line_set(tmp_path / "set", 5, charset="0123456789 ")
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == [p.name for p in paths]
    for path in paths:
        gray = next(iter(read_pages(path))).gray
        assert gray.shape[1] > gray.shape[0]
        assert gray.min() < 100 and np.median(gray) > 200


def test_child_peak_rss_is_that_child_only():
    # The child keeps its 300 MB for 10 sampling periods: run_process samples VmHWM every 20 ms,
    # so growth in a child's last 20 ms can be missed (its docstring); a child that exited right
    # after touching the memory made this test fail now and then (294.7 MB seen in one CI run).
    touch_300_mb = ("import time; x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096]); "
                    "time.sleep(0.2)")
    big = bench.run_process([sys.executable, "-c", touch_300_mb])
    small = bench.run_process([sys.executable, "-c", "pass"])
    assert big.returncode == small.returncode == 0
    assert big.peak_rss_mb >= 300 > small.peak_rss_mb


def test_child_cpu_is_split_between_the_process_and_the_children_it_waited_for():
    # A parent that idles while its child spins for 0.4 s of CPU, then itself spins for 0.2 s
    # and stays 0.1 s more (several sampling periods) so its own CPU is seen before it exits.
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < {}: pass\n"
    parent = ("import subprocess, sys, time\n"
              f"subprocess.run([sys.executable, '-c', {spin.format(0.4)!r}], check=True)\n"
              + spin.format(0.2) + "time.sleep(0.1)\n")
    run = bench.run_process([sys.executable, "-c", parent])
    assert run.returncode == 0
    assert run.children_cpu_seconds == pytest.approx(run.cpu_seconds - run.own_cpu_seconds)
    assert 0.35 <= run.children_cpu_seconds < run.cpu_seconds
    assert 0.2 <= run.own_cpu_seconds < 0.35 + 0.2


def test_missing_peers_are_reported_not_run(monkeypatch, tmp_path):
    import importlib.util

    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime"
                        else real_find_spec(name, *a))
    peers = bench.make_peers(["tesseract", "rapidocr"], ["a.png"], "line",
                             str(tmp_path / "inputs.txt"))
    reports = {p.name: bench.peer_report(p, [], None, 10, 5.0, 9.0) for p in peers}
    assert reports["tesseract"] == {"available": False, "why": "tesseract is not on PATH"}
    assert reports["rapidocr"]["available"] is False
    assert "rapidocr" in reports["rapidocr"]["why"]


def test_needs_input_or_generate():
    result = CliRunner().invoke(main, ["bench"])
    assert result.exit_code == 2
    assert "INPUT or --generate" in result.output


def test_repeated_input_gives_every_file_under_distinct_names(tmp_path):
    from batch_ocr.job import list_inputs

    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        (source / name).write_bytes(b"x")
    argv = ["python", "-m", "batch_ocr.cli", "run", str(source), "-o", "out.csv", "--quiet"]
    work = tmp_path / "work"
    work.mkdir()
    repeated = bench.repeated_input_argv(argv, str(source), str(work))
    inputs = repeated[4:4 + bench.REPEATED_INPUT]
    assert repeated[:4] == argv[:4] and repeated[4 + bench.REPEATED_INPUT:] == argv[5:]
    names = [item.name for item in list_inputs(inputs)]
    assert len(names) == len(set(names)) == 2 * bench.REPEATED_INPUT


def test_model_batches_are_the_crops_the_pipeline_reads(tiny_model_dir, tmp_path):
    from batch_ocr.batching import batch_shape
    from batch_ocr.recognizer import load_model

    paths = [str(p) for p in bench.generate_line_set(tmp_path / "set", 6, charset=CHARS)]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    recognizer = load_model(str(tiny_model_dir))
    recognizer.batch_size = 4
    batches, lines = bench.model_batches(recognizer, paths + [str(tmp_path / "broken.png")],
                                         "line")
    profile = bench.profile_stages(recognizer, paths, "line", 4)
    assert lines == profile.lines >= 6
    # The same batches as the instrumented pass plans (the job's own planning), each at the
    # model height, in the shape `run` reads it at; rows past the crops repeat the last crop.
    assert len(batches) == profile.batching.batches
    rows = sum(images.shape[0] for images, _ in batches)
    assert rows >= profile.crops
    for images, batch_widths in batches:
        batch_widths = np.asarray(batch_widths)
        assert images.shape[1] == HEIGHT and images.shape[0] == batch_widths.size
        assert images.shape[2] == batch_shape(images.shape[0], int(batch_widths.max()), 4)[1]
