"""Every kind of bad input gets exactly one `error` row with a reason a person understands, and the
batch goes on; odd but valid files are read; odd file names survive CSV and JSON."""
from __future__ import annotations

import csv
import io
import json
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from batch_ocr import images
from batch_ocr.job import run_job

sys.path.insert(0, str(Path(__file__).parent))
from job_helper import LineReader, line_image  # noqa: E402


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))
            + chunk(b"IEND", b""))


def _encoded(fmt: str) -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, fmt)
    return buffer.getvalue()


def _write(data: bytes):
    return lambda path: path.write_bytes(data)


def _truncated(fmt: str):
    data = _encoded(fmt)
    return _write(data[: len(data) * 2 // 3])


def _symlink_loop(path: Path) -> None:
    os.symlink(path.with_name("other.png"), path)
    os.symlink(path, path.with_name("other.png"))


def _unreadable(path: Path) -> None:
    line_image("secret").save(path)
    path.chmod(0)


# name in the folder -> (how to make it, the exact reason in the error column)
BAD = {
    "zero.png": (_write(b""), "file is empty (0 bytes)"),
    "cut.png": (_truncated("PNG"), "cannot decode image: truncated PNG"),
    "cut.jpg": (_truncated("JPEG"), "cannot decode image: truncated JPEG"),
    "notes.png": (lambda p: p.write_text("Dear scanner,\nthis is text.\n" * 10),
                  "not an image: file contains text"),
    "noise.jpg": (_write(np.random.default_rng(2).integers(0, 256, 5000, np.uint8).tobytes()),
                  "cannot decode image: unknown format"),
    "dot.png": (lambda p: Image.new("L", (1, 1), 0).save(p),
                "image too small to hold text: 1x1 pixels"),
    "row.png": (lambda p: Image.new("L", (300, 1), 0).save(p),
                "image too small to hold text: 300x1 pixels"),
    "bomb.png": (_write(_png_header_only(30000, 30000)),
                 "image too large: 30000x30000 = 900 megapixels exceeds the 100 megapixel limit"),
    "folder.png": (lambda p: p.mkdir(), "is a directory"),
    "dangling.png": (lambda p: os.symlink(p.with_name("nowhere.png"), p), "broken symbolic link"),
    "loop.png": (_symlink_loop, "symbolic link loop"),
    "secret.png": (_unreadable, "cannot open: permission denied"),
    'bad, "quoted"\nname é.png': (_write(b""), "file is empty (0 bytes)"),
}


@pytest.fixture
def refuse_secret(monkeypatch):
    """chmod 000 does not stop root (CI containers often run as root): also make the access
    check answer as it would for an ordinary user."""
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if os.fspath(path).endswith("secret.png"):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(images.os, "access", access)


@pytest.fixture
def no_huge_decoding(monkeypatch):
    real_load = ImageFile.ImageFile.load

    def load(self):
        assert self.size[0] * self.size[1] <= 100_000_000, "decoded a decompression bomb"
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def _rows(output: Path) -> pd.DataFrame:
    return pd.read_csv(output, keep_default_na=False, na_values={"confidence": [""]})


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_gives_one_error_row_and_the_batch_goes_on(name, tmp_path: Path,
                                                             refuse_secret, no_huge_decoding):
    root = tmp_path / "in"
    root.mkdir()
    make, reason = BAD[name]
    make(root / name)
    line_image("good one").save(root / "a_good.png")
    line_image("good two").save(root / "z_good.png")
    output = tmp_path / "out.csv"

    assert run_job([str(root)], str(output), recognizer=LineReader(), quiet=True) == 1
    frame = _rows(output)
    bad = frame[frame["file"] == name]
    assert len(bad) == 1
    assert bad.iloc[0]["status"] == "error" and bad.iloc[0]["error"] == reason
    assert bad.iloc[0]["text"] == "" and pd.isna(bad.iloc[0]["confidence"])
    good = frame[frame["file"] != name]
    extra = {"other.png"} if name == "loop.png" else set()  # the loop's other half
    assert set(good["file"]) == {"a_good.png", "z_good.png"} | extra
    assert (good[good["file"].str.endswith("_good.png")]["status"] == "ok").all()


def test_all_bad_inputs_in_one_folder(tmp_path: Path, refuse_secret, no_huge_decoding, capsys):
    root = tmp_path / "in"
    root.mkdir()
    for name, (make, _) in BAD.items():
        make(root / name)
    output = tmp_path / "out.jsonl"
    assert run_job([str(root)], str(output), recognizer=LineReader(), progress=False) == 1
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    reasons = {row["file"]: row["error"] for row in rows}
    assert reasons == {name: reason for name, (_, reason) in BAD.items()} | {
        "other.png": "symbolic link loop"}
    assert {row["status"] for row in rows} == {"error"}
    assert f"{len(BAD) + 1} files: 0 ok, 0 empty, {len(BAD) + 1} error" in capsys.readouterr().err


# ---------------------------------------------------------------------------- odd but valid

def _base() -> Image.Image:
    return line_image("Odd 0042 files")


def _alpha(path: Path) -> None:
    gray = np.asarray(_base())
    rgba = np.zeros(gray.shape + (4,), np.uint8)
    rgba[..., 3] = 255 - gray  # black text on a transparent background
    Image.fromarray(rgba, "RGBA").save(path)


def _sixteen_bit(path: Path) -> None:
    Image.fromarray(np.asarray(_base()).astype(np.uint16) * 257).save(path)


def _exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter left; viewers turn it right
    _base().transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)


def _multi_page(path: Path) -> None:
    _base().save(path, save_all=True, append_images=[_base(), Image.new("L", (80, 30), 255)])


ODD = {
    "palette.png": lambda p: _base().convert("P").save(p),
    "one_bit.png": lambda p: _base().point(lambda v: 255 if v > 127 else 0).convert("1").save(p),
    "sixteen.png": _sixteen_bit,
    "alpha.png": _alpha,
    "cmyk.jpg": lambda p: _base().convert("CMYK").save(p, quality=95),
    "rotated.jpg": _exif_rotated,
    "pages.tif": _multi_page,
    "anim.gif": lambda p: _base().save(p),
    "plain.bmp": lambda p: _base().save(p),
    "lossless.webp": lambda p: _base().save(p, lossless=True),
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_but_valid_files_are_read(name, tmp_path: Path):
    root = tmp_path / "in"
    root.mkdir()
    ODD[name](root / name)
    output = tmp_path / "out.json"
    assert run_job([str(root)], str(output), recognizer=LineReader(), quiet=True) == 0
    [entry] = json.loads(output.read_text())["files"]
    assert entry["status"] == "ok" and entry["error"] == ""

    expected = LineReader().read_pages([np.asarray(_base())])[0][0]
    first = entry["pages"][0]
    assert (first["width"], first["height"]) == _base().size  # upright, whatever the storage
    [line] = first["lines"]
    lossy = name.endswith(".jpg")
    assert np.abs(np.subtract(line["box"], expected.box)).max() <= (2 if lossy else 0)
    if not lossy:
        assert line["text"] == expected.text  # the very same ink, pixel for pixel
    if name == "pages.tif":
        assert [p["page"] for p in entry["pages"]] == [0, 1, 2]
        assert entry["pages"][1]["lines"][0]["text"] == expected.text
        assert entry["pages"][2]["lines"] == []  # a blank page inside a file with text


@pytest.mark.parametrize("make", [lambda p: Image.new("L", (120, 40), 255).save(p),
                                  lambda p: Image.new("RGBA", (120, 40), (0, 0, 0, 0)).save(p)],
                         ids=["white", "transparent"])
def test_blank_image_is_empty_with_one_row(make, tmp_path: Path):
    root = tmp_path / "in"
    root.mkdir()
    make(root / "blank.png")
    output = tmp_path / "out.csv"
    assert run_job([str(root)], str(output), recognizer=LineReader(), quiet=True) == 0
    frame = _rows(output)
    assert len(frame) == 1 and frame.iloc[0]["status"] == "empty"
    assert frame.iloc[0]["text"] == "" and frame.iloc[0]["error"] == ""


ODD_NAMES = ["comma, in name.png", 'double "quotes".png', "single 'quote'.png",
             "new\nline.png", "carriage\rreturn.png", "café ü 日本語.png", "tab\there.png",
             "semi;colon.png"]


def test_odd_file_names_round_trip_through_csv_and_jsonl(tmp_path: Path):
    root = tmp_path / "in"
    root.mkdir()
    for index, name in enumerate(ODD_NAMES):
        line_image(f"line {index}").save(root / name)
    (root / "=HYPERLINK(x).png").write_bytes(b"")
    csv_out, jsonl_out = tmp_path / "out.csv", tmp_path / "out.jsonl"
    assert run_job([str(root)], str(csv_out), recognizer=LineReader(), quiet=True) == 1
    assert run_job([str(root)], str(jsonl_out), recognizer=LineReader(), quiet=True) == 1

    with open(csv_out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = sorted(ODD_NAMES + ["=HYPERLINK(x).png"])
    # the CSV neutralises the formula-like name; JSON Lines keeps names exactly
    assert [r["file"] for r in rows] == [("'" + n if n.startswith("=") else n) for n in expected]
    assert all(r["status"] == "ok" for r in rows if not r["file"].startswith("'="))
    jsonl = [json.loads(line) for line in jsonl_out.read_text(encoding="utf-8").splitlines()]
    assert [r["file"] for r in jsonl] == expected


def _jpeg_with_corrupt_exif(tmp_path: Path) -> Path:
    """A JPEG whose EXIF points its first directory past its end (Pillow warns 'Corrupt EXIF
    data' when asked for the orientation, and reads the pixels)."""
    exif = Image.Exif()
    exif[0x0112] = 1
    buffer = io.BytesIO()
    Image.new("L", (120, 40), 200).save(buffer, "JPEG", exif=exif.tobytes())
    data = bytearray(buffer.getvalue())
    at = data.find(b"Exif\x00\x00") + 6 + 4  # the TIFF header's first-directory offset
    data[at:at + 4] = (60000).to_bytes(4, "little")
    path = tmp_path / "corrupt_exif.jpg"
    path.write_bytes(bytes(data))
    return path


def _tiff_with_bad_lzw(tmp_path: Path) -> Path:
    """An LZW TIFF with its strip data overwritten (libtiff: 'Using code not yet in table')."""
    path = tmp_path / "bad_lzw.tif"
    pixels = np.random.default_rng(0).integers(0, 255, (64, 300), dtype=np.uint8)
    Image.fromarray(pixels).save(path, compression="tiff_lzw")
    data = bytearray(path.read_bytes())
    data[100:108] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return path


def test_decoders_say_nothing_on_stderr_about_damaged_files(tmp_path: Path):
    # A fresh interpreter, as in a run: pytest's own warning capture would hide the warnings.
    import subprocess

    exif, lzw = _jpeg_with_corrupt_exif(tmp_path), _tiff_with_bad_lzw(tmp_path)
    script = (
        "import sys\n"
        "from batch_ocr.images import ImageError, read_pages, header_pixels\n"
        "print(header_pixels(sys.argv[1]), len(list(read_pages(sys.argv[1]))))\n"
        "try:\n"
        "    list(read_pages(sys.argv[2]))\n"
        "except ImageError as exc:\n"
        "    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", script, str(exif), str(lzw)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["4800 1",
                                        "cannot decode image: damaged TIFF (decoder error -2)"]
    assert done.stderr == ""
    # The same files without batch-ocr's silencing do speak (so the test shows something).
    loud = subprocess.run(
        [sys.executable, "-W", "default", "-c",
         "import sys\nfrom PIL import Image\n"
         "Image.open(sys.argv[1]).getexif()\n"
         "try:\n    Image.open(sys.argv[2]).load()\nexcept OSError:\n    pass\n",
         str(exif), str(lzw)], capture_output=True, text=True, timeout=120)
    assert "Corrupt EXIF data" in loud.stderr and "not yet in table" in loud.stderr
