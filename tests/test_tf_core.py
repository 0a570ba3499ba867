"""batch_ocr.tf_core: the slice of TensorFlow recognition runs on. Each check runs in a fresh
interpreter, since this test process has the whole of TensorFlow loaded already."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from batch_ocr import tf_core, tf_setup

REPO = Path(__file__).resolve().parents[1]
SAMPLES = sorted(str(p) for p in (REPO / "sample_data").glob("line_*"))

# Reads the sample lines; argv[1] == "full" imports all of TensorFlow first.
_READ = """
import json, sys
if sys.argv[1] == "full":
    from batch_ocr.tf_setup import import_tensorflow
    import_tensorflow()
from batch_ocr.batching import normalise_crop
from batch_ocr.images import read_pages
from batch_ocr.recognizer import load_model
recognizer = load_model("printed")
crops = [normalise_crop(next(read_pages(path)).gray, recognizer.height) for path in sys.argv[2:]]
readings = recognizer.read_crops(crops)
tf = sys.modules["tensorflow"]
print(json.dumps({
    "readings": [[r.text, r.confidence, [c.confidence for c in r.chars]] for r in readings],
    "keras_loaded": "keras" in sys.modules, "pandas_loaded": "pandas" in sys.modules,
    "deferred": type(tf).__name__ == "_Deferred" and not tf._batch_ocr_complete,
    "streams": recognizer.streams,
}))
"""


def _python(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_recognition_on_the_core_reads_as_on_the_whole_of_tensorflow():
    core = _python(_READ, "core", *SAMPLES)
    full = _python(_READ, "full", *SAMPLES)
    # The same graph, so the same numbers, and the run never needed the rest of TensorFlow.
    assert core["readings"] == full["readings"]
    assert any(text for text, _, _ in core["readings"])
    assert core["deferred"] and not core["keras_loaded"] and not core["pandas_loaded"]
    # Loaded before TensorFlow started, the model reads a batch per core (up to a few) at once;
    # after someone else started TensorFlow, one batch at a time on the caller's threads.
    cores = tf_setup.usable_cores()
    assert (core["streams"] > 1) == (cores > 1)
    assert core["streams"] <= min(cores, tf_setup.MAX_STREAMS)
    assert full["streams"] == 1
    assert full["keras_loaded"] and not full["deferred"]


_COMPLETE = """
import inspect, json, sys
from batch_ocr import tf_core, tf_setup
core = tf_core.import_core()
import tensorflow as tf
before = type(tf).__name__, tf._batch_ocr_complete
same = []
for name in tf_core.NAMES:
    api, ours = tf, core
    for part in name.split("."):
        api, ours = getattr(api, part), getattr(ours, part)
    same.append(inspect.unwrap(api) is inspect.unwrap(ours))
same += [getattr(tf, name) is getattr(core, name) for name in tf_core.DTYPES]
import keras
from tensorflow.experimental import numpy as tnp
dense = keras.layers.Dense(2)(tf.zeros([1, 3]))
print(json.dumps({"before": before, "complete": tf._batch_ocr_complete, "same": same,
                  "version": tf.__version__, "dense": list(dense.shape),
                  "tnp": float(tnp.sum(tnp.ones(3)))}))
"""


def test_the_deferred_package_becomes_the_whole_api_on_first_use():
    result = _python(_COMPLETE)
    assert result["before"] == ["_Deferred", False]
    assert result["complete"] is True and result["version"]
    assert all(result["same"]) and len(result["same"]) == len(tf_core.NAMES) + len(tf_core.DTYPES)
    assert result["dense"] == [1, 2] and result["tnp"] == 3.0


_FALLBACK = """
import json, sys
from batch_ocr import tf_core, tf_setup
tf_core.NAMES = tf_core.NAMES + ("no_such_op_anywhere",)
tf = tf_core.import_core()
print(json.dumps({"module": type(tf).__name__, "version": tf.__version__,
                  "sum": float(tf.reduce_sum(tf.ones([4])))}))
"""


def test_a_name_the_core_lacks_falls_back_to_the_whole_module():
    result = _python(_FALLBACK)
    assert result["module"] == "_Deferred"  # the same package object, now complete
    assert result["version"] and result["sum"] == 4.0


def _tf_attributes(path: Path) -> set[str]:
    """Every `tf.a.b` chain a module uses."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "_parent", None),
                                                               ast.Attribute):
            chain, inner = [], node
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "tf":
                names.add(".".join(reversed(chain)))
        for child in ast.iter_child_nodes(node):
            child._parent = node
    return names


def test_every_op_the_inference_modules_use_is_in_the_core():
    provided = set(tf_core.NAMES) | set(tf_core.DTYPES)
    used = set()
    for module in ("model/inference.py", "model/decode.py", "model/layout.py"):
        used |= _tf_attributes(REPO / "batch_ocr" / module)
    assert "nn.conv2d" in used and "while_loop" in used  # the parser sees them
    assert used <= provided, sorted(used - provided)


_RUN = """
import json, sys
from batch_ocr import cli
sys.argv = ["batch-ocr", "run", *sys.argv[1:]]
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
tf = sys.modules["tensorflow"]
print(json.dumps({"code": code, "keras_loaded": "keras" in sys.modules,
                  "deferred": type(tf).__name__ == "_Deferred" and not tf._batch_ocr_complete}))
"""


def test_a_whole_run_never_needs_the_rest_of_tensorflow(tmp_path):
    output = tmp_path / "out.csv"
    result = _python(_RUN, str(REPO / "sample_data"), "-o", str(output), "--quiet")
    assert result == {"code": 0, "keras_loaded": False, "deferred": True}
    assert output.stat().st_size > 0
