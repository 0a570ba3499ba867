"""The SRN for inference in plain TensorFlow ops: the same weights as the Keras graph, computed
the way a CPU likes best (with bfloat16, 600 bench lines in 1.1-1.2 s against 1.67 s for the
Keras layers under TensorFlow's mixed-precision rewrite; in float32 a few per cent faster).

- Each batch normalisation is folded into its convolution. At inference it is a per-channel scale
  and shift, so `bn(conv(x, W))` equals `conv(x, W * s) + b` with `s = gamma / sqrt(var + eps)` and
  `b = beta - mean * s`; the folded convolution, its bias and the ReLU run as one fused kernel
  instead of a convolution and three passes over the feature map (the CNN a sixth faster).
- The bidirectional GRU runs both directions in one loop over time (half the sequential steps of
  Keras's two loops), with the input projections of every time step computed up front in one
  large product.
- The decoder's per-batch work is done once before its loop (`prepare`): the GRU's input product
  of every token, the context half of Luong attention's `combine` applied to the encoder states,
  the mask as an additive bias, every weight read.
- With bfloat16 (tf_setup.use_bfloat16_inference) the convolutions and the products outside the
  recurrent loops run in bfloat16, where AMX and AVX512-BF16 make them several times faster; the
  recurrences, softmaxes and sums stay in float32: their per-step products are too small to gain
  and the casts would cost (the Grappler mixed-precision rewrite, which converts every product,
  made the recurrent loops slower than float32).

The weights (batch_ocr.model.weights) are a live Keras model's variables, read inside the graph
on every call, so inference follows a model that is still training (validation during
`batch-ocr train`), or arrays read from a model file. Outputs match the Keras graph to float
rounding (~1e-5; tests).
"""
from __future__ import annotations

from batch_ocr.model.layout import valid_steps
from batch_ocr.model.weights import SRNWeights
from batch_ocr.tf_core import import_core

tf = import_core()  # the slice of TensorFlow inference needs (fast start-up), or all of it


def _product(x, kernel, dtype=tf.float32):
    """x @ kernel on the last axis of `x` (any rank), multiplied in `dtype`, returned as float32."""
    x, kernel = tf.cast(x, dtype), tf.cast(kernel, dtype)
    if x.shape.rank == 2:
        return tf.cast(tf.matmul(x, kernel), tf.float32)
    # One 2-D product over all leading axes (tensordot builds the same from a score of shape ops).
    leading = tf.shape(x)[:-1]
    y = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), kernel)
    return tf.reshape(tf.cast(y, tf.float32), tf.concat([leading, [kernel.shape[-1]]], 0))


def _affine(weights: tuple, x, dtype=tf.float32):
    """A Dense layer's product and bias (its activation is the caller's)."""
    kernel, bias = weights
    return _product(x, kernel, dtype) + bias


def _gru_gates(matrix_x, matrix_inner, state):
    """One Keras GRU update (reset_after, tanh/sigmoid) from the two products: inputs @ kernel +
    input bias and state @ recurrent kernel + recurrent bias, gate order z, r, h."""
    x_z, x_r, x_h = tf.split(matrix_x, 3, axis=-1)
    h_z, h_r, h_h = tf.split(matrix_inner, 3, axis=-1)
    z = tf.sigmoid(x_z + h_z)
    r = tf.sigmoid(x_r + h_r)
    candidate = tf.tanh(x_h + r * h_h)
    return z * state + (1.0 - z) * candidate


class PlainSRN:
    """`encode(images) -> (encoded, ctc_logits)`, `prepare(encoded, widths) -> (memory, state)`
    and `step(tokens, state, memory) -> (probabilities, state)`: the Keras encoder and
    `AttentionDecoder` in plain ops, over `SRNWeights` (batch_ocr.model.weights)."""

    def __init__(self, weights: SRNWeights, bulk_dtype=tf.float32):
        self.w = weights
        self.bulk = bulk_dtype

    # ----------------------------------------------------------------------------- encoder

    def encode(self, images):
        w = self.w
        x = tf.cast(images, self.bulk)
        for block in w.blocks:
            scale = block.gamma * tf.math.rsqrt(block.variance + block.epsilon)
            shift = block.beta - block.mean * scale
            x = tf.nn.conv2d(x, tf.cast(block.kernel * scale, self.bulk), strides=1, padding="SAME")
            x = tf.nn.relu(tf.nn.bias_add(x, tf.cast(shift, self.bulk)))
            if block.pool is not None:
                x = tf.nn.max_pool2d(x, block.pool, block.pool, padding="SAME")
        shape = tf.shape(x)
        # Map-to-sequence: every column of the feature map becomes one time step.
        x = tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [shape[0], shape[2], x.shape[1] * x.shape[3]])
        x = tf.nn.relu(_affine(w.column_proj, x, self.bulk))
        encoded = self._bidirectional_gru(x)
        return encoded, _affine(w.ctc, encoded, self.bulk)

    def _bidirectional_gru(self, x):
        """Keras Bidirectional(GRU, merge_mode="concat") over the whole (padded) sequence: the
        backward direction reads it from the last column, as Keras's go_backwards does."""
        cells = (self.w.forward, self.w.backward)
        units = self.w.forward.recurrent_kernel.shape[0]
        steps = tf.shape(x)[1]
        biases = [tf.convert_to_tensor(cell.bias) for cell in cells]
        # (2, T, B, 3U): both directions' input projections, the backward one in its own order.
        projected = [_product(x, cell.kernel, self.bulk) + bias[0]
                     for cell, bias in zip(cells, biases)]
        projected[1] = tf.reverse(projected[1], axis=[1])
        inputs = tf.transpose(tf.stack(projected), [2, 0, 1, 3])  # (T, 2, B, 3U)
        # Two products per step rather than one batched product of both: 1.5 times as fast.
        forward_kernel, backward_kernel = (tf.convert_to_tensor(c.recurrent_kernel) for c in cells)
        recurrent_bias = tf.expand_dims(tf.stack([bias[1] for bias in biases]), 1)  # (2, 1, 3U)
        state = tf.zeros([2, tf.shape(x)[0], units], x.dtype)
        states = tf.TensorArray(x.dtype, size=steps, element_shape=[2, None, units])

        def body(t, state, states):
            inner = tf.stack([tf.matmul(state[0], forward_kernel),
                              tf.matmul(state[1], backward_kernel)]) + recurrent_bias
            state = _gru_gates(inputs[t], inner, state)
            return t + 1, state, states.write(t, state)

        _, _, states = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), state, states))
        states = states.stack()
        forward = tf.transpose(states[:, 0], [1, 0, 2])
        backward = tf.transpose(tf.reverse(states[:, 1], axis=[0]), [1, 0, 2])
        return tf.concat([forward, backward], axis=-1)

    # ----------------------------------------------------------------------------- decoder

    def prepare(self, encoded, widths):
        """Per-batch work shared by every decoding step -> (memory for `step`, first state).

        As `AttentionDecoder.prepare` (mask, attention keys, first state from the mean of the
        valid encoder steps), plus what a step would otherwise recompute: the mask as an additive
        bias, the decoder GRU's input product for every vocabulary token (a step gathers its
        row), and the encoder states already multiplied by the context half of `combine`'s
        kernel: the context is a weighted sum of encoder states, so weighting the products gives
        the same sum without a product per step. Every weight is read here once, not per step.
        """
        w = self.w
        steps = tf.shape(encoded)[1]
        mask = tf.expand_dims(tf.range(steps), 0) < tf.expand_dims(valid_steps(widths, steps), 1)
        maskf = tf.expand_dims(tf.cast(mask, encoded.dtype), 2)
        mean = tf.reduce_sum(encoded * maskf, axis=1) / tf.reduce_sum(maskf, axis=1)
        context_dim = encoded.shape[-1]
        combine_kernel = tf.convert_to_tensor(w.combine[0])
        gru_bias = tf.convert_to_tensor(w.decoder_gru.bias)
        memory = {
            "keys": _product(encoded, w.key_proj, self.bulk),
            "values": _product(encoded, combine_kernel[:context_dim], self.bulk),
            "mask_bias": (1.0 - tf.cast(mask, tf.float32)) * -1e9,
            "token_inputs": _product(w.embedding, w.decoder_gru.kernel, self.bulk) + gru_bias[0],
            "recurrent_kernel": tf.convert_to_tensor(w.decoder_gru.recurrent_kernel),
            "recurrent_bias": gru_bias[1],
            "query_kernel": combine_kernel[context_dim:],
            "combine_bias": tf.convert_to_tensor(w.combine[1]),
            "classifier_kernel": tf.convert_to_tensor(w.classifier[0]),
            "classifier_bias": tf.convert_to_tensor(w.classifier[1]),
        }
        return memory, tf.tanh(_affine(w.init_state, mean))

    def step(self, tokens, state, memory):
        """One greedy step: previous tokens (B,) and state (B, U) -> (probabilities (B, V),
        state), the arithmetic of `AttentionDecoder.step`."""
        matrix_inner = tf.matmul(state, memory["recurrent_kernel"]) + memory["recurrent_bias"]
        state = _gru_gates(tf.gather(memory["token_inputs"], tokens), matrix_inner, state)
        scores = tf.einsum("bu,btu->bt", state, memory["keys"]) + memory["mask_bias"]
        weights = tf.nn.softmax(scores, axis=-1)
        # Attention reads all keys and values every step (memory-bound at 64 x 100 x 256):
        # keeping them in bfloat16 was no faster, so they stay float32.
        attentional = tf.tanh(tf.einsum("bt,btu->bu", weights, memory["values"])
                              + tf.matmul(state, memory["query_kernel"])
                              + memory["combine_bias"])
        logits = tf.matmul(attentional, memory["classifier_kernel"]) + memory["classifier_bias"]
        return tf.nn.softmax(logits, axis=-1), state


def as_tensors(weights: SRNWeights) -> SRNWeights:
    """Arrays read from a file as TensorFlow tensors. A traced graph captures each large one as an
    input, not as a constant (megabytes of constants in every graph), as it reads a live model's
    variables. Tensors are quicker to make than variables (the 51 of a model: 0.05 s against 0.08
    at the start of a run) and leave their reads out of the graph."""
    import dataclasses

    def convert(value):
        if dataclasses.is_dataclass(value):
            return type(value)(**{f.name: convert(getattr(value, f.name))
                                  for f in dataclasses.fields(value)})
        if isinstance(value, (list, tuple)) and not isinstance(value, str):
            return type(value)(convert(v) for v in value)
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return tf.constant(value)
        return value

    return convert(weights)
