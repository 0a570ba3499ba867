"""Build the SRN graph: CNN feature extractor -> map-to-sequence -> BiGRU encoder -> attention
decoder, plus a CTC head on the encoder.

The CTC head is our addition to the seed's design: trained jointly (hybrid CTC/attention), it forces
the encoder states to line up with characters, which makes the attention decoder converge in far
fewer steps on a CPU, and its own greedy reading gives an independent check for the confidence.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import keras
from keras import layers

from batch_ocr.model.layers import AttentionDecoder
from batch_ocr.model.layout import CTC_OUTPUT, DECODER_LAYER, ENCODER_OUTPUT


@dataclass
class SRNConfig:
    height: int = 32
    vocab_size: int = 177
    # (channels, pool) per conv block; pools (2, 2) twice give WIDTH_STRIDE = 4.
    conv: list = field(default_factory=lambda: [
        [32, [2, 2]], [64, [2, 2]], [96, None], [96, [2, 1]], [128, None], [128, [2, 1]]])
    encoder_units: int = 128
    decoder_units: int = 256
    embed_dim: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


def _conv_block(x, channels: int, pool, index: int):
    x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"conv{index}")(x)
    x = layers.BatchNormalization(name=f"bn{index}")(x)
    x = layers.ReLU(name=f"relu{index}")(x)
    if pool:
        x = layers.MaxPooling2D(tuple(pool), padding="same", name=f"pool{index}")(x)
    return x


def build_srn(config: SRNConfig) -> keras.Model:
    """Training graph: [images (B,H,W,1), widths (B,), decoder inputs (B,L)] -> [attention logits,
    CTC logits]. Inference reuses its layers (see batch_ocr.model.decode)."""
    images = keras.Input((config.height, None, 1), name="images")
    widths = keras.Input((), dtype="int32", name="widths")
    tokens = keras.Input((None,), dtype="int32", name="tokens")

    x = images
    for index, (channels, pool) in enumerate(config.conv):
        x = _conv_block(x, channels, pool, index)
    rows = config.height
    for _, pool in config.conv:
        if pool:
            rows = (rows + pool[0] - 1) // pool[0]
    # Map-to-sequence: every column of the feature map becomes one time step.
    x = layers.Permute((2, 1, 3), name="columns_first")(x)
    x = layers.Reshape((-1, rows * config.conv[-1][0]), name="map_to_sequence")(x)
    x = layers.Dense(config.encoder_units * 2, activation="relu", name="column_proj")(x)
    encoded = layers.Bidirectional(
        layers.GRU(config.encoder_units, return_sequences=True), name=ENCODER_OUTPUT)(x)
    ctc_logits = layers.Dense(config.vocab_size, name=CTC_OUTPUT)(encoded)
    decoder = AttentionDecoder(config.vocab_size, config.embed_dim, config.decoder_units,
                               name=DECODER_LAYER)
    logits = decoder([tokens, encoded, widths])
    return keras.Model([images, widths, tokens], [logits, ctc_logits], name="srn")
