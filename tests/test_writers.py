"""CSV / JSON / JSON Lines writers: exact columns, escaping, dtypes, shapes."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from batch_ocr.records import CharConfidence, FileResult, LineResult, PageResult
from batch_ocr.writers import (
    CSV_COLUMNS,
    FormatError,
    SummaryCounter,
    file_from_dict,
    file_to_dict,
    format_for,
    neutralise,
    write_csv,
    write_json,
    write_jsonl,
)


def _line(index: int, text: str, confidence: float = 0.912345, box=(1, 2, 30, 10)) -> LineResult:
    chars = [CharConfidence(c, 0.5 + 0.01 * i) for i, c in enumerate(text)]
    return LineResult(line=index, text=text, confidence=confidence, box=box, chars=chars)


def _results() -> list[FileResult]:
    return [
        FileResult("a/one.png", "ok", "", [
            PageResult(0, 100, 50, [_line(0, "Hello, world"), _line(1, 'say "hi"\nthere',
                                                                     confidence=0.1)]),
        ]),
        FileResult("b.tif", "ok", "", [
            PageResult(1, 80, 40, [_line(0, "=SUM(A1:A2)", box=(5, 6, 7, 8))]),
            PageResult(0, 80, 40, [_line(0, "-12.5"), _line(1, "NA")]),
        ]),
        FileResult("blank.png", "empty", "", [PageResult(0, 10, 10, [])]),
        FileResult("bad.png", "error", "cannot decode image: truncated PNG", []),
    ]


def _csv(results, raw_text=False) -> str:
    stream = io.StringIO()
    write_csv(results, stream, raw_text=raw_text)
    return stream.getvalue()


def _read_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values={"confidence": [""]})


def test_csv_header_is_exactly_the_contract():
    text = _csv(_results())
    assert text.splitlines()[0] == "file,page,line,text,confidence,x,y,width,height,status,error"
    assert CSV_COLUMNS == text.splitlines()[0].split(",")


def test_csv_round_trips_through_pandas_with_clean_dtypes():
    frame = _read_csv(_csv(_results()))
    assert list(frame.columns) == CSV_COLUMNS
    for column in ("page", "line", "x", "y", "width", "height"):
        assert frame[column].dtype.kind == "i", column
    assert frame["confidence"].dtype.kind == "f"
    # one row per line; one row for the empty and for the error file
    assert len(frame) == 2 + 3 + 1 + 1
    texts = list(frame["text"])
    assert "Hello, world" in texts and 'say "hi"\nthere' in texts and "NA" in texts


def test_rows_within_a_file_are_sorted_by_page_then_line():
    frame = _read_csv(_csv(_results()))
    b = frame[frame["file"] == "b.tif"]
    assert list(zip(b["page"], b["line"])) == [(0, 0), (0, 1), (1, 0)]


def test_empty_and_error_rows():
    frame = _read_csv(_csv(_results())).set_index("file")
    empty, error = frame.loc["blank.png"], frame.loc["bad.png"]
    assert empty["status"] == "empty" and empty["text"] == "" and empty["error"] == ""
    assert error["status"] == "error" and error["error"] == "cannot decode image: truncated PNG"
    for row in (empty, error):
        assert (row["page"], row["line"], row["x"], row["y"], row["width"], row["height"]) == \
            (0, 0, 0, 0, 0, 0)
        assert pd.isna(row["confidence"])


def test_confidence_is_rounded_to_four_decimals():
    frame = _read_csv(_csv(_results()))
    assert frame.loc[0, "confidence"] == pytest.approx(0.9123, abs=1e-12)
    assert "0.912345" not in _csv(_results())


@pytest.mark.parametrize("cell, expected", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@foo", "'@foo"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-12.5", "-12.5"), ("+3", "+3"), ("-1e5", "-1e5"),
    ("-.5", "-.5"), ("- 5", "'- 5"), ("-12.5x", "'-12.5x"), ("plain", "plain"), ("", ""),
    ("a=b", "a=b"),
])
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


def test_csv_neutralises_text_file_and_error_but_raw_text_keeps_them():
    results = [FileResult("=evil.png", "error", "@oops", []), FileResult("x.png", "ok", "", [
        PageResult(0, 9, 9, [_line(0, "=1+1"), _line(1, "-3")])])]
    frame = _read_csv(_csv(results))
    assert list(frame["file"]) == ["'=evil.png", "x.png", "x.png"]
    assert frame.loc[0, "error"] == "'@oops"
    assert list(frame["text"][1:]) == ["'=1+1", "-3"]
    raw = _read_csv(_csv(results, raw_text=True))
    assert list(raw["file"]) == ["=evil.png", "x.png", "x.png"]
    assert list(raw["text"][1:]) == ["=1+1", "-3"]


def test_csv_of_no_files_is_just_the_header():
    assert _csv([]) == ",".join(CSV_COLUMNS) + "\n"


def test_csv_written_in_pieces_matches_one_piece(monkeypatch):
    many = [FileResult(f"f{i:03d}.png", "ok", "", [PageResult(0, 9, 9, [_line(0, f"t{i}")])])
            for i in range(25)] + _results()
    whole = _csv(many)
    monkeypatch.setattr("batch_ocr.writers._CSV_ROWS_PER_WRITE", 4)
    assert _csv(many) == whole
    assert whole.count("\nf0") == 25


def test_json_shape():
    stream = io.StringIO()
    summary = SummaryCounter()
    card = {"name": "fake", "version": "1", "charset": "abc"}
    write_json(summary.counted(_results()), stream, card, summary)
    doc = json.loads(stream.getvalue())
    assert list(doc) == ["model", "files", "summary"]
    assert doc["model"] == card
    assert [f["file"] for f in doc["files"]] == ["a/one.png", "b.tif", "blank.png", "bad.png"]
    first = doc["files"][0]
    assert list(first) == ["file", "status", "error", "pages"]
    page = first["pages"][0]
    assert list(page) == ["page", "width", "height", "lines"]
    line = page["lines"][0]
    assert list(line) == ["line", "text", "confidence", "box", "chars"]
    assert line["box"] == [1, 2, 30, 10] and line["confidence"] == 0.9123
    assert line["chars"][0] == {"char": "H", "confidence": 0.5}
    assert doc["files"][3] == {"file": "bad.png", "status": "error",
                               "error": "cannot decode image: truncated PNG", "pages": []}
    assert set(doc["summary"]) == {"files", "ok", "empty", "error", "lines", "seconds"}
    assert {k: doc["summary"][k] for k in ("files", "ok", "empty", "error", "lines")} == \
        {"files": 4, "ok": 2, "empty": 1, "error": 1, "lines": 5}


def test_json_keeps_non_ascii_and_never_neutralises():
    stream = io.StringIO()
    summary = SummaryCounter()
    results = [FileResult("é.png", "ok", "", [PageResult(0, 5, 5, [_line(0, "=Größe €")])])]
    write_json(summary.counted(results), stream, {}, summary)
    assert "Größe €" in stream.getvalue()
    assert json.loads(stream.getvalue())["files"][0]["pages"][0]["lines"][0]["text"] == "=Größe €"


def test_jsonl_has_one_object_per_csv_row_with_csv_keys_plus_chars():
    stream = io.StringIO()
    write_jsonl(_results(), stream)
    rows = [json.loads(line) for line in stream.getvalue().splitlines()]
    frame = _read_csv(_csv(_results(), raw_text=True))
    assert len(rows) == len(frame)
    for row, (_, csv_row) in zip(rows, frame.iterrows()):
        assert list(row) == CSV_COLUMNS + ["chars"]
        assert row["file"] == csv_row["file"] and row["text"] == csv_row["text"]
        assert (row["page"], row["line"]) == (csv_row["page"], csv_row["line"])
    assert rows[0]["chars"][1] == {"char": "e", "confidence": 0.51}
    assert rows[-1]["confidence"] is None and rows[-1]["chars"] == []


def test_journal_dict_round_trip_is_exact():
    for compact in (False, True):
        for result in _results():
            back = file_from_dict(json.loads(json.dumps(file_to_dict(result, compact=compact))))
            assert back == result


def test_compact_form_keeps_confidences_alone_where_the_text_spells_the_chars():
    spelled = LineResult(0, "ab", 0.9, (0, 0, 4, 2),
                         [CharConfidence("a", 0.25), CharConfidence("b", 0.5)])
    # Characters that are not the text one for one (a caller's own result) keep the full form.
    other = LineResult(1, "ab", 0.9, (0, 2, 4, 2), [CharConfidence("x", 0.25)])
    result = FileResult("f.png", "ok", "", [PageResult(0, 4, 4, [spelled, other])])
    lines = file_to_dict(result, compact=True)["pages"][0]["lines"]
    assert lines[0]["char_confidences"] == [0.25, 0.5] and "chars" not in lines[0]
    assert lines[1]["chars"] == [{"char": "x", "confidence": 0.25}]
    assert "char_confidences" not in file_to_dict(result)["pages"][0]["lines"][0]
    assert file_from_dict(json.loads(json.dumps(file_to_dict(result, compact=True)))) == result


@pytest.mark.parametrize("output, fmt, expected", [
    ("out.csv", None, "csv"), ("x/out.JSON", None, "json"), ("out.jsonl", None, "jsonl"),
    ("out.txt", "csv", "csv"), ("-", "jsonl", "jsonl"), ("out.csv", "JSON", "json"),
])
def test_format_for(output, fmt, expected):
    assert format_for(output, fmt) == expected


@pytest.mark.parametrize("output, fmt", [("out.txt", None), ("out", None), ("-", None),
                                         ("out.csv", "xml")])
def test_format_for_rejects(output, fmt):
    with pytest.raises(FormatError):
        format_for(output, fmt)


def test_pandas_loads_only_for_csv_and_off_the_start_up():
    # The job imports the writers before it starts its worker process and loads the model:
    # pandas (0.2 s) must not be part of that, and warm_up brings it in for CSV alone, once the
    # recogniser has read its first batch.
    code = (
        "import sys\n"
        "import batch_ocr.job\n"
        "from batch_ocr.writers import warm_up\n"
        "assert 'pandas' not in sys.modules, 'imported with the job'\n"
        "warm_up('jsonl')\n"
        "import threading\n"
        "for thread in threading.enumerate():\n"
        "    if thread is not threading.current_thread(): thread.join()\n"
        "assert 'pandas' not in sys.modules, 'imported for jsonl'\n"
        "first_read = threading.Event()\n"
        "warm_up('csv', after=first_read)\n"
        "import time; time.sleep(0.5)\n"
        "assert 'pandas' not in sys.modules, 'imported before the first batch was read'\n"
        "first_read.set()\n"
        "for thread in threading.enumerate():\n"
        "    if thread is not threading.current_thread(): thread.join()\n"
        "assert 'pandas' in sys.modules, 'not imported for csv'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
