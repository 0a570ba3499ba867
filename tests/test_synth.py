"""Synthetic printed-line data: font lists, text sampling, rendering, shards, pre-rendering.

Rendering uses DejaVu only: it is the one font family every Debian CI image has."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont

from batch_ocr.charset import PRINTED_CHARSET, Charset
from batch_ocr.train import fonts, prerender, render
from batch_ocr.train.render import (has_glyph, missing_chars, render_line, scan_bilevel,
                                    supported_chars)
from batch_ocr.train.shards import read_shard, write_shard
from batch_ocr.train.text_gen import CATEGORIES, sample_text

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SANS = DEJAVU / "DejaVuSans.ttf"
SERIF_BOLD = DEJAVU / "DejaVuSerif-Bold.ttf"
MONO = DEJAVU / "DejaVuSansMono.ttf"


def _family_key(entry: str) -> str:
    """Family from a list entry's file name (works without the font installed): 'LiberationSans-
    Bold' -> 'liberation', 'RobotoCondensed-Regular' -> 'roboto', 'Courier Prime Sans' -> 'courier'."""
    stem = Path(entry).stem
    first = re.split(r"[-_ ]", stem)[0]
    first = re.sub(r"\d+$", "", first).lower()
    changed = True
    while changed:
        changed = False
        for suffix in ("condensed", "narrow", "mono", "sans", "serif"):
            if first.endswith(suffix) and len(first) > len(suffix):
                first = first[: -len(suffix)]
                changed = True
    return first


# ---------------------------------------------------------------------------------- font lists

def test_font_lists_are_large_enough_and_disjoint_by_file_family():
    train = fonts.list_entries("train")
    heldout = fonts.list_entries("heldout")
    assert len(train) >= 40
    assert len(heldout) >= 6
    assert len(set(train)) == len(train) and len(set(heldout)) == len(heldout)
    train_families = {_family_key(e) for e in train}
    heldout_families = {_family_key(e) for e in heldout}
    assert len(heldout_families) >= 4
    assert not train_families & heldout_families
    for entry in train + heldout:
        assert not entry.startswith("/"), "entries are relative to FONT_ROOT"
        assert Path(entry).suffix in {".ttf", ".otf"}


def test_font_lists_span_styles():
    train = " ".join(fonts.list_entries("train")).lower()
    for style in ("serif", "mono", "bold", "italic", "condensed", "narrow", "courier"):
        assert style in train
    heldout = " ".join(fonts.list_entries("heldout")).lower()
    for style in ("mono", "bold", "italic", "condensed"):
        assert style in heldout


def test_installed_fonts_have_disjoint_family_names():
    # Checks the real family names of whichever listed fonts this machine has installed.
    def families(name):
        return {ImageFont.truetype(str(p), 12).getname()[0] for p in fonts.load_font_list(name)}

    train, heldout = families("train"), families("heldout")
    assert not train & heldout
    assert "DejaVu Sans" in train


def test_load_font_list_skips_missing_files(tmp_path, monkeypatch, caplog):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "demo.txt").write_text(
        "# a comment\n\ntruetype/dejavu/DejaVuSans.ttf\ntruetype/nowhere/Missing.ttf\n")
    monkeypatch.setattr(fonts, "LIST_DIR", lists)
    assert fonts.list_entries("demo") == ["truetype/dejavu/DejaVuSans.ttf", "truetype/nowhere/Missing.ttf"]
    with caplog.at_level("WARNING"):
        paths = fonts.load_font_list("demo")
    assert paths == [fonts.FONT_ROOT / "truetype/dejavu/DejaVuSans.ttf"]
    assert "not installed" in caplog.text


# ---------------------------------------------------------------------------------- text

def test_sample_text_is_clean_and_covered():
    charset = Charset(PRINTED_CHARSET)
    rng = np.random.default_rng(0)
    seen = {c: 0 for c in CATEGORIES}
    chars = set()
    for _ in range(3000):
        text, category = sample_text(rng, max_chars=40)
        assert 1 <= len(text) <= 40
        assert charset.covers(text), text
        assert text == text.strip() and "  " not in text, repr(text)
        seen[category] += 1
        chars.update(text)
    assert all(count > 100 for count in seen.values()), seen
    # Most of the charset shows up, accented letters and typographic marks included.
    assert len(chars) > 0.9 * len(PRINTED_CHARSET)
    assert {"é", "ß", "€", "“", "—"} <= chars


def test_sample_text_respects_short_limits_and_seed():
    a = [sample_text(np.random.default_rng(7), max_chars=5) for _ in range(3)]
    rng = np.random.default_rng(7)
    assert sample_text(rng, max_chars=5) == a[0]
    rng = np.random.default_rng(1)
    for _ in range(500):
        text, _ = sample_text(rng, max_chars=5)
        assert 1 <= len(text) <= 5


def test_sample_text_lengths_spread():
    rng = np.random.default_rng(3)
    lengths = np.array([len(sample_text(rng)[0]) for _ in range(2000)])
    assert lengths.min() <= 3 and lengths.max() >= 38
    assert 0.4 < np.mean((lengths >= 5) & (lengths <= 30)) < 0.95


# ---------------------------------------------------------------------------------- rendering

def test_glyph_detection():
    assert has_glyph(SANS, "A") and has_glyph(SANS, "€") and has_glyph(SANS, " ")
    assert not has_glyph(SANS, "\u4e00")  # CJK: not in DejaVu
    assert supported_chars(SANS) == frozenset(PRINTED_CHARSET)
    assert missing_chars(SANS, "ab\u4e00") == {"\u4e00"}


@pytest.mark.parametrize("font", [SANS, SERIF_BOLD, MONO])
def test_render_line_is_dark_on_light_at_height(font):
    rng = np.random.default_rng(11)
    for _ in range(30):
        text, _ = sample_text(rng)
        line = render_line(text, font, rng, height=32)
        assert line.dtype == np.uint8 and line.ndim == 2
        assert line.shape[0] == 32 and line.shape[1] >= 1
        # Paper (the bright majority) is lighter than the ink (the darkest pixels).
        assert np.median(line) > np.percentile(line, 2)


def test_render_width_grows_with_text_length():
    widths = {}
    for text in ("ab", "abcdefghij", "abcdefghij" * 4):
        widths[text] = np.median([render_line(text, SANS, np.random.default_rng(s)).shape[1]
                                  for s in range(15)])
    short, mid, long = widths.values()
    assert short < mid < long
    assert long > 2.5 * mid


def test_render_keeps_all_glyphs_horizontally():
    # A tall narrow glyph at either end must stay inside the crop: the darkest column of the image
    # of "l...l" sits near both edges.
    rng = np.random.default_rng(5)
    for _ in range(20):
        line = render_line("I" + "." * 8 + "I", SANS, rng)
        ink = line.astype(np.float32).min(axis=0)
        paper = np.median(line)
        dark = np.flatnonzero(ink < paper - 0.35 * (paper - line.min()))
        assert dark.size
        assert dark[0] < 0.35 * line.shape[1] and dark[-1] > 0.65 * line.shape[1]


def test_low_resolution_lines_are_small_bilevel_renders_at_height(monkeypatch):
    sizes, scans = [], []
    cached_font = render.cached_font
    monkeypatch.setattr(render, "cached_font",
                        lambda path, size: sizes.append(size) or cached_font(path, size))
    scan = render.scan_bilevel
    monkeypatch.setattr(render, "scan_bilevel",
                        lambda alpha, level, fax: scans.append(fax) or scan(alpha, level, fax))
    rng = np.random.default_rng(12)
    for _ in range(40):
        text, _ = sample_text(rng)
        line = render_line(text, SANS, rng, height=32, lowres=1.0)
        assert line.shape[0] == 32 and line.shape[1] >= 1
        assert np.median(line) > np.percentile(line, 2)
    # Every line is scanned bilevel from a small font; fax standard mode (some of them) renders
    # at twice the size, since its columns keep the full resolution.
    low, high = render._LOWRES_SIZES
    assert len(scans) == 40 and 0 < sum(scans) < 40
    assert all(low <= size < high or (2 * low <= size < 2 * high and size % 2 == 0)
               for size in sizes)
    assert sum(size >= high for size in sizes) == sum(scans)


def test_low_resolution_share_zero_draws_no_random_numbers():
    # Shards rendered before the option existed must come out the same: at 0 the stream of
    # random numbers (and so every later line of a shard) is untouched.
    plain, with_option = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(5):
        text, _ = sample_text(plain)
        sample_text(with_option)
        assert np.array_equal(render_line(text, SANS, plain),
                              render_line(text, SANS, with_option, lowres=0.0))
    assert plain.random() == with_option.random()


def test_scan_bilevel_thresholds_against_the_darkest_ink():
    alpha = np.array([[0.0, 0.2, 0.45], [0.5, 0.8, 0.3]], dtype=np.float32)
    # 0.5 of the darkest (0.8): 0.45 and 0.5 are ink, 0.3 is not.
    assert scan_bilevel(alpha, 0.5).tolist() == [[0, 0, 1], [1, 1, 0]]


@pytest.mark.parametrize("height", [7, 8])
def test_fax_standard_rows_come_in_pairs_and_keep_the_height(height):
    rng = np.random.default_rng(4)
    alpha = rng.random((height, 12)).astype(np.float32)
    scanned = scan_bilevel(alpha, 0.4, fax_standard=True)
    assert scanned.shape == alpha.shape
    assert set(np.unique(scanned)) <= {0.0, 1.0}
    for row in range(0, height - 1, 2):
        assert np.array_equal(scanned[row], scanned[row + 1])
    # A thin horizontal stroke (one row of full ink) survives at half coverage, as on a fax.
    stroke = np.zeros((height, 12), np.float32)
    stroke[3] = 1.0
    assert scan_bilevel(stroke, 0.4, fax_standard=True).any()


def test_render_rejects_empty_text():
    with pytest.raises(ValueError):
        render_line("", SANS, np.random.default_rng(0))


# ---------------------------------------------------------------------------------- shards

def test_shard_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(32, w), dtype=np.uint8) for w in (1, 7, 300)]
    texts = ["a", "Straße €12,50", "“quoted” — text…"]
    categories = ["words", "numbers", "mixed"]
    path = tmp_path / "sub" / "shard-00000.npz"
    write_shard(path, images, texts, categories)
    assert path.exists() and not list(path.parent.glob(".*tmp"))
    got_images, got_texts, got_categories = read_shard(path)
    assert got_texts == texts and got_categories == categories
    assert len(got_images) == 3
    for a, b in zip(images, got_images):
        assert a.shape == b.shape and np.array_equal(a, b)


def test_write_shard_rejects_mixed_heights(tmp_path):
    with pytest.raises(ValueError):
        write_shard(tmp_path / "x.npz", [np.zeros((32, 4), np.uint8), np.zeros((16, 4), np.uint8)],
                    ["a", "b"], ["words", "words"])
    assert not (tmp_path / "x.npz").exists()


# ---------------------------------------------------------------------------------- prerender

def test_prerender_is_reproducible_and_skips_existing(tmp_path, monkeypatch):
    monkeypatch.setattr(prerender, "load_font_list", lambda name: [SANS, MONO])
    args = dict(shards=2, lines_per_shard=6, seed=4, height=32, max_chars=20)
    a = prerender.prerender(tmp_path / "a", "train", **args)
    b = prerender.prerender(tmp_path / "b", "train", **args)
    assert [p.name for p in a] == ["shard-00000.npz", "shard-00001.npz"]
    for pa, pb in zip(a, b):
        ia, ta, ca = read_shard(pa)
        ib, tb, cb = read_shard(pb)
        assert ta == tb and ca == cb and len(ia) == 6
        assert all(x.shape[0] == 32 and np.array_equal(x, y) for x, y in zip(ia, ib))
    # The two shards differ from each other (per-shard seeds).
    assert read_shard(a[0])[1] != read_shard(a[1])[1]

    # Existing shards are skipped (left untouched); missing ones are made.
    a[0].write_bytes(b"sentinel")
    a[1].unlink()
    prerender.prerender(tmp_path / "a", "train", **args)
    assert a[0].read_bytes() == b"sentinel"
    assert read_shard(a[1])[1] == read_shard(b[1])[1]


def test_prerender_cli_start_and_split(tmp_path, monkeypatch):
    used = []
    monkeypatch.setattr(prerender, "load_font_list", lambda name: used.append(name) or [SERIF_BOLD])
    prerender.main(["--out", str(tmp_path), "--split", "heldout", "--shards", "1",
                    "--lines-per-shard", "3", "--seed", "1", "--start", "5", "--height", "24"])
    assert used == ["heldout"]
    images, texts, categories = read_shard(tmp_path / "shard-00005.npz")
    assert len(images) == 3 and all(i.shape[0] == 24 for i in images)
    assert all(c in CATEGORIES for c in categories)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-00005.npz"]


def test_shard_seeds_depend_on_split():
    a = prerender.shard_rng(1, "train", 0).random(4)
    assert np.array_equal(a, prerender.shard_rng(1, "train", 0).random(4))
    assert not np.array_equal(a, prerender.shard_rng(1, "heldout", 0).random(4))
    assert not np.array_equal(a, prerender.shard_rng(1, "train", 1).random(4))


# ---------------------------------------------------------------------------------- clean test set

def test_clean_set_is_reproducible_native_resolution_and_labelled(tmp_path, monkeypatch):
    import cv2
    import pandas as pd

    from batch_ocr.train import clean_set

    monkeypatch.setattr(clean_set, "load_font_list", lambda name: [SANS, SERIF_BOLD])
    labels_a = clean_set.write_clean_set(tmp_path / "a", lines=6, seed=5)
    labels_b = clean_set.write_clean_set(tmp_path / "b", lines=6, seed=5)
    a = pd.read_csv(labels_a, dtype=str, keep_default_na=False)
    b = pd.read_csv(labels_b, dtype=str, keep_default_na=False)
    assert a.equals(b) and len(a) == 6
    assert set(a["category"]) <= set(CATEGORIES) and all(a["text"].str.len() > 0)
    for name in a["file"]:
        image = cv2.imread(str(tmp_path / "a" / name), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(image, cv2.imread(str(tmp_path / "b" / name), cv2.IMREAD_UNCHANGED))
        # Saved as rendered (20-48 px font), not resized to the model height; light paper.
        assert image.ndim == 2 and image.shape[0] > 24
        assert np.median(image) > 200 and image.min() < 120


def test_prose_lines_are_whole_words_within_the_limit(tmp_path):
    from batch_ocr.train.clean_set import prose_lines

    source = tmp_path / "prose.txt"
    source.write_text("The GNU General Public License is a free, copyleft license for\n"
                      "software and other kinds of works. \u4e2d Preamble: the licenses for most "
                      "software are designed to take away your freedom.\n", encoding="utf-8")
    lines = prose_lines(source, 30)
    words = " ".join(lines).split()
    source_words = source.read_text(encoding="utf-8").replace("\u4e2d", " ").split()
    # Every word in order; only a final fragment too short for a line (< 10 characters) is left.
    assert source_words[:len(words)] == words
    assert 0 < len(" ".join(source_words[len(words):])) < 10
    assert all(10 <= len(line) <= 30 and line == line.strip() for line in lines)
    assert lines[0] == "The GNU General Public License"


def test_clean_set_from_a_text_file_keeps_its_order(tmp_path, monkeypatch):
    import pandas as pd

    from batch_ocr.train import clean_set

    monkeypatch.setattr(clean_set, "load_font_list", lambda name: [SANS])
    source = tmp_path / "prose.txt"
    source.write_text(" ".join(f"word{i:03d}" for i in range(60)), encoding="utf-8")
    labels = pd.read_csv(clean_set.write_clean_set(tmp_path / "out", lines=4, seed=1,
                                                   max_chars=20, text_file=source))
    assert set(labels["category"]) == {"prose"}
    texts = list(labels["text"])
    prose = clean_set.prose_lines(source, 20)
    start = prose.index(texts[0])
    assert texts == [prose[(start + i) % len(prose)] for i in range(4)]
