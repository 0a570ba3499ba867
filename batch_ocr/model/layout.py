"""What every SRN shares, without Keras: its layer names, the encoder's width stride and which
encoder steps cover real pixels. Kept apart from `build` and `layers` so that reading a model file
and running it (weights, inference, decode) never import Keras."""
from __future__ import annotations

from batch_ocr.tf_core import import_core

ENCODER_OUTPUT = "encoded"
CTC_OUTPUT = "ctc_logits"
DECODER_LAYER = "decoder"

# Encoder time steps per input pixel column: the feature extractor halves the width twice.
WIDTH_STRIDE = 4


def valid_steps(widths, max_steps):
    """Encoder steps that cover real pixels for each crop width (the rest is batch padding)."""
    tf = import_core()
    steps = (tf.cast(widths, tf.int32) + WIDTH_STRIDE - 1) // WIDTH_STRIDE
    return tf.clip_by_value(steps, 1, max_steps)
