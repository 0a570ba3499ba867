"""The slice of TensorFlow that recognition uses, imported without running TensorFlow's `__init__`.

`import tensorflow` takes about 2 s of the 3 s a `batch-ocr run` pays before its first line: its
`__init__` imports the whole public API, Keras (and through it pandas), tf.data, the distribution
strategies and their test helpers. Recognition needs a few dozen ops, `tf.function`, variables and
loops; the modules that define them load in about half that time.

`import_core()` puts the `tensorflow` package in `sys.modules` with its `__init__` not yet run (a
`_Deferred` module: the real package's path and spec, an empty namespace), imports the modules
that define the ops, and takes each public name from TensorFlow's own export registry (`tf_export`,
where every API symbol is registered under its public name as its module loads). Nothing is copied
or patched: the namespace holds TensorFlow's functions, and graphs traced with it are the graphs
`import tensorflow` gives.

The package stays in `sys.modules` because TensorFlow's C++ code imports its Python types lazily,
and an import from C++ resolves the top-level package. Whoever wants the whole API gets it: the
first attribute the deferred module lacks, or an import of an API module such as
`tensorflow.experimental` (one that is not in the package's folder), runs the real `__init__` in
that same module object (`complete()`); from then
on it is exactly what `import tensorflow` gives, with the modules already loaded reused. Where
anything is missing (another TensorFlow version moved a symbol), the whole module is imported
instead: slower to start, never wrong.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
import threading
import types

from batch_ocr.tf_setup import import_tensorflow, quiet_stderr

# The modules that define NAMES, as TensorFlow 2.21 lays them out (a version that moved one falls
# back to the regular import: tests/test_tf_core.py shows which path a run took).
CORE_MODULES = (
    "tensorflow.python.framework.dtypes",
    "tensorflow.python.framework.constant_op",
    "tensorflow.python.framework.tensor",
    "tensorflow.python.framework.tensor_conversion",
    "tensorflow.python.platform.tf_logging",
    "tensorflow.python.ops.array_ops",
    "tensorflow.python.ops.array_ops_stack",
    "tensorflow.python.ops.gen_array_ops",
    "tensorflow.python.ops.math_ops",
    "tensorflow.python.ops.gen_math_ops",
    "tensorflow.python.ops.nn_ops",
    "tensorflow.python.ops.gen_nn_ops",
    "tensorflow.python.ops.special_math_ops",
    "tensorflow.python.ops.clip_ops",
    "tensorflow.python.ops.tensor_array_ops",
    "tensorflow.python.ops.while_loop",
    "tensorflow.python.ops.variables",
    # Registers the resource-variable creator that `tf.Variable` dispatches to in TF2.
    "tensorflow.python.ops.resource_variable_ops",
    "tensorflow.python.eager.polymorphic_function.polymorphic_function",
)

# Public names (as in `tf.<name>`) the inference modules use (a test keeps this list complete).
NAMES = (
    "TensorArray", "TensorSpec", "Variable", "argmax", "cast", "clip_by_value", "concat",
    "constant", "convert_to_tensor", "einsum", "equal", "expand_dims", "fill", "function",
    "gather", "get_logger", "logical_not", "math.rsqrt", "matmul", "minimum", "nn.bias_add",
    "nn.conv2d", "nn.max_pool2d", "nn.relu", "nn.softmax", "ones_like", "range", "reduce_all",
    "reduce_max", "reduce_sum", "reshape", "reverse", "shape", "sigmoid", "split", "stack",
    "tanh", "tensordot", "transpose", "where", "while_loop", "zeros",
)
DTYPES = ("bfloat16", "bool", "float32", "int32")

_core: types.SimpleNamespace | None = None
_completing = threading.RLock()


class CoreUnavailable(Exception):
    """The core modules did not give every name (another TensorFlow layout)."""


class _Deferred(types.ModuleType):
    """The `tensorflow` package before its `__init__` has run (see the module docstring)."""

    _batch_ocr_complete = False

    def __getattr__(self, name: str):
        if not name.startswith("_batch_ocr") and complete(self) and name in self.__dict__:
            return self.__dict__[name]
        raise AttributeError(f"module 'tensorflow' has no attribute {name!r}")


class _CompleteOnApiImport(importlib.abc.MetaPathFinder):
    """Runs the deferred `__init__` before an import of an API module below `tensorflow`
    (`tensorflow.experimental`, `tensorflow.keras`, ...): those are not in the package's folder
    (`tensorflow.python`, `tensorflow.core`, ...) but found once `__init__` has extended its path."""

    def __init__(self, folder: str):
        self.on_disk = {entry.split(".")[0] for entry in os.listdir(folder)}

    def find_spec(self, fullname, path=None, target=None):
        module = sys.modules.get("tensorflow")
        if (isinstance(module, _Deferred) and fullname.startswith("tensorflow.")
                and fullname.split(".")[1] not in self.on_disk):
            complete(module)
        return None  # the regular finders do the import


def complete(module: types.ModuleType | None = None) -> bool:
    """Run TensorFlow's own `__init__` in the deferred package (quietly); True once the module is
    the whole API, False while that `__init__` is still running (a name looked up during it)."""
    module = module if module is not None else sys.modules.get("tensorflow")
    if not isinstance(module, _Deferred) or module._batch_ocr_complete:
        return True
    with _completing:
        if module._batch_ocr_complete or module.__dict__.get("_batch_ocr_running"):
            return module._batch_ocr_complete
        module.__dict__["_batch_ocr_running"] = True
        try:
            with quiet_stderr():
                module.__spec__.loader.exec_module(module)
            module._batch_ocr_complete = True
        finally:
            module.__dict__.pop("_batch_ocr_running", None)
    return True


def tensorflow_loaded() -> bool:
    """Whether TensorFlow's runtime is in this process, through either import."""
    return "tensorflow" in sys.modules or "tensorflow.python" in sys.modules


def import_core():
    """A namespace with NAMES and DTYPES (`tf.matmul`, `tf.nn.conv2d`, `tf.float32`, ...): the
    core slice when TensorFlow has not been imported yet, else the `tensorflow` module itself."""
    global _core
    if _core is not None:
        return _core
    if tensorflow_loaded():
        return import_tensorflow()
    try:
        with quiet_stderr():
            _core = _import_slice()
    except CoreUnavailable:
        return import_tensorflow()  # runs TensorFlow's own __init__ in the deferred package
    _core.get_logger().setLevel("ERROR")
    return _core


def _import_slice() -> types.SimpleNamespace:
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise CoreUnavailable("tensorflow is not installed as a package")
    deferred = _Deferred("tensorflow")
    deferred.__spec__, deferred.__loader__ = spec, spec.loader
    deferred.__file__, deferred.__package__ = spec.origin, "tensorflow"
    deferred.__path__ = list(spec.submodule_search_locations)
    sys.modules["tensorflow"] = deferred
    sys.meta_path.insert(0, _CompleteOnApiImport(deferred.__path__[0]))
    try:
        # TF2 behaviour on before any API module loads, as tensorflow/__init__ does.
        os.environ["TF2_BEHAVIOR"] = "1"
        importlib.import_module("tensorflow.python.compat.v2_compat").enable_v2_behavior()
        for name in CORE_MODULES:
            importlib.import_module(name)
        from tensorflow.python.framework import dtypes
        from tensorflow.python.util import tf_export
    except Exception as exc:  # noqa: BLE001 - any other layout: the regular import decides
        raise CoreUnavailable(str(exc)) from exc

    core = types.SimpleNamespace()
    for name in NAMES:
        symbol = tf_export.get_symbol_from_name(name)
        if symbol is None:
            raise CoreUnavailable(f"tf.{name} is not registered")
        *parents, leaf = name.split(".")
        scope = core
        for parent in parents:
            if not hasattr(scope, parent):
                setattr(scope, parent, types.SimpleNamespace())
            scope = getattr(scope, parent)
        setattr(scope, leaf, symbol)
    for name in DTYPES:
        setattr(core, name, getattr(dtypes, name))
    return core
