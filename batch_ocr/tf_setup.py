"""Import TensorFlow quietly (a nightly job's stderr should hold our messages, not TF's banners),
and choose the arithmetic that recognition runs in on this CPU."""
from __future__ import annotations

import contextlib
import gc
import os
import sys


@contextlib.contextmanager
def quiet_stderr():
    """Silence TensorFlow's C++ start-up chatter while its libraries load.

    TF_CPP_MIN_LOG_LEVEL hides most of it; absl still writes one warning straight to file
    descriptor 2 during import, so that descriptor points at /dev/null meanwhile. Python
    exceptions raised inside are unaffected.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (daemonised): nothing to hide
        yield
        return
    try:
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def collector_paused():
    """Python's cycle collector off while TensorFlow and a model load, and what they made frozen.

    The import makes some 200 000 objects that live as long as the process. With the collector on,
    it runs about 300 collections during the import that free almost nothing (a collection after
    it finds a few hundred objects), 0.1 s of start-up, and every later full collection walks them
    all again (60 ms pauses in the middle of a run). Frozen, collections skip them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def import_tensorflow():
    """Import and return the whole `tensorflow` module, quietly (see batch_ocr.tf_core for the
    slice that recognition needs, which loads in half the time)."""
    if "tensorflow" in sys.modules:
        tensorflow = sys.modules["tensorflow"]
        tensorflow.function  # noqa: B018 - after tf_core.import_core this runs TF's __init__
        return tensorflow
    with quiet_stderr():
        import tensorflow
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


# BATCH_OCR_STREAMS: how many batches recognition reads at once ("auto", the default: one per
# usable core, up to MAX_STREAMS, each on its own share of the cores).
STREAMS_ENV = "BATCH_OCR_STREAMS"
# TensorFlow's own setting of the threads one kernel may use; read once, when its runtime starts.
INTRA_OP_ENV = "TF_NUM_INTRAOP_THREADS"
# Each stream holds one batch's feature maps (about 100 MB at the default batch size): a machine
# with many cores gives each of these streams several threads rather than holding a batch per core.
MAX_STREAMS = 4


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, as a container's CPU set)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def inference_streams(tensorflow_started: bool) -> int:
    """How many batches recognition should read at once; sets TensorFlow's threads per kernel to
    match while its runtime has not started (call before importing it).

    The model's time goes mostly to its recurrent loops (the encoder's GRU, the decoder), chains
    of products too small to split well over cores: two threads on one batch keep 1.6 cores busy
    and wait on each other at every step. One batch per core, each kernel on one thread, reads
    600 bench lines in 0.71 s against 1.03 s on 2 cores, with the same readings. Where TensorFlow
    already runs (a library caller's, or training's validation), its threads are the caller's, so
    batches go one at a time unless BATCH_OCR_STREAMS says otherwise.
    """
    choice = os.environ.get(STREAMS_ENV, "auto").strip().lower()
    cores = usable_cores()
    if choice != "auto":
        streams = _count(choice)
        if not tensorflow_started:
            os.environ.setdefault(INTRA_OP_ENV, str(max(1, cores // streams)))
        return streams
    if tensorflow_started:
        return 1
    # A setting of the user's stands; the streams then share the cores among its threads.
    per_stream = _count(os.environ.setdefault(INTRA_OP_ENV, str(-(-cores // MAX_STREAMS))))
    return max(1, min(MAX_STREAMS, cores // per_stream))


def _count(setting: str) -> int:
    """A count from an environment setting: at least 1, and 1 for anything but a number."""
    try:
        return max(1, int(setting))
    except ValueError:
        return 1


# BATCH_OCR_BF16: "auto" (default) reads in bfloat16 where the CPU computes it natively, "1"
# always, "0" never.
BF16_ENV = "BATCH_OCR_BF16"
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); False where unknown."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in _BF16_CPU_FLAGS)
    except OSError:
        pass
    return False


def use_bfloat16_inference() -> bool:
    """Whether recognition should multiply in bfloat16 (BATCH_OCR_BF16, else the CPU flags).

    The inference graph (batch_ocr.model.inference) then runs its convolutions and the products
    outside the recurrent loops in bfloat16 and keeps the loops, softmaxes and sums in float32.
    On CPUs with AMX or AVX512-BF16 the model reads 1.6-1.7 times as fast with the same held-out
    figures within rounding (README, Models); elsewhere bfloat16 would be emulated, slower, so
    `auto` stays in float32.
    """
    choice = os.environ.get(BF16_ENV, "auto").strip().lower()
    return choice in ("1", "true", "yes", "on") or (choice == "auto" and cpu_has_bfloat16())
