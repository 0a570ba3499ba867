"""The GPU trainer's pieces that run without JAX (fixed-shape batches, the clock schedule), the
layer's Keras-ops mask against TensorFlow's, and jobs/import_weights.py turning bare weights into a
model directory."""
import json
import sys
from pathlib import Path

import numpy as np

from batch_ocr.charset import DIGITS_CHARSET, EOS, GO, Charset

sys.path.insert(0, str(Path(__file__).parent))
from job_helper import load_job as _job  # noqa: E402
from test_train import _labelled_folder, _options  # noqa: E402



class _Lines:
    """A source of digit lines of widths 40..1300 pixels."""

    def sample(self, rng):
        width = int(rng.integers(40, 1300))
        text = "".join(rng.choice(list("0123456789"), int(rng.integers(1, 12))))
        return np.full((32, width), 255, np.uint8), text


def test_gpu_batches_have_fixed_shapes_from_the_ladder():
    gpu = _job("train_printed_gpu")
    charset = Charset(DIGITS_CHARSET)
    batches = gpu.fixed_shape_batches(_Lines(), charset, np.random.default_rng(0), 8, 10,
                                      max_width=gpu.WIDTH_LADDER[-1], pool_batches=4)
    seen_widths = set()
    for _ in range(12):
        images, widths, decoder_inputs, targets = next(batches)
        assert images.shape[0] == 8 and images.shape[1] == 32
        assert images.shape[2] in gpu.WIDTH_LADDER and widths.max() <= images.shape[2]
        assert decoder_inputs.shape == targets.shape == (8, 11)
        assert (decoder_inputs[:, 0] == GO).all()
        # Every row ends in EOS, and the decoder sees the targets shifted by one.
        lengths = (targets > EOS).sum(axis=1)
        assert (targets[np.arange(8), lengths] == EOS).all()
        assert (decoder_inputs[:, 1:][targets[:, :-1] > EOS] == targets[:, :-1][targets[:, :-1] > EOS]).all()
        seen_widths.add(images.shape[2])
    assert len(seen_widths) > 1  # widths are bucketed, not all padded to the widest


def test_gpu_schedule_follows_the_clock():
    gpu = _job("train_printed_gpu")
    assert gpu.learning_rate(0.0, 1e-3, 0.1) < 1e-5
    assert gpu.learning_rate(0.1, 1e-3, 0.1) == 1e-3
    assert abs(gpu.learning_rate(1.0, 1e-3, 0.1) - 5e-5) < 1e-12
    assert gpu.learning_rate(0.5, 1e-3, 0.1) > gpu.learning_rate(0.8, 1e-3, 0.1)


def test_keras_ops_mask_matches_tensorflow():
    from batch_ocr.model.layers import _valid_steps
    from batch_ocr.model.layout import valid_steps

    widths = np.array([0, 1, 3, 4, 5, 400, 1000], np.int32)
    assert np.array_equal(np.asarray(_valid_steps(widths, 100)), np.asarray(valid_steps(widths, 100)))


def test_imported_weights_become_a_validated_model(tmp_path):
    import keras

    from batch_ocr.train.loop import Trainer

    _labelled_folder(tmp_path / "crops", ["123", "4056", "78", "9.01"])
    base = Trainer(_options(tmp_path, 1))
    base.run()
    # Weights "trained elsewhere": the base's, changed, so a load that did nothing would show.
    changed = [w * 0.5 for w in base.model.get_weights()]
    base.model.set_weights(changed)
    base.model.save_weights(tmp_path / "ft.weights.h5")
    history = {"tag": "ft", "init_from": "tiny", "peak_lr": 4e-4, "batch": 8, "steps": 17,
               "samples": 136, "seconds": 3.5}
    (tmp_path / "ft.json").write_text(json.dumps(history))

    _job("import_weights").main([
        str(tmp_path / "ft.weights.h5"), "--history", str(tmp_path / "ft.json"),
        "--export", str(tmp_path / "imported"), "--val", f"labelled:{tmp_path / 'crops'}",
        "--val-count", "4", "--data", "synth:somewhere", "--name", "tiny",
        "--base", str(tmp_path / "export"), "--charset", "digits"])

    model = keras.models.load_model(tmp_path / "imported" / "model.keras", safe_mode=True,
                                    compile=False)
    assert all(np.allclose(a, b) for a, b in zip(changed, model.get_weights()))
    card = json.loads((tmp_path / "imported" / "card.json").read_text())
    assert card["training"]["steps"] == 17 and card["training"]["samples_seen"] == 136
    assert card["training"]["init_from"] == "tiny" and card["training"]["batch_size"] == 8
    assert 0 <= card["heldout"]["cer"] and card["heldout"]["lines"] == 4
    assert json.loads((tmp_path / "imported" / "history.json").read_text()) == history
