"""Shared by the fault, state and bad-input tests: real line images and a slow, deterministic fake
recogniser; and by the tests of `jobs/` scripts, `load_job`. Also a script, so a test can run a
job in a process it may kill:

    python tests/job_helper.py INPUT OUTPUT [--resume] [--delay S] [--slow-write S] [--state DB]

`--delay` sleeps per page so a kill lands mid-run; `--slow-write` sleeps per file while the final
output is written (one CSV row group per file), so a kill can land mid-write. Every file is
journaled on its own (one page per chunk), so the journal grows file by file.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from batch_ocr.records import CharConfidence, LineResult

JOBS = Path(__file__).resolve().parent.parent / "jobs"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ["invoice", "total", "paid", "due", "ref", "box", "Zürich", "12.50", "0042", "=SUM(A1)",
         "item", "café"]


def load_job(name: str):
    """The script `jobs/<name>.py` as a module (the folder is no package)."""
    spec = importlib.util.spec_from_file_location(name, JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def line_image(text: str, size: int = 22) -> Image.Image:
    """A printed text line: black DejaVu text on white, with a margin."""
    font = ImageFont.truetype(FONT, size)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 16, bottom - top + 12), 255)
    ImageDraw.Draw(image).text((8 - left, 6 - top), text, font=font, fill=0)
    return image


def line_text(index: int) -> str:
    return f"{WORDS[index % len(WORDS)]} {index:04d} {WORDS[(index * 7 + 3) % len(WORDS)]}"


def make_line_images(root: Path, count: int, start: int = 0) -> list[Path]:
    """`count` PNG line images in `root` (and a subfolder), named so their order is stable."""
    paths = []
    for index in range(start, start + count):
        folder = root / ("part2" if index % 3 == 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"line_{index:04d}.png"
        line_image(line_text(index)).save(path)
        paths.append(path)
    return paths


class LineReader:
    """A fake recogniser that reads one line per non-blank page: the ink's box and pixel count.

    Deterministic across processes (it depends only on the pixels), so runs can be compared byte
    for byte. `delay` seconds per page make a run slow enough to be killed mid-way.
    """

    card = {"name": "fake-lines", "version": "1", "charset": "abc", "input_height": 32}

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.batch_size = None
        self.pages_read = 0

    def read_pages(self, pages, segment="auto"):
        out = []
        for gray in pages:
            self.pages_read += 1
            if self.delay:
                time.sleep(self.delay)
            ink = np.asarray(gray) < 128
            if not ink.any():
                out.append([])
                continue
            rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
            box = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
                   int(rows[-1] - rows[0] + 1))
            text = f"ink {int(ink.sum())} in {box[2]}x{box[3]}"
            confidence = round(float(ink.mean()), 6)
            out.append([LineResult(line=0, text=text, confidence=confidence, box=box,
                                   chars=[CharConfidence(c, confidence) for c in text])])
        return out


def crashing_serve(requests, replies, segment, height, max_pixels, fingerprint=None,
                   current=None):
    """prepare._serve in a worker process that kills itself (SIGKILL, as a decoder's segfault or
    the OOM killer would) when asked for a file with 'crash' in its name."""
    import os
    import signal

    from batch_ocr import prepare

    real = prepare._prepare_file

    def maybe_crash(item, *args):
        if "crash" in item.name:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(item, *args)

    prepare._prepare_file = maybe_crash
    prepare._serve(requests, replies, segment, height, max_pixels, fingerprint, current)


class _CountedRequests:
    """A worker's request queue that appends the size of each message it hands out to a file."""

    def __init__(self, requests, log: str):
        self._requests, self._log = requests, log

    def get(self):
        message = self._requests.get()
        with open(self._log, "a", encoding="utf-8") as out:
            out.write(f"{0 if message is None else len(message)}\n")
        return message

    def empty(self) -> bool:
        return self._requests.empty()


def counting_serve(requests, replies, segment, height, max_pixels, fingerprint=None,
                   current=None):
    """prepare._serve that logs the number of files in each request message it receives to the
    file named by $REQUEST_LOG (inherited by a forked or a spawned worker alike)."""
    import os

    from batch_ocr import prepare

    prepare._serve(_CountedRequests(requests, os.environ["REQUEST_LOG"]), replies, segment,
                   height, max_pixels, fingerprint, current)


def main(argv: list[str]) -> int:
    from batch_ocr import job, writers

    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--slow-write", type=float, default=0.0)
    parser.add_argument("--state")
    args = parser.parse_args(argv)

    job.PAGES_PER_CHUNK = 1
    if args.slow_write:
        writers._CSV_ROWS_PER_WRITE = 1
        real_write_results = job.write_results

        def slow_write_results(fmt, results, stream, *rest, **kwargs):
            def slowly():
                for result in results:
                    yield result
                    stream.flush()
                    time.sleep(args.slow_write)
            return real_write_results(fmt, slowly(), stream, *rest, **kwargs)

        job.write_results = slow_write_results
    return job.run_job([args.input], args.output, resume=args.resume, quiet=False,
                       progress=False, state=args.state, recognizer=LineReader(args.delay))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
