"""`batch-ocr eval LABELS.csv`: the figures, their breakdowns and the CLI's JSON output."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from batch_ocr.cli import main
from batch_ocr.evaluate import breakdown

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def test_breakdown_by_category_and_length():
    labels = pd.DataFrame({"text": ["abc", "12", "abc", "W4R-91M"], "category": ["words", "numbers", "words", "codes"]})
    report = breakdown(labels, ["abc", "13", "abd", "W4R-91M"])
    assert report["by_category"]["words"] == {"lines": 2, "cer": 1 / 6, "line_accuracy": 0.5}
    assert report["by_category"]["numbers"]["line_accuracy"] == 0.0
    assert report["by_category"]["codes"]["cer"] == 0.0
    # Short strings are bucketed by exact length.
    assert set(report["by_length"]) == {"2", "3", "7"} and report["by_length"]["3"]["lines"] == 2


def test_breakdown_infers_categories_and_buckets_long_lines_by_ten():
    texts = ["a" * 15, "123", "x" * 25]
    report = breakdown(pd.DataFrame({"text": texts}), texts)
    assert set(report["by_category"]) == {"words", "numbers"}
    assert list(report["by_length"]) == ["1-10", "11-20", "21-30"]


def test_eval_command_reports_digits_samples(tmp_path):
    out = tmp_path / "eval.json"
    done = CliRunner().invoke(main, ["eval", str(SAMPLES / "digits" / "labels.csv"), "--model", "digits",
                                     "-o", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads(out.read_text(encoding="utf-8"))
    labels = pd.read_csv(SAMPLES / "digits" / "labels.csv", dtype=str)
    assert report["lines"] == len(labels) and report["unreadable"] == 0
    assert report["model"] == "digits" and report["segment"] == "line"
    # The shipped digits model reads most of its own sample strings (see test_end_to_end).
    assert report["line_accuracy"] >= 0.6 and report["cer"] < 0.15
    assert sum(g["lines"] for g in report["by_category"].values()) == len(labels)
    assert len(report["errors"]) == round((1 - report["line_accuracy"]) * len(labels))
