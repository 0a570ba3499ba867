"""Redraw a set of line crops (made for the digits model's test set, make_eval_set's 32-pixel
crops; any folder of crops with a labels.csv will do) the ways real images of handwritten
numbers and cut-out lines differ from it, one folder per way, each with its own labels.csv:

  up           three times the size (bicubic)
  pad          up, inside a margin of paper (the segmenter finds the line)
  underline    pad, with a dark ruled line through the digits' feet (a form field, lined paper)
  boxed        pad, inside a drawn box 30 pixels in from the edges (a label, a boxed field)
  inverted     pad, light digits on dark
  thick        pad, strokes thickened (a felt pen)
  thin         pad, strokes thinned (a fine ballpoint)
  noisy        pad, sensor noise and JPEG at quality 35
  lowcontrast  pad, grey ink on grey paper

    python jobs/make_digit_variants.py work/data/digits_test work/data/digit_variants --count 400
    batch-ocr eval work/data/digit_variants/underline/labels.csv --model digits --segment auto
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np


def variants(image: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    up = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    paper = int(np.percentile(up, 95))
    pad = cv2.copyMakeBorder(up, 60, 60, 80, 80, cv2.BORDER_CONSTANT, value=paper)
    underline = pad.copy()
    feet = 60 + up.shape[0] - 8
    underline[feet:feet + 3, 40:-40] = 40
    boxed = pad.copy()
    cv2.rectangle(boxed, (30, 30), (boxed.shape[1] - 31, boxed.shape[0] - 31), 30, 3)
    noisy = np.clip(pad.astype(np.float32) + rng.normal(0, 18, pad.shape), 0, 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 35])
    return {"up": up, "pad": pad, "underline": underline, "boxed": boxed, "inverted": 255 - pad,
            "thick": cv2.erode(pad, np.ones((5, 5), np.uint8)),
            "thin": cv2.dilate(pad, np.ones((5, 5), np.uint8)),
            "noisy": cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE),
            "lowcontrast": (pad.astype(np.float32) * 0.5 + 90).astype(np.uint8)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a folder with labels.csv (file,text) and its crops")
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=400, help="the first COUNT crops")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with open(args.source / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:args.count]
    rng = np.random.default_rng(args.seed)
    written: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        image = cv2.imread(str(args.source / row["file"]), cv2.IMREAD_GRAYSCALE)
        for name, drawn in variants(image, rng).items():
            folder = args.out / name
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / row["file"]), drawn)
            written.setdefault(name, []).append(row)
    for name, labelled in written.items():
        with open(args.out / name / "labels.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file", "text"])
            writer.writeheader()
            writer.writerows({"file": row["file"], "text": row["text"]} for row in labelled)
    print(f"{len(rows)} crops in {len(written)} ways under {args.out}")


if __name__ == "__main__":
    main()
