"""Turn weights trained elsewhere (jobs/train_printed_gpu.py, Keras on JAX) into a model directory
(model.keras + card.json) with TensorFlow, validated the way `batch-ocr train` validates.

    python jobs/import_weights.py OUT/a.weights.h5 --history OUT/a.json --export work/runs/gpu_a \\
        --val synth:work/data/printed_val --data synth:... --describe "..."

The card is the trainer's own (Trainer.export): steps, samples and wall time come from the
history file that train_printed_gpu.py wrote beside the weights.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--export", type=Path, required=True)
    parser.add_argument("--val", required=True, help="validation data spec, as for batch-ocr train")
    parser.add_argument("--val-count", type=int, default=500)
    parser.add_argument("--data", action="append", required=True, help="what it trained on")
    parser.add_argument("--name", default="printed")
    parser.add_argument("--base", default="printed",
                        help="the model the weights were trained from: its card gives the architecture")
    parser.add_argument("--charset", default="printed")
    parser.add_argument("--describe", default="")
    args = parser.parse_args(argv)

    from batch_ocr.train.loop import Trainer, TrainOptions
    from batch_ocr.train.sources import fixed_samples

    history = json.loads(args.history.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as run_dir:
        options = TrainOptions(run_dir=run_dir, data=args.data, val=args.val,
                               val_count=args.val_count, export_dir=str(args.export),
                               model_name=args.name, charset=args.charset, init_from=args.base,
                               batch_size=history["batch"],
                               learning_rate=history["peak_lr"],
                               notes={"description": args.describe,
                                      "trainer": "jobs/train_printed_gpu.py (Keras on JAX)",
                                      "init_from": history.get("init_from")})
        trainer = Trainer(options)  # the base's architecture and weights ...
        trainer.model.load_weights(args.weights)  # ... then the new weights over them
        trainer.state.update(step=history["steps"], samples=history["samples"],
                             seconds=history["seconds"])
        metrics = trainer._evaluate(fixed_samples(args.val, 32, args.val_count))
        shutil.copy(args.history, args.export / "history.json")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
