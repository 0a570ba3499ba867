"""Memory benchmark: peak RSS of `batch-ocr run` over folders of 500 and 5 000 line images,
or over a folder of pages given once and many times over.

    python jobs/bench_memory.py                          # 500 and 5000 files, model `printed`
    python jobs/bench_memory.py --files 50 200 --model /path/to/model_dir
    python jobs/bench_memory.py --pages DIR --times 1 12  # DIR's pages, then 12 times as many

Generates N small printed text lines (Pillow + DejaVu Sans) in a temporary folder, runs the real
command (`python -m batch_ocr.cli run DIR -o out.csv --model M --segment line --quiet`) once per
N in its own process, and reads that process's peak resident set size from `wait4`'s rusage, so
each figure belongs to exactly one run (the main process: the worker processes that prepare
pages are its children and stay small). With --pages, the INPUT is a folder of symbolic links to
DIR's images, each image that many times over in a shuffled order (so that the job's chunks of
pages differ, as new pages' would; the same pages in the same order again would repeat the
first chunks' batches exactly), read with the default segmentation. Prints one JSON document.
Flat memory means the peak at the largest N is close to the peak at the smallest (the job
streams files through bounded chunks; only names and journal offsets grow with N, about a
hundred bytes per file).

A benchmark, not a test: it runs the model over thousands of images and takes minutes on a CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ["invoice", "total", "paid", "due", "ref", "box", "item", "net", "tax", "date"]


def make_lines(folder: Path, count: int) -> None:
    """`count` PNG text lines in `folder`, 100 per subfolder (a tree, not one flat folder)."""
    font = ImageFont.truetype(FONT, 24)
    for index in range(count):
        text = f"{WORDS[index % len(WORDS)]} {index:05d} {WORDS[(index * 7) % len(WORDS)]}"
        left, top, right, bottom = font.getbbox(text)
        image = Image.new("L", (right - left + 16, bottom - top + 12), 255)
        ImageDraw.Draw(image).text((8 - left, 6 - top), text, font=font, fill=0)
        sub = folder / f"batch_{index // 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        image.save(sub / f"line_{index:05d}.png")


def link_pages(source: Path, folder: Path, times: int, seed: int = 5) -> None:
    """`folder` with `times` symbolic links to every image under `source` (the files `run` reads
    there), in a shuffled order."""
    from batch_ocr.walk import list_inputs

    images = [Path(item.path) for item in list_inputs([str(source)])]
    order = [image for _ in range(times) for image in images]
    random.Random(seed).shuffle(order)
    folder.mkdir(parents=True)
    for index, image in enumerate(order):
        (folder / f"{index:06d}_{image.name}").symlink_to(image.resolve())


def measure(inputs: list[Path], output: Path, model: str, options: list[str]) -> dict:
    """Run the job once; its exit code, wall time and peak RSS in MiB."""
    command = [sys.executable, "-m", "batch_ocr.cli", "run", *map(str, inputs), "-o", str(output),
               "--model", model, *options, "--quiet"]
    started = time.monotonic()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    with open(output, encoding="utf-8") as fh:
        rows = sum(1 for _ in fh) - 1
    return {"exit": process.returncode, "seconds": round(seconds, 1), "rows": rows,
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[500, 5000],
                        help="folder sizes to measure (default: 500 5000)")
    parser.add_argument("--model", default="printed", help="model name or directory")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="batch size (default: 32 for the lines, the job's own for --pages)")
    parser.add_argument("--pages", type=Path, metavar="DIR",
                        help="measure DIR's images given as INPUT once and --times over")
    parser.add_argument("--times", type=int, nargs="+", default=[1, 12],
                        help="with --pages: how many times over (default: 1 12)")
    args = parser.parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        if args.pages:
            options = [] if args.batch_size is None else ["--batch-size", str(args.batch_size)]
            for times in sorted(args.times):
                folder = Path(tmp) / f"pages_{times}"
                link_pages(args.pages, folder, times)
                result = measure([folder], Path(tmp) / f"out_{times}.csv", args.model, options)
                runs.append({"times": times, **result})
        else:
            options = ["--segment", "line", "--batch-size", str(args.batch_size or 32)]
            for count in sorted(args.files):
                folder = Path(tmp) / f"lines_{count}"
                make_lines(folder, count)
                result = measure([folder], Path(tmp) / f"out_{count}.csv", args.model, options)
                runs.append({"files": count, **result})
    report = {
        "benchmark": "peak RSS of batch-ocr run",
        "input": str(args.pages) if args.pages else "generated line images",
        "model": args.model,
        "python": sys.version.split()[0],
        "runs": runs,
        "peak_rss_growth_mib": round(runs[-1]["peak_rss_mib"] - runs[0]["peak_rss_mib"], 1),
        "peak_rss_ratio": round(runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"], 3),
    }
    print(json.dumps(report, indent=2))
    return 0 if all(run["exit"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
