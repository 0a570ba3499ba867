"""Training data sources and the batcher that turns their samples into padded batches.

A source yields (uint8 crop at the model height, dark text on light; text) pairs forever. Specs on
the command line: `synth:DIR` (pre-rendered shards, re-scanned so a renderer can keep adding),
`labelled:DIR` (a user's crops with DIR/labels.csv, columns file,text), `digits[:SPLIT[@FILE]]`
(MNIST digit strings composed on the fly from the digits shipped in the package, or from FILE:
see batch_ocr.train.digits).
`SPEC*W` gives a mixing weight W.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from batch_ocr.batching import to_model_input
from batch_ocr.charset import EOS, GO, Charset

log = logging.getLogger(__name__)

Sample = tuple[np.ndarray, str]


class Source(Protocol):
    def sample(self, rng: np.random.Generator) -> Sample: ...


class ShardSource:
    """Random samples from pre-rendered shards in a directory; new shards are picked up as they
    appear, and at most `max_shards` stay in memory (the newest and a random rest)."""

    def __init__(self, directory: str | Path, height: int, rescan_seconds: float = 120,
                 max_shards: int = 400):
        self.directory = Path(directory)
        self.height = height
        self.rescan_seconds = rescan_seconds
        self.max_shards = max_shards
        self.images: list[np.ndarray] = []
        self.texts: list[str] = []
        self._loaded: set[str] = set()
        self._last_scan = 0.0
        self._scan()
        if not self.images:
            raise ValueError(f"no shards in {self.directory}")

    def _scan(self) -> None:
        from batch_ocr.train.shards import read_shard

        self._last_scan = time.monotonic()
        before = len(self._loaded)
        for path in sorted(self.directory.glob("*.npz")):
            if path.name in self._loaded or len(self._loaded) >= self.max_shards:
                continue
            images, texts, _ = read_shard(path)
            if images and images[0].shape[0] != self.height:
                raise ValueError(f"{path} holds height {images[0].shape[0]}, model needs {self.height}")
            self.images.extend(images)
            self.texts.extend(texts)
            self._loaded.add(path.name)
        if len(self._loaded) > before:
            log.info("shards: %d loaded from %s, %d samples", len(self._loaded), self.directory,
                     len(self.texts))

    def sample(self, rng: np.random.Generator) -> Sample:
        if time.monotonic() - self._last_scan > self.rescan_seconds:
            self._scan()
        i = int(rng.integers(len(self.texts)))
        return self.images[i], self.texts[i]

    def all(self) -> list[Sample]:
        return list(zip(self.images, self.texts))


class LabelledSource:
    """A folder of labelled crops (labels.csv: file,text); each image is read as one line."""

    def __init__(self, directory: str | Path, height: int):
        import pandas as pd

        from batch_ocr.batching import prepare_crop
        from batch_ocr.images import read_pages
        from batch_ocr.recognizer import crop_source
        from batch_ocr.segment import find_layout

        self.directory = Path(directory)
        labels = pd.read_csv(self.directory / "labels.csv", dtype=str, keep_default_na=False)
        self.samples: list[Sample] = []
        for file, text in zip(labels["file"], labels["text"]):
            gray = next(iter(read_pages(self.directory / file))).gray
            layout = find_layout(gray, "line")
            if not layout.lines:
                continue
            # Cut from what `run` cuts its crops from (border lines out, paper white), so that
            # a model trains on crops as it will read them.
            source = crop_source(gray, layout)
            self.samples.append((prepare_crop(source, layout.lines[0].box, height), text))
        if not self.samples:
            raise ValueError(f"no usable labelled crops in {self.directory}")

    def sample(self, rng: np.random.Generator) -> Sample:
        return self.samples[int(rng.integers(len(self.samples)))]

    def all(self) -> list[Sample]:
        return list(self.samples)


class DigitsSource:
    """Handwritten digit strings composed from one MNIST split on the fly."""

    def __init__(self, split: str, height: int, min_len: int = 1, max_len: int = 10,
                 path: str | None = None):
        from batch_ocr.train.digits import load_mnist

        self.images, self.labels = load_mnist(split, path)
        self.height, self.min_len, self.max_len = height, min_len, max_len

    def sample(self, rng: np.random.Generator) -> Sample:
        from batch_ocr.train.digits import (CELL_LAYOUT_SHARE, GUIDE_LINE_SHARE,
                                            WIDE_SPACING_SHARE, compose_string)

        return compose_string(rng, self.images, self.labels, self.min_len, self.max_len,
                              height=self.height, guide_lines=GUIDE_LINE_SHARE,
                              cells=CELL_LAYOUT_SHARE, wide=WIDE_SPACING_SHARE)


class MixedSource:
    def __init__(self, sources: list[tuple[Source, float]]):
        self.sources = [s for s, _ in sources]
        weights = np.array([w for _, w in sources], dtype=np.float64)
        self.weights = weights / weights.sum()

    def sample(self, rng: np.random.Generator) -> Sample:
        return self.sources[int(rng.choice(len(self.sources), p=self.weights))].sample(rng)


def parse_source(spec: str, height: int) -> tuple[Source, float]:
    weight = 1.0
    if "*" in spec:
        spec, weight_text = spec.rsplit("*", 1)
        weight = float(weight_text)
    kind, _, arg = spec.partition(":")
    if kind == "synth":
        return ShardSource(arg, height), weight
    if kind == "labelled":
        return LabelledSource(arg, height), weight
    if kind == "digits":
        split, _, path = arg.partition("@")
        return DigitsSource(split or "train", height, path=path or None), weight
    raise ValueError(f"unknown data source '{spec}' "
                     "(use synth:DIR, labelled:DIR or digits[:SPLIT[@FILE]])")


def build_source(specs: list[str], height: int) -> Source:
    parsed = [parse_source(spec, height) for spec in specs]
    return parsed[0][0] if len(parsed) == 1 else MixedSource(parsed)


def fixed_samples(spec: str, height: int, count: int, seed: int = 1234) -> list[Sample]:
    """A fixed validation set: all of a shard/labelled folder (up to count), or count digit strings."""
    source, _ = parse_source(spec, height)
    if hasattr(source, "all"):
        samples = source.all()
        return samples[:count]
    rng = np.random.default_rng(seed)
    return [source.sample(rng) for _ in range(count)]


def batches(source: Source, charset: Charset, rng: np.random.Generator, batch_size: int,
            max_chars: int, pool_batches: int = 16, max_pixels: int = 32 * 32 * 900
            ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Padded training batches: (images, widths, decoder inputs, targets).

    Samples are drawn in pools of several batches and sorted by width before cutting, so a batch
    pads little; batches then come out in random order so training sees no width curriculum.
    """
    while True:
        pool: list[Sample] = []
        while len(pool) < batch_size * pool_batches:
            image, text = source.sample(rng)
            if 0 < len(text) <= max_chars and charset.covers(text):
                pool.append((image, text))
        pool.sort(key=lambda s: s[0].shape[1])
        cut: list[list[Sample]] = []
        current: list[Sample] = []
        for sample in pool:
            # Cap pixels per batch so batches of very wide lines fit the same memory and time.
            if current and (len(current) >= batch_size
                            or (len(current) + 1) * sample[0].shape[1] * sample[0].shape[0] > max_pixels):
                cut.append(current)
                current = []
            current.append(sample)
        if current:
            cut.append(current)
        for index in rng.permutation(len(cut)):
            yield encode_batch(cut[index], charset)


def encode_batch(samples: list[Sample], charset: Charset, shape: tuple[int, int] | None = None,
                 length: int | None = None):
    """(images, widths, decoder inputs, targets) of `samples`: images padded to the widest (or
    to `shape`, rows and width, as `to_model_input`), labels to the longest text + EOS (or to
    `length`): a fixed shape for trainers that compile one program per shape."""
    images, widths = to_model_input([s[0] for s in samples], shape)
    length = length or max(len(s[1]) for s in samples) + 1
    decoder_inputs = np.zeros((len(samples), length), dtype=np.int32)
    targets = np.zeros((len(samples), length), dtype=np.int32)
    for row, (_, text) in enumerate(samples):
        ids = charset.encode(text)
        decoder_inputs[row, 0] = GO
        decoder_inputs[row, 1:len(ids) + 1] = ids
        targets[row, :len(ids)] = ids
        targets[row, len(ids)] = EOS
    return images, widths, decoder_inputs, targets
