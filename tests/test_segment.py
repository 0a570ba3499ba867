"""Layout analysis on pages rendered with DejaVu fonts, where every line's true ink box is known."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFont

from batch_ocr.segment import LINE_CROP_ASPECT, LINE_CROP_LETTERS, MAX_PIECE_ASPECT, find_lines

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
SANS = FONT_DIR + "DejaVuSans.ttf"
SERIF = FONT_DIR + "DejaVuSerif.ttf"
TOLERANCE = 3  # px: boxes must match the rendered ink this closely on every side

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Müller's Café sells naïve façades, 42 each!",
    "Pack my box with five dozen liquor jugs (Q3).",
    "Sphinx of black quartz, judge my vow; yes.",
    "Invoice INV-2026-0042 due 15/01/2026",
    "Ångström, jigsaw, gypsy, quiz and épée",
    "How vexingly quick daft zebras jump",
    "Total: 1,234.50 EUR",
]

Spec = tuple[str, str, int, int, int]  # text, font, size, x, y


def render(specs: list[Spec], size: tuple[int, int], angle: float = 0.0
           ) -> tuple[np.ndarray, list[tuple]]:
    """Black text on white, turned by `angle` degrees; returns the page and each line's true ink
    box (x, y, w, h) on the turned page."""
    page = Image.new("L", size, 255)
    boxes = []
    for text, font_path, font_size, x, y in specs:
        font = ImageFont.truetype(font_path, font_size)
        ImageDraw.Draw(page).text((x, y), text, font=font, fill=0)
        alone = Image.new("L", size, 0)
        ImageDraw.Draw(alone).text((x, y), text, font=font, fill=255)
        if angle:
            alone = alone.rotate(angle, resample=Image.BILINEAR)
        ys, xs = np.nonzero(np.asarray(alone) > 127)
        boxes.append((xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()))
    if angle:
        page = page.rotate(angle, resample=Image.BILINEAR, fillcolor=255)
    return np.asarray(page).copy(), boxes


def stacked(texts_fonts_sizes: list[tuple[str, str, int]], width: int, x: int = 40,
            leading: float = 1.25) -> tuple[np.ndarray, list[tuple]]:
    specs, y = [], 30
    for text, font, size in texts_fonts_sizes:
        specs.append((text, font, size, x, y))
        y += int(round(size * leading))
    return render(specs, (width, y + 40))


def assert_box_matches(found, truth, tolerance=TOLERANCE):
    fx, fy, fw, fh = found
    tx, ty, tw, th = truth
    assert abs(fx - tx) <= tolerance and abs(fy - ty) <= tolerance, (found, truth)
    assert abs(fx + fw - tx - tw) <= tolerance, (found, truth)
    assert abs(fy + fh - ty - th) <= tolerance, (found, truth)


def assert_lines_match(regions, truths, tolerance=TOLERANCE):
    assert len(regions) == len(truths)
    for region, truth in zip(regions, truths):
        assert_box_matches(region.box, truth, tolerance)
    tops = [region.box[1] for region in regions]
    assert tops == sorted(tops)


def five_line_page():
    return stacked([(SENTENCES[i], SANS, 28) for i in range(5)], width=900)


def test_five_line_page_found_in_order_with_tight_boxes():
    page, truths = five_line_page()
    assert_lines_match(find_lines(page, "page"), truths)


def test_twelve_lines_of_mixed_fonts_and_sizes_with_tight_leading():
    sizes = [18, 24, 40, 20, 30, 16, 22, 36, 18, 26, 20, 28]
    lines = [(SENTENCES[i % len(SENTENCES)], SANS if i % 2 else SERIF, s)
             for i, s in enumerate(sizes)]
    # 1.15 leading: descenders of one line come within a few pixels of the next line's accents.
    page, truths = stacked(lines, width=1100, leading=1.15)
    assert_lines_match(find_lines(page, "page"), truths)
    assert_lines_match(find_lines(page, "auto"), truths)


@pytest.mark.parametrize("size", [15, 147])
def test_small_and_large_text(size):
    # DejaVu's x-height is about 0.55 em: 15 px -> 8 px x-height, 147 px -> 80 px.
    lines = [(SENTENCES[i][:24], SANS, size) for i in range(3)]
    page, truths = stacked(lines, width=int(size * 14) + 80, leading=1.3)
    assert_lines_match(find_lines(page, "page"), truths)


def test_inverted_page_white_on_black():
    page, truths = five_line_page()
    assert_lines_match(find_lines(255 - page, "page"), truths)


def test_uneven_illumination_gradient():
    page, truths = five_line_page()
    h, w = page.shape
    yy, xx = np.mgrid[0:h, 0:w]
    # Light falls from 1.0 to 0.27 across the page and ink reflects 30 % (a shadowed photo).
    light = 1.0 - 0.73 * (xx / w * 0.6 + yy / h * 0.4)
    shaded = (255 * light * (0.3 + 0.7 * page / 255.0)).clip(0, 255).astype(np.uint8)
    # No global threshold separates this page: shaded paper is darker than the brightest ink,
    # which is what the background division is for.
    assert shaded[page == 255].min() < shaded[page == 0].max()
    assert_lines_match(find_lines(shaded, "page"), truths)


@pytest.mark.parametrize("shaded", [False, True])
def test_even_paper_shortcut_gives_the_ink_of_the_full_median_filter(shaded, monkeypatch):
    """Even paper takes a one-level background (binarize._background's probe); uneven light still
    gets the full median filter. Either way the ink is what the full filter alone finds."""
    from batch_ocr import binarize

    page, _ = five_line_page()
    rng = np.random.default_rng(3)
    page = (0.9 * page + 10 + rng.normal(0, 2.0, page.shape)).clip(0, 255).astype(np.uint8)
    if shaded:
        page = (page * np.linspace(1.0, 0.55, page.shape[1])[None, :]).astype(np.uint8)
    small = cv2.resize(page, (512, round(512 * page.shape[0] / page.shape[1])),
                       interpolation=cv2.INTER_AREA)
    background = binarize._background(small, 128)
    assert isinstance(background, np.ndarray) == shaded
    fast = binarize.flatten(page)
    monkeypatch.setattr(binarize, "_EVEN_PAPER_LEVELS", -1)  # every background is uneven
    full = binarize.flatten(page)
    assert fast is not None and full is not None
    assert abs(fast.paper - full.paper) <= 1 and abs(fast.threshold - full.threshold) <= 2
    differing = np.count_nonzero(fast.ink != full.ink) / np.count_nonzero(full.ink)
    assert differing < 0.01


def _flatten_by_pixels(gray: np.ndarray, background: float):
    """flatten's arithmetic on even paper written out per pixel (what `_flatten_even` computes
    from histograms): (flat, paper, threshold, noise)."""
    from batch_ocr.stats import median

    small = gray if max(gray.shape) <= 512 else cv2.resize(
        gray, (512, max(3, round(gray.shape[0] * 512 / gray.shape[1]))),
        interpolation=cv2.INTER_AREA)
    deviation = small.astype(np.float32) - background
    noise = 1.4826 * median(np.abs(deviation)) + 1.0
    darker = float(np.clip(-deviation - 3 * noise, 0, None).sum())
    lighter = float(np.clip(deviation - 3 * noise, 0, None).sum())
    if lighter > darker:
        gray, background = 255 - gray, 255.0 - background
    return _divided_by_pixels(gray, max(background, max(1.0, 0.4 * background)))


def _divided_by_pixels(gray: np.ndarray, background):
    """The rest of flatten's arithmetic per pixel, once the background (one level or a full-size
    map) is final: (flat, paper, threshold, noise)."""
    from batch_ocr.stats import median

    flat = gray.astype(np.float32) * (255.0 / background)
    rows = flat[::4]
    noise = 1.0483 * median(np.abs(rows[:, 1:] - rows[:, :-1]))
    flat = np.clip(flat, 0, 255).astype(np.uint8)
    cumulative = np.cumsum(np.bincount(flat.ravel(), minlength=256))
    paper = float(np.searchsorted(cumulative, cumulative[-1] / 2.0))
    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return flat, paper, min(float(otsu), paper - 4.0 * noise), noise


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("width", [300, 900])  # a crop, and a page wider than the work size
def test_even_paper_flattening_from_histograms_is_the_per_pixel_arithmetic(invert, width):
    from batch_ocr import binarize

    rng = np.random.default_rng(width)
    page, _ = render([(SENTENCES[0], SANS, 24, 10, 8)], (width, 48))
    page = (0.8 * page + 30 + rng.normal(0, 1.0, page.shape)).clip(0, 255).astype(np.uint8)
    if invert:
        page = 255 - page
    small = page if width <= 512 else cv2.resize(
        page, (512, round(page.shape[0] * 512 / width)), interpolation=cv2.INTER_AREA)
    background = binarize._background(small, max(3, max(small.shape) // 4))
    assert not isinstance(background, np.ndarray)  # the even-paper path is the one under test
    flat, paper, threshold, noise = _flatten_by_pixels(page, background)
    got = binarize.flatten(page)
    assert got is not None
    assert (got.paper, got.threshold, got.noise) == (paper, threshold, noise)
    assert np.array_equal(got.flat, flat)
    assert np.count_nonzero(got.ink) > 100  # the text, dark on light whichever way it came


@pytest.mark.parametrize("invert", [False, True])
def test_a_crop_cut_with_its_frame_is_read_the_right_way_round(invert):
    # A form's cell cut out with its border: the frame runs along every edge of the image. The
    # background filter once repeated those edge rows outward, took the frame for the
    # background, and the crop for light text on dark: no line at all.
    from batch_ocr import binarize

    width = int(ImageFont.truetype(SANS, 28).getlength("Invoice 4471-B")) + 24
    page, truths = render([("Invoice 4471-B", SANS, 28, 12, 8)], (width, 48))
    page[:2], page[-2:], page[:, :2], page[:, -2:] = 0, 0, 0, 0
    if invert:
        page = 255 - page
    flat = binarize.flatten(page)
    assert flat is not None
    x, y, w, h = truths[0]
    letters = (page < 128) if not invert else (page > 127)
    inside = flat.ink[y:y + h, x:x + w]
    assert (inside == letters[y:y + h, x:x + w]).mean() > 0.97  # the letters are the ink
    for mode in ("line", "auto"):
        regions = find_lines(page, mode)
        assert len(regions) == 1
        rx, ry, rw, rh = regions[0].box
        assert rx <= x + TOLERANCE and rx + rw >= x + w - TOLERANCE


@pytest.mark.parametrize("shape", [(40, 300), (700, 900), (4100, 4100)])  # OpenCV, bincount
def test_histogram_counts_every_grey_level_exactly(shape):
    from batch_ocr.binarize import _histogram

    gray = np.random.default_rng(shape[0]).integers(0, 256, shape, dtype=np.uint8)[:, ::-1]
    counts = _histogram(gray)
    assert counts.dtype == np.int64 and counts.sum() == gray.size
    assert np.array_equal(counts, np.bincount(gray.ravel(), minlength=256))


def test_uneven_paper_flattening_is_the_per_pixel_arithmetic():
    """flatten under a shaded background (the median map) gives what the arithmetic written out
    per pixel gives, bit for bit."""
    from batch_ocr import binarize
    from batch_ocr.stats import median, quantile

    page, _ = five_line_page()
    page = (page * np.linspace(1.0, 0.55, page.shape[1])[None, :]).astype(np.uint8)
    page = np.tile(page, (2, 2))  # over 2**16 pixels and wider than the work size
    height, width = page.shape
    scale = 512 / max(height, width)
    small = cv2.resize(page, (round(width * scale), round(height * scale)),
                       interpolation=cv2.INTER_AREA)
    background = binarize._background(small, max(small.shape) // 4)
    assert isinstance(background, np.ndarray)
    deviation = small.astype(np.float32) - background
    noise = 1.4826 * median(np.abs(deviation)) + 1.0
    assert np.clip(deviation - 3 * noise, 0, None).sum() < np.clip(-deviation - 3 * noise, 0,
                                                                    None).sum()  # dark on light
    background = np.maximum(background, max(1.0, 0.4 * quantile(background, 0.95)))
    background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    flat, paper, threshold, noise = _divided_by_pixels(page, background)
    got = binarize.flatten(page)
    assert got is not None and np.array_equal(got.flat, flat)
    assert (got.paper, got.noise, got.threshold) == (paper, noise, threshold)


def test_block_labelling_gives_opencvs_default_components_in_the_same_order():
    """_components labels with BBDT (faster with one OpenCV thread); layout depends on the
    components' order, so it must match the default algorithm's exactly."""
    from batch_ocr.binarize import binarise
    from batch_ocr.segment import _components

    page, _ = five_line_page()
    noisy = (page + np.random.default_rng(5).normal(0, 25, page.shape)).clip(0, 255)
    for image in (page, noisy.astype(np.uint8)):
        ink = binarise(image)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8),
                                                                    connectivity=8)
        comps = _components(ink)
        assert comps.area.size == count - 1 > 50
        assert np.array_equal(comps.labels, labels)
        assert np.array_equal(comps.x0, stats[1:, cv2.CC_STAT_LEFT])
        assert np.array_equal(comps.area, stats[1:, cv2.CC_STAT_AREA])


def test_noisy_blurred_scan():
    page, truths = five_line_page()
    rng = np.random.default_rng(1)
    blurred = cv2.GaussianBlur(page.astype(np.float32), (0, 0), 1.0)
    scan = np.clip(0.75 * blurred + 40 + rng.normal(0, 10, page.shape), 0, 255).astype(np.uint8)
    assert_lines_match(find_lines(scan, "page"), truths)


@pytest.mark.parametrize("angle", [-3.0, 2.5])
def test_tilted_page_keeps_each_line_whole(angle):
    specs = [(SENTENCES[i], SANS, 28, 40, 30 + 40 * i) for i in range(5)]
    tilted, truths = render(specs, (900, 260), angle)
    regions = find_lines(tilted, "page")
    # The tilt is strong enough that the boxes of neighbouring lines overlap vertically.
    assert all(a[1] + a[3] > b[1] for a, b in zip(truths, truths[1:]))
    assert_lines_match(regions, truths)
    for region in regions:
        x, y, w, h = region.box
        assert len(region.pieces) >= 2
        for px, py, pw, ph in region.pieces:
            assert pw / ph <= MAX_PIECE_ASPECT
            assert x <= px and px + pw <= x + w and y <= py and py + ph <= y + h
            assert ph < h  # each piece spans only its own part of the tilted line


@pytest.mark.parametrize("mode", ["line", "auto"])
def test_single_line_image(mode):
    page, truths = render([("Coffee 2 x 3.50  7.00", SERIF, 32, 12, 8)], (420, 56))
    regions = find_lines(page, mode)
    assert len(regions) == 1
    assert_box_matches(regions[0].box, truths[0])
    # One piece, or pieces cut at the wide gap before the total: together they span the line.
    x, y, w, h = regions[0].box
    pieces = regions[0].pieces
    assert len(pieces) <= 2 and pieces[0][0] == x and pieces[-1][0] + pieces[-1][2] == x + w
    assert all(pw / ph <= LINE_CROP_ASPECT for _, _, pw, ph in pieces)


def test_a_line_crop_of_few_letters_is_read_whole_and_a_page_line_is_cut():
    text = "Pack my box with five dozen"  # 22 letters, 14.7 text heights wide at this size
    page, truths = render([(text, SANS, 24, 10, 6)], (620, 40))
    for mode in ("line", "auto"):
        (region,) = find_lines(page, mode)
        assert region.box[2] / region.box[3] > MAX_PIECE_ASPECT
        assert region.pieces == [region.box]
    # The same line among others on a page is cut, as are line crops of more letters.
    assert region.box[2] / region.box[3] < LINE_CROP_ASPECT
    lines = [(text, SANS, 24, 10, 6 + 40 * i) for i in range(3)]
    on_page, _ = render(lines, (620, 130))
    for region in find_lines(on_page, "page"):
        assert len(region.pieces) >= 2
        assert all(pw / ph <= MAX_PIECE_ASPECT for _, _, pw, ph in region.pieces)
    longer = " ".join(SENTENCES[:2])  # more than LINE_CROP_LETTERS letters
    assert sum(not c.isspace() for c in longer) > LINE_CROP_LETTERS
    crop, _ = render([(longer, SANS, 24, 10, 6)], (1300, 40))
    (region,) = find_lines(crop, "line")
    assert len(region.pieces) >= 2
    assert all(pw / ph <= MAX_PIECE_ASPECT for _, _, pw, ph in region.pieces)


def test_auto_reads_a_tall_crop_of_one_line_as_a_line():
    page, truths = render([("Jumping façades", SANS, 30, 50, 90)], (400, 220))
    regions = find_lines(page, "auto")
    assert len(regions) == 1
    assert_box_matches(regions[0].box, truths[0])


def test_auto_skips_the_layout_pass_when_the_letters_lie_in_one_band(monkeypatch):
    # A crop with margins (taller than 1.8 text heights) whose letters span one line's band:
    # the layout pass would find that line alone, so it is not run, and the regions are those
    # it would have given. Two lines still get it.
    from batch_ocr import segment

    one, truths = render([("Jumping façades, 42 each", SANS, 28, 30, 40)], (520, 130))
    two, _ = stacked([(SENTENCES[0], SANS, 26), (SENTENCES[1], SANS, 26)], 700)
    with_layout = [find_lines(one, "auto"), find_lines(two, "auto")]
    assert len(with_layout[0]) == 1 and len(with_layout[1]) == 2
    calls = []
    real = segment._page_lines
    monkeypatch.setattr(segment, "_page_lines", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(segment, "_letters_band", lambda *a: 10**6)  # as if always two lines
    assert find_lines(one, "auto") == with_layout[0] and calls == [1]
    monkeypatch.undo()
    monkeypatch.setattr(segment, "_page_lines", lambda *a, **k: calls.append(2) or real(*a, **k))
    assert find_lines(one, "auto") == with_layout[0] and calls == [1]  # no layout pass
    assert_box_matches(with_layout[0][0].box, truths[0])
    assert find_lines(two, "auto") == with_layout[1] and calls == [1, 2]


def test_auto_reads_an_image_whole_when_layout_finds_a_line_as_tall_as_the_image(monkeypatch):
    """Large or clipped letters of a line crop can make the layout pass see several lines (each
    word one, a neighbour's edge another); one of them as tall as the image marks a line crop,
    read whole as `line` reads it. Lines that leave most of the height are kept as found."""
    from batch_ocr import segment
    from batch_ocr.records import LineRegion

    page, truths = render([("MAY 9, 2012 (301,386.49)", SANS, 28, 10, 12)], (440, 50))
    split = [LineRegion((10, 10, 60, 42), [(10, 10, 60, 42)]),
             LineRegion((90, 14, 120, 30), [(90, 14, 120, 30)])]
    monkeypatch.setattr(segment, "_letters_band", lambda *a: 10**6)  # the layout pass runs
    monkeypatch.setattr(segment, "_page_lines", lambda *a, **k: list(split))
    regions = find_lines(page, "auto")
    assert len(regions) == 1
    assert_box_matches(regions[0].box, truths[0])
    split[0] = LineRegion((10, 14, 60, 30), [(10, 14, 60, 30)])  # 30 of 50 rows: two lines stay
    assert find_lines(page, "auto") == split


def test_very_long_line_is_split_into_pieces_that_cover_all_ink():
    text = " ".join(SENTENCES[:4])  # ~180 characters, aspect far above the limit
    page, truths = render([(text, SANS, 22, 10, 6)], (2600, 40))
    ink_columns = np.flatnonzero((page < 128).any(axis=0))
    for mode in ("line", "auto", "page"):
        regions = find_lines(page, mode)
        assert len(regions) == 1
        x, y, w, h = regions[0].box
        assert_box_matches((x, y, w, h), truths[0])
        pieces = regions[0].pieces
        assert len(pieces) >= 3
        for px, py, pw, ph in pieces:
            assert pw / ph <= MAX_PIECE_ASPECT
            assert x <= px and px + pw <= x + w and (py, ph) == (y, h)
        for (ax, _, aw, _), (bx, _, _, _) in zip(pieces, pieces[1:]):
            assert ax + aw <= bx  # left to right, no overlap
        assert regions[0].glued == ()  # cut at word gaps only: pieces join with spaces
        covered = np.zeros(page.shape[1], dtype=bool)
        for px, _, pw, _ in pieces:
            covered[px:px + pw] = True
        assert covered[ink_columns].all()


def test_a_column_gap_splits_a_short_line_and_word_spaces_do_not():
    # A table row without rules: "Qty" and its figure sit far apart, as do the price and its
    # currency's column; the whole row is well under the width limit. A justified line's widest
    # word spaces stay together.
    font = ImageFont.truetype(SANS, 24)
    row = [("Gasket", 10), ("250", 10 + int(font.getlength("Gasket")) + 140),
           ("$0.12", 10 + int(font.getlength("Gasket")) + 320)]
    page, _ = render([(text, SANS, 24, x, 8) for text, x in row], (700, 44))
    for mode in ("line", "auto", "page"):
        regions = find_lines(page, mode)
        assert len(regions) == 1 and regions[0].glued == ()
        starts = [x for x, _, _, _ in regions[0].pieces]
        assert len(starts) == 3, mode
        for (text, x), start in zip(row, starts):
            assert abs(start - x) <= 4
    spaced, _ = render([("Wide   set   words", SANS, 24, 10, 8)], (700, 44))
    assert len(find_lines(spaced, "line")[0].pieces) == 1


def test_a_column_gap_with_foreign_ink_in_it_still_gives_pieces_in_order():
    # Twelve letters 10 px high and apart (a line of 230 px; pieces hold 120), a 220 px gap with
    # ink of no line in it (a speck) 70 px in, more letters. The split goes into the blank after
    # the speck, and the left side is cut within itself: a cut once reached across the split,
    # into the gap, and left a piece of negative width.
    from batch_ocr.segment import _Components, _split_pieces

    letters = list(range(0, 240, 20)) + list(range(450, 700, 20))
    left = np.array(letters + [300])  # the last one is the speck
    right = left + np.array([10] * len(letters) + [1])
    bottom = np.array([11] * len(letters) + [2])
    labels = np.zeros((12, 720), dtype=np.int32)
    for index, (x0, x1, y1) in enumerate(zip(left, right, bottom)):
        labels[1:y1, x0:x1] = index + 1
    comps = _Components(labels, left, np.ones(left.size, dtype=np.int64), right, bottom,
                        (right - left) * (bottom - 1))
    pieces, _ = _split_pieces((0, 1, 690, 10), np.arange(len(letters)), comps, 10.0, 10)
    assert all(w > 0 for _, _, w, _ in pieces)
    for (ax, _, aw, _), (bx, _, _, _) in zip(pieces, pieces[1:]):
        assert ax + aw <= bx
    assert max(x + w for x, _, w, _ in pieces if x < 300) <= 301  # the left side ends by the speck
    assert min(x for x, _, _, _ in pieces if x > 300) <= 450  # the right side starts by its letters


def test_a_single_word_wider_than_the_limit_is_cut_inside_the_word():
    page, truths = render([("Donaudampfschifffahrtsgesellschaftskapitän" * 2, SANS, 24, 5, 5)],
                          (1400, 40))
    regions = find_lines(page, "line")
    pieces = regions[0].pieces
    assert len(pieces) >= 2
    assert all(w / h <= MAX_PIECE_ASPECT for _, _, w, h in pieces)
    assert pieces[0][0] == regions[0].box[0]
    assert sum(w for _, _, w, _ in pieces) <= regions[0].box[2]
    assert pieces[-1][0] + pieces[-1][2] == regions[0].box[0] + regions[0].box[2]


def test_blank_and_degenerate_images_give_no_lines():
    rng = np.random.default_rng(0)
    specks = np.full((600, 800), 235, dtype=np.uint8)
    specks[rng.integers(0, 600, 150), rng.integers(0, 800, 150)] = 20  # isolated dust
    noisy = np.clip(rng.normal(200, 12, (300, 400)), 0, 255).astype(np.uint8)
    for image in [np.full((400, 300), 255, np.uint8), np.zeros((50, 50), np.uint8),
                  np.full((1, 1), 0, np.uint8), np.full((1, 1), 255, np.uint8),
                  np.zeros((0, 0), np.uint8), specks, noisy]:
        for mode in ("auto", "page", "line"):
            assert find_lines(image, mode) == []


def test_two_columns_read_left_column_first():
    column_lines = [s[:22] for s in SENTENCES[:6]]
    specs = []
    for i, text in enumerate(column_lines):
        specs.append((text, SERIF, 24, 30, 80 + 34 * i))
        specs.append((text.upper()[:18], SANS, 24, 480, 80 + 34 * i))
    specs.insert(0, ("Two Column Report Title", SANS, 34, 200, 20))
    page, truths = render(specs, (860, 320))
    expected = [truths[0]] + truths[1::2] + truths[2::2]  # title, left column, right column
    regions = find_lines(page, "page")
    assert len(regions) == len(expected)
    for region, truth in zip(regions, expected):
        assert_box_matches(region.box, truth)


def test_receipt_price_column_stays_on_its_line():
    items = ["Coffee 2 x 3.50", "Croissant", "Orange juice", "Water"]
    prices = ["7.00", "2.80", "4.20", "1.50"]
    specs = []
    for i, (item, price) in enumerate(zip(items, prices)):
        specs.append((item, SANS, 20, 20, 20 + 30 * i))
        specs.append((price, SANS, 20, 330, 20 + 30 * i))
    page, truths = render(specs, (420, 160))
    regions = find_lines(page, "page")
    assert len(regions) == len(items)
    for region, item_box, price_box in zip(regions, truths[::2], truths[1::2]):
        x, y, w, h = region.box
        assert abs(x - item_box[0]) <= TOLERANCE
        assert abs(x + w - price_box[0] - price_box[2]) <= TOLERANCE


def test_pictures_and_rules_are_not_text():
    page, truths = five_line_page()
    page[truths[-1][1] + 60:truths[-1][1] + 62, 40:860] = 0  # a horizontal rule under the text
    page = np.vstack([page, np.full((400, page.shape[1]), 255, np.uint8)])
    page[-350:-50, 500:800] = 60  # a dark picture block
    page[-300:-260, 40:440] = 0  # a redaction bar: only twice as tall as a line, but solid
    assert_lines_match(find_lines(page, "page"), truths)


def test_a_word_run_together_into_one_blob_stays_in_its_line_and_a_bar_does_not():
    """Small or bold print at 75-100 dpi merges a word's letters into one blob: wide and over
    half ink like a bar, but a line tall and with holes. It is text; a solid bar is not."""
    page, truths = five_line_page()
    height = truths[1][3]
    word = np.zeros((height, 6 * height), np.uint8)
    word[::3, :] = 255  # streaks of paper bridged by ink: about 70 % ink, one component
    word[::3, ::6] = 0
    x0 = truths[1][0] + truths[1][2] + 20
    page[truths[1][1]:truths[1][1] + height, x0:x0 + word.shape[1]] = word
    bar_x0 = truths[2][0] + truths[2][2] + 20
    page[truths[2][1]:truths[2][1] + height, bar_x0:bar_x0 + 6 * height] = 0
    regions = find_lines(page, "page")
    assert len(regions) == len(truths)
    x, y, w, h = regions[1].box
    assert x + w >= x0 + word.shape[1] - TOLERANCE  # the merged word ends the line
    assert_box_matches(regions[2].box, truths[2])  # the bar is left out


def test_auto_leaves_out_the_clipped_edges_of_neighbouring_lines():
    """A line crop cut from a page holds the feet of the line above and the tops of the line
    below: in auto mode they are no lines of their own (read alone they were noise), while a
    crop of two whole lines keeps both."""
    page, truths = stacked([(SENTENCES[i], SANS, 28) for i in range(3)], width=900, leading=1.3)
    top = truths[0][1] + truths[0][3] * 2 // 3
    bottom = truths[2][1] + truths[2][3] // 3
    crop = page[top:bottom]
    assert len(find_lines(crop, "page")) == 3  # layout alone finds the fragments
    regions = find_lines(crop, "auto")
    assert len(regions) == 1
    x, y, w, h = regions[0].box
    middle = truths[1]
    assert y <= middle[1] - top and y + h >= middle[1] - top + middle[3]  # the whole middle line
    tight = page[truths[0][1]:truths[1][1] + truths[1][3]]  # two whole lines, edge to edge
    assert len(find_lines(tight, "auto")) == 2


def test_auto_keeps_a_dash_a_wide_space_before_the_first_word_of_a_line_crop():
    page, truths = stacked([("-      Total due", SANS, 28)], width=500)
    page = np.vstack([np.full((40, 500), 255, np.uint8), page])  # tall enough for the layout pass
    regions = find_lines(page, "auto")
    assert len(regions) == 1
    x, y, w, h = truths[0]
    assert_box_matches(regions[0].box, (x, y + 40, w, h))


def test_auto_reads_a_line_whose_underline_swallowed_its_letters_whole():
    """An underline through the descenders joins most letters into one component as wide as a
    rule; the one-line crop is still read whole (as `line` reads it), not as the few letters
    the underline left apart."""
    page, truths = stacked([("gypsy jumpy quip yoga pygmy", SANS, 28)], width=600)
    x, y, w, h = truths[0]
    page[y + h - 3:y + h, x:x + w] = 0  # through the feet of g, y, p, q, j
    page = np.vstack([np.full((30, 600), 255, np.uint8), page])
    regions = find_lines(page, "auto")
    assert len(regions) == 1
    assert_box_matches(regions[0].box, (x, y + 30, w, h))


def test_large_blurred_print_covering_most_of_a_crop_is_still_text():
    """Ink over half the crop (large bold print, blurred, cut tight) pulls the median grey into
    the strokes: judged against the median, ink and paper were too close and the crop blank."""
    page, truths = stacked([("note rayple", FONT_DIR + "DejaVuSans-Bold.ttf", 40)], width=320,
                           x=4, leading=1.0)
    x, y, w, h = truths[0]
    page = cv2.erode(page, np.ones((3, 3), np.uint8))[y:y + h, :x + w + 2]  # bolder still
    blurred = cv2.GaussianBlur(page.astype(np.float32), (0, 0), 2.0)
    faint = (165 + (206 - 165) * blurred / 255.0).astype(np.uint8)  # 41 grey levels in all
    assert np.median(faint) < 195  # the median is no paper level
    for mode in ("line", "auto"):
        regions = find_lines(faint, mode)
        assert len(regions) == 1
        assert regions[0].box[2] >= 0.95 * w


def test_colour_input_and_bad_mode():
    page, truths = five_line_page()
    rgb = np.repeat(page[:, :, None], 3, axis=2)
    assert_lines_match(find_lines(rgb, "page"), truths)
    with pytest.raises(ValueError):
        find_lines(page, "paragraph")


def test_shipped_samples_segment_into_their_labelled_lines():
    labels = pd.read_csv(SAMPLE_DATA / "labels.csv", keep_default_na=False)
    assert len(labels) >= 12
    for name, text in zip(labels["file"], labels["text"]):
        gray = np.asarray(Image.open(SAMPLE_DATA / name).convert("L"))
        regions = find_lines(gray, "auto")
        assert len(regions) == len(text.split("\n")), name
        for region in regions:  # line crops may hold a piece up to LINE_CROP_ASPECT wide
            limit = LINE_CROP_ASPECT if len(regions) == 1 else MAX_PIECE_ASPECT
            assert all(w / h <= limit for _, _, w, h in region.pieces), name


# ------------------------------------------------------------------ deskew, pictures, drop caps

def _turned(page: np.ndarray, angle: float) -> np.ndarray:
    """The page turned counter-clockwise by `angle` on a canvas that holds all of it."""
    from batch_ocr.deskew import deskew_transform

    transform = deskew_transform(page.shape, -angle)
    return cv2.warpAffine(page, transform.matrix, transform.size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=255)


@pytest.mark.parametrize("angle", [-15.0, -9.0, 6.0, 15.0])
def test_strongly_skewed_page_lines_in_order_and_crops_level(angle):
    from batch_ocr.deskew import deskewed_crops

    page, truths = five_line_page()
    turned = _turned(page, angle)
    regions = find_lines(turned, "page")
    assert len(regions) == len(truths)
    assert all(abs(region.angle - angle) < 0.6 for region in regions)
    # Reading order: the line centres run down the page perpendicular to the text direction.
    theta = np.radians(angle)
    centres = [(x + w / 2.0, y + h / 2.0) for x, y, w, h in (r.box for r in regions)]
    across = [cy * np.cos(theta) + cx * np.sin(theta) for cx, cy in centres]
    assert across == sorted(across)
    height, width = turned.shape
    crops = deskewed_crops(turned, regions)
    for region, line_crops, truth in zip(regions, crops, truths):
        x, y, w, h = region.box
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        assert len(line_crops) == len(region.pieces)
        # Each level crop holds one line: its dark rows form a single band about a line tall.
        for crop in line_crops:
            rows = np.flatnonzero((crop < 128).sum(axis=1) > 0)
            assert rows.size and rows[-1] - rows[0] <= 1.3 * truth[3]
            assert crop.shape[0] <= 1.6 * truth[3]
        assert sum(c.shape[1] for c in line_crops) >= 0.9 * truth[2]


@pytest.mark.parametrize("angle", [-13.0, 13.0])
def test_strongly_skewed_black_and_white_small_print_keeps_whole_lines(angle):
    """A fax-like page: small print, tilted, thresholded to two levels. Its deskewed copy is
    interpolated grey; cut at Otsu's level (the top of the black class, 0) only solid black
    stayed ink, and the letters fell apart into specks and the lines into fragments."""
    page, truths = stacked([(SENTENCES[i], SANS, 11) for i in range(6)], width=400, leading=1.6)
    bilevel = np.where(_turned(page, angle) < 128, 0, 255).astype(np.uint8)
    regions = find_lines(bilevel, "page")
    assert len(regions) == len(truths)
    assert all(abs(region.angle - angle) < 1.0 for region in regions)


def test_black_and_white_threshold_sits_in_the_middle_of_the_gap():
    from batch_ocr.binarize import flatten

    page, _ = five_line_page()
    bilevel = np.where(page < 128, 0, 255).astype(np.uint8)
    flat = flatten(bilevel)
    assert flat.threshold == 127.5
    assert np.array_equal(flat.ink, bilevel == 0)  # the same split of the page's own pixels
    grey = flatten(page)
    assert grey.threshold == int(grey.threshold)  # grey pages keep Otsu's level


def test_skew_angle_scores_every_candidate_like_one_bincount_per_angle():
    """skew_angle scores all candidate angles in one pass; the pick is the one a loop of one
    projection profile per angle makes (first best on ties), and it finds the tilt."""
    from batch_ocr.deskew import MAX_SKEW_DEG, skew_angle

    def by_loop(cx, cy, row_height):
        cx, cy = cx - cx.mean(), cy - cy.mean()

        def best(candidates):
            scores = []
            for angle in candidates:
                theta = np.radians(angle)
                rows = cy * np.cos(theta) + cx * np.sin(theta)
                counts = np.bincount(((rows - rows.min()) / row_height).astype(np.int64))
                scores.append(float(np.dot(counts, counts)))
            return candidates[int(np.argmax(scores))]

        steps = np.arange(0.25, MAX_SKEW_DEG + 1e-9, 0.25)
        coarse = best([0.0] + [float(s * d) for d in steps for s in (1, -1)])
        fine = np.arange(0.05, 0.25, 0.05)
        return float(best([a for a in [coarse] + [coarse + s * d for d in fine for s in (1, -1)]
                           if abs(a) <= MAX_SKEW_DEG]))

    rng = np.random.default_rng(11)
    for tilt in (-12.0, -3.3, 0.0, 0.7, 9.5):
        x = rng.uniform(0, 900, 240)
        y = rng.integers(0, 12, 240) * 32.0 + rng.normal(0, 1.5, 240)
        theta = np.radians(tilt)
        # Image rows grow downwards: a positive angle has lines rising to the right.
        cx, cy = x * np.cos(theta) + y * np.sin(theta), y * np.cos(theta) - x * np.sin(theta)
        found = skew_angle(cx, cy, 5.0)
        assert found == by_loop(cx, cy, 5.0)
        assert abs(found - tilt) <= 0.15


def test_box_mapping_round_trips():
    from batch_ocr.deskew import box_to_deskewed, box_to_original, deskew_transform

    for angle in (-15.0, -4.0, 7.5, 15.0):
        transform = deskew_transform((900, 700), angle)
        for box in [(100, 200, 300, 40), (10, 15, 60, 25), (400, 600, 250, 80)]:
            back = box_to_deskewed(box_to_original(box, transform), transform)
            assert all(abs(a - b) <= 2 for a, b in zip(back, box)), (angle, box, back)


def drop_cap_page():
    """Six lines of body text with a three-line drop capital 'W' at the left of the first lines;
    returns the page, the lines' truth boxes and the capital's bitmap."""
    body = [s[:30] for s in SENTENCES[:6]]
    specs = [(text, SERIF, 24, 110, 40 + 34 * i) for i, text in enumerate(body)]
    page, truths = render(specs, (900, 700))
    page = page.copy()
    # A drop capital three lines tall at the left of the first lines.
    cap = Image.new("L", (80, 110), 255)
    ImageDraw.Draw(cap).text((4, -18), "W", font=ImageFont.truetype(SERIF, 118), fill=0)
    cap_array = np.asarray(cap)
    page[truths[0][1]:truths[0][1] + 110, 25:105] = np.minimum(
        page[truths[0][1]:truths[0][1] + 110, 25:105], cap_array)
    return page, truths, cap_array


def test_pictures_rules_and_drop_capital_stay_out_of_lines():
    page, truths, cap_array = drop_cap_page()
    page[260:262, 20:880] = 0  # a rule under the text
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:300, 0:400]
    photo = 120 + 60 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 18, (300, 400))
    page[320:620, 420:820] = np.clip(photo, 0, 255).astype(np.uint8)  # a textured photo
    page[330:470, 40:300] = 175  # a flat light-grey box
    page[500:640, 40:300] = np.clip(175 + rng.normal(0, 12, (140, 260)), 0, 255).astype(np.uint8)
    regions = find_lines(page, "page")
    assert len(regions) == len(truths)
    first = regions[0]
    cap_ink = np.argwhere(cap_array < 128)
    cap_box = (25 + cap_ink[:, 1].min(), truths[0][1] + cap_ink[:, 0].min())
    # The capital is the first piece of the first line, and no other line's box reaches over it.
    assert abs(first.pieces[0][0] - cap_box[0]) <= TOLERANCE
    assert abs(first.pieces[0][1] - cap_box[1]) <= TOLERANCE
    assert first.pieces[0][3] > 2.5 * truths[0][3]
    assert 1 in first.glued  # the capital is the first letter of the next piece's word
    for region, truth in zip(regions[1:], truths[1:]):
        assert_box_matches(region.box, truth)
    for region, truth in zip(regions[:1], truths[:1]):
        x, y, w, h = region.pieces[1]
        assert abs(x - truth[0]) <= TOLERANCE and abs(y - truth[1]) <= TOLERANCE



def test_picture_map_on_a_grid_of_cells_matches_the_full_resolution_map(monkeypatch):
    """picture_mask takes window shares on coarse cells; with one-pixel cells it is the filter
    at full resolution. Both find the photo, neither the flat tint nor the text."""
    from batch_ocr import binarize
    from batch_ocr.segment import _components, _text_height

    page, truths, _ = drop_cap_page()
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:300, 0:400]
    # A light photo: mostly mid-tones (a dark one is caught as one big blob of ink instead).
    photo = 195 + 30 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 12, (300, 400))
    page[320:620, 420:820] = np.clip(photo, 0, 255).astype(np.uint8)
    page[330:470, 40:300] = 175  # a flat light-grey box
    flat = binarize.flatten(page)
    text_height = _text_height(_components(flat.ink))
    window = int(binarize._PICTURE_WINDOW * text_height) | 1
    assert window // binarize._PICTURE_CELLS > 1  # cells of several pixels are under test
    grid = binarize.picture_mask(flat, text_height)
    monkeypatch.setattr(binarize, "_PICTURE_CELLS", 10 ** 6)  # one-pixel cells
    full = binarize.picture_mask(flat, text_height)
    assert grid.shape == full.shape == page.shape
    assert np.count_nonzero(grid & full) / np.count_nonzero(grid | full) > 0.9
    for mask in (grid, full):
        assert mask[320:620, 420:820].mean() > 0.5  # the photo (its lightest parts are paper)
        assert not mask[350:450, 60:280].any()  # the tint
        for x, y, w, h in truths[1:]:
            assert not mask[y:y + h, x:x + w].any()


def test_an_image_too_small_for_a_picture_has_none():
    """A line crop cannot hold an area a few text heights on each side: picture_mask says so at
    once (auto mode asks it of every one-line image), whatever mid-tones the crop has."""
    from batch_ocr import binarize

    crop, _ = render([(SENTENCES[0], SANS, 24, 10, 8)], (700, 44))
    crop[:, 520:690] = np.random.default_rng(2).integers(90, 200, (44, 170))  # mid-tone texture
    flat = binarize.flatten(crop)
    mask = binarize.picture_mask(flat, 18.0)
    assert mask.shape == crop.shape and not mask.any()
    assert 18.0 * binarize._PICTURE_MIN_SIDE > crop.shape[0]


def test_drop_capital_of_a_strongly_tilted_page_still_joins_its_word():
    # Pages tilted beyond _ROTATE_MIN_DEG are laid out in a rotated frame; mapping the regions
    # back must keep which pieces continue a word, or "Once" is read as "O nce".
    page, truths, _ = drop_cap_page()
    regions = find_lines(_turned(page, 8.0), "page")
    assert len(regions) == len(truths)
    first = regions[0]
    assert abs(first.angle - 8.0) < 0.6
    assert 1 in first.glued and first.pieces[0][3] > 2.5 * truths[0][3]


def test_quarter_turns_are_told_apart_from_level_pages():
    from batch_ocr.deskew import rotation_candidates, unrotate_box

    page, truths = five_line_page()
    assert [k for k, _ in rotation_candidates(page)] == [0, 2]
    turned = np.rot90(page, 1)
    candidates = rotation_candidates(turned)
    assert [k for k, _ in candidates] == [1, 3]
    for k, image in candidates:
        assert image.shape == np.rot90(turned, k).shape
    # A box found on a quarter-turned page maps back onto the page it was turned from.
    for k in (1, 2, 3):
        found = find_lines(np.rot90(page, k), "page")
        back = [unrotate_box(region.box, k, page.shape) for region in found]
        if k == 2:
            assert len(back) == len(truths)
            for box, truth in zip(back[::-1], truths):
                assert_box_matches(box, truth)
        for box in back:
            x, y, w, h = box
            assert 0 <= x and 0 <= y and x + w <= page.shape[1] and y + h <= page.shape[0]


def _tight_line(text: str, ink: int, paper: int, bold_blur: bool = False) -> np.ndarray:
    """A tightly cropped line crop like a segmenter or scanner app hands over."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT_DIR + ("DejaVuSans-Bold.ttf" if bold_blur else "DejaVuSans.ttf"), 26)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 4, bottom - top + 4), paper)
    ImageDraw.Draw(image).text((2 - left, 2 - top), text, font=font, fill=ink)
    gray = np.array(image)
    if bold_blur:
        gray = cv2.erode(cv2.GaussianBlur(gray, (5, 5), 0), np.ones((2, 3), np.uint8))
    return gray


@pytest.mark.parametrize("ink,paper", [(130, 166), (182, 224), (0, 255)])
def test_line_mode_reads_faint_and_bilevel_tight_crops(ink, paper):
    # Faint print spanning ~40 grey levels, and a pure 0/255 crop, are lines, not blank images.
    gray = _tight_line("982.962 |531| 983 remember", ink, paper)
    if (ink, paper) == (0, 255):
        gray = np.where(gray < 128, 0, 255).astype(np.uint8)  # a binarised scan: two levels only
    regions = find_lines(gray, "line")
    assert len(regions) == 1
    x, y, w, h = regions[0].box
    assert x <= 6 and x + w >= gray.shape[1] - 6


def test_line_mode_keeps_words_merged_into_solid_blobs():
    gray = _tight_line("87092 Reykjavik", 40, 235, bold_blur=True)
    x, y, w, h = find_lines(gray, "line")[0].box
    assert x + w >= gray.shape[1] - 4  # the blurred bold word is not dropped as a bar


def _skew_slope_one_angle_at_a_time(cx, cy, text_height, max_degrees):
    """The per-angle loop `_skew_slope` replaced, kept as the reference it must agree with."""
    row = max(1.0, text_height / 4.0)
    degrees = np.arange(0.0, max_degrees + 1e-9, 0.25)
    best_slope, best_score = 0.0, -1.0
    for angle in [0.0] + [sign * d for d in degrees[1:] for sign in (1, -1)]:
        slope = float(np.tan(np.radians(angle)))
        rows = cy - slope * cx
        counts = np.bincount(((rows - rows.min()) / row).astype(np.int64))
        score = float(np.dot(counts, counts))
        if score > best_score:
            best_slope, best_score = slope, score
    return best_slope


@pytest.mark.parametrize("seed", range(40))
def test_skew_slope_picks_what_the_per_angle_loop_picked(seed):
    from batch_ocr.segment import _Components, _skew_slope

    rng = np.random.default_rng(seed)
    count = int(rng.integers(8, 400))
    # Letters along a few tilted rows (some seeds: scattered, or a single short row, where
    # several angles tie and the smallest must win).
    slope = np.tan(np.radians(rng.uniform(-10, 10)))
    x0 = rng.integers(0, 3000, count)
    y0 = (rng.integers(0, 6, count) * 60 + slope * x0).astype(np.int64) + 200
    if seed % 5 == 0:
        y0 = rng.integers(0, 2000, count)
    if seed % 7 == 0:
        x0, y0 = np.arange(count) * 20, np.full(count, 50)
    height = rng.integers(10, 30, count)
    comps = _Components(None, x0, y0, x0 + rng.integers(5, 25, count), y0 + height, height * 9)
    letters = np.arange(count)
    text_height = float(np.median(height))
    cx, cy = (comps.x0 + comps.x1) / 2.0, (comps.y0 + comps.y1) / 2.0
    for max_degrees in (8.0, 1.5):
        assert _skew_slope(letters, comps, text_height, max_degrees) == \
            _skew_slope_one_angle_at_a_time(cx, cy, text_height, max_degrees)


def test_text_in_a_shaded_box_is_read_but_a_noisy_grey_area_is_not():
    # Call-outs and form fields set text on an even grey tint; the tint is not a picture.
    specs = [(text, SERIF, 24, 60, 40 + 34 * i) for i, text in enumerate(SENTENCES[:4])]
    page, truths = render(specs, (900, 420))
    shaded = page.astype(np.int16)
    rng = np.random.default_rng(5)
    shaded[25:180, 40:800] = np.minimum(shaded[25:180, 40:800], 200)  # the box, under the text
    shaded = np.clip(shaded + rng.normal(0, 2, shaded.shape), 0, 255).astype(np.uint8)
    # Beside it, a grey area whose tones spread like a photo's: still no text there.
    shaded[250:400, 40:400] = np.clip(170 + rng.normal(0, 25, (150, 360)), 0, 255).astype(np.uint8)
    regions = find_lines(shaded, "page")
    assert_lines_match(regions, truths)


def test_small_print_is_cut_at_spaces_not_at_wide_letter_gaps():
    # At 9 px letters the gaps between letters come within a pixel of a word gap's share of the
    # letter height; a cut inside "www.example.com/terms" would read it as two words.
    text = "Terms apply. See www.example.com/terms for all the details."
    x0, size = 10, 13
    page, _ = render([(text, SANS, size, x0, 8)], (520, 32))
    font = ImageFont.truetype(SANS, size)
    url = "www.example.com/terms"
    # The word's ink, a few pixels in from its advance box (side bearings, anti-aliasing).
    start = x0 + font.getlength(text[:text.index(url)]) + 3
    end = start + font.getlength(url) - 6
    regions = find_lines(page, "line")
    assert len(regions) == 1 and len(regions[0].pieces) >= 2
    for (ax, _, aw, _), (bx, _, _, _) in zip(regions[0].pieces, regions[0].pieces[1:]):
        assert not start < ax + aw < end and not start < bx < end, regions[0].pieces
    assert regions[0].glued == ()


@pytest.mark.parametrize("mode", ["line", "auto"])
@pytest.mark.parametrize("angle", [-5.0, 3.0])
def test_a_tilted_line_crop_is_turned_level_before_it_is_cut(mode, angle):
    # A line scanned askew: cut as upright boxes, its pieces held the text small and slanted
    # across a band far taller than the letters. Turned level, each crop's ink is a line's
    # height again.
    from batch_ocr.deskew import deskewed_crops

    page, (truth,) = stacked([(SENTENCES[0], SANS, 24)], width=760)
    turned = _turned(page, angle)
    (region,) = find_lines(turned, mode)
    assert abs(region.angle - angle) <= 0.5
    for crop in deskewed_crops(turned, [region])[0]:
        rows = np.flatnonzero((crop < 128).sum(axis=1) > 0)
        assert rows[-1] - rows[0] <= 1.25 * truth[3]
    # A level line is cut as it was.
    (level,) = find_lines(page, mode)
    assert level.angle == 0.0


def test_a_level_line_whose_tilt_is_misjudged_is_not_turned(monkeypatch):
    # Turning it would make its ink band no thinner: the line is cut upright as before.
    from batch_ocr import segment

    page, _ = stacked([(SENTENCES[0], SANS, 24)], width=760)
    monkeypatch.setattr(segment, "_skew_slope", lambda *args, **kwargs: np.tan(np.radians(3.0)))
    (region,) = find_lines(page, "line")
    assert region.angle == 0.0
