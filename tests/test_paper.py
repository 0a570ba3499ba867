"""binarize.paper_to_white: crops reach the model on white paper whatever the paper's shade."""
from __future__ import annotations

import cv2
import numpy as np

from batch_ocr.binarize import paper_to_white
from batch_ocr.recognizer import prepare_page


def _line(paper: int, ink: int) -> np.ndarray:
    image = np.full((40, 240), paper, np.uint8)
    cv2.putText(image, "Grey 1234", (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, ink, 2, cv2.LINE_AA)
    return image


def test_every_level_is_scaled_so_that_the_paper_is_white():
    # Every grey level once, and enough paper at 150 to be the median.
    levels = np.arange(256, dtype=np.uint8)
    image = np.concatenate([levels, np.full(1000, 150, np.uint8)]).reshape(4, -1)
    out = paper_to_white(image).ravel()
    expected = np.clip(levels.astype(np.float32) * np.float32(255.0 / 150.0), 0, 255)
    assert np.array_equal(out[:256], expected.astype(np.uint8))
    assert (out[256:] == 255).all()
    # Ink keeps its share of the paper's brightness, and above the paper all goes white.
    assert out[30] == 51 and out[200] == 255


def test_white_paper_and_blank_images_are_left_as_they_are():
    white = _line(255, 0)
    assert np.array_equal(paper_to_white(white), white)
    black = np.zeros((10, 10), np.uint8)  # no paper level to scale by
    assert np.array_equal(paper_to_white(black), black)
    assert paper_to_white(np.zeros((0, 5), np.uint8)).size == 0


def test_a_line_on_grey_paper_is_cut_into_crops_on_white_paper():
    grey = prepare_page(_line(140, 20), "line", 32)
    white = prepare_page(_line(255, 36), "line", 32)  # the same line, white paper, its ink level
    assert len(grey.crops) == len(white.crops) == 1
    for piece, same in zip(grey.crops[0], white.crops[0]):
        assert np.median(piece) == 255
        assert piece.shape == same.shape
        assert np.abs(piece.astype(int) - same.astype(int)).mean() < 2.0


def test_light_print_on_dark_paper_is_not_scaled():
    # Turned over crop by crop (batching.to_dark_on_light); scaled by its dark paper first, it
    # would be all white.
    dark = prepare_page(255 - _line(255, 0), "line", 32)
    light = prepare_page(_line(255, 0), "line", 32)
    for piece, same in zip(dark.crops[0], light.crops[0]):
        assert np.array_equal(piece, same)


def test_labelled_crops_for_training_are_cut_on_white_paper_as_run_cuts_them(tmp_path):
    from batch_ocr.train.sources import LabelledSource

    cv2.imwrite(str(tmp_path / "grey.png"), _line(140, 20))
    (tmp_path / "labels.csv").write_text("file,text\ngrey.png,Grey 1234\n", encoding="utf-8")
    ((crop, text),) = LabelledSource(tmp_path, 32).all()
    assert text == "Grey 1234" and crop.shape[0] == 32
    assert np.median(crop) == 255
