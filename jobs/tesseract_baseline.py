"""Tesseract on the same labelled crops as `batch-ocr eval`, for side-by-side figures.

    python jobs/tesseract_baseline.py LABELS.csv [--psm 7] [--whitelist 0123456789]

Needs the `tesseract` binary (Debian: tesseract-ocr). Prints JSON: CER, line accuracy, lines/s.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import pandas as pd

from batch_ocr.evaluate import breakdown
from batch_ocr.metrics import cer, line_accuracy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("labels")
    parser.add_argument("--psm", default="7")
    parser.add_argument("--whitelist", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    labels_path = Path(args.labels)
    labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    if args.limit:
        labels = labels.head(args.limit)
    command = ["tesseract", "-", "-", "--psm", args.psm]
    if args.whitelist:
        command += ["-c", f"tessedit_char_whitelist={args.whitelist}"]
    predictions = []
    started = time.perf_counter()
    for file in labels["file"]:
        with open(labels_path.parent / file, "rb") as image:
            out = subprocess.run(command, stdin=image, capture_output=True, text=True, check=False)
        predictions.append(" ".join(out.stdout.split()))
    seconds = time.perf_counter() - started
    references = list(labels["text"])
    print(json.dumps({"engine": "tesseract", "labels": str(labels_path), "lines": len(references),
                      "cer": cer(predictions, references),
                      "line_accuracy": line_accuracy(predictions, references),
                      "lines_per_second": round(len(references) / seconds, 2),
                      **breakdown(labels, predictions)}, indent=2))


if __name__ == "__main__":
    main()
