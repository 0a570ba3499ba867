"""Ruling lines: found without the letters, taken out of the layout, painted out of the crops."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from batch_ocr.batching import CROP_MARGIN
from batch_ocr.binarize import binarise
from batch_ocr.recognizer import prepare_page
from batch_ocr.rules import (edge_lines, erase_rules, find_rules, page_for_crops,
                             rule_candidates)
from batch_ocr.segment import _components, find_layout, find_lines

SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SIZE = 28


def _text_ink(size: tuple[int, int], texts: list[tuple[str, int, int]]) -> np.ndarray:
    """The ink of `texts` (text, x, y) alone, as a bool mask."""
    alone = Image.new("L", size, 0)
    font = ImageFont.truetype(SANS, SIZE)
    for text, x, y in texts:
        ImageDraw.Draw(alone).text((x, y), text, font=font, fill=255)
    return np.asarray(alone) > 127


def _page(size: tuple[int, int], texts: list[tuple[str, int, int]],
          rules: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Black text and filled rectangles (x0, y0, x1, y1) on white."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(SANS, SIZE)
    for text, x, y in texts:
        draw.text((x, y), text, font=font, fill=0)
    for box in rules:
        draw.rectangle(box, fill=0)
    return np.asarray(page).copy()


def _rules_of(page: np.ndarray, text_height: float):
    ink = binarise(page)
    comps = _components(ink)
    boxes = np.stack([comps.x0, comps.y0, comps.x1, comps.y1], axis=1)
    return find_rules(ink, text_height, comps.labels, boxes,
                      rule_candidates(comps.width, comps.height, comps.area, text_height))


def _rotated(page: np.ndarray, angle: float, fill: int = 255) -> np.ndarray:
    """`page` turned by `angle` degrees (counter-clockwise, bilinear, canvas grown to hold it),
    as a tilted scan lies; the page itself for 0."""
    if not angle:
        return page
    turned = Image.fromarray(page).rotate(angle, resample=Image.BILINEAR, expand=True,
                                          fillcolor=fill)
    return np.asarray(turned).copy()


def _baseline(y: int) -> int:
    return y + ImageFont.truetype(SANS, SIZE).getmetrics()[0]


# A ruled table: every cell's text rests on the cell's lower border, so each row's descenders
# touch it, and the upright borders run through every row's line box, a few pixels from the
# figures beside them.
TABLE_SIZE = (900, 330)
COLUMNS = (20, 420, 620, 880)
ROW_TOP = (20, 90, 160, 230, 300)
CELLS = [("Description", "Qty", "Price"), ("Hexagon joggle pin", "12", "$4.50"),
         ("Gasket, spring type", "250", "$0.12"), ("Spigot apply jig", "1000", "$9.03")]


def _table() -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    texts = []
    for row, cells in enumerate(CELLS):
        # The rows' descenders reach the lower border (baseline 3 px above it).
        y = ROW_TOP[row + 1] - 3 - ImageFont.truetype(SANS, SIZE).getmetrics()[0]
        # Figures start right after their border, closer than a word gap.
        texts.extend((text, COLUMNS[col] + (12 if col == 0 else 5), y)
                     for col, text in enumerate(cells))
    grid = [(COLUMNS[0], y, COLUMNS[-1], y + 1) for y in ROW_TOP] + \
           [(x, ROW_TOP[0], x + 1, ROW_TOP[-1] + 1) for x in COLUMNS]
    return _page(TABLE_SIZE, texts, grid), texts


def test_rules_are_found_and_letters_are_left_alone():
    page, texts = _table()
    ink = binarise(page)
    rules = _rules_of(page, 21.0)
    assert rules is not None
    for y in ROW_TOP:  # every horizontal border, along its whole length
        assert rules.horizontal[y:y + 2, COLUMNS[0] + 5:COLUMNS[-1] - 5].all(axis=1).all()
    for x in COLUMNS:
        assert rules.vertical[ROW_TOP[0] + 5:ROW_TOP[-1] - 5, x:x + 2].all()
    # Only the letters' pixels right at a rule (its one-pixel fringe) may be taken with it.
    letters = _text_ink(TABLE_SIZE, texts)
    near_rule = np.zeros_like(letters)
    for y in ROW_TOP:
        near_rule[y - 1:y + 3] = True
    for x in COLUMNS:
        near_rule[:, x - 1:x + 3] = True
    assert not (rules.any & letters & ~near_rule).any()


def test_a_page_without_rules_has_none():
    texts = [("Plain lines of text, no rules", 20, 20), ("and a second one below it", 20, 70)]
    page = _page((600, 130), texts, [])
    assert _rules_of(page, 21.0) is None
    assert find_layout(page, "page").rules is None


def test_letters_touching_an_underline_are_read_as_a_line():
    # A form: the field's descenders run into its underline, which goes on past the text.
    texts = [("Customer record", 30, 20), ("Signature: gypsy jiggly", 30, 90),
             ("Checked by the clerk", 30, 160)]
    rule_y = _baseline(90) + 4
    page = _page((800, 230), texts, [(30, rule_y, 760, rule_y + 1)])
    lines = find_lines(page, "page")
    assert len(lines) == 3
    x, y, w, h = lines[1].box
    ink = _text_ink((800, 230), texts[1:2])
    ys, xs = np.nonzero(ink)
    # The whole text, the touching letters at its end included, and not the rule's far end.
    assert abs(x - xs.min()) <= 3 and abs(x + w - (xs.max() + 1)) <= 3
    assert y <= ys.min() + 3


def test_erasing_keeps_a_stroke_that_crosses_the_rule():
    page = np.full((100, 300), 250, np.uint8)
    page[50:53, 10:290] = 20  # the rule
    page[30:72, 100:104] = 20  # a stroke through it (two text heights: a letter's)
    found = _rules_of(page, 20.0)
    assert found is not None
    rules = dataclasses.replace(found, paint_horizontal=True)  # as a crop's frame is painted
    erased = erase_rules(page, rules)
    assert (erased[45:58, 10:95] >= 250).all() and (erased[45:58, 110:290] >= 250).all()
    assert (erased[30:72, 100:104] == 20).all()
    # Light ink on dark paper: the same, the other way up.
    inverted = erase_rules(255 - page, rules)
    assert (inverted[45:58, 110:290] <= 5).all() and (inverted[30:72, 100:104] == 235).all()


@pytest.mark.parametrize("angle", [0.0, 2.0, -1.5, 8.0])
def test_cell_borders_never_reach_the_crops(angle):
    page = _rotated(_table()[0], angle)
    prepared = prepare_page(page, "page", 32)
    assert len(prepared.regions) >= len(CELLS)
    for crops in prepared.crops:
        for crop in crops:
            # A border left in a crop is ink from its top to its bottom, a pixel's lean aside.
            dark = crop[2:-2] < 128
            assert not (dark[:, :-1] | dark[:, 1:]).all(axis=0).any()


def test_a_large_light_heading_keeps_its_letters():
    # Its stems are as thin as a rule and over three body text heights tall, its dash and T bar
    # as thin and long; a rule runs under it (touching nothing) and one through the descenders
    # of the body's first line (so the page has rules).
    page = Image.new("L", (1100, 420), 255)
    draw = ImageDraw.Draw(page)
    light = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf", 120)
    draw.text((30, 10), "Hill \u2014 Tilt", font=light, fill=0)
    draw.rectangle((30, 165, 1000, 166), fill=0)
    body = ImageFont.truetype(SANS, SIZE)
    for row, text in enumerate(["The body of the page sits below", "in three plain lines of",
                                "ordinary text, as a letter does"]):
        draw.text((30, 200 + 60 * row), text, font=body, fill=0)
    draw.rectangle((30, _baseline(200) + 4, 900, _baseline(200) + 5), fill=0)
    gray = np.asarray(page).copy()
    heading = np.asarray(page.crop((0, 0, 1100, 160))) < 128
    layout = find_layout(gray, "page")
    assert layout.rules is not None and layout.rules.horizontal[_baseline(200) + 4].any()
    stems = layout.rules.any[:160] & heading
    assert not stems.any(), f"{stems.sum()} heading pixels taken for rules"


@pytest.mark.parametrize("angle", [0.0, 2.0, -1.5, 8.0])
def test_letters_resting_on_cell_borders_are_in_the_pieces(angle):
    # A scan tilted by a degree or two tilts its rules as much: no level run is long there.
    page, texts = _table()
    page = _rotated(page, angle)
    ink = _rotated((_text_ink(TABLE_SIZE, texts) * 255).astype(np.uint8), angle, fill=0) > 127
    covered = np.zeros_like(ink)
    for region in find_lines(page, "page"):
        for x, y, w, h in region.pieces:
            pad = round(CROP_MARGIN * h)  # what the crop takes around its piece
            covered[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad] = True
    assert (ink & covered).sum() >= 0.99 * ink.sum()


@pytest.mark.parametrize("sides", ["frame", "cell"])
@pytest.mark.parametrize("mode", ["line", "auto"])
def test_a_crop_cut_with_its_border_is_cropped_without_it(sides, mode):
    # A form cell or label cut out with its frame (all four sides), or with the right and
    # bottom borders a table's cell crop keeps: the border lines are no text.
    text = "Invoice 4471-B"
    width = int(ImageFont.truetype(SANS, SIZE).getlength(text)) + 24
    page = _page((width, 48), [(text, 12, 6)], [])
    page[-2:], page[:, -2:] = 0, 0
    if sides == "frame":
        page[:2], page[:, :2] = 0, 0
    layout = find_layout(page, mode)
    assert len(layout.lines) == 1 and layout.rules is not None
    prepared = prepare_page(page, mode, 32)
    for crop in prepared.crops[0]:
        dark = crop < 128
        assert not (dark[:, :-1] | dark[:, 1:]).all(axis=0).any()  # no upright border
        assert not dark.all(axis=1).any()  # no border along the top or bottom


@pytest.mark.parametrize("frame_px", [2, 5])
@pytest.mark.parametrize("mode", ["line", "auto"])
def test_a_line_framed_inside_a_margin_is_cropped_without_its_frame(frame_px, mode):
    # A label or boxed field cut with paper around its frame: the frame's rows and columns are
    # not full across the image, and a thick frame reaches past the image's outer eighth.
    text = "Invoice 4471-B"
    width = int(ImageFont.truetype(SANS, SIZE).getlength(text)) + 120
    page = _page((width, 110), [(text, 60, 38)],
                 [(30, 20, 30 + frame_px - 1, 89), (width - 30 - frame_px, 20, width - 31, 89),
                  (30, 20, width - 31, 20 + frame_px - 1), (30, 90 - frame_px, width - 31, 89)])
    layout = find_layout(page, mode)
    assert len(layout.lines) == 1
    x, y, w, h = layout.lines[0].box
    assert x >= 50 and x + w <= width - 50 and y >= 30 and y + h <= 80  # the text alone
    for crop in prepare_page(page, mode, 32).crops[0]:
        dark = crop < 128
        assert not (dark[:, :-1] | dark[:, 1:]).all(axis=0).any()
        assert not dark.all(axis=1).any()


@pytest.mark.parametrize("mode", ["line", "auto"])
@pytest.mark.parametrize("margin", [0, 30])
def test_faint_print_in_a_black_frame_is_found(mode, margin):
    # Otsu's split of the whole crop falls between the black frame and everything else: the
    # faint print (a grey pen, pencil) is found once the frame is out of the count.
    text = "Invoice 4471-B"
    width = int(ImageFont.truetype(SANS, SIZE).getlength(text)) + 60 + 2 * margin
    height = 60 + 2 * margin
    page = Image.new("L", (width, height), 235)
    draw = ImageDraw.Draw(page)
    draw.text((30 + margin, 14 + margin), text, font=ImageFont.truetype(SANS, SIZE), fill=150)
    draw.rectangle((margin, margin, width - 1 - margin, height - 1 - margin), outline=0, width=3)
    lines = find_lines(np.asarray(page).copy(), mode)
    assert len(lines) == 1
    x, _, w, _ = lines[0].box
    assert abs(x - (30 + margin)) <= 4 and w >= width - 2 * margin - 70


def test_an_underline_inside_a_margin_is_no_frame():
    # As wide as the text and with paper all round: an underlined line, kept as it was trained.
    text = "Invoice 4471-B"
    width = int(ImageFont.truetype(SANS, SIZE).getlength(text)) + 120
    page = _page((width, 90), [(text, 60, 20)], [(60, 58, width - 61, 59)])
    assert edge_lines(binarise(page)) is None


def test_a_tightly_cut_word_keeps_the_stems_at_its_edges():
    # The H's left stem and the l's fill the crop's first and last columns, as a side border
    # would; with no border along the top or bottom they stay letters.
    page = _page((200, 40), [("Hill", 0, -6)], [])
    ink = binarise(page)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    tight = page[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    assert (binarise(tight)[:, 0].mean() >= 0.9) and (binarise(tight)[:, -1].mean() >= 0.9)
    assert find_layout(tight, "line").rules is None


@pytest.mark.parametrize("angle", [0.0, 2.0, 8.0])
def test_a_ruled_table_is_read_row_by_row(angle):
    # Its columns are parted by white gutters that run the table's whole height, which
    # would make them columns of text; the cell borders in them say it is a table.
    lines = find_lines(_rotated(_table()[0], angle), "page")
    assert len(lines) == len(CELLS)
    for region in lines:
        x, _, w, _ = region.box
        # From the first column's text to the last's (boxes of a tilted page are hulls).
        assert x < COLUMNS[1] - 100 and x + w > COLUMNS[2] + 20


def test_a_page_with_a_dark_scan_border_reads_in_auto_mode_as_in_page_mode():
    # A scanner lid's shadow along the top and left edges looks like a cut-out cell's border;
    # the image holds several lines, so it is laid out as a page, border and all, as before.
    texts = [("First line of the letter", 40, 40), ("and the second one here", 40, 90),
             ("with a third to close", 40, 140)]
    page = _page((520, 200), texts, [])
    page[:6], page[:, :5] = 20, 20
    auto, as_page = find_layout(page, "auto"), find_layout(page, "page")
    assert len(auto.lines) == 3
    assert [r.box for r in auto.lines] == [r.box for r in as_page.lines]
    assert [r.pieces for r in auto.lines] == [r.pieces for r in as_page.lines]


def test_a_table_is_read_by_rows_when_a_line_below_it_has_a_word_space_beside_a_cell_border():
    """The line under the table has a word space in line with the blank between two cells (the
    border a little to its right): over the whole block that space looked like a column gutter,
    and the table was read in two halves. Lines above and below a table now go their own way
    first."""
    specs = [("Quarterly figures", SANS, 24, 40, 20)]
    cells = [["Item", "Count", "Price"], ["Paper", "12", "3.50"], ["Toner", "4", "61.00"],
             ["Pens", "30", "0.90"]]
    for y, row in zip((100, 150, 200, 250), cells):
        specs += [(text, SANS, 24, x, y + 8) for x, text in zip((50, 410, 610), row)]
    specs += [("Totals are net of", SANS, 24, 40, 340), ("tax and carriage", SANS, 24, 375, 340)]
    image = Image.new("L", (800, 400), 255)
    for text, font, size, x, y in specs:
        ImageDraw.Draw(image).text((x, y), text, font=ImageFont.truetype(font, size), fill=0)
    page = np.asarray(image).copy()
    for x in (40, 400, 600, 780):
        page[95:300, x:x + 2] = 0
    for y in (95, 145, 195, 245, 298):
        page[y:y + 2, 40:782] = 0
    lines = find_lines(page, "page")
    assert len(lines) == 6  # heading, four rows, the line below
    for line in lines[1:5]:
        x, _, w, _ = line.box
        assert x < 60 and x + w > 640  # each row from its first cell to its last
    assert lines[5].box[0] < 60 and lines[5].box[0] + lines[5].box[2] > 560


def _staggered_table(wrapped: bool = False, rule_px: int = 2) -> np.ndarray:
    """A ruled table whose cells hold their text at the top or at the bottom by turns, as forms
    often do, so that no two cells of a row share a band; `wrapped`: the first row's first cell
    holds two lines; `rule_px`: how thick its rules are."""
    texts = []
    metrics = ImageFont.truetype(SANS, SIZE).getmetrics()
    for row, cells in enumerate(CELLS):
        for col, text in enumerate(cells):
            top = ROW_TOP[row] + 6 if (row + col) % 2 == 0 else \
                ROW_TOP[row + 1] - 3 - metrics[0]
            texts.append((text, COLUMNS[col] + 12, top))
    if wrapped:
        texts[0] = ("Part", COLUMNS[0] + 12, ROW_TOP[0] + 2)
        texts.append(("number", COLUMNS[0] + 12, ROW_TOP[0] + 34))
    edge = rule_px - 1
    grid = [(COLUMNS[0], y, COLUMNS[-1], y + edge) for y in ROW_TOP] + \
           [(x, ROW_TOP[0], x + edge, ROW_TOP[-1] + edge) for x in COLUMNS]
    return _page(TABLE_SIZE, texts, grid)


# One-pixel rules on a page tilted past segment._ROTATE_MIN_DEG: laid out deskewed, where they
# waver between two rows of pixels as at a slight tilt.
@pytest.mark.parametrize(("angle", "rule_px"), [(0.0, 2), (1.5, 2), (-6.0, 2), (-6.0, 1)])
def test_a_rows_cells_at_different_heights_are_one_line(angle, rule_px):
    lines = find_lines(_rotated(_staggered_table(rule_px=rule_px), angle), "page")
    assert len(lines) == len(CELLS)
    for region in lines:
        # One piece a cell at least, left to right, with word spaces between the cells.
        assert len(region.pieces) >= len(COLUMNS) - 1
        lefts = [piece[0] for piece in region.pieces]
        assert lefts == sorted(lefts)


def test_a_row_with_a_cell_of_two_lines_keeps_its_lines():
    lines = find_lines(_staggered_table(wrapped=True), "page")
    # The first row stays as layout finds it (its cells' lines apart); the others are joined.
    assert len(lines) > len(CELLS)
    assert sum(len(region.pieces) >= len(COLUMNS) - 1 for region in lines) == len(CELLS) - 1


@pytest.mark.parametrize("angle", [1.5, -2.5])
def test_a_tilted_tables_thin_rules_are_found_whole(angle):
    # Turned level at the text's slope, a one-pixel rule wavers between two rows of pixels,
    # neither of which holds a long run alone. (A page tilted further is laid out deskewed,
    # where the same holds: its rows are read in the test above.)
    rules = find_layout(_rotated(_table()[0], angle), "page").rules
    assert rules is not None
    width = COLUMNS[-1] - COLUMNS[0]
    long_rows = [row for row in rules.rows if row[2] - row[1] >= 0.95 * width]
    assert len(long_rows) >= len(ROW_TOP)
    assert len(rules.borders) >= len(COLUMNS)


def test_crops_keep_a_pages_horizontal_rules_and_lose_its_upright_ones():
    page, _ = _table()
    rules = find_layout(page, "page").rules
    assert rules is not None and not rules.paint_horizontal
    source = page_for_crops(page, rules)
    for y in ROW_TOP[1:-1]:  # inner rules, between the uprights
        assert (source[y, COLUMNS[0] + 30:COLUMNS[1] - 30] < 128).all()
    for x in COLUMNS[1:-1]:
        assert (source[ROW_TOP[1] + 10:ROW_TOP[2] - 10, x] > 200).all()


@pytest.mark.parametrize("turned", [True, False])
def test_a_rule_wavering_between_two_pixel_rows_is_one_rule_when_turned(turned):
    # A one-pixel rule turned level (a deskewed page's, or a window turned to the text's slope)
    # steps between two rows of pixels every few tens of pixels: no run of either row alone is
    # as long as a rule must be.
    page = np.full((120, 700), 255, np.uint8)
    for start in range(20, 680, 40):
        row = 60 if (start // 40) % 2 == 0 else 61
        page[row, start:start + 40] = 0
    page[30:60, 300:303] = 0  # a stem standing on it, so the rule touches something
    ink = page < 128
    comps = _components(ink)
    boxes = np.stack([comps.x0, comps.y0, comps.x1, comps.y1], axis=1)
    rules = find_rules(ink, 20.0, comps.labels, boxes,
                       rule_candidates(comps.width, comps.height, comps.area, 20.0), turned=turned)
    found = rules is not None and rules.horizontal[60:62, 30:670].any(axis=0).all()
    assert found == turned


def test_a_bold_heading_resting_on_its_underline_is_read():
    # Large bold letters standing on the rule make one component whose box is over a third ink:
    # it is still searched for a rule (a photo is far fuller), so the heading is not dropped.
    page = Image.new("L", (900, 260), 255)
    draw = ImageDraw.Draw(page)
    heading = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 44)
    draw.text((30, 20), "(CARE WE TOO THREE:)", font=heading, fill=0)
    left, _, right, bottom = draw.textbbox((30, 20), "(CARE WE TOO THREE:)", font=heading)
    draw.rectangle((left, bottom - 6, right + 20, bottom - 3), fill=0)  # through the letters' feet
    body = ImageFont.truetype(SANS, 24)
    for row, text in enumerate(["nismetavep: reach the clerk", "Sotonyamsoh Y9TZV-RP fax line",
                                "round pero enbestodrte again"]):
        draw.text((30, 110 + 45 * row), text, font=body, fill=0)
    lines = find_lines(np.asarray(page).copy(), "page")
    assert len(lines) == 4
    x, y, w, h = lines[0].box
    assert y < bottom - 20 and x <= left + 5 and x + w >= right - 30


@pytest.mark.parametrize("margin", [0, 30])
@pytest.mark.parametrize("mode", ["line", "auto"])
def test_a_comb_fields_dividers_are_cropped_out_and_its_letters_kept(margin, mode):
    # A box per character (a form's comb field), cut tight or with paper around: each divider
    # runs from the top line to the bottom one, and read as it was it was a "1" between every
    # two characters. An "I" spanning nearly the box's height stays a letter.
    text, pitch = "4I7B", 44
    width, height = len(text) * pitch + 2 * margin + 3, 56 + 2 * margin
    frame = [(margin + index * pitch, margin, margin + index * pitch + 2, height - margin - 1)
             for index in range(len(text) + 1)]
    frame += [(margin, margin, width - margin - 1, margin + 2),
              (margin, height - margin - 3, width - margin - 1, height - margin - 1)]
    letters = [(char, margin + index * pitch + 12, margin + 12) for index, char in enumerate(text)]
    page = _page((width, height), letters, frame)
    rules = edge_lines(binarise(page))
    assert rules is not None
    ink = _text_ink((width, height), letters)
    assert not (rules.vertical & ink).any()  # the letters, the I's stem included, stay whole
    for x0, _, x1, _ in frame[:len(text) + 1]:
        assert rules.vertical[margin + 10:height - margin - 10, x0:x1 + 1].all()
    layout = find_layout(page, mode)
    assert len(layout.lines) == 1
    x, _, w, _ = layout.lines[0].box
    assert x >= margin + 8 and x + w <= width - margin - 8  # the letters alone
    # What the crops are cut from has paper where the dividers were, the letters as they were.
    source = page_for_crops(page, layout.rules)
    for x0, _, x1, _ in frame[:len(text) + 1]:
        assert (source[margin + 4:height - margin - 4, x0:x1 + 1] > 200).all()
    assert (source[ink] < 128).mean() > 0.95


def test_a_stroke_across_a_closed_frame_that_is_not_upright_is_no_divider():
    # A slanted stroke from the top line to the bottom one (a "/" or a written "1"): no column
    # is full, so it is no divider.
    width, height = 200, 60
    page = _page((width, height), [("12", 20, 14)],
                 [(0, 0, width - 1, 2), (0, height - 3, width - 1, height - 1),
                  (0, 0, 2, height - 1), (width - 3, 0, width - 1, height - 1)])
    page = page.copy()
    for y in range(3, height - 3):  # a one-in-four slant, 3 pixels wide
        x = 120 + (height - y) // 4
        page[y, x:x + 3] = 0
    rules = edge_lines(binarise(page))
    assert rules is not None
    assert not rules.vertical[10:-10, 20:width - 20].any()
