"""The `batch-ocr` command line: thin click commands that parse, call the library and report.

Nothing here imports TensorFlow, pandas or OpenCV at import time, so `batch-ocr --help` and
`batch-ocr models` answer at once; `train`, `eval` and `bench` are imported only when run.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from batch_ocr import __version__

MODELS_DIR = Path(__file__).parent / "models"
# Kept in step with writers.FORMATS and job.SEGMENT_MODES (a test checks); spelled out here so
# that building the CLI does not import pandas.
FORMAT_CHOICES = ("csv", "json", "jsonl")
SEGMENT_CHOICES = ("auto", "page", "line")

# name -> (module, attribute, one-line help shown by `batch-ocr --help` without importing).
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("batch_ocr.train.command", "train_command",
              "Train a model: reproduces the shipped models or learns a labelled folder."),
    "eval": ("batch_ocr.evaluate", "eval_command",
             "CER, line accuracy and confidence quality on labelled crops or pages."),
    "bench": ("batch_ocr.bench", "bench_command",
              "Throughput and memory as a JSON report; optional side-by-side peers."),
}


class LazyGroup(click.Group):
    """A group whose heavy commands are imported only when invoked (their help text is stored)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in LAZY_COMMANDS:
            return super().get_command(ctx, name)
        module_name, attribute, short_help = LAZY_COMMANDS[name]
        try:
            command = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            return _unavailable(name, short_help, exc)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
            else:
                rows.append((name, LAZY_COMMANDS[name][2]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _unavailable(name: str, short_help: str, exc: BaseException) -> click.Command:
    def fail(args) -> None:
        raise click.UsageError(f"'batch-ocr {name}' is not available: {exc}")

    return click.Command(
        name, help=short_help, callback=fail,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(name="batch-ocr", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batch-ocr")
def main() -> None:
    """Batch OCR for folders of images, with CSV/JSON output that cron can trust."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="batch-ocr: %(message)s")


# ----------------------------------------------------------------------------------------- run

# TOML key (after '-' -> '_') -> parameter name of `run`.
CONFIG_KEYS = {
    "input": "inputs", "inputs": "inputs", "output": "output", "format": "fmt", "model": "model",
    "segment": "segment", "batch_size": "batch_size", "resume": "resume", "quiet": "quiet",
    "raw_text": "raw_text", "max_pixels": "max_pixels", "state": "state",
    "reprocess": "reprocess", "master": "master", "rotate": "rotate",
}


def _read_config(path: str) -> dict[str, Any]:
    """TOML job file -> {parameter name: raw value}; unknown keys are errors (likely typos)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="'--config'") from exc
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = CONFIG_KEYS.get(key.replace("-", "_"))
        if name is None:
            known = ", ".join(sorted({k.replace("_", "-") for k in CONFIG_KEYS}))
            raise click.BadParameter(f"unknown key {key!r} in {path}; known keys: {known}",
                                     param_hint="'--config'")
        values[name] = value
    return values


def _resolve_relative(value: str, base: Path) -> str:
    if value == "-" or Path(value).is_absolute():
        return value
    return str(base / value)


def _merge_config(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """Fill every option not given on the command line from `--config` (command line wins).

    Relative paths in a job file are relative to the file itself, so a cron entry works from any
    working directory; a `model` value is treated as a path only if that directory exists.
    """
    config_path = options.get("config")
    if not config_path:
        return options
    base = Path(config_path).resolve().parent
    params = {param.name: param for param in ctx.command.params}
    merged = dict(options)
    for name, raw in _read_config(config_path).items():
        source = ctx.get_parameter_source(name)
        if name == "inputs":
            if options["inputs"]:
                continue
            raw_list = [raw] if isinstance(raw, str) else raw
            if not isinstance(raw_list, list) or not all(isinstance(v, str) for v in raw_list):
                raise click.BadParameter("'input' must be a path or a list of paths",
                                         param_hint="'--config'")
            merged["inputs"] = tuple(_resolve_relative(v, base) for v in raw_list)
            continue
        if source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        try:
            value = params[name].type_cast_value(ctx, raw)
        except click.BadParameter as exc:
            raise click.BadParameter(f"{name.replace('_', '-')} = {raw!r} in {config_path}: "
                                     f"{exc.message}", param_hint="'--config'") from exc
        if name in ("output", "state"):
            value = _resolve_relative(value, base)
        elif name == "model" and (base / value).is_dir():
            value = str(base / value)
        merged[name] = value
    return merged


@main.command("run", short_help="Read images under INPUT into a CSV, JSON or JSONL file.")
@click.argument("inputs", nargs=-1, metavar="INPUT...", type=click.Path())
@click.option("-o", "--output", metavar="OUTPUT",
              help="Result file (.csv, .json or .jsonl), or - for stdout.  [required]")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES, case_sensitive=False),
              help="Output format; default from the OUTPUT suffix.")
@click.option("--model", default="printed", show_default=True, metavar="NAME|DIR",
              help="Shipped model name (printed, digits) or a model directory.")
@click.option("--segment", type=click.Choice(SEGMENT_CHOICES), default="auto", show_default=True,
              help="line: each image is one text line; page: layout analysis; auto: per image.")
@click.option("--rotate", type=click.Choice(["none", "auto"]), default="none", show_default=True,
              help="auto: find pages turned by 90/180/270 degrees (layout, then recogniser "
                   "confidence); costs up to two readings per page.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True,
              help="Line crops of 256 pixels per model batch (batching.DEFAULT_BATCH_SIZE); "
                   "narrower crops come in larger batches, wider ones in smaller.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run on the same OUTPUT.")
@click.option("--quiet", is_flag=True, help="No progress or summary on stderr (errors still).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), metavar="JOB.toml",
              help="Take options from a TOML job file; command-line flags win.")
@click.option("--raw-text", is_flag=True,
              help="Write CSV cells as read: no ' before cells a spreadsheet would run as formulas.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=100_000_000, show_default=True,
              help="Refuse (error row) images with more pixels than this.")
@click.option("--state", metavar="STATE.sqlite",
              help="Remember what was read; read only new or changed files (nightly runs).")
@click.option("--reprocess", is_flag=True,
              help="With --state: read every file again (and refresh the state).")
@click.option("--master", is_flag=True,
              help="With --state: OUTPUT holds every file under INPUT, not only the ones read "
                   "now (unchanged files' rows come from the state).")
@click.pass_context
def run_command(ctx: click.Context, **options: Any) -> None:
    """Read every image under INPUT (directories are walked recursively) into OUTPUT.

    Exit status: 0 all files read, 1 some files failed (see the error column), 2 usage, model or
    output problem, 3 another run holds the lock on OUTPUT or STATE, 130 interrupted (SIGINT or
    SIGTERM; --resume continues).
    """
    options = _merge_config(ctx, options)
    if not options["inputs"]:
        raise click.UsageError("Missing argument 'INPUT...'.", ctx)
    if not options["output"]:
        raise click.UsageError("Missing option '-o' / '--output'.", ctx)
    from batch_ocr.job import run_job

    code = run_job(
        inputs=list(options["inputs"]), output=options["output"], fmt=options["fmt"],
        model=options["model"], segment=options["segment"], batch_size=options["batch_size"],
        resume=options["resume"], quiet=options["quiet"], raw_text=options["raw_text"],
        max_pixels=options["max_pixels"], state=options["state"],
        reprocess=options["reprocess"], master=options["master"], rotate=options["rotate"],
    )
    ctx.exit(code)


# -------------------------------------------------------------------------------------- models

def _held_out(card: dict[str, Any]) -> dict[str, Any]:
    """The card's held-out figures, flattened to {'name': value} (any key mentioning 'held')."""
    figures: dict[str, Any] = {}

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                flatten(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            figures[prefix] = value

    for key, value in card.items():
        if "held" in key.lower():
            flatten("" if isinstance(value, dict) else key, value)
    return figures


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_cards(models_dir: Path | None = None) -> list[dict[str, Any]]:
    """Cards of the shipped models (directory name as `name` when the card has none)."""
    cards = []
    for card_path in sorted((models_dir or MODELS_DIR).glob("*/card.json")):
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            card = {"error": f"unreadable card: {exc}"}
        card.setdefault("name", card_path.parent.name)
        card["directory"] = str(card_path.parent)
        cards.append(card)
    return cards


@main.command("models", short_help="List the shipped models with their cards.")
@click.option("--json", "as_json", is_flag=True, help="Print the full cards as JSON.")
def models_command(as_json: bool) -> None:
    """List the shipped models with their cards."""
    cards = model_cards()
    if as_json:
        click.echo(json.dumps(cards, indent=2, ensure_ascii=False))
        return
    if not cards:
        click.echo(f"no models in {MODELS_DIR}", err=True)
        return
    for card in cards:
        charset = card.get("charset")
        click.echo(f"{card['name']}")
        if "error" in card:
            click.echo(f"  {card['error']}")
            continue
        click.echo(f"  version:      {card.get('version', '?')}")
        click.echo(f"  charset:      {len(charset) if isinstance(charset, str) else '?'} "
                   "characters")
        click.echo(f"  input height: {card.get('input_height', '?')}")
        held_out = _held_out(card)
        if held_out:
            click.echo("  validation:   " + ", ".join(f"{k} {_figure(v)}"
                                                   for k, v in held_out.items()))
        for name, report in card.get("evaluations", {}).items():
            figures = {k: report[k] for k in ("lines", "cer", "line_accuracy", "auroc") if k in report}
            click.echo(f"  eval {name}: " + ", ".join(f"{k} {_figure(v)}" for k, v in figures.items()))
        click.echo(f"  directory:    {card['directory']}")


# ------------------------------------------------------------------------------------ process end

def _exit_code(code: Any) -> int:
    """What sys.exit(code) would make the process's status (a message is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _nothing_left_running() -> bool:
    """Whether the process is down to its main thread and has no live child processes (the image
    reader's worker is joined when a job ends; this guards any path where it is not)."""
    import multiprocessing
    import threading

    alive = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    return not alive and not multiprocessing.active_children()


def entry() -> None:
    """The `batch-ocr` console script: `main`, then, once TensorFlow has been loaded, the process
    ends without Python's interpreter teardown.

    Unloading TensorFlow's thousands of modules and objects took 0.65-0.7 s after every run here
    (11 % of a 600-line job), after the output, journal and lock were already closed: nothing is
    left for the teardown to do but free memory the OS frees anyway. Streams are flushed and
    logging shut down first; with a thread or child process still alive the normal exit runs.
    """
    try:
        main()
    except SystemExit as exc:
        from batch_ocr.tf_core import tensorflow_loaded

        if not tensorflow_loaded() or not _nothing_left_running():
            raise
        code = _exit_code(exc.code)
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
                pass
        os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
