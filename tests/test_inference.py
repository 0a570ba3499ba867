"""The inference encoder (batch norms folded into convolutions) against the Keras graph."""
import numpy as np

from batch_ocr.model.build import CTC_OUTPUT, ENCODER_OUTPUT, SRNConfig, build_srn
from batch_ocr.model.decode import GreedyDecoder
from batch_ocr.model.inference import FoldedEncoder, folded_encoder

TINY = SRNConfig(height=16, vocab_size=8, conv=[[4, [2, 2]], [6, None], [4, [2, 1]], [4, [2, 1]]],
                 encoder_units=4, decoder_units=8, embed_dim=4)


def _trained_looking_model(seed: int = 0):
    """A tiny SRN whose batch norms hold statistics far from the identity, as after training."""
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


def test_folded_encoder_matches_the_keras_graph():
    model = _trained_looking_model()
    keras_encoder = _keras_encoder(model)
    encoder = folded_encoder(model, keras_encoder)
    assert isinstance(encoder, FoldedEncoder)
    images = np.random.default_rng(1).random((3, TINY.height, 57, 1)).astype("float32")
    for expected, actual in zip(keras_encoder(images, training=False), encoder(images)):
        assert expected.shape == actual.shape
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_folded_encoder_follows_weights_that_change_after_it_is_built():
    model = _trained_looking_model()
    encoder = folded_encoder(model, _keras_encoder(model))
    model.get_layer("bn1").moving_mean.assign(np.full(6, 3.0, "float32"))  # training goes on
    images = np.random.default_rng(2).random((2, TINY.height, 40, 1)).astype("float32")
    expected = _keras_encoder(model)(images, training=False)[0].numpy()
    np.testing.assert_allclose(encoder(images)[0].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_other_graphs_keep_the_keras_encoder():
    model = _trained_looking_model()
    model.get_layer("conv1").padding = "valid"  # not the chain build_srn makes
    keras_encoder = _keras_encoder(model)
    assert folded_encoder(model, keras_encoder) is keras_encoder


def test_decoder_with_the_folded_encoder_reads_what_keras_reads():
    model = _trained_looking_model(3)
    images = np.random.default_rng(4).random((4, TINY.height, 90, 1)).astype("float32")
    widths = np.array([90, 60, 33, 12], dtype=np.int32)
    decoder = GreedyDecoder(model, TINY.height)
    assert isinstance(decoder.encoder, FoldedEncoder)
    folded = [t.numpy() for t in decoder.decode(images, widths, 20)]
    decoder.encoder = _keras_encoder(model)
    plain = [t.numpy() for t in decoder._decode(images, widths, 20)]  # eager, through Keras
    assert np.array_equal(folded[0], plain[0])  # same tokens
    np.testing.assert_allclose(folded[1], plain[1], atol=1e-4)
