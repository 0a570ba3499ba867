"""Render the printed sample images in sample_data/ and their ground truth, sample_data/labels.csv.

Run from the repository root (the outputs are committed, so this only reruns after a change):

    python jobs/make_sample_data.py

Deterministic: fixed texts, fonts, sizes and a seeded noise generator. Needs the DejaVu and
Liberation fonts (Debian: fonts-dejavu, fonts-liberation). `sample_data/digits/` belongs to the
handwritten-digit samples and is left untouched.

labels.csv has columns file,text; `file` is relative to sample_data/ ('/'-separated, the same
form as the `file` column of `batch-ocr run`), and a multi-line image's text is its lines joined
by "\\n" in reading order. Words on a line are separated by single spaces, whatever gap the image
shows (that is how the recogniser joins a line's pieces).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUTPUT = Path(__file__).resolve().parents[1] / "sample_data"
FONTS = Path("/usr/share/fonts/truetype")
DEJAVU_SANS = FONTS / "dejavu/DejaVuSans.ttf"
DEJAVU_SERIF = FONTS / "dejavu/DejaVuSerif.ttf"
DEJAVU_MONO = FONTS / "dejavu/DejaVuSansMono.ttf"
DEJAVU_SANS_BOLD = FONTS / "dejavu/DejaVuSans-Bold.ttf"
LIBERATION_SANS = FONTS / "liberation/LiberationSans-Regular.ttf"
LIBERATION_SERIF = FONTS / "liberation/LiberationSerif-Regular.ttf"
LIBERATION_MONO = FONTS / "liberation/LiberationMono-Regular.ttf"
LIBERATION_SANS_BOLD = FONTS / "liberation/LiberationSans-Bold.ttf"

SEED = 2026


@dataclass
class Row:
    """One rendered row of text; `right` is text pushed to the right edge (a price column)."""

    text: str
    font: Path
    size: int
    right: str = ""

    @property
    def label(self) -> str:
        return f"{self.text} {self.right}" if self.right else self.text


def render_rows(rows: list[Row], paper: int | tuple = 255, ink: int | tuple = 0,
                margin: float = 0.5, leading: float = 1.35, width: int | None = None
                ) -> Image.Image:
    """Rows of text stacked top to bottom, `margin` (in units of the first row's size) around."""
    mode = "RGB" if isinstance(paper, tuple) else "L"
    pad = int(rows[0].size * margin)
    fonts = [ImageFont.truetype(str(row.font), row.size) for row in rows]
    natural = max(f.getlength(r.text + ("   " + r.right if r.right else "")) for r, f in
                  zip(rows, fonts))
    width = width or int(natural) + 2 * pad
    height = 2 * pad + int(sum(row.size * leading for row in rows[:-1])) + int(rows[-1].size * 1.2)
    image = Image.new(mode, (width, height), paper)
    draw = ImageDraw.Draw(image)
    y = pad
    for row, font in zip(rows, fonts):
        draw.text((pad, y), row.text, font=font, fill=ink)
        if row.right:
            draw.text((width - pad - font.getlength(row.right), y), row.right, font=font, fill=ink)
        y += int(row.size * leading)
    return image


def scanned(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A cheap office scan: slight rotation, blur, grey paper, sensor noise."""
    rotated = image.rotate(0.6, resample=Image.BICUBIC, expand=True, fillcolor=255)
    blurred = np.asarray(rotated.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float64)
    noisy = 0.78 * blurred + 35 + rng.normal(0.0, 9.0, blurred.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def build_samples(rng: np.random.Generator) -> list[tuple[str, Image.Image, dict, str]]:
    """(file name, image, save options, label) for every sample."""
    samples = []

    def line(name: str, row: Row, options: dict | None = None, **style) -> None:
        samples.append((name, render_rows([row], **style), options or {}, row.label))

    line("line_dejavu_sans.png",
         Row("The quick brown fox jumps over the lazy dog", DEJAVU_SANS, 32))
    line("line_dejavu_serif.png",
         Row("Meeting moved to Thursday, 10:30 in room 4B", DEJAVU_SERIF, 28))
    line("line_dejavu_mono.png", Row("Order #58213 shipped on 2026-03-02", DEJAVU_MONO, 26))
    line("line_liberation_sans.jpg",
         Row("Café Müller, Hauptstraße 12, Köln", LIBERATION_SANS, 36), {"quality": 88})
    line("line_liberation_serif_large.png",
         Row("Chapter 3: A Short History of Paper", LIBERATION_SERIF, 56))
    line("line_liberation_mono_small.tiff", Row("SKU 4006381333931 QTY 12", LIBERATION_MONO, 18),
         {"compression": "tiff_deflate"})
    line("line_small_print.bmp",
         Row("Terms apply. See www.example.com/terms for details.", DEJAVU_SANS, 16))
    line("label_light_on_dark.png", Row("FRAGILE - HANDLE WITH CARE", LIBERATION_SANS_BOLD, 40),
         paper=(28, 46, 72), ink=(240, 236, 220), margin=0.8)
    line("invoice_header.webp",
         Row("Invoice INV-2026-0042", DEJAVU_SANS_BOLD, 30, right="Date: 2026-01-15"),
         {"lossless": True}, width=760)

    scan_row = Row("Received with thanks the sum of 250.00 EUR", LIBERATION_SERIF, 30)
    samples.append(("scan_noisy.jpg", scanned(render_rows([scan_row]), rng), {"quality": 80},
                    scan_row.label))

    memo = [
        Row("MEMO", DEJAVU_SANS_BOLD, 30),
        Row("To: all staff of the Berlin office", DEJAVU_SERIF, 22),
        Row("The heating will be switched off on Friday", DEJAVU_SERIF, 22),
        Row("between 8:00 and 12:00 for maintenance.", DEJAVU_SERIF, 22),
        Row("Questions? Ask Zoë at extension 214.", DEJAVU_SERIF, 22),
    ]
    samples.append(("page_memo.png", render_rows(memo, margin=1.5, leading=1.6), {},
                    "\n".join(row.label for row in memo)))

    receipt = [
        Row("CORNER CAFE", LIBERATION_MONO, 24),
        Row("Coffee 2 x 3.50", LIBERATION_MONO, 20, right="7.00"),
        Row("Croissant 1 x 2.80", LIBERATION_MONO, 20, right="2.80"),
        Row("Orange juice 1 x 4.20", LIBERATION_MONO, 20, right="4.20"),
        Row("TOTAL EUR", LIBERATION_MONO, 20, right="14.00"),
    ]
    receipt_image = render_rows(receipt, paper=(250, 246, 232), ink=(40, 40, 48), width=430)
    samples.append(("receipt.jpg", receipt_image, {"quality": 90},
                    "\n".join(row.label for row in receipt)))

    line("line_phone.png", Row("Tel. +49 30 1234567 / Fax 1234589", LIBERATION_SANS, 24))

    # A form's cell cut out with its border, as a crop from a table often comes.
    cell_row = Row("Account no. 4471-22-0931", LIBERATION_SERIF, 26)
    cell = render_rows([cell_row], margin=0.4)
    ImageDraw.Draw(cell).rectangle([0, 0, cell.width - 1, cell.height - 1], outline=0, width=3)
    samples.append(("form_cell.png", cell, {}, cell_row.label))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    labels = []
    for name, image, options, text in build_samples(rng):
        image.save(args.output / name, **options)
        labels.append({"file": name, "text": text})
    pd.DataFrame(labels, columns=["file", "text"]).to_csv(args.output / "labels.csv", index=False,
                                                          encoding="utf-8")
    total = sum((args.output / row["file"]).stat().st_size for row in labels)
    print(f"wrote {len(labels)} images ({total / 1024:.0f} KiB) and labels.csv to {args.output}")


if __name__ == "__main__":
    main()
