"""The model's batches as one stream across a job's chunks (recognizer.read_crop_groups), with a
stand-in decoder: readings in order, failures kept to their group; and with the shipped model: a
job writes the same bytes whether it reads its chunks as one stream or one by one."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from batch_ocr import job
from batch_ocr.recognizer import CropReader, _Streams

sys.path.insert(0, str(Path(__file__).parent))
from job_helper import line_image, make_line_images  # noqa: E402

BROKEN_WIDTH = 13  # the stand-in decoder fails on a batch holding a crop this wide


class WidthReader(CropReader):
    """Reads each crop as its width (as an int), from batches decoded like the real ones: in
    `_decode_batch`, on the streams' threads; a batch holding a BROKEN_WIDTH crop raises."""

    def __init__(self, streams: int, batch_size: int = 2, delay: float = 0.0):
        # No model: CropReader.__init__ would build a decoder.
        self.streams, self.batch_size, self.delay = streams, batch_size, delay
        self.threads: set[str] = set()

    def _decode_batch(self, crops, batch):
        self.threads.add(threading.current_thread().name)
        widths = np.array([[crops[i].shape[1]] for i in batch])
        if BROKEN_WIDTH in widths:
            raise ValueError("a batch the decoder cannot read")
        if self.delay:
            time.sleep(self.delay * len(batch))
        zeros = np.zeros_like(widths)
        return [widths, zeros, zeros, zeros, zeros[:, 0]]

    def reading(self, tokens, probs, ctc_tokens, ctc_probs, ctc_length):
        return int(tokens[0])


def _crops(*widths: int) -> list[np.ndarray]:
    return [np.full((4, width), 255, np.uint8) for width in widths]


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_groups_come_back_in_order_each_crop_with_its_own_reading(streams):
    reader = WidthReader(streams, delay=0.002)
    groups = [_crops(30, 10, 20, 40, 50), _crops(), _crops(7), _crops(90, 5, 60, 8, 70, 6, 80)]
    assert list(reader.read_crop_groups(iter(groups))) == [
        [30, 10, 20, 40, 50], [], [7], [90, 5, 60, 8, 70, 6, 80]]
    assert reader.read_crops(_crops(3, 1, 2)) == [3, 1, 2]
    if streams > 1:
        assert reader.threads <= {f"batch-ocr-model_{i}" for i in range(streams)}
        assert len(reader.threads) > 1  # several batches really were read at once


@pytest.mark.parametrize("streams", [1, 2])
def test_a_group_whose_batch_fails_gives_its_error_and_the_rest_go_on(streams):
    reader = WidthReader(streams)
    outcomes = list(reader.read_crop_groups(iter([
        _crops(4, 5), _crops(20, BROKEN_WIDTH, 30, 40), _crops(6)])))
    assert outcomes[0] == [4, 5] and outcomes[2] == [6]
    assert isinstance(outcomes[1], ValueError)
    with pytest.raises(ValueError):
        reader.read_crops(_crops(BROKEN_WIDTH))


def test_one_stream_gives_a_group_out_before_it_asks_for_the_next():
    reader = WidthReader(1)
    events = []

    def groups():
        for number in range(3):
            events.append(f"asked {number}")
            yield _crops(10 + number, 20 + number)

    for readings in reader.read_crop_groups(groups()):
        events.append(f"read {readings[0] - 10}")
    assert events == ["asked 0", "read 0", "asked 1", "read 1", "asked 2", "read 2"]


def test_streams_give_outcomes_in_the_order_the_calls_were_made():
    streams = _Streams(2)
    try:
        # The first call takes longest: the later ones wait for it to come out first.
        for tag, seconds in enumerate([0.05, 0.0, 0.01, 0.0]):
            streams.submit(tag, time.sleep, seconds)
        streams.submit("bad", int, "not a number")
        outcomes = list(streams.finished(wait=True))
    finally:
        streams.close()
    assert [tag for tag, _ in outcomes] == [0, 1, 2, 3, "bad"]
    assert isinstance(outcomes[-1][1], ValueError)


def test_a_job_reads_its_chunks_as_one_stream_to_the_same_bytes(tmp_path, monkeypatch):
    from batch_ocr.recognizer import load_model

    folder = tmp_path / "lines"
    make_line_images(folder, 24)
    # Chunks of a few files, so the stream runs across many chunk ends.
    monkeypatch.setattr(job, "FIRST_CHUNK_PAGES", 2)
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 4)
    recognizer = load_model("printed")
    recognizer.streams = 2

    class ChunkByChunk:
        """The recogniser without read_page_groups: the job reads chunk by chunk."""

        card = recognizer.card

        def __init__(self):
            self.batch_size = None

        def read_pages(self, pages, segment="auto"):
            recognizer.batch_size = self.batch_size
            return recognizer.read_pages(pages, segment)

    outputs = []
    for reader in (recognizer, ChunkByChunk()):
        out = tmp_path / f"{type(reader).__name__}.csv"
        assert job.run_job([str(folder)], str(out), recognizer=reader, quiet=True,
                           batch_size=3) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") == 25 and b",ok," in outputs[0]


def test_a_chunk_the_stream_cannot_read_costs_only_its_bad_file(tmp_path, monkeypatch):
    from batch_ocr.recognizer import load_model

    folder = tmp_path / "lines"
    make_line_images(folder, 9)
    # One file far narrower than the rest: the model "fails" on any batch that holds its crop.
    line_image("Hi").save(folder / "line_0004_short.png")
    monkeypatch.setattr(job, "FIRST_CHUNK_PAGES", 2)
    monkeypatch.setattr(job, "PAGES_PER_CHUNK", 4)
    recognizer = load_model("printed")
    recognizer.streams = 2
    decode = recognizer._decode_batch

    def failing(crops, batch):
        if min(crops[i].shape[1] for i in batch) < 100:
            raise RuntimeError("the model failed on this batch")
        return decode(crops, batch)

    monkeypatch.setattr(recognizer, "_decode_batch", failing)
    out = tmp_path / "out.csv"
    assert job.run_job([str(folder)], str(out), recognizer=recognizer, quiet=True) == 1
    rows = [line.split(",") for line in out.read_text(encoding="utf-8").splitlines()[1:]]
    status = {row[0]: row[9] for row in rows}
    assert status.pop("line_0004_short.png") == "error"
    assert len(status) == 9 and set(status.values()) == {"ok"}
    assert "recognition failed: RuntimeError: the model failed on this batch" in out.read_text(
        encoding="utf-8")
