"""The plain-op inference graph (batch norms folded, both GRU directions in one loop) against
the Keras graph it stands in for."""
import numpy as np
import tensorflow as tf

from batch_ocr.model.build import CTC_OUTPUT, ENCODER_OUTPUT, SRNConfig, build_srn
from batch_ocr.model.decode import GreedyDecoder
from batch_ocr.model.keras_graph import KerasSRN
from batch_ocr.model.inference import PlainSRN
from batch_ocr.model.weights import weights_of_model

TINY = SRNConfig(height=16, vocab_size=8, conv=[[4, [2, 2]], [6, None], [4, [2, 1]], [4, [2, 1]]],
                 encoder_units=4, decoder_units=8, embed_dim=4)


def _trained_looking_model(seed: int = 0):
    """A tiny SRN whose batch norms hold statistics far from the identity, as after training
    (the other weights from Keras's initialisers, seeded: the same model on every run)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_srn(TINY)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.name.startswith("bn"):
            channels = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2.0, channels), rng.normal(0, 1, channels),
                               rng.normal(0, 2, channels), rng.uniform(0.1, 5.0, channels)])
    return model


def _keras_encoder(model):
    import keras

    return keras.Model(model.get_layer("images").output,
                       [model.get_layer(ENCODER_OUTPUT).output, model.get_layer(CTC_OUTPUT).output])


def _images(seed, batch, width):
    return np.random.default_rng(seed).random((batch, TINY.height, width, 1)).astype("float32")


def test_plain_encoder_matches_the_keras_graph():
    model = _trained_looking_model()
    keras_encoder = _keras_encoder(model)
    graph = PlainSRN(weights_of_model(model))
    images = _images(1, 3, 57)
    for expected, actual in zip(keras_encoder(images, training=False), graph.encode(images)):
        assert expected.shape == actual.shape
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_plain_encoder_follows_weights_that_change_after_it_is_built():
    model = _trained_looking_model()
    graph = PlainSRN(weights_of_model(model))
    model.get_layer("bn1").moving_mean.assign(np.full(6, 3.0, "float32"))  # training goes on
    backward = model.get_layer(ENCODER_OUTPUT).backward_layer.cell
    backward.recurrent_kernel.assign(backward.recurrent_kernel.numpy() * 2.0)
    images = _images(2, 2, 40)
    expected = _keras_encoder(model)(images, training=False)[0].numpy()
    np.testing.assert_allclose(graph.encode(images)[0].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_bfloat16_products_stay_close_to_float32():
    model = _trained_looking_model()
    images = _images(5, 2, 64)
    exact = PlainSRN(weights_of_model(model)).encode(images)[0].numpy()
    bfloat16 = PlainSRN(weights_of_model(model), tf.bfloat16).encode(images)[0]
    assert bfloat16.dtype == tf.float32  # the recurrences and everything after stay float32
    np.testing.assert_allclose(bfloat16.numpy(), exact, atol=0.05)
    assert not np.array_equal(bfloat16.numpy(), exact)  # it did compute in bfloat16


def test_other_graphs_run_the_keras_layers():
    model = _trained_looking_model()
    model.get_layer("conv1").padding = "valid"  # not the chain build_srn makes
    assert weights_of_model(model) is None
    assert isinstance(GreedyDecoder(model, TINY.height).graph, KerasSRN)


def test_decoder_with_the_plain_graph_reads_what_keras_reads():
    model = _trained_looking_model(3)
    images = _images(4, 4, 90)
    widths = np.array([90, 60, 33, 12], dtype=np.int32)
    decoder = GreedyDecoder(model, TINY.height)
    assert isinstance(decoder.graph, PlainSRN)
    plain = [t.numpy() for t in decoder.decode(images, widths, 20)]
    decoder.graph = KerasSRN(model)
    keras_reading = [t.numpy() for t in decoder._decode(images, widths, 20)]  # eager, Keras
    assert np.array_equal(plain[0], keras_reading[0])  # same tokens
    np.testing.assert_allclose(plain[1], keras_reading[1], atol=1e-4)
    assert np.array_equal(plain[2], keras_reading[2])  # same CTC reading
    np.testing.assert_allclose(plain[3], keras_reading[3], atol=1e-4)
