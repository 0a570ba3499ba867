"""Small typed records that cross module boundaries.

The pipeline's seams are plain numpy arrays plus these records: images.py yields `PageImage`,
segment.py yields `LineRegion`, the recogniser yields `LineResult`, and job.py gathers them into
`FileResult` for the writers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in original-image pixels (after EXIF)

STATUS_OK = "ok"
STATUS_EMPTY = "empty"
STATUS_ERROR = "error"


@dataclass
class PageImage:
    """One page of an input file as an oriented 8-bit grayscale array (H, W)."""

    page: int
    gray: np.ndarray

    @property
    def width(self) -> int:
        return int(self.gray.shape[1])

    @property
    def height(self) -> int:
        return int(self.gray.shape[0])


@dataclass
class LineRegion:
    """A text line found on a page: its box and the word/chunk boxes to recognise, left to right.

    `pieces` are boxes in page pixels; recognising each and joining with single spaces gives the
    line's text, except after a cut that is not a word gap: `glued` lists the indexes of pieces
    that continue the previous piece's word (a drop capital, a word too long for one piece) and
    join it without a space. A line read as one piece has `pieces == [box]`. `angle` is the
    page's skew in
    degrees (counter-clockwise) when segmentation ran on the page rotated level: then each piece
    is the hull of a level rectangle of that rotated page, and `deskew.deskewed_crops` cuts it.
    """

    box: Box
    pieces: list[Box]
    angle: float = 0.0
    glued: tuple[int, ...] = ()


@dataclass
class CharConfidence:
    char: str
    confidence: float


@dataclass
class LineResult:
    line: int
    text: str
    confidence: float
    box: Box
    chars: list[CharConfidence] = field(default_factory=list)


@dataclass
class PageResult:
    page: int
    width: int
    height: int
    lines: list[LineResult] = field(default_factory=list)


@dataclass
class FileResult:
    """Everything the writers need about one input file."""

    file: str  # relative to the input root, '/'-separated
    status: str  # STATUS_OK, STATUS_EMPTY or STATUS_ERROR
    error: str = ""
    pages: list[PageResult] = field(default_factory=list)
