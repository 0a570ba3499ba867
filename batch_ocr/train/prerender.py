"""Pre-render synthetic printed lines into shards (`python -m batch_ocr.train.prerender --help`).

Each shard's random stream derives from (seed, split, shard index) only, so any shard can be
re-made alone, runs can resume (existing shards are skipped), and the worker count does not change
the data.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from batch_ocr.train.fonts import load_font_list
from batch_ocr.train.render import missing_chars, render_line
from batch_ocr.train.shards import write_shard
from batch_ocr.train.text_gen import sample_text

log = logging.getLogger(__name__)

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class ShardSpec:
    out_dir: Path
    split: str
    index: int
    lines: int
    seed: int
    height: int
    max_chars: int
    lowres: float = 0.0  # render_line's share of low-resolution bilevel lines

    @property
    def path(self) -> Path:
        return self.out_dir / f"shard-{self.index:05d}.npz"


def shard_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one shard: a stable function of (seed, split, index)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(split.encode()), index]))


def text_for_font(rng: np.random.Generator, font_path: Path, max_chars: int) -> tuple[str, str]:
    """A sampled text that `font_path` can draw every character of.

    Re-sampling keeps the text distribution intact for fonts that lack a few glyphs; only if that
    keeps failing are the missing characters dropped."""
    for _ in range(10):
        text, category = sample_text(rng, max_chars)
        if not missing_chars(font_path, text):
            return text, category
    missing = missing_chars(font_path, text)
    text = re.sub(r" {2,}", " ", "".join(c for c in text if c not in missing)).strip()
    return (text or "0"), category


def render_shard(spec: ShardSpec, fonts: list[Path]) -> tuple[list[np.ndarray], list[str], list[str]]:
    rng = shard_rng(spec.seed, spec.split, spec.index)
    images, texts, categories = [], [], []
    for _ in range(spec.lines):
        font_path = fonts[int(rng.integers(len(fonts)))]
        text, category = text_for_font(rng, font_path, spec.max_chars)
        images.append(render_line(text, font_path, rng, spec.height, spec.lowres))
        texts.append(text)
        categories.append(category)
    return images, texts, categories


def _make_shard(job: tuple[ShardSpec, list[Path]]) -> tuple[int, int, float]:
    spec, fonts = job
    started = time.perf_counter()
    images, texts, categories = render_shard(spec, fonts)
    write_shard(spec.path, images, texts, categories)
    return spec.index, len(images), time.perf_counter() - started


def prerender(out_dir: Path, split: str, shards: int, lines_per_shard: int, seed: int, height: int = 32,
              max_chars: int = 40, start: int = 0, workers: int = 1, lowres: float = 0.0
              ) -> list[Path]:
    """Write shards start..start+shards-1 of `split` into `out_dir` (skipping those that exist) and
    return the paths of all of them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    fonts = load_font_list(split)
    if not fonts:
        raise RuntimeError(f"no font of list {split!r} is installed (see jobs/install_fonts.sh)")
    specs = [ShardSpec(Path(out_dir), split, i, lines_per_shard, seed, height, max_chars, lowres)
             for i in range(start, start + shards)]
    todo = [(spec, fonts) for spec in specs if not spec.path.exists()]
    log.info("%s: %d shards of %d lines, %d already there, %d fonts, %d workers", split, len(specs),
             lines_per_shard, len(specs) - len(todo), len(fonts), workers)
    started = time.perf_counter()
    done_lines = 0
    if workers > 1 and len(todo) > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.imap_unordered(_make_shard, todo)
            for index, lines, seconds in results:
                done_lines += lines
                _log_progress(index, lines, seconds, done_lines, started)
    else:
        for job in todo:
            index, lines, seconds = _make_shard(job)
            done_lines += lines
            _log_progress(index, lines, seconds, done_lines, started)
    return [spec.path for spec in specs]


def _log_progress(index: int, lines: int, seconds: float, done_lines: int, started: float) -> None:
    elapsed = max(time.perf_counter() - started, 1e-9)
    log.info("shard %05d: %d lines in %.1fs (%.0f lines/s); overall %.0f lines/s", index, lines,
             seconds, lines / max(seconds, 1e-9), done_lines / elapsed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for shard-NNNNN.npz")
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--lines-per-shard", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--max-chars", type=int, default=40)
    parser.add_argument("--start", type=int, default=0, help="index of the first shard")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--lowres", type=float, default=0.0,
                        help="share of lines scanned bilevel at a low resolution (fax-like)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    prerender(args.out, args.split, args.shards, args.lines_per_shard, args.seed, args.height,
              args.max_chars, args.start, args.workers, args.lowres)


if __name__ == "__main__":
    main()
