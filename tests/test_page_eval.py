"""Page-level metrics on hand-made strings, and the evaluation loop with a stand-in recogniser."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from batch_ocr.page_eval import evaluate_pages, normalise_lines, page_cer, score_pages, word_f1


def test_page_cer_counts_characters_and_line_breaks():
    truth = ["Hello world", "second line"]
    assert page_cer(truth, truth) == 0.0
    assert page_cer(["Hello  world ", "", "second line"], truth) == 0.0  # spacing is layout
    total = len("Hello world\nsecond line")
    assert page_cer(["Hello word", "second line"], truth) == pytest.approx(1 / total)
    # Merging two lines costs the newline, which becomes a space: one substitution.
    assert page_cer(["Hello world second line"], truth) == pytest.approx(1 / total)
    # Wrong reading order is an error for CER...
    assert page_cer(["second line", "Hello world"], truth) > 0.3
    assert page_cer([], truth) == 1.0


def test_word_f1_is_order_free_and_counts_repeats():
    assert word_f1("b a c", "a b c") == 1.0
    assert word_f1("", "") == 1.0
    assert word_f1("", "a b") == 0.0
    # Two of three true words, two of four predicted words: P = 0.5, R = 2/3.
    assert word_f1("a b x y", "a b c") == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    # A repeated word counts once per occurrence.
    assert word_f1("the the", "the cat") == pytest.approx(0.5)
    assert word_f1("O nce upon", "Once upon") == pytest.approx(2 * 1 / 5)


def test_score_pages_micro_averages():
    report = score_pages([["ab"], ["abcd", "efgh"]], [["ab"], ["abcd", "efgx"]])
    assert report["pages"] == 2
    assert report["cer"] == pytest.approx(1 / (2 + 9))
    assert report["word_recall"] == pytest.approx(2 / 3)
    assert report["page_cer"] == [0.0, round(1 / 9, 4)]
    assert normalise_lines([" a  b ", "  ", "c"]) == ["a b", "c"]


@dataclass
class _Line:
    text: str


class _FakeReader:
    """Reads a page as the lines of its truth file, with the first character of each dropped."""

    def __init__(self, answers: dict[int, list[str]]):
        self.answers = answers

    def read_pages(self, pages, segment):
        assert segment == "page"
        return [[_Line(t[1:]) for t in self.answers[int(page[0, 0])]] for page in pages]


def test_evaluate_pages_reads_every_image_with_truth(tmp_path):
    answers = {10: ["xfirst line", "xsecond"], 20: ["xonly line"]}
    for value, lines in answers.items():
        image = np.full((40, 60), 255, np.uint8)
        image[0, 0] = value  # tells the fake reader which page this is
        Image.fromarray(image).save(tmp_path / f"p{value}.png")
        (tmp_path / f"p{value}.txt").write_text("\n".join(t[1:] for t in lines) + "\n")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "no_truth.png")
    report = evaluate_pages(tmp_path, _FakeReader(answers))
    assert report["pages"] == 2 and report["files"] == ["p10.png", "p20.png"]
    assert report["cer"] == 0.0 and report["word_f1"] == 1.0
    assert report["pages_per_second"] > 0
