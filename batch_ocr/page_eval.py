"""Page-level accuracy: CER of the whole page in reading order, and an order-free word F1.

A ground-truth directory holds images with a `NAME.txt` beside each (`NAME.png`, `.jpg`, ...): the
page's lines in reading order. CER compares the lines joined by newlines, so a wrong reading order
costs as much as misread text; word F1 compares the multisets of words, so it measures reading
alone. `tesseract_pages` gives the same figures for the `tesseract` binary, side by side.
"""
from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

from batch_ocr.batching import DEFAULT_BATCH_SIZE
from batch_ocr.metrics import edit_distance

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def normalise_lines(lines: list[str]) -> list[str]:
    """Lines with runs of whitespace collapsed to one space and empty lines dropped."""
    return [" ".join(line.split()) for line in lines if line.strip()]


def page_cer(pred_lines: list[str], gt_lines: list[str]) -> float:
    """Edit distance between the pages' normalised lines joined by newlines, over the truth's
    characters (newlines included: a line split or merged costs one)."""
    pred = "\n".join(normalise_lines(pred_lines))
    truth = "\n".join(normalise_lines(gt_lines))
    return edit_distance(pred, truth) / max(1, len(truth))


def word_counts(pred_text: str, gt_text: str) -> tuple[int, int, int]:
    """(matched, predicted, true) word counts; words are whitespace-separated tokens."""
    pred, truth = Counter(pred_text.split()), Counter(gt_text.split())
    return sum((pred & truth).values()), sum(pred.values()), sum(truth.values())


def word_f1(pred_text: str, gt_text: str) -> float:
    """F1 of the multisets of words, order-free. Two empty texts agree (1.0)."""
    return _f1(*word_counts(pred_text, gt_text))


def _f1(matched: int, predicted: int, true: int) -> float:
    if predicted == 0 and true == 0:
        return 1.0
    return 2.0 * matched / max(1, predicted + true)


def page_pairs(gt_dir: str | Path) -> list[tuple[Path, list[str]]]:
    """(image, truth lines) for every image in `gt_dir` that has a NAME.txt, sorted by name."""
    pairs = []
    for image in sorted(Path(gt_dir).iterdir()):
        truth = image.with_suffix(".txt")
        if image.suffix.lower() in IMAGE_SUFFIXES and truth.is_file():
            pairs.append((image, truth.read_text(encoding="utf-8").splitlines()))
    return pairs


def score_pages(predictions: list[list[str]], truths: list[list[str]]) -> dict:
    """Totals over pages: CER over all characters (micro), word precision/recall/F1 (micro)."""
    errors = chars = matched = predicted = true = 0
    worst = []
    for pred, truth in zip(predictions, truths):
        p, t = "\n".join(normalise_lines(pred)), "\n".join(normalise_lines(truth))
        distance = edit_distance(p, t)
        errors, chars = errors + distance, chars + len(t)
        m, n_pred, n_true = word_counts(p, t)
        matched, predicted, true = matched + m, predicted + n_pred, true + n_true
        worst.append(distance / max(1, len(t)))
    return {"pages": len(truths), "cer": errors / max(1, chars),
            "word_precision": matched / max(1, predicted), "word_recall": matched / max(1, true),
            "word_f1": _f1(matched, predicted, true),
            "page_cer": [round(c, 4) for c in worst]}


def evaluate_pages(gt_dir: str | Path, model="printed", segment: str = "page",
                   batch_size: int = DEFAULT_BATCH_SIZE, limit: int | None = None) -> dict:
    """`batch-ocr eval --pages GT_DIR`: page CER in reading order and word F1 of a recogniser.

    `model` is a model name or directory, or an already loaded recogniser (anything with
    `read_pages(pages, segment) -> list[list[LineResult]]`)."""
    from batch_ocr.images import read_pages

    recognizer = model
    if isinstance(model, (str, Path)):
        from batch_ocr.recognizer import load_model

        recognizer = load_model(str(model))
    if hasattr(recognizer, "batch_size"):
        recognizer.batch_size = batch_size
    pairs = page_pairs(gt_dir)[:limit]
    predictions, truths = [], []
    started = time.perf_counter()
    for image, truth in pairs:
        gray = next(iter(read_pages(image))).gray
        lines = recognizer.read_pages([gray], segment)[0]
        predictions.append([line.text for line in lines])
        truths.append(truth)
    seconds = time.perf_counter() - started
    report = {"engine": "batch-ocr", "gt_dir": str(gt_dir), "segment": segment,
              **score_pages(predictions, truths), "seconds": round(seconds, 2),
              "pages_per_second": round(len(pairs) / max(seconds, 1e-9), 3)}
    card = getattr(recognizer, "card", {})
    report["model"], report["model_version"] = card.get("name"), card.get("version")
    report["arithmetic"] = getattr(recognizer, "arithmetic", "float32")
    report["files"] = [image.name for image, _ in pairs]
    return report


def tesseract_pages(gt_dir: str | Path, limit: int | None = None,
                    command: tuple[str, ...] = ("tesseract",)) -> dict:
    """The same report for `tesseract IMG -` (its default page segmentation), side by side."""
    pairs = page_pairs(gt_dir)[:limit]
    predictions, truths = [], []
    started = time.perf_counter()
    for image, truth in pairs:
        out = subprocess.run([*command, str(image), "-"], capture_output=True, text=True,
                             check=False)
        predictions.append(out.stdout.splitlines())
        truths.append(truth)
    seconds = time.perf_counter() - started
    return {"engine": "tesseract", "gt_dir": str(gt_dir), **score_pages(predictions, truths),
            "seconds": round(seconds, 2),
            "pages_per_second": round(len(pairs) / max(seconds, 1e-9), 3),
            "files": [image.name for image, _ in pairs]}
