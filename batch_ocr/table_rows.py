"""A ruled table's rows as lines: the cells between two of its horizontal rules, read left to right.

Layout groups letters into lines by how their bands overlap, and a table's cells often hold
their text at different heights (one at the top of its cell, the next resting on the rule below,
a form's entry lower than its printed label): each became a line of its own, and the row was read
as two or three lines in an order of their own. Where the rules say which cells make one row,
those lines are one, each cell a piece of it, as a reader (and a spreadsheet) takes a row.

A line that layout found across several cells is cut at their borders too: cells set close
together were read as one piece, the rule under the blank between them as "_". A row is joined
only where every cell in it holds one line: a cell of wrapped text (two lines in one cell) keeps
the row's lines as layout found them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from batch_ocr.rules import Rule

# Text heights: letters resting on a rule (the rule taken out of the ink) may reach a little past
# where it was drawn, and so may a cell border's end past the rule it meets.
_TOLERANCE = 0.3
# A table row has cells on both sides of a border: three borders at least (two cells and the
# table's frame around them; a frame's two sides alone make no table).
_MIN_BORDERS = 3
# A few letters of a line in a cell where another line has most of them are strays (a comma
# whose tail reached down into the next line's band), not a second line of text in that cell.
_STRAY_LETTERS = 1
_STRAY_SHARE = 0.2


@dataclass
class Cell:
    """One cell's share of a joined row: indices of its letters and marks."""

    letters: np.ndarray
    marks: np.ndarray


@dataclass
class JoinedRow:
    """Lines (`lines`, indices into the layout's list) that make one table row, read as `cells`
    left to right, in the place of the first of them (one line, where it spans several cells)."""

    lines: list[int]
    cells: list[Cell]


def join_rows(lines: Sequence[tuple[np.ndarray, np.ndarray]], x0: np.ndarray, y0: np.ndarray,
              x1: np.ndarray, y1: np.ndarray, borders: Sequence[Rule], rules: Sequence[Rule],
              text_height: float) -> list[JoinedRow]:
    """The rows to join among `lines` ((letters, marks) index arrays into the component boxes
    x0..y1, in reading order), given a table's upright `borders` (x, top, bottom) and horizontal
    `rules` (y, left, right) in the same frame as the boxes."""
    if len(borders) < _MIN_BORDERS or len(rules) < 2:
        return []
    tolerance = _TOLERANCE * text_height
    rules = _levelled(rules, tolerance)
    bands: dict[tuple[float, float], list[int]] = {}
    for index, (letters, _) in enumerate(lines):
        start, end = x0[letters].min(), x1[letters].max()
        top, bottom = y0[letters].min(), y1[letters].max()
        # Rules that run above or below any part of the line: on a scan tilted by a degree or
        # two a rule may be found in pieces, each under a few cells only.
        across = [y for y, left, right in rules if left < end and right > start]
        above = [y for y in across if y <= top + tolerance]
        below = [y for y in across if y >= bottom - tolerance]
        if above and below:
            bands.setdefault((max(above), min(below)), []).append(index)
    joined = []
    for (top, bottom), members in bands.items():
        walls = np.sort([x for x, start, end in borders
                         if start <= top + tolerance and end >= bottom - tolerance])
        if walls.size < _MIN_BORDERS:
            continue
        cells = _cells([lines[i] for i in members], x0, x1, walls)
        if cells is not None and len(cells) > 1:
            joined.append(JoinedRow(sorted(members), cells))
    return joined


def _levelled(rules: Sequence[Rule], tolerance: float) -> list[Rule]:
    """`rules` with the pieces of one rule (found apart on a tilted scan, a pixel or two off each
    other) given one height, the first piece's, so that rows compare by height."""
    levels: list[float] = []
    out = []
    for y, left, right in sorted(rules):
        if not levels or y - levels[-1] > tolerance:
            levels.append(y)
        out.append((levels[-1], left, right))
    return out


def _cells(lines: list[tuple[np.ndarray, np.ndarray]], x0: np.ndarray, x1: np.ndarray,
           walls: np.ndarray) -> list[Cell] | None:
    """The letters and marks of a row's `lines` by the cell (between two `walls`) their centres
    lie in, left to right; None when a cell holds a second line of letters (wrapped text)."""
    places = [np.searchsorted(walls, (x0[letters] + x1[letters]) / 2.0) for letters, _ in lines]
    letters_in: dict[int, list[np.ndarray]] = {}
    for place in np.unique(np.concatenate(places)).tolist():
        counts = [int(np.count_nonzero(line_places == place)) for line_places in places]
        owner = int(np.argmax(counts))
        stray = max(_STRAY_LETTERS, _STRAY_SHARE * counts[owner])
        if any(count > stray or count == counts[owner]
               for number, count in enumerate(counts) if number != owner and count):
            return None
        letters_in[place] = [letters[line_places == place]
                             for (letters, _), line_places in zip(lines, places)]
    marks_in: dict[int, list[np.ndarray]] = {}
    for (_, marks), line_places in zip(lines, places):
        if marks.size:
            # A mark goes to the nearest cell that holds letters of its own line.
            own = np.unique(line_places)
            mark_places = np.searchsorted(walls, (x0[marks] + x1[marks]) / 2.0)
            nearest = own[np.abs(mark_places[:, None] - own[None, :]).argmin(axis=1)]
            for place in np.unique(nearest).tolist():
                marks_in.setdefault(place, []).append(marks[nearest == place])
    return [Cell(np.concatenate(letters_in[place]),
                 np.concatenate(marks_in.get(place, [np.zeros(0, np.int64)])))
            for place in sorted(letters_in)]
