"""`batch-ocr eval LABELS.csv`: accuracy and confidence quality of a model on labelled images.

LABELS.csv has columns file,text (optionally category); files are relative to the CSV's folder.
A page's text holds its lines joined by newlines, in reading order.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import click

from batch_ocr.metrics import auroc, cer, line_accuracy


def text_category(text: str) -> str:
    """Coarse category for per-category CER: numbers, codes (letters mixed with digits) or words."""
    if re.fullmatch(r"[\d\s.,:/+\-€$£¥%°()]+", text):
        return "numbers"
    if re.search(r"\d", text) and re.search(r"[A-Za-z]", text):
        return "codes"
    return "words"


def evaluate(labels_csv: str | Path, model: str = "printed", segment: str = "line",
             batch_size: int = 64) -> dict:
    import pandas as pd

    from batch_ocr.images import ImageError, read_pages
    from batch_ocr.recognizer import load_model

    labels_path = Path(labels_csv)
    labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    if "category" not in labels.columns:
        labels["category"] = [text_category(t) for t in labels["text"]]
    recognizer = load_model(model)
    recognizer.batch_size = batch_size
    started = time.perf_counter()
    predictions, confidences, unreadable = [], [], 0
    # Read in chunks so the model batches across files, without holding the whole set in memory.
    chunk = 256
    for start in range(0, len(labels), chunk):
        rows = labels.iloc[start:start + chunk]
        pages = []
        for file in rows["file"]:
            try:
                pages.append(next(iter(read_pages(labels_path.parent / file))).gray)
            except (ImageError, StopIteration):
                pages.append(None)
        readable = [p for p in pages if p is not None]
        results = iter(recognizer.read_pages(readable, segment) if readable else [])
        for page in pages:
            if page is None:
                unreadable += 1
                predictions.append("")
                confidences.append(0.0)
                continue
            lines = next(results)
            predictions.append("\n".join(line.text for line in lines))
            confidences.append(min((line.confidence for line in lines), default=0.0))
    seconds = time.perf_counter() - started
    references = list(labels["text"])
    right = [p == r for p, r in zip(predictions, references)]
    report = {
        "labels": str(labels_path), "model": recognizer.card.get("name"),
        "model_version": recognizer.card.get("version"), "segment": segment,
        "lines": len(references), "unreadable": unreadable,
        "cer": cer(predictions, references), "line_accuracy": line_accuracy(predictions, references),
        "auroc": auroc(confidences, right),
        "by_category": {}, "seconds": round(seconds, 2),
        "lines_per_second": round(len(references) / max(seconds, 1e-9), 1),
    }
    for category, group in labels.groupby("category"):
        idx = list(group.index)
        report["by_category"][category] = {
            "lines": len(idx),
            "cer": cer([predictions[i] for i in idx], [references[i] for i in idx]),
            "line_accuracy": line_accuracy([predictions[i] for i in idx], [references[i] for i in idx]),
        }
    if "length" in labels.columns:
        report["by_length"] = {}
        for length, group in labels.groupby("length"):
            idx = list(group.index)
            report["by_length"][str(length)] = line_accuracy([predictions[i] for i in idx],
                                                             [references[i] for i in idx])
    report["errors"] = [{"file": f, "text": r, "read": p} for f, r, p, ok
                        in zip(labels["file"], references, predictions, right) if not ok][:50]
    return report


@click.command("eval")
@click.argument("labels_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", default="printed", show_default=True, help="Shipped model name or model directory.")
@click.option("--segment", type=click.Choice(["auto", "page", "line"]), default="line", show_default=True,
              help="line for crops (the default), page or auto for whole pages.")
@click.option("--batch-size", default=64, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here too.")
def eval_command(labels_csv: str, model: str, segment: str, batch_size: int, output: str | None) -> None:
    """CER, line accuracy, CER by category and confidence AUROC on labelled images (JSON)."""
    report = evaluate(labels_csv, model, segment, batch_size)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    click.echo(text)
