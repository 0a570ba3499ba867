"""`batch-ocr train`: click options -> TrainOptions -> the training loop."""
from __future__ import annotations

import json

import click


@click.command("train")
@click.option("--run-dir", required=True, type=click.Path(file_okay=False),
              help="Checkpoints and train.log live here; the same command resumes from it.")
@click.option("--data", "data", multiple=True, required=True,
              help="Data source: synth:DIR, labelled:DIR or digits[:SPLIT[@FILE]]; append *W to weight a mix.")
@click.option("--val", default=None, help="Fixed validation set (same spec forms), checked every --eval-every steps.")
@click.option("--val-count", default=500, show_default=True)
@click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
              help="Model directory to write (model.keras + card.json) whenever validation improves.")
@click.option("--name", "model_name", default="custom", show_default=True, help="Model name in the card.")
@click.option("--charset", default="printed", show_default=True,
              help="printed, digits, or a UTF-8 file holding the characters.")
@click.option("--height", default=32, show_default=True)
@click.option("--steps", default=60000, show_default=True, help="Total steps (sets the LR schedule).")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", "learning_rate", default=1e-3, show_default=True)
@click.option("--warmup-steps", default=1000, show_default=True)
@click.option("--max-chars", default=40, show_default=True)
@click.option("--init-from", default=None, help="Fine-tune from a shipped model name or model directory.")
@click.option("--max-minutes", type=float, default=None, help="Stop (checkpoint + export) after this long.")
@click.option("--eval-every", default=1000, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--describe", default="", help="What the data is, in words, for the model card.")
def train_command(describe: str, **kwargs) -> None:
    """Train or fine-tune an SRN recogniser (resumable; reproduces the shipped models)."""
    from batch_ocr.train.loop import TrainOptions, train

    kwargs["data"] = list(kwargs["data"])
    if describe:
        kwargs["notes"] = {"description": describe}
    metrics = train(TrainOptions(**kwargs))
    click.echo(json.dumps(metrics, indent=2))


if __name__ == "__main__":  # `python -m batch_ocr.train.command` works without the console script
    train_command()
