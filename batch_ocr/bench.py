"""`batch-ocr bench`: throughput, start-up, memory and time per stage, as JSON and a short table.

Four views of the same inputs, each timed as the median of `--repeat` runs:
- *whole process*: `batch-ocr run INPUT -o tmp.csv --quiet` in a child process, start-up included,
  exactly what a cron job pays; peak RSS and CPU seconds come from that child's rusage.
- *start-up*: a child that imports what `batch-ocr run` imports, loads the model and reads one
  blank crop (the first call traces the decoder), with the three parts timed inside it.
- *steady state*: `run_job` in this process with the model already loaded and traced (files are
  prepared by a reader thread beside the model); and *as `run`*: the whole process on the input
  given REPEATED_INPUT times (as many links to it, each an INPUT) less the whole process on it
  once, per extra line: the CLI's own steady state, where a worker process prepares the files.
- *stages*: one pass calling the pipeline's own functions in sequence with timers around each
  (decode images, segment, crop, batch, encoder, decoder loop, post-process, write); the model
  reads one batch at a time there, so its stages take longer than in `run`, which reads several
  at once (tf_setup.inference_streams).
`--model-only` adds the bare encoder + decoder on batches made beforehand, in a child process run
after each repeat's pair of whole-process runs; the gap between that and either steady state is
the pipeline's overhead (for `run`'s, also given repeat by repeat). `--against` runs Tesseract or
RapidOCR on the same files in the same run, interleaved with ours, so machine load hits both
alike.

CPU per line, for the model alone and for `run`'s steady state (both of its processes, and the
worker's share apart), says how much of the overhead is the cores' limit: work of C ms of CPU a
line runs at most at cores x 1000 / C lines/s however well the stages overlap, so the model's rate
against that bound is the least overhead `run` can have on this machine.

Rates count *lines*: the line regions segmentation finds (what the recogniser reads), the same
number for every view and peer, so ratios compare the same work.

Nothing heavy is imported at module level: the CLI imports this module to build `bench`.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from batch_ocr.tf_setup import usable_cores

STAGES = ("decode_images", "segment", "crop", "batch", "encoder", "decoder_loop", "postprocess",
          "write")
PEERS = ("tesseract", "rapidocr")
# Issue "Speed": batches should pad less than this share of their pixels.
PADDING_TARGET = 0.15
DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
DEJAVU_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
# Characters of generated lines (kept to those every Latin font has), filtered by the charset.
_TEXT_CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
               "abcdeeeeiinnoorsstt.,-/")

# Run in a child: what `batch-ocr run` pays before its first line, in three parts.
_STARTUP_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import batch_ocr.cli
from batch_ocr.recognizer import load_model
from batch_ocr.tf_core import import_core
from batch_ocr.tf_setup import inference_streams
inference_streams(False)  # the threads load_model sets, before the import as it does
import_core()
t1 = time.perf_counter()
recognizer = load_model(sys.argv[1])
t2 = time.perf_counter()
import numpy as np
recognizer.read_crops([np.full((recognizer.height, 8 * recognizer.height), 255, np.uint8)])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_batch_s": t3 - t2}))
"""

# Run in a child beside `run`'s whole-process runs: the bare model on the listed files' batches.
_MODEL_ONLY_PROBE = """
import json, sys
from batch_ocr.bench import model_only_probe
print(json.dumps(model_only_probe(*sys.argv[1:])))
"""

# Run in a child: RapidOCR reading every listed file, its own start-up timed apart.
_RAPIDOCR_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import cv2
from rapidocr_onnxruntime import RapidOCR
engine = RapidOCR()
t1 = time.perf_counter()
paths = [line for line in open(sys.argv[1], encoding="utf-8").read().splitlines() if line]
detect = sys.argv[2] == "page"
for path in paths:
    engine(cv2.imread(path), use_det=detect, use_cls=False, use_rec=True)
t2 = time.perf_counter()
print(json.dumps({"startup_s": t1 - t0, "read_s": t2 - t1}))
"""


# ------------------------------------------------------------------------------ small helpers

def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def _rounded(value: Any, digits: int = 5) -> Any:
    """Floats to `digits` significant digits: timings are not more precise than that."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def _shell(argv: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(str(a)) for a in argv)


@dataclass
class ProcessRun:
    """One child process: wall time, exit code, its own peak RSS and CPU time, its output."""

    seconds: float
    returncode: int
    peak_rss_mb: float
    cpu_seconds: float  # the process and the children it waited for (`run`'s worker)
    stdout: str
    stderr: str
    # The process's own threads alone, as last sampled before it exited (None: never sampled).
    own_cpu_seconds: float | None = None

    @property
    def children_cpu_seconds(self) -> float | None:
        """CPU of the processes it started (`run`'s worker), give or take the last poll."""
        return None if self.own_cpu_seconds is None else self.cpu_seconds - self.own_cpu_seconds


def _peak_rss_mb(pid: int) -> float | None:
    """The process's resident-set high-water mark (VmHWM), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def _own_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of the process's own threads so far (not its children's), or None
    once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def pipeline_overhead(pipeline_lines_per_s: float, model_lines_per_s: float) -> float | None:
    """The pipeline's time per line beyond the bare model's, as a fraction of the model's time
    (the speed target reads "overhead <= 20 % of the bare model time"): model rate / pipeline
    rate - 1. None when either rate is not positive."""
    if pipeline_lines_per_s <= 0 or model_lines_per_s <= 0:
        return None
    return model_lines_per_s / pipeline_lines_per_s - 1.0


def run_process(argv: list[str], poll_s: float = 0.02) -> ProcessRun:
    """Run `argv` to completion, sampling its peak RSS from /proc while it runs.

    wait4's ru_maxrss is no good here: Linux carries the parent's RSS at fork into the child's
    figure, so a bench that has loaded TensorFlow would see its own size in every child. VmHWM is
    the child's own high-water mark after exec (Popen returns only after exec), so the last sample
    before exit misses at most `poll_s` of growth. CPU seconds still come from wait4.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = own_cpu = None
        while True:
            sample = _peak_rss_mb(proc.pid)
            if sample is not None:
                peak = sample if peak is None else max(peak, sample)
            own_cpu = _own_cpu_seconds(proc.pid) or own_cpu
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(poll_s)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if peak is None:  # gone before the first sample; ru_maxrss is in KiB on Linux
            peak = usage.ru_maxrss / 1024.0
        return ProcessRun(seconds, proc.returncode, peak, usage.ru_utime + usage.ru_stime,
                          out.read(), err.read(), own_cpu)


class Stopwatch:
    """Accumulates seconds per named stage."""

    def __init__(self, names: tuple[str, ...] = STAGES):
        self.seconds = dict.fromkeys(names, 0.0)

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += max(seconds, 0.0)


# --------------------------------------------------------------------------- generated inputs

def _font_paths() -> list[Path]:
    """Held-out training fonts that are installed (unseen by the model), else DejaVu."""
    paths: list[Path] = []
    try:
        from batch_ocr.train.fonts import FONT_ROOT, list_entries

        paths = [FONT_ROOT / entry for entry in list_entries("heldout")]
    except (ImportError, OSError):
        pass
    paths = [p for p in paths if p.is_file()]
    return paths or [DEJAVU_DIR / name for name in DEJAVU_FONTS if (DEJAVU_DIR / name).is_file()]


def _line_text(rng, alphabet: str) -> str:
    words = []
    for _ in range(int(rng.integers(2, 8))):
        length = int(rng.integers(1, 10))
        words.append("".join(alphabet[i] for i in rng.integers(0, len(alphabet), length)))
    return " ".join(words)[:48].strip()


def generate_line_set(directory: Path, count: int, charset: str | None = None,
                      seed: int = 0) -> list[Path]:
    """Render `count` printed one-line images (dark on white PNGs, 22-34 px type) into
    `directory`; characters are limited to `charset` so the model could read them all."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    alphabet = "".join(c for c in _TEXT_CHARS if charset is None or c in charset)
    if not alphabet:
        alphabet = "".join(c for c in (charset or "") if not c.isspace()) or "x"
    rng = np.random.default_rng(seed)
    fonts = _font_paths()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        text = _line_text(rng, alphabet) or alphabet[0]
        size = int(rng.integers(22, 35))
        if fonts:
            font = ImageFont.truetype(str(fonts[index % len(fonts)]), size)
        else:  # no TrueType font at all: Pillow's own font still gives a readable line
            font = ImageFont.load_default(size)
        left, top, right, bottom = font.getbbox(text)
        pad = size // 3
        image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 255)
        ImageDraw.Draw(image).text((pad - left, pad - top), text, fill=0, font=font)
        path = directory / f"line_{index:05d}.png"
        image.save(path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------- batch stats

@dataclass
class BatchStats:
    """How the crops were batched: counts and the share of batch pixels that is padding."""

    batches: int = 0
    crops: int = 0
    used_columns: int = 0
    padded_columns: int = 0
    widths: list[int] = field(default_factory=list)

    def add(self, plan: list[list[int]], widths: list[int], batch_size: int) -> None:
        from batch_ocr.batching import batch_shape

        for batch in plan:
            batch_widths = [int(widths[i]) for i in batch]
            self.batches += 1
            self.crops += len(batch)
            self.used_columns += sum(batch_widths)
            # The batch as the model reads it (batching.batch_shape): its extra rows and columns
            # are padding too.
            rows, width = batch_shape(len(batch), max(batch_widths), batch_size)
            self.padded_columns += rows * width
            self.widths.extend(batch_widths)

    @property
    def padding_fraction(self) -> float:
        # Every crop has the model height, so columns stand for pixels.
        return 1.0 - self.used_columns / self.padded_columns if self.padded_columns else 0.0

    def report(self) -> dict[str, Any]:
        widths = sorted(self.widths)
        return {
            "batches": self.batches,
            "crops": self.crops,
            "mean_batch_size": self.crops / self.batches if self.batches else 0.0,
            "padding_fraction": self.padding_fraction,
            "padding_target": PADDING_TARGET,
            "padding_target_met": self.padding_fraction <= PADDING_TARGET,
            "crop_width": ({"min": widths[0], "median": _median(widths), "max": widths[-1]}
                           if widths else None),
        }


def padding_fraction(plan: list[list[int]], widths: list[int], batch_size: int) -> float:
    """Share of the pixels of `plan`'s padded batches that is padding (0 = none, ->1 = all)."""
    stats = BatchStats()
    stats.add(plan, widths, batch_size)
    return stats.padding_fraction


# ------------------------------------------------------------------------- in-process: stages

def compiled_encoder(recognizer):
    """The recogniser's encoder alone, compiled with the same dynamic signature as `decode`, so
    it can be timed on its own (decode runs it too, inside its graph)."""
    from batch_ocr.tf_core import import_core

    tf = import_core()
    decoder = recognizer.decoder
    return tf.function(decoder.graph.encode, input_signature=decoder.signature[:1],
                       reduce_retracing=True, autograph=False)


@dataclass
class StageProfile:
    seconds: dict[str, float]
    batching: BatchStats
    files: int
    pages: int
    lines: int
    crops: int
    lines_with_text: int


def profile_stages(recognizer, paths: list[str], segment: str, batch_size: int
                   ) -> StageProfile:
    """One pass over `paths` calling the pipeline's functions in order, each stage timed.

    Pages are grouped in chunks of the job's size, so batches are the ones `batch-ocr run`
    makes. The decoder loop's time is `decode` minus a separate run of the encoder on the same
    batch (decode has no seam between the two).
    """
    from batch_ocr import images
    from batch_ocr.batching import batch_input, plan_batches, prepare_crop
    from batch_ocr.job import PAGES_PER_CHUNK
    from batch_ocr.recognizer import crop_source, join_pieces
    from batch_ocr.records import STATUS_EMPTY, STATUS_ERROR, STATUS_OK, FileResult, PageResult
    from batch_ocr.segment import find_layout
    from batch_ocr.writers import write_csv

    watch = Stopwatch()
    stats = BatchStats()
    encoder = compiled_encoder(recognizer)
    decoder = recognizer.decoder
    warmed = False
    pages_of: dict[str, list[PageResult]] = {}
    errors: dict[str, str] = {}
    counts = {"pages": 0, "lines": 0, "crops": 0, "text": 0}
    pending: list[tuple[str, Any]] = []

    def flush() -> None:
        nonlocal warmed
        with watch.stage("segment"):
            layouts = [find_layout(page.gray, segment) for _, page in pending]
        with watch.stage("crop"):
            crops, owners = [], []
            for index, ((_, page), layout) in enumerate(zip(pending, layouts)):
                source = crop_source(page.gray, layout)
                for line_index, region in enumerate(layout.lines):
                    for piece in region.pieces:
                        crops.append(prepare_crop(source, piece, recognizer.height))
                        owners.append((index, line_index))
        with watch.stage("batch"):
            widths = [c.shape[1] for c in crops]
            plan = plan_batches(widths, recognizer.batch_size) if crops else []
            inputs = [batch_input(crops, batch, recognizer.batch_size) for batch in plan]
        stats.add(plan, widths, recognizer.batch_size)
        readings: list = [None] * len(crops)
        for batch, (batch_images, batch_widths) in zip(plan, inputs):
            if not warmed:  # the separate encoder traces on first use; keep that out of the figures
                encoder(batch_images)
                warmed = True
            started = time.perf_counter()
            _ = [t.numpy() for t in encoder(batch_images)]
            encoder_s = time.perf_counter() - started
            started = time.perf_counter()
            outputs = [t.numpy() for t in decoder.decode(batch_images, batch_widths,
                                                         recognizer.max_length)]
            decode_s = time.perf_counter() - started
            watch.add("encoder", encoder_s)
            watch.add("decoder_loop", decode_s - encoder_s)
            with watch.stage("postprocess"):
                tokens, probs, ctc_tokens, ctc_probs, ctc_lengths = outputs
                for row, index in enumerate(batch):
                    readings[index] = recognizer.reading(tokens[row], probs[row], ctc_tokens[row],
                                                         ctc_probs[row], int(ctc_lengths[row]))
        with watch.stage("postprocess"):
            grouped: dict[tuple[int, int], list] = {}
            for owner, reading in zip(owners, readings):
                grouped.setdefault(owner, []).append(reading)
            for index, ((name, page), layout) in enumerate(zip(pending, layouts)):
                regions = layout.lines
                lines = []
                for line_index, region in enumerate(regions):
                    pieces = grouped.get((index, line_index), [])
                    if any(r.text for r in pieces):
                        lines.append(join_pieces(len(lines), region, pieces))
                pages_of[name].append(PageResult(page.page, page.width, page.height, lines))
                counts["lines"] += len(regions)
                counts["text"] += len(lines)
        counts["crops"] += len(crops)
        counts["pages"] += len(pending)
        pending.clear()

    recognizer.batch_size = batch_size
    for path in paths:
        pages_of[path] = []
        try:
            with watch.stage("decode_images"):
                pages = list(images.read_pages(path))
        except images.ImageError as exc:
            errors[path] = str(exc)
            continue
        for page in pages:
            pending.append((path, page))
            if len(pending) >= PAGES_PER_CHUNK:
                flush()
    if pending:
        flush()

    results = []
    for path, pages in pages_of.items():
        if path in errors:
            results.append(FileResult(path, STATUS_ERROR, errors[path], []))
        else:
            has_lines = any(page.lines for page in pages)
            results.append(FileResult(path, STATUS_OK if has_lines else STATUS_EMPTY, "", pages))
    with watch.stage("write"), tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as fh:
        write_csv(results, fh)
    return StageProfile(watch.seconds, stats, len(paths), counts["pages"], counts["lines"],
                        counts["crops"], counts["text"])


def model_batches(recognizer, paths: list[str], segment: str) -> tuple[list, int]:
    """The model's inputs for `paths` as `run` makes them, and the number of lines: each page
    prepared as the worker process prepares it (recognizer.prepare_page), its crops read in
    chunks of the job's size, each chunk planned as `CropReader.read_crop_groups` plans it
    (at `recognizer.batch_size`). Unreadable files are left out, as they are of `run`'s batches."""
    from batch_ocr import images
    from batch_ocr.batching import batch_input, plan_batches
    from batch_ocr.job import PAGES_PER_CHUNK
    from batch_ocr.recognizer import prepare_page

    batches: list = []
    crops: list = []
    pages = lines = 0

    def flush() -> None:
        plan = plan_batches([c.shape[1] for c in crops], recognizer.batch_size) if crops else []
        batches.extend(batch_input(crops, batch, recognizer.batch_size) for batch in plan)
        crops.clear()

    for path in paths:
        try:
            read = list(images.read_pages(path))
        except images.ImageError:
            continue
        for page in read:
            prepared = prepare_page(page.gray, segment, recognizer.height, keep_gray=False)
            lines += len(prepared.regions)
            crops.extend(crop for piece_crops in prepared.crops for crop in piece_crops)
            pages += 1
            if pages % PAGES_PER_CHUNK == 0:
                flush()
    flush()
    return batches, lines


def time_model_only(recognizer, batches: list, passes: int) -> tuple[list[float], list[float]]:
    """Seconds and CPU seconds (this process, every thread) per pass of `decode` over batches
    made beforehand (after one warm-up call), as many at once as `run` decodes (its streams)."""
    if not batches:
        return [0.0] * passes, [0.0] * passes
    # The largest first, as `run` reads a chunk's batches (CropReader.read_crop_groups): the
    # streams then finish close together.
    batches = sorted(batches, key=lambda batch: -batch[0].shape[0] * batch[0].shape[2])
    recognizer.decoder.decode(*batches[0], recognizer.max_length)
    runs, cpu = [], []
    for _ in range(passes):
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in recognizer.decode_batches(batches, lambda batch: batch):
            pass
        runs.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return runs, cpu


# Passes of the model-only child over its batches; the last is the figure. The first pass meets
# each batch shape for the first time (oneDNN sets up its kernels per shape), which `run`'s
# steady state, the later copies of the input, never does.
MODEL_ONLY_PASSES = 2


def model_only_probe(model_dir: str, segment: str, batch_size: str, list_file: str
                     ) -> dict[str, Any]:
    """The model-only child (_MODEL_ONLY_PROBE): the model loaded as `run` loads it (its streams
    and threads), the listed files' batches made, then MODEL_ONLY_PASSES timed passes."""
    from batch_ocr.recognizer import load_model

    recognizer = load_model(model_dir)
    recognizer.batch_size = int(batch_size)
    paths = [line for line in Path(list_file).read_text(encoding="utf-8").splitlines() if line]
    batches, lines = model_batches(recognizer, paths, segment)
    runs, cpu = time_model_only(recognizer, batches, MODEL_ONLY_PASSES)
    return {"seconds": runs[-1], "cpu_seconds": cpu[-1], "lines": lines, "passes": runs}


def cpu_bound_rate(cpu_ms_per_line: float, cores: int) -> float | None:
    """The most lines/s that work costing `cpu_ms_per_line` of CPU can run at on `cores` cores
    kept busy all the time (None without a positive cost): what a CPU-bound pipeline can reach
    however well its stages overlap."""
    if cpu_ms_per_line <= 0 or cores <= 0:
        return None
    return cores * 1000.0 / cpu_ms_per_line


def time_steady_state(recognizer, input_path: str, segment: str, batch_size: int,
                      repeat: int) -> tuple[list[float], int]:
    """Seconds of `run_job` in this process with the model loaded, after one warm-up run (which
    traces); returns the timed runs and the decoder's trace count right after warm-up."""
    from batch_ocr.job import run_job

    with tempfile.TemporaryDirectory(prefix="batch-ocr-bench-") as tmp:
        output = os.path.join(tmp, "steady.csv")

        def once() -> float:
            started = time.perf_counter()
            code = run_job([input_path], output, model="", segment=segment,
                           batch_size=batch_size, quiet=True, recognizer=recognizer,
                           progress=False)
            seconds = time.perf_counter() - started
            if code not in (0, 1):
                raise click.ClickException(f"in-process run_job failed with exit code {code}")
            return seconds

        once()
        traces_after_warmup = recognizer.decoder.trace_count
        return [once() for _ in range(repeat)], traces_after_warmup


# ------------------------------------------------------------------------ child processes

def run_command_argv(input_path: str, output: str, model: str, segment: str,
                     batch_size: int) -> list[str]:
    """`batch-ocr run` as a child process (through the interpreter running the bench)."""
    return [sys.executable, "-m", "batch_ocr.cli", "run", input_path, "-o", output, "--quiet",
            "--model", model, "--segment", segment, "--batch-size", str(batch_size)]


def _csv_rows_with_text(path: str) -> int:
    with open(path, encoding="utf-8", newline="") as fh:
        return sum(1 for row in csv.DictReader(fh) if row["status"] == "ok")


def whole_process_once(argv: list[str]) -> ProcessRun:
    run = run_process(argv)
    if run.returncode not in (0, 1):
        raise click.ClickException(f"`{_shell(argv)}` exited with {run.returncode}: "
                                   f"{run.stderr.strip()[-800:]}")
    return run


def startup_once(model: str) -> tuple[ProcessRun, dict[str, float]]:
    argv = [sys.executable, "-c", _STARTUP_PROBE, model]
    run = run_process(argv)
    if run.returncode != 0:
        raise click.ClickException(f"start-up probe failed: {run.stderr.strip()[-800:]}")
    return run, json.loads(run.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------- peers

@dataclass
class Peer:
    """Another OCR engine run on the same files; `run()` returns wall seconds (and extras)."""

    name: str
    why_unavailable: str | None
    argv_shown: str
    run: Any = None  # () -> (seconds, {extra figures})


def _tesseract_peer(paths: list[str], segment: str) -> Peer:
    exe = shutil.which("tesseract")
    # Line crops are what --psm 7 is for; pages get Tesseract's own layout analysis.
    psm = "7" if segment == "line" else "3"
    shown = f"for f in FILES; do tesseract $f - --psm {psm}; done"
    if exe is None:
        return Peer("tesseract", "tesseract is not on PATH", shown)

    def run() -> tuple[float, dict]:
        started = time.perf_counter()
        failures = 0
        for path in paths:
            done = subprocess.run([exe, path, "-", "--psm", psm], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                  check=False)
            failures += done.returncode != 0
        seconds = time.perf_counter() - started
        if failures == len(paths) and paths:
            raise RuntimeError("tesseract failed on every file (is its 'eng' data installed?)")
        return seconds, {"failures": failures}

    return Peer("tesseract", None, shown, run)


def _rapidocr_peer(segment: str, list_file: str) -> Peer:
    import importlib.util

    mode = "line" if segment == "line" else "page"
    argv = [sys.executable, "-c", _RAPIDOCR_PROBE, list_file, mode]
    shown = (f"python -c '<RapidOCR(); engine(img, use_det={mode == 'page'}, use_cls=False, "
             "use_rec=True) per file>'")
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        return Peer("rapidocr", "rapidocr_onnxruntime is not installed "
                    "(pip install rapidocr-onnxruntime)", shown)

    def run() -> tuple[float, dict]:
        done = run_process(argv)
        if done.returncode != 0:
            raise RuntimeError(f"rapidocr failed: {done.stderr.strip()[-500:]}")
        inner = json.loads(done.stdout.strip().splitlines()[-1])
        return done.seconds, {"startup_s": inner["startup_s"], "read_s": inner["read_s"],
                              "peak_rss_mb": done.peak_rss_mb}

    return Peer("rapidocr", None, shown, run)


def make_peers(names: list[str], paths: list[str], segment: str, list_file: str) -> list[Peer]:
    """The peers named, on `paths` (also listed one a line in `list_file`)."""
    peers = []
    for name in names:
        if name == "tesseract":
            peers.append(_tesseract_peer(paths, segment))
        elif name == "rapidocr":
            peers.append(_rapidocr_peer(segment, list_file))
    return peers


def peer_report(peer: Peer, runs: list[tuple[float, dict]], error: str | None, lines: int,
                ours_whole: float, ours_steady: float) -> dict[str, Any]:
    if peer.why_unavailable:
        return {"available": False, "why": peer.why_unavailable}
    if error:
        return {"available": False, "why": error}
    seconds = _median([r[0] for r in runs])
    report: dict[str, Any] = {"available": True, "command": peer.argv_shown, "seconds": seconds,
                              "runs": [r[0] for r in runs], "lines_per_s": _rate(lines, seconds)}
    report["ratio"] = ours_whole / report["lines_per_s"] if report["lines_per_s"] else None
    extras = [r[1] for r in runs]
    for key in (extras[0] if extras else {}):
        values = [e[key] for e in extras]
        # Counts (failed files) are worst-case over the runs; times are medians.
        report[key] = max(values) if isinstance(values[0], int) else _median(values)
    if "read_s" in report:  # the peer's own steady state (its start-up left out) vs ours
        report["steady_lines_per_s"] = _rate(lines, report["read_s"])
        report["ratio_steady"] = (ours_steady / report["steady_lines_per_s"]
                                  if report["steady_lines_per_s"] else None)
    return report


# ------------------------------------------------------------------------------------ report

def format_table(report: dict[str, Any]) -> str:
    """The report's headline figures as a few aligned lines for a terminal."""
    inputs, model = report["inputs"], report["model"]
    out = [f"model {model['name']} {model.get('version', '')}: {inputs['files']} files, "
           f"{inputs['pages']} pages, {inputs['lines']} lines (segment {inputs['segment']}), "
           f"batch size {report['settings']['batch_size']} "
           f"({report['settings'].get('arithmetic', 'float32')}, "
           f"{report['settings'].get('streams', 1)} at once), median of "
           f"{report['settings']['repeat']}; load average {report['machine']['load_average']}",
           f"{'':16}{'seconds':>9}{'lines/s':>10}{'pages/s':>10}"]

    def row(label: str, section: dict | None, extra: str = "") -> None:
        if section:
            out.append(f"{label:16}{section['seconds']:9.2f}{section.get('lines_per_s', 0):10.1f}"
                       f"{section.get('pages_per_s', 0):10.1f}  {extra}".rstrip())

    startup = report["startup"]
    out.append(f"{'start-up':16}{startup['seconds']:9.2f}  (import {startup['import_s']:.2f}, "
               f"load {startup['load_s']:.2f}, first batch {startup['first_batch_s']:.2f}; "
               f"--help {startup['cli_help_s']:.2f})")
    whole = report["whole_process"]
    row("whole process", whole, f"peak RSS {whole['peak_rss_mb']:.0f} MB, "
        f"CPU {whole['cpu_seconds']:.1f} s")
    row("steady state", report["steady_state"], "in process, reader thread")
    if report.get("steady_state_cli"):
        row("  as `run`", report["steady_state_cli"],
            f"{report['steady_state_cli']['lines']} more lines in a run with the input x"
            f"{REPEATED_INPUT}")
    if report.get("model_only"):
        model = report["model_only"]
        shares = [model.get("overhead"), model.get("overhead_cli")]
        shown = ["n/a" if share is None else f"{100 * share:.0f} %" for share in shares]
        paired = " / ".join("n/a" if share is None else f"{100 * share:.0f}"
                            for share in model.get("overhead_cli_runs", []))
        row("model only", model, f"pipeline overhead {shown[0]} of the model time"
            + (f" (as `run`: {shown[1]}; by repeat {paired} %)" if "overhead_cli" in model
               else ""))
        cli = report.get("steady_state_cli") or {}
        if cli.get("cpu_bound_lines_per_s") and model.get("overhead_cli_cpu_floor") is not None:
            worker = cli.get("worker_cpu_ms_per_line")
            split = ("" if worker is None else
                     f" (model's process {cli['cpu_ms_per_line'] - worker:.2f}, worker "
                     f"{worker:.2f})")
            out.append(f"CPU per line: model only {model['cpu_ms_per_line']:.2f} ms, as `run` "
                       f"{cli['cpu_ms_per_line']:.2f} ms{split}; "
                       f"{report['machine']['usable_cores']} "
                       f"cores busy all the time give `run` at most "
                       f"{cli['cpu_bound_lines_per_s']:.0f} lines/s (overhead >= "
                       f"{100 * model['overhead_cli_cpu_floor']:.0f} %)")
    stages = report["stages"]
    total = sum(stages["seconds"].values()) or 1.0
    out.append("stages: " + ", ".join(f"{name} {seconds:.2f} s ({100 * seconds / total:.0f} %)"
                                      for name, seconds in stages["seconds"].items()))
    batching = report["batching"]
    out.append(f"batching: {batching['batches']} batches, mean size "
               f"{batching['mean_batch_size']:.1f}, padding "
               f"{100 * batching['padding_fraction']:.1f} % (target <= "
               f"{100 * PADDING_TARGET:.0f} %), decoder traces "
               f"{batching['traces']}, retraces after warm-up {batching['retraces_after_warmup']}")
    for name, peer in report["peers"].items():
        if not peer["available"]:
            out.append(f"{name}: not available ({peer['why']})")
            continue
        ratio = f"ours/{name} {peer['ratio']:.1f}x" if peer.get("ratio") else ""
        if peer.get("ratio_steady"):
            ratio += f", steady state {peer['ratio_steady']:.1f}x"
        out.append(f"{name:16}{peer['seconds']:9.2f}{peer['lines_per_s']:10.1f}{'':10}  {ratio}")
    return "\n".join(out)


def _model_card(model: str) -> tuple[str, dict[str, Any]]:
    from batch_ocr.recognizer import ModelError, resolve_model_dir

    try:
        model_dir = resolve_model_dir(model)
        card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    except (ModelError, OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="'--model'") from exc
    return str(model_dir), card


def _input_files(input_path: str) -> list[str]:
    from batch_ocr.job import list_inputs

    return [item.path for item in list_inputs([input_path])]


# The CLI's own steady state: the whole process on the input given this many times over, less
# the whole process on it once, is the time of the extra lines alone (start-up and exit paid once).
# The once-run's noise (a few tenths of a second from one run to the next) is spread over the
# extra lines: with the input three times over it moved the figure by 10-20 % between repeats.
REPEATED_INPUT = 5


def repeated_input_argv(run_argv: list[str], input_path: str, workdir: str,
                        times: int = REPEATED_INPUT) -> list[str]:
    """`run_argv` with INPUT replaced by `times` symbolic links to it (each walked as an INPUT of
    its own, so every file is read `times` times under distinct names)."""
    links = []
    for index in range(times):
        link = os.path.join(workdir, f"input{index}")
        os.symlink(os.path.abspath(input_path), link)
        links.append(link)
    position = run_argv.index(input_path)
    return run_argv[:position] + links + run_argv[position + 1:]


@dataclass
class _ChildFigures:
    run_argv: list[str]
    whole_runs: list[ProcessRun]
    repeated_runs: list[ProcessRun]
    rows_with_text: int
    startups: list[tuple[ProcessRun, dict[str, float]]]
    help_seconds: list[float]
    peers: list[Peer]
    peer_runs: dict[str, list]
    peer_errors: dict[str, str | None]
    model_runs: list[dict[str, Any]]  # model_only_probe's figures, one per repeat (--model-only)


def model_only_once(model_dir: str, segment: str, batch_size: int, list_file: str
                    ) -> dict[str, Any]:
    argv = [sys.executable, "-c", _MODEL_ONLY_PROBE, model_dir, segment, str(batch_size),
            list_file]
    run = run_process(argv)
    if run.returncode != 0:
        raise click.ClickException(f"model-only probe failed: {run.stderr.strip()[-800:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _measure_children(input_path: str, paths: list[str], model_dir: str, segment: str,
                      repeat: int, batch_size: int, against: list[str], model_only: bool,
                      progress) -> _ChildFigures:
    """Whole-process runs, model-only probes, peers and start-up probes, all as child
    processes. Each repeat runs them back to back, so that the ratios between them (the
    pipeline's overhead, ours against a peer's) compare runs minutes apart at most, not the
    two ends of a bench that drifting machine load may have slowed unevenly."""
    with tempfile.TemporaryDirectory(prefix="batch-ocr-bench-") as workdir:
        output = os.path.join(workdir, "run.csv")
        run_argv = run_command_argv(input_path, output, model_dir, segment, batch_size)
        repeated_argv = repeated_input_argv(
            run_command_argv(input_path, os.path.join(workdir, "repeated.csv"), model_dir,
                             segment, batch_size), input_path, workdir)
        list_file = os.path.join(workdir, "inputs.txt")  # the files, one path a line
        Path(list_file).write_text("\n".join(paths) + "\n", encoding="utf-8")
        peers = make_peers(against, paths, segment, list_file)
        whole_runs: list[ProcessRun] = []
        repeated_runs: list[ProcessRun] = []
        peer_runs: dict[str, list] = {p.name: [] for p in peers}
        peer_errors: dict[str, str | None] = {p.name: None for p in peers}
        model_runs: list[dict[str, Any]] = []
        # Ours and the peers alternate within each repeat, so drifting machine load is shared.
        for attempt in range(repeat):
            progress(f"whole process run {attempt + 1}/{repeat}")
            whole_runs.append(whole_process_once(run_argv))
            progress(f"whole process on the input x{REPEATED_INPUT}, run {attempt + 1}/{repeat}")
            repeated_runs.append(whole_process_once(repeated_argv))
            if model_only:
                progress(f"model only, run {attempt + 1}/{repeat}")
                model_runs.append(model_only_once(model_dir, segment, batch_size, list_file))
            for peer in peers:
                if peer.why_unavailable or peer_errors[peer.name]:
                    continue
                progress(f"{peer.name} run {attempt + 1}/{repeat}")
                try:
                    peer_runs[peer.name].append(peer.run())
                except (RuntimeError, OSError, ValueError) as exc:
                    peer_errors[peer.name] = str(exc)
        rows_with_text = _csv_rows_with_text(output)
    progress("start-up")
    startups = [startup_once(model_dir) for _ in range(repeat)]
    help_seconds = [run_process([sys.executable, "-m", "batch_ocr.cli", "--help"]).seconds
                    for _ in range(repeat)]
    shown = run_argv[:4] + ["INPUT", "-o", "TMP.csv"] + run_argv[7:]
    return _ChildFigures(shown, whole_runs, repeated_runs, rows_with_text, startups,
                         help_seconds, peers, peer_runs, peer_errors, model_runs)


def _timing(command: str, runs: list[float], lines: int, pages: int) -> dict[str, Any]:
    seconds = _median(runs)
    return {"command": command, "seconds": seconds, "runs": runs,
            "lines_per_s": _rate(lines, seconds), "pages_per_s": _rate(pages, seconds)}


def _model_only_figures(model_runs: list[dict[str, Any]], report: dict[str, Any], lines: int,
                        pages: int, extra: list[float], extra_lines: int) -> dict[str, Any]:
    """The model-only section: its timing (the children's last passes), the pipeline overheads
    against it, and its CPU per line."""
    figures = _timing(f"CropReader.decode_batches on batches made beforehand (settings.streams "
                      f"at once), in a child beside each whole-process pair; pass "
                      f"{MODEL_ONLY_PASSES} of {MODEL_ONLY_PASSES}",
                      [run["seconds"] for run in model_runs], lines, pages)
    figures["lines_read"] = model_runs[0]["lines"] if model_runs else 0
    for key, view in (("overhead", "steady_state"), ("overhead_cli", "steady_state_cli")):
        figures[key] = pipeline_overhead(report[view]["lines_per_s"], figures["lines_per_s"])
    # `run`'s overhead repeat by repeat, each against the model-only child run right after its
    # pair of whole-process runs: how far one repeat can be trusted. Their median is no better a
    # figure than the medians' ratio: most of a repeat's noise is in its pair's difference.
    figures["overhead_cli_runs"] = [
        pipeline_overhead(_rate(extra_lines, seconds), _rate(lines, run["seconds"]))
        for seconds, run in zip(extra, model_runs)]
    figures["cpu_ms_per_line"] = (1000.0 * _median([run["cpu_seconds"] for run in model_runs])
                                  / lines) if lines else 0.0
    # The least overhead `run` can have with its CPU per line on these cores: the overhead at
    # the CPU-bound rate (negative when the cores are not the limit).
    bound = report["steady_state_cli"]["cpu_bound_lines_per_s"]
    figures["overhead_cli_cpu_floor"] = (
        None if not bound else pipeline_overhead(bound, figures["lines_per_s"]))
    return figures


def benchmark(input_path: str, model: str, segment: str, repeat: int, batch_size: int,
              against: list[str], model_only: bool, generated: int | None = None,
              progress=lambda message: None) -> dict[str, Any]:
    """Every figure of `batch-ocr bench` for INPUT as a JSON-ready dict (see the module doc)."""
    model_dir, card = _model_card(model)
    paths = _input_files(input_path)
    if not paths:
        raise click.UsageError(f"no images under {input_path}")
    load_before = os.getloadavg()
    # Children first: the bench process is still small, and TensorFlow is not yet loaded here.
    children = _measure_children(input_path, paths, model_dir, segment, repeat, batch_size,
                                 against, model_only, progress)

    progress("steady state (in process)")
    from batch_ocr.recognizer import load_model

    recognizer = load_model(model_dir)
    steady_runs, traces_after_warmup = time_steady_state(recognizer, input_path, segment,
                                                         batch_size, repeat)
    progress("stages")
    profile = profile_stages(recognizer, paths, segment, batch_size)
    traces = recognizer.decoder.trace_count

    lines, pages = profile.lines, profile.pages
    invoked = sys.argv[1:2] == ["bench"]
    report: dict[str, Any] = {
        "bench_command": _shell(["batch-ocr", *sys.argv[1:]]) if invoked else None,
        "model": {"name": card.get("name"), "version": card.get("version"),
                  "directory": model_dir},
        "machine": {"cpus": os.cpu_count(), "usable_cores": usable_cores(),
                    "platform": platform.platform(),
                    "python": platform.python_version()},
        "inputs": {"path": None if generated else input_path, "generated": generated,
                   "files": len(paths), "segment": segment, "pages": pages, "lines": lines,
                   "crops": profile.crops, "lines_with_text": profile.lines_with_text},
        "settings": {"repeat": repeat, "batch_size": batch_size,
                     "arithmetic": recognizer.arithmetic, "streams": recognizer.streams},
    }
    whole = children.whole_runs
    report["whole_process"] = {
        **_timing(_shell(children.run_argv), [r.seconds for r in whole], lines, pages),
        "peak_rss_mb": max(r.peak_rss_mb for r in whole),
        "cpu_seconds": _median([r.cpu_seconds for r in whole]),
        "csv_rows_with_text": children.rows_with_text,
    }
    startups = children.startups
    report["startup"] = {
        "command": "python -c '<import batch_ocr.cli; load_model(MODEL); read one blank crop>'",
        "seconds": _median([run.seconds for run, _ in startups]),
        "runs": [run.seconds for run, _ in startups],
        **{key: _median([inner[key] for _, inner in startups])
           for key in ("import_s", "load_s", "first_batch_s")},
        "peak_rss_mb": max(run.peak_rss_mb for run, _ in startups),
        "cli_help_s": _median(children.help_seconds),
    }
    report["steady_state"] = _timing(
        "batch_ocr.job.run_job(..., recognizer=<loaded, warmed up>) in the bench process",
        steady_runs, lines, pages)
    # The job as `run` does it (its worker process prepares files beside the model): the extra
    # seconds of the input given REPEATED_INPUT times over the input once, for the extra lines.
    extra = [r.seconds - w.seconds for r, w in zip(children.repeated_runs, whole)]
    extra_lines, extra_pages = (REPEATED_INPUT - 1) * lines, (REPEATED_INPUT - 1) * pages
    # Its CPU (both processes, every thread) per extra line, and the rate that CPU allows.
    extra_cpu = _median([r.cpu_seconds - w.cpu_seconds
                         for r, w in zip(children.repeated_runs, whole)])
    cpu_ms = 1000.0 * extra_cpu / extra_lines if extra_lines else 0.0
    # Of that, the worker process's share (decoding, segmentation, cropping); the rest is the
    # model's process (the model, batching, readings, writing).
    worker_cpu = [r.children_cpu_seconds - w.children_cpu_seconds
                  for r, w in zip(children.repeated_runs, whole)
                  if r.children_cpu_seconds is not None and w.children_cpu_seconds is not None]
    worker_ms = (1000.0 * _median(worker_cpu) / extra_lines
                 if worker_cpu and extra_lines else None)
    report["steady_state_cli"] = {
        **_timing(f"median of (whole process on the input x{REPEATED_INPUT}) - (on the input "
                  "once), each pair run back to back", extra, extra_lines, extra_pages),
        "lines": extra_lines, "cpu_ms_per_line": cpu_ms, "worker_cpu_ms_per_line": worker_ms,
        "cpu_bound_lines_per_s": cpu_bound_rate(cpu_ms, usable_cores())}
    # What a run pays beyond start-up and warm work: first-run effects, walking, journal, exit.
    report["whole_process"]["beyond_startup_and_steady_s"] = (
        report["whole_process"]["seconds"] - report["startup"]["seconds"]
        - report["steady_state"]["seconds"])
    report["stages"] = {
        "command": "one instrumented pass: images.read_pages, segment.find_layout, "
                   "batching.prepare_crop, plan_batches + to_model_input, encoder, decode - "
                   "encoder, readings + join, writers.write_csv",
        "seconds": profile.seconds, "total_s": sum(profile.seconds.values()),
    }
    report["batching"] = {**profile.batching.report(), "traces": traces,
                          "traces_after_warmup": traces_after_warmup,
                          "retraces_after_warmup": traces - traces_after_warmup}
    if model_only:
        report["model_only"] = _model_only_figures(children.model_runs, report, lines, pages,
                                                   extra, extra_lines)
    report["peers"] = {
        peer.name: peer_report(peer, children.peer_runs[peer.name],
                               children.peer_errors[peer.name], lines,
                               report["whole_process"]["lines_per_s"],
                               report["steady_state"]["lines_per_s"])
        for peer in children.peers}
    import resource
    from importlib.metadata import version

    report["machine"].update(
        tensorflow=version("tensorflow"),
        load_average=[round(v, 2) for v in load_before],
        load_average_after=[round(v, 2) for v in os.getloadavg()],
        bench_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    return _rounded(report)


# ------------------------------------------------------------------------------------ command

@click.command("bench", short_help="Throughput and memory as a JSON report; optional peers.")
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(exists=True))
@click.option("--model", default="printed", show_default=True, metavar="NAME|DIR",
              help="Shipped model name or a model directory.")
@click.option("--generate", type=click.IntRange(min=1), metavar="N",
              help="Instead of INPUT: render N printed line crops into a temporary folder.")
@click.option("--segment", type=click.Choice(("line", "auto", "page")),
              help="As for `run`; default line with --generate, else auto.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per figure; the report gives medians.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True,
              help="Line crops per model batch (as for `run`).")
@click.option("--against", multiple=True, type=click.Choice(PEERS),
              help="Also time this engine on the same inputs (repeatable).")
@click.option("--model-only", is_flag=True,
              help="Also time the bare encoder + decoder on pre-built batches.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the JSON report here instead of stdout.")
def bench_command(input_path: str | None, model: str, generate: int | None, segment: str | None,
                  repeat: int, batch_size: int, against: tuple[str, ...], model_only: bool,
                  output: str | None) -> None:
    """Time `batch-ocr run` on INPUT (or on --generate N rendered lines): whole process, start-up,
    steady state and each stage, with peak memory, padding and retraces.

    The JSON report goes to stdout (or -o); a short table goes to stderr. Rates count the line
    regions segmentation finds, the same for every figure and peer.
    """
    if (input_path is None) == (generate is None):
        raise click.UsageError("give either INPUT or --generate N")

    def progress(message: str) -> None:
        click.echo(f"batch-ocr bench: {message}", err=True)

    with tempfile.TemporaryDirectory(prefix="batch-ocr-bench-set-") as generated_dir:
        if generate is not None:
            _, card = _model_card(model)
            progress(f"rendering {generate} line images")
            generate_line_set(Path(generated_dir), generate, card.get("charset"))
            input_path = generated_dir
        report = benchmark(os.path.abspath(input_path), model,
                           segment or ("line" if generate else "auto"), repeat, batch_size,
                           list(dict.fromkeys(against)), model_only, generate, progress)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
    click.echo(format_table(report), err=True)
