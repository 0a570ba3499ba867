"""Grey page -> ink mask, robust to uneven light, tinted or yellowed paper and either polarity;
plus a map of picture areas (photos, grey boxes) whose texture must not become text.

Both work on the *flattened* page: the page divided by a large-window median estimate of its
background, so paper reads as one level whatever the lighting or tint.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from batch_ocr.stats import median, quantile

# Background and polarity are estimated on a copy at most this large: cheap and smooth enough.
_WORK_SIZE = 512
# `paper_to_white` takes the paper's level at this quantile of the image's grey levels.
_PAPER_QUANTILE = 0.75
# Ink must be at least this many grey levels darker than the paper (after flattening): faint
# print on grey paper spans as few as 30-40 levels in all, so the bar is low; noise is judged
# separately (the threshold keeps 4 noise sigmas clear of the paper).
_MIN_CONTRAST = 12.0
# Where ink covers over half the image, the paper level is this quantile of the grey levels.
_PAPER_SHARE = 0.9
# Picture areas: a window of this many text heights that is mostly mid-tone (neither paper nor
# ink) is a photo or a grey box; text has mid-tones only along its stroke edges.
_PICTURE_WINDOW = 2.0
_PICTURE_MIDTONE = 0.45
_PICTURE_MIN_SIDE = 3.0  # text heights: smaller mid-tone patches are blurred letters, not pictures
_PICTURE_CELLS = 8  # cells to a window side on the grid the picture map is computed on
# Most scans and crops lie on even paper, where the background median is one grey level: a cheap
# probe (the same median over every f-th pixel, f keeping its window near _PROBE_WINDOW pixels)
# finds those, and only uneven backgrounds pay for the full median filter (which was over half
# of the segmentation time of a one-line crop). Uneven means a spread of more grey levels than
# _EVEN_PAPER_LEVELS, which changes the flattened page by under 1 %.
_PROBE_WINDOW = 15
_EVEN_PAPER_LEVELS = 2
# An image whose edge pixels' median is this many grey levels off the image's is framed.
_FRAME_LEVELS = 48
# Histograms (_histogram) come from OpenCV, whose float32 counts are exact below 2**24 pixels:
# it reads a page twice as fast as bincount, and a one-line crop's segmentation 20 us sooner.
_EXACT_FLOAT32 = 1 << 24


@dataclass
class Flattened:
    """A page with its background divided out, dark ink on light paper."""

    flat: np.ndarray  # uint8 (H, W)
    paper: float  # grey level of the paper
    threshold: float  # levels below this are ink
    noise: float  # pixel noise sigma
    light_on_dark: bool = False  # whether the image was light ink on dark (`flat` is turned over)
    # Pixels per grey level of the image as given (not turned over), where flattening counted
    # them (even paper): `paper_to_white` needs the same counts of the same image.
    gray_counts: np.ndarray | None = None

    @property
    def ink(self) -> np.ndarray:
        return self.flat <= self.threshold  # Otsu splits into <= t and > t


def flatten(gray: np.ndarray) -> Flattened | None:
    """uint8 (H, W) image -> flattened page and ink threshold, or None when nothing stands out
    from the background (uniform or noise-only images).

    Polarity comes from the sign of strong deviations from a local median (text is the minority
    class); illumination is divided out by that median background; the threshold is Otsu's,
    clamped to stay 4 noise sigmas clear of the paper so noise alone never becomes ink.
    """
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
    background = _background(small, max(3, max(small.shape) // 4))
    if isinstance(background, np.ndarray):
        return _flatten_uneven(gray, small, background, scale)
    return _flatten_even(gray, small, background)


def _turned_over(page: Flattened | None, light_on_dark: bool) -> Flattened | None:
    """`page` marked as made from light ink on dark where it was."""
    return replace(page, light_on_dark=True) if page is not None and light_on_dark else page


def _flatten_uneven(gray: np.ndarray, small: np.ndarray, background: np.ndarray, scale: float
                    ) -> Flattened | None:
    """`flatten` under a background that varies across the page (a float32 map of `small`)."""
    height, width = gray.shape
    deviation = small.astype(np.float32) - background
    noise = 1.4826 * median(np.abs(deviation)) + 1.0
    darker = float(np.clip(-deviation - 3 * noise, 0, None).sum())
    lighter = float(np.clip(deviation - 3 * noise, 0, None).sum())
    light_on_dark = lighter > darker  # the strong deviations point up
    if light_on_dark:
        gray, background = 255 - gray, 255.0 - background
    # A floor keeps heavy strokes that leak into the median estimate from being divided away.
    floor = max(1.0, 0.4 * quantile(background, 0.95))
    background = np.maximum(background, floor)
    if scale < 1.0:
        background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    # gray * (255 / background) in float32, written into buffers already made: a 300-dpi page
    # is 9 megapixels, and every temporary is another pass over 36 MB.
    scale_map = np.divide(255.0, background, out=background, dtype=np.float32)
    flat = np.multiply(gray, scale_map, dtype=np.float32)
    # Pixel noise from neighbour differences on every 4th row: edges are too few to bias the
    # median, and, unlike the spread of grey levels, it is not inflated by large areas of ink.
    noise = _row_noise(flat[::4])
    flat = np.clip(flat, 0, 255, out=flat).astype(np.uint8)
    return _turned_over(_thresholded(flat, _histogram(flat), noise), light_on_dark)


def _flatten_even(gray: np.ndarray, small: np.ndarray, background: float) -> Flattened | None:
    """`flatten` on even paper (one background level): the same figures as `_flatten_uneven`
    with a constant map, from histograms and lookup tables, since every pixel of one grey level
    then maps to the same value. The image is read in a histogram or two and one table lookup
    instead of half a dozen float passes: a one-line crop flattens in 175 instead of 250 us, and
    a page segments about 5 % faster."""
    levels = np.arange(256, dtype=np.float32)
    counts = _histogram(small)
    deviation = levels - background  # float32, as the per-pixel deviation is
    absolute = np.abs(deviation)
    order = np.argsort(absolute, kind="stable")
    noise = 1.4826 * _histogram_median(absolute[order], counts[order]) + 1.0
    darker = float((counts * np.clip(-deviation - 3 * noise, 0, None)).sum())
    lighter = float((counts * np.clip(deviation - 3 * noise, 0, None)).sum())
    # A crop no larger than the work size is its own `small`: its histogram is already known.
    gray_counts = counts if small is gray else _histogram(gray)
    light_on_dark = lighter > darker  # the strong deviations point up
    # Counts of the image read as dark on light: turned over with it.
    read_counts = gray_counts
    if light_on_dark:
        gray, background, read_counts = 255 - gray, 255.0 - background, gray_counts[::-1]
    # The uneven path's floor (0.4 of the background's 95th percentile, at least 1) lies below a
    # constant background, so only the 1 can apply.
    background = max(background, 1.0)
    scaled = levels * (255.0 / background)  # the flattened value of every grey level
    noise = _row_noise(scaled[gray[::4]])
    table = np.clip(scaled, 0, 255).astype(np.uint8)
    flat = cv2.LUT(gray, table)
    flat_counts = np.bincount(table, weights=read_counts, minlength=256)
    return _thresholded(flat, flat_counts, noise, light_on_dark=light_on_dark,
                        gray_counts=gray_counts)


def _histogram(gray: np.ndarray) -> np.ndarray:
    """Pixels per grey level of a uint8 image (int64 counts)."""
    if gray.size < _EXACT_FLOAT32:
        counts = cv2.calcHist([np.ascontiguousarray(gray)], [0], None, [256], [0, 256])
        return counts.ravel().astype(np.int64)
    return np.bincount(gray.ravel(), minlength=256)


def _histogram_median(values: np.ndarray, counts: np.ndarray) -> float:
    """`stats.median` of the multiset holding counts[i] copies of values[i] (values ascending):
    the middle element, or the mean of the middle two for an even total."""
    total = int(counts.sum())
    cumulative = np.cumsum(counts)
    low = float(values[np.searchsorted(cumulative, (total - 1) // 2, side="right")])
    high = float(values[np.searchsorted(cumulative, total // 2, side="right")])
    return low + 0.5 * (high - low)


def _row_noise(rows: np.ndarray) -> float:
    """Pixel noise sigma of flattened rows from the median difference of horizontal neighbours
    (1.0483 makes that median of |difference| of Gaussian noise its sigma)."""
    differences = rows[:, 1:] - rows[:, :-1]
    return 1.0483 * median(np.abs(differences, out=differences))


def _thresholded(flat: np.ndarray, counts: np.ndarray, noise: float, **fields: Any
                 ) -> Flattened | None:
    """The flattened page with its paper level (median grey; the light end where ink covers
    over half the image), Otsu's threshold (in the middle of an empty gap of grey levels above
    it) clamped 4 noise sigmas below the paper, or None when ink and paper are too close to tell
    apart. `fields`: Flattened's other fields, set as it is made."""
    cumulative = np.cumsum(counts)
    paper = float(np.searchsorted(cumulative, cumulative[-1] / 2.0))  # median grey level
    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = min(float(otsu), paper - 4.0 * noise)
    if paper - threshold < _MIN_CONTRAST:  # judged on the darker class's top, as Otsu gives it
        # Ink over half the image (a crop of large, bold or blurred print) pulls the median into
        # the strokes' grey edges; the paper is then the light end of the image.
        paper = float(np.searchsorted(cumulative, cumulative[-1] * _PAPER_SHARE))
        threshold = min(float(otsu), paper - 4.0 * noise)
        if paper - threshold < _MIN_CONTRAST:
            return None
    # Otsu's threshold is the top level of the darker class. Where no level lies just above it
    # (a black-and-white scan holds 0 and 255 alone), the middle of the empty gap splits the
    # page's own pixels the same way, and splits the grey pixels that interpolation makes later
    # (the deskewed copy of a tilted page) by how much ink covers them: at Otsu's level only
    # solid black would stay ink, and thin strokes at 75 dpi fell apart into specks.
    gap = np.flatnonzero(counts[int(otsu) + 1:])
    if gap.size and gap[0] > 0:
        threshold = min(otsu + (1 + int(gap[0])) / 2.0, paper - 4.0 * noise)
    return Flattened(flat, paper, threshold, noise, **fields)


def without_frame(page: Flattened, frame: np.ndarray) -> Flattened:
    """`page` with its paper level and ink threshold found again on the pixels outside `frame`
    (bool mask: a crop's border lines). A black frame around faint print (pencil, a grey pen, a
    light scan) made Otsu split the frame from everything else, and the print fell on the
    paper's side of the threshold: handwritten numbers in a drawn box read as nothing."""
    inside = page.flat[~frame]
    if inside.size == 0:
        return page
    inside = inside[None, :]
    again = _thresholded(inside, _histogram(inside), page.noise)
    return page if again is None else replace(page, paper=again.paper, threshold=again.threshold)


def _background(small: np.ndarray, window: int) -> np.ndarray | float:
    """float32 median background of `small` over a `window`-pixel square; one float for even
    paper (numpy broadcasts it, and the full-size arrays of the uneven case are never made)."""
    step = max(1, window // _PROBE_WINDOW)
    sample = np.ascontiguousarray(small[step // 2::step, step // 2::step])
    probe = cv2.medianBlur(sample, max(3, window // step) | 1)
    low, high = int(probe.min()), int(probe.max())
    if high - low <= _EVEN_PAPER_LEVELS:
        return median(probe)
    if not _framed(small):
        return cv2.medianBlur(small, window | 1).astype(np.float32)
    # OpenCV's median filter repeats the edge rows outward: a frame or cell border drawn along
    # the edge of a crop became half of every window near it, the "background" there came out
    # as ink, and the whole crop was taken for light text on dark and read as nothing. Mirrored,
    # the border is as thin outside the image as inside.
    reach = (window | 1) // 2
    padded = cv2.copyMakeBorder(small, reach, reach, reach, reach, cv2.BORDER_REFLECT_101)
    filtered = cv2.medianBlur(padded, window | 1)
    return filtered[reach:reach + small.shape[0], reach:reach + small.shape[1]].astype(np.float32)


def _framed(small: np.ndarray) -> bool:
    """Whether the image's outermost pixels are mostly unlike its paper: a frame or border drawn
    along its edges (for either polarity)."""
    ring = np.concatenate([small[0], small[-1], small[1:-1, 0], small[1:-1, -1]])
    return abs(int(np.median(ring)) - int(np.median(small[::2, ::2]))) > _FRAME_LEVELS


def binarise(gray: np.ndarray) -> np.ndarray | None:
    """uint8 (H, W) image -> bool ink mask (True = ink) for either polarity and uneven lighting,
    or None when nothing stands out from the background (uniform or noise-only images)."""
    page = flatten(gray)
    return None if page is None else page.ink


def picture_mask(page: Flattened, text_height: float) -> np.ndarray:
    """bool (H, W): areas that are photos or grey boxes rather than print on paper.

    Print is bilevel, ink or paper with only anti-aliased edges in between; a picture is mostly
    mid-tones. Regions where mid-tones dominate a window of a couple of text heights, and that
    are at least a few text heights on each side, are pictures (their ink is not text).

    The window shares are taken on a grid of cells, _PICTURE_CELLS to a window side (each cell
    holds its share of mid-tone pixels): a picture is many windows wide, so the map loses nothing
    it needs at that resolution (the lines found on 80 test pages were the same), and on a page
    it takes 4.7 instead of 15.7 ms.
    """
    flat = page.flat
    height, width = flat.shape
    window = max(3, int(_PICTURE_WINDOW * text_height)) | 1
    cell = max(1, window // _PICTURE_CELLS)
    grid = (-(-width // cell), -(-height // cell))  # cells across, down
    side = _PICTURE_MIN_SIDE * text_height / cell
    if min(grid) < side:  # no area of this image can be a picture's size (a line crop)
        return np.zeros((height, width), dtype=bool)
    low = page.threshold + 0.25 * (page.paper - page.threshold)
    high = page.paper - max(3.0 * page.noise, 0.2 * (page.paper - page.threshold))
    levels = np.arange(256)
    midtone = cv2.LUT(flat, np.where((levels > low) & (levels < high), 255, 0).astype(np.uint8))
    if cell > 1:
        # Padded with non-mid-tone to whole cells, so that every cell is `cell` pixels square
        # and the map scales back onto the page exactly.
        whole = cv2.copyMakeBorder(midtone, 0, grid[1] * cell - height, 0, grid[0] * cell - width,
                                   cv2.BORDER_CONSTANT, value=0)
        share = cv2.resize(whole, grid, interpolation=cv2.INTER_AREA)
    else:
        share = midtone
    cells = max(3, round(window / cell)) | 1
    share = cv2.blur(share.astype(np.float32) * (1.0 / 255.0), (cells, cells))
    candidate = (share > _PICTURE_MIDTONE).astype(np.uint8)
    if not candidate.any():
        return np.zeros((height, width), dtype=bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
    big = (stats[:, cv2.CC_STAT_WIDTH] >= side) & (stats[:, cv2.CC_STAT_HEIGHT] >= side)
    big[0] = False
    for index in np.flatnonzero(big):
        big[index] = not _flat_tint(flat, labels, stats[index], index, cell, midtone, page)
    if not big.any():
        return np.zeros((height, width), dtype=bool)
    # The window's blur shrank the area by half a window on each side: grow it back.
    mask = cv2.dilate(big[labels].view(np.uint8), np.ones((cells, cells), np.uint8))
    if cell > 1:
        mask = cv2.resize(mask, (grid[0] * cell, grid[1] * cell),
                          interpolation=cv2.INTER_NEAREST)[:height, :width]
    return mask.astype(bool)


def _flat_tint(flat: np.ndarray, labels: np.ndarray, stat: np.ndarray, index: int, cell: int,
               midtone: np.ndarray, page: Flattened) -> bool:
    """Whether a mid-tone area is one even tone: a shaded box or highlighter behind text, whose
    letters are print like any other. A photo's mid-tones spread over many levels; an even tint's
    spread is the pixel noise (the interquartile range of Gaussian noise is 1.35 sigma).
    `labels` and `stat` are on the grid of `cell`-pixel cells; `flat` and `midtone` full size."""
    x, y, w, h = (int(v) * cell for v in stat[:4])
    area = (labels[y // cell:(y + h) // cell, x // cell:(x + w) // cell] == index).view(np.uint8)
    if cell > 1:
        area = np.repeat(np.repeat(area, cell, axis=0), cell, axis=1)
    y1, x1 = min(y + h, flat.shape[0]), min(x + w, flat.shape[1])
    window = (area[:y1 - y, :x1 - x] > 0) & (midtone[y:y1, x:x1] > 0)
    tones = flat[y:y1, x:x1][window]
    if tones.size < 16:
        return False
    q1, q3 = np.percentile(tones, [25, 75])
    return bool(q3 - q1 <= max(4.0 * page.noise, 0.08 * (page.paper - page.threshold), 3.0))


def paper_to_white(gray: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """`gray` (dark print on light paper) scaled so that its paper is white: levels times 255 over
    the paper's level, clipped at 255. The paper's level is the upper quartile of the image (the
    grey level that a quarter of its pixels reach or pass): ink covers a fraction of a text image,
    so that is paper, in the upper half of its noise.

    The recogniser trained on paper from mid-grey to white, yet reads crops better on white
    paper. Validation lines in the held-out fonts, `--segment line`, CER and line accuracy:
    600 harsh lines 2.55 -> 2.07 % and 85.2 -> 84.8 %, 600 of the mixed set 2.57 -> 2.30 % and
    81.5 -> 82.7 %. The median as the paper's level gave 2.10 and 2.32 % with line accuracies of
    84.7 and 82.2 %, the 90th percentile 2.35 and 2.52 %.

    `counts`: `gray`'s pixels per grey level where already known (`Flattened.gray_counts`).
    """
    if gray.size == 0:
        return gray
    cumulative = np.cumsum(_histogram(gray) if counts is None else counts)
    paper = float(np.searchsorted(cumulative, _PAPER_QUANTILE * cumulative[-1]))
    if paper >= 255.0 or paper <= 0.0:  # white already, or no paper to scale by
        return gray
    levels = np.arange(256, dtype=np.float32)
    table = np.clip(levels * np.float32(255.0 / paper), 0, 255).astype(np.uint8)
    return cv2.LUT(gray, table)
