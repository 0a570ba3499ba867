"""Tests for batch_ocr.images: every variant is generated on the fly with Pillow and numpy."""
from __future__ import annotations

import errno
import inspect
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from batch_ocr import images
from batch_ocr.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    ImageError,
    describe_path_problem,
    read_pages,
)
from batch_ocr.records import PageImage

ORIENTATION = 0x0112


def _pages(path, **kwargs) -> list[PageImage]:
    return list(read_pages(path, **kwargs))


def _only_page(path, **kwargs) -> np.ndarray:
    pages = _pages(path, **kwargs)
    assert len(pages) == 1
    assert pages[0].page == 0
    gray = pages[0].gray
    assert gray.dtype == np.uint8 and gray.ndim == 2
    return gray


def _header(path, attribute: str):
    with Image.open(path) as image:
        return getattr(image, attribute)


def _error(path, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        _pages(path, **kwargs)
    return str(info.value)


def _gradient(height: int = 24, width: int = 40) -> np.ndarray:
    """A gray test card with a distinct value in every column and a dark band in the middle rows."""
    values = np.tile(np.linspace(20, 235, width).astype(np.uint8), (height, 1))
    values[height // 3 : height // 2, :] = 10
    return values


def _luma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return r * 0.299 + g * 0.587 + b * 0.114


def _png_bytes_with_header(width: int, height: int) -> bytes:
    """A 1-bit PNG whose header claims width x height but whose pixel data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)  # far fewer rows than the header promises
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- good inputs


def test_suffixes_are_lower_case_and_all_readable_by_pillow():
    registered = Image.registered_extensions()
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif", ".bmp"} <= IMAGE_SUFFIXES
    for suffix in IMAGE_SUFFIXES:
        assert suffix == suffix.lower() and suffix.startswith(".")
        assert suffix in registered, suffix
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_read_pages_is_lazy_generator(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_gradient()).save(path)
    pages = read_pages(path)
    assert inspect.isgenerator(pages)
    first = next(pages)
    assert isinstance(first, PageImage) and first.page == 0
    assert first.width == 40 and first.height == 24
    assert list(pages) == []


def test_gray_png_round_trips_exactly_and_is_writable(tmp_path):
    path = tmp_path / "gray.png"
    expected = _gradient()
    Image.fromarray(expected).save(path)
    gray = _only_page(path)
    np.testing.assert_array_equal(gray, expected)
    gray[0, 0] = 1  # the segmenter may work in place
    assert gray[0, 0] == 1


def test_rgb_png_uses_standard_luminance(tmp_path):
    path = tmp_path / "rgb.png"
    rgb = np.zeros((10, 30, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)
    rgb[:, 10:20] = (0, 255, 0)
    rgb[:, 20:] = (0, 0, 255)
    Image.fromarray(rgb).save(path)
    gray = _only_page(path)
    np.testing.assert_allclose(gray.astype(float), _luma(rgb), atol=1)
    # Green is far brighter than blue in luma; a plain channel mean would make them equal.
    assert gray[0, 15] > 140 > 40 > gray[0, 25]


def test_black_text_on_transparent_png_comes_out_dark_on_white(tmp_path):
    path = tmp_path / "rgba.png"
    rgba = np.zeros((20, 50, 4), np.uint8)  # transparent black everywhere: RGB is black too
    rgba[8:12, 5:45] = (0, 0, 0, 255)  # opaque black "text"
    rgba[0:3, 0:3] = (0, 0, 0, 128)  # half-transparent black
    Image.fromarray(rgba, "RGBA").save(path)
    gray = _only_page(path)
    assert (gray[8:12, 5:45] == 0).all()
    assert gray[15:, :].min() == 255  # the transparent background is paper
    assert 120 <= gray[1, 1] <= 135


def test_la_png_is_composited_on_white(tmp_path):
    path = tmp_path / "la.png"
    la = Image.new("LA", (10, 4), (0, 0))
    la.putpixel((2, 2), (30, 255))
    la.save(path)
    gray = _only_page(path)
    assert gray[2, 2] == 30
    assert gray[0, 0] == 255


def test_palette_png_with_and_without_transparency(tmp_path):
    rgb = np.zeros((12, 12, 3), np.uint8)
    rgb[:, 6:] = (200, 40, 40)
    palette_image = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert palette_image.mode == "P"
    plain = tmp_path / "palette.png"
    palette_image.save(plain)
    gray = _only_page(plain)
    np.testing.assert_allclose(gray.astype(float), _luma(rgb), atol=1)

    # Make the black entry transparent: it must turn into white paper, not black.
    black_index = palette_image.getpixel((0, 0))
    keyed = tmp_path / "palette_keyed.png"
    palette_image.save(keyed, transparency=black_index)
    gray = _only_page(keyed)
    assert gray[0, 0] == 255
    assert abs(int(gray[0, 11]) - round(float(_luma(rgb)[0, 11]))) <= 1


def test_one_bit_png_becomes_0_and_255(tmp_path):
    path = tmp_path / "bits.png"
    bits = Image.new("1", (16, 8), 1)
    bits.putpixel((3, 4), 0)
    bits.save(path)
    gray = _only_page(path)
    assert set(np.unique(gray).tolist()) == {0, 255}
    assert gray[4, 3] == 0 and gray[0, 0] == 255


@pytest.mark.parametrize(
    ("stored_max", "expected_top"),
    [(65535, 255), (4095, 255), (255, 255), (1000, 1000 * 255 / 1023)],
    ids=["full-16-bit", "12-bit", "8-bit-in-16", "10-bit"],
)
def test_16_bit_png_is_scaled_by_range_not_clipped(tmp_path, stored_max, expected_top):
    path = tmp_path / "deep.png"
    values = np.linspace(0, stored_max, 64).astype(np.uint16).reshape(4, 16)
    Image.fromarray(values).save(path)
    assert _header(path, "mode").startswith("I")
    gray = _only_page(path)
    assert gray.min() == 0
    assert abs(int(gray.max()) - round(expected_top)) <= 1
    # Monotone: the ramp stays a ramp, nothing saturates early.
    flat = gray.reshape(-1)
    assert (np.diff(flat.astype(int)) >= 0).all()
    assert len(np.unique(flat)) > 40


def test_16_bit_full_range_maps_like_divide_by_257(tmp_path):
    path = tmp_path / "deep.tif"
    values = np.array([[0, 257, 32896, 65535]], np.uint16)
    Image.fromarray(values).save(path)
    np.testing.assert_array_equal(_only_page(path), [[0, 1, 128, 255]])


def test_float_tiff_is_scaled_by_range(tmp_path):
    unit = tmp_path / "unit.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)).save(unit)
    np.testing.assert_array_equal(_only_page(unit), [[0, 128, 255]])
    wide = tmp_path / "wide.tif"
    Image.fromarray(np.array([[-10.0, 0.0, 30.0]], np.float32)).save(wide)
    np.testing.assert_array_equal(_only_page(wide), [[0, 64, 255]])


def test_jpeg_rgb(tmp_path):
    path = tmp_path / "photo.jpg"
    rgb = np.full((32, 48, 3), 240, np.uint8)
    rgb[8:24, 8:40] = (20, 20, 20)
    Image.fromarray(rgb).save(path, quality=95)
    gray = _only_page(path)
    assert gray.shape == (32, 48)
    assert gray[16, 24] < 50 and gray[2, 2] > 220


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    cmyk = Image.new("CMYK", (32, 16), (0, 0, 0, 0))  # no ink: white paper
    cmyk.paste((0, 0, 0, 255), (0, 0, 16, 16))  # full black ink on the left half
    cmyk.save(path, quality=95)
    assert _header(path, "mode") == "CMYK"
    gray = _only_page(path)
    assert gray[:, :12].max() < 30
    assert gray[:, 20:].min() > 225


def _marked_image(height: int = 24, width: int = 40) -> Image.Image:
    """White image with a black block in the stored top-left corner."""
    pixels = np.full((height, width), 255, np.uint8)
    pixels[:8, :8] = 0
    return Image.fromarray(pixels)


def _dark_corner(gray: np.ndarray) -> str:
    height, width = gray.shape
    corners = {
        "top-left": gray[:6, :6],
        "top-right": gray[:6, width - 6 :],
        "bottom-left": gray[height - 6 :, :6],
        "bottom-right": gray[height - 6 :, width - 6 :],
    }
    dark = [name for name, block in corners.items() if block.mean() < 64]
    assert len(dark) == 1, {name: block.mean() for name, block in corners.items()}
    return dark[0]


@pytest.mark.parametrize(
    ("orientation", "shape", "corner"),
    [(1, (24, 40), "top-left"), (6, (40, 24), "top-right"), (3, (24, 40), "bottom-right"),
     (8, (40, 24), "bottom-left")],
)
def test_exif_rotated_jpeg(tmp_path, orientation, shape, corner):
    path = tmp_path / f"rotated{orientation}.jpg"
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    _marked_image().save(path, exif=exif, quality=95)
    gray = _only_page(path)
    assert gray.shape == shape
    assert _dark_corner(gray) == corner


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_exif_transpose(tmp_path, orientation):
    path = tmp_path / "oriented.png"
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(_gradient()).save(path, exif=exif)
    with Image.open(path) as reference:
        expected = np.array(ImageOps.exif_transpose(reference))
    np.testing.assert_array_equal(_only_page(path), expected)


def test_multi_page_tiff_yields_every_page_in_order(tmp_path):
    path = tmp_path / "scan.tiff"
    frames = [Image.new("L", (30 + 10 * i, 20), 50 + 60 * i) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_lzw")
    pages = _pages(path)
    assert [page.page for page in pages] == [0, 1, 2]
    assert [page.gray.shape for page in pages] == [(20, 30), (20, 40), (20, 50)]
    assert [int(page.gray[0, 0]) for page in pages] == [50, 110, 170]


def test_reading_can_start_at_a_later_page(tmp_path):
    # The worker process prepares a file's first pages; the job reads the rest from there on.
    path = tmp_path / "scan.tiff"
    frames = [Image.new("L", (30 + 10 * i, 20), 50 + 60 * i) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_lzw")
    later = list(read_pages(path, first_page=1))
    assert [page.page for page in later] == [1, 2]
    assert [int(page.gray[0, 0]) for page in later] == [110, 170]
    assert list(read_pages(path, first_page=3)) == []  # past the end: nothing, not an error
    png = tmp_path / "one.png"
    Image.new("L", (8, 8), 9).save(png)
    assert list(read_pages(png, first_page=1)) == []


def test_multi_page_fax_tiff(tmp_path):
    # Scanners write 1-bit pages with CCITT group 4 compression; each page has its own content.
    path = tmp_path / "fax.tif"
    frames = []
    for i in range(3):
        page = Image.new("1", (64, 32), 1)
        page.paste(0, (i * 20, 0, i * 20 + 4, 32))
        frames.append(page)
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="group4")
    pages = _pages(path)
    assert [page.page for page in pages] == [0, 1, 2]
    for i, page in enumerate(pages):
        assert set(np.unique(page.gray).tolist()) == {0, 255}
        assert page.gray[:, i * 20 : i * 20 + 4].max() == 0
        assert page.gray[:, (i * 20 + 10) % 64].min() == 255


def test_corrupt_compressed_data_is_called_damaged_not_truncated(tmp_path):
    rng = np.random.default_rng(4)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"IDAT") + 4
    data[start + 100 : start + 140] = bytes(40)  # zeros in the middle of the zlib stream
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    message = _error(path)
    assert message.startswith("cannot decode image: damaged PNG")
    assert "truncated" not in message


def test_multi_page_tiff_with_an_oversized_page_fails_on_that_page(tmp_path):
    path = tmp_path / "mixed.tif"
    small = Image.new("L", (10, 10), 0)
    large = Image.new("L", (100, 100), 255)
    small.save(path, save_all=True, append_images=[large])
    pages = read_pages(path, max_pixels=1000)
    assert next(pages).page == 0
    with pytest.raises(ImageError, match="image too large: 100x100"):
        next(pages)


@pytest.mark.parametrize(("name", "options"), [("page.bmp", {}), ("page.webp", {"lossless": True}),
                                               ("page.ppm", {}), ("page.tif", {})])
def test_other_lossless_formats_round_trip(tmp_path, name, options):
    path = tmp_path / name
    rgb = np.stack([_gradient()] * 3, axis=-1)
    rgb[..., 0] = 255 - rgb[..., 0]
    Image.fromarray(rgb).save(path, **options)
    gray = _only_page(path)
    np.testing.assert_allclose(gray.astype(float), _luma(rgb), atol=1)


def test_animated_gif_gives_only_its_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    first = Image.new("P", (20, 10), 0)
    first.putpalette([255, 255, 255, 0, 0, 0] + [0] * (3 * 254))
    first.paste(1, (0, 0, 5, 10))  # black bar on the left
    second = first.copy()
    second.paste(1, (15, 0, 20, 10))  # and another on the right
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    assert _header(path, "n_frames") == 2
    gray = _only_page(path)
    assert gray[:, :5].max() == 0
    assert gray[:, 15:].min() == 255


def test_camera_jpeg_with_a_second_picture_gives_one_page_named_jpeg(tmp_path):
    # Cameras write MPO files (a JPEG plus a preview) under .jpg; Pillow reports them as "MPO".
    path = tmp_path / "camera.jpg"
    dark = Image.new("RGB", (20, 10), (0, 0, 0))
    light = Image.new("RGB", (20, 10), "white")
    dark.save(path, format="MPO", save_all=True, append_images=[light])
    assert _header(path, "format") == "MPO"
    assert _only_page(path).max() < 20
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 4])
    assert "JPEG" in _error(path)


@pytest.mark.parametrize("size", [(1, 1), (37, 1), (1, 5)])
def test_tiny_images_are_returned(tmp_path, size):
    path = tmp_path / "tiny.png"
    Image.new("L", size, 200).save(path)
    gray = _only_page(path)
    assert gray.shape == (size[1], size[0])
    assert (gray == 200).all()


def test_suffix_does_not_matter_content_does(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    Image.fromarray(_gradient()).save(path, format="PNG")
    np.testing.assert_array_equal(_only_page(path), _gradient())


# ---------------------------------------------------------------- bad inputs


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert _error(path) == "file is empty (0 bytes)"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("cut.png", "PNG"), ("cut.jpg", "JPEG"), ("cut.tif", "TIFF"), ("cut.gif", "GIF"),
     ("cut.webp", "WEBP")],
)
def test_truncated_file_names_format(tmp_path, name, fmt):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (64, 64), dtype=np.uint8)  # incompressible, so the cut hits pixels
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, fmt)
    data = buffer.getvalue()
    path = tmp_path / name
    path.write_bytes(data[: len(data) * 2 // 3])
    message = _error(path)
    assert message.startswith("cannot decode image:")
    assert f"truncated {fmt}" in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    notes = "Meeting notes\nBring the scanner — and the café receipts.\n" * 20
    path.write_text(notes, encoding="utf-8")
    assert _error(path) == "not an image: file contains text"


def test_random_bytes_named_jpg(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert _error(path) == "cannot decode image: unknown format"


def test_pdf_is_named(tmp_path):
    path = tmp_path / "scan.png"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n" + bytes(range(256)))
    assert _error(path) == "not an image: PDF document"


def test_damaged_png_header(tmp_path):
    path = tmp_path / "header.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert _error(path) == "cannot decode image: damaged PNG header"


def test_directory_named_like_an_image(tmp_path):
    path = tmp_path / "x.png"
    path.mkdir()
    assert describe_path_problem(path) == "is a directory"
    assert _error(path) == "is a directory"


def test_dangling_symlink(tmp_path):
    path = tmp_path / "gone.png"
    path.symlink_to(tmp_path / "missing.png")
    assert describe_path_problem(path) == "broken symbolic link"
    assert _error(path) == "broken symbolic link"


def test_symlink_loop(tmp_path):
    path = tmp_path / "loop.png"
    path.symlink_to(path)
    assert describe_path_problem(path) == "symbolic link loop"
    assert _error(path) == "symbolic link loop"


def test_missing_file(tmp_path):
    assert _error(tmp_path / "nothing.png") == "file not found"


def test_named_pipe_is_not_a_regular_file(tmp_path):
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    assert describe_path_problem(path) == "not a regular file (named pipe)"
    assert _error(path) == "not a regular file (named pipe)"  # and it must not block on open


def test_file_that_became_a_pipe_after_the_check_does_not_hang(tmp_path, monkeypatch):
    path = tmp_path / "raced.png"
    os.mkfifo(path)
    monkeypatch.setattr(images, "describe_path_problem", lambda _path: None)
    assert _error(path) == "not a regular file (named pipe)"


def test_good_file_and_symlink_to_it_have_no_problem(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("L", (2, 2)).save(path)
    link = tmp_path / "link.png"
    link.symlink_to(path)
    assert describe_path_problem(path) is None
    assert describe_path_problem(link) is None
    assert _only_page(link).shape == (2, 2)


# Running as root (as CI containers often do) makes chmod 000 files readable, so the permission
# branch is driven by faking the system's answer instead of by file modes.
def test_permission_denied_while_walking(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.new("L", (2, 2)).save(path)
    monkeypatch.setattr(images.os, "access", lambda *args, **kwargs: False)
    assert describe_path_problem(path) == "cannot open: permission denied"


def test_permission_denied_on_open(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.new("L", (2, 2)).save(path)

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(images.os, "open", refuse)
    assert _error(path) == "cannot open: permission denied"


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes_with_header(20000, 20000))
    assert path.stat().st_size < 200

    def no_decoding(self):
        raise AssertionError("decoded an image that is over the pixel limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    message = _error(path, max_pixels=1_000_000)
    assert message == (
        "image too large: 20000x20000 = 400 megapixels exceeds the 1 megapixel limit"
    )


def test_default_pixel_limit_speaks_before_pillows_own_check(tmp_path):
    # 900 megapixels is far beyond Pillow's own default limit, which would raise first without
    # naming the dimensions.
    path = tmp_path / "huge.png"
    path.write_bytes(_png_bytes_with_header(30000, 30000))
    assert _error(path) == (
        "image too large: 30000x30000 = 900 megapixels exceeds the 100 megapixel limit"
    )


def test_image_just_under_the_limit_is_read_without_pillow_warnings(tmp_path, recwarn):
    path = tmp_path / "fits.png"
    Image.new("L", (100, 50), 255).save(path)
    assert _only_page(path, max_pixels=5000).shape == (50, 100)
    assert _error(path, max_pixels=4999).startswith("image too large: 100x50 = 0.005 megapixels")
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_damage_anywhere_raises_only_image_error(tmp_path):
    """Cut and corrupt valid files at many places: each must decode or raise ImageError."""
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    outcomes = set()
    for fmt in ("PNG", "JPEG", "TIFF", "GIF", "WEBP", "BMP"):
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, fmt)
        data = buffer.getvalue()
        path = tmp_path / f"damaged.{fmt.lower()}"
        for position in np.linspace(1, len(data) - 1, 12).astype(int):
            flipped = bytearray(data)
            flipped[position] ^= 0xFF
            for variant in (data[:position], bytes(flipped)):
                path.write_bytes(variant)
                try:
                    pages = _pages(path)
                except ImageError as exc:
                    assert str(exc).split(":")[0] in {"cannot decode image", "not an image"}, exc
                    outcomes.add("error")
                else:
                    assert pages and all(page.gray.dtype == np.uint8 for page in pages)
                    outcomes.add("read")
    assert "error" in outcomes


def test_breaking_out_of_a_multi_page_read_closes_the_file(tmp_path):
    path = tmp_path / "scan.tif"
    frames = [Image.new("L", (8, 8), v) for v in (0, 100, 200)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pages = read_pages(path)
    assert next(pages).page == 0
    pages.close()  # what a `break` in the caller's loop does; must not raise ImageError
    assert inspect.getgeneratorstate(pages) == inspect.GEN_CLOSED


def test_image_error_is_an_exception_with_the_reason_as_text():
    assert issubclass(ImageError, Exception)
    assert str(ImageError("file is empty (0 bytes)")) == "file is empty (0 bytes)"


def test_path_objects_and_strings_both_work(tmp_path):
    path = tmp_path / "s.png"
    Image.new("L", (3, 2), 7).save(path)
    assert _only_page(str(path)).shape == _only_page(Path(path)).shape == (2, 3)


def test_as_gray_accepts_the_arrays_api_users_hand_over():
    from batch_ocr.images import as_gray

    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255
    assert as_gray(rgb).shape == (4, 5) and as_gray(rgb).dtype == np.uint8
    unit = np.full((4, 5), 0.5, np.float32)  # 0-1 floats are intensities, not near-black
    assert int(as_gray(unit)[0, 0]) == 127
    assert as_gray(np.full((4, 5, 1), 200, np.uint8))[0, 0] == 200
