"""Accuracy and confidence-quality measures shared by training validation and `batch-ocr eval`."""
from __future__ import annotations

import numpy as np


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(predictions: list[str], references: list[str]) -> float:
    """Character error rate: total edit distance over total reference characters."""
    errors = sum(edit_distance(p, r) for p, r in zip(predictions, references))
    return errors / max(1, sum(len(r) for r in references))


def line_accuracy(predictions: list[str], references: list[str]) -> float:
    return float(np.mean([p == r for p, r in zip(predictions, references)])) if references else 0.0


def auroc(scores: list[float], positives: list[bool]) -> float | None:
    """Area under the ROC curve: the chance that a right line scores above a wrong one (ties count
    half). None when only one class is present, where the question has no answer."""
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties so equal confidences count half.
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration(scores: list[float], positives: list[bool], edges=(0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
                ) -> list[dict]:
    """Line accuracy per confidence range, so a user can pick a threshold: for each range, how
    many lines fall in it and how many of them are exactly right."""
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    table = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (scores >= low) & ((scores < high) if high < edges[-1] else (scores <= high))
        count = int(inside.sum())
        table.append({"confidence": f"{low:.2f}-{high:.2f}", "lines": count,
                      "line_accuracy": float(positives[inside].mean()) if count else None})
    return table
