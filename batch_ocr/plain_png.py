"""Plain grey PNGs decoded by OpenCV: the usual line crop or grey scan, read with the pixels
Pillow gives in less time.

Pillow's PNG reading is mostly Python (chunk parsing, `ImageFile.load`, the copy into an array):
145 us for a one-line crop read alone, more in the worker, where it runs between segmentations
with cold caches; these checks and OpenCV's decoder take 100, and in a run the worker spends
85 us less per crop. OpenCV only gets files whose every chunk was checked first: an 8-bit grey
image (colour type 0, not interlaced), every CRC intact, and nothing that changes what Pillow's
reading gives (transparency, a palette, EXIF or text that may carry an orientation, anything
unknown). Every other file, and any that OpenCV then refuses, goes to Pillow, which names what
is wrong with it. That also keeps the logs clean: libpng, under OpenCV, writes its complaints
about damaged data straight to stderr without naming the file, and with intact CRCs only a
stream that was written wrong in the first place can upset it.
"""
from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that leave the grey levels of Pillow's reading as they are: colour-space hints (not
# applied to grey images), resolution, time, significant bits, the background colour.
_HARMLESS = frozenset({b"IDAT", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs", b"tIME", b"sBIT",
                       b"bKGD"})
_GREY, _DEPTH = 0, 8
_HEAD = len(SIGNATURE) + 12 + 13  # the signature and the IHDR chunk


def read_plain_grey(file: BinaryIO, max_pixels: int) -> np.ndarray | None:
    """The uint8 (H, W) image of a plain 8-bit grey PNG within `max_pixels`, decoded by OpenCV;
    None for any other file, with `file` back where it was."""
    start = file.tell()
    head = file.read(_HEAD)
    # The header first, so that the rest of a large colour scan is never read twice.
    if head[:len(SIGNATURE)] != SIGNATURE or _plain_grey_size(memoryview(head)[len(SIGNATURE):],
                                                             header_only=True) is None:
        file.seek(start)
        return None
    data = head + file.read()
    file.seek(start)
    size = _plain_grey_size(memoryview(data)[len(SIGNATURE):])
    if size is None or size[0] * size[1] > max_pixels:
        return None
    import cv2

    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    width, height = size
    if gray is None or gray.dtype != np.uint8 or gray.shape != (height, width):
        return None
    return gray


def _plain_grey_size(chunks: memoryview, header_only: bool = False) -> tuple[int, int] | None:
    """(width, height) when the chunks after the signature make a plain grey image, else None;
    with `header_only`, when the first chunk is the header of one."""
    position, size, pixels = 0, None, False
    while position + 12 <= len(chunks):
        length, kind = struct.unpack_from(">I4s", chunks, position)
        end = position + 12 + length
        if end > len(chunks):
            return None  # cut short
        (crc,) = struct.unpack_from(">I", chunks, end - 4)
        if zlib.crc32(chunks[position + 4:end - 4]) != crc:
            return None
        if size is None:
            if kind != b"IHDR" or length != 13:
                return None
            width, height, depth, colour, compression, filtering, interlace = \
                struct.unpack_from(">IIBBBBB", chunks, position + 8)
            if (depth, colour, compression, filtering, interlace) != (_DEPTH, _GREY, 0, 0, 0):
                return None
            size = (width, height)
            if header_only:
                return size
        elif kind == b"IEND":
            return size if pixels and min(size) > 0 else None
        elif kind in _HARMLESS:
            pixels = pixels or kind == b"IDAT"
        else:
            return None
        position = end
    return None
