"""Training end to end on a tiny network: labelled folder -> steps -> checkpoint -> resume -> export."""
import json

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from batch_ocr.train.loop import TrainOptions, Trainer, learning_rate

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TINY = {"conv": [[8, [2, 2]], [8, [2, 2]], [8, [2, 1]], [8, [2, 1]]], "encoder_units": 8,
        "decoder_units": 16, "embed_dim": 8}


def _labelled_folder(path, texts):
    path.mkdir()
    font = ImageFont.truetype(FONT, 24)
    rows = []
    for i, text in enumerate(texts):
        image = Image.new("L", (20 + 16 * len(text), 40), 255)
        ImageDraw.Draw(image).text((10, 5), text, font=font, fill=0)
        image.save(path / f"{i}.png")
        rows.append({"file": f"{i}.png", "text": text})
    pd.DataFrame(rows).to_csv(path / "labels.csv", index=False)


def _options(tmp_path, steps):
    return TrainOptions(run_dir=str(tmp_path / "run"), data=[f"labelled:{tmp_path / 'crops'}"],
                        val=f"labelled:{tmp_path / 'crops'}", val_count=4,
                        export_dir=str(tmp_path / "export"), model_name="tiny", charset="digits",
                        steps=steps, batch_size=4, warmup_steps=2, eval_every=3, max_chars=10,
                        architecture=TINY)


def test_train_checkpoint_resume_and_export(tmp_path):
    _labelled_folder(tmp_path / "crops", ["123", "4056", "78", "9.01"])
    first = Trainer(_options(tmp_path, 3))
    first.run()
    assert first.state["step"] == 3
    weights_after_first = [w.copy() for w in first.model.get_weights()]

    second = Trainer(_options(tmp_path, 6))
    # Resuming restores the weights and the step counter rather than starting over.
    assert second.state["step"] == 3
    assert all(np.array_equal(a, b) for a, b in zip(weights_after_first, second.model.get_weights()))
    second.run()
    assert second.state["step"] == 6
    assert "step 6" in (tmp_path / "run" / "train.log").read_text()

    card = json.loads((tmp_path / "export" / "card.json").read_text())
    assert card["name"] == "tiny" and card["charset"] == "0123456789 -/."
    assert card["training"]["steps"] in (3, 6)
    assert 0 <= card["heldout"]["cer"]

    from batch_ocr import load_model

    recognizer = load_model(str(tmp_path / "export"))
    lines = recognizer.read([np.array(Image.open(tmp_path / "crops" / "0.png"))], segment="line")
    assert len(lines) == 1  # one image in, one list of lines out (the tiny model reads nonsense)
    assert all(set(line.text) <= set("0123456789 -/.") for line in lines[0])


def test_resuming_on_another_validation_set_starts_the_best_cer_afresh(tmp_path):
    _labelled_folder(tmp_path / "crops", ["123", "4056", "78", "9.01"])
    _labelled_folder(tmp_path / "other", ["55", "0.1"])
    first = Trainer(_options(tmp_path, 2))
    first.run()
    assert first.state["best_cer"] is not None
    first.state["best_cer"] = 0.0  # as if the first set had been read perfectly
    first._save_checkpoint()
    same = Trainer(_options(tmp_path, 3))
    assert same.state["best_cer"] == 0.0  # the same set: the record stands
    options = _options(tmp_path, 3)
    options.val = f"labelled:{tmp_path / 'other'}"
    moved = Trainer(options)
    assert moved.state["best_cer"] is None
    exported_before = (tmp_path / "export" / "card.json").stat().st_mtime_ns
    moved.run()
    # Its first validation beats no record, so the model is exported again.
    assert (tmp_path / "export" / "card.json").stat().st_mtime_ns != exported_before
    assert "validation set changed" in (tmp_path / "run" / "train.log").read_text()


def test_fine_tuning_starts_from_the_given_model(tmp_path):
    import keras

    _labelled_folder(tmp_path / "crops", ["12", "345"])
    Trainer(_options(tmp_path, 2)).run()
    exported = keras.models.load_model(tmp_path / "export" / "model.keras", safe_mode=True,
                                       compile=False)
    options = _options(tmp_path, 3)
    options.run_dir = str(tmp_path / "finetune")
    options.export_dir = str(tmp_path / "export2")
    options.init_from = str(tmp_path / "export")
    options.architecture = {}  # comes from the starting model's card
    tuned = Trainer(options)
    assert tuned.state["step"] == 0
    assert all(np.array_equal(a, b) for a, b in zip(exported.get_weights(), tuned.model.get_weights()))
    tuned.run()
    card = json.loads((tmp_path / "export2" / "card.json").read_text())
    assert card["training"]["init_from"] == str(tmp_path / "export")


def test_learning_rate_warms_up_then_decays():
    options = TrainOptions(run_dir="x", data=[], steps=1000, warmup_steps=100, learning_rate=1e-3)
    rates = [learning_rate(s, options) for s in (0, 50, 99, 100, 500, 999)]
    assert rates[0] < rates[1] < rates[2] <= 1e-3
    assert rates[3] > rates[4] > rates[5] >= 0.05 * 1e-3 * 0.99


def test_progress_bar_on_a_terminal_only(tmp_path, monkeypatch):
    import io
    import sys

    from batch_ocr.train import loop

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    _labelled_folder(tmp_path / "crops", ["12", "345"])
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    Trainer(_options(tmp_path, 4)).run()
    # tqdm draws "done/total" counts of steps on the terminal; the log file keeps every 50th step.
    assert "4/4" in terminal.getvalue() and "step" in terminal.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert loop._progress_bar(10, 0) is None
