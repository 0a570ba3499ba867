"""The SRN's weights by role, for the inference graph (batch_ocr.model.inference): taken from a
live Keras model (validation during training follows its variables) or read straight from a
`model.keras` file without building the Keras model.

Building the functional model from its config costs about 0.4 s at every start (Keras calls
every layer symbolically, the attention decoder included); recognition needs only the arrays.
The Keras file is a zip holding `config.json` and `model.weights.h5`; the weights file keeps
each layer's variables under a name Keras derives from the layer's class (`conv2d_1`,
`batch_normalization_3`, numbered in the order of the config's layer list) and the attribute
path inside it (`attention_decoder/gru/cell`). `read_weights` follows that layout and checks
every array's shape against the config; a file laid out otherwise (another Keras version)
gives None, and the caller loads it through Keras instead.

Both sources go through one check of the config (`srn_layout`): only the chain `build_srn`
makes has a plain-op graph; anything else is run through its Keras layers.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from typing import Any

from batch_ocr.model.layout import CTC_OUTPUT, DECODER_LAYER, ENCODER_OUTPUT


@dataclass
class ConvBlock:
    kernel: Any
    gamma: Any
    beta: Any
    mean: Any
    variance: Any
    epsilon: float
    pool: tuple[int, int] | None


@dataclass
class GRUWeights:
    kernel: Any  # (inputs, 3U), gates z, r, h
    recurrent_kernel: Any  # (U, 3U)
    bias: Any  # (2, 3U): input bias, recurrent bias (reset_after)


@dataclass
class SRNWeights:
    blocks: list[ConvBlock]
    column_proj: tuple[Any, Any]  # kernel, bias; ReLU
    forward: GRUWeights
    backward: GRUWeights
    ctc: tuple[Any, Any]  # kernel, bias; linear
    embedding: Any  # (V, E)
    decoder_gru: GRUWeights
    init_state: tuple[Any, Any]  # kernel, bias; tanh
    key_proj: Any  # kernel, no bias
    combine: tuple[Any, Any]  # kernel (context + query, U), bias; tanh
    classifier: tuple[Any, Any]  # kernel, bias; linear


# ------------------------------------------------------------------------------ the config

def _plain_gru(config: dict, go_backwards: bool) -> bool:
    return (config.get("reset_after") is True and config.get("use_bias") is True
            and config.get("activation") == "tanh"
            and config.get("recurrent_activation") == "sigmoid"
            and bool(config.get("go_backwards")) == go_backwards
            and config.get("return_sequences") is True)


def srn_layout(config: dict) -> list[tuple[int, tuple[int, int] | None]] | None:
    """The conv blocks (index, pool) of a functional model config when it is the chain
    `build_srn` makes (conv without bias -> batch norm -> ReLU -> optional max pool, columns
    become steps, ReLU projection, bidirectional GRU, linear CTC head, our attention decoder),
    else None."""
    layers = {layer["config"].get("name"): layer for layer in config.get("layers", [])}

    def cfg(name, class_name):
        layer = layers.get(name)
        return layer["config"] if layer and layer["class_name"] == class_name else None

    blocks = []
    index = 0
    while f"conv{index}" in layers:
        conv, norm = cfg(f"conv{index}", "Conv2D"), cfg(f"bn{index}", "BatchNormalization")
        relu, pool = cfg(f"relu{index}", "ReLU"), cfg(f"pool{index}", "MaxPooling2D")
        if conv is None or norm is None or relu is None:
            return None
        if not (conv.get("use_bias") is False and conv.get("padding") == "same"
                and list(conv.get("strides", [])) == [1, 1]
                and list(conv.get("dilation_rate", [])) == [1, 1] and conv.get("groups") == 1
                and conv.get("data_format") == "channels_last"
                and conv.get("activation") == "linear"):
            return None
        if not (norm.get("axis") in (-1, 3, [-1], [3]) and norm.get("center") is True
                and norm.get("scale") is True):
            return None
        if relu.get("max_value") is not None or relu.get("negative_slope") or relu.get("threshold"):
            return None
        if f"pool{index}" in layers:
            if pool is None or pool.get("padding") != "same" or (
                    list(pool["strides"]) != list(pool["pool_size"])):
                return None
            blocks.append((index, tuple(pool["pool_size"])))
        else:
            blocks.append((index, None))
        index += 1
    permute, proj = cfg("columns_first", "Permute"), cfg("column_proj", "Dense")
    encoder, ctc = cfg(ENCODER_OUTPUT, "Bidirectional"), cfg(CTC_OUTPUT, "Dense")
    decoder = layers.get(DECODER_LAYER)
    if not blocks or permute is None or list(permute.get("dims", [])) != [2, 1, 3]:
        return None
    if cfg("map_to_sequence", "Reshape") is None:
        return None
    if proj is None or proj.get("activation") != "relu" or proj.get("use_bias") is not True:
        return None
    if ctc is None or ctc.get("activation") != "linear" or ctc.get("use_bias") is not True:
        return None
    if encoder is None or encoder.get("merge_mode") != "concat":
        return None
    forward = encoder.get("layer", {})
    backward = encoder.get("backward_layer", {})
    if forward.get("class_name") != "GRU" or backward.get("class_name") != "GRU":
        return None
    if not (_plain_gru(forward["config"], False) and _plain_gru(backward["config"], True)):
        return None
    if decoder is None or decoder["class_name"] != "AttentionDecoder":
        return None
    return blocks


# ------------------------------------------------------------------------- a live model

def weights_of_model(model) -> SRNWeights | None:
    """The variables of a Keras SRN by role (not copies), or None when it is not the chain."""
    layout = srn_layout(model.get_config())
    if layout is None:
        return None
    get = model.get_layer
    blocks = []
    for index, pool in layout:
        norm = get(f"bn{index}")
        blocks.append(ConvBlock(get(f"conv{index}").kernel, norm.gamma, norm.beta,
                                norm.moving_mean, norm.moving_variance, norm.epsilon, pool))
    encoder, decoder = get(ENCODER_OUTPUT), get(DECODER_LAYER)

    def gru(cell):
        return GRUWeights(cell.kernel, cell.recurrent_kernel, cell.bias)

    def dense(layer):
        return layer.kernel, layer.bias

    return SRNWeights(
        blocks, dense(get("column_proj")), gru(encoder.forward_layer.cell),
        gru(encoder.backward_layer.cell), dense(get(CTC_OUTPUT)),
        decoder.embedding.embeddings, gru(decoder.gru.cell), dense(decoder.init_state),
        decoder.key_proj.kernel, dense(decoder.combine), dense(decoder.classifier))


# ---------------------------------------------------------------------------- a file

def _snake_case(name: str) -> str:
    """Keras's generic object name for a class (`BatchNormalization` -> `batch_normalization`,
    `Conv2D` -> `conv2d`): a capital that starts a word, or follows a small letter, begins a
    new part."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _saved_names(config: dict) -> dict[str, str]:
    """Our layer name -> the group Keras saves its variables under (`conv2d_1`)."""
    used: dict[str, int] = {}
    names = {}
    for layer in config["layers"]:
        base = _snake_case(layer["class_name"])
        count = used.get(base, 0)
        used[base] = count + 1
        names[layer["config"]["name"]] = base if count == 0 else f"{base}_{count}"
    return names


def read_weights(path) -> SRNWeights | None:
    """The arrays of a `model.keras` SRN, read without Keras; None when the file is not the
    `build_srn` chain or its weights are not where and of the shape this layout expects.
    Raises OSError/KeyError/ValueError (zipfile, h5py) for a file that cannot be read."""
    import h5py
    import numpy as np

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))["config"]
        layout = srn_layout(config)
        if layout is None:
            return None
        saved = _saved_names(config)
        configs = {layer["config"]["name"]: layer["config"] for layer in config["layers"]}
        # Read whole first: h5py seeks back and forth, and a zip member (Python 3.11) seeks back
        # by reading again from its start, checking the CRC as it goes (the printed model's
        # weights took 0.17 s to read that way, 0.06 s read whole).
        raw = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(raw, "r") as h5:
            def variables(layer: str, inner: str = "") -> list:
                group = h5.get(f"layers/{saved[layer]}{inner}/vars")
                if group is None:
                    raise LookupError(f"{layer}{inner}")
                return [np.asarray(group[str(i)]) for i in range(len(group))]

            try:
                blocks = []
                for index, pool in layout:
                    (kernel,) = variables(f"conv{index}")
                    gamma, beta, mean, variance = variables(f"bn{index}")
                    epsilon = float(configs[f"bn{index}"]["epsilon"])
                    blocks.append(ConvBlock(kernel, gamma, beta, mean, variance, epsilon, pool))
                weights = SRNWeights(
                    blocks, tuple(variables("column_proj")),
                    GRUWeights(*variables(ENCODER_OUTPUT, "/forward_layer/cell")),
                    GRUWeights(*variables(ENCODER_OUTPUT, "/backward_layer/cell")),
                    tuple(variables(CTC_OUTPUT)),
                    *variables(DECODER_LAYER, "/embedding"),
                    GRUWeights(*variables(DECODER_LAYER, "/gru/cell")),
                    tuple(variables(DECODER_LAYER, "/init_state")),
                    *variables(DECODER_LAYER, "/key_proj"),
                    tuple(variables(DECODER_LAYER, "/combine")),
                    tuple(variables(DECODER_LAYER, "/classifier")))
            except (LookupError, TypeError, ValueError):  # missing group or wrong count
                return None
    return weights if _shapes_fit(weights) else None


def _shapes_fit(w: SRNWeights) -> bool:
    """Whether the arrays chain together (each layer's input is the previous layer's output):
    a layout that put one layer's arrays under another's name fails here."""
    channels = 1
    for block in w.blocks:
        k = block.kernel.shape
        if len(k) != 4 or k[2] != channels or any(
                v.shape != (k[3],) for v in (block.gamma, block.beta, block.mean, block.variance)):
            return False
        channels = k[3]
    units = w.forward.recurrent_kernel.shape[0]
    proj_in, proj_out = w.column_proj[0].shape  # proj_in: feature-map rows x channels
    if proj_in % channels or w.column_proj[1].shape != (proj_out,):
        return False
    for gru, inputs in ((w.forward, proj_out), (w.backward, proj_out)):
        if (gru.kernel.shape != (inputs, 3 * units) or gru.recurrent_kernel.shape != (units, 3 * units)
                or gru.bias.shape != (2, 3 * units)):
            return False
    encoded = 2 * units
    vocab = w.ctc[0].shape[1]
    dec_units = w.decoder_gru.recurrent_kernel.shape[0]
    embed = w.embedding.shape[1]
    expected = [
        (w.ctc[0].shape, (encoded, vocab)), (w.ctc[1].shape, (vocab,)),
        (w.embedding.shape, (vocab, embed)),
        (w.decoder_gru.kernel.shape, (embed, 3 * dec_units)),
        (w.decoder_gru.recurrent_kernel.shape, (dec_units, 3 * dec_units)),
        (w.decoder_gru.bias.shape, (2, 3 * dec_units)),
        (w.init_state[0].shape, (encoded, dec_units)), (w.init_state[1].shape, (dec_units,)),
        (w.key_proj.shape, (encoded, dec_units)),
        (w.combine[0].shape, (encoded + dec_units, dec_units)),
        (w.combine[1].shape, (dec_units,)),
        (w.classifier[0].shape, (dec_units, vocab)), (w.classifier[1].shape, (vocab,)),
    ]
    return all(tuple(actual) == expected_shape for actual, expected_shape in expected)
