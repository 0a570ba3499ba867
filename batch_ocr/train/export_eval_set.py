"""Write a rendered shard out as PNG files + labels.csv (file,text,category) for `batch-ocr eval`
and for running other OCR engines on exactly the same crops.

    python -m batch_ocr.train.export_eval_set SHARD_DIR OUT_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import pandas as pd

from batch_ocr.train.shards import read_shard


def export_eval_set(shard_dir: str | Path, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for shard in sorted(Path(shard_dir).glob("*.npz")):
        images, texts, categories = read_shard(shard)
        for image, text, category in zip(images, texts, categories):
            name = f"{shard.stem}-{len(rows):05d}.png"
            cv2.imwrite(str(out / name), image)
            rows.append({"file": name, "text": text, "category": category})
    labels = out / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return labels


if __name__ == "__main__":
    print(export_eval_set(sys.argv[1], sys.argv[2]))
