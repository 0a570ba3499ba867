"""Keras-serialisable layers of the SRN decoder.

Registered under the `batch_ocr` package so a saved `model.keras` loads with `safe_mode=True`
(no Lambda layers, no pickled Python).
"""
from __future__ import annotations

import keras
from keras import ops

from batch_ocr.model.layout import WIDTH_STRIDE


@keras.saving.register_keras_serializable(package="batch_ocr")
class AttentionDecoder(keras.layers.Layer):
    """GRU decoder with Luong 'general' attention over the encoder states.

    Training runs the GRU over the whole teacher-forced sequence at once and attends for all steps
    in one batched matmul (Luong attention without input feeding), which is several times faster on
    a CPU than stepping a cell. Inference uses `step`, the same weights one token at a time.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, units: int = 256, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.units = units
        self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.gru = keras.layers.GRU(units, return_sequences=True, return_state=True, name="gru")
        self.init_state = keras.layers.Dense(units, activation="tanh", name="init_state")
        self.key_proj = keras.layers.Dense(units, use_bias=False, name="key_proj")
        self.combine = keras.layers.Dense(units, activation="tanh", name="combine")
        self.classifier = keras.layers.Dense(vocab_size, name="classifier")

    def build(self, input_shapes):
        tokens_shape, encoded_shape, _ = input_shapes
        batch = tokens_shape[0]
        enc_dim = encoded_shape[-1]
        self.embedding.build(tokens_shape)
        self.gru.build((batch, None, self.embed_dim))
        self.init_state.build((batch, enc_dim))
        self.key_proj.build((batch, None, enc_dim))
        self.combine.build((batch, None, enc_dim + self.units))
        self.classifier.build((batch, None, self.units))
        self.built = True

    def prepare(self, encoded, widths):
        """Per-batch work shared by every decoding step: mask, attention keys, first state."""
        mask = ops.arange(ops.shape(encoded)[1])[None, :] < _valid_steps(widths, ops.shape(encoded)[1])[:, None]
        maskf = ops.cast(mask, encoded.dtype)
        mean = ops.sum(encoded * maskf[:, :, None], axis=1) / ops.sum(maskf, axis=1, keepdims=True)
        return mask, self.key_proj(encoded), self.init_state(mean)

    def attend(self, queries, keys, encoded, mask):
        """Luong general attention: queries (B, L, U) over keys (B, T, U) -> attentional states."""
        scores = ops.matmul(queries, ops.transpose(keys, (0, 2, 1)))
        scores = ops.where(mask[:, None, :], scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        context = ops.matmul(weights, encoded)
        return self.combine(ops.concatenate([context, queries], axis=-1))

    def call(self, inputs):
        """Teacher forcing: tokens (B, L) starting with GO -> logits (B, L, vocab)."""
        tokens, encoded, widths = inputs
        mask, keys, state = self.prepare(encoded, widths)
        outputs, _ = self.gru(self.embedding(tokens), initial_state=state)
        return self.classifier(self.attend(outputs, keys, encoded, mask))

    def step(self, tokens, state, keys, encoded, mask):
        """One greedy step: previous tokens (B,) and state (B, U) -> (probabilities (B, V), state)."""
        output, new_state = self.gru.cell(self.embedding(tokens), [state], training=False)
        if isinstance(new_state, (list, tuple)):
            new_state = new_state[0]
        attentional = self.attend(output[:, None, :], keys, encoded, mask)[:, 0, :]
        return ops.softmax(self.classifier(attentional), axis=-1), new_state

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, embed_dim=self.embed_dim, units=self.units)
        return config


def _valid_steps(widths, max_steps):
    """layout.valid_steps in Keras ops: the layer also trains on Keras's JAX backend
    (jobs/train_printed_gpu.py), where TensorFlow is not installed."""
    steps = ops.floor_divide(ops.cast(widths, "int32") + WIDTH_STRIDE - 1, WIDTH_STRIDE)
    return ops.clip(steps, 1, max_steps)
