"""Turn line boxes into model-ready batches: crop, fix polarity, normalise height, bucket, pad.

Training data goes through `resize_to_height` and `to_model_input` too, so the recogniser sees the
same pixels at training and inference time.
"""
from __future__ import annotations

import logging

import numpy as np

from batch_ocr.records import Box
from batch_ocr.stats import quantile

log = logging.getLogger(__name__)

# Extra context around a tight ink box, as a fraction of the box height. Training crops use random
# margins that cover this value, so recognition does not depend on the segmenter's exact tightness.
CROP_MARGIN = 0.12
# Batches (plan_batches): `batch_size` crops of REFERENCE_WIDTH pixels (8 line heights at the model
# height of 32) set the columns a batch may hold; narrow crops fill up to MAX_BATCH_GROWTH times as
# many. On 2 CPU cores, 64 one-line crops per batch read 7 % faster than 32, 128 crops 12-15 %.
DEFAULT_BATCH_SIZE = 128
REFERENCE_WIDTH = 256
MAX_BATCH_GROWTH = 4
# Batch shapes (batch_shape): TensorFlow's oneDNN kernels keep what they build for each input
# shape in per-thread caches of up to 1 024 entries, about 3.5 MB a batch shape on this model, for
# as long as the process runs. Batches of free shapes (every width, every count: 285 shapes over
# 840 pages) made the main process of a run over those pages grow from 1 057 MiB at 20 s to
# 1 431 MiB at 110 s, still rising; in 80 shapes, 1 050 to 1 212 MiB. A batch is read at the next
# width on a ladder of WIDTH_STEPS widths an octave (multiples of MIN_WIDTH_STEP: at most 1/16
# wider) and holds a count on a ladder of ROW_STEPS counts an octave (plan_batches), the last of
# a chunk padded to the next count. Padding, 600 one-line files as `run` chunks them: 13.8 % of
# the pixels the model reads instead of 11.5 %, the run 1-2 % slower; a coarser count ladder (2
# an octave: 43 shapes, 1 112 MiB) padded 20.7 % and cost 5 %.
WIDTH_STEPS = 16
MIN_WIDTH_STEP = 8
ROW_STEPS = 8


def to_dark_on_light(gray: np.ndarray) -> np.ndarray:
    """Invert light-on-dark crops so the ink is always the darker class."""
    if gray.size == 0:
        return gray
    import cv2  # here, not at the top: see resize_to_height

    threshold, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # The crop's outer ring is mostly background (crops carry a margin), which tells polarity even
    # for short bold words whose ink covers half the box; area decides only when the ring is split.
    ring = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ring_dark = float(np.count_nonzero(ring <= threshold)) / ring.size
    if ring_dark > 0.75:
        return 255 - gray
    if ring_dark < 0.25:
        return gray
    dark_fraction = float(np.count_nonzero(gray <= threshold)) / gray.size
    return 255 - gray if dark_fraction > 0.5 else gray


def crop_with_margin(gray: np.ndarray, box: Box, margin: float = CROP_MARGIN,
                     dark_paper: bool = False) -> np.ndarray:
    """Crop `box` plus a margin of `margin * height` on every side, padding outside the image with
    the crop's own background rather than black: its brightest common level, or with
    `dark_paper` (light text on dark: `segment.Layout.light_on_dark`) its darkest, unless the
    margin it has inside the image is light after all. Padded light, a light-on-dark crop cut at
    the image's edge (MNIST's own digit cells side by side) had a light band along that edge, the
    polarity test took the bands for its paper, and the digits reached the model light on dark:
    24 % CER on 400 such strings, 1.4 % padded dark."""
    x, y, w, h = box
    pad = int(round(margin * h))
    x0, y0, x1, y1 = x - pad, y - pad, x + w + pad, y + h + pad
    H, W = gray.shape[:2]
    inner = gray[max(0, y0):min(H, y1), max(0, x0):min(W, x1)]
    if (x0, y0, x1, y1) == (max(0, x0), max(0, y0), min(W, x1), min(H, y1)):
        return inner.copy()
    background = int(quantile(inner, 0.9)) if inner.size else 255
    if dark_paper and inner.size:
        dark = int(quantile(inner, 0.1))
        # The page's polarity, judged on all of it, can be wrong for a crop (faint print, or
        # heavy black-and-white print that fills most of a tight crop): the crop's own margin has
        # the last word, where it has one. Dark paper must be dark on every such side.
        margins = [side for side, inside in ((inner[0], y0 >= 0), (inner[-1], y1 <= H),
                                             (inner[:, 0], x0 >= 0), (inner[:, -1], x1 <= W))
                   if inside]
        paper = max((float(np.median(side)) for side in margins), default=dark)
        if paper - dark < background - paper:
            background = dark
    out = np.full((y1 - y0, x1 - x0), background, dtype=np.uint8)
    out[max(0, y0) - y0:max(0, y0) - y0 + inner.shape[0],
        max(0, x0) - x0:max(0, x0) - x0 + inner.shape[1]] = inner
    return out


def resize_to_height(crop: np.ndarray, height: int) -> np.ndarray:
    """Scale a uint8 crop to `height` rows keeping its aspect ratio (width at least 1)."""
    h, w = crop.shape[:2]
    new_w = max(1, int(round(w * height / max(h, 1))))
    if (h, w) == (height, new_w):
        return crop
    # Imported where used: the job's main process imports this module to plan batches, and with
    # a worker process cropping for it (prepare.py) never resizes. Its 0.1 s OpenCV import then
    # happens in the worker, after the fork, beside TensorFlow's import rather than before it.
    import cv2

    # INTER_AREA averages when shrinking (no aliasing of thin strokes); cubic keeps edges when enlarging.
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
    return cv2.resize(crop, (new_w, height), interpolation=interpolation)


def normalise_crop(crop: np.ndarray, height: int) -> np.ndarray:
    """A cut-out crop (margin included) -> uint8 (height, W), dark text on light."""
    return resize_to_height(to_dark_on_light(crop), height)


def prepare_crop(gray: np.ndarray, box: Box, height: int) -> np.ndarray:
    """Page pixels in `box` -> uint8 (height, W) crop, dark text on light, ready for batching."""
    return normalise_crop(crop_with_margin(gray, box), height)


def to_model_input(crops: list[np.ndarray], shape: tuple[int, int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Stack equal-height uint8 crops into float32 [B, H, W, 1] with ink = 1 and zero padding
    on the right (zero is blank paper, which the model sees in training padding too).

    B, W: the number of crops and the widest, or `shape` (rows, width; `batch_shape`) where
    larger: rows beyond the crops are copies of the last crop, whose outputs the caller drops
    (a copy ends the decoder loop no later than the crop itself)."""
    height = crops[0].shape[0]
    widths = np.array([c.shape[1] for c in crops], dtype=np.int32)
    rows, width = len(crops), int(widths.max())
    if shape is not None:
        rows, width = max(rows, shape[0]), max(width, shape[1])
    batch = np.zeros((rows, height, width, 1), dtype=np.float32)
    for i, crop in enumerate(crops):
        batch[i, :, :crop.shape[1], 0] = 1.0 - crop.astype(np.float32) / 255.0
    if rows > len(crops):
        batch[len(crops):] = batch[len(crops) - 1]
        widths = np.concatenate([widths, np.full(rows - len(crops), widths[-1], np.int32)])
    return batch, widths


def _ladder_step(value: int, steps_per_octave: int) -> int:
    """The spacing of `steps_per_octave` sizes an octave in the octave of `value`."""
    return 1 << max(0, value.bit_length() - steps_per_octave.bit_length())


def ladder(value: int, steps_per_octave: int, min_step: int = 1) -> int:
    """`value` rounded up to the next of `steps_per_octave` sizes an octave, multiples of
    `min_step` (at most 1/steps_per_octave larger where `min_step` does not decide)."""
    value = int(value)
    step = max(min_step, _ladder_step(value, steps_per_octave))
    return -(-value // step) * step


def ladder_floor(value: int, steps_per_octave: int) -> int:
    """The largest size of `ladder`'s sizes (min_step 1) not above `value` (value >= 1)."""
    value = int(value)
    step = _ladder_step(value, steps_per_octave)
    return value // step * step


def _batch_width(widest: int) -> int:
    """The width a batch whose widest crop has `widest` columns is read at."""
    return ladder(max(1, widest), WIDTH_STEPS, MIN_WIDTH_STEP)


def _capacity(width: int, batch_size: int) -> int:
    """How many crops a full batch read at `width` columns holds (see plan_batches)."""
    budget = batch_size * REFERENCE_WIDTH
    return max(1, ladder_floor(min(batch_size * MAX_BATCH_GROWTH, max(1, budget // width)),
                               ROW_STEPS))


def batch_shape(rows: int, widest: int, batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[int, int]:
    """The (rows, width) a batch of `plan_batches` with `rows` crops, the widest of `widest`
    columns, is read in (to_model_input's `shape`): one of some dozens of shapes."""
    width = _batch_width(widest)
    return min(max(rows, _capacity(width, batch_size)), ladder(rows, ROW_STEPS)), width


def batch_input(crops: list[np.ndarray], batch: list[int], batch_size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The model input of one batch of `plan_batches` (indices into `crops`), in its
    `batch_shape`."""
    members = [crops[i] for i in batch]
    shape = batch_shape(len(members), max(c.shape[1] for c in members), batch_size)
    return to_model_input(members, shape)


def plan_batches(widths: list[int] | np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE
                 ) -> list[list[int]]:
    """Group crop indices into batches of similar width so each batch pads little.

    Sorting by width and cutting into runs minimises padding. A batch's time and memory go with
    its padded columns (crops x its widest crop), so `batch_size` sets a budget of columns rather
    than a count: `batch_size` crops of REFERENCE_WIDTH, more of narrower crops (words, short
    lines: larger batches read faster per crop) up to MAX_BATCH_GROWTH times as many, fewer of
    wider ones. A batch is also cut early when its widest crop would be much wider than its
    narrowest, so a few very wide crops do not inflate a whole batch. Widths count as the
    width the batch is read at, and every batch but a chunk's last holds a count on a ladder
    (batch_shape).
    """
    order = np.argsort(np.asarray(widths), kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = int(widths[index])
        # Ascending widths: the crop being added is the batch's widest.
        full = len(current) + 1 > _capacity(_batch_width(width), batch_size)
        if current and (full or width > 2 * int(widths[current[0]]) + 32):
            # A batch cut short keeps a count on the ladder (batch_shape reads it without extra
            # rows); its widest few crops start the next batch, which is wider anyway.
            keep = ladder_floor(len(current), ROW_STEPS)
            batches.append(current[:keep])
            current = current[keep:]
        current.append(int(index))
    if current:
        batches.append(current)
    if log.isEnabledFor(logging.DEBUG) and batches:
        used = sum(int(widths[i]) for b in batches for i in b)
        padded = sum(len(b) * max(int(widths[i]) for i in b) for b in batches)
        log.debug("batching: %d crops in %d batches, padding %.1f%%", len(order), len(batches),
                  100.0 * (1 - used / max(padded, 1)))
    return batches
