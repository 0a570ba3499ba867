"""Vectorised greedy decoding for a whole batch inside one compiled `tf.function`.

Every sequence in the batch advances together in a `tf.while_loop`; the loop ends as soon as all
of them have emitted EOS, or at a per-sequence length cap derived from the crop width (a character
is never narrower than one encoder step, so a crop of T steps cannot hold more than T characters).
The input signature leaves batch size and width dynamic, so the function is traced once per model,
not once per batch shape.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from batch_ocr.charset import EOS, GO, PAD
from batch_ocr.model.inference import PlainSRN
from batch_ocr.model.layout import valid_steps
from batch_ocr.model.weights import SRNWeights, weights_of_model
from batch_ocr.tf_core import import_core

if TYPE_CHECKING:
    import keras

    from batch_ocr.model.keras_graph import KerasSRN

tf = import_core()  # the slice of TensorFlow decoding needs (fast start-up), or all of it

# Absolute ceiling on decoded length; segmentation keeps pieces far shorter than this.
HARD_LENGTH_CAP = 160


class GreedyDecoder:
    """Wraps a trained SRN: `decode(images, widths, max_length)` -> attention tokens and their
    probabilities (B, steps), CTC tokens and their probabilities (B, T), and the valid CTC steps
    per crop (B,). `source` is a Keras SRN or its weights (batch_ocr.model.weights); `bfloat16`
    runs the plain graph's bulk products in bfloat16 (tf_setup.use_bfloat16_inference)."""

    def __init__(self, source: keras.Model | SRNWeights, height: int, bfloat16: bool = False):
        self.height = height
        weights = source if isinstance(source, SRNWeights) else weights_of_model(source)
        bulk = tf.bfloat16 if bfloat16 else tf.float32
        if weights is None:  # not the chain build_srn makes: run its Keras layers
            from batch_ocr.model.keras_graph import KerasSRN

            self.graph: PlainSRN | KerasSRN = KerasSRN(source)
        else:
            self.graph = PlainSRN(weights, bulk)
        self.trace_count = 0
        self.signature = [tf.TensorSpec([None, height, None, 1], tf.float32),
                          tf.TensorSpec([None], tf.int32),
                          tf.TensorSpec([], tf.int32)]
        self.decode = tf.function(
            self._decode, input_signature=self.signature,
            # The loops are written with tf.while_loop already: converting the Python source
            # (autograph) only cost a fifth of a second at the first batch of every run.
            reduce_retracing=True, autograph=False)

    def _decode(self, images, widths, max_length):
        # Python side effect: runs only while tracing, so tests can count retraces.
        self.trace_count += 1
        graph = self.graph
        encoded, ctc_logits = graph.encode(images)
        memory, state = graph.prepare(encoded, widths)
        batch = tf.shape(encoded)[0]
        caps = valid_steps(widths, tf.shape(encoded)[1]) + 1  # +1 for EOS
        caps = tf.minimum(caps, max_length + 1)
        steps = tf.minimum(tf.reduce_max(caps), HARD_LENGTH_CAP)

        def keep_going(i, previous, state, finished, *_):
            # Stop once every sequence is done: the loop runs to the batch's longest sequence.
            return (i < steps) & tf.logical_not(tf.reduce_all(finished))

        def body(i, previous, state, finished, tokens_ta, probs_ta):
            step_probs, state = graph.step(previous, state, memory)
            token = tf.argmax(step_probs, axis=-1, output_type=tf.int32)
            prob = tf.reduce_max(step_probs, axis=-1)
            token = tf.where(finished, PAD, token)
            prob = tf.where(finished, tf.ones_like(prob), prob)
            finished = finished | tf.equal(token, EOS) | (i + 1 >= caps)
            return i + 1, token, state, finished, tokens_ta.write(i, token), probs_ta.write(i, prob)

        start = (tf.constant(0), tf.fill([batch], GO), state, tf.zeros([batch], tf.bool),
                 tf.TensorArray(tf.int32, size=0, dynamic_size=True),
                 tf.TensorArray(tf.float32, size=0, dynamic_size=True))
        _, _, _, _, tokens_ta, probs_ta = tf.while_loop(keep_going, body, start)
        ctc_probs = tf.nn.softmax(tf.cast(ctc_logits, tf.float32), axis=-1)
        ctc_tokens = tf.argmax(ctc_probs, axis=-1, output_type=tf.int32)
        ctc_lengths = valid_steps(widths, tf.shape(encoded)[1])
        return (tf.transpose(tokens_ta.stack()), tf.transpose(probs_ta.stack()), ctc_tokens,
                tf.reduce_max(ctc_probs, axis=-1), ctc_lengths)
