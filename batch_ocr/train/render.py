"""Render one text line with a font and degrade it the way scanners and cameras do.

The output goes through `batching.resize_to_height`, the same resize inference uses, so the model
sees training and real crops at the same scale and interpolation. Crops are cut from the ink box
of the text plus random margins: horizontally the margin is never negative (no glyph may be lost,
or the label would lie), vertically it varies around what the segmenter produces.
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from batch_ocr.batching import resize_to_height
from batch_ocr.charset import PRINTED_CHARSET

# Codepoint that no sane font maps (unassigned in Unicode): it always renders as .notdef.
_MISSING_PROBE = "\u0378"
_FRAGMENT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789gjpqyfhkltdb"
# Font sizes (pixels, half open) of a low-resolution bilevel scan: 10-12 pt print on a fax or a
# 75-100 dpi office scan. Capitals are then 7-12 pixels high, thresholded to black and white and
# enlarged to the model height: blocky shapes that the main size range (16-120 px, where a bilevel
# line is rare and its letters large) barely covers.
_LOWRES_SIZES = (11, 18)
_FAX_STANDARD = 0.3  # of low-resolution lines, those with rows at half resolution


@functools.lru_cache(maxsize=4096)
def cached_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: no ligatures, so every character stays its own glyph (labels are per char).
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def _glyph_signature(font: ImageFont.FreeTypeFont, char: str) -> tuple:
    mask = font.getmask(char)
    return mask.size, bytes(mask), font.getlength(char)


@functools.lru_cache(maxsize=512)
def _notdef(font_path: str) -> tuple:
    return _glyph_signature(cached_font(font_path, 24), _MISSING_PROBE)


def has_glyph(font_path: Path | str, char: str) -> bool:
    """Whether `font_path` maps `char` to a real glyph.

    Pillow cannot read the cmap, but an unmapped character renders as the font's .notdef glyph, so
    a character whose bitmap and advance equal those of an unassigned codepoint is missing. (A font
    with a blank .notdef still works: only the space has a blank bitmap among real glyphs.)"""
    if char == " ":
        return True
    return _glyph_signature(cached_font(str(font_path), 24), char) != _notdef(str(font_path))


@functools.lru_cache(maxsize=512)
def supported_chars(font_path: Path | str) -> frozenset[str]:
    """The characters of PRINTED_CHARSET that `font_path` has a real glyph for."""
    return frozenset(c for c in PRINTED_CHARSET if has_glyph(font_path, c))


def missing_chars(font_path: Path | str, text: str) -> set[str]:
    """Characters of `text` that `font_path` would draw as .notdef (or that are not in the charset)."""
    return set(text) - supported_chars(font_path)


# ---------------------------------------------------------------------------------- drawing

def _draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str,
               font: ImageFont.FreeTypeFont, spacing: float) -> None:
    """Draw at baseline-left `xy` with ink 255; extra letter spacing means drawing per glyph."""
    if spacing == 0.0:
        draw.text(xy, text, fill=255, font=font, anchor="ls")
        return
    x, y = xy
    for char in text:
        draw.text((x, y), char, fill=255, font=font, anchor="ls")
        x += font.getlength(char) + spacing


def _text_width(text: str, font: ImageFont.FreeTypeFont, spacing: float) -> float:
    if spacing == 0.0:
        return font.getlength(text)
    return sum(font.getlength(c) for c in text) + spacing * max(len(text) - 1, 0)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of nonzero pixels, exclusive end, or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _random_warp(rng: np.random.Generator, width: int, height: int) -> np.ndarray | None:
    """A 3x3 homography about the canvas centre: small rotation, shear and perspective."""
    r = rng.random()
    if r < 0.45:
        return None
    cx, cy = width / 2.0, height / 2.0
    # Horizontal stretch stands in for the condensed and extended cuts no font list covers fully.
    stretch = float(np.exp(rng.normal(0, 0.1))) if rng.random() < 0.4 else 1.0
    angle = np.deg2rad(np.clip(rng.normal(0, 1.2), -3, 3))
    shear = float(np.clip(rng.normal(0, 0.08), -0.25, 0.25)) if rng.random() < 0.4 else 0.0
    c, s = np.cos(angle), np.sin(angle)
    affine = np.array([[c * stretch, -s + shear, 0], [s * stretch, c, 0], [0, 0, 1]], dtype=np.float64)
    if rng.random() < 0.25:
        # Text height may change by some percent along the line (camera tilt), but a y-dependent
        # x-scale must stay tiny: on a long line it would slant the far ends like italics.
        affine[2, 0] = rng.normal(0, 0.08) / max(width, 1)
        affine[2, 1] = rng.normal(0, 0.03) / max(width, 1)
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=np.float64)
    return back @ affine @ to_origin


def _warp_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ matrix.T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def _motion_kernel(rng: np.random.Generator, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    c = (length - 1) / 2.0
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))),
             1.0, 1)
    return kernel / max(kernel.sum(), 1e-6)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE) if ok else image


def _mild_degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low-resolution scan effects applied at the final height."""
    if rng.random() < 0.15:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.8))
    if rng.random() < 0.3:
        contrast = float(np.percentile(image, 90) - np.percentile(image, 2))
        sigma = rng.uniform(2, max(3.0, min(12.0, 0.15 * contrast)))
        noise = rng.normal(0, sigma, image.shape).astype(np.float32)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.08:
        # Local threshold, as bilevel scanners do: a global one would turn a shaded paper edge
        # into a block of "ink".
        contrast = float(np.percentile(image, 90) - np.percentile(image, 2))
        block = 2 * image.shape[0] + 1
        image = cv2.adaptiveThreshold(image, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                      block, 0.15 * contrast + 2)
    if rng.random() < 0.2:
        image = _jpeg(image, int(rng.integers(30, 85)))
    return image


def scan_bilevel(alpha: np.ndarray, level: float, fax_standard: bool = False) -> np.ndarray:
    """Ink coverage (float32, 0..1) as a bilevel scanner records it: ink where the coverage
    exceeds `level` times the darkest pixel's (after a blur, thin strokes may never reach a fixed
    level). `fax_standard`: rows are sampled at half the column resolution and each is printed
    twice, as fax receivers do."""
    height, width = alpha.shape
    if fax_standard:
        rows = cv2.resize(alpha, (width, (height + 1) // 2), interpolation=cv2.INTER_AREA)
        alpha = np.repeat(rows, 2, axis=0)[:height]
    return (alpha > level * float(alpha.max())).astype(np.float32)


# ---------------------------------------------------------------------------------- public

def render_line(text: str, font_path: Path, rng: np.random.Generator, height: int = 32,
                lowres: float = 0.0) -> np.ndarray:
    """uint8 (height, W) image of `text` in `font_path`: dark text on a light background, degraded
    at random, cropped to the ink box plus random margins, and resized like inference crops.

    `lowres`: the share of lines scanned bilevel at a low resolution (`_LOWRES_SIZES`). At 0 no
    random number is drawn for it, so the shards rendered before it existed come out the same."""
    if not text:
        raise ValueError("cannot render an empty line")
    low = lowres > 0 and rng.random() < lowres
    # Fax "standard" mode samples columns at twice the resolution of rows (204 x 98 dpi), and
    # receivers print each row twice: the letters' width is that of twice the size.
    fax_standard = low and rng.random() < _FAX_STANDARD
    if low:
        size = int(rng.integers(*_LOWRES_SIZES)) * (2 if fax_standard else 1)
    else:
        # x-height of roughly 8..60 px before the resize, log-uniform so small print is common.
        size = int(round(np.exp(rng.uniform(np.log(16), np.log(120)))))
    font = cached_font(str(font_path), size)
    ascent, descent = font.getmetrics()
    spacing = 0.0
    if rng.random() < 0.25:
        spacing = float(rng.uniform(-0.04, 0.25) * size)

    # Glyph box of the font's caps ('H' top to baseline): the crop always spans at least that, so a
    # line of only dots or dashes keeps its size relative to letters.
    cap_top = font.getbbox("H", anchor="ls")[1]
    text_height = max(1, -cap_top + descent // 2)
    pad_x = int(1.3 * text_height + 0.5 * size) + 4
    neighbours = rng.random() < 0.2
    line_gap = rng.uniform(1.05, 1.5) * size
    pad_y = int(0.6 * size + (line_gap if neighbours else 0)) + 4
    width = int(_text_width(text, font, spacing) + 2 * pad_x)
    canvas_h = int(ascent + descent + 2 * pad_y)
    baseline = pad_y + ascent

    image = Image.new("L", (width, canvas_h), 0)
    draw = ImageDraw.Draw(image)
    _draw_text(draw, (pad_x, baseline), text, font, spacing)
    if rng.random() < 0.06:  # underline, part of the line's ink like in real documents
        y = baseline + max(1, int(descent * rng.uniform(0.2, 0.7)))
        thickness = max(1, int(size * rng.uniform(0.03, 0.08)))
        x_end = pad_x + _text_width(text, font, spacing)
        draw.line([(pad_x - rng.uniform(0, 0.3) * size, y), (x_end + rng.uniform(0, 0.3) * size, y)],
                  fill=255, width=thickness)
    mask = np.asarray(image)

    other = None
    if neighbours:
        other_img = Image.new("L", (width, canvas_h), 0)
        other_draw = ImageDraw.Draw(other_img)
        for direction in (-1, 1):
            if rng.random() < 0.7:
                n = max(1, int(width / (0.5 * size)))
                fragment = "".join(_FRAGMENT_CHARS[i] for i in rng.integers(0, len(_FRAGMENT_CHARS), n))
                x0 = pad_x + rng.uniform(-1, 1) * size
                other_draw.text((x0, baseline + direction * line_gap), fragment, fill=255, font=font,
                                anchor="ls")
        other = np.asarray(other_img)

    ref = np.array([[pad_x, baseline + cap_top], [pad_x, baseline], [width - pad_x, baseline + cap_top],
                    [width - pad_x, baseline]], dtype=np.float64)
    matrix = _random_warp(rng, width, canvas_h)
    if matrix is not None:
        mask = cv2.warpPerspective(mask, matrix, (width, canvas_h), flags=cv2.INTER_LINEAR)
        if other is not None:
            other = cv2.warpPerspective(other, matrix, (width, canvas_h), flags=cv2.INTER_LINEAR)
        ref = _warp_points(matrix, ref)

    box = _bbox(mask > 40)
    if box is None:  # nothing visible (e.g. only spaces): fall back to the reference box
        box = (pad_x, baseline + cap_top, width - pad_x, baseline)
    x0, y0, x1, y1 = box
    # Vertical extent includes the cap-height reference most of the time; horizontal is ink only.
    if rng.random() < 0.9:
        y0 = min(y0, int(np.floor(ref[:, 1].min())))
        y1 = max(y1, int(np.ceil(ref[:, 1].max())))
    ink_h = max(1, y1 - y0)

    r = rng.random()
    if r < 0.15:  # tight
        mt, mb, ml, mr = 0.0, 0.0, 0.0, 0.0
    elif r < 0.2:  # a segmenter that shaves the tops/bottoms a little
        mt, mb = rng.uniform(-0.06, 0.05, 2)
        ml, mr = rng.uniform(0, 0.2, 2)
    else:
        mt, mb = rng.uniform(0, 0.3, 2)
        ml, mr = rng.uniform(0, 1.0, 2) * (rng.uniform(0, 1, 2) ** 2)
    if other is not None:  # make room for the neighbours' ascenders and descenders to show
        mt, mb = max(mt, rng.uniform(0.1, 0.35)), max(mb, rng.uniform(0.1, 0.35))
        mask = np.maximum(mask, other)
    cy0 = max(0, int(round(y0 - mt * ink_h)))
    cy1 = min(canvas_h, max(cy0 + 1, int(round(y1 + mb * ink_h))))
    cx0 = max(0, int(np.floor(x0 - ml * ink_h)))
    cx1 = min(width, int(np.ceil(x1 + mr * ink_h)))
    alpha = mask[cy0:cy1, cx0:cx1].astype(np.float32) * (1.0 / 255.0)
    clean_alpha = alpha

    # Stroke weight: ink bleed (dilate) or worn toner (erode), scaled to the glyph size.
    r = rng.random()
    k = max(1, int(round(size * rng.uniform(0.015, 0.05))))
    if r < 0.1:
        alpha = cv2.dilate(alpha, np.ones((k, k), np.uint8))
    elif r < 0.18:
        eroded = cv2.erode(alpha, np.ones((k, k), np.uint8))
        # Thin fonts vanish under an erosion that only thins a bold one: keep most of the ink.
        if eroded.sum() >= 0.6 * alpha.sum():
            alpha = eroded

    r = rng.random()
    if r < 0.3:
        alpha = cv2.GaussianBlur(alpha, (0, 0), size * rng.uniform(0.01, 0.06))
    elif r < 0.4:
        length = max(3, int(size * rng.uniform(0.05, 0.15)) | 1)
        alpha = cv2.filter2D(alpha, -1, _motion_kernel(rng, length))

    if rng.random() < 0.07 or low:  # a bilevel scan: hard stroke edges, no grey
        # At a few pixels a letter, strokes are mostly edge: a lower level keeps them.
        level = rng.uniform(0.25, 0.5) if low else rng.uniform(0.3, 0.6)
        alpha = scan_bilevel(alpha, level, fax_standard)

    if float(alpha.max()) < 0.5 * float(clean_alpha.max()):
        # Degradations that wash the text out entirely would teach the model to guess a label.
        alpha = clean_alpha

    # Paper and ink tones; sometimes low contrast (faded print, coloured paper).
    if rng.random() < 0.15:
        paper = rng.uniform(140, 230)
        ink = paper - rng.uniform(40, 90)
    else:
        paper = rng.uniform(190, 255)
        ink = rng.uniform(0, 110)
    ink_level = ink + (paper - ink) * (1 - rng.uniform(0.85, 1.0))
    out = paper + (ink_level - paper) * np.clip(alpha, 0, 1)

    if rng.random() < 0.25:  # uneven illumination: a linear gradient across the crop
        h, w = out.shape
        gx, gy = rng.normal(0, 1, 2)
        ramp = (np.arange(w, dtype=np.float32)[None, :] / max(w, 1) - 0.5) * gx \
            + (np.arange(h, dtype=np.float32)[:, None] / max(h, 1) - 0.5) * gy
        out = out * (1.0 + rng.uniform(0.05, 0.35) * ramp / max(np.abs(ramp).max(), 1e-6))
    contrast = paper - ink_level
    if rng.random() < 0.2:
        sigma = rng.uniform(2, max(3.0, min(15.0, 0.2 * contrast)))
        out = out + rng.normal(0, sigma, out.shape).astype(np.float32)
    if rng.random() < 0.06:  # dust and toner specks, a few pixels big at scan resolution
        count = int(rng.integers(1, 4 + out.size // 4000))
        ys, xs = rng.integers(0, out.shape[0], count), rng.integers(0, out.shape[1], count)
        radius = max(1, int(size * 0.02))
        for y, x, dark in zip(ys, xs, rng.random(count) < 0.7):
            cv2.circle(out, (int(x), int(y)), int(rng.integers(1, radius + 1)),
                       float(ink_level if dark else paper), -1)
    crop = np.clip(out, 0, 255).astype(np.uint8)

    if rng.random() < 0.15:
        crop = _jpeg(crop, int(rng.integers(25, 80)))

    line = resize_to_height(crop, height)
    if rng.random() < 0.5:
        line = _mild_degrade(line, rng)
    return np.ascontiguousarray(line)
