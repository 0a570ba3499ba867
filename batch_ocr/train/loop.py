"""The training loop: teacher forcing with masked cross-entropy (+ CTC), checkpoints every few
minutes, resume after any stop, validation CER on a fixed held-out set, export of the best model.

Built for a 2-core CPU as much as for a GPU: run it with nohup, tail `train.log`, kill it at any
time; the same command resumes from the last checkpoint in the run directory.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from batch_ocr.charset import DIGITS_CHARSET, PAD, PRINTED_CHARSET, Charset
from batch_ocr.metrics import auroc, cer, line_accuracy
from batch_ocr.prefetch import Prefetch

log = logging.getLogger("batch_ocr.train")

CHARSETS = {"printed": PRINTED_CHARSET, "digits": DIGITS_CHARSET}


@dataclass
class TrainOptions:
    run_dir: str
    data: list[str]
    val: str | None = None
    val_count: int = 500
    export_dir: str | None = None
    model_name: str = "custom"
    charset: str = "printed"
    height: int = 32
    steps: int = 60000
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 1000
    max_chars: int = 40
    ctc_weight: float = 0.3
    init_from: str | None = None
    max_minutes: float | None = None
    eval_every: int = 1000
    checkpoint_minutes: float = 5.0
    seed: int = 0
    notes: dict = field(default_factory=dict)
    # Overrides of SRNConfig fields (e.g. a smaller network for quick experiments and tests).
    architecture: dict = field(default_factory=dict)


def resolve_charset(name: str) -> str:
    if name in CHARSETS:
        return CHARSETS[name]
    return Path(name).read_text(encoding="utf-8").rstrip("\n")


def learning_rate(step: int, options: TrainOptions) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak at `steps`."""
    if step < options.warmup_steps:
        return options.learning_rate * (step + 1) / options.warmup_steps
    progress = min(1.0, (step - options.warmup_steps) / max(1, options.steps - options.warmup_steps))
    return options.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def _setup_logging(run_dir: Path) -> None:
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("batch_ocr")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class Trainer:
    def __init__(self, options: TrainOptions):
        from batch_ocr.tf_setup import import_tensorflow

        tf = import_tensorflow()
        import keras

        from batch_ocr.model.build import SRNConfig, build_srn
        from batch_ocr.model.layout import valid_steps

        self.tf, self.keras = tf, keras
        self.options = options
        self.run_dir = Path(options.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        _setup_logging(self.run_dir)
        self.charset = Charset(resolve_charset(options.charset))
        self.config = SRNConfig(**{**options.architecture, "height": options.height,
                                   "vocab_size": self.charset.vocab_size})
        if options.init_from:
            from batch_ocr.recognizer import resolve_model_dir

            init_dir = resolve_model_dir(options.init_from)
            card = json.loads((init_dir / "card.json").read_text(encoding="utf-8"))
            if card["charset"] != self.charset.chars:
                raise ValueError("fine-tuning needs the same charset as the starting model")
            self.config = SRNConfig(**card["architecture"])
        self.model = build_srn(self.config)
        self.optimizer = keras.optimizers.Adam(learning_rate=options.learning_rate, clipnorm=5.0)
        self.optimizer.build(self.model.trainable_variables)
        self.state = {"step": 0, "samples": 0, "seconds": 0.0, "best_cer": None, "history": []}
        restored = self._restore()
        # What the best CER is measured on: the validation spec and count.
        val = [options.val, options.val_count] if options.val else None
        if restored and self.state.get("val", val) != val:
            # The best CER was measured on another set: against it, no export would come (a
            # harder set) or the first one would win for good (an easier one).
            log.info("validation set changed (%s -> %s): the best CER starts afresh",
                     self.state.get("val"), val)
            self.state["best_cer"] = None
        self.state["val"] = val
        if not restored and options.init_from:
            from batch_ocr.recognizer import resolve_model_dir

            start = keras.models.load_model(resolve_model_dir(options.init_from) / "model.keras",
                                            safe_mode=True, compile=False)
            self.model.set_weights(start.get_weights())
            log.info("fine-tuning from %s", options.init_from)

        ctc_weight = options.ctc_weight
        model, optimizer = self.model, self.optimizer

        @tf.function(input_signature=[tf.TensorSpec([None, options.height, None, 1], tf.float32),
                                      tf.TensorSpec([None], tf.int32),
                                      tf.TensorSpec([None, None], tf.int32),
                                      tf.TensorSpec([None, None], tf.int32),
                                      tf.TensorSpec([], tf.float32)])
        def train_step(images, widths, decoder_inputs, targets, lr):
            optimizer.learning_rate.assign(lr)
            with tf.GradientTape() as tape:
                logits, ctc_logits = model([images, widths, decoder_inputs], training=True)
                mask = tf.cast(tf.not_equal(targets, PAD), tf.float32)
                token_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
                attention_loss = tf.reduce_sum(token_loss * mask) / tf.reduce_sum(mask)
                # CTC labels are the characters without EOS.
                label_mask = tf.cast(targets > 2, tf.int32)
                label_length = tf.reduce_sum(label_mask, axis=1)
                logit_length = valid_steps(widths, tf.shape(ctc_logits)[1])
                ctc = tf.nn.ctc_loss(targets * label_mask, ctc_logits, label_length, logit_length,
                                     logits_time_major=False, blank_index=0)
                ctc = ctc / tf.cast(tf.maximum(label_length, 1), tf.float32)
                # A crop too narrow for its label has infinite CTC loss; it still trains attention.
                ok = tf.math.is_finite(ctc)
                ctc_loss = tf.reduce_sum(tf.where(ok, ctc, 0.0)) / tf.maximum(
                    tf.reduce_sum(tf.cast(ok, tf.float32)), 1.0)
                loss = attention_loss + ctc_weight * ctc_loss
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return attention_loss, ctc_loss

        self.train_step = train_step

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoint"

    def _save_checkpoint(self) -> None:
        staging = self.run_dir / "checkpoint.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        self.model.save_weights(staging / "model.weights.h5")
        np.savez(staging / "optimizer.npz", *[v.numpy() for v in self.optimizer.variables])
        (staging / "state.json").write_text(json.dumps(self.state))
        # Swap directories so a kill at any moment leaves one complete checkpoint.
        old = self.run_dir / "checkpoint.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.checkpoint_dir.exists():
            self.checkpoint_dir.rename(old)
        staging.rename(self.checkpoint_dir)
        shutil.rmtree(old, ignore_errors=True)
        log.info("checkpoint saved at step %d", self.state["step"])

    def _restore(self) -> bool:
        directory = self.checkpoint_dir
        if not (directory / "state.json").exists():
            old = self.run_dir / "checkpoint.old"
            if not (old / "state.json").exists():
                return False
            directory = old
        self.model.load_weights(directory / "model.weights.h5")
        with np.load(directory / "optimizer.npz") as saved:
            for variable, key in zip(self.optimizer.variables, sorted(saved.files, key=lambda k: int(k.split("_")[1]))):
                variable.assign(saved[key])
        self.state = json.loads((directory / "state.json").read_text())
        log.info("resumed from step %d", self.state["step"])
        return True

    # -- validation and export -----------------------------------------------------------------
    def validate(self, samples) -> dict:
        from batch_ocr.recognizer import CropReader

        reader = CropReader(self.model, self.charset, self.options.height)
        readings = reader.read_crops([image for image, _ in samples])
        predictions = [r.text for r in readings]
        references = [text for _, text in samples]
        right = [p == r for p, r in zip(predictions, references)]
        return {"cer": cer(predictions, references), "line_accuracy": line_accuracy(predictions, references),
                "auroc": auroc([r.confidence for r in readings], right), "lines": len(samples)}

    def export(self, directory: Path, metrics: dict) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        staging = directory / "model.keras.tmp.keras"
        self.model.save(staging)
        os.replace(staging, directory / "model.keras")
        card = {
            "name": self.options.model_name,
            "version": f"{time.strftime('%Y.%m.%d')}-step{self.state['step']}",
            "charset": self.charset.chars,
            "input_height": self.options.height,
            "architecture": self.config.to_dict(),
            "training": {"data": self.options.data, "steps": self.state["step"],
                         "samples_seen": self.state["samples"],
                         "wall_seconds": round(self.state["seconds"]),
                         "batch_size": self.options.batch_size,
                         "learning_rate": self.options.learning_rate,
                         "init_from": self.options.init_from, **self.options.notes},
            "heldout": {"data": self.options.val, **metrics},
        }
        (directory / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
        log.info("exported %s (val %s)", directory, metrics)

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> dict:
        from batch_ocr.train.sources import batches, build_source, fixed_samples

        options, tf = self.options, self.tf
        source = build_source(options.data, options.height)
        val_samples = fixed_samples(options.val, options.height, options.val_count) if options.val else []
        rng = np.random.default_rng(options.seed + self.state["step"])
        stream = batches(source, self.charset, rng, options.batch_size, options.max_chars)
        # Batches are padded in a background thread so numpy overlaps the TensorFlow step.
        prefetch = contextlib.ExitStack()
        ready = prefetch.enter_context(Prefetch(lambda _stopping: stream, ahead=6,
                                                name="batch-ocr-train-batches"))
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

        started = time.monotonic()
        seconds_before = self.state["seconds"]
        last_checkpoint = time.monotonic()
        window_start, window_samples = time.monotonic(), 0
        metrics: dict = self.state["history"][-1] if self.state["history"] else {}
        bar = _progress_bar(options.steps, self.state["step"])
        while self.state["step"] < options.steps and not stop.is_set():
            if options.max_minutes and time.monotonic() - started > options.max_minutes * 60:
                log.info("time budget of %.0f minutes reached", options.max_minutes)
                break
            images, widths, decoder_inputs, targets = next(ready)
            lr = learning_rate(self.state["step"], options)
            attention_loss, ctc_loss = self.train_step(images, widths, decoder_inputs, targets,
                                                       tf.constant(lr, tf.float32))
            self.state["step"] += 1
            self.state["samples"] += len(images)
            window_samples += len(images)
            step = self.state["step"]
            if bar is not None:
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{float(attention_loss):.4f}",
                                    val_cer=f"{metrics['cer']:.4f}" if metrics else "-", refresh=False)
            if step % 50 == 0:
                rate = window_samples / max(time.monotonic() - window_start, 1e-6)
                log.info("step %d  loss %.4f  ctc %.4f  lr %.2e  %.0f lines/s", step,
                         float(attention_loss), float(ctc_loss), lr, rate)
                window_start, window_samples = time.monotonic(), 0
            self.state["seconds"] = seconds_before + time.monotonic() - started
            if val_samples and step % options.eval_every == 0:
                metrics = self._evaluate(val_samples)
            if time.monotonic() - last_checkpoint > options.checkpoint_minutes * 60:
                self._save_checkpoint()
                last_checkpoint = time.monotonic()
        prefetch.close()
        if bar is not None:
            bar.close()
        self.state["seconds"] = seconds_before + time.monotonic() - started
        if val_samples and (not metrics or metrics.get("step") != self.state["step"]):
            metrics = self._evaluate(val_samples)
        self._save_checkpoint()
        if options.export_dir and not val_samples:
            self.export(Path(options.export_dir), metrics)
        return metrics

    def _evaluate(self, val_samples) -> dict:
        metrics = {"step": self.state["step"], **self.validate(val_samples)}
        self.state["history"].append(metrics)
        log.info("validation at step %d: CER %.4f  line accuracy %.4f  AUROC %s", metrics["step"],
                 metrics["cer"], metrics["line_accuracy"], metrics["auroc"])
        best = self.state["best_cer"]
        if self.options.export_dir and (best is None or metrics["cer"] <= best):
            self.state["best_cer"] = metrics["cer"]
            self.export(Path(self.options.export_dir), metrics)
        return metrics


def _progress_bar(total: int, done: int):
    """A tqdm bar of steps on a terminal; under nohup or cron train.log is the progress record."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="step", dynamic_ncols=True)


def train(options: TrainOptions) -> dict:
    return Trainer(options).run()
