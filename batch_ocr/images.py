"""Any input file -> oriented 8-bit grayscale pages, or an `ImageError` with a short reason.

`read_pages` is the only place in batch-ocr that decodes untrusted files. It yields one
`PageImage` per page, lazily, so a 500-page TIFF never sits in memory at once, and every failure
(unreadable path, unknown format, truncated data, too many pixels, out of memory) surfaces as an
`ImageError` whose text starts with a category a person understands ("cannot decode image: ...",
"not an image: ...", "image too large: ..."); job.py writes that text into the `error` column.
"""
from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image

from batch_ocr import quiet_decoders
from batch_ocr.plain_png import read_plain_grey
from batch_ocr.records import PageImage

# What the job walks. All of these are read by Pillow's standard build (PNM and JFIF included).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".bmp", ".dib",
        ".webp", ".gif", ".pbm", ".pgm", ".ppm", ".pnm",
    }
)

DEFAULT_MAX_PIXELS = 100_000_000

# Pillow decoders we let loose on untrusted input: the formats above and nothing else, so a
# renamed EPS never reaches Ghostscript and rarely used plugins never see hostile bytes.
# (Camera JPEGs with an embedded preview come back from the JPEG decoder with format "MPO";
# `_format_name` calls them JPEG again.)
_DECODERS = ("PNG", "JPEG", "TIFF", "BMP", "DIB", "WEBP", "GIF", "PPM")

# Of those, the ones whose `Image.open` reads the header in Python, without native code.
_HEADER_IN_PYTHON = tuple(name for name in _DECODERS if name != "WEBP")

# Only a TIFF holds document pages. GIF, WebP and APNG frames are animation: later frames are
# deltas drawn over earlier ones, so reading them all would repeat the same text once per frame.
_MULTI_PAGE_FORMATS = frozenset({"TIFF"})

_EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation value -> the transpose that shows the picture upright (EXIF 2.3, tag 274).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Magic numbers, so that a file Pillow cannot even open is still named by what it claims to be.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"%PDF-", "PDF"),
)

_HEAD_BYTES = 4096


class ImageError(Exception):
    """A file that cannot become page images; `str(exc)` is a short reason for the output."""


def describe_path_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be read as a file, or None for a readable regular file.

    Cheap (stat calls only), so the job can use it while walking a folder.
    """
    try:
        link_info = os.lstat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return _os_error_reason(exc)
    if stat.S_ISLNK(link_info.st_mode):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return "broken symbolic link"
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symbolic link loop"
            return _os_error_reason(exc)
    else:
        info = link_info
    if stat.S_ISDIR(info.st_mode):
        return "is a directory"
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file ({_file_kind(info.st_mode)})"
    if not os.access(path, os.R_OK):
        return "cannot open: permission denied"
    return None


def read_pages(
    path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, first_page: int = 0
) -> Iterator[PageImage]:
    """Yield the pages of an image file as upright uint8 grayscale arrays (H, W), lazily.

    Multi-page TIFFs give one page per frame; every other format gives page 0 only. Raises
    `ImageError` (and no other exception) while iterating, before decoding anything whose header
    says it has more than `max_pixels` pixels. Pages of a TIFF before a damaged one are yielded
    first, then the error is raised. `first_page` > 0 starts there (the pages before are not
    decoded); a file with fewer pages yields none.
    """
    problem = describe_path_problem(path)
    if problem is not None:
        raise ImageError(problem)
    _leave_pixel_limit_to_us()
    quiet_decoders.silence()
    with _open_regular_file(path) as file:
        if first_page == 0:
            gray = read_plain_grey(file, max_pixels)
            if gray is not None:  # only ever one page
                yield PageImage(page=0, gray=gray)
                return
        image = _open_image(file)
        with image:
            index = first_page
            if index > 0 and not _seek_next_frame(image, index):
                return
            while True:
                # Built outside the `yield`, so that exceptions the consumer throws into this
                # generator (GeneratorExit on `break`) are never mistaken for decode errors.
                page = _decode_frame(image, index, max_pixels)
                yield page
                del page  # so this frame does not keep the last page alive while decoding the next
                if not _seek_next_frame(image, index + 1):
                    return
                index += 1


def header_pixels(path: str | os.PathLike) -> int | None:
    """Pixels of an image file's first page from its header alone (nothing is decoded), or None
    when it cannot be told.

    Runs in the job's own process, before any worker (which is there so that a file that crashes
    a decoder costs one row, not the run): only formats whose headers Pillow parses in Python are
    opened. WebP's open already hands the whole file to libwebp."""
    _leave_pixel_limit_to_us()
    quiet_decoders.silence()
    try:
        with _open_regular_file(path) as file:
            with Image.open(file, formats=_HEADER_IN_PYTHON) as image:
                width, height = image.size
    except Exception:  # noqa: BLE001 - any file that cannot be told is simply not counted
        return None
    return width * height


def _open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """Open for reading without ever blocking: the path may have become a FIFO since it was
    checked, and opening a FIFO waits for a writer, which would hang a cron job."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ImageError(_os_error_reason(exc)) from exc
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise ImageError(_os_error_reason(exc)) from exc
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ImageError(f"not a regular file ({_file_kind(mode)})")
    return os.fdopen(fd, "rb")


def _leave_pixel_limit_to_us() -> None:
    """Switch off Pillow's own decompression-bomb check; `_check_pixel_count` replaces it.

    Pillow's limit is one process-wide number read inside `Image.open`. Left at its default (89
    megapixels, an error above twice that) it would warn about images we accept and raise its own
    error, without the image's dimensions, before our check could name them. Setting the limit
    around each call and restoring it after is a race between threads (one call restores while
    another is still decoding), whereas writing None is idempotent: every call writes the same
    value, so concurrent calls cannot disturb each other. Our check is applied on every call and
    every TIFF frame, from the header, before anything is decoded. The cost is that other code in
    the same process that opens images with Pillow directly no longer gets Pillow's guard; in
    batch-ocr, every untrusted file goes through `read_pages`.
    """
    Image.MAX_IMAGE_PIXELS = None


def _open_image(file: BinaryIO) -> Image.Image:
    """Identify the file (reads the header only) or raise an ImageError saying what it is."""
    head = file.read(_HEAD_BYTES)
    if not head:
        raise ImageError("file is empty (0 bytes)")
    file.seek(0)
    try:
        return Image.open(file, formats=_DECODERS)
    except Image.UnidentifiedImageError as exc:
        raise ImageError(_unidentified_reason(head)) from exc
    except Image.DecompressionBombError as exc:
        # Only if other code re-enabled Pillow's limit after `_leave_pixel_limit_to_us`.
        raise ImageError(f"image too large: {_short(exc)}") from exc
    except MemoryError as exc:
        raise ImageError("cannot decode image: out of memory") from exc
    except Exception as exc:  # noqa: BLE001 - a hostile header may raise anything; name it
        claimed = _claimed_format(head)
        if claimed is None:
            raise ImageError(f"cannot decode image: {_short(exc)}") from exc
        if _is_truncated_riff(head, file) or "truncated" in str(exc).lower():
            raise ImageError(f"cannot decode image: truncated {claimed}") from exc
        raise ImageError(f"cannot decode image: damaged {claimed} header ({_short(exc)})") from exc


def _decode_frame(image: Image.Image, index: int, max_pixels: int) -> PageImage:
    """Decode the current frame into an upright grayscale page, or raise ImageError."""
    name = _format_name(image)
    _check_pixel_count(image, max_pixels)
    try:
        # Forces the full decode here, inside the try: Pillow is lazy, and truncation or corrupt
        # data only shows up now. LOAD_TRUNCATED_IMAGES stays False so a cut file is an error.
        image.load()
        gray = _to_gray(image)
        orientation = _exif_orientation(image)
        if orientation in _UPRIGHT:
            gray = gray.transpose(_UPRIGHT[orientation])
        array = np.array(gray, dtype=np.uint8)  # a writable copy the segmenter may modify
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {_short(exc)}") from exc
    except MemoryError as exc:
        raise ImageError(f"cannot decode image: out of memory decoding {name}") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError...
        raise ImageError(_decode_failure_reason(exc, name, index)) from exc
    return PageImage(page=index, gray=array)


def _seek_next_frame(image: Image.Image, frame: int) -> bool:
    """Move to `frame` of a multi-page file; False when there are no more pages."""
    if image.format not in _MULTI_PAGE_FORMATS:
        return False
    try:
        image.seek(frame)
    except EOFError:
        return False
    except MemoryError as exc:
        raise ImageError(f"cannot decode image: out of memory reading page {frame}") from exc
    except Exception as exc:  # noqa: BLE001 - a broken directory of pages raises anything
        raise ImageError(
            f"cannot decode image: damaged {_format_name(image)} page {frame} ({_short(exc)})"
        ) from exc
    return True


def _check_pixel_count(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    # A TIFF frame may decode into tiles larger than its visible size; the bigger one counts.
    tile_width, tile_height = getattr(image, "_tile_size", None) or (width, height)
    pixels = max(width * height, tile_width * tile_height)
    if pixels > max_pixels:
        raise ImageError(
            f"image too large: {width}x{height} = {_megapixels(pixels)} megapixels exceeds the "
            f"{_megapixels(max_pixels)} megapixel limit"
        )
    if width <= 0 or height <= 0:
        raise ImageError(
            f"cannot decode image: {_format_name(image)} has no pixels ({width}x{height})"
        )


def _to_gray(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 'L' the way a page would look printed on white paper."""
    mode = image.mode
    if mode == "L" and "transparency" not in image.info:
        return image
    if mode == "1":
        return image.convert("L")  # 0/255, not 0/1
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return Image.fromarray(_scale_to_8bit(np.asarray(image)))
    if "A" in mode or "a" in mode or "transparency" in image.info:
        return _flatten_on_white(image)
    if mode == "RGB":
        return image.convert("L")
    # Palette, CMYK, YCbCr, ...: through RGB so that every colour gets the same luma weights.
    return image.convert("RGB").convert("L")


def _flatten_on_white(image: Image.Image) -> Image.Image:
    """Composite onto white: transparent background is paper, so black text stays black."""
    rgba = image.convert("RGBA")
    paper = Image.new("L", rgba.size, 255)
    # RGBA -> L ignores alpha; pasting with alpha as the mask blends each pixel over the paper.
    paper.paste(rgba.convert("L"), mask=rgba.getchannel("A"))
    return paper


def _scale_to_8bit(values: np.ndarray) -> np.ndarray:
    """Map 16-bit, 32-bit integer and float pixels onto 0..255 by their range, never clipping.

    Integers are divided by the full scale of the smallest bit depth (8 or more) that holds the
    brightest pixel: 16-bit data spanning 0..65535 maps onto 0..255 (v / 257); 12-bit scanner data
    stored in 16 bits (max <= 4095) fills 0..255 instead of staying nearly black; an 8-bit image
    stored in 16 bits comes back unchanged. Stretching to the exact maximum would amplify the
    noise of a blank page, so we stop at a power of two. Negative integers and floats outside
    0..1 are stretched from their minimum to their maximum.
    """
    if values.dtype.kind == "f":
        finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(finite.min()), float(finite.max())
        if low >= 0.0 and high <= 1.0:
            return np.rint(finite * 255.0).astype(np.uint8)
        return _stretch(finite, low, high)
    low, high = int(values.min()), int(values.max())
    if low < 0:
        return _stretch(values.astype(np.float64), float(low), float(high))
    full_scale = (1 << max(8, high.bit_length())) - 1
    scaled = (values.astype(np.uint64) * 255 + full_scale // 2) // full_scale
    return scaled.astype(np.uint8)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _exif_orientation(image: Image.Image) -> int:
    """The EXIF/TIFF orientation of the current frame, 1 (upright) when absent or unreadable."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - damaged metadata should not lose readable pixels
        return 1
    return value if isinstance(value, int) else 1


def _format_name(image: Image.Image) -> str:
    name = image.format or "image"
    return "JPEG" if name == "MPO" else name


def _decode_failure_reason(exc: BaseException, name: str, index: int) -> str:
    message = str(exc).lower()
    where = f" (page {index})" if index else ""
    # "broken data stream" is what Pillow says for corrupt compressed data, not for a short file.
    if isinstance(exc, EOFError) or "truncated" in message:
        return f"cannot decode image: truncated {name}{where}"
    if isinstance(exc, ValueError) and "conversion" in message:
        return f"cannot decode image: unsupported {name} pixel format"
    return f"cannot decode image: damaged {name}{where} ({_short(exc)})"


def _unidentified_reason(head: bytes) -> str:
    claimed = _claimed_format(head)
    if claimed == "PDF":
        return "not an image: PDF document"
    # Before the magic numbers: a text file may well start with "BM".
    if _looks_like_text(head):
        return "not an image: file contains text"
    if claimed is not None:
        return f"cannot decode image: damaged {claimed} header"
    return "cannot decode image: unknown format"


def _claimed_format(head: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _is_truncated_riff(head: bytes, file: BinaryIO) -> bool:
    """A RIFF (WebP) header states the file's length; a shorter file was cut off."""
    if head[:4] != b"RIFF" or len(head) < 8:
        return False
    (declared,) = struct.unpack("<I", head[4:8])
    try:
        actual = os.fstat(file.fileno()).st_size
    except (OSError, ValueError):
        return False
    return actual < declared + 8


def _looks_like_text(head: bytes) -> bool:
    """Mostly printable UTF-8 (ASCII included) with no NUL bytes: a text file, not an image."""
    if b"\x00" in head:
        return False
    # A multi-byte character cut off at the end of `head` costs one replacement character at most.
    text = head.decode("utf-8", errors="replace")
    printable = sum(
        1 for ch in text if ch in "\t\n\r\f" or (ch.isprintable() and ch != "\ufffd")
    )
    return printable >= 0.95 * len(text)


def _os_error_reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot open: permission denied"
    if exc.errno == errno.ENOENT:
        return "file not found"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return f"cannot open: {exc.strerror or _short(exc)}"


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _megapixels(pixels: int) -> str:
    megapixels = pixels / 1_000_000
    return f"{megapixels:.0f}" if megapixels >= 100 else f"{megapixels:.3g}"


def _short(exc: BaseException, limit: int = 120) -> str:
    text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_gray(image: np.ndarray) -> np.ndarray:
    """Any in-memory image (gray, gray with one channel, RGB, RGBA; uint8, or floats in 0-1 as
    many libraries hand them over) -> contiguous uint8 (H, W), for callers of the Python API."""
    import cv2

    gray = np.asarray(image)
    if gray.ndim == 3:
        if gray.shape[2] == 1:
            gray = gray[:, :, 0]
        else:
            if gray.dtype != np.uint8:
                gray = _to_uint8(gray)
            code = cv2.COLOR_RGBA2GRAY if gray.shape[2] == 4 else cv2.COLOR_RGB2GRAY
            gray = cv2.cvtColor(np.ascontiguousarray(gray), code)
    if gray.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    return np.ascontiguousarray(_to_uint8(gray) if gray.dtype != np.uint8 else gray)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    # Floats that never exceed 1 are 0-1 intensities; anything else is already on a 0-255 scale.
    if np.issubdtype(values.dtype, np.floating) and values.size and float(values.max()) <= 1.0:
        values = values * 255.0
    return np.clip(values, 0, 255).astype(np.uint8)

