"""Plain grey PNGs go to OpenCV, with Pillow's pixels; every other PNG to Pillow (plain_png.py)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from batch_ocr import images, plain_png
from batch_ocr.images import ImageError, read_pages


def _text_like(width: int = 180, height: int = 40) -> np.ndarray:
    rng = np.random.default_rng(7)
    pixels = np.full((height, width), 235, np.uint8)
    pixels[10:30, 20:160] = rng.integers(0, 120, (20, 140), dtype=np.uint8)
    return pixels


def _png(pixels: np.ndarray, mode: str | None = None, **save) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if mode is not None:
        image = image.convert(mode)
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _opencv(data: bytes, max_pixels: int = 10**8) -> np.ndarray | None:
    return plain_png.read_plain_grey(io.BytesIO(data), max_pixels)


@pytest.mark.parametrize("save", [{}, {"dpi": (300, 300)}, {"optimize": True},
                                  {"compress_level": 0}])
def test_plain_grey_pngs_decode_to_pillows_pixels(tmp_path: Path, save):
    pixels = _text_like()
    data = _png(pixels, **save)
    decoded = _opencv(data)
    assert decoded is not None and decoded.dtype == np.uint8 and decoded.flags.writeable
    np.testing.assert_array_equal(decoded, pixels)
    path = tmp_path / "line.png"
    path.write_bytes(data)
    [page] = list(read_pages(path))
    np.testing.assert_array_equal(page.gray, np.asarray(Image.open(path)))


def _chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_chunk_before_iend(data: bytes, kind: bytes, body: bytes) -> bytes:
    return data[:-12] + _chunk(kind, body) + data[-12:]


def test_anything_but_a_plain_grey_png_is_left_to_pillow():
    pixels = _text_like()
    exif = Image.Exif()
    exif[0x0112] = 6
    text = PngImagePlugin.PngInfo()
    text.add_text("Software", "scanner")
    plain = _png(pixels)
    others = {
        "rgb": _png(pixels, "RGB"),
        "palette": _png(pixels, "P"),
        "16-bit": _png(pixels.astype(np.uint16) * 257, "I;16"),
        "alpha": _png(pixels, "LA"),
        "transparent grey": _png(pixels, transparency=235),
        "exif orientation": _png(pixels, exif=exif),
        "text": _png(pixels, pnginfo=text),
        "unknown chunk": _with_chunk_before_iend(plain, b"zzZz", b"?"),
        "bad crc": plain[:60] + bytes([plain[60] ^ 0xFF]) + plain[61:],
        "cut short": plain[:-20],
        "no end": plain[:-12],
        "not a png": b"\xff\xd8\xff\xe0" + plain[4:],
    }
    for name, data in others.items():
        assert _opencv(data) is None, name
    assert _opencv(plain, max_pixels=pixels.size - 1) is None  # Pillow's path names the limit
    assert _opencv(plain, max_pixels=pixels.size) is not None
    file = _CountingReads(b"xx" + others["rgb"])
    file.seek(2)
    assert plain_png.read_plain_grey(file, 10**8) is None and file.tell() == 2  # left in place
    assert file.bytes_read <= 8 + 25  # a colour image's header is enough to tell


class _CountingReads(io.BytesIO):
    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_damaged_pngs_get_pillows_error_and_no_libpng_noise(tmp_path: Path, capfd):
    data = _png(_text_like())
    path = tmp_path / "damaged.png"
    path.write_bytes(data[:60] + bytes([data[60] ^ 0xFF]) + data[61:])  # inside IDAT
    with pytest.raises(ImageError, match="cannot decode image"):
        list(read_pages(path))
    path.write_bytes(data[:-30])
    with pytest.raises(ImageError, match="truncated PNG|cannot decode image"):
        list(read_pages(path))
    assert capfd.readouterr().err == ""


def test_rgb_and_oriented_pngs_still_read_through_pillow(tmp_path: Path):
    pixels = _text_like()
    path = tmp_path / "rgb.png"
    path.write_bytes(_png(pixels, "RGB"))
    np.testing.assert_array_equal(next(iter(read_pages(path))).gray, pixels)
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down
    path.write_bytes(_png(pixels, exif=exif))
    np.testing.assert_array_equal(next(iter(read_pages(path))).gray, pixels[::-1, ::-1])
    assert images.header_pixels(path) == pixels.size
