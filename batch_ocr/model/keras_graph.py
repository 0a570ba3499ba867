"""The decoding interface of `PlainSRN` (encode, prepare, step) over a Keras SRN's own layers,
for graphs that are not the chain `build_srn` makes: slower than the plain ops, and it needs Keras
(the whole of TensorFlow) loaded."""
from __future__ import annotations

import keras

from batch_ocr.model.layout import CTC_OUTPUT, DECODER_LAYER, ENCODER_OUTPUT


class KerasSRN:
    """The `PlainSRN` interface over the Keras layers themselves, for graphs that are not the
    chain `build_srn` makes (slower)."""

    def __init__(self, model: keras.Model):
        self.encoder = keras.Model(
            model.get_layer("images").output,
            [model.get_layer(ENCODER_OUTPUT).output, model.get_layer(CTC_OUTPUT).output],
            name="srn_encoder")
        self.decoder = model.get_layer(DECODER_LAYER)

    def encode(self, images):
        return self.encoder(images, training=False)

    def prepare(self, encoded, widths):
        mask, keys, state = self.decoder.prepare(encoded, widths)
        return (keys, encoded, mask), state

    def step(self, tokens, state, memory):
        return self.decoder.step(tokens, state, *memory)
