"""Page skew (up to +-15 degrees) and quarter-turn orientation: estimate, rotate, map boxes back.

Angles are in degrees, counter-clockwise positive as displayed (PIL's `Image.rotate` and OpenCV's
`getRotationMatrix2D` convention): a page scanned at +10 degrees has lines rising to the right.
The *deskewed frame* of a page is the page rotated by -angle about its centre onto a canvas just
large enough to hold it (`deskew_transform`); layout runs there, where lines are level, and boxes
are reported in the original image as the axis-aligned hull of the rotated box.

Contract for the recogniser: a `LineRegion` with `angle != 0` has pieces that are hulls of level
rectangles of the deskewed frame; crop them with `deskewed_crops`, which rotates the page once and
crops each piece's own rectangle, so a tilted word does not drag in parts of its neighbours.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from batch_ocr.batching import CROP_MARGIN, crop_with_margin
from batch_ocr.records import Box, LineRegion
from batch_ocr.stats import median

MAX_SKEW_DEG = 15.0
_COARSE_STEP_DEG = 0.25
_FINE_STEP_DEG = 0.05


@dataclass(frozen=True)
class DeskewTransform:
    """Original image -> deskewed frame: `matrix` (2x3) maps points, `size` is (width, height)."""

    angle: float
    matrix: np.ndarray
    size: tuple[int, int]
    shape: tuple[int, int]  # (height, width) of the original image

    @property
    def inverse(self) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix)


def skew_angle(cx: np.ndarray, cy: np.ndarray, row_height: float,
               max_degrees: float = MAX_SKEW_DEG) -> float:
    """Text angle from letter centres: the rotation under which the centres pile up into the
    fewest, fullest rows (a projection profile of centres, one bincount per angle). A coarse
    search over +-max_degrees is refined around the best angle; on ties the smaller angle wins,
    so a level page stays at 0."""
    if cx.size == 0:
        return 0.0
    cx = cx - cx.mean()
    cy = cy - cy.mean()

    def best(candidates: list[float]) -> float:
        # Row coordinate of each centre after rotating the page by -angle, one row per angle.
        theta = np.radians(np.asarray(candidates, dtype=np.float64))[:, None]
        rows = cy[None, :] * np.cos(theta) + cx[None, :] * np.sin(theta)
        return candidates[densest_profile(rows, row_height)]

    steps = np.arange(_COARSE_STEP_DEG, max_degrees + 1e-9, _COARSE_STEP_DEG)
    coarse = best([0.0] + [float(s * d) for d in steps for s in (1, -1)])
    fine = np.arange(_FINE_STEP_DEG, _COARSE_STEP_DEG, _FINE_STEP_DEG)
    candidates = [coarse] + [coarse + s * d for d in fine for s in (1, -1)]
    return float(best([a for a in candidates if abs(a) <= max_degrees]))


def densest_profile(rows: np.ndarray, row_height: float) -> int:
    """Which candidate (a row of `rows`: the row coordinate of every centre under it) piles the
    centres up in the fewest, fullest rows of `row_height`: the largest sum of squared counts of
    its projection profile; the first on ties.

    Every candidate in one pass: a Python loop of small bincounts was most of the segmentation
    time of a one-line image (0.9 of 1.6 ms in auto mode). Candidate k's row indices are offset by
    k * span, so one bincount gives every candidate's profile."""
    candidates = rows.shape[0]
    bins = ((rows - rows.min(axis=1, keepdims=True)) / row_height).astype(np.int64)
    span = int(bins.max()) + 1
    bins += np.arange(candidates, dtype=np.int64)[:, None] * span
    counts = np.bincount(bins.ravel(), minlength=candidates * span).reshape(candidates, span)
    return int(np.argmax(np.einsum("ij,ij->i", counts, counts)))  # argmax: first of equal scores


def deskew_transform(shape: tuple[int, ...], angle: float) -> DeskewTransform:
    """The rotation by -angle about the image centre, onto a canvas that holds all of it."""
    height, width = int(shape[0]), int(shape[1])
    theta = np.radians(angle)
    cos, sin = abs(np.cos(theta)), abs(np.sin(theta))
    out_w = int(np.ceil(width * cos + height * sin))
    out_h = int(np.ceil(width * sin + height * cos))
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), -angle, 1.0)
    matrix[0, 2] += out_w / 2.0 - width / 2.0
    matrix[1, 2] += out_h / 2.0 - height / 2.0
    return DeskewTransform(float(angle), matrix, (out_w, out_h), (height, width))


def rotate_image(image: np.ndarray, transform: DeskewTransform, fill: float,
                 interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` in the deskewed frame; the corners the rotation uncovers are `fill`."""
    return cv2.warpAffine(image, transform.matrix, transform.size, flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill))


def _corners(box: Box) -> np.ndarray:
    x, y, w, h = box
    return np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], dtype=np.float64)


def points_to_original(points: np.ndarray, transform: DeskewTransform) -> np.ndarray:
    inverse = transform.inverse
    return points @ inverse[:, :2].T + inverse[:, 2]


def hull_box(points: np.ndarray, shape: tuple[int, int] | None = None) -> Box:
    """Integer axis-aligned box around points, clipped to an image of `shape` (H, W) if given."""
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    if shape is not None:
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1), shape[1]), min(int(y1), shape[0])
    return int(x0), int(y0), int(max(x1 - x0, 1)), int(max(y1 - y0, 1))


def box_to_original(box: Box, transform: DeskewTransform) -> Box:
    """A level box of the deskewed frame -> the hull of its rotated rectangle in the original.
    Not clipped, so `box_to_deskewed` can invert it."""
    return hull_box(points_to_original(_corners(box), transform))


def box_to_deskewed(box: Box, transform: DeskewTransform) -> Box:
    """Inverse of `box_to_original`: the level rectangle whose rotated hull is `box`.

    A w x h rectangle turned by t has a hull of W = w cos t + h sin t, H = w sin t + h cos t, and
    the same centre; below 45 degrees the system solves for w and h (well conditioned to 15)."""
    x, y, width, height = box
    theta = np.radians(abs(transform.angle))
    cos, sin = np.cos(theta), np.sin(theta)
    det = cos * cos - sin * sin
    w = max(1.0, (width * cos - height * sin) / det)
    h = max(1.0, (height * cos - width * sin) / det)
    center = np.array([[x + width / 2.0, y + height / 2.0]])
    cx, cy = (center @ transform.matrix[:, :2].T + transform.matrix[:, 2])[0]
    return (int(round(cx - w / 2.0)), int(round(cy - h / 2.0)), int(round(w)), int(round(h)))


def paper_level(gray: np.ndarray) -> float:
    """The background grey: text is the minority of a page's pixels, so the median is paper."""
    return median(gray) if gray.size else 255.0


def deskewed_crops(gray: np.ndarray, regions: list[LineRegion], margin: float = CROP_MARGIN,
                   dark_paper: bool = False) -> list[list[np.ndarray]]:
    """For each region, its pieces cut from the page (margin included, like `crop_with_margin`,
    with `dark_paper` as there).

    Pieces of level regions (angle 0) are cut from `gray` directly; those of a tilted page come
    from the page rotated once by -angle, each piece cut as its own level rectangle. The result
    goes to `to_dark_on_light` and `resize_to_height` like any crop.
    """
    rotated: dict[float, tuple[np.ndarray, DeskewTransform]] = {}
    out = []
    for region in regions:
        angle = float(getattr(region, "angle", 0.0))
        if angle == 0.0:
            out.append([crop_with_margin(gray, piece, margin, dark_paper)
                        for piece in region.pieces])
            continue
        if angle not in rotated:
            transform = deskew_transform(gray.shape, angle)
            rotated[angle] = (rotate_image(gray, transform, paper_level(gray)), transform)
        image, transform = rotated[angle]
        out.append([crop_with_margin(image, box_to_deskewed(piece, transform), margin, dark_paper)
                    for piece in region.pieces])
    return out


# ------------------------------------------------------------------------ quarter turns

def text_direction(cx: np.ndarray, cy: np.ndarray, row_height: float) -> str:
    """'horizontal', 'vertical' or 'unknown': whether letter centres line up better in rows or in
    columns (each at its best skew within 15 degrees). A page turned by 90 or 270 degrees has its
    lines running vertically."""
    if cx.size < 8:
        return "unknown"

    def pile(a: np.ndarray, b: np.ndarray) -> float:
        angle = skew_angle(a, b, row_height)
        theta = np.radians(angle)
        rows = (b - b.mean()) * np.cos(theta) + (a - a.mean()) * np.sin(theta)
        counts = np.bincount(((rows - rows.min()) / row_height).astype(np.int64))
        return float(np.dot(counts, counts))

    rows, columns = pile(cx, cy), pile(cy, cx)
    if rows > 1.3 * columns:
        return "horizontal"
    if columns > 1.3 * rows:
        return "vertical"
    return "unknown"


def rotation_candidates(gray: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """The upright candidates of a page as (quarter_turns, image), most likely first, where image
    is `np.rot90(gray, quarter_turns)` (counter-clockwise turns).

    Layout tells horizontal from vertical lines: a page with horizontal lines gives [0, 2], one
    with vertical lines [1, 3]; a page where layout cannot tell gives all four, and a page
    without text [0]. Upside-down needs the recogniser: see `pick_rotation`.
    """
    from batch_ocr.segment import letter_centres

    gray = np.asarray(gray)
    centres = letter_centres(gray)
    if centres is None:
        return [(0, gray)]
    cx, cy, text_height = centres
    direction = text_direction(cx, cy, max(1.0, text_height / 4.0))
    turns = {"horizontal": [0, 2], "vertical": [1, 3], "unknown": [0, 1, 2, 3]}[direction]
    return [(k, np.ascontiguousarray(np.rot90(gray, k))) for k in turns]


def pick_rotation(gray: np.ndarray, confidence: Callable[[np.ndarray], float]
                  ) -> tuple[int, np.ndarray]:
    """`--rotate auto`: the candidate whose reading the recogniser trusts most.

    `confidence(image)` reads an upright candidate and returns the mean line confidence (e.g. of
    `Recognizer.read_pages([image], 'page')`, weighted by characters); with a single candidate it
    is not called. Returns (quarter_turns, upright image)."""
    candidates = rotation_candidates(gray)
    if len(candidates) == 1:
        return candidates[0]
    scores = [confidence(image) for _, image in candidates]
    return candidates[int(np.argmax(scores))]


def unrotate_box(box: Box, quarter_turns: int, shape: tuple[int, ...]) -> Box:
    """A box found on `np.rot90(image, quarter_turns)` -> the same box on `image` of `shape`."""
    x, y, w, h = box
    height, width = int(shape[0]), int(shape[1])
    k = quarter_turns % 4
    # np.rot90 by one turn maps original (row r, col c) to (W-1-c, r).
    if k == 0:
        return box
    if k == 1:
        return (width - y - h, x, h, w)
    if k == 2:
        return (width - x - w, height - y - h, w, h)
    return (y, height - x - w, h, w)
