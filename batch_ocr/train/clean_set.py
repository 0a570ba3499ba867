"""Write a *clean* line-crop test set: held-out fonts at native resolution, mild degradation only.

The shards that train and validate the model are deliberately harsh (x-heights down to 8 px,
heavy blur, bleed, neighbour lines) and already resized to the model height, which also handicaps
engines such as Tesseract that want ~30 px letters. This set is the other end of the range: the
"clean to mildly degraded crops of unseen fonts" users compare OCR engines on. Each image is saved
as rendered (20-48 px font size), so every engine gets the same full-resolution pixels.

    python -m batch_ocr.train.clean_set OUT_DIR --lines 500 --seed 303
    python -m batch_ocr.train.clean_set OUT_DIR --text-file /usr/share/common-licenses/GPL-3
    batch-ocr eval OUT_DIR/labels.csv --segment line
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from batch_ocr.charset import PRINTED_CHARSET
from batch_ocr.train.fonts import load_font_list
from batch_ocr.train.prerender import shard_rng, text_for_font
from batch_ocr.train.render import cached_font

# What "mild" means: at most one of these, each a common property of a decent scan or photo.
EFFECTS = ("none", "blur", "noise", "jpeg")


def render_clean(text: str, font_path: Path, rng: np.random.Generator) -> np.ndarray:
    """uint8 grayscale image of `text`: dark ink on light paper, margins like a segmenter's crop."""
    size = int(round(np.exp(rng.uniform(np.log(20), np.log(48)))))
    font = cached_font(str(font_path), size)
    ascent, descent = font.getmetrics()
    margin_x = int(rng.uniform(0.2, 1.0) * size) + 2
    margin_y = int(rng.uniform(0.1, 0.5) * size) + 2
    width = int(font.getlength(text)) + 2 * margin_x
    height = ascent + descent + 2 * margin_y
    paper, ink = int(rng.integers(225, 256)), int(rng.integers(0, 60))
    image = Image.new("L", (width, height), paper)
    ImageDraw.Draw(image).text((margin_x, margin_y + ascent), text, fill=ink, font=font, anchor="ls")
    out = np.asarray(image)
    effect = EFFECTS[int(rng.choice(len(EFFECTS), p=[0.4, 0.2, 0.2, 0.2]))]
    if effect == "blur":
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 0.8))
    elif effect == "noise":
        noisy = out.astype(np.float32) + rng.normal(0, rng.uniform(3, 8), out.shape)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    elif effect == "jpeg":
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 91))])
        out = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return out


def prose_lines(path: str | Path, max_chars: int) -> list[str]:
    """A plain-text file cut into lines of whole words, 10..max_chars characters, in file order:
    real prose (e.g. /usr/share/common-licenses/GPL-3), unlike the sampler's word mixes.
    Characters outside the printed charset are dropped."""
    allowed = set(PRINTED_CHARSET)
    words = "".join(c if c in allowed else " " for c in Path(path).read_text(encoding="utf-8")).split()
    lines, current = [], ""
    for word in words:
        trial = f"{current} {word}" if current else word
        if len(trial) > max_chars and len(current) >= 10:
            lines.append(current)
            trial = word
        current = trial[:max_chars]
    return lines + ([current] if len(current) >= 10 else [])


def write_clean_set(out_dir: str | Path, lines: int, seed: int, split: str = "heldout",
                    max_chars: int = 40, text_file: str | Path | None = None) -> Path:
    """Render `lines` crops into `out_dir` with labels.csv (file,text,category); returns its path.
    Texts come from the training sampler, or with `text_file` from that file's prose (category
    'prose', consecutive lines from a random start)."""
    fonts = load_font_list(split)
    if not fonts:
        raise RuntimeError(f"no font of list {split!r} is installed (see jobs/install_fonts.sh)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = shard_rng(seed, f"clean-{split}", 0)
    prose = prose_lines(text_file, max_chars) if text_file else []
    first = int(rng.integers(len(prose))) if prose else 0
    rows = []
    for index in range(lines):
        font_path = fonts[int(rng.integers(len(fonts)))]
        if prose:
            text, category = prose[(first + index) % len(prose)], "prose"
        else:
            text, category = text_for_font(rng, font_path, max_chars)
        name = f"clean-{index:05d}.png"
        cv2.imwrite(str(out / name), render_clean(text, font_path, rng))
        rows.append({"file": name, "text": text, "category": category, "font": font_path.name})
    labels = out / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--seed", type=int, default=303)
    parser.add_argument("--split", choices=("train", "heldout"), default="heldout")
    parser.add_argument("--max-chars", type=int, default=40)
    parser.add_argument("--text-file", type=Path, help="plain prose to cut into lines instead of "
                        "the training text sampler (e.g. /usr/share/common-licenses/GPL-3)")
    args = parser.parse_args(argv)
    print(write_clean_set(args.out, args.lines, args.seed, args.split, args.max_chars,
                          args.text_file))


if __name__ == "__main__":
    main()
