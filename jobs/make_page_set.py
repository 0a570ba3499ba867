"""Dev page set for layout analysis: whole pages rendered from text, with scan effects and truth.

    python jobs/make_page_set.py OUT_DIR [--pages 40] [--seed 7] [--fonts heldout]
                                 [--text-file PROSE.txt ...] [--layouts letter,flyer,book,memo]

Writes OUT_DIR/NAME.png or NAME.jpg (some colour, yellowed) and OUT_DIR/NAME.txt: the page's
lines in reading order (column by column, top to bottom), one per line, as `batch-ocr eval
--pages OUT_DIR` and `batch_ocr.page_eval.evaluate_pages` expect. Layouts: a letter (one column),
a two-column flyer under a full-width title and rule, a book page with a drop capital and a
picture, a typewritten memo with mixed sizes; and, only when asked for (`--layouts form`), a
form: an underlined heading and fields whose rules run through their descenders, and a ruled
table whose cells' text sometimes rests on the cell border (truth: a row's cells joined by
spaces). Effects: skew up to +-15 degrees, blur, noise, JPEG, yellowed or textured paper, uneven light, bleed-through from the back of the sheet.
A drop capital's truth is its word, whole ("Once", not "O nce"). Text comes from the training
sampler (sentences mixed with prices, codes, dates, accented and rare characters: a stress test) or,
with --text-file, runs of real prose from those files, as most letters and books hold.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from batch_ocr.deskew import deskew_transform
from batch_ocr.train.fonts import load_font_list
from batch_ocr.train.render import missing_chars
from batch_ocr.train.clean_set import prose_lines
from batch_ocr.train.text_gen import sample_text

PAGE_SIZE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 90


@dataclass
class Page:
    image: Image.Image
    lines: list[str] = field(default_factory=list)
    y: int = MARGIN


# Words of the --text-file prose, in file order; empty: text from the sampler.
PROSE_WORDS: list[str] = []
ASCII_ART = re.compile(r"([^\w\s.])\1{2,}|\*+")


def _words(rng: np.random.Generator, font: Path, count: int) -> list[str]:
    """Running text in characters `font` has: `count` consecutive prose words from a random
    start, or sampler text (mostly sentences, some prices, codes and dates)."""
    if PROSE_WORDS:
        start = int(rng.integers(len(PROSE_WORDS)))
        run = (PROSE_WORDS[start:] + PROSE_WORDS)[:4 * count]
        return [word for word in run if not missing_chars(font, word)][:count]
    words: list[str] = []
    while len(words) < count:
        text, category = sample_text(rng, 60)
        if category in ("codes", "numbers") and rng.random() < 0.6:
            continue
        if missing_chars(font, text):
            continue
        words.extend(text.split())
    return words[:count]


def _wrap(words: list[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, current = [], ""
    for word in words:
        trial = f"{current} {word}" if current else word
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


def _paragraph(page: Page, rng: np.random.Generator, font_path: Path, size: int, x: int,
               width: int, n_words: int, drop_cap: bool = False, bottom: int | None = None
               ) -> None:
    font = ImageFont.truetype(str(font_path), size)
    draw = ImageDraw.Draw(page.image)
    words = _words(rng, font_path, n_words)
    leading = int(size * rng.uniform(1.25, 1.5))
    indent = 0
    cap_lines = 0
    if drop_cap:
        words[0] = words[0].strip("\"'“”„«»‘’([").capitalize() or "Once"
        if not words[0][0].isalpha():
            words[0] = "Once"
        cap_lines = 3
        # The capital stands on the third line's baseline and its top is level with the first
        # line's capitals, as typesetters set a three-line initial: size it by its ink, not by its
        # font size (a letter's ink is only ~70 % of the em).
        reach = 2 * leading - font.getbbox("H", anchor="ls")[1]
        probe = ImageFont.truetype(str(font_path), 100).getbbox(words[0][0], anchor="ls")
        cap_font = ImageFont.truetype(str(font_path), max(size, int(100 * reach / max(1, -probe[1]))))
        baseline0 = page.y + font.getmetrics()[0]
        draw.text((x, baseline0 + 2 * leading), words[0][0], font=cap_font, fill=0, anchor="ls")
        cap_width = cap_font.getlength(words[0][0])
        indent = int(cap_width + size * 0.4)
    bottom = bottom or PAGE_SIZE[1] - MARGIN
    first_lines = _wrap(words, font, width - indent) if drop_cap else []
    if drop_cap:
        # Lines beside the capital are narrower; the rest wrap at the full width.
        beside = first_lines[:cap_lines]
        rest_words = " ".join(first_lines[cap_lines:]).split()
        lines = beside + _wrap(rest_words, font, width)
    else:
        lines = _wrap(words, font, width)
    for i, line in enumerate(lines):
        if page.y + leading > bottom:
            break
        if drop_cap and i == 0:
            shown = line[1:]
            draw.text((x + indent, page.y), shown, font=font, fill=0)
        else:
            draw.text((x + (indent if i < cap_lines else 0), page.y), line, font=font, fill=0)
        page.lines.append(line)
        page.y += leading
    page.y += int(leading * 0.6)


def _picture(page: Page, rng: np.random.Generator, x: int, width: int, height: int) -> None:
    """A photo-like block: smooth shading, blobs and texture (never text-like strokes)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 90 + 100 * (xx / width) * rng.uniform(0.3, 1) + 40 * np.sin(yy / rng.uniform(15, 60))
    for _ in range(int(rng.integers(3, 9))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(10, min(width, height) / 2)
        base -= rng.uniform(40, 110) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    base += rng.normal(0, rng.uniform(5, 25), base.shape)
    photo = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    page.image.paste(photo, (x, page.y))
    if rng.random() < 0.5:  # a thin frame
        ImageDraw.Draw(page.image).rectangle([x - 4, page.y - 4, x + width + 4, page.y + height + 4],
                                             outline=0, width=2)
    page.y += height + 30


def _rule(page: Page, x0: int, x1: int, thickness: int = 3) -> None:
    ImageDraw.Draw(page.image).rectangle([x0, page.y, x1, page.y + thickness], fill=0)
    page.y += thickness + 25


def _title_text(rng: np.random.Generator, font_path: Path, font: ImageFont.FreeTypeFont) -> str:
    text = " ".join(_words(rng, font_path, int(rng.integers(2, 5)))).strip()
    while font.getlength(text) > PAGE_SIZE[0] - 2 * MARGIN and " " in text:
        text = text.rsplit(" ", 1)[0]
    return text


def _title(page: Page, rng: np.random.Generator, font_path: Path, size: int, x: int) -> None:
    font = ImageFont.truetype(str(font_path), size)
    text = _title_text(rng, font_path, font)
    ImageDraw.Draw(page.image).text((x, page.y), text, font=font, fill=0)
    page.lines.append(text)
    page.y += int(size * 1.5)


def _underlined(page: Page, font: ImageFont.FreeTypeFont, x: int, text: str,
                rng: np.random.Generator, rule_to: int | None = None) -> None:
    """`text` on a rule that runs through its descenders (as a typed form field or an underlined
    heading is printed): the rule touches the letters, so they share one ink component with it."""
    draw = ImageDraw.Draw(page.image)
    ascent, descent = font.getmetrics()
    draw.text((x, page.y), text, font=font, fill=0)
    rule_y = page.y + ascent + int(descent * rng.uniform(0.15, 0.6))
    end = rule_to if rule_to is not None else \
        x + int(font.getlength(text)) + int(rng.integers(0, 60))
    start = x - int(rng.integers(0, 15))
    draw.rectangle([start, rule_y, end, rule_y + int(rng.integers(1, 4)) - 1], fill=0)
    page.lines.append(text)
    page.y += int((ascent + descent) * rng.uniform(1.8, 2.4))


def _cell_text(rng: np.random.Generator, font_path: Path, column: int) -> str:
    """What a table cell holds: a few words in the first column, then counts, prices and codes."""
    if column == 0:
        return " ".join(_words(rng, font_path, int(rng.integers(1, 4))))
    kind = int(rng.integers(3))
    if kind == 0:
        return str(int(rng.integers(1, 5000)))
    if kind == 1:
        return f"{rng.choice(['$', '', 'EUR '])}{rng.uniform(0.05, 9999):,.2f}".strip()
    return "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), int(rng.integers(4, 9))))


def _table(page: Page, rng: np.random.Generator, font_path: Path, size: int, x: int, width: int
           ) -> None:
    """A ruled table: a full grid of 1-3 px lines; in some rows the text sits on the cell's lower
    border. Truth: one line per row, the cells joined by spaces (as a reader reads a table)."""
    font = ImageFont.truetype(str(font_path), size)
    draw = ImageDraw.Draw(page.image)
    columns = int(rng.integers(3, 5))
    shares = rng.uniform(1.0, 2.0, columns)
    shares[0] += 1.5  # the description column is the widest
    edges = [x] + [x + int(width * s) for s in np.cumsum(shares) / shares.sum()]
    ascent, descent = font.getmetrics()
    row_height = int((ascent + descent) * rng.uniform(1.4, 2.0))
    thickness = int(rng.integers(1, 4))
    top = page.y
    rows = int(rng.integers(4, 9))
    for row in range(rows):
        cells = []
        for column in range(columns):
            text = _cell_text(rng, font_path, column)
            while text and font.getlength(text) > edges[column + 1] - edges[column] - 20:
                text = text[:-1].rstrip()
            if text and not missing_chars(font_path, text):
                cells.append(text)
                # Most cells centre their text; some rest it on the lower border.
                on_rule = rng.random() < 0.3
                y = (top + (row + 1) * row_height - ascent - int(descent * 0.3) if on_rule
                     else top + row * row_height + (row_height - ascent - descent) // 2)
                draw.text((edges[column] + int(rng.integers(6, 14)), y), text, font=font, fill=0)
        if cells:
            page.lines.append(" ".join(cells))
    bottom = top + rows * row_height
    for row in range(rows + 1):
        y = top + row * row_height
        draw.rectangle([edges[0], y, edges[-1], y + thickness - 1], fill=0)
    for edge in edges:
        draw.rectangle([edge, top, edge + thickness - 1, bottom + thickness - 1], fill=0)
    page.y = bottom + 2 * row_height


def render_page(rng: np.random.Generator, fonts: list[Path], layout: str) -> Page:
    page = Page(Image.new("L", PAGE_SIZE, 255))
    font = fonts[int(rng.integers(len(fonts)))]
    body = int(rng.integers(22, 34))
    width = PAGE_SIZE[0] - 2 * MARGIN
    if layout == "letter":
        for _ in range(int(rng.integers(3, 6))):
            _paragraph(page, rng, font, body, MARGIN, width, int(rng.integers(20, 60)))
    elif layout == "memo":
        _title(page, rng, font, int(body * rng.uniform(2.0, 3.0)), MARGIN)
        for _ in range(3):
            _paragraph(page, rng, font, int(body * rng.uniform(0.8, 1.3)), MARGIN, width,
                       int(rng.integers(15, 40)))
    elif layout == "flyer":
        _title(page, rng, font, int(body * rng.uniform(1.8, 2.6)), MARGIN)
        _rule(page, MARGIN, PAGE_SIZE[0] - MARGIN)
        gutter = int(body * rng.uniform(2.0, 3.0))
        column = (width - gutter) // 2
        top = page.y
        for index in range(2):
            page.y = top
            x = MARGIN + index * (column + gutter)
            if index == 1 and rng.random() < 0.6:
                _picture(page, rng, x, column, int(rng.integers(200, 380)))
            while page.y < PAGE_SIZE[1] - MARGIN - 4 * body:
                _paragraph(page, rng, font, body, x, column, int(rng.integers(25, 60)))
    elif layout == "form":
        font_obj = ImageFont.truetype(str(font), int(body * 1.5))
        _underlined(page, font_obj, MARGIN, _title_text(rng, font, font_obj), rng)
        field_font = ImageFont.truetype(str(font), body)
        for _ in range(int(rng.integers(2, 5))):
            label = " ".join(_words(rng, font, int(rng.integers(1, 3)))).rstrip(".,;:") + ":"
            value = " ".join(_words(rng, font, int(rng.integers(1, 4))))
            _underlined(page, field_font, MARGIN, f"{label} {value}", rng,
                        rule_to=MARGIN + int(width * rng.uniform(0.6, 1.0)))
        _table(page, rng, font, body, MARGIN, width)
        if page.y < PAGE_SIZE[1] - MARGIN - 6 * body:
            _paragraph(page, rng, font, body, MARGIN, width, int(rng.integers(15, 40)))
    else:  # book
        _paragraph(page, rng, font, body, MARGIN, width, int(rng.integers(50, 90)), drop_cap=True)
        picture_width = int(width * rng.uniform(0.4, 0.8))
        _picture(page, rng, MARGIN + (width - picture_width) // 2, picture_width,
                 int(rng.integers(200, 420)))
        _paragraph(page, rng, font, body, MARGIN, width, int(rng.integers(40, 90)))
    return page


def _scan(gray: np.ndarray, rng: np.random.Generator, angle: float
          ) -> tuple[np.ndarray, bool]:
    """Scanner effects on a clean page; returns the image and whether it is colour (RGB)."""
    h, w = gray.shape
    page = gray.astype(np.float32)
    if rng.random() < 0.3:  # bleed-through: the back of the sheet, mirrored and faint
        back = cv2.flip(cv2.GaussianBlur(page, (0, 0), 1.5), 1)
        page = np.minimum(page, 255 - rng.uniform(0.1, 0.25) * (255 - back))
    if angle:
        # The canvas grows to hold the turned sheet, so no text is cut off (the truth stays true).
        transform = deskew_transform(page.shape, -angle)
        page = cv2.warpAffine(page, transform.matrix, transform.size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        h, w = page.shape
    if rng.random() < 0.5:
        page = cv2.GaussianBlur(page, (0, 0), rng.uniform(0.4, 1.1))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - rng.uniform(0, 0.35) * (xx / w * rng.uniform(0, 1) + yy / h * rng.uniform(0, 1))
    paper = rng.uniform(0.85, 1.0)
    page = page * light * paper
    if rng.random() < 0.3:  # textured paper: low-frequency blotches
        blotch = cv2.resize(rng.normal(0, 1, (h // 40, w // 40)).astype(np.float32), (w, h))
        page = page * (1 + 0.04 * blotch)
    page += rng.normal(0, rng.uniform(1, 8), page.shape)
    gray_out = np.clip(page, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:  # yellowed paper, kept in colour
        tint = np.array([1.0, rng.uniform(0.9, 0.97), rng.uniform(0.7, 0.85)], np.float32)
        rgb = np.clip(gray_out[:, :, None].astype(np.float32) * tint, 0, 255).astype(np.uint8)
        return rgb, True
    return gray_out, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fonts", default="heldout", help="font list: heldout (dev) or train")
    parser.add_argument("--max-skew", type=float, default=15.0)
    parser.add_argument("--layouts", default="letter,flyer,book,memo",
                        help="comma-separated, taken in turn: letter, flyer, book, memo, form "
                             "(underlined heading and fields, a ruled table)")
    parser.add_argument("--text-file", action="append", default=[],
                        help="plain-text prose to set the pages in (repeatable)")
    args = parser.parse_args()
    for text_file in args.text_file:
        # Runs like "-----" or "* * *" are a plain-text file's rules and boxes; typeset, they
        # would be drawn as rules, not set as text.
        PROSE_WORDS.extend(word for word in " ".join(prose_lines(text_file, 60)).split()
                           if not ASCII_ART.fullmatch(word))
    fonts = load_font_list(args.fonts)
    if not fonts:
        parser.error(f"no font of list {args.fonts!r} is installed (jobs/install_fonts.sh)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    layouts = args.layouts.split(",")
    for index in range(args.pages):
        layout = layouts[index % len(layouts)]
        page = render_page(rng, fonts, layout)
        r = rng.random()
        # A third level, a third slightly tilted, a third strongly tilted.
        angle = 0.0 if r < 0.33 else float(rng.uniform(-3, 3) if r < 0.66
                                           else rng.choice([-1, 1]) * rng.uniform(3, args.max_skew))
        image, colour = _scan(np.asarray(page.image), rng, angle)
        name = f"page_{index:03d}_{layout}"
        if rng.random() < 0.4:
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if colour else image
            cv2.imwrite(str(args.out_dir / f"{name}.jpg"), bgr,
                        [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 90))])
        else:
            Image.fromarray(image).save(args.out_dir / f"{name}.png")
        (args.out_dir / f"{name}.txt").write_text("\n".join(page.lines) + "\n", encoding="utf-8")
        print(f"{name}: {len(page.lines)} lines, skew {angle:+.1f} deg", flush=True)


if __name__ == "__main__":
    main()
