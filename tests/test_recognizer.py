import numpy as np

from batch_ocr.recognizer import CropReading, _join_pieces, line_confidence
from batch_ocr.records import CharConfidence, LineRegion


def test_line_confidence_is_monotone_in_character_probabilities():
    low = line_confidence([0.9, 0.5, 0.9], 0.99, True)
    high = line_confidence([0.9, 0.8, 0.9], 0.99, True)
    assert 0 < low < high <= 1
    assert line_confidence([0.9, 0.8, 0.9], 0.99, False) == high / 2
    # A line cut at the length cap (no EOS) is doubted.
    assert line_confidence([0.99] * 5, 0.0, True) < 0.2


def test_pieces_join_with_single_spaces():
    def piece(text, p):
        return CropReading(text, p, [CharConfidence(c, p) for c in text], text)

    region = LineRegion(box=(0, 0, 100, 10), pieces=[(0, 0, 40, 10), (50, 0, 50, 10)])
    line = _join_pieces(3, region, [piece("Hello", 0.9), piece("world", 0.5)])
    assert line.text == "Hello world"
    assert [c.char for c in line.chars] == list("Hello world")
    assert line.line == 3 and line.box == (0, 0, 100, 10)
    assert 0.5 < line.confidence < 0.9
    assert np.isclose(line.chars[5].confidence, 0.5)
