"""batch-ocr: batch OCR for folders of images with an attention recogniser (SRN) in TensorFlow.

The public API is small: `load_model(name_or_dir)` gives a recogniser whose `read(images)` returns
lines per image, and `run_job(...)` is what `batch-ocr run` calls. Imports are lazy so that the CLI
starts quickly and `--help` never loads TensorFlow.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load_model", "run_job", "__version__"]


def load_model(name_or_dir: str = "printed"):
    """Return a `Recognizer` for a shipped model name ('printed', 'digits') or a model directory."""
    from batch_ocr.recognizer import load_model as _load

    return _load(name_or_dir)


def run_job(*args, **kwargs) -> int:
    """Run the batch job (see `batch_ocr.job.run_job`); returns the process exit code."""
    from batch_ocr.job import run_job as _run

    return _run(*args, **kwargs)
