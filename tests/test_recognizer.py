import numpy as np
import pytest

from batch_ocr.recognizer import CropReading, join_pieces, line_confidence
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
    line = join_pieces(3, region, [piece("Hello", 0.9), piece("world", 0.5)])
    assert line.text == "Hello world"
    assert [c.char for c in line.chars] == list("Hello world")
    assert line.line == 3 and line.box == (0, 0, 100, 10)
    assert 0.5 < line.confidence < 0.9
    assert np.isclose(line.chars[5].confidence, 0.5)


def test_glued_pieces_join_without_a_space_and_empty_pieces_drop_out():
    def piece(text, p=0.9):
        return CropReading(text, p, [CharConfidence(c, p) for c in text], text)

    # A drop capital, then the rest of its word, then a speck read as nothing, then a word.
    region = LineRegion(box=(0, 0, 300, 60), pieces=[(0, 0, 50, 60), (55, 0, 80, 20),
                                                     (140, 0, 5, 5), (150, 0, 90, 20)], glued=(1,))
    line = join_pieces(0, region, [piece("O"), piece("nce"), piece(""), piece("upon")])
    assert line.text == "Once upon"
    assert "".join(c.char for c in line.chars) == line.text



def test_a_drop_capital_read_as_a_look_alike_symbol_becomes_its_letter():
    def piece(text, p=0.9):
        return CropReading(text, p, [CharConfidence(c, p) for c in text], text)

    initial = LineRegion(box=(0, 0, 300, 60), pieces=[(0, 0, 50, 60), (55, 0, 80, 20)], glued=(1,))
    assert join_pieces(0, initial, [piece("$"), piece("econd")]).text == "Second"
    assert join_pieces(0, initial, [piece("0"), piece("nce")]).text == "Once"
    assert join_pieces(0, initial, [piece("W"), piece("hen")]).text == "When"
    # Not an initial: a first piece of its own word, or a long piece cut inside a word.
    apart = LineRegion(box=(0, 0, 300, 20), pieces=[(0, 0, 10, 20), (20, 0, 80, 20)])
    assert join_pieces(0, apart, [piece("$"), piece("5")]).text == "$ 5"
    assert join_pieces(0, initial, [piece("ABC1"), piece("23")]).text == "ABC123"


def test_rotate_auto_keeps_the_surest_turn_and_maps_boxes_back():
    from batch_ocr.records import LineResult
    from batch_ocr.recognizer import Recognizer

    page = _text_page()  # layout sees horizontal lines -> turns 0 and 2 are the candidates

    class Upside(Recognizer):
        """Reads confidently only when the page is turned twice (it was upside down)."""

        def __init__(self):
            self.rotate = "auto"

        def _read_pages(self, pages, segment):
            image = pages[0]
            sure = image.shape == page.shape and np.array_equal(image, np.rot90(page, 2))
            box = (10, 20, 30, 40)
            return [[LineResult(0, "text", 0.95 if sure else 0.4, box)]]

    lines = Upside().read_pages([page])[0]
    assert lines[0].confidence == 0.95
    # A box on the half-turned page maps back onto the page as given.
    height, width = page.shape
    assert lines[0].box == (width - 10 - 30, height - 20 - 40, 30, 40)


def test_rotate_auto_keeps_the_page_as_given_when_no_turn_is_clearly_better():
    from batch_ocr.records import LineResult
    from batch_ocr.recognizer import Recognizer

    page = _text_page()

    class Even(Recognizer):
        def __init__(self):
            self.rotate = "auto"
            self.turned = 0

        def _read_pages(self, pages, segment):
            turned = not np.array_equal(pages[0], page)
            return [[LineResult(0, "abc", 0.85 if turned else 0.8, (1, 2, 3, 4))]]

    assert Even().read_pages([page])[0][0].box == (1, 2, 3, 4)


def _text_page() -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 20)
    image = Image.new("L", (420, 200), 255)
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(["The quick brown fox jumps", "over the lazy dog again and",
                                "again until the page is full"]):
        draw.text((15, 20 + 50 * row), text, font=font, fill=0)
    return np.array(image)


def test_runaway_attention_reading_falls_back_to_ctc():
    from batch_ocr.charset import EOS, PAD, Charset
    from batch_ocr.recognizer import CropReader

    reader = object.__new__(CropReader)
    reader.charset = Charset("abc/")
    a, b, c, slash = 3, 4, 5, 6
    ctc_tokens = np.array([a, a, PAD, b, PAD, c, PAD, PAD])
    ctc_probs = np.array([0.9, 0.95, 1, 0.8, 1, 0.7, 1, 1])
    # Attention agrees with CTC: its own reading and probabilities stand.
    agree = reader.reading(np.array([a, b, c, EOS]), np.array([0.9, 0.9, 0.9, 0.99]),
                           ctc_tokens, ctc_probs, 8)
    assert agree.text == "abc" and agree.ctc_text == "abc"
    assert agree.confidence > 0.9
    # Attention loops until the length cap: the CTC reading stands in, with its own confidences.
    looping = np.array([a, b, slash, c, slash, c, slash, c, slash, c])
    runaway = reader.reading(looping, np.full(10, 0.6), ctc_tokens, ctc_probs, 8)
    assert runaway.text == "abc"
    assert [round(ch.confidence, 2) for ch in runaway.chars] == [0.95, 0.8, 0.7]
    assert runaway.confidence < agree.confidence / 2  # the heads disagreed


def _reader_of_a_random_model(streams: int):
    import keras

    from test_decode import TINY

    from batch_ocr.charset import Charset
    from batch_ocr.model.build import build_srn
    from batch_ocr.recognizer import CropReader

    keras.utils.set_random_seed(3)
    # A small batch budget makes many batches, so several are in flight at once.
    return CropReader(build_srn(TINY), Charset("abcde"), TINY.height, batch_size=2,
                      max_length=12, streams=streams)


def _crops(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (16, int(width)), dtype=np.uint8)
            for width in rng.integers(8, 120, count)]


def test_batches_read_at_once_give_the_readings_of_batches_read_in_turn():
    crops = _crops(40)
    one_at_a_time = _reader_of_a_random_model(streams=1).read_crops(crops)
    reader = _reader_of_a_random_model(streams=3)
    assert not reader.first_read.is_set()  # the job's pandas import waits for it (writers.py)
    at_once = reader.read_crops(crops)
    assert reader.first_read.is_set()
    assert reader.decoder.trace_count == 1  # concurrent first calls share one trace
    assert [(r.text, r.confidence, r.ctc_text) for r in at_once] == \
        [(r.text, r.confidence, r.ctc_text) for r in one_at_a_time]
    assert any(r.text for r in at_once)  # the comparison is not between empty readings


class _Output:
    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self.value


class _DecoderFailingAt:
    """Stands in for GreedyDecoder: returns each batch's first width, raises on `bad`."""

    def __init__(self, bad: int):
        self.bad = bad
        self.calls: list[int] = []

    def decode(self, images, widths, max_length):
        self.calls.append(int(widths[0]))
        if int(widths[0]) == self.bad:
            raise RuntimeError("kernel failed")
        return [_Output(int(widths[0]))]


def test_batches_come_back_in_order_and_a_failure_stops_the_rest():
    reader = _reader_of_a_random_model(streams=2)
    reader.decoder = _DecoderFailingAt(bad=-1)
    batches = [(None, [width]) for width in range(30)]
    assert [out[0] for out in reader.decode_batches(batches, lambda batch: batch)] == \
        list(range(30))

    reader.decoder = _DecoderFailingAt(bad=3)
    with pytest.raises(RuntimeError, match="kernel failed"):
        list(reader.decode_batches([(None, [width]) for width in range(200)], lambda b: b))
    # A few batches run ahead of the one being taken (two per stream); the rest never start.
    assert len(reader.decoder.calls) <= 3 + 1 + 2 * reader.streams
