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

from batch_ocr.batching import DEFAULT_BATCH_SIZE
from batch_ocr.metrics import auroc, calibration, cer, line_accuracy


def text_category(text: str) -> str:
    """Coarse category for per-category CER: numbers, codes (letters mixed with digits) or words."""
    if re.fullmatch(r"[\d\s.,:/+\-€$£¥%°()]+", text):
        return "numbers"
    if re.search(r"\d", text) and re.search(r"[A-Za-z]", text):
        return "codes"
    return "words"


def evaluate(labels_csv: str | Path, model: str = "printed", segment: str = "line",
             batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    import pandas as pd

    from batch_ocr.images import ImageError, read_pages
    from batch_ocr.recognizer import load_model

    labels_path = Path(labels_csv)
    labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
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
        "arithmetic": getattr(recognizer, "arithmetic", "float32"),
        "lines": len(references), "unreadable": unreadable,
        "cer": cer(predictions, references), "line_accuracy": line_accuracy(predictions, references),
        "auroc": auroc(confidences, right),
        "calibration": calibration(confidences, right),
        "seconds": round(seconds, 2),
        "lines_per_second": round(len(references) / max(seconds, 1e-9), 1),
    }
    report.update(breakdown(labels, predictions))
    report["errors"] = [{"file": f, "text": r, "read": p} for f, r, p, ok
                        in zip(labels["file"], references, predictions, right) if not ok][:50]
    return report



def breakdown(labels, predictions: list[str]) -> dict:
    """CER and line accuracy by text category (the labels' own, else `text_category`) and by
    reference length:
    exact lengths for short strings (digit strings, codes), ranges of ten for longer lines."""
    references = list(labels["text"])

    def scores(idx: list[int]) -> dict:
        preds, refs = [predictions[i] for i in idx], [references[i] for i in idx]
        return {"lines": len(idx), "cer": cer(preds, refs), "line_accuracy": line_accuracy(preds, refs)}

    labels = labels.reset_index(drop=True)
    out: dict = {"by_category": {}, "by_length": {}}
    categories = labels["category"] if "category" in labels else labels["text"].map(text_category)
    for category, group in labels.groupby(categories):
        out["by_category"][category] = scores(list(group.index))
    lengths = labels["text"].str.len()
    buckets = lengths.astype(str) if lengths.max() <= 12 else (
        ((lengths - 1) // 10 * 10 + 1).astype(str) + "-" + ((lengths - 1) // 10 * 10 + 10).astype(str))
    for bucket, group in sorted(labels.groupby(buckets), key=lambda kv: int(kv[0].split("-")[0])):
        out["by_length"][bucket] = scores(list(group.index))
    return out

def record_in_card(model: str, name: str, report: dict, data_note: str) -> None:
    """Keep a model's held-out figures with the model: card.json gets evaluations[name]."""
    from batch_ocr.recognizer import resolve_model_dir

    card_path = resolve_model_dir(model) / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    summary = {k: v for k, v in report.items() if k not in ("errors", "labels")}
    summary["data"] = data_note or report.get("labels", "")
    card.setdefault("evaluations", {})[name] = summary
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@click.command("eval")
@click.argument("labels_csv", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--pages", "pages_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Whole pages instead: GT_DIR holds images with NAME.txt ground truth (lines in reading order).")
@click.option("--model", default="printed", show_default=True, help="Shipped model name or model directory.")
@click.option("--segment", type=click.Choice(["auto", "page", "line"]), default=None,
              help="Default: line for labelled crops, page with --pages.")
@click.option("--against-tesseract", is_flag=True, help="With --pages: Tesseract on the same pages, side by side.")
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here too.")
@click.option("--record-as", default=None,
              help="Store the summary in the model directory's card.json under evaluations.NAME.")
@click.option("--data-note", default="", help="With --record-as: what the labelled data is.")
def eval_command(labels_csv: str | None, pages_dir: str | None, model: str, segment: str | None,
                 against_tesseract: bool, batch_size: int, output: str | None,
                 record_as: str | None, data_note: str) -> None:
    """CER, line accuracy, CER by category and confidence AUROC on labelled crops (LABELS.csv), or
    page CER in reading order and order-free word F1 on whole pages (--pages GT_DIR). JSON out."""
    if bool(labels_csv) == bool(pages_dir):
        raise click.UsageError("give either LABELS_CSV or --pages GT_DIR")
    if pages_dir:
        from batch_ocr.page_eval import evaluate_pages, tesseract_pages

        report = evaluate_pages(pages_dir, model, segment or "page", batch_size)
        if against_tesseract:
            report = {"batch_ocr": report, "tesseract": tesseract_pages(pages_dir)}
    else:
        report = evaluate(labels_csv, model, segment or "line", batch_size)
    if record_as:
        record_in_card(model, record_as, report, data_note)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    click.echo(text)
