import pytest

from batch_ocr.metrics import auroc, cer, edit_distance, line_accuracy


@pytest.mark.parametrize("a,b,d", [("", "", 0), ("abc", "abc", 0), ("abc", "abd", 1), ("", "abc", 3),
                                   ("kitten", "sitting", 3), ("W4R-91M", "W4R91M", 1)])
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d
    assert edit_distance(b, a) == d


def test_cer_and_line_accuracy():
    assert cer(["abc", "xy"], ["abd", "xy"]) == pytest.approx(1 / 5)
    assert line_accuracy(["abc", "xy"], ["abd", "xy"]) == 0.5


def test_auroc_ranks_and_ties():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.5, 0.7], [True, True]) is None


def test_calibration_counts_lines_and_accuracy_per_confidence_range():
    from batch_ocr.metrics import calibration

    table = calibration([0.1, 0.2, 0.92, 0.99, 1.0], [False, True, True, True, False])
    by_range = {row["confidence"]: row for row in table}
    assert by_range["0.00-0.50"] == {"confidence": "0.00-0.50", "lines": 2, "line_accuracy": 0.5}
    assert by_range["0.95-1.00"]["lines"] == 2  # 1.0 falls in the top range
    assert by_range["0.70-0.80"]["line_accuracy"] is None
    assert sum(row["lines"] for row in table) == 5
