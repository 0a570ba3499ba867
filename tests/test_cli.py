"""The click layer: options, --config precedence, exit codes, lazy commands, `models`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_ocr import cli, job, writers
from batch_ocr.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_job import BAD, GOOD, FakeRecognizer, _image, tree  # noqa: E402,F401 - fixture reuse

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """Replace the model with FakeRecognizer and record what `run` passed to run_job."""
    recorded: list[dict] = []
    real = job.run_job

    def fake_run_job(**kwargs):
        recorded.append(kwargs)
        return real(recognizer=FakeRecognizer(), **kwargs)

    monkeypatch.setattr(job, "run_job", fake_run_job)
    return recorded


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_choices_match_the_library():
    assert cli.FORMAT_CHOICES == writers.FORMATS
    assert cli.SEGMENT_CHOICES == job.SEGMENT_MODES


def test_help_lists_every_command_without_importing_tensorflow():
    code = (
        "import sys\n"
        "from batch_ocr.cli import main\n"
        "try:\n"
        "    main(['--help'], prog_name='batch-ocr')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'cv2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines()
              if line.startswith("  ") and not line.startswith("   ")]
    assert listed == ["bench", "eval", "models", "run", "train"]


def test_run_help_shows_exactly_the_design_options():
    result = _invoke("run", "--help")
    assert result.exit_code == 0
    for option in ("-o, --output", "--format [csv|json|jsonl]", "--model", "--segment "
                   "[auto|page|line]", "--batch-size", "--resume", "--quiet", "--config",
                   "--raw-text", "--max-pixels", "--state STATE.sqlite", "--reprocess",
                   "--master"):
        assert option in result.output, option


def test_run_writes_output_and_returns_the_job_exit_code(tree: Path, tmp_path: Path, calls):
    output = tmp_path / "out.csv"
    result = _invoke("run", str(tree), "-o", str(output), "--quiet")
    assert result.exit_code == 1  # the tree has unreadable files
    assert calls[0]["inputs"] == [str(tree)] and calls[0]["quiet"] is True
    assert output.read_text().startswith(",".join(writers.CSV_COLUMNS) + "\n")

    good = tmp_path / "good"
    _image(good / "a.png", 1)
    assert _invoke("run", str(good), "-o", str(tmp_path / "g.json"), "--quiet").exit_code == 0
    assert json.loads((tmp_path / "g.json").read_text())["files"][0]["file"] == "a.png"


def test_run_to_stdout(tree: Path, calls):
    result = CliRunner().invoke(main, ["run", str(tree), "-o", "-", "--format", "jsonl",
                                       "--quiet"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert sorted({row["file"] for row in rows}) == sorted(GOOD + BAD)


@pytest.mark.parametrize("args, message", [
    (["run", "-o", "x.csv"], "INPUT"),
    (["run", "somewhere"], "--output"),
    (["run", "somewhere", "-o", "x.csv", "--segment", "words"], "words"),
    (["run", "somewhere", "-o", "x.csv", "--batch-size", "0"], "batch-size"),
])
def test_usage_errors_exit_2(args, message, calls):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output
    assert calls == []


def test_job_usage_errors_exit_2(tree: Path, tmp_path: Path, calls):
    result = CliRunner().invoke(main, ["run", str(tree), "-o", str(tmp_path / "out.txt")])
    assert result.exit_code == 2
    assert "format" in result.stderr


def test_lock_held_exits_3(tree: Path, tmp_path: Path, calls):
    import fcntl

    output = tmp_path / "out.csv"
    with open(str(output) + ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = CliRunner().invoke(main, ["run", str(tree), "-o", str(output)])
    assert result.exit_code == 3
    assert "lock" in result.stderr


def _write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_supplies_options_and_command_line_wins(tree: Path, tmp_path: Path, calls):
    config = _write_config(tmp_path / "job.toml", f"""
input = ["{tree.name}"]
output = "from-config.jsonl"
segment = "line"
batch-size = 8
raw_text = true
quiet = true
max-pixels = 5000
""")
    result = _invoke("run", "--config", str(config), "--segment", "page", "--batch-size", "32")
    assert result.exit_code == 1
    got = calls[0]
    # relative paths in the job file are relative to the job file
    assert got["inputs"] == [str(tmp_path / tree.name)]
    assert got["output"] == str(tmp_path / "from-config.jsonl")
    assert (tmp_path / "from-config.jsonl").exists()
    # given on the command line (even when equal to the default): the command line wins
    assert got["segment"] == "page" and got["batch_size"] == 32
    assert got["raw_text"] is True and got["quiet"] is True and got["max_pixels"] == 5000
    assert got["model"] == "printed" and got["fmt"] is None


def test_config_inputs_and_output_from_command_line_win(tree: Path, tmp_path: Path, calls):
    elsewhere = tmp_path / "elsewhere"
    _image(elsewhere / "x.png", 2)
    config = _write_config(tmp_path / "job.toml", f'input = "{tree}"\noutput = "c.csv"\n'
                                                  'format = "csv"\nquiet = true\n')
    result = _invoke("run", str(elsewhere), "-o", str(tmp_path / "cli.csv"), "--config",
                     str(config))
    assert result.exit_code == 0
    assert calls[0]["inputs"] == [str(elsewhere)] and calls[0]["fmt"] == "csv"
    assert (tmp_path / "cli.csv").exists() and not (tmp_path / "c.csv").exists()


@pytest.mark.parametrize("text, message", [
    ('outptu = "x.csv"\n', "unknown key"),
    ('segment = "words"\n', "segment"),
    ('batch_size = "many"\n', "batch-size"),
    ("this is not toml", "cannot read"),
])
def test_bad_config_exits_2(text, message, tmp_path: Path, calls):
    config = _write_config(tmp_path / "job.toml", text)
    result = CliRunner().invoke(main, ["run", "in", "-o", "x.csv", "--config", str(config)])
    assert result.exit_code == 2
    assert message in result.output
    assert calls == []


def test_models_lists_cards_without_tensorflow(tmp_path: Path, monkeypatch):
    card = {"name": "tiny", "version": "1.2", "charset": "0123456789", "input_height": 32,
            "held_out": {"cer": 0.012345, "line_accuracy": 0.9}}
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "card.json").write_text(json.dumps(card))
    (tmp_path / "not-a-model").mkdir()
    monkeypatch.setattr(cli, "MODELS_DIR", tmp_path)
    result = _invoke("models")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "tiny"
    for expected in ("version:      1.2", "charset:      10 characters", "input height: 32",
                     "cer 0.01235", "line_accuracy 0.9"):
        assert expected in result.output, expected
    listed = json.loads(_invoke("models", "--json").output)
    assert [c["name"] for c in listed] == ["tiny"] and listed[0]["held_out"]["cer"] == 0.012345

    code = ("import sys\nfrom batch_ocr.cli import main\n"
            "try:\n    main(['models'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr


def test_lazy_commands_load_on_use_and_fail_clearly(tmp_path: Path, monkeypatch):
    (tmp_path / "lazy_hello.py").write_text(
        "import click\n\n@click.command()\n@click.argument('who')\n"
        "def hello(who):\n    click.echo(f'hello {who}')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.LAZY_COMMANDS, "hello", ("lazy_hello", "hello", "Say hello."))
    monkeypatch.setitem(cli.LAZY_COMMANDS, "broken", ("no_such_module_x", "cmd", "Broken."))
    assert "lazy_hello" not in sys.modules or sys.modules.pop("lazy_hello")
    help_text = _invoke("--help").output
    assert "Say hello." in help_text and "lazy_hello" not in sys.modules
    assert _invoke("hello", "there").output == "hello there\n"
    result = CliRunner().invoke(main, ["broken", "--anything"])
    assert result.exit_code == 2 and "not available" in result.output


def test_config_state_path_is_relative_to_the_job_file(tree: Path, tmp_path: Path, calls):
    config = _write_config(tmp_path / "job.toml", f'input = "{tree}"\noutput = "night.csv"\n'
                                                  'state = "state.sqlite"\nmaster = true\n'
                                                  'quiet = true\n')
    assert _invoke("run", "--config", str(config)).exit_code == 1
    assert calls[0]["state"] == str(tmp_path / "state.sqlite") and calls[0]["master"] is True
    assert calls[0]["reprocess"] is False
    assert (tmp_path / "state.sqlite").exists()
    # unchanged files are not read again, but --master still writes every file
    before = (tmp_path / "night.csv").read_text()
    assert _invoke("run", "--config", str(config), "--reprocess").exit_code == 1
    assert calls[1]["reprocess"] is True
    assert (tmp_path / "night.csv").read_text() == before


def test_master_without_state_exits_2(tree: Path, tmp_path: Path, calls):
    result = CliRunner().invoke(main, ["run", str(tree), "-o", str(tmp_path / "o.csv"),
                                       "--master"])
    assert result.exit_code == 2 and "--master needs --state" in result.stderr


@pytest.mark.parametrize("code, status", [(None, 0), (0, 0), (3, 3), (130, 130), ("why", 1)])
def test_fast_exit_keeps_what_sys_exit_would_return(code, status, capsys):
    from batch_ocr.cli import _exit_code

    assert _exit_code(code) == status
    assert ("why" in capsys.readouterr().err) is (code == "why")
