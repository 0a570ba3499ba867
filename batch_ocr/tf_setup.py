"""Import TensorFlow quietly: a nightly job's stderr should hold our messages, not TF's banners."""
from __future__ import annotations

import os
import sys


def import_tensorflow():
    """Import and return `tensorflow` with its C++ start-up chatter silenced.

    TF_CPP_MIN_LOG_LEVEL hides most of it; absl still writes one warning straight to file
    descriptor 2 during import, so that descriptor points at /dev/null for the import alone.
    Python exceptions from a failed import are unaffected.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (daemonised): nothing to hide
        import tensorflow

        return tensorflow
    try:
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow
