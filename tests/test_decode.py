"""Greedy decoding on SRNs whose weights are set so the right answer is known."""
import numpy as np
import pytest

from batch_ocr.charset import EOS, PAD
from batch_ocr.model.build import DECODER_LAYER, SRNConfig, build_srn
from batch_ocr.model.decode import GreedyDecoder
from batch_ocr.model.layout import WIDTH_STRIDE

TINY = SRNConfig(height=16, vocab_size=8, conv=[[4, [2, 2]], [4, [2, 2]], [4, [2, 1]], [4, [2, 1]]],
                 encoder_units=4, decoder_units=8, embed_dim=4)


def _model_always_emitting(token: int):
    """An SRN whose classifier ignores its input and always prefers `token`."""
    model = build_srn(TINY)
    classifier = model.get_layer(DECODER_LAYER).classifier
    kernel, bias = classifier.get_weights()
    bias = np.full_like(bias, -5.0)
    bias[token] = 5.0
    classifier.set_weights([np.zeros_like(kernel), bias])
    return model


def _batch(widths):
    images = np.random.default_rng(0).random((len(widths), TINY.height, max(widths), 1)).astype("float32")
    return images, np.array(widths, dtype=np.int32)


def test_stops_after_one_step_when_every_sequence_emits_eos():
    decoder = GreedyDecoder(_model_always_emitting(EOS), TINY.height)
    tokens, probs, *_ = (t.numpy() for t in decoder.decode(*_batch([40, 80, 200]), 50))
    assert tokens.shape == (3, 1)
    assert (tokens[:, 0] == EOS).all()
    assert (probs[:, 0] > 0.9).all()


def test_length_cap_follows_each_crop_width():
    char = 5
    decoder = GreedyDecoder(_model_always_emitting(char), TINY.height)
    widths = [8, 40, 64]
    tokens, probs, *_ = (t.numpy() for t in decoder.decode(*_batch(widths), 100))
    caps = [-(-w // WIDTH_STRIDE) + 1 for w in widths]
    # The loop runs to the longest cap only, and no sequence goes past its own cap.
    assert tokens.shape[1] == max(caps)
    for row, cap in enumerate(caps):
        assert (tokens[row, :cap] == char).all()
        assert (tokens[row, cap:] == PAD).all()
        assert (probs[row, cap:] == 1.0).all()


def test_global_max_length_caps_every_sequence():
    decoder = GreedyDecoder(_model_always_emitting(5), TINY.height)
    tokens, *_ = (t.numpy() for t in decoder.decode(*_batch([400, 400]), 7))
    assert tokens.shape == (2, 8)


def test_traced_once_for_any_batch_shape():
    decoder = GreedyDecoder(_model_always_emitting(EOS), TINY.height)
    for widths in ([10], [33, 70], [200, 12, 5, 99]):
        decoder.decode(*_batch(widths), 40)
    assert decoder.trace_count == 1


@pytest.mark.parametrize("token", [EOS, 6])
def test_saved_model_loads_in_safe_mode_and_decodes_the_same(tmp_path, token):
    import keras

    model = _model_always_emitting(token)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    batch = _batch([30, 60])
    expected = GreedyDecoder(model, TINY.height).decode(*batch, 20)[0].numpy()
    actual = GreedyDecoder(loaded, TINY.height).decode(*batch, 20)[0].numpy()
    assert np.array_equal(expected, actual)
