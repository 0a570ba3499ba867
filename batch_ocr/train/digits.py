"""The `digits` data source: handwritten digit strings composed from MNIST, made to look like scans.

Each string is laid out at a random working scale (1-4x MNIST size) so that the final downsizing
produces the range of stroke widths and blur real scans have; pen width, slant, baseline wobble,
paper/ink levels, noise, blur and JPEG artefacts are then applied, and the crop goes through
`batch_ocr.batching.resize_to_height` exactly like an inference crop.

Digits come from batch_ocr/train/data/mnist_digits.npz (10 000 MNIST training digits, see
jobs/make_mnist_npz.py) or from a file of the same layout given as `path`, such as the whole of
MNIST that jobs/make_mnist_full_npz.py builds (the shipped model trains on it). Strings for
evaluation are composed only from the split asked for, so the `test` split never trains; `t10k`
(in the whole-MNIST file only) holds MNIST's own test digits, whose writers wrote none of the
other splits' digits: the figure for handwriting the model has never seen.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from batch_ocr.batching import resize_to_height
from batch_ocr.charset import DIGITS_CHARSET

DIGITS_SEPARATORS = " -/."
DATA_PATH = Path(__file__).resolve().parent / "data" / "mnist_digits.npz"
SPLITS = ("train", "val", "test", "t10k")

# MNIST geometry: digits are fitted to a 20x20 box centred in 28x28, so rows 4..24 hold the ink and
# row ~24 acts as the baseline. Separator strokes are placed in the same frame.
_CELL = 28
_INK_THRESHOLD = 0.1
_SEPARATOR_RATE = 0.35
# Share of training strings written on a ruled line (a form field, lined paper): a line through
# or just under the digits' feet, across the whole crop. Without any, a model that never saw one
# read such strings at 33 % CER (`batch-ocr eval` on the test split drawn 3x larger with a line
# under the digits) against 0.9 % without the line.
GUIDE_LINE_SHARE = 0.25
# Share of training strings laid out as the seed tutorial serialised MNIST: whole 28x28 cells side
# by side, each digit where MNIST centred it, so the gap between two digits' ink is their cells'
# margins (up to about 20 MNIST pixels around a narrow '1', as wide as a word space in the free
# layout below). A model trained on the free layout alone read such strings at 48 % CER, a space
# at every wide gap (plain concatenations of MNIST's own test digits, jobs/make_mnist_cells_set.py).
CELL_LAYOUT_SHARE = 0.25
# Cell pitch in MNIST pixels, drawn per string: 28 is the seed's exact serialisation; grid forms
# and other concatenations pack digits tighter, or leave room between the cells.
_CELL_PITCH = (22.0, 38.0)
# Share of training strings written with wide letter spacing (the free layout's gaps scaled per
# string, word spaces kept clearly wider than the string's own gaps). A space is a gap wide for
# *that* string: a model that learnt one gap width for every writer put a space between evenly
# but widely spaced digits (the test strings stretched 1.5 times across read at 12.7 % CER, most
# of it spaces; MNIST cells 6 pixels apart at 77 %).
WIDE_SPACING_SHARE = 0.2
# Tracking of a widely spaced string: its typical gap between two digits, in MNIST pixels.
_WIDE_TRACKING = (6.0, 22.0)


@lru_cache(maxsize=2)
def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in ("images", "labels", "split")}


def load_mnist(split: str, path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 28, 28) with ink high (as in MNIST) and int64 labels of one split of
    `path` (default DATA_PATH); ValueError for a split the file does not hold."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    file = Path(path) if path is not None else DATA_PATH
    data = _load_npz(file.resolve())
    mask = data["split"] == split
    if not mask.any():
        raise ValueError(f"{file} holds no digits of split {split!r}")
    return data["images"][mask], data["labels"][mask].astype(np.int64)


def random_text(rng: np.random.Generator, min_len: int = 1, max_len: int = 10,
                separators: bool = True) -> str:
    """A digit string of `min_len`..`max_len` characters; sometimes with separators inside it,
    never at either end and never two in a row."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    length = int(rng.integers(min_len, max_len + 1))
    chars = [str(d) for d in rng.integers(0, 10, size=length)]
    if separators and length >= 3 and rng.random() < _SEPARATOR_RATE:
        wanted = int(rng.integers(1, min(3, (length - 1) // 2) + 1))
        # Real strings (dates, phone numbers) mostly repeat one separator kind.
        main = DIGITS_SEPARATORS[int(rng.integers(len(DIGITS_SEPARATORS)))]
        chosen: list[int] = []
        for pos in rng.permutation(np.arange(1, length - 1)):
            if len(chosen) == wanted:
                break
            if all(abs(int(pos) - c) > 1 for c in chosen):
                chosen.append(int(pos))
        for pos in chosen:
            other = DIGITS_SEPARATORS[int(rng.integers(len(DIGITS_SEPARATORS)))]
            chars[pos] = main if rng.random() < 0.8 else other
    return "".join(chars)


def _crop_columns(ink: np.ndarray) -> np.ndarray:
    cols = np.flatnonzero(ink.max(axis=0) > _INK_THRESHOLD)
    return ink[:, cols[0]:cols[-1] + 1] if cols.size else ink


def _digit_cell(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, digit: int
                ) -> np.ndarray:
    """A random MNIST cell of `digit`, float ink in 0..1."""
    candidates = np.flatnonzero(labels == digit)
    if candidates.size == 0:
        raise ValueError(f"no sample of digit {digit} in the given images")
    return images[int(rng.choice(candidates))].astype(np.float32) / 255.0


def _digit_glyph(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, digit: int,
                 scale: float) -> np.ndarray:
    ink = _crop_columns(_digit_cell(rng, images, labels, digit))
    # Writers vary glyph size within one string; keep it mild so digits stay one line.
    size = scale * rng.uniform(0.88, 1.08)
    width = max(1, int(round(ink.shape[1] * size)))
    height = max(1, int(round(_CELL * size)))
    return np.clip(cv2.resize(ink, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def _separator_glyph(rng: np.random.Generator, char: str, scale: float) -> np.ndarray:
    """A pen-drawn '-', '/' or '.' in the MNIST frame, wobbly rather than ruler-straight."""
    thickness = max(1, int(round(rng.uniform(1.4, 2.6) * scale)))  # MNIST pen widths
    pad = thickness + 2
    canvas = np.zeros((int(round(_CELL * scale)), int(round(18 * scale)) + 2 * pad), np.uint8)
    if char == ".":
        radius = max(1, int(round(rng.uniform(0.9, 1.8) * scale)))
        center = (pad + radius, int(round(rng.uniform(21.0, 24.0) * scale)))
        axes = (radius, max(1, int(round(radius * rng.uniform(0.7, 1.2)))))
        cv2.ellipse(canvas, center, axes, rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA)
    else:
        if char == "-":
            span, y0 = rng.uniform(6.0, 12.0), rng.uniform(12.0, 17.0)
            start, end = (0.0, y0), (span, y0 + rng.uniform(-1.5, 1.0))
        elif char == "/":
            # Flatter and taller than a slanted '1', the only cue that tells the two apart.
            span = rng.uniform(8.0, 13.0)
            start, end = (0.0, rng.uniform(24.0, 27.0)), (span, rng.uniform(2.0, 5.0))
        else:
            raise ValueError(f"not a drawable separator: {char!r}")
        # A slight bow in the middle; kept small so a dash never turns into a tilde or caret.
        middle = ((start[0] + end[0]) / 2 + rng.normal(0, 0.4), (start[1] + end[1]) / 2 + rng.normal(0, 0.4))
        points = np.array([start, middle, end], dtype=np.float64) * scale + [pad, 0]
        cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
    return _crop_columns(canvas.astype(np.float32) / 255.0)


def _lay_out(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, text: str,
             scale: float, tracking: float | None = None) -> np.ndarray:
    """Ink map (float, ink high) of `text` at `scale`, glyphs on a jittered common baseline;
    `tracking` (WIDE_SPACING_SHARE): the string's typical gap between digits, else the usual
    3-10 pixels with some digits touching."""
    glyphs: list[np.ndarray] = []
    gaps: list[float] = []
    previous = ""
    for char in text:
        if char == " ":
            previous = char
            continue
        if char.isdigit():
            glyph = _digit_glyph(rng, images, labels, int(char), scale)
        else:
            glyph = _separator_glyph(rng, char, scale)
        if glyphs:
            if tracking is not None:
                # A word space 2.2-3 times the string's typical gap and 8 pixels more; its
                # digits lie up to 1.4 times that gap apart.
                gap = tracking * (rng.uniform(2.2, 3.0) if previous == " " else
                                  rng.uniform(0.6, 1.4)) * scale
                if previous == " ":
                    gap += 8.0 * scale
            elif previous == " ":
                gap = rng.uniform(15.0, 25.0) * scale
            elif previous.isdigit() and char.isdigit() and rng.random() < 0.15:
                # Touching or slightly overlapping digits; bounded by the narrower one so a thin
                # '1' is never swallowed by its neighbour (the text must stay what is drawn).
                narrow = min(glyphs[-1].shape[1], glyph.shape[1])
                gap = max(rng.uniform(-3.0, 0.0) * scale, -0.25 * narrow)
            else:
                gap = rng.uniform(3.0, 10.0) * scale
            gaps.append(gap)
        glyphs.append(glyph)
        previous = char

    room = int(np.ceil(5 * scale))  # head room for baseline jitter and taller glyphs
    height = int(round(_CELL * scale)) + 2 * room
    offsets = [0]
    for glyph, gap in zip(glyphs[:-1], gaps):
        offsets.append(max(0, offsets[-1] + glyph.shape[1] + int(round(gap))))
    width = max(o + g.shape[1] for o, g in zip(offsets, glyphs))
    canvas = np.zeros((height, width), np.float32)
    for glyph, x in zip(glyphs, offsets):
        jitter = int(round(np.clip(rng.normal(0, 1.0), -2.5, 2.5) * scale))
        y = (height - glyph.shape[0]) // 2 + jitter
        y = min(max(y, 0), height - glyph.shape[0])
        region = canvas[y:y + glyph.shape[0], x:x + glyph.shape[1]]
        np.maximum(region, glyph, out=region)
    return canvas


def _pen_and_slant(rng: np.random.Generator, ink: np.ndarray, scale: float) -> np.ndarray:
    # Pen width changes per side in MNIST pixels; erosion stays small so thin strokes survive.
    radius = int(round(rng.uniform(-0.4, 0.9) * scale))
    if radius:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
        ink = cv2.dilate(ink, kernel) if radius > 0 else cv2.erode(ink, kernel)
    shear = rng.uniform(-0.3, 0.3)
    h, w = ink.shape
    shift = abs(shear) * h
    # x' = x + shear * (h - y): tops lean right for positive shear, as in right-slanted writing;
    # the constant keeps every column inside the widened canvas for either sign.
    matrix = np.float32([[1, -shear, max(shear * h, 0.0)], [0, 1, 0]])
    width = int(np.ceil(w + shift))
    return cv2.warpAffine(ink, matrix, (width, h), flags=cv2.INTER_LINEAR, borderValue=0.0)


def _lay_out_cells(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, text: str,
                   scale: float) -> np.ndarray:
    """Ink map of `text` as whole MNIST cells side by side at one pitch (CELL_LAYOUT_SHARE):
    digits uncropped, a separator centred in its cell, a space an empty cell."""
    pitch = rng.uniform(*_CELL_PITCH) * scale
    side = int(round(_CELL * scale))
    cells: list[np.ndarray | None] = []
    for char in text:
        if char == " ":
            cells.append(None)
        elif char.isdigit():
            ink = _digit_cell(rng, images, labels, int(char))
            cells.append(np.clip(cv2.resize(ink, (side, side), interpolation=cv2.INTER_LINEAR),
                                 0.0, 1.0))
        else:
            glyph = _separator_glyph(rng, char, scale)[:side]
            cell = np.zeros((side, side), np.float32)
            left = max(0, (side - glyph.shape[1]) // 2)
            width = min(glyph.shape[1], side)
            cell[:glyph.shape[0], left:left + width] = glyph[:, :width]
            cells.append(cell)
    canvas = np.zeros((side, int(np.ceil(pitch * (len(text) - 1))) + side), np.float32)
    for index, cell in enumerate(cells):
        if cell is not None:
            x = int(round(index * pitch))
            region = canvas[:, x:x + side]
            np.maximum(region, cell, out=region)
    return canvas


def _crop_with_random_margin(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """Ink bounding box plus 0-0.25 x its height of paper on each side, like a segmenter's crop."""
    rows = np.flatnonzero(ink.max(axis=1) > _INK_THRESHOLD)
    cols = np.flatnonzero(ink.max(axis=0) > _INK_THRESHOLD)
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box_h = y1 - y0
    top, bottom, left, right = (int(round(m * box_h)) for m in rng.uniform(0.0, 0.25, size=4))
    out = np.zeros((box_h + top + bottom, x1 - x0 + left + right), np.float32)
    out[top:top + box_h, left:left + x1 - x0] = ink[y0:y1, x0:x1]
    return out


def _with_guide_line(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """The crop's ink with a ruled line across it, from a little above the digits' feet (the
    line runs through them) to a little below, printed as dark as the pen or lighter (a form's
    grey rules); the crop grows downwards when the line falls below it."""
    rows = np.flatnonzero(ink.max(axis=1) > _INK_THRESHOLD)
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    # 1-2.5 pixels once the crop is brought to the model's 32-pixel height.
    thickness = max(1, int(round(rng.uniform(1.0, 2.5) * ink.shape[0] / 32)))
    y = bottom + int(round(rng.uniform(-0.12, 0.12) * (bottom - top)))
    reach = y + thickness + int(round(rng.uniform(0.0, 0.15) * (bottom - top)))
    if reach > ink.shape[0]:
        ink = np.pad(ink, ((0, reach - ink.shape[0]), (0, 0)))
    line = ink[y:y + thickness]
    np.maximum(line, rng.uniform(0.5, 1.0), out=line)
    return ink


def _to_scan(rng: np.random.Generator, ink: np.ndarray, scale: float) -> np.ndarray:
    """Ink map -> uint8 dark ink on light paper with the defects of a cheap scan or photo."""
    paper = rng.uniform(175.0, 255.0)
    ink_level = rng.uniform(0.0, max(0.0, paper - 90.0))
    h, w = ink.shape
    # Uneven lighting: a gentle linear gradient across the crop.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gradient = rng.uniform(-18, 18) * (xx / max(w, 1) - 0.5) + rng.uniform(-10, 10) * (yy / max(h, 1) - 0.5)
    image = (paper + gradient) - (paper - ink_level) * ink
    sigma = rng.uniform(0.0, 0.9) * scale
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image + rng.normal(0.0, rng.uniform(0.0, 10.0), size=image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 91))])
        if ok:
            image = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return image


def render_string(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, text: str,
                  height: int = 32, guide_lines: float = 0.0, cells: float = 0.0,
                  wide: float = 0.0) -> np.ndarray:
    """uint8 (height, W) image of `text` (charset "0123456789 -/.", ending in digits), dark ink on
    light paper, drawn with digits from `images`/`labels`; `guide_lines`: the chance that it is
    written on a ruled line, `cells`: that it is laid out in whole MNIST cells (CELL_LAYOUT_SHARE),
    `wide`: that it is widely spaced (WIDE_SPACING_SHARE). 0 draws nothing more from `rng`, so
    sets made before these existed stay as they were."""
    if not text or not set(text) <= set(DIGITS_CHARSET):
        raise ValueError(f"text must be non-empty and use only {DIGITS_CHARSET!r}: {text!r}")
    if not (text[0].isdigit() and text[-1].isdigit()):
        raise ValueError(f"text must start and end with a digit: {text!r}")
    scale = rng.uniform(1.0, 4.0)
    if cells and rng.random() < cells:
        ink = _lay_out_cells(rng, images, labels, text, scale)
    elif wide and rng.random() < wide:
        ink = _lay_out(rng, images, labels, text, scale, rng.uniform(*_WIDE_TRACKING))
    else:
        ink = _lay_out(rng, images, labels, text, scale)
    ink = _pen_and_slant(rng, ink, scale)
    ink = _crop_with_random_margin(rng, ink)
    if guide_lines and rng.random() < guide_lines:
        ink = _with_guide_line(rng, ink)
    crop = _to_scan(rng, ink, scale)
    return resize_to_height(crop, height)


def compose_string(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, min_len: int = 1,
                   max_len: int = 10, separators: bool = True, height: int = 32,
                   guide_lines: float = 0.0, cells: float = 0.0, wide: float = 0.0
                   ) -> tuple[np.ndarray, str]:
    """A random digit string (length counts separators) and its scan-like uint8 image, exactly
    `height` rows, dark ink on light paper (`guide_lines`, `cells`, `wide` as for
    render_string)."""
    text = random_text(rng, min_len, max_len, separators)
    return render_string(rng, images, labels, text, height, guide_lines, cells, wide), text


def make_eval_set(out_dir: str | Path, split: str = "test", n: int = 1000, lengths=range(3, 9),
                  seed: int = 20240601, separators: bool = False, height: int = 32,
                  path: str | Path | None = None) -> Path:
    """Write `n` PNG crops and `labels.csv` (file,text; file relative to `out_dir`) composed only
    from MNIST `split` (of `path`, as for load_mnist); returns the CSV path. Read the CSV with
    dtype=str: texts such as "0471" would otherwise lose their leading zeros."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = load_mnist(split, path)
    lengths = list(lengths)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        length = lengths[i % len(lengths)]  # cycling gives every length the same share
        image, text = compose_string(rng, images, labels, length, length, separators, height)
        name = f"{i:05d}.png"
        cv2.imwrite(str(out / name), image)
        rows.append({"file": name, "text": text})
    csv_path = out / "labels.csv"
    pd.DataFrame(rows, columns=["file", "text"]).to_csv(csv_path, index=False)
    return csv_path
