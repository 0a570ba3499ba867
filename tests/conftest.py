"""Shared test set-up."""
from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def float32_graphs_unless_a_model_is_loaded():
    """`load_model` switches the process to bfloat16 graphs on CPUs that have it (a process-wide
    TensorFlow option); tests that compare graphs with float tolerances must not inherit that from
    an earlier test, so every test starts in float32."""
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": False})
    yield
