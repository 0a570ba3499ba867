"""Ruling lines (table grids, underlined form fields and headings, frames): found in a page's ink
mask, taken out of the layout and painted out of the page the crops are cut from.

Without this a letter that touches a rule (a descender on a form's underline, a figure resting on
a cell border) shares one ink component with it, the component is too large to be a letter, and
the letter is dropped with the rule; and a cell border inside a line's box is read as "|".

A horizontal rule is a run of ink at least `_MIN_RUN` text heights long, on average at most
`_MAX_THICKNESS` text heights thick and `_MIN_ELONGATION` times longer than thick, touching
something (letters, other rules) and with paper along one side. Upright rules meet a horizontal
one (a table's) or are `_LONE_UPRIGHT` text heights long (between columns). That is longer than
any stroke of a letter at the page's text size (an em dash is about 1.4 text heights), thinner
than a line of merged bold letters, and not the texture of a photo. Runs are found by a
morphological opening with a one-pixel-thin bar, which keeps a crossing letter stroke out of the
rule, inside the box of each component long enough to hold one: most pages have none and pay
nothing. A page tilted by a few degrees is searched at its text's slope (each box turned level),
one tilted beyond `segment._ROTATE_MIN_DEG` in its deskewed frame. The uprights that meet
horizontal rules are a table's cell borders: layout reads such a table row by row.

One-line crops are not searched (the recogniser was trained on underlined lines); a crop cut
with its border (a form cell) loses the lines along its edges (`edge_lines`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

_MIN_RUN = 6.0  # text heights, a horizontal rule (a photo's texture has straight runs of 4)
_MIN_UPRIGHT = 3.0  # text heights, an upright rule that meets a horizontal one (a table's)
_LONE_UPRIGHT = 8.0  # text heights, an upright rule meeting no horizontal one
_MAX_THICKNESS = 0.5  # text heights, mean over the rule's length
_MIN_ELONGATION = 20.0  # a horizontal rule is at least this many times longer than thick
_SIDE_BAND = 0.5  # text heights: the band along each side of a rule ...
_SIDE_INK = 0.25  # ... of which at most this share is ink on one side at least
# A component whose box is more ink than this is a blob (a photo), no rule. A large bold heading
# standing on its underline fills over a third of its box; at 0.3 it was never searched, and the
# heading was dropped with the rule as one wide dark component.
_BLOB_FILL = 0.5
_LEVEL_SLOPE = np.tan(np.radians(0.3))  # flatter lines are searched as they lie
_EDGE_FILL = 0.9  # a crop's border line: a row or column along its edge this full of ink
_EDGE = 1  # pixels beside a rule also cleared: the grey fringe a scan or anti-aliasing leaves


# A rule as a segment: an upright one as (x, top, bottom), a horizontal one as (y, left, right).
Rule = tuple[float, float, float]


@dataclass
class Rules:
    """Where the rules of a page lie: bool masks (H, W), fringe included."""

    horizontal: np.ndarray
    vertical: np.ndarray
    thickness: int  # the thickest rule's mean thickness in pixels, fringe included
    # Upright rules that meet horizontal ones (a table's cell borders) as (x, top, bottom), in
    # the frame they were found in: columns on either side of one are a table's, read across.
    borders: list[Rule] = field(default_factory=list)
    # The horizontal rules of the tables those borders belong to as (y, left, right), same frame:
    # between two of them lies a row, whose cells are read as one line.
    rows: list[Rule] = field(default_factory=list)

    # Whether the horizontal rules are painted out of the crops too: a page's are left in, as
    # the recogniser was trained on underlined lines (`page_for_crops`).
    paint_horizontal: bool = True

    @cached_property
    def any(self) -> np.ndarray:
        # Made once: layout takes the rules out of the ink.
        return self.horizontal | self.vertical

    @property
    def painted(self) -> np.ndarray:
        """The rules cropping paints out."""
        return self.any if self.paint_horizontal else self.vertical

    def to_original(self, inverse: np.ndarray, shape: tuple[int, int]) -> Rules:
        """These masks, found in a deskewed frame, mapped back by the affine `inverse` onto an
        image of `shape` (height, width)."""
        size = (shape[1], shape[0])
        return Rules(_warp(self.horizontal, inverse, size), _warp(self.vertical, inverse, size),
                     self.thickness, paint_horizontal=self.paint_horizontal)


@dataclass
class _Runs:
    """Thin runs of ink along one axis, labelled (0 elsewhere); per label (index 0 is the
    background's): length along the axis, mean thickness, extent across the axis and box."""

    labels: np.ndarray
    length: np.ndarray
    thickness: np.ndarray
    across: np.ndarray
    boxes: np.ndarray  # (x, y, width, height)
    axis: int  # 1: horizontal, 0: upright


def rule_candidates(widths: np.ndarray, heights: np.ndarray, area: np.ndarray,
                    text_height: float) -> np.ndarray:
    """Indices of the ink components that may hold a rule: long enough, and not a blob."""
    long = (widths >= _MIN_RUN * text_height) | (heights >= _MIN_UPRIGHT * text_height)
    return np.flatnonzero(long & (area <= _BLOB_FILL * widths * heights))


def find_rules(ink: np.ndarray, text_height: float, labels: np.ndarray, boxes: np.ndarray,
               candidates: np.ndarray, slope: float = 0.0, turned: bool = False) -> Rules | None:
    """The rules in a bool ink mask whose letters are `text_height` pixels high, or None.
    `labels`: the mask's connected components (OpenCV labels), `boxes` their (x0, y0, x1, y1)
    (row i is label i+1); only the `candidates` among them are searched, each in its own box.
    `slope`: the text lines' dy/dx; a scan tilted by a degree or two tilts its rules as much,
    and each box is turned level for the search (a tilted thin rule has no long level run)."""
    height, width = ink.shape
    horizontal = np.zeros(ink.shape, dtype=bool)
    vertical = np.zeros(ink.shape, dtype=bool)
    thickest = 0.0
    borders: list[Rule] = []
    rows: list[Rule] = []
    band = max(1, round(_SIDE_BAND * text_height))
    margin = band + 2 + _EDGE
    for index in candidates:
        x0, y0, x1, y1 = (int(v) for v in boxes[index])
        # The box with room for the paper test and the fringe around it.
        wx0, wy0 = max(0, x0 - margin), max(0, y0 - margin)
        wx1, wy1 = min(width, x1 + margin), min(height, y1 + margin)
        own = labels[wy0:wy1, wx0:wx1] == index + 1
        window = ink[wy0:wy1, wx0:wx1]
        if abs(slope) < _LEVEL_SLOPE:
            found_h, found_v, thickness, uprights, levels = _search(own, window, text_height, band,
                                                                    turned=turned)
        else:
            turn, size = _levelling(own.shape, slope)
            level = [_warp(mask, turn, size) for mask in (own, window)]
            found_h, found_v, thickness, uprights, levels = _search(*level, text_height, band,
                                                                    turned=True)
            back = cv2.invertAffineTransform(turn)
            # Turned back, a rule comes out a pixel or two thicker than it was drawn; only its
            # own ink is its (the fringe is added below), so letters resting on it keep theirs.
            found_h, found_v = (_warp(mask, back, own.shape[::-1]) & own
                                for mask in (found_h, found_v))
            uprights = [moved_rule(back, upright) for upright in uprights]
            levels = [moved_rule(back, level_rule, across=True) for level_rule in levels]
        borders.extend((x + wx0, top + wy0, bottom + wy0) for x, top, bottom in uprights)
        rows.extend((y + wy0, left + wx0, right + wx0) for y, left, right in levels)
        thickest = max(thickest, thickness)
        horizontal[wy0:wy1, wx0:wx1] |= found_h
        vertical[wy0:wy1, wx0:wx1] |= found_v
    if thickest == 0.0:
        return None
    grow = np.ones((2 * _EDGE + 1, 2 * _EDGE + 1), np.uint8)  # the fringe, all round
    horizontal, vertical = (cv2.dilate(mask.view(np.uint8), grow).view(bool)
                            for mask in (horizontal, vertical))
    return Rules(horizontal, vertical, int(np.ceil(thickest)) + 2 * _EDGE, borders, rows,
                 paint_horizontal=False)


def moved_rule(matrix: np.ndarray, rule: Rule, across: bool = False) -> Rule:
    """An upright (x, top, bottom), or with `across` a horizontal rule (y, left, right), moved
    by an affine map (its two ends)."""
    middle, start, end = rule
    points = [[start, middle, 1.0], [end, middle, 1.0]] if across else \
        [[middle, start, 1.0], [middle, end, 1.0]]
    ends = np.array(points) @ matrix.T
    if across:
        return float(ends[:, 1].mean()), float(ends[0, 0]), float(ends[1, 0])
    return float(ends[:, 0].mean()), float(ends[0, 1]), float(ends[1, 1])


def _search(own: np.ndarray, ink: np.ndarray, text_height: float, band: int,
            turned: bool = False) -> tuple[np.ndarray, np.ndarray, float, list[Rule], list[Rule]]:
    """One component's rules, horizontal and upright (bool masks like `own`, the component's
    pixels in a window of the page's `ink`), the thickest one's mean thickness (0: none), the
    uprights that meet horizontal rules as (x, top, bottom), and where there are some (a table),
    the horizontal rules as (y, left, right). `turned`: the masks were turned level (see
    `_thin_runs`)."""
    rows = np.flatnonzero(own.any(axis=1))
    extent = int(rows[-1] + 1 - rows[0]) if rows.size else 0
    runs = _thin_runs(own, _MIN_RUN * text_height, _MAX_THICKNESS * text_height, axis=1,
                      bridged=turned)
    # Long against its thickness: a light heading's T bar is three text heights long too.
    # A run that touches nothing (its component no taller than itself) is no trouble: the
    # layout drops it, or keeps it under its line as a mark, as the recogniser was trained
    # (and a long dash in a large heading is such a run).
    keep = (runs.length >= _MIN_ELONGATION * np.maximum(runs.thickness, 1.0)) & \
        (extent > runs.across + 2 * _EDGE)
    keep = _paper_beside(ink, runs, keep, band)
    found_h = keep[runs.labels]
    thickest = max([0.0, *runs.thickness[keep]])
    levels = [(y + h / 2.0, float(x), float(x + w))
              for x, y, w, h in runs.boxes[np.flatnonzero(keep)].tolist()]
    # The stem of a large heading's letter is as thin and tall as a short upright rule; a
    # table's uprights meet its horizontal rules, and a lone rule between columns is long.
    runs = _thin_runs(own, _MIN_UPRIGHT * text_height, _MAX_THICKNESS * text_height, axis=0,
                      bridged=turned)
    keep = runs.length >= _LONE_UPRIGHT * text_height
    meeting = np.zeros_like(keep)
    if found_h.any():
        meets = cv2.dilate(found_h.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
        meeting[np.unique(runs.labels[meets])] = True
        meeting[0] = False
    keep = _paper_beside(ink, runs, keep | meeting, band)
    uprights = [(x + w / 2.0, float(y), float(y + h))
                for x, y, w, h in runs.boxes[np.flatnonzero(keep & meeting)].tolist()]
    return (found_h, keep[runs.labels], max([thickest, *runs.thickness[keep]]), uprights,
            levels if uprights else [])


def _levelling(shape: tuple[int, int], slope: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The affine map turning a (height, width) window so lines of `slope` lie level, onto a
    canvas just holding it, and that canvas's (width, height)."""
    theta = np.arctan(slope)
    cos, sin = np.cos(theta), np.sin(theta)
    height, width = shape
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=np.float64)
    # Each corner (x, y) goes to (x cos + y sin, y cos - x sin).
    turned = corners @ np.array([[cos, -sin], [sin, cos]])
    low = turned.min(axis=0)
    matrix = np.array([[cos, sin, -low[0]], [-sin, cos, -low[1]]])
    size = np.ceil(turned.max(axis=0) - low).astype(int) + 1
    return matrix, (int(size[0]), int(size[1]))


def _warp(mask: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A bool mask moved by an affine map onto a canvas of `size` (width, height). Bilinear, and
    a pixel a quarter covered counts: nearest-neighbour sampling breaks a one-pixel line."""
    moved = cv2.warpAffine(mask.view(np.uint8) * np.uint8(255), matrix, size,
                           flags=cv2.INTER_LINEAR, borderValue=0)
    return moved >= 64


def _thin_runs(own: np.ndarray, min_length: float, max_thickness: float, axis: int,
               bridged: bool = False) -> _Runs:
    """Runs of ink in the bool mask `own` along `axis` (1: horizontal, 0: upright) at least
    `min_length` pixels long and at most `max_thickness` thick on average. `bridged`: each line
    of pixels along the axis is joined with the next one across it first: a thin rule turned
    level (a tilted scan's) wavers between two such lines, a pixel here in one and there in the
    other, and neither holds a long run alone."""
    if bridged:
        joined = own.copy()
        if axis == 1:
            joined[:-1] |= own[1:]
        else:
            joined[:, :-1] |= own[:, 1:]
        own = joined
    # Odd: an even bar's opening comes back shifted by a pixel, losing one end of each rule.
    run = max(9, round(min_length)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1) if axis == 1 else (1, run))
    # Outside the box is paper: OpenCV's default border would count it as ink, and a stroke
    # that spans the box would pass for a run however short.
    opened = cv2.morphologyEx(own.view(np.uint8), cv2.MORPH_OPEN, kernel,
                              borderType=cv2.BORDER_CONSTANT, borderValue=0)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(opened, 8, cv2.CV_32S)
    along, across = (cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT) if axis == 1 else \
        (cv2.CC_STAT_HEIGHT, cv2.CC_STAT_WIDTH)
    length = stats[:, along].astype(np.float64)
    thickness = stats[:, cv2.CC_STAT_AREA] / np.maximum(length, 1.0)
    thin = thickness <= max_thickness
    thin[0] = False  # the background
    labels[~thin[labels]] = 0
    return _Runs(labels, np.where(thin, length, 0.0), thickness, stats[:, across], stats[:, :4],
                 axis)


def _paper_beside(ink: np.ndarray, runs: _Runs, keep: np.ndarray, band: int) -> np.ndarray:
    """`keep`, less the runs with ink along both sides: a rule has paper along one side at least
    over most of its length (the letters resting on an underline are above it, not below),
    where the straight runs of a photo's texture lie among more ink. `ink` is the page's ink
    where the runs were found."""
    keep = keep.copy()
    height, width = ink.shape
    for label in np.flatnonzero(keep):
        x, y, w, h = (int(v) for v in runs.boxes[label])
        if runs.axis == 1:
            sides = (ink[max(0, y - 1 - band):max(0, y - 1), x:x + w],
                     ink[min(height, y + h + 1):y + h + 1 + band, x:x + w])
        else:
            sides = (ink[y:y + h, max(0, x - 1 - band):max(0, x - 1)],
                     ink[y:y + h, min(width, x + w + 1):x + w + 1 + band])
        keep[label] = min(side.mean() if side.size else 0.0 for side in sides) <= _SIDE_INK
    return keep


def without_rules(ink: np.ndarray, rules: Rules) -> np.ndarray:
    """The ink mask with the rules (and their fringe) taken out."""
    return ink & ~rules.any


def edge_lines(ink: np.ndarray) -> Rules | None:
    """Border lines along the edges of a crop (a form cell or label cut out with its frame), or
    None: rows or columns within an eighth of the image from an edge that are nearly all ink.
    A border along the top or bottom counts alone (no row of letters is that full); one along a
    side only with a top or bottom one, and only between them, since the stem of a first or last
    letter of a tightly cut crop fills a column as fully. A frame drawn inside a margin of paper
    counts when it closes on all four sides (`_inset_frame`)."""
    height, width = ink.shape
    depth = max(1, height // 8)
    # Ink per row, by OpenCV: a third of NumPy's time on a line crop; counted once for both tests.
    counts = cv2.reduce(ink.view(np.uint8), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    if max(counts[:depth].max(), counts[height - depth:].max()) < _EDGE_FILL * width:
        return _inset_frame(ink, counts)  # most crops
    return _frame_rules(ink, 0, height, 0, width)


def _inset_frame(ink: np.ndarray, counts: np.ndarray) -> Rules | None:
    """The frame around the ink of a crop whose margin of paper lies outside the frame (a label,
    a boxed field cut with room around it), or None: its inked box's first and last rows nearly
    all ink across it, and a line down each side between them. An underline alone, as wide as
    the text's ink, is no frame: the recogniser was trained on underlined lines. `counts`: the
    ink of each row."""
    lines = np.flatnonzero(counts)
    if lines.size == 0:
        return None
    top, bottom = int(lines[0]), int(lines[-1]) + 1
    # No row is wider than the inked box: a first or last row short of the fullest one (the tops
    # of a few letters, most crops) is short of the box too, and no column need be looked at.
    if min(counts[top], counts[bottom - 1]) < _EDGE_FILL * counts.max():
        return None
    columns = np.flatnonzero(ink.any(axis=0))
    left, right = int(columns[0]), int(columns[-1]) + 1
    box = ink.view(np.uint8)[top:bottom, left:right]
    full = _EDGE_FILL * (right - left)
    if box[0].sum() < full or box[-1].sum() < full:
        return None
    rules = _frame_rules(ink, top, bottom, left, right)
    closed = rules.vertical[:, left].any() and rules.vertical[:, right - 1].any()
    return rules if closed else None


def _frame_rules(ink: np.ndarray, top: int, bottom: int, left: int, right: int) -> Rules:
    """The frame lines along the edges of the box [top, bottom) x [left, right) of `ink`. Between
    a top and a bottom line the sides are judged on the rows between them (a frame inside a
    margin of paper has none of its side beyond them); with one of the two, down the whole box."""
    box = ink[top:bottom, left:right]
    bands = {side: _edge_band(box, side) for side in ("top", "bottom")}
    closed = bands["top"] and bands["bottom"]
    inner = box[bands["top"]:box.shape[0] - bands["bottom"]] if closed else box
    sides = {side: _edge_band(inner, side) if inner.size else 0 for side in ("left", "right")}
    horizontal = np.zeros(ink.shape, dtype=bool)
    vertical = np.zeros(ink.shape, dtype=bool)
    reach = _EDGE + 1  # the band, and the fringe inside it
    if bands["top"]:
        horizontal[:top + bands["top"] + reach] = True
    if bands["bottom"]:
        horizontal[bottom - bands["bottom"] - reach:] = True
    if sides["left"]:
        vertical[:, :left + sides["left"] + reach] = True
    if sides["right"]:
        vertical[:, right - sides["right"] - reach:] = True
    thickest = max([*bands.values(), *sides.values()])
    if closed and inner.size:
        for start, end in _teeth(inner, sides["left"], sides["right"], thickest):
            vertical[top:bottom, max(0, left + start - reach):left + end + reach] = True
    return Rules(horizontal, vertical, thickest + 2 * _EDGE)


def _teeth(inner: np.ndarray, left_band: int, right_band: int, thickness: int
           ) -> list[tuple[int, int]]:
    """Column runs [start, end) of `inner` (a closed frame's rows between its top and bottom
    lines, side bands excluded) that are straight lines from the top line to the bottom one: the
    dividers of a comb field (a box per digit or letter) or of a table row cut as one crop. Read
    as they were, each divider was a "1" or "|" between the characters (200 MNIST strings in a
    comb field: none read right). A run wider than twice the frame's thickness is ink, not a
    divider; a written "1" that runs dead upright from the top line to the bottom one is taken
    for one."""
    full = np.count_nonzero(inner, axis=0) >= _EDGE_FILL * inner.shape[0]
    full[:left_band] = full[inner.shape[1] - right_band:] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], full.view(np.int8), [0]])))
    widest = max(2, 2 * thickness)
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a <= widest]


def _edge_band(ink: np.ndarray, side: str) -> int:
    """How many pixels deep the border line along `side` reaches (0: none): the last of the
    nearly full rows (columns) within an eighth of the image from that edge, and those right
    after it (a thick line that starts inside the eighth ends where it ends)."""
    lines = ink if side in ("top", "bottom") else ink.T
    if side in ("bottom", "right"):
        lines = lines[::-1]
    depth = max(1, lines.shape[0] // 8)
    full_at = _EDGE_FILL * lines.shape[1]
    full = np.flatnonzero(np.count_nonzero(lines[:depth], axis=1) >= full_at)
    if full.size == 0:
        return 0
    band = int(full[-1]) + 1
    while band < lines.shape[0] // 2 and np.count_nonzero(lines[band]) >= full_at:
        band += 1
    return band


def page_for_crops(gray: np.ndarray, rules: Rules | None) -> np.ndarray:
    """What a page's crops are cut from: the page, with its upright rules painted out (a cell
    border in a crop reads as "|"), and its horizontal ones too where they are a crop's frame
    (`edge_lines`). A page's horizontal rules stay: the recogniser was trained on underlined
    lines, and painting out a rule that text rests on or runs into took the letters' feet with
    it (E read as F, "EUR" as "FIIR"): 16 form pages read at 94.7 % word F1 with the rules left
    in, 90.4 % with them painted out."""
    if rules is None or not rules.painted.any():
        return gray
    return erase_rules(gray, rules)


def erase_rules(gray: np.ndarray, rules: Rules) -> np.ndarray:
    """A copy of `gray` with every rule pixel (`Rules.painted`) replaced by the lightest (for
    dark ink; darkest for light ink) pixel across the rule: the paper beside it. Looking only
    across the rule, not along it, means a letter stroke crossing the rule stays whole (its
    pixels above and below are ink), as a descender through an underline should. Only the box
    around the rules is filtered."""
    ink = rules.painted
    x, y, w, h = cv2.boundingRect(ink.view(np.uint8))
    reach = 2 * rules.thickness + 1
    x0, y0 = max(0, x - reach), max(0, y - reach)
    x1, y1 = min(gray.shape[1], x + w + reach), min(gray.shape[0], y + h + reach)
    window = gray[y0:y1, x0:x1]
    dark_ink = float(window[ink[y0:y1, x0:x1]].mean()) <= float(np.median(gray[::4, ::4]))
    spread = cv2.dilate if dark_ink else cv2.erode
    out = gray.copy()
    region = out[y0:y1, x0:x1]  # a view: writes land in `out`
    passes = [(rules.horizontal, (reach, 1))] if rules.paint_horizontal else []
    for mask, kernel in passes + [(rules.vertical, (1, reach))]:
        # The upright pass reads the horizontal one's result, so a crossing reads cleared rules.
        mask = mask[y0:y1, x0:x1]
        if mask.any():
            region[mask] = spread(region, np.ones(kernel, np.uint8))[mask]
    return out
