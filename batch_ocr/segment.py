"""Page -> text lines -> pieces: binarisation, deskew, connected components, XY-cut reading order.

Every size threshold is a multiple of `text_height`, the median height of the letter-sized ink
components, so the same rules hold from 8 px to 80 px x-height. The stages:

1. `binarize.flatten`: polarity, uneven light and tinted paper divided out, clamped Otsu.
2. Components are sorted into *specks* (dropped), *marks* (dots, accents, punctuation: attached to
   a nearby line but never start one), *letters* and *non-text*: oversize or solid components
   (pictures, bars, rules) and everything inside a picture area (mid-tone regions, or the box of a
   large picture component) is dropped. On pages, ruling lines that touch letters (table borders,
   form underlines through descenders) are first taken out of the ink (`rules.py`), so those
   letters are components of their own; `find_layout` hands the rules on for the crops.
3. Skew: the angle (up to +-15 degrees, `deskew.skew_angle`) that stacks letter centres into the
   fullest rows. Beyond `_ROTATE_MIN_DEG` the ink mask is rotated level and layout runs in that
   deskewed frame (boxes are mapped back; see deskew.py for the crop contract); smaller tilts are
   handled by shearing component coordinates level, which keeps boxes tight to the ink.
4. Pages: a recursive XY-cut on letter boxes gives blocks in reading order (wide vertical gutters
   make columns, left before right; wide horizontal gaps separate paragraphs). Inside a block,
   letters are clustered into lines by vertical overlap, tallest first so lines are seeded by
   full-height letters rather than by quotes or hyphens. A letter spanning two or more lines at
   their left edge is a drop capital: it becomes the first piece of the top line it spans.
5. Each line wider than `MAX_PIECE_ASPECT` times its height is split at word gaps (or, inside a
   very long word, at the emptiest column) so the recogniser never sees an over-long crop (a line
   crop of at most `LINE_CROP_LETTERS` components: `LINE_CROP_ASPECT`); and any line is split at
   a blank of about two ems (a table's column gap, a tab stop).

Known limits: columns need a white gutter running through the whole block (one holding a
table's drawn cell border is no column gap: such a table is read row by row, one without drawn
uprights column by column); curved lines and vertical text are not handled (quarter turns:
`deskew.rotation_candidates`); a cut inside a word (only when no word gap fits) and a drop
capital make the joined text contain a space there.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from batch_ocr.binarize import Flattened, binarise, flatten, picture_mask, without_frame
from batch_ocr.images import as_gray
from batch_ocr.deskew import (MAX_SKEW_DEG, DeskewTransform, box_to_original, densest_profile,
                              deskew_transform, hull_box, points_to_original, rotate_image,
                              skew_angle)
from batch_ocr.records import Box, LineRegion
from batch_ocr.rules import (Rule, Rules, edge_lines, find_rules, moved_rule, rule_candidates,
                             without_rules)
from batch_ocr.stats import median
from batch_ocr.table_rows import join_rows

__all__ = ["LINE_CROP_ASPECT", "LINE_CROP_LETTERS", "MAX_PIECE_ASPECT", "MODES", "Layout",
           "binarise", "find_layout", "find_lines", "letter_centres"]

# The widest piece (width / ink height) the recogniser reads reliably. Its training lines are
# mostly 5..30 characters (at most 40) and it reads 11-30 characters best (clean held-out lines:
# 93 % of 11-20 characters exactly right, 82 % of 31-40): 12 line heights hold about 25
# mixed-case characters, or about 14 caps and digits, whose ink box is lower; wider lines are
# split at word gaps. Against 16 (step-15000 printed model): page CER 1.93 -> 1.61 %, clean
# held-out lines 0.94 -> 0.80 %, harsh 32-px held-out lines 2.88 % either way.
MAX_PIECE_ASPECT = 12.0
# An image that holds one line (a line crop) is cut at MAX_PIECE_ASPECT only when it holds more
# than LINE_CROP_LETTERS components (about the 40 characters of the recogniser's longest training
# lines); fewer are read whole up to LINE_CROP_ASPECT. Cut at 12, those lines lost context at
# every cut: 600 validation lines in the held-out fonts read at 2.07 % CER (84.8 % right) cut at
# 12, 1.88 % (86.8 %) with this rule, 1.77 % (87.5 %) with it at 24. 24 read the 1 000 held-out
# harsh lines at 1.42 % against 1.52 % here, but the wider crops cost the model 5-15 % more time a
# line (its attention covers the whole crop at every step); at 16 it takes no longer than at 12.
# Lines on pages keep MAX_PIECE_ASPECT: with this rule at 24 there too, the stress pages read at
# 1.62 % page CER against 1.11 %, and at 16 for all lines the prose pages at 0.13 against 0.07 %.
LINE_CROP_LETTERS = 40
LINE_CROP_ASPECT = 16.0

MODES = ("auto", "page", "line")

# Below this height a component cannot be a letter the recogniser reads (x-height >= 8 px is the
# supported range; 4 px leaves room for small letters of mixed-size lines).
_MIN_LETTER_PX = 4

# Thresholds in units of text height.
_SPECK_SIZE = 0.12  # components smaller than this in area (squared) are noise
_LETTER_MIN = 0.35  # shorter components are marks (dots, accents, hyphens, commas)
_TALL_LETTER = 2.5  # taller letters join lines only after normal letters have seeded them
_OVERSIZE = 10.0  # taller components are pictures or frames (a 3-line drop capital is ~8)
_VERTICAL_RULE = 4.0  # a component this tall and thinner than _LETTER_MIN*2 is a vertical rule
_RULE_LENGTH = 12.0  # a component this wide and thinner than _LETTER_MIN*2 is a horizontal rule
_SOLID_WIDTH = 4.0  # a component this wide and more than half ink is a picture or bar ...
_SOLID_WORD_HEIGHT = 2.0  # ... unless no taller than this (a merged word, ascender to descender)
_SOLID_FILL = 0.8  # ... and less full of ink than this (a bar or table fill is nearly solid)
# A line whose box comes within _EDGE_PX of the image's top or bottom edge and is lower than
# _CLIPPED_SHARE of the tallest other line is a neighbour's clipped edge (auto mode).
_EDGE_PX = 1
_CLIPPED_SHARE = 0.7
_FILLS_IMAGE = 0.8  # auto: a line at least this share of the image's height makes it a line crop
_GUTTER = 1.2  # a white vertical gap at least this wide can separate columns ...
_COLUMN_MIN_WIDTH = 10.0  # ... if both sides are this wide (receipt prices are not a column) ...
_COLUMN_MIN_HEIGHT = 3.0  # ... and the block holds more than one line
_PARAGRAPH_GAP = 1.0  # white horizontal gaps at least this tall separate blocks
_LINE_OVERLAP = 0.5  # a letter joins a line when it overlaps its band by this share of the smaller
_TALL_LINE = 3.0  # in units of the median line height: few-letter lines this tall are picture
_FRAGMENT = 0.6  # in units of the median line height: shorter one- or two-letter lines are marks
_MAX_SHEAR_DEG = 8.0  # single lines and the residual tilt after rotation are sheared level
_ROTATE_MIN_DEG = 3.5  # pages tilted more than this are rotated level before layout; less
# is sheared level, which keeps boxes tight to the ink and pieces inside their line box
_RESIDUAL_DEG = 1.5  # tilt left after rotating by the estimated angle
# A line crop tilted more than this is turned level before it is cut: cut as upright boxes, the
# tilted text in them read worse (300 validation lines turned 5 degrees: 11.6 % CER, 8.7 %
# turned back). Below it, turning back costs as much as it gains (a second interpolation).
_LINE_ROTATE_MIN_DEG = 2.0
_LINE_ROTATE_MIN_SLOPE = float(np.tan(np.radians(_LINE_ROTATE_MIN_DEG)))  # as _skew_slope gives it
# ... and only where the line's ink, turned level, lies in a band this many text heights thinner:
# a level line whose tilt was misjudged (letters of mixed heights, a neighbour line's clipped
# edge) comes out no thinner, and is cut as it was.
_LINE_ROTATE_GAIN = 0.25
_SKEW_STEP_DEG = 0.25
_PICTURE_FILL = 0.15  # an oversize component this full of ink is a picture: its box is no text
_DROP_CAP_LINES = 2  # a tall letter spanning this many lines at their left edge is an initial
_MIN_SKEW_LETTERS = 8
_MARK_REACH = 1.0  # marks attach to a line within this distance (horizontal) ...
_MARK_REACH_Y = 0.6  # ... and this share of the line's height (vertical)
_SINGLE_LINE_HEIGHT = 1.8  # auto: an image at most this many text heights tall is one line
_WORD_GAP = 0.25  # in units of the line's median letter height: a gap this wide separates words
_WORD_GAP_OVER_MEDIAN = 1.8  # ... and a word gap is this much wider than the line's median gap
_SPAN_GAP = 3.5  # in units of the line's median letter height (about an x-height) ...
_SPAN_LINE_HEIGHTS = 2.0  # ... and of its box height: a gap this wide (about two ems, six or
# more word spaces) splits a line, however short
_MIN_GAPS_FOR_MEDIAN = 8  # (on lines with this many gaps, enough for the median to be a letter gap)


@dataclass
class _Components:
    """Connected ink components of a page as parallel arrays (label i+1 is entry i)."""

    labels: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray  # exclusive
    y1: np.ndarray  # exclusive
    area: np.ndarray

    @property
    def width(self) -> np.ndarray:
        return self.x1 - self.x0

    @property
    def height(self) -> np.ndarray:
        return self.y1 - self.y0


@dataclass
class _Line:
    letters: list[int]
    top: int
    bottom: int
    marks: list[int]
    initial: int | None = None  # a drop capital: the line's first piece, not part of its band


@dataclass
class Layout:
    """What `find_layout` found: the lines, and the ruling lines to paint out of the page before
    its crops are cut (`rules.erase_rules`; None when the page has none)."""

    lines: list[LineRegion]
    rules: Rules | None = None
    # Light text on dark paper (`Flattened.light_on_dark`): a crop reaching past the image's edge
    # is padded with the dark paper (`batching.crop_with_margin`).
    light_on_dark: bool = False
    gray_counts: np.ndarray | None = None  # the image's pixels per grey level, where counted


def find_lines(gray: np.ndarray, mode: str = "auto") -> list[LineRegion]:
    """Text lines of a uint8 (H, W) image in reading order, each with its pieces left to right.

    `mode`: 'line' reads the whole image as one line, 'page' runs layout analysis, 'auto' picks
    per image (one line found, or an image barely taller than its text, reads as 'line').
    Boxes are in the image's pixels: tight around the ink of level or slightly tilted lines; for
    a page tilted by more than `_ROTATE_MIN_DEG` the region's `angle` is set, its box is the hull
    of the level line box turned back, and its pieces follow the contract of deskew.py (crop them
    with `deskew.deskewed_crops`). A blank image gives [].
    """
    return find_layout(gray, mode).lines


def find_layout(gray: np.ndarray, mode: str = "auto") -> Layout:
    """`find_lines`, with the page's ruling lines (table borders, underlines) where layout
    analysis ran and found some: letters touching a rule are letters again, and the crops must
    be cut from the page with the rules painted out (`rules.page_for_crops`). One-line images
    keep their underlines, as the recogniser was trained, and lose only border lines along their
    edges (`rules.edge_lines`: a form cell cut out with its frame)."""
    if mode not in MODES:
        raise ValueError(f"segment mode must be one of {', '.join(MODES)}, not {mode!r}")
    image = as_gray(gray)
    page = flatten(image)
    if page is None:
        return Layout([])
    layout = _layout(image, page, mode)
    layout.light_on_dark = page.light_on_dark
    # Counts of the array given (not of a converted copy): crops are cut from that array.
    layout.gray_counts = page.gray_counts if image is gray else None
    return layout


def _layout(gray: np.ndarray, page: Flattened, mode: str) -> Layout:
    """`find_layout` of the image `gray`, flattened as `page`."""
    ink = page.ink  # a property that compares the whole page: made once here
    # A crop cut with its frame (a form cell, a label): the border lines along its edges are no
    # text; on pages the rule search below takes frames.
    edges = edge_lines(ink) if mode != "page" else None
    if edges is not None:
        page = without_frame(page, edges.any)
        ink = page.ink
    comps = _components(ink if edges is None else without_rules(ink, edges))
    text_height = _text_height(comps)
    if text_height is None:
        return Layout([], edges)
    # A crop with its frame is not turned: the frame would turn into the crop with it.
    turnable = page if edges is None else None
    if mode == "line" or (mode == "auto" and gray.shape[0] <= _SINGLE_LINE_HEIGHT * text_height):
        return Layout(_single_line(comps, text_height, whole_crop=True, page=turnable), edges)
    if mode == "auto":
        # A crop with margins whose letters lie in one line's band: the layout pass below would
        # find that line alone and end in the same reading, at twice the cost of the crop's
        # segmentation (bench lines: 1.10 against 0.60 ms).
        classified = _classify(comps, text_height)
        if _letters_band(comps, classified[0]) <= _SINGLE_LINE_HEIGHT * text_height:
            # All of its ink in that band too: one line whose underline may have swallowed most
            # of its letters (through their descenders) into one wide "rule". Read whole, as
            # `line` reads it; the letters alone would be what the underline left.
            inked = np.flatnonzero(comps.area >= _speck_area(text_height))
            whole = _letters_band(comps, inked) <= _SINGLE_LINE_HEIGHT * text_height
            return Layout(_single_line(comps, text_height, whole_crop=whole,
                                       classified=classified, page=turnable), edges)
        if edges is not None:  # more than a line after all: lay it out as it came
            comps = _components(ink)
            text_height = _text_height(comps) or text_height
            edges = None
    tilted = _tilted_page_lines(page, comps, text_height)
    if tilted is not None:
        lines, rules = tilted
    else:
        rules = _rules(comps, ink, text_height)
        if rules is not None:
            comps = _components(without_rules(ink, rules))
            text_height = _text_height(comps)
            if text_height is None:  # nothing but rules
                return Layout([], rules)
        lines = _page_lines(comps, text_height, _non_text(page, comps, text_height),
                            borders=rules.borders if rules is not None else (),
                            rows=rules.rows if rules is not None else ())
    if mode == "auto":
        lines = _without_clipped_neighbours(lines, gray.shape[0])
        turnable = page if rules is None else None
        if len(lines) <= 1:
            return Layout(_single_line(comps, text_height, page=turnable), rules)
        if max(region.box[3] for region in lines) >= _FILLS_IMAGE * gray.shape[0]:
            # A line as tall as the image: a line crop whose large or clipped letters made the
            # layout pass see several (each word a line, neighbours' edges more); read it whole.
            return Layout(_single_line(comps, text_height, whole_crop=True, page=turnable),
                          rules)
    return Layout(lines, rules)


def _without_clipped_neighbours(lines: list[LineRegion], image_height: int) -> list[LineRegion]:
    """`lines` less those cut by the image's top or bottom edge and far lower than the tallest
    other line: in a crop of a line or a few, the edge of a neighbouring line (the feet of the
    line above, the tops of the one below) is no line of its own, and read alone it is noise. The
    recogniser reads a line crop with such edges in it as it was trained to."""
    if len(lines) < 2:
        return lines
    heights = [region.box[3] for region in lines]
    kept = []
    for index, region in enumerate(lines):
        _, top, _, height = region.box
        at_edge = top <= _EDGE_PX or top + height >= image_height - _EDGE_PX
        tallest_other = max(heights[:index] + heights[index + 1:])
        if at_edge and region.angle == 0.0 and height < _CLIPPED_SHARE * tallest_other:
            continue
        kept.append(region)
    return kept


def _rules(comps: _Components, ink: np.ndarray, text_height: float, level: bool = False
           ) -> Rules | None:
    """The page's rules (`rules.find_rules`); `level`: the page is known to lie level (turned
    so), else its rules are looked for at the text's own slight tilt."""
    candidates = rule_candidates(comps.width, comps.height, comps.area, text_height)
    if candidates.size == 0:
        return None
    slope = 0.0 if level else _skew_slope(_classify(comps, text_height)[0], comps, text_height)
    boxes = np.stack([comps.x0, comps.y0, comps.x1, comps.y1], axis=1)
    return find_rules(ink, text_height, comps.labels, boxes, candidates, slope,
                      turned=level)


def letter_centres(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Centres (x, y) of the letter-sized ink components and the text height, or None when the
    image has no text; what skew and orientation estimates work from."""
    ink = binarise(as_gray(gray))
    if ink is None:
        return None
    comps = _components(ink)
    text_height = _text_height(comps)
    if text_height is None:
        return None
    letters, _ = _classify(comps, text_height)
    return ((comps.x0[letters] + comps.x1[letters]) / 2.0,
            (comps.y0[letters] + comps.y1[letters]) / 2.0, text_height)


def _tilted_page_lines(page: Flattened, comps: _Components, text_height: float
                       ) -> tuple[list[LineRegion], Rules | None] | None:
    """Layout in the deskewed frame for a page tilted beyond `_ROTATE_MIN_DEG`, with the rules
    found there mapped back onto the page; else None."""
    letters, _ = _classify(comps, text_height)
    if letters.size < _MIN_SKEW_LETTERS:
        return None
    cx = (comps.x0[letters] + comps.x1[letters]) / 2.0
    cy = (comps.y0[letters] + comps.y1[letters]) / 2.0
    angle = skew_angle(cx, cy, max(1.0, text_height / 4.0), MAX_SKEW_DEG)
    if abs(angle) <= _ROTATE_MIN_DEG:
        return None
    level, transform = _turned_level(page, angle)
    level_ink = level.ink
    level_comps = _components(level_ink)
    level_height = _text_height(level_comps)
    if level_height is None:
        return None
    rules = _rules(level_comps, level_ink, level_height, level=True)
    # In the deskewed frame, as layout works there.
    borders, rows = (rules.borders, rules.rows) if rules is not None else ([], [])
    if rules is not None:
        level_comps = _components(without_rules(level_ink, rules))
        level_height = _text_height(level_comps)
        rules = rules.to_original(transform.inverse, page.flat.shape)
        if level_height is None:  # nothing but rules
            return [], rules
    non_text = _non_text(level, level_comps, level_height)
    return _page_lines(level_comps, level_height, non_text, transform, borders, rows), rules
def _components(ink: np.ndarray) -> _Components:
    # Block-based labelling (BBDT): with one OpenCV thread, as in the worker process, it labels a
    # page in 6.6 ms where the default (Spaghetti) takes 10.3, a line crop in 56 us instead of
    # 68; same labels, same order, same statistics.
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        ink.view(np.uint8), 8, cv2.CV_32S, cv2.CCL_BBDT)
    stats = stats[1:].astype(np.int64)
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    return _Components(labels, x0, y0, x0 + stats[:, cv2.CC_STAT_WIDTH],
                       y0 + stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA])


def _letters_band(comps: _Components, letters: np.ndarray) -> int:
    """Height of the band `letters` span, top of the highest to bottom of the lowest."""
    if letters.size == 0:
        return 0
    return int(comps.y1[letters].max() - comps.y0[letters].min())


def _text_height(comps: _Components) -> float | None:
    """Median height of letter-like components, or None when there are none (specks only)."""
    heights = comps.height
    letters = (heights >= _MIN_LETTER_PX) & (comps.area >= 2 * _MIN_LETTER_PX)
    if not letters.any():
        return None
    return median(heights[letters])


def _speck_area(text_height: float) -> float:
    """Components of less ink than this (pixels) are specks: noise, not text."""
    return max(2.0, (_SPECK_SIZE * text_height) ** 2)


def _classify(comps: _Components, text_height: float, non_text: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of letters and of marks; specks and oversize parts (rules, pictures, frames) are in
    neither, nor is anything flagged in `non_text` (bool per component)."""
    heights, widths = comps.height, comps.width
    speck = comps.area < _speck_area(text_height)
    letter = ~speck & (heights >= max(_MIN_LETTER_PX, _LETTER_MIN * text_height))
    tall = heights > _OVERSIZE * text_height
    # Thin on average rather than in its box, so a slightly tilted rule is still a rule.
    rule = (widths > _RULE_LENGTH * text_height) & \
        (comps.area < 2 * _LETTER_MIN * text_height * widths)
    rule |= (heights > _VERTICAL_RULE * text_height) & \
        (comps.area < 2 * _LETTER_MIN * text_height * heights)
    # No letter is several text heights wide and mostly ink (bars, photos, table fills) -- but a
    # word whose letters ran together (small or bold print at 75-100 dpi, a blurred heading) is
    # that wide and over half ink too: one no taller than a line and not nearly solid is text.
    fill = comps.area / np.maximum(widths * heights, 1)
    solid = (widths > _SOLID_WIDTH * text_height) & (fill > 0.5) & \
        ((heights > _SOLID_WORD_HEIGHT * text_height) | (fill > _SOLID_FILL))
    letter &= ~(tall | solid | rule)
    speck |= tall | rule | solid
    if non_text is not None:
        speck |= non_text
        letter &= ~non_text
    mark = ~speck & ~letter
    return np.flatnonzero(letter), np.flatnonzero(mark)


def _non_text(page: Flattened, comps: _Components, text_height: float) -> np.ndarray:
    """bool per component: inside a picture. A picture is a mid-tone area (`picture_mask`) or the
    box of an oversize component full of ink (a dark photo binarises into one big blob plus
    specks and fragments inside its box, which must not become lines)."""
    count = comps.area.size
    flagged = np.zeros(count, dtype=bool)
    if count == 0:
        return flagged
    cx = ((comps.x0 + comps.x1) // 2).astype(np.int64)
    cy = ((comps.y0 + comps.y1) // 2).astype(np.int64)
    pictures = picture_mask(page, text_height)
    if pictures.any():
        flagged |= pictures[cy, cx]
    widths, heights = comps.width, comps.height
    big = (np.maximum(widths, heights) > _OVERSIZE * text_height) & \
        (np.minimum(widths, heights) > 2 * text_height) & \
        (comps.area > _PICTURE_FILL * widths * heights)
    reach = text_height  # fragments of a photo also lie just outside its largest blob's box
    for index in np.flatnonzero(big):
        inside = (cx >= comps.x0[index] - reach) & (cx < comps.x1[index] + reach) & \
                 (cy >= comps.y0[index] - reach) & (cy < comps.y1[index] + reach)
        flagged |= inside
    return flagged
def _single_line(comps: _Components, text_height: float, whole_crop: bool = False,
                 classified: tuple[np.ndarray, np.ndarray] | None = None,
                 page: Flattened | None = None,
                 transform: DeskewTransform | None = None) -> list[LineRegion]:
    """The components as one line; `classified`: `_classify`'s letters and marks, when known.
    With `page` (the flattened image the components are of), a line tilted more than
    `_LINE_ROTATE_MIN_DEG` is laid out on the page turned level (`_levelled_line`); `transform`:
    the components are of a page so turned, and the region is mapped back (deskew.py)."""
    if whole_crop:
        # The image is known to be one line: bold or blurred words that merge into one wide solid
        # blob, underlines and clipped neighbour lines are part of what the recogniser reads
        # (it was trained on such crops); only specks are left out.
        letters = np.flatnonzero(comps.area >= _speck_area(text_height))
        marks = np.array([], dtype=np.int64)
    else:
        letters, marks = classified if classified is not None else \
            _classify(comps, text_height)
    if letters.size == 0:
        return []
    slope = _skew_slope(letters, comps, text_height)
    if page is not None and abs(slope) > _LINE_ROTATE_MIN_SLOPE:
        levelled = _levelled_line(page, -float(np.degrees(np.arctan(slope))), whole_crop,
                                  _ink_band(comps, text_height))
        if levelled:
            return levelled
    laid = _sheared(comps, slope)
    line = _Line(letters.tolist(), int(laid.y0[letters].min()), int(laid.y1[letters].max()), [])
    # The image's one line: a dash or bullet a wide space before its first word, or a mark a
    # space after its last, is still its own (on a page it could be a neighbour column's).
    _attach_marks([line], marks, laid, text_height, reach_x=np.inf)
    region = _region(line, comps, slope, line_crop=True)
    return [region if transform is None else _to_original(region, line, comps, transform)]


def _turned_level(page: Flattened, angle: float) -> tuple[Flattened, DeskewTransform]:
    """`page` turned by `angle` degrees (level, for a page tilted by -angle), and the transform.
    The flattened page (not the mask) is rotated, so interpolation keeps strokes smooth and the
    picture map sees the same mid-tones as on a level page."""
    transform = deskew_transform(page.flat.shape, angle)
    return replace(page, flat=rotate_image(page.flat, transform, page.paper)), transform


def _levelled_line(page: Flattened, angle: float, whole_crop: bool, band: int
                   ) -> list[LineRegion]:
    """`_single_line` of `page` turned level by `angle` degrees, its region in `page`'s
    coordinates (angle set: cut with `deskew.deskewed_crops`); [] when nothing is left, or when
    the ink turned level is not `_LINE_ROTATE_GAIN` text heights thinner than its `band` was."""
    level, transform = _turned_level(page, angle)
    comps = _components(level.ink)
    text_height = _text_height(comps)
    if text_height is None:
        return []
    if _ink_band(comps, text_height) > band - _LINE_ROTATE_GAIN * text_height:
        return []
    return _single_line(comps, text_height, whole_crop, transform=transform)


def _ink_band(comps: _Components, text_height: float) -> int:
    """Height of the band all but the specks span."""
    return _letters_band(comps, np.flatnonzero(comps.area >= _speck_area(text_height)))


def _page_lines(comps: _Components, text_height: float, non_text: np.ndarray | None = None,
                transform: DeskewTransform | None = None,
                borders: Sequence[Rule] = (),
                rows: Sequence[Rule] = ()) -> list[LineRegion]:
    """`borders`, `rows`: a table's upright cell borders and horizontal rules
    (`rules.Rules.borders`, `rules.Rules.rows`) in `comps`' frame."""
    letters, marks = _classify(comps, text_height, non_text)
    max_degrees = _RESIDUAL_DEG if transform is not None else _MAX_SHEAR_DEG
    slope = _skew_slope(letters, comps, text_height, max_degrees)
    # Layout runs on coordinates sheared level, so a tilted line still lies in one band; boxes
    # are reported in the image's own coordinates.
    laid = _sheared(comps, slope)
    laid_borders = _turned(borders, slope)
    lines: list[_Line] = []
    for block in _reading_blocks(letters, laid, text_height, laid_borders):
        lines.extend(_cluster_lines(block, laid, text_height))
    lines, demoted = _demote_fragments(lines, laid)
    _attach_marks(lines, np.concatenate([marks, demoted]).astype(np.int64), laid, text_height)
    joined = join_rows([(np.array(line.letters, np.int64), np.array(line.marks, np.int64))
                        for line in lines], laid.x0, laid.y0, laid.x1, laid.y1, laid_borders,
                       _turned(rows, slope, across=True), text_height) if borders else []
    row_at = {row.lines[0]: row for row in joined}
    taken = {index for row in joined for index in row.lines[1:]}
    regions = []
    for index, line in enumerate(lines):
        if index in taken:
            continue
        parts = [line] if index not in row_at else \
            [_Line(cell.letters.tolist(), int(laid.y0[cell.letters].min()),
                   int(laid.y1[cell.letters].max()), cell.marks.tolist())
             for cell in row_at[index].cells]
        part_regions = [_region(part, comps, slope) for part in parts]
        if transform is not None:
            part_regions = [_to_original(region, part, comps, transform)
                            for region, part in zip(part_regions, parts)]
        regions.append(_joined(part_regions))
    return regions


def _joined(regions: list[LineRegion]) -> LineRegion:
    """One line of `regions` (a table row's cells, left to right), each piece of theirs a piece
    of it, a word space between cells."""
    if len(regions) == 1:
        return regions[0]
    left = min(region.box[0] for region in regions)
    top = min(region.box[1] for region in regions)
    right = max(region.box[0] + region.box[2] for region in regions)
    bottom = max(region.box[1] + region.box[3] for region in regions)
    pieces: list[Box] = []
    glued: list[int] = []
    for region in regions:
        glued.extend(len(pieces) + index for index in region.glued)
        pieces.extend(region.pieces)
    return LineRegion(box=(left, top, right - left, bottom - top), pieces=pieces,
                      angle=regions[0].angle, glued=tuple(glued))


def _to_original(region: LineRegion, line: _Line, comps: _Components,
                 transform: DeskewTransform) -> LineRegion:
    """A region of the deskewed frame -> original coordinates: the box is the hull of its ink
    (component boxes turned back), the pieces the hulls of their level rectangles (unclipped, so
    `deskew.box_to_deskewed` recovers them exactly)."""
    members = np.array(line.letters + line.marks + ([line.initial] if line.initial is not None
                                                    else []))
    corners = np.concatenate([
        np.stack([comps.x0[members], comps.y0[members]], axis=1),
        np.stack([comps.x1[members], comps.y0[members]], axis=1),
        np.stack([comps.x0[members], comps.y1[members]], axis=1),
        np.stack([comps.x1[members], comps.y1[members]], axis=1)]).astype(np.float64)
    pieces = [box_to_original(piece, transform) for piece in region.pieces]
    # The line box also covers its pieces (a piece's rotated corners may reach a pixel or two
    # past the ink), so every piece lies inside its line as on level pages.
    piece_corners = np.concatenate([[(x, y), (x + w, y + h)] for x, y, w, h in pieces])
    ink = points_to_original(corners, transform)
    box = hull_box(np.concatenate([ink, piece_corners]).astype(np.float64), transform.shape)
    return LineRegion(box=box, pieces=pieces, angle=transform.angle, glued=region.glued)


@functools.lru_cache(maxsize=4)
def _shear_slopes(max_degrees: float) -> np.ndarray:
    """Candidate slopes, small angles first: on a tie (a level page scores the same at several
    angles) the first, smallest one wins. Each is computed by the same scalar expression the
    per-angle loop used, so the chosen slope is bit for bit what it was."""
    degrees = np.arange(0.0, max_degrees + 1e-9, _SKEW_STEP_DEG)
    angles = [0.0] + [sign * d for d in degrees[1:] for sign in (1, -1)]
    slopes = np.array([float(np.tan(np.radians(angle))) for angle in angles])
    slopes.flags.writeable = False  # shared by every call through the cache
    return slopes


def _skew_slope(letters: np.ndarray, comps: _Components, text_height: float,
                max_degrees: float = _MAX_SHEAR_DEG) -> float:
    """Text slope dy/dx within +-max_degrees: the shear under which letter centres pile up in the
    fewest, fullest rows (a projection profile of centres per angle)."""
    if letters.size < _MIN_SKEW_LETTERS:
        return 0.0
    cx = (comps.x0[letters] + comps.x1[letters]) / 2.0
    cy = (comps.y0[letters] + comps.y1[letters]) / 2.0
    slopes = _shear_slopes(max_degrees)
    rows = cy[None, :] - slopes[:, None] * cx[None, :]  # each centre's row under each shear
    return float(slopes[densest_profile(rows, max(1.0, text_height / 4.0))])


def _sheared(comps: _Components, slope: float) -> _Components:
    """Component boxes moved so their centres lie where turning the page level puts them (boxes
    keep their size): rows become level, and so do column gutters, which a pure vertical shear
    would leave slanted across a tall column."""
    if slope == 0.0:
        return comps
    theta = np.arctan(slope)
    cx, cy = (comps.x0 + comps.x1) / 2.0, (comps.y0 + comps.y1) / 2.0
    shift_x = np.round(cx * np.cos(theta) + cy * np.sin(theta) - cx).astype(np.int64)
    shift_y = np.round(cy * np.cos(theta) - cx * np.sin(theta) - cy).astype(np.int64)
    return replace(comps, x0=comps.x0 + shift_x, x1=comps.x1 + shift_x,
                   y0=comps.y0 + shift_y, y1=comps.y1 + shift_y)


def _turned(rules: Sequence[Rule], slope: float, across: bool = False) -> list[Rule]:
    """Upright rules (x, top, bottom), or with `across` horizontal ones (y, left, right), turned
    as `_sheared` turns component centres."""
    if slope == 0.0 or not rules:
        return list(rules)
    theta = np.arctan(slope)
    cos, sin = np.cos(theta), np.sin(theta)
    turn = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    return [moved_rule(turn, rule, across) for rule in rules]


def _merged_gaps(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """White gaps (gap_start, gap_end) between the union of [start, end) intervals."""
    gap_starts, gap_ends = _gap_bounds(starts, ends)
    return list(zip(gap_starts.tolist(), gap_ends.tolist()))


def _gap_bounds(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_merged_gaps` as two arrays, their starts and ends."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)  # right edge of the union so far
    opens = np.flatnonzero(starts[1:] > reach[:-1])
    return reach[opens], starts[opens + 1]


def _reading_blocks(letters: np.ndarray, comps: _Components, text_height: float,
                    borders: Sequence[Rule] = ()) -> list[np.ndarray]:
    """Recursive XY-cut: letter indices grouped into blocks, blocks in reading order. A gutter
    holding a table's cell border (`borders`) is no column gap: a table is read row by row."""
    done: list[np.ndarray] = []
    pending = [letters] if letters.size else []
    while pending:
        block = pending.pop()
        if _beyond_a_table(block, comps, text_height, borders):
            # Lines above or below a table first go their own way: a word space of theirs in
            # line with the gap between two cells would otherwise pass for a column gutter
            # down the whole block, and the table's rows would be read in two halves.
            parts = _horizontal_cut(block, comps, text_height) or _vertical_cut(
                block, comps, text_height, borders)
        else:
            parts = _vertical_cut(block, comps, text_height, borders) or _horizontal_cut(
                block, comps, text_height)
        if parts is None:
            done.append(block)
        else:  # push in reverse so the first part is processed (and emitted) first
            pending.extend(reversed(parts))
    return done


def _beyond_a_table(block: np.ndarray, comps: _Components, text_height: float,
                    borders: Sequence[Rule]) -> bool:
    """Whether the block holds rows of a table (cell borders run down part of it, three or more
    side by side: a frame's two sides make no table) and lines more than a text height above or
    below them."""
    top, bottom = comps.y0[block].min(), comps.y1[block].max()
    for _, border_top, border_bottom in borders:
        side_by_side = sum(min(border_bottom, other_bottom) - max(border_top, other_top)
                           >= 0.5 * (border_bottom - border_top)
                           for _, other_top, other_bottom in borders)
        if side_by_side >= 3 and min(bottom, border_bottom) > max(top, border_top) and \
                (top < border_top - text_height or bottom > border_bottom + text_height):
            return True
    return False


def _vertical_cut(block: np.ndarray, comps: _Components, text_height: float,
                  borders: Sequence[Rule] = ()
                  ) -> list[np.ndarray] | None:
    x0, x1 = comps.x0[block], comps.x1[block]
    top, bottom = comps.y0[block].min(), comps.y1[block].max()
    # Measured in the block's own letters: a title's word spaces are as wide as body gutters.
    text_height = max(text_height, median(comps.height[block]))
    if bottom - top < _COLUMN_MIN_HEIGHT * text_height:
        return None
    left, right = x0.min(), x1.max()
    best = None
    for gap_start, gap_end in _merged_gaps(x0, x1):
        wide_enough = gap_end - gap_start >= _GUTTER * text_height
        sides_ok = min(gap_start - left, right - gap_end) >= _COLUMN_MIN_WIDTH * text_height
        if wide_enough and sides_ok and (best is None or gap_end - gap_start > best[1] - best[0]) \
                and not _holds_border((gap_start, gap_end), (top, bottom), borders):
            best = (gap_start, gap_end)
    if best is None:
        return None
    is_left = x1 <= best[0]
    # A column holds lines on both sides: a gap that only one line of text crosses on one side
    # is a wide word space (a bullet, a tab) inside a paragraph, not a gutter.
    y0, y1 = comps.y0[block], comps.y1[block]
    for side in (is_left, ~is_left):
        if y1[side].max() - y0[side].min() < _COLUMN_MIN_HEIGHT * text_height:
            return None
    return [block[is_left], block[~is_left]]


def _holds_border(gap: tuple[int, int], rows: tuple[int, int],
                  borders: Sequence[Rule]) -> bool:
    """Whether a table's cell border runs down the gap `gap` (x range) over at least half of the
    block's `rows` (top, bottom), or of the border."""
    top, bottom = rows
    for x, border_top, border_bottom in borders:
        overlap = min(bottom, border_bottom) - max(top, border_top)
        if gap[0] <= x <= gap[1] and overlap >= 0.5 * min(bottom - top, border_bottom - border_top):
            return True
    return False


def _horizontal_cut(block: np.ndarray, comps: _Components, text_height: float
                    ) -> list[np.ndarray] | None:
    y0, y1 = comps.y0[block], comps.y1[block]
    gaps = [g for g in _merged_gaps(y0, y1) if g[1] - g[0] >= _PARAGRAPH_GAP * text_height]
    if not gaps:
        return None
    # The widest gap first: a title's gap above two columns is cut before the columns' line gaps.
    gap_start, gap_end = max(gaps, key=lambda g: g[1] - g[0])
    is_above = y1 <= gap_start
    return [block[is_above], block[~is_above]]


def _cluster_lines(block: np.ndarray, comps: _Components, text_height: float) -> list[_Line]:
    """Letters of one block -> lines by vertical overlap, top to bottom."""
    heights = comps.height[block]
    # Tallest first seeds each line with a full-height letter; very tall ones (two touching
    # lines, drop capitals) wait until the normal lines exist so they cannot fuse two of them.
    late = heights > _TALL_LETTER * text_height
    order = np.lexsort((-heights, late))
    tops = np.empty(len(block), dtype=np.int64)
    bottoms = np.empty(len(block), dtype=np.int64)
    lines: list[_Line] = []
    for k in order:
        index = int(block[k])
        top, bottom = int(comps.y0[index]), int(comps.y1[index])
        if lines:
            n = len(lines)
            overlap = np.minimum(bottoms[:n], bottom) - np.maximum(tops[:n], top)
            share = overlap / np.minimum(bottoms[:n] - tops[:n], bottom - top)
            if late[k] and _take_initial(index, lines, share, comps, text_height):
                continue
            best = int(np.argmax(share))
            if share[best] >= _LINE_OVERLAP:
                line = lines[best]
                line.letters.append(index)
                line.top, line.bottom = min(line.top, top), max(line.bottom, bottom)
                tops[best], bottoms[best] = line.top, line.bottom
                continue
        tops[len(lines)], bottoms[len(lines)] = top, bottom
        lines.append(_Line([index], top, bottom, []))
    lines = _merge_same_band(lines)
    lines.sort(key=lambda line: line.top + line.bottom)
    return lines


def _merge_same_band(lines: list[_Line]) -> list[_Line]:
    """Merge lines whose bands overlap like a letter and its line do. Letters seed lines in
    height order, so a line of large type (a title) can start as two bands, one from its
    small letters (or an i's dot) and one from its full-height ones, that only grow together
    later; left apart they read the same words twice."""
    lines = sorted(lines, key=lambda line: line.top)
    out: list[_Line] = []
    for line in lines:
        if out:
            last = out[-1]
            overlap = min(last.bottom, line.bottom) - max(last.top, line.top)
            if overlap >= _LINE_OVERLAP * min(last.bottom - last.top, line.bottom - line.top) \
                    and None in (last.initial, line.initial):
                last.letters.extend(line.letters)
                last.initial = line.initial if last.initial is None else last.initial
                last.top, last.bottom = min(last.top, line.top), max(last.bottom, line.bottom)
                continue
        out.append(line)
    return out


def _take_initial(index: int, lines: list[_Line], share: np.ndarray, comps: _Components,
                  text_height: float) -> bool:
    """Make a tall letter the drop capital of the top line it spans, when it spans at least
    `_DROP_CAP_LINES` lines of normal letters and stands at their left edge. Joining it to one
    line's band instead would stretch that line over its neighbours' text."""
    spanned = [i for i in np.flatnonzero(share >= 0.6) if lines[i].initial is None]
    if len(spanned) < _DROP_CAP_LINES:
        return False
    # An initial spans lines of much smaller letters (a title's capital spans only its own line).
    body = median(np.concatenate([comps.height[lines[i].letters] for i in spanned]))
    if comps.height[index] < _DROP_CAP_LINES * body:
        return False
    lefts = [int(comps.x0[lines[i].letters].min()) for i in spanned]
    # Beside the lines, at most a little more than its own height away (an initial is set close).
    gap = min(lefts) - int(comps.x1[index])
    if gap < -text_height or gap > 1.5 * comps.height[index]:
        return False
    top_line = min(spanned, key=lambda i: lines[i].top)
    lines[top_line].initial = index
    return True


def _demote_fragments(lines: list[_Line], comps: _Components) -> tuple[list[_Line], np.ndarray]:
    """Split off 'lines' that are only a stray comma, quote or dust: one or two letters much
    shorter than a typical line, or a lone blob below the smallest readable letter. Their letters
    become marks, so a comma hanging below its own line still lands in that line's box."""
    if not lines:
        return lines, np.zeros(0, dtype=np.int64)
    typical = median([line.bottom - line.top for line in lines])
    kept, demoted = [], []
    for line in lines:
        height = line.bottom - line.top
        if height > _TALL_LINE * typical and len(line.letters) <= 2:
            continue  # one or two blobs many lines tall: the dark parts of a picture, not text
        lone_dust = len(line.letters) == 1 and height < 2 * _MIN_LETTER_PX
        if lone_dust or (len(line.letters) <= 2 and height < _FRAGMENT * typical):
            demoted.extend(line.letters)
        else:
            kept.append(line)
    return kept, np.array(demoted, dtype=np.int64)


def _attach_marks(lines: list[_Line], marks: np.ndarray, comps: _Components,
                  text_height: float, reach_x: float = _MARK_REACH) -> None:
    """Give each mark (dot, accent, comma, hyphen) to the nearest line it plausibly belongs to;
    marks near no line are dropped as noise. `reach_x`: how far left or right of a line's letters
    a mark may lie, in text heights."""
    if not lines or marks.size == 0:
        return
    left = np.array([comps.x0[line.letters].min() for line in lines]) - reach_x * text_height
    right = np.array([comps.x1[line.letters].max() for line in lines]) + reach_x * text_height
    tops = np.array([line.top for line in lines], dtype=np.float64)
    bottoms = np.array([line.bottom for line in lines], dtype=np.float64)
    reach = _MARK_REACH_Y * (bottoms - tops)
    center_x = (comps.x0[marks] + comps.x1[marks]) / 2.0
    center_y = (comps.y0[marks] + comps.y1[marks]) / 2.0
    for mark, cx, cy in zip(marks, center_x, center_y):
        distance = np.maximum(tops - cy, 0) + np.maximum(cy - bottoms, 0)
        distance[(cx < left) | (cx > right) | (distance > reach)] = np.inf
        best = int(np.argmin(distance))
        if np.isfinite(distance[best]):
            lines[best].marks.append(int(mark))


def _region(line: _Line, comps: _Components, slope: float, line_crop: bool = False
            ) -> LineRegion:
    """The region of `line`; `line_crop`: the image holds this line alone (LINE_CROP_LETTERS)."""
    members = np.array(line.letters + line.marks)
    x0, x1 = int(comps.x0[members].min()), int(comps.x1[members].max())
    y0, y1 = int(comps.y0[members].min()), int(comps.y1[members].max())
    box = (x0, y0, x1 - x0, y1 - y0)
    if line.initial is not None:
        # The drop capital is read on its own, scaled like a letter of its own size; the line's
        # box covers it, the remaining pieces keep the line's own height.
        i = line.initial
        initial: Box = (int(comps.x0[i]), int(comps.y0[i]), int(comps.width[i]),
                        int(comps.height[i]))
        rest = _region(replace(line, initial=None), comps, slope, line_crop)
        left, top = min(initial[0], x0), min(initial[1], y0)
        right = max(initial[0] + initial[2], x1)
        bottom = max(initial[1] + initial[3], y1)
        # The initial is the first letter of the line's first word: no space after it.
        return LineRegion(box=(left, top, right - left, bottom - top),
                          pieces=[initial] + rest.pieces,
                          glued=(1,) + tuple(i + 1 for i in rest.glued))
    letter_height = median(comps.height[line.letters])
    # A tilted line's box is taller than its text; the text's own height (the band in sheared
    # coordinates) then sets the piece width limit, and each piece gets its own vertical extent.
    band = line.bottom - line.top
    tilted = abs(slope) * box[2] > 0.25 * band
    pieces, glued = _split_pieces(box, members, comps, letter_height, band if tilted else box[3],
                                  line_crop)
    if tilted and len(pieces) > 1:
        pieces = [_fit_vertically(piece, box, members, comps) for piece in pieces]
    return LineRegion(box=box, pieces=pieces, glued=glued)


def _split_pieces(box: Box, members: np.ndarray, comps: _Components, letter_height: float,
                  text_height: int, line_crop: bool = False
                  ) -> tuple[list[Box], tuple[int, ...]]:
    """Cut a line into pieces no wider than MAX_PIECE_ASPECT times `text_height` (for a
    `line_crop` of at most LINE_CROP_LETTERS components, LINE_CROP_ASPECT), left to right,
    and say which pieces start inside a word (cut at a letter gap or through ink: glued). A blank
    of about two ems between its letters always cuts it, each side hugging its own letters.

    Each cut goes into the widest word gap in the second half of the allowed width (so pieces are
    neither tiny nor cut inside a word when a word gap exists), else the rightmost word gap, else
    the emptiest column of the last 40 % (a single over-long word). Pieces keep the line's
    vertical extent so all pieces of a line are scaled alike by the recogniser (tilted lines are
    fitted afterwards, see `_fit_vertically`).
    """
    x, y, w, h = box
    aspect = MAX_PIECE_ASPECT
    if line_crop and members.size <= LINE_CROP_LETTERS:
        aspect = LINE_CROP_ASPECT
    max_width = max(2, int(aspect * text_height))
    # A gap of a couple of ems is a table's column gap or a tab stop, never a word space: a crop
    # spanning one derails the attention decoder (a blank stretch it was never trained on), so
    # each side is read on its own. The line box's height keeps specks in a degraded crop, which
    # pull the median letter height down, from making letter gaps look wide.
    span_gap = max(_SPAN_GAP * letter_height, _SPAN_LINE_HEIGHTS * text_height)
    if w <= span_gap:
        return [box], ()  # too narrow to hold a gap that splits it
    gap_starts, gap_ends = _gap_bounds(comps.x0[members], comps.x1[members])
    wide = gap_ends - gap_starts >= span_gap
    if not wide.any() and w <= max_width:
        return [box], ()  # most lines: no list of their gaps is made
    spans = [_blank_run((int(a), int(b)), (y, h), comps.labels)
             for a, b in zip(gap_starts[wide], gap_ends[wide])]
    spans = [g for g in spans if g[1] - g[0] >= span_gap]
    if not spans and w <= max_width:
        return [box], ()
    gaps = list(zip(gap_starts.tolist(), gap_ends.tolist()))
    min_word_gap = _word_gap(gaps, letter_height)
    pieces: list[Box] = []
    glued: list[int] = []
    start = x
    for gap_start, gap_end in spans + [(x + w, x + w)]:
        # Each side hugs its own letters: ink of no line beside them (a picture's) stays out.
        own = members[(comps.x0[members] >= start) & (comps.x1[members] <= gap_start)]
        if own.size == 0:
            start = gap_end
            continue
        first, last = int(comps.x0[own].min()), int(comps.x1[own].max())
        inside = [g for g in gaps if first <= g[0] and g[1] <= last]
        span_pieces, span_glued = _split_span(box, first, last, max_width, inside,
                                              min_word_gap, members, comps)
        glued.extend(len(pieces) + index for index in span_glued)
        pieces.extend(span_pieces)
        start = gap_end
    return pieces, tuple(glued)


def _blank_run(gap: tuple[int, int], rows: tuple[int, int], labels: np.ndarray
               ) -> tuple[int, int]:
    """The widest run of columns in `gap` (between the line's own components) holding no ink of
    any component over the line's `rows` (y, height): a letter the layout left out of the line
    (a blotched one, say) still fills its columns."""
    y, h = rows
    empty = ~(labels[y:y + h, gap[0]:gap[1]] != 0).any(axis=0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], empty.view(np.int8), [0]])))
    if edges.size == 0:
        return gap[0], gap[0]
    starts, ends = edges[::2], edges[1::2]
    widest = int(np.argmax(ends - starts))
    return gap[0] + int(starts[widest]), gap[0] + int(ends[widest])


def _split_span(box: Box, start: int, end: int, max_width: int, gaps: list[tuple[int, int]],
                min_word_gap: float, members: np.ndarray, comps: _Components
                ) -> tuple[list[Box], list[int]]:
    """The columns [start, end) of the line `box` cut into pieces as `_split_pieces` says, and
    which of them (indices into these pieces) start inside a word."""
    x, y, _, h = box
    pieces: list[Box] = []
    glued: list[int] = []
    profile = None
    while end - start > max_width:
        limit = start + max_width
        half = start + max_width // 2
        feasible = [g for g in gaps if start < g[0] <= limit]
        late = [g for g in feasible if g[0] >= half]
        words = [g for g in feasible if g[1] - g[0] >= min_word_gap]
        late_words = [g for g in late if g[1] - g[0] >= min_word_gap]
        if late_words:
            cut = max(late_words, key=lambda g: (g[1] - g[0], g[0]))
        elif words:
            cut = words[-1]
        elif late:
            cut = max(late, key=lambda g: (g[1] - g[0], g[0]))
            glued.append(len(pieces) + 1)
        else:
            glued.append(len(pieces) + 1)
            if profile is None:
                window = np.isin(comps.labels[y:y + h, x:end], members + 1)
                profile = window.sum(axis=0)
            lo = start + max(1, int(0.6 * max_width))
            span = profile[lo - x:limit - x + 1]
            # Rightmost minimum: the longest piece that still cuts through the least ink.
            column = lo + len(span) - 1 - int(np.argmin(span[::-1]))
            following = np.flatnonzero(profile[column - x:]) + column
            cut = (column, int(following[0]) if following.size else column)
        pieces.append((start, y, cut[0] - start, h))
        start = cut[1]
    pieces.append((start, y, end - start, h))
    return pieces, glued


def _word_gap(gaps: list[tuple[int, int]], letter_height: float) -> float:
    """The narrowest gap that separates words in a line. Mostly a share of the letter height, but
    the gaps between letters vary with the font's spacing and, in small print, come within a pixel
    of that share; most gaps in a line are letter gaps, so a word gap must also be clearly wider
    than the line's median gap."""
    widths = [end - start for start, end in gaps]
    floor = _WORD_GAP * letter_height
    if len(widths) < _MIN_GAPS_FOR_MEDIAN:
        return floor
    return max(floor, _WORD_GAP_OVER_MEDIAN * median(widths))


def _fit_vertically(piece: Box, box: Box, members: np.ndarray, comps: _Components) -> Box:
    """Shrink a tilted line's piece to the rows its own components use, but never so far that it
    breaks the aspect limit (the line box leaves room: its height exceeds the text's)."""
    px, _, pw, _ = piece
    centers = (comps.x0[members] + comps.x1[members]) / 2.0
    inside = members[(centers >= px) & (centers < px + pw)]
    if inside.size == 0:
        return piece
    top, bottom = int(comps.y0[inside].min()), int(comps.y1[inside].max())
    missing = int(np.ceil(pw / MAX_PIECE_ASPECT)) - (bottom - top)
    if missing > 0:
        top -= missing // 2
        bottom += missing - missing // 2
        shift = max(box[1] - top, 0) - max(bottom - (box[1] + box[3]), 0)
        top, bottom = top + shift, bottom + shift
    top, bottom = max(top, box[1]), min(bottom, box[1] + box[3])
    return (px, top, pw, bottom - top)
