"""Reading an SRN's weights straight from its model.keras file, against Keras's own loader."""
import dataclasses
import json
import zipfile

import numpy as np
import pytest

from batch_ocr.model.build import SRNConfig, build_srn
from batch_ocr.model.decode import GreedyDecoder
from batch_ocr.model.keras_graph import KerasSRN
from batch_ocr.model.inference import PlainSRN, as_tensors
from batch_ocr.model.weights import _snake_case, read_weights, weights_of_model

TINY = SRNConfig(height=16, vocab_size=9, conv=[[4, [2, 2]], [6, None], [4, [2, 1]], [5, [2, 1]]],
                 encoder_units=4, decoder_units=8, embed_dim=4)


def _saved_model(tmp_path, seed=0):
    """A tiny SRN with every weight random (batch-norm statistics too), saved as model.keras."""
    model = build_srn(TINY)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for variable in layer.weights:
            value = rng.normal(0, 0.5, variable.shape)
            if "variance" in variable.path:
                value = np.abs(value) + 0.1
            variable.assign(value.astype("float32"))
    path = tmp_path / "model.keras"
    model.save(path)
    return model, path


def _arrays(weights):
    """Every array of an SRNWeights, in field order."""
    out = []
    for value in dataclasses.astuple(weights):
        stack = [value]
        while stack:
            item = stack.pop(0)
            if isinstance(item, (list, tuple)):
                stack[:0] = list(item)
            elif hasattr(item, "shape"):
                out.append(np.asarray(item))
    return out


@pytest.mark.parametrize("name, expected", [
    ("Conv2D", "conv2d"), ("BatchNormalization", "batch_normalization"),
    ("MaxPooling2D", "max_pooling2d"), ("AttentionDecoder", "attention_decoder"),
    ("Dense", "dense"), ("GRU", "gru"), ("ReLU", "re_lu")])
def test_keras_names_for_classes(name, expected):
    assert _snake_case(name) == expected


def test_file_weights_are_the_models_weights(tmp_path):
    model, path = _saved_model(tmp_path)
    from_file = read_weights(path)
    assert from_file is not None
    live = _arrays(weights_of_model(model))
    read = _arrays(from_file)
    assert len(read) == len(live) == 5 * len(TINY.conv) + 21  # conv + batch norm; the rest
    for expected, actual in zip(live, read):
        np.testing.assert_array_equal(actual, expected)


def test_decoding_from_the_file_matches_decoding_the_keras_model(tmp_path):
    model, path = _saved_model(tmp_path, seed=3)
    images = np.random.default_rng(4).random((3, TINY.height, 70, 1)).astype("float32")
    widths = np.array([70, 41, 9], dtype=np.int32)
    from_file = GreedyDecoder(as_tensors(read_weights(path)), TINY.height)
    assert isinstance(from_file.graph, PlainSRN)
    keras_graph = GreedyDecoder(model, TINY.height)
    keras_graph.graph = KerasSRN(model)
    for expected, actual in zip(keras_graph.decode(images, widths, 30),
                                from_file.decode(images, widths, 30)):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-4)


def _rewrite(path, edit_config=None, drop_h5=None):
    """Copy of a model.keras with its config edited or one weights group deleted."""
    import h5py

    out = path.with_name("edited.keras")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json" and edit_config:
                config = json.loads(data)
                edit_config(config["config"])
                data = json.dumps(config).encode()
            if item.filename == "model.weights.h5" and drop_h5:
                h5_path = path.with_name("weights.h5")
                h5_path.write_bytes(data)
                with h5py.File(h5_path, "r+") as h5:
                    del h5[drop_h5]
                data = h5_path.read_bytes()
            target.writestr(item, data)
    return out


def test_a_graph_of_another_shape_is_left_to_keras(tmp_path):
    _, path = _saved_model(tmp_path)

    def valid_padding(config):
        for layer in config["layers"]:
            if layer["config"]["name"] == "conv1":
                layer["config"]["padding"] = "valid"

    assert read_weights(_rewrite(path, edit_config=valid_padding)) is None


def test_weights_missing_from_their_place_give_none(tmp_path):
    _, path = _saved_model(tmp_path)
    assert read_weights(_rewrite(path, drop_h5="layers/attention_decoder/combine")) is None


def test_a_file_that_is_not_a_model_raises(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(zipfile.BadZipFile):
        read_weights(path)
