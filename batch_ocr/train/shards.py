"""Pre-rendered training lines on disk: one .npz per shard, written atomically.

Lines of one height but many widths are stored as one flat pixel buffer plus widths, which loads
much faster than thousands of small arrays and needs no pickling (np.load with allow_pickle=False).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_shard(path: Path | str, images: list[np.ndarray], texts: list[str],
                categories: list[str]) -> None:
    """Write equal-height uint8 line images with their texts and categories to `path` (.npz).

    The file appears complete or not at all: a temporary file beside it is renamed into place, so
    an interrupted pre-render never leaves a shard that a resumed run would wrongly skip."""
    if not (len(images) == len(texts) == len(categories)):
        raise ValueError("images, texts and categories must have the same length")
    if not images:
        raise ValueError("a shard needs at least one line")
    height = images[0].shape[0]
    for image in images:
        if image.ndim != 2 or image.dtype != np.uint8 or image.shape[0] != height:
            raise ValueError(f"every line must be a 2-D uint8 array of height {height}")
    widths = np.array([image.shape[1] for image in images], dtype=np.int32)
    pixels = np.concatenate([np.ascontiguousarray(image).reshape(-1) for image in images])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        # Compressed: paper is mostly one grey level, so shards shrink several-fold for little CPU.
        np.savez_compressed(handle, pixels=pixels, widths=widths, height=np.int32(height),
                            texts=np.array(texts, dtype=str),
                            categories=np.array(categories, dtype=str))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_shard(path: Path | str) -> tuple[list[np.ndarray], list[str], list[str]]:
    """The (images, texts, categories) that `write_shard` stored in `path`."""
    with np.load(path, allow_pickle=False) as data:
        pixels = data["pixels"]
        widths = data["widths"]
        height = int(data["height"])
        texts = [str(t) for t in data["texts"]]
        categories = [str(c) for c in data["categories"]]
    ends = np.cumsum(widths.astype(np.int64) * height)
    starts = ends - widths.astype(np.int64) * height
    images = [pixels[s:e].reshape(height, int(w)) for s, e, w in zip(starts, ends, widths)]
    return images, texts, categories
