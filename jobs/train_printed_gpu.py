"""Train the printed SRN on a GPU machine that has JAX but no TensorFlow, for a fixed wall-clock
budget, while a renderer pool writes fresh synthetic lines beside it.

`batch-ocr train` (TensorFlow) is the trainer for everyone's CPU; this is the same network
(build_srn), the same losses (masked cross-entropy with teacher forcing + 0.3 x CTC, a crop too
narrow for its label training attention only) and the same data (prerender's shards), on Keras's
JAX backend, for a lent GPU machine whose image holds JAX, optax, OpenCV and Pillow but not
TensorFlow. Two things differ because XLA compiles one program per input shape: batches have a
fixed size and widths padded up to the next of six widths (WIDTH_LADDER), and labels are padded
to max_chars + 1. Each width takes tens of seconds to compile (XLA's autotuning of the
convolutions): one by one as they first came up, on an H200, about half of a 450 s budget; side
by side before training, on an H100 with a renderer pool busy on its CPU, 224 s in all, no
sooner, but the learning-rate schedule then starts with training. With autotuning off
(XLA_FLAGS=--xla_gpu_autotune_level=0) they compiled in 15-28 s but trained about 40 times
slower, so it stays on. The learning rate follows the clock (warm-up, then cosine to 5 %
of the peak at the budget's end) since the number of steps in a budget is not known ahead.

Writes TAG.weights.h5 (Keras weights, backend-neutral: `jobs/import_weights.py` turns them into a
model directory with TensorFlow) every few minutes and at the end, and TAG.json with the history.

    KERAS_BACKEND=jax python jobs/train_printed_gpu.py --shards /tmp/shards --out OUT --tag a \\
        --seconds 400 --lr 5e-4 [--init-from batch_ocr/models/printed]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import queue
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from batch_ocr.charset import EOS, PAD, PRINTED_CHARSET, Charset  # noqa: E402
from batch_ocr.train.sources import ShardSource, encode_batch  # noqa: E402

# Padded widths: each is one compiled program (tens of seconds to compile), so a short ladder;
# lines wider than the last are skipped (fewer than 1 in 500 of prerender's lines).
WIDTH_LADDER = (160, 256, 384, 512, 704, 1152)


def fixed_shape_batches(source, charset, rng, batch, max_chars, max_width, pool_batches=16):
    """Batches of exactly `batch` lines, width padded up to the next WIDTH_LADDER step and labels
    to max_chars + 1, drawn in width-sorted pools (little padding) and yielded in random order."""
    while True:
        pool = []
        while len(pool) < batch * pool_batches:
            image, text = source.sample(rng)
            if 0 < len(text) <= max_chars and charset.covers(text) and image.shape[1] <= max_width:
                pool.append((image, text))
        pool.sort(key=lambda s: s[0].shape[1])
        cuts = [pool[i:i + batch] for i in range(0, len(pool), batch)]
        for index in rng.permutation(len(cuts)):
            samples = cuts[index]
            widest = max(s[0].shape[1] for s in samples)
            width = next(w for w in WIDTH_LADDER if w >= widest)
            yield encode_batch(samples, charset, (batch, width), max_chars + 1)


def run_ahead(iterator, ahead=8):
    """Batches built in a thread (numpy releases the GIL) while the GPU runs the step before."""
    slots: queue.Queue = queue.Queue(ahead)

    def fill():
        for item in iterator:
            slots.put(item)

    threading.Thread(target=fill, daemon=True).start()
    while True:
        yield slots.get()


def learning_rate(fraction: float, peak: float, warmup: float) -> float:
    if fraction < warmup:
        return peak * max(fraction, 1e-3) / warmup
    progress = min(1.0, (fraction - warmup) / (1 - warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def precompile(train_step, trainable, non_trainable, opt_state, sample_batch, log):
    """One compiled step per WIDTH_LADDER width, compiled side by side in threads (XLA compiles
    and autotunes outside the GIL) before the clock starts: compiled one by one as each width
    first came up, they took half of a 450 s budget and the learning-rate schedule's peak with it.
    """
    from concurrent.futures import ThreadPoolExecutor

    import jax.numpy as jnp

    images, widths, decoder_inputs, targets = sample_batch

    def compile_width(width):
        began = time.monotonic()
        shaped = np.zeros(images.shape[:2] + (width,) + images.shape[3:], images.dtype)
        compiled = train_step.lower(trainable, non_trainable, opt_state, jnp.float32(0.0), shaped,
                                    widths, decoder_inputs, targets).compile()
        log(f"width {width}: compiled in {time.monotonic() - began:.1f} s")
        return width, compiled

    try:
        with ThreadPoolExecutor(len(WIDTH_LADDER)) as pool:
            return dict(pool.map(compile_width, WIDTH_LADDER))
    except Exception as exc:  # noqa: BLE001 - e.g. out of memory with six autotunings at once
        log(f"compiling side by side failed ({exc!r}); one width at a time")
        return dict(compile_width(width) for width in WIDTH_LADDER)


def wait_for_shards(directory: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(list(directory.glob("*.npz"))) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {count} shards in {directory} after {timeout:.0f} s")
        time.sleep(1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=Path, required=True, help="directory prerender writes into")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--seconds", type=float, required=True,
                        help="training budget (wall clock), counted after every width is compiled")
    parser.add_argument("--end-by", type=float,
                        help="seconds from start-up by which training must end, compiling included "
                             "(shortens --seconds when compiling took long)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=float, default=0.04, help="share of the budget")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--max-chars", type=int, default=40)
    parser.add_argument("--max-width", type=int, default=WIDTH_LADDER[-1])
    parser.add_argument("--ctc-weight", type=float, default=0.3)
    parser.add_argument("--init-from", type=Path, help="model directory to start from")
    parser.add_argument("--save-seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is first imported
    import jax
    import jax.numpy as jnp
    import keras
    import optax

    from batch_ocr.model.build import SRNConfig, build_srn

    started = time.monotonic()
    log_lines: list[str] = []

    def log(message: str) -> None:
        line = f"[{args.tag} {time.monotonic() - started:6.1f}s] {message}"
        print(line, flush=True)
        log_lines.append(line)

    log(f"devices {jax.devices()}; keras {keras.__version__} on {keras.backend.backend()}")
    charset = Charset(PRINTED_CHARSET)
    config = SRNConfig(height=32, vocab_size=charset.vocab_size)
    if args.init_from:
        card = json.loads((args.init_from / "card.json").read_text(encoding="utf-8"))
        if card["charset"] != charset.chars:
            raise SystemExit("the starting model has another charset")
        config = SRNConfig(**card["architecture"])
    model = build_srn(config)
    if args.init_from:
        start = keras.models.load_model(args.init_from / "model.keras", safe_mode=True, compile=False)
        model.set_weights(start.get_weights())
        log(f"starting from {args.init_from}")

    ctc_weight = args.ctc_weight

    def loss_fn(trainable, non_trainable, images, widths, decoder_inputs, targets):
        (logits, ctc_logits), non_trainable = model.stateless_call(
            trainable, non_trainable, [images, widths, decoder_inputs], training=True)
        mask = (targets != PAD).astype(jnp.float32)
        token_loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
        attention = jnp.sum(token_loss * mask) / jnp.sum(mask)
        # CTC labels are the characters without EOS; PAD (0) is also the blank.
        is_char = targets > EOS
        label_length = jnp.sum(is_char, axis=1)
        steps = ctc_logits.shape[1]
        logit_length = jnp.clip((widths + 3) // 4, 1, steps)
        logit_padding = (jnp.arange(steps)[None, :] >= logit_length[:, None]).astype(jnp.float32)
        ctc = optax.ctc_loss(ctc_logits, logit_padding, jnp.where(is_char, targets, 0),
                             1.0 - is_char.astype(jnp.float32), blank_id=0)
        ctc = ctc / jnp.maximum(label_length, 1)
        # A crop too narrow for its label has no CTC alignment; it still trains attention.
        ok = jnp.isfinite(ctc) & (label_length <= logit_length) & (ctc < 1e3)
        ctc_loss = jnp.sum(jnp.where(ok, ctc, 0.0)) / jnp.maximum(jnp.sum(ok), 1)
        return attention + ctc_weight * ctc_loss, (non_trainable, attention, ctc_loss)

    optimizer = optax.chain(optax.clip_by_global_norm(5.0),
                            optax.inject_hyperparams(optax.adam)(learning_rate=args.lr, eps=1e-7))

    @jax.jit
    def train_step(trainable, non_trainable, opt_state, lr, images, widths, decoder_inputs, targets):
        (_, (non_trainable, attention, ctc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, non_trainable, images, widths, decoder_inputs, targets)
        opt_state[1].hyperparams["learning_rate"] = lr
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        trainable = optax.apply_updates(trainable, updates)
        return trainable, non_trainable, opt_state, attention, ctc

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    opt_state = optimizer.init(trainable)

    args.out.mkdir(parents=True, exist_ok=True)

    def save(final: bool) -> None:
        for variable, value in zip(model.trainable_variables, trainable):
            variable.assign(value)
        for variable, value in zip(model.non_trainable_variables, non_trainable):
            variable.assign(value)
        staging = args.out / f"{args.tag}.tmp.weights.h5"
        model.save_weights(staging)
        os.replace(staging, args.out / f"{args.tag}.weights.h5")
        history["final"] = final
        (args.out / f"{args.tag}.json").write_text(json.dumps({**history, "log": log_lines[-400:]},
                                                              indent=1))

    wait_for_shards(args.shards, 4, 300)
    source = ShardSource(args.shards, 32, rescan_seconds=15, max_shards=1_000_000)
    rng = np.random.default_rng(args.seed)
    batches = run_ahead(fixed_shape_batches(source, charset, rng, args.batch, args.max_chars,
                                            args.max_width))
    history = {"tag": args.tag, "init_from": str(args.init_from), "peak_lr": args.lr,
               "batch": args.batch, "steps": 0, "samples": 0, "seconds": 0.0}
    compile_began = time.monotonic()
    steps = precompile(train_step, trainable, non_trainable, opt_state, next(batches), log)
    history["compile_seconds"] = round(time.monotonic() - compile_began, 1)
    budget = args.seconds
    if args.end_by:
        budget = min(budget, args.end_by - (time.monotonic() - started))
    history["budget_seconds"] = round(budget, 1)
    log(f"training for {budget:.0f} s")
    train_started = time.monotonic()
    last_save = last_log = train_started
    step, window_att, window_ctc, window_steps, window_seen = 0, 0.0, 0.0, 0, 0
    while True:
        elapsed = time.monotonic() - train_started
        if elapsed >= budget:
            break
        lr = learning_rate(elapsed / budget, args.lr, args.warmup)
        images, widths, decoder_inputs, targets = next(batches)
        trainable, non_trainable, opt_state, attention, ctc = steps[images.shape[2]](
            trainable, non_trainable, opt_state, jnp.float32(lr), images, widths, decoder_inputs,
            targets)
        step += 1
        window_steps += 1
        if step % 10 == 0:  # a sync every step would idle the GPU between steps
            window_att += float(attention)
            window_ctc += float(ctc)
            window_seen += 1
        now = time.monotonic()
        if now - last_log > 20:
            history.update(steps=step, samples=step * args.batch, seconds=round(now - train_started, 1),
                           shards_loaded=len(source._loaded), lines_available=len(source.texts))
            log(f"step {step} lr {lr:.2e} att {window_att / max(window_seen, 1):.4f} "
                f"ctc {window_ctc / max(window_seen, 1):.4f} "
                f"{window_steps * args.batch / (now - last_log):.0f} lines/s; "
                f"{len(source.texts)} lines rendered")
            last_log, window_att, window_ctc, window_steps, window_seen = now, 0.0, 0.0, 0, 0
        if now - last_save > args.save_seconds:
            save(final=False)
            last_save = now
    history.update(steps=step, samples=step * args.batch,
                   seconds=round(time.monotonic() - train_started, 1),
                   shards_loaded=len(source._loaded), lines_available=len(source.texts))
    save(final=True)
    log(f"done: {step} steps, {step * args.batch} samples")


if __name__ == "__main__":
    main()
