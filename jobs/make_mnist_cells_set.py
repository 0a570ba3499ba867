"""Write digit strings the way the seed tutorial serialised MNIST: whole 28x28 digit cells side by
side, nothing drawn or degraded, labels without spaces; a test of handwriting laid out by someone
else's rule rather than by our compositor (batch_ocr.train.digits).

    python jobs/make_mnist_cells_set.py work/data/mnist_full.npz work/data/digits_cells
    batch-ocr eval work/data/digits_cells/labels.csv --model digits --segment auto

Digits come from one split of a file that jobs/make_mnist_full_npz.py builds (default `t10k`,
MNIST's own test digits, whose writers wrote no training digit). `--light-on-dark` keeps MNIST's
own polarity; `--scale` enlarges (bicubic), as a scan at a higher resolution would; `--gap` puts
that many blank columns between cells (cells on a grid form with room between them); `--comb`
draws a box round every cell, as a form's comb field does, inside a margin of paper.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np


def cells_string(images: np.ndarray, picks: np.ndarray, light_on_dark: bool, scale: float,
                 gap: int = 0) -> np.ndarray:
    """The cells of `picks` (indices into `images`) in a row, `gap` blank columns apart, as a
    uint8 image."""
    blank = np.zeros((images.shape[1], gap), np.uint8)
    parts = [part for index in picks for part in (blank, images[index])][1:]
    row = np.concatenate(parts, axis=1)
    if not light_on_dark:
        row = 255 - row
    if scale != 1.0:
        row = cv2.resize(row, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return row


def in_comb(row: np.ndarray, cells: int, light_on_dark: bool) -> np.ndarray:
    """`row` (`cells` cells, no gap) with a box drawn round each cell, 1/30 of the cell height
    thick (at least a pixel), a tenth of a cell out from the digits and a fifth of paper beyond."""
    side = row.shape[0]
    paper, pen = (0, 215) if light_on_dark else (255, 40)
    room, margin = side // 10, side // 5
    out = np.full((side + 2 * (room + margin), row.shape[1] + 2 * (room + margin)), paper, np.uint8)
    out[room + margin:room + margin + side, room + margin:room + margin + row.shape[1]] = row
    thickness = max(1, round(side / 30))
    top, bottom = margin, out.shape[0] - margin - 1
    pitch = row.shape[1] / cells
    for index in range(cells + 1):
        x = int(round(margin + room + index * pitch - (room if index == 0 else 0)
                      + (room if index == cells else 0)))
        cv2.line(out, (x, top), (x, bottom), pen, thickness)
    left, right = margin, out.shape[1] - margin - 1
    cv2.line(out, (left, top), (right, top), pen, thickness)
    cv2.line(out, (left, bottom), (right, bottom), pen, thickness)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("npz", type=Path, help="whole-MNIST file (jobs/make_mnist_full_npz.py)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--split", default="t10k")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--min-len", type=int, default=3)
    parser.add_argument("--max-len", type=int, default=8)
    parser.add_argument("--light-on-dark", action="store_true", help="MNIST's own polarity")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--gap", type=int, default=0, help="blank columns between cells")
    parser.add_argument("--comb", action="store_true", help="a box round every cell")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.comb and args.gap:
        parser.error("--comb draws its boxes on cells without gaps")
    with np.load(args.npz, allow_pickle=False) as data:
        images, labels, split = data["images"], data["labels"], data["split"]
    pool = np.flatnonzero(split == args.split)
    if pool.size == 0:
        parser.error(f"{args.npz} holds no digits of split {args.split!r}")
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(args.count):
        picks = rng.choice(pool, int(rng.integers(args.min_len, args.max_len + 1)), replace=False)
        name = f"{number:05d}.png"
        image = cells_string(images, picks, args.light_on_dark, args.scale, args.gap)
        if args.comb:
            image = in_comb(image, len(picks), args.light_on_dark)
        cv2.imwrite(str(args.out / name), image)
        rows.append({"file": name, "text": "".join(str(labels[index]) for index in picks)})
    with open(args.out / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "text"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} strings of {args.split} digits under {args.out}")


if __name__ == "__main__":
    main()
