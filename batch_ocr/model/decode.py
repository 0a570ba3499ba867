"""Vectorised greedy decoding for a whole batch inside one compiled `tf.function`.

Every sequence in the batch advances together in a `tf.while_loop`; the loop ends as soon as all
of them have emitted EOS, or at a per-sequence length cap derived from the crop width (a character
is never narrower than one encoder step, so a crop of T steps cannot hold more than T characters).
The input signature leaves batch size and width dynamic, so the function is traced once per model,
not once per batch shape.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from batch_ocr.charset import EOS, GO, PAD
from batch_ocr.model.build import CTC_OUTPUT, DECODER_LAYER, ENCODER_OUTPUT
from batch_ocr.model.inference import folded_encoder
from batch_ocr.model.layers import valid_steps

# Absolute ceiling on decoded length; segmentation keeps pieces far shorter than this.
HARD_LENGTH_CAP = 160


class GreedyDecoder:
    """Wraps a trained SRN graph: `decode(images, widths, max_length)` -> attention tokens and
    their probabilities (B, steps), CTC tokens and their probabilities (B, T), and the valid CTC
    steps per crop (B,)."""

    def __init__(self, model: keras.Model, height: int):
        self.height = height
        self.encoder = folded_encoder(model, keras.Model(
            model.get_layer("images").output,
            [model.get_layer(ENCODER_OUTPUT).output, model.get_layer(CTC_OUTPUT).output],
            name="srn_encoder"))
        self.decoder = model.get_layer(DECODER_LAYER)
        self.trace_count = 0
        self.decode = tf.function(
            self._decode,
            input_signature=[tf.TensorSpec([None, height, None, 1], tf.float32),
                             tf.TensorSpec([None], tf.int32),
                             tf.TensorSpec([], tf.int32)],
            # The loop is written with tf.while_loop already: converting the Python source
            # (autograph) only cost a fifth of a second at the first batch of every run.
            reduce_retracing=True, autograph=False)

    def _decode(self, images, widths, max_length):
        # Python side effect: runs only while tracing, so tests can count retraces.
        self.trace_count += 1
        encoded, ctc_logits = self.encoder(images, training=False)
        mask, keys, state = self.decoder.prepare(encoded, widths)
        batch = tf.shape(encoded)[0]
        caps = valid_steps(widths, tf.shape(encoded)[1]) + 1  # +1 for EOS
        caps = tf.minimum(caps, max_length + 1)
        steps = tf.minimum(tf.reduce_max(caps), HARD_LENGTH_CAP)

        def keep_going(i, *_):
            return i < steps

        def body(i, previous, state, finished, tokens_ta, probs_ta):
            probs, state = self.decoder.step(previous, state, keys, encoded, mask)
            token = tf.argmax(probs, axis=-1, output_type=tf.int32)
            prob = tf.reduce_max(probs, axis=-1)
            token = tf.where(finished, PAD, token)
            prob = tf.where(finished, tf.ones_like(prob), prob)
            finished = finished | tf.equal(token, EOS) | (i + 1 >= caps)
            tokens_ta = tokens_ta.write(i, token)
            probs_ta = probs_ta.write(i, prob)
            # Stop the loop itself once every sequence is done (the batch's longest one).
            i = tf.where(tf.reduce_all(finished), steps, i + 1)
            return i, token, state, finished, tokens_ta, probs_ta

        start = (tf.constant(0), tf.fill([batch], GO), state, tf.zeros([batch], tf.bool),
                 tf.TensorArray(tf.int32, size=0, dynamic_size=True),
                 tf.TensorArray(tf.float32, size=0, dynamic_size=True))
        _, _, _, _, tokens_ta, probs_ta = tf.while_loop(keep_going, body, start)
        tokens = tf.transpose(tokens_ta.stack())
        probs = tf.transpose(probs_ta.stack())
        ctc_probs = tf.nn.softmax(tf.cast(ctc_logits, tf.float32), axis=-1)
        ctc_tokens = tf.argmax(ctc_probs, axis=-1, output_type=tf.int32)
        ctc_lengths = valid_steps(widths, tf.shape(encoded)[1])
        return tokens, probs, ctc_tokens, tf.reduce_max(ctc_probs, axis=-1), ctc_lengths
