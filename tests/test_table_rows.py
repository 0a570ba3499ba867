"""A ruled table's rows: the lines in one row's cells are one line; a cell of two keeps them."""
from __future__ import annotations

import numpy as np

from batch_ocr.table_rows import join_rows

TEXT_HEIGHT = 20.0
# Three columns between x = 0, 200, 400 and 600; rows between y = 0, 60 and 120.
BORDERS = [(0.0, 0.0, 120.0), (200.0, 0.0, 120.0), (400.0, 0.0, 120.0), (600.0, 0.0, 120.0)]
RULES = [(0.0, 0.0, 600.0), (60.0, 0.0, 600.0), (120.0, 0.0, 600.0)]


def _boxes(boxes: list[tuple[int, int, int, int]]):
    """x0, y0, x1, y1 arrays of component boxes (x0, y0, x1, y1)."""
    return tuple(np.array(column) for column in zip(*boxes))


def _line(*indices: int) -> tuple[np.ndarray, np.ndarray]:
    return np.array(indices), np.zeros(0, np.int64)


def test_cells_of_a_row_at_different_heights_join_left_to_right():
    # Row 1: its first cell's text at the top, its second's at the bottom, the third empty; row
    # 2: a line across two cells and one in the third.
    x0, y0, x1, y1 = _boxes([(10, 5, 60, 25), (70, 5, 120, 25),   # row 1, cell 1 (line 0)
                             (210, 35, 300, 55),                   # row 1, cell 2 (line 1)
                             (10, 70, 90, 90), (210, 70, 300, 90),  # row 2, cells 1-2 (line 2)
                             (410, 95, 500, 115),                  # row 2, cell 3 (line 3)
                             (401, 50, 404, 54)])  # line 1's full stop, just past the border
    lines = [_line(0, 1), (np.array([2]), np.array([6])), _line(3, 4), _line(5)]
    rows = join_rows(lines, x0, y0, x1, y1, BORDERS, RULES, TEXT_HEIGHT)
    assert [row.lines for row in rows] == [[0, 1], [2, 3]]
    assert [cell.letters.tolist() for cell in rows[0].cells] == [[0, 1], [2]]
    # A mark stays with its own line's letters, in the nearest cell that holds them.
    assert [cell.marks.tolist() for cell in rows[0].cells] == [[], [6]]
    assert [cell.letters.tolist() for cell in rows[1].cells] == [[3], [4], [5]]


def test_a_cell_holding_two_lines_keeps_the_rows_lines_apart():
    x0, y0, x1, y1 = _boxes([(10, 5, 90, 25), (10, 32, 90, 52),   # two lines in cell 1
                             (210, 20, 300, 40)])                  # one in cell 2
    lines = [_line(0), _line(1), _line(2)]
    assert join_rows(lines, x0, y0, x1, y1, BORDERS, RULES, TEXT_HEIGHT) == []


def test_pieces_of_one_rule_a_pixel_apart_bound_one_row():
    # A tilted scan's rule found in two pieces at slightly different heights, each under a
    # different cell.
    rules = [(0.0, 0.0, 600.0), (59.4, 0.0, 290.0), (60.6, 290.0, 600.0), (120.0, 0.0, 600.0)]
    x0, y0, x1, y1 = _boxes([(10, 5, 90, 25), (410, 35, 500, 55)])
    rows = join_rows([_line(0), _line(1)], x0, y0, x1, y1, BORDERS, rules, TEXT_HEIGHT)
    assert [row.lines for row in rows] == [[0, 1]]


def test_without_a_table_nothing_is_joined():
    # Two sides of a frame are no table; lines below the last rule are in no row.
    x0, y0, x1, y1 = _boxes([(10, 5, 90, 25), (410, 35, 500, 55), (10, 130, 90, 150)])
    lines = [_line(0), _line(1), _line(2)]
    frame = [BORDERS[0], BORDERS[-1]]
    assert join_rows(lines, x0, y0, x1, y1, frame, RULES, TEXT_HEIGHT) == []
    rows = join_rows(lines, x0, y0, x1, y1, BORDERS, RULES, TEXT_HEIGHT)
    assert [row.lines for row in rows] == [[0, 1]]


def test_a_line_across_several_cells_is_cut_at_their_borders():
    # Cells set close together: layout found one line, and its cut at word gaps would keep the
    # two cells in one piece, with the rule under the blank between them.
    x0, y0, x1, y1 = _boxes([(150, 20, 190, 40), (210, 20, 250, 40), (10, 70, 90, 90)])
    rows = join_rows([_line(0, 1), _line(2)], x0, y0, x1, y1, BORDERS, RULES, TEXT_HEIGHT)
    assert [row.lines for row in rows] == [[0]]
    assert [cell.letters.tolist() for cell in rows[0].cells] == [[0], [1]]


def test_a_stray_letter_of_another_line_stays_in_its_cell():
    # The comma of the first line's amount reached down into the second line's band, and layout
    # gave it to that line, whose own text is in the cell before.
    x0, y0, x1, y1 = _boxes([(10, 5, 90, 25), (410, 5, 440, 25), (450, 5, 470, 25),
                             (480, 5, 500, 25), (445, 12, 448, 40),  # the comma
                             (210, 30, 300, 50)])
    lines = [_line(0, 1, 2, 3), _line(4, 5)]
    rows = join_rows(lines, x0, y0, x1, y1, BORDERS, RULES, TEXT_HEIGHT)
    assert [row.lines for row in rows] == [[0, 1]]
    assert [sorted(cell.letters.tolist()) for cell in rows[0].cells] == [[0], [5], [1, 2, 3, 4]]
