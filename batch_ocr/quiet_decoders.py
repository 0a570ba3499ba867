"""Keep the image decoders' own complaints off stderr: a damaged file already gets an error row
that names it, and a nightly job's log should hold batch-ocr's lines, not a decoder's.

Two kinds reached stderr from damaged TIFFs (found by feeding `batch-ocr run` 320 damaged
files of every format): Python warnings from Pillow's TIFF plugin ("Corrupt EXIF data", "Tag
data larger than file"), and libtiff's own messages ("LZWDecode: Not enough data at scanline 0",
"Fax4Decode: Bad code word"), printed by its default handlers. Neither says which file, and both
come with files that either read well enough or get their error row anyway.
"""
from __future__ import annotations

import ctypes
import warnings

_done = False


def silence() -> None:
    """Once per process: ignore Pillow's UserWarnings and switch off libtiff's message
    handlers (it still returns its errors to Pillow, which raises them)."""
    global _done
    if _done:
        return
    _done = True
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
    for library in _loaded("libtiff"):
        try:
            tiff = ctypes.CDLL(library)
            for setter in (tiff.TIFFSetErrorHandler, tiff.TIFFSetWarningHandler):
                setter.argtypes = [ctypes.c_void_p]
                setter.restype = ctypes.c_void_p
                setter(None)
        except (OSError, AttributeError):  # not the library we know: its messages stay
            continue


def _loaded(name: str) -> list[str]:
    """Paths of the shared libraries called `name` this process has loaded (Linux); the TIFF
    library Pillow's wheel bundles has a hashed name in its own folder, so it is found here
    rather than by name. Pillow's decoder module is loaded first."""
    from PIL import _imaging  # noqa: F401 - loads the libraries it links

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if len(line.split()) >= 6}
    except OSError:
        return []
    return sorted(path for path in paths if path.rsplit("/", 1)[-1].startswith(name + "-")
                  or path.rsplit("/", 1)[-1].startswith(name + "."))
