"""Page -> text lines -> pieces: binarisation, connected components, XY-cut reading order.

Every size threshold is a multiple of `text_height`, the median height of the letter-sized ink
components, so the same rules hold from 8 px to 80 px x-height. The stages:

1. `binarise`: polarity from the sign of strong deviations from a local median (text is the
   minority class), uneven illumination divided out by that median background, then Otsu clamped
   to stay clear of the paper's noise (a blank or noise-only page yields no ink at all).
2. Components are sorted into *specks* (dropped), *marks* (dots, accents, punctuation: attached to
   a nearby line but never start one), *letters* and *oversize* (pictures, bars, rules: dropped).
3. The text's tilt (up to 8 degrees) is the shear that stacks letter centres into the fullest
   rows; layout then works on sheared coordinates, so tilted lines stay whole.
4. Pages: a recursive XY-cut on letter boxes gives blocks in reading order (wide vertical gutters
   make columns, left before right; wide horizontal gaps separate paragraphs). Inside a block,
   letters are clustered into lines by vertical overlap, tallest first so lines are seeded by
   full-height letters rather than by quotes or hyphens.
5. Each line wider than `MAX_PIECE_ASPECT` times its height is split at word gaps (or, inside a
   very long word, at the emptiest column) so the recogniser never sees an over-long crop.

Known limits: no picture detection beyond oversize/solid components (a textured photo becomes
spurious lines); columns need a white gutter running through the whole block; tilt beyond 8
degrees, curved lines and vertical text are not handled; a cut inside a word (only when no word
gap fits) makes the joined text contain a space there.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from batch_ocr.records import Box, LineRegion

# The widest piece (width / ink height) the recogniser reads reliably. Its training lines are
# mostly 5..30 characters (at most 40): 16 line heights hold about 35 mixed-case characters, or
# about 19 for caps and digits, whose ink box is lower; wider lines are split at word gaps.
MAX_PIECE_ASPECT = 16.0

MODES = ("auto", "page", "line")

# Below this height a component cannot be a letter the recogniser reads (x-height >= 8 px is the
# supported range; 4 px leaves room for small letters of mixed-size lines).
_MIN_LETTER_PX = 4
# Background and polarity are estimated on a copy at most this large: cheap and smooth enough.
_WORK_SIZE = 512
# Ink must be at least this many grey levels darker than the paper (after flattening).
_MIN_CONTRAST = 30.0

# Thresholds in units of text height.
_SPECK_SIZE = 0.12  # components smaller than this in area (squared) are noise
_LETTER_MIN = 0.35  # shorter components are marks (dots, accents, hyphens, commas)
_TALL_LETTER = 2.5  # taller letters join lines only after normal letters have seeded them
_OVERSIZE = 6.0  # taller components are pictures, frames or vertical rules
_RULE_LENGTH = 12.0  # a component this wide and thinner than _LETTER_MIN*2 is a horizontal rule
_SOLID_WIDTH = 4.0  # a component this wide and more than half ink is a picture or bar
_GUTTER = 1.2  # a white vertical gap at least this wide can separate columns ...
_COLUMN_MIN_WIDTH = 10.0  # ... if both sides are this wide (receipt prices are not a column) ...
_COLUMN_MIN_HEIGHT = 3.0  # ... and the block holds more than one line
_PARAGRAPH_GAP = 1.0  # white horizontal gaps at least this tall separate blocks
_LINE_OVERLAP = 0.5  # a letter joins a line when it overlaps its band by this share of the smaller
_FRAGMENT = 0.6  # in units of the median line height: shorter one- or two-letter lines are marks
_MAX_SKEW_DEG = 8.0  # pages tilted more than this need deskewing before segmentation
_SKEW_STEP_DEG = 0.25
_MIN_SKEW_LETTERS = 8
_MARK_REACH = 1.0  # marks attach to a line within this distance (horizontal) ...
_MARK_REACH_Y = 0.6  # ... and this share of the line's height (vertical)
_SINGLE_LINE_HEIGHT = 1.8  # auto: an image at most this many text heights tall is one line
_WORD_GAP = 0.25  # in units of the line's median letter height: a gap this wide separates words


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


def find_lines(gray: np.ndarray, mode: str = "auto") -> list[LineRegion]:
    """Text lines of a uint8 (H, W) image in reading order, each with its pieces left to right.

    `mode`: 'line' reads the whole image as one line, 'page' runs layout analysis, 'auto' picks
    per image (one line found, or an image barely taller than its text, reads as 'line').
    Boxes are tight around the ink, in the image's pixels. A blank image gives [].
    """
    if mode not in MODES:
        raise ValueError(f"segment mode must be one of {', '.join(MODES)}, not {mode!r}")
    gray = _as_gray(gray)
    ink = binarise(gray)
    if ink is None:
        return []
    comps = _components(ink)
    text_height = _text_height(comps)
    if text_height is None:
        return []
    if mode == "line" or (mode == "auto" and gray.shape[0] <= _SINGLE_LINE_HEIGHT * text_height):
        return _single_line(comps, text_height)
    lines = _page_lines(comps, text_height)
    if mode == "auto" and len(lines) <= 1:
        return _single_line(comps, text_height)
    return lines


def binarise(gray: np.ndarray) -> np.ndarray | None:
    """uint8 (H, W) image -> bool ink mask (True = ink) for either polarity and uneven lighting,
    or None when nothing stands out from the background (uniform or noise-only images)."""
    height, width = gray.shape
    if min(height, width) < 3:
        return None
    scale = min(1.0, _WORK_SIZE / max(height, width))
    if scale < 1.0:
        size = (max(3, round(width * scale)), max(3, round(height * scale)))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    else:
        small = gray
    # A median window far larger than a letter sees mostly paper, so it estimates the background
    # under the text; a quarter of the image follows shading gradients but not strokes.
    window = max(3, max(small.shape) // 4) | 1
    background = cv2.medianBlur(small, window).astype(np.float32)
    deviation = small.astype(np.float32) - background
    noise = 1.4826 * float(np.median(np.abs(deviation))) + 1.0
    darker = float(np.clip(-deviation - 3 * noise, 0, None).sum())
    lighter = float(np.clip(deviation - 3 * noise, 0, None).sum())
    if lighter > darker:  # light text on dark: the strong deviations point up
        gray, small, background = 255 - gray, 255 - small, 255.0 - background
    # A floor keeps heavy strokes that leak into the median estimate from being divided away.
    background = np.maximum(background, max(1.0, 0.4 * float(np.percentile(background, 95))))
    if scale < 1.0:
        background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    flat = gray.astype(np.float32) * (255.0 / background)
    # Pixel noise from neighbour differences on every 4th row: edges are too few to bias the
    # median, and, unlike the spread of grey levels, it is not inflated by large areas of ink.
    rows = flat[::4]
    noise = 1.0483 * float(np.median(np.abs(rows[:, 1:] - rows[:, :-1])))
    flat = np.clip(flat, 0, 255).astype(np.uint8)
    cumulative = np.cumsum(np.bincount(flat.ravel(), minlength=256))
    paper = float(np.searchsorted(cumulative, cumulative[-1] / 2.0))  # median grey level
    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Otsu splits pure noise in half; never threshold closer to the paper than 4 sigma of noise.
    threshold = min(float(otsu), paper - 4.0 * noise)
    if paper - threshold < _MIN_CONTRAST:
        return None
    return flat < threshold


def _as_gray(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim == 3:
        if gray.shape[2] == 1:
            gray = gray[:, :, 0]
        else:
            code = cv2.COLOR_RGBA2GRAY if gray.shape[2] == 4 else cv2.COLOR_RGB2GRAY
            gray = cv2.cvtColor(np.ascontiguousarray(gray, dtype=np.uint8), code)
    if gray.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(gray)


def _components(ink: np.ndarray) -> _Components:
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=8)
    stats = stats[1:].astype(np.int64)
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    return _Components(labels, x0, y0, x0 + stats[:, cv2.CC_STAT_WIDTH],
                       y0 + stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA])


def _text_height(comps: _Components) -> float | None:
    """Median height of letter-like components, or None when there are none (specks only)."""
    heights = comps.height
    letters = (heights >= _MIN_LETTER_PX) & (comps.area >= 2 * _MIN_LETTER_PX)
    if not letters.any():
        return None
    return float(np.median(heights[letters]))


def _classify(comps: _Components, text_height: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of letters and of marks; specks and oversize parts (rules, pictures, frames) are in
    neither."""
    heights, widths = comps.height, comps.width
    speck = comps.area < max(2.0, (_SPECK_SIZE * text_height) ** 2)
    letter = ~speck & (heights >= max(_MIN_LETTER_PX, _LETTER_MIN * text_height))
    tall = heights > _OVERSIZE * text_height
    rule = (widths > _RULE_LENGTH * text_height) & (heights < 2 * _LETTER_MIN * text_height)
    # No letter is several text heights wide and mostly ink (bars, photos, table fills).
    solid = (widths > _SOLID_WIDTH * text_height) & (comps.area > 0.5 * widths * heights)
    letter &= ~(tall | solid)
    speck |= tall | rule | solid
    mark = ~speck & ~letter
    return np.flatnonzero(letter), np.flatnonzero(mark)


def _single_line(comps: _Components, text_height: float) -> list[LineRegion]:
    letters, marks = _classify(comps, text_height)
    if letters.size == 0:
        return []
    slope = _skew_slope(letters, comps, text_height)
    laid = _sheared(comps, slope)
    line = _Line(letters.tolist(), int(laid.y0[letters].min()), int(laid.y1[letters].max()), [])
    _attach_marks([line], marks, laid, text_height)
    return [_region(line, comps, slope)]


def _page_lines(comps: _Components, text_height: float) -> list[LineRegion]:
    letters, marks = _classify(comps, text_height)
    slope = _skew_slope(letters, comps, text_height)
    # Layout runs on coordinates sheared level, so a tilted line still lies in one band; boxes
    # are reported in the image's own coordinates.
    laid = _sheared(comps, slope)
    lines: list[_Line] = []
    for block in _reading_blocks(letters, laid, text_height):
        lines.extend(_cluster_lines(block, laid, text_height))
    lines, demoted = _demote_fragments(lines, laid)
    _attach_marks(lines, np.concatenate([marks, demoted]).astype(np.int64), laid, text_height)
    return [_region(line, comps, slope) for line in lines]


def _skew_slope(letters: np.ndarray, comps: _Components, text_height: float) -> float:
    """Text slope dy/dx within +-_MAX_SKEW_DEG: the shear under which letter centres pile up in the
    fewest, fullest rows (a projection profile of centres, so it costs one bincount per angle)."""
    if letters.size < _MIN_SKEW_LETTERS:
        return 0.0
    cx = (comps.x0[letters] + comps.x1[letters]) / 2.0
    cy = (comps.y0[letters] + comps.y1[letters]) / 2.0
    row = max(1.0, text_height / 4.0)
    degrees = np.arange(0.0, _MAX_SKEW_DEG + 1e-9, _SKEW_STEP_DEG)
    best_slope, best_score = 0.0, -1.0
    # Small angles first: on a tie (a level page scores the same at several angles) they win.
    for angle in [0.0] + [sign * d for d in degrees[1:] for sign in (1, -1)]:
        slope = float(np.tan(np.radians(angle)))
        rows = cy - slope * cx
        counts = np.bincount(((rows - rows.min()) / row).astype(np.int64))
        score = float(np.dot(counts, counts))
        if score > best_score:
            best_slope, best_score = slope, score
    return best_slope


def _sheared(comps: _Components, slope: float) -> _Components:
    if slope == 0.0:
        return comps
    shift = np.round(-slope * (comps.x0 + comps.x1) / 2.0).astype(np.int64)
    return replace(comps, y0=comps.y0 + shift, y1=comps.y1 + shift)


def _merged_gaps(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """White gaps (gap_start, gap_end) between the union of [start, end) intervals."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)  # right edge of the union so far
    opens = np.flatnonzero(starts[1:] > reach[:-1])
    return [(int(reach[i]), int(starts[i + 1])) for i in opens]


def _reading_blocks(letters: np.ndarray, comps: _Components, text_height: float
                    ) -> list[np.ndarray]:
    """Recursive XY-cut: letter indices grouped into blocks, blocks in reading order."""
    done: list[np.ndarray] = []
    pending = [letters] if letters.size else []
    while pending:
        block = pending.pop()
        parts = _vertical_cut(block, comps, text_height) or _horizontal_cut(block, comps,
                                                                            text_height)
        if parts is None:
            done.append(block)
        else:  # push in reverse so the first part is processed (and emitted) first
            pending.extend(reversed(parts))
    return done


def _vertical_cut(block: np.ndarray, comps: _Components, text_height: float
                  ) -> list[np.ndarray] | None:
    x0, x1 = comps.x0[block], comps.x1[block]
    top, bottom = comps.y0[block].min(), comps.y1[block].max()
    if bottom - top < _COLUMN_MIN_HEIGHT * text_height:
        return None
    left, right = x0.min(), x1.max()
    best = None
    for gap_start, gap_end in _merged_gaps(x0, x1):
        wide_enough = gap_end - gap_start >= _GUTTER * text_height
        sides_ok = min(gap_start - left, right - gap_end) >= _COLUMN_MIN_WIDTH * text_height
        if wide_enough and sides_ok and (best is None or gap_end - gap_start > best[1] - best[0]):
            best = (gap_start, gap_end)
    if best is None:
        return None
    is_left = x1 <= best[0]
    return [block[is_left], block[~is_left]]


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
            best = int(np.argmax(share))
            if share[best] >= _LINE_OVERLAP:
                line = lines[best]
                line.letters.append(index)
                line.top, line.bottom = min(line.top, top), max(line.bottom, bottom)
                tops[best], bottoms[best] = line.top, line.bottom
                continue
        tops[len(lines)], bottoms[len(lines)] = top, bottom
        lines.append(_Line([index], top, bottom, []))
    lines.sort(key=lambda line: line.top + line.bottom)
    return lines


def _demote_fragments(lines: list[_Line], comps: _Components) -> tuple[list[_Line], np.ndarray]:
    """Split off 'lines' that are only a stray comma, quote or dust: one or two letters much
    shorter than a typical line, or a lone blob below the smallest readable letter. Their letters
    become marks, so a comma hanging below its own line still lands in that line's box."""
    if not lines:
        return lines, np.zeros(0, dtype=np.int64)
    typical = float(np.median([line.bottom - line.top for line in lines]))
    kept, demoted = [], []
    for line in lines:
        height = line.bottom - line.top
        lone_dust = len(line.letters) == 1 and height < 2 * _MIN_LETTER_PX
        if lone_dust or (len(line.letters) <= 2 and height < _FRAGMENT * typical):
            demoted.extend(line.letters)
        else:
            kept.append(line)
    return kept, np.array(demoted, dtype=np.int64)


def _attach_marks(lines: list[_Line], marks: np.ndarray, comps: _Components,
                  text_height: float) -> None:
    """Give each mark (dot, accent, comma, hyphen) to the nearest line it plausibly belongs to;
    marks near no line are dropped as noise."""
    if not lines or marks.size == 0:
        return
    left = np.array([comps.x0[line.letters].min() for line in lines]) - _MARK_REACH * text_height
    right = np.array([comps.x1[line.letters].max() for line in lines]) + _MARK_REACH * text_height
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


def _region(line: _Line, comps: _Components, slope: float) -> LineRegion:
    members = np.array(line.letters + line.marks)
    x0, x1 = int(comps.x0[members].min()), int(comps.x1[members].max())
    y0, y1 = int(comps.y0[members].min()), int(comps.y1[members].max())
    box = (x0, y0, x1 - x0, y1 - y0)
    letter_height = float(np.median(comps.height[line.letters]))
    # A tilted line's box is taller than its text; the text's own height (the band in sheared
    # coordinates) then sets the piece width limit, and each piece gets its own vertical extent.
    band = line.bottom - line.top
    tilted = abs(slope) * box[2] > 0.25 * band
    pieces = _split_pieces(box, members, comps, letter_height, band if tilted else box[3])
    if tilted and len(pieces) > 1:
        pieces = [_fit_vertically(piece, box, members, comps) for piece in pieces]
    return LineRegion(box=box, pieces=pieces)


def _split_pieces(box: Box, members: np.ndarray, comps: _Components, letter_height: float,
                  text_height: int) -> list[Box]:
    """Cut a line into pieces no wider than MAX_PIECE_ASPECT times `text_height`, left to right.

    Each cut goes into the widest word gap in the second half of the allowed width (so pieces are
    neither tiny nor cut inside a word when a word gap exists), else the rightmost word gap, else
    the emptiest column of the last 40 % (a single over-long word). Pieces keep the line's
    vertical extent so all pieces of a line are scaled alike by the recogniser (tilted lines are
    fitted afterwards, see `_fit_vertically`).
    """
    x, y, w, h = box
    max_width = max(2, int(MAX_PIECE_ASPECT * text_height))
    if w <= max_width:
        return [box]
    gaps = _merged_gaps(comps.x0[members], comps.x1[members])
    min_word_gap = _WORD_GAP * letter_height
    profile = None
    pieces: list[Box] = []
    start, end = x, x + w
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
        else:
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
    return pieces


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
