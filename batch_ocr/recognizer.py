"""Model directory -> recogniser: crops in, text with line and character confidences out.

`CropReader` reads height-normalised crops with any in-memory SRN (training validation uses it);
`Recognizer` adds loading a model directory and whole pages (segmentation + joining pieces).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from batch_ocr.batching import (
    DEFAULT_BATCH_SIZE,
    batch_input,
    batch_shape,
    normalise_crop,
    plan_batches,
)
from batch_ocr.charset import EOS, NUM_SPECIAL, Charset
from batch_ocr.records import CharConfidence, LineRegion, LineResult

MODELS_DIR = Path(__file__).parent / "models"
# How much surer (mean line confidence) a turned page's reading must be to beat the page as given.
ROTATION_MARGIN = 0.1
DEFAULT_MODEL = "printed"


class ModelError(Exception):
    """The model name or directory cannot be loaded; str() says why."""


@dataclass
class PreparedPage:
    """A page segmented and cut into model-ready crops: everything before the model, which needs
    no model and so can run ahead (job.py does it in its reader thread) while the model reads the
    previous chunk. `read_pages` takes these in place of arrays."""

    gray: np.ndarray | None  # None when made in the worker process (prepare.py): not sent back
    regions: list[LineRegion]
    crops: list[list[np.ndarray]]  # per region, its pieces at the model height


def prepare_page(page: np.ndarray, segment: str, height: int, keep_gray: bool = True
                 ) -> PreparedPage:
    """Segment `page` and cut its crops at the model `height` (no model, no TensorFlow)."""
    from batch_ocr.deskew import deskewed_crops
    from batch_ocr.segment import find_layout

    layout = find_layout(page, segment)
    regions = layout.lines
    source = crop_source(page, layout)
    # Tilted pages are rotated level once, so a piece never picks up its neighbour lines.
    crops = [[normalise_crop(crop, height) for crop in piece_crops]
             for piece_crops in deskewed_crops(source, regions, dark_paper=layout.light_on_dark)]
    return PreparedPage(page if keep_gray else None, regions, crops)


def crop_source(page: np.ndarray, layout) -> np.ndarray:
    """The image that `page`'s crops are cut from, given its `segment.Layout`: ruling lines
    painted out (a cell border is read as "|" otherwise) and the paper made white
    (`binarize.paper_to_white`; light print on dark is turned over crop by crop, later)."""
    from batch_ocr.binarize import paper_to_white
    from batch_ocr.rules import page_for_crops

    source = page_for_crops(page, layout.rules)
    if layout.light_on_dark:
        return source
    # The page's own histogram, counted while flattening it, serves unless rules were painted out.
    return paper_to_white(source, layout.gray_counts if source is page else None)


@dataclass
class CropReading:
    text: str
    confidence: float
    chars: list[CharConfidence]
    ctc_text: str


def line_confidence(char_probs: list[float], eos_prob: float, agrees_with_ctc: bool) -> float:
    """Confidence that a whole line is right.

    The geometric mean of the chosen-token probabilities (EOS included, so a line that might go on
    is doubted) behaves like a per-character probability; the attention and CTC heads read the crop
    independently, and when they disagree the line is wrong far more often, so the score is halved.
    """
    probs = [max(p, 1e-6) for p in char_probs] + [max(eos_prob, 1e-6)]
    score = math.exp(sum(math.log(p) for p in probs) / len(probs))
    return score if agrees_with_ctc else 0.5 * score


def _ctc_chars(tokens: np.ndarray, probs: np.ndarray, length: int, charset: Charset
               ) -> list[CharConfidence]:
    """Greedy CTC reading: collapse repeats, drop blanks; a character's confidence is the best
    frame probability among the frames that emitted it."""
    out: list[CharConfidence] = []
    previous = -1
    # Lists of Python numbers: iterating the arrays would make a NumPy scalar of every frame.
    for token, prob in zip(tokens[:length].tolist(), probs[:length].tolist()):
        if token >= NUM_SPECIAL:
            if token != previous:
                out.append(CharConfidence(charset.chars[token - NUM_SPECIAL], prob))
            elif out:
                out[-1].confidence = max(out[-1].confidence, prob)
        previous = token
    return out


def _runaway(attention_length: int, eos_prob: float, ctc_length: int) -> bool:
    """Whether an attention reading looks derailed next to the CTC reading of the same crop."""
    if eos_prob == 0.0:
        return True
    slack = 2 + 0.25 * ctc_length
    return abs(attention_length - ctc_length) > slack


class CropReader:
    """Reads uint8 crops already normalised to the model height (dark text on light)."""

    def __init__(self, model, charset: Charset, height: int, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_length: int = 150, bfloat16: bool = False, streams: int = 1):
        from batch_ocr.model.decode import GreedyDecoder

        self.charset = charset
        self.height = height
        self.batch_size = batch_size
        self.max_length = max_length
        self.bfloat16 = bfloat16  # whether the bulk products run in bfloat16 (GreedyDecoder)
        self.streams = streams  # batches decoded at once (tf_setup.inference_streams)
        self.decoder = GreedyDecoder(model, height, bfloat16)
        # Set once a batch has been read: the model's graph is traced and set up by then
        # (writers.warm_up waits for it).
        self.first_read = threading.Event()

    def decode_batches(self, batches: list, inputs: Callable[[Any], tuple]
                       ) -> Iterator[list[np.ndarray]]:
        """The decoder's outputs as arrays for each of `batches`, in order; `inputs(batch)` makes
        a batch's (images, widths). With `streams` above one, that many batches are decoded at
        once, each in a thread of its own (TensorFlow runs a call without holding the GIL), and
        their inputs are made there too."""
        def decode(batch) -> list[np.ndarray]:
            return self._decode(*inputs(batch))

        with contextlib.closing(_Streams(self.streams if len(batches) > 1 else 1)) as streams:
            for batch in batches:
                streams.submit(None, decode, batch)
                for _, outputs in streams.finished():
                    yield _raised(outputs)
            for _, outputs in streams.finished(wait=True):
                yield _raised(outputs)

    def _decode(self, images, widths) -> list[np.ndarray]:
        outputs = [t.numpy() for t in self.decoder.decode(images, widths, self.max_length)]
        self.first_read.set()
        return outputs

    def _decode_batch(self, crops: list[np.ndarray], batch: list[int]) -> list[np.ndarray]:
        return self._decode(*batch_input(crops, batch, self.batch_size))

    def read_crops(self, crops: list[np.ndarray]) -> list[CropReading]:
        (readings,) = self.read_crop_groups([crops])
        return _raised(readings)

    def read_crop_groups(self, groups: Iterable[list[np.ndarray]]
                         ) -> Iterator[list[CropReading] | Exception]:
        """`read_crops` of each group of crops (a job's chunk), in order, as one stream of batches.

        A group's batches are the ones `read_crops` makes of it alone, so its readings are the
        same to the last bit; but the next group's batches start while this group's last ones
        run. Called group by group, each group's end left a stream idle while the other read the
        group's last batch (6 % of the model's time on 1 800 one-line files). A group whose
        reading raises gives the exception in its place, and the groups after it go on. The next
        group is asked for only when this one's batches are all under way, and groups already
        read are given out first (building the next one can take a while: pages)."""
        waiting: deque[_CropGroup] = deque()

        def done(outcomes) -> Iterator[list[CropReading] | Exception]:
            for (group, index), outputs in outcomes:
                group.take(index, outputs)
            while waiting and waiting[0].left == 0:
                yield _outcome(waiting.popleft().readings, self)

        with contextlib.closing(_Streams(self.streams)) as streams:
            for crops in groups:
                group = _CropGroup(crops)
                group.plan(self.batch_size)
                waiting.append(group)
                for index in group.costliest_first(self.batch_size):
                    batch = group.batches[index]
                    streams.submit((group, index), self._decode_batch, crops, batch)
                    yield from done(streams.finished())
                yield from done(streams.finished())
            yield from done(streams.finished(wait=True))

    def reading(self, tokens, probs, ctc_tokens, ctc_probs, ctc_length) -> CropReading:
        """One crop's decoder outputs -> text, confidences. The attention reading is the answer
        unless it has run away (no end-of-line, or far longer or shorter than the CTC reading:
        attention decoders can loop on repetitive text), in which case the CTC reading, which
        cannot loop, stands in; the disagreement halves the confidence either way."""
        chars: list[CharConfidence] = []
        eos_prob = 0.0  # a sequence cut at the length cap never said it was complete
        for token, prob in zip(tokens.tolist(), probs.tolist()):
            if token == EOS:
                eos_prob = prob
                break
            if token >= NUM_SPECIAL:
                chars.append(CharConfidence(self.charset.chars[token - NUM_SPECIAL], prob))
        ctc_chars = _ctc_chars(ctc_tokens, ctc_probs, ctc_length, self.charset)
        ctc_text = "".join(c.char for c in ctc_chars)
        agrees = ctc_text == "".join(c.char for c in chars)
        if _runaway(len(chars), eos_prob, len(ctc_chars)):
            chars, eos_prob = ctc_chars, 1.0
        text = "".join(c.char for c in chars)
        confidence = line_confidence([c.confidence for c in chars], eos_prob, agrees)
        return CropReading(text, confidence, chars, ctc_text)


class _Streams:
    """Runs calls on `count` threads, at most two per thread under way (one running, one queued
    behind it, so no thread waits while the caller turns the last outputs into readings; no
    more, so a failure or an early stop wastes little), and gives their outcomes back in the
    order they were submitted: the return value, or the exception raised. One stream runs each
    call in the caller's thread as it is submitted."""

    def __init__(self, count: int):
        self._pool = (ThreadPoolExecutor(count, thread_name_prefix="batch-ocr-model")
                      if count > 1 else None)
        self._window = 2 * count
        self._running: deque[tuple[Any, Future]] = deque()
        self._done: deque[tuple[Any, Any]] = deque()

    def submit(self, tag: Any, call: Callable, *args) -> None:
        if self._pool is None:
            self._done.append((tag, _outcome(call, *args)))
            return
        while len(self._running) >= self._window:
            self._collect()
        self._running.append((tag, self._pool.submit(call, *args)))

    def finished(self, wait: bool = False) -> Iterator[tuple[Any, Any]]:
        """(tag, outcome) of the calls done so far, in submission order (`wait`: of them all)."""
        while self._running and (wait or self._running[0][1].done()):
            self._collect()
        while self._done:
            yield self._done.popleft()

    def _collect(self) -> None:
        tag, future = self._running.popleft()
        self._done.append((tag, _outcome(future.result)))

    def close(self) -> None:
        # Also when the caller stops early: calls not started are dropped.
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _outcome(call: Callable, *args) -> Any:
    try:
        return call(*args)
    except Exception as exc:  # noqa: BLE001 - handed to whoever reads this outcome
        return exc


def _raised(outcome: Any) -> Any:
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@dataclass
class _CropGroup:
    """One group of `read_crop_groups`: its crops, their batches, and their outputs so far."""

    crops: list[np.ndarray]
    batches: list[list[int]] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    left: int = 0  # batches not read yet
    error: Exception | None = None

    def plan(self, batch_size: int) -> None:
        """Its batches as `read_crops` makes them (a crop that upsets planning fails the group)."""
        try:
            self.batches = plan_batches([c.shape[1] for c in self.crops], batch_size)
        except Exception as exc:  # noqa: BLE001 - this group's error, not the stream's
            self.error = exc
        self.outputs = [None] * len(self.batches)
        self.left = len(self.batches)

    def costliest_first(self, batch_size: int) -> list[int]:
        """Its batches' indices, the most padded pixels first (as planned for `batch_size`): the
        batches read last are then the small ones, and at the end of a job the streams finish
        close together."""
        def cost(index: int) -> int:
            batch = self.batches[index]
            rows, width = batch_shape(len(batch), max(self.crops[i].shape[1] for i in batch),
                                      batch_size)
            return rows * width

        return sorted(range(len(self.batches)), key=lambda index: -cost(index))

    def take(self, index: int, outputs: Any) -> None:
        if isinstance(outputs, Exception):
            self.error = self.error or outputs
        else:
            self.outputs[index] = outputs
        self.left -= 1

    def readings(self, reader: CropReader) -> list[CropReading] | Exception:
        if self.error is not None:
            return self.error
        readings: list[CropReading | None] = [None] * len(self.crops)
        for (tokens, probs, ctc_tokens, ctc_probs, ctc_lengths), batch in zip(self.outputs,
                                                                             self.batches):
            for row, index in enumerate(batch):
                readings[index] = reader.reading(tokens[row], probs[row], ctc_tokens[row],
                                                 ctc_probs[row], int(ctc_lengths[row]))
        return readings  # type: ignore[return-value]


def resolve_model_dir(name_or_dir: str) -> Path:
    candidate = Path(name_or_dir)
    if candidate.is_dir():
        return candidate
    shipped = MODELS_DIR / name_or_dir
    if shipped.is_dir():
        return shipped
    names = sorted(p.name for p in MODELS_DIR.iterdir() if (p / "card.json").is_file())
    raise ModelError(f"unknown model '{name_or_dir}': not a directory and not one of {names}")


class Recognizer(CropReader):
    """A model directory (model.keras + card.json) ready to read pages."""

    def __init__(self, model_dir: Path, card: dict, model, bfloat16: bool = False,
                 streams: int = 1):
        super().__init__(model, Charset(card["charset"]), int(card["input_height"]),
                         bfloat16=bfloat16, streams=streams)
        self.model_dir = model_dir
        self.card = card

    rotate = "none"  # "auto": try the page turned by quarter turns and keep the surest reading

    @property
    def arithmetic(self) -> str:
        """What the reports say the model computed in."""
        return "bfloat16" if self.bfloat16 else "float32"

    def read_pages(self, pages: list[np.ndarray | PreparedPage], segment: str = "auto"
                   ) -> list[list[LineResult]]:
        """Lines for each page, recognising every page's pieces in shared batches. A page may
        come as a `PreparedPage` from `prepare_page` (with the same `segment`)."""
        if self.rotate == "auto":
            grays = [page.gray if isinstance(page, PreparedPage) else page for page in pages]
            return [self._read_upright(gray, segment) for gray in grays]
        return self._read_pages(pages, segment)

    def prepare_page(self, page: np.ndarray, segment: str = "auto") -> PreparedPage | None:
        """Segment `page` and cut its crops now (thread-safe: no model involved), or None when
        this recogniser cannot work ahead (with rotate='auto' the turn is chosen by reading)."""
        if self.rotate == "auto":
            return None
        return self._prepare(page, segment)

    def _prepare(self, page: np.ndarray, segment: str) -> PreparedPage:
        return prepare_page(page, segment, self.height)

    def _read_upright(self, page: np.ndarray, segment: str) -> list[LineResult]:
        """Layout says whether lines run across or down the page; which of the two remaining
        turns is upright only reading can tell, so each candidate is read and the reading with the
        highest character-weighted confidence wins. Boxes go back to the page as given."""
        from batch_ocr.deskew import rotation_candidates, unrotate_box

        best: tuple[float, int, list[LineResult]] | None = None
        for turns, image in rotation_candidates(page):
            lines = self._read_pages([image], segment)[0]
            chars = sum(len(line.text) for line in lines)
            score = sum(line.confidence * len(line.text) for line in lines) / chars if chars else 0.0
            # The page as given wins unless a turn reads clearly better: short or symmetric text
            # (digit strings, one word) reads almost as confidently when cut up sideways.
            margin = ROTATION_MARGIN if best is not None and best[1] == 0 else 0.0
            if best is None or score > best[0] + margin:
                best = (score, turns, lines)
        _, turns, lines = best
        for line in lines:
            line.box = unrotate_box(line.box, turns, page.shape)
        return lines

    def read_page_groups(self, groups: Iterable[list[np.ndarray | PreparedPage]],
                         segment: str = "auto") -> Iterator[list[list[LineResult]] | Exception]:
        """`read_pages` of each group of pages (a job's chunk), in order, with the model reading
        one group into the next (`read_crop_groups`: the same readings as group by group). A
        group whose reading raises gives the exception in its place; the groups after it go on."""
        if self.rotate == "auto":  # every page is read several times over: no stream to keep
            for pages in groups:
                yield _outcome(self.read_pages, pages, segment)
            return
        gathered: deque[_GatheredPages | Exception] = deque()

        def crop_groups() -> Iterator[list[np.ndarray]]:
            for pages in groups:
                gathering = _outcome(self._gather, pages, segment)
                gathered.append(gathering)
                yield [] if isinstance(gathering, Exception) else gathering.crops

        for readings in self.read_crop_groups(crop_groups()):
            gathering = gathered.popleft()
            if isinstance(gathering, Exception):
                yield gathering
            elif isinstance(readings, Exception):
                yield readings
            else:
                yield _outcome(gathering.lines, readings)

    def _read_pages(self, pages: list[np.ndarray | PreparedPage], segment: str
                    ) -> list[list[LineResult]]:
        gathering = self._gather(pages, segment)
        return gathering.lines(self.read_crops(gathering.crops) if gathering.crops else [])

    def _gather(self, pages: list[np.ndarray | PreparedPage], segment: str) -> _GatheredPages:
        prepared = [page if isinstance(page, PreparedPage) else self._prepare(page, segment)
                    for page in pages]
        gathering = _GatheredPages(prepared)
        for page_index, page in enumerate(prepared):
            for line_index, piece_crops in enumerate(page.crops):
                gathering.crops.extend(piece_crops)
                gathering.owners.extend([(page_index, line_index)] * len(piece_crops))
        return gathering

    def read(self, images, segment: str = "auto") -> list[list[LineResult]]:
        """DESIGN.md's Python API: images (grayscale uint8 arrays or paths) -> lines per image."""
        from batch_ocr.images import as_gray, read_pages

        arrays = []
        for image in images:
            if isinstance(image, (str, os.PathLike)):
                arrays.append(next(iter(read_pages(image))).gray)
            else:
                arrays.append(as_gray(image))
        return self.read_pages(arrays, segment)


@dataclass
class _GatheredPages:
    """Pages ready for the model: every line piece's crop, and the (page, line) it belongs to."""

    pages: list[PreparedPage]
    crops: list[np.ndarray] = field(default_factory=list)
    owners: list[tuple[int, int]] = field(default_factory=list)

    def lines(self, readings: list[CropReading]) -> list[list[LineResult]]:
        """The lines of each page from the readings of `crops`."""
        grouped: dict[tuple[int, int], list[CropReading]] = {}
        for owner, reading in zip(self.owners, readings):
            grouped.setdefault(owner, []).append(reading)
        results: list[list[LineResult]] = []
        for page_index, page in enumerate(self.pages):
            lines = []
            for line_index, region in enumerate(page.regions):
                pieces = grouped.get((page_index, line_index), [])
                if not any(r.text for r in pieces):
                    continue
                lines.append(join_pieces(len(lines), region, pieces))
            results.append(lines)
        return results


def join_pieces(line: int, region: LineRegion, pieces: list[CropReading]) -> LineResult:
    """Words/chunks of one line (one reading per region piece) -> one line: texts joined by
    single spaces, or by nothing where the region says a piece continues the previous word;
    confidence is the character-weighted geometric mean of the pieces. Pieces read as nothing
    (specks) are dropped."""
    chars: list[CharConfidence] = []
    kept = []
    for index, piece in enumerate(pieces):
        if not piece.text:
            continue
        if index == 0 and 1 in region.glued and len(piece.chars) == 1:
            piece = _as_initial(piece)
        if chars and index not in region.glued:
            # The space between pieces comes from layout, not the model; it is as sure as the
            # least sure of its neighbours' edges.
            chars.append(CharConfidence(" ", min(chars[-1].confidence, piece.chars[0].confidence)))
        chars.extend(piece.chars)
        kept.append(piece)
    weights = np.array([len(p.text) for p in kept], dtype=np.float64)
    logs = np.array([math.log(max(p.confidence, 1e-6)) for p in kept])
    confidence = float(math.exp((weights * logs).sum() / weights.sum()))
    text = "".join(c.char for c in chars)
    return LineResult(line=line, text=text, confidence=confidence, box=region.box, chars=chars)


# A lone glyph read without context is often taken for its look-alike symbol or digit; a drop
# capital (the only single-glyph first piece glued to its word, see segment._split_pieces: cuts
# inside words leave long pieces) is always a letter.
_INITIAL_LOOKALIKES = {"$": "S", "§": "S", "5": "S", "0": "O", "1": "I", "|": "I", "!": "I",
                       "8": "B", "6": "G", "2": "Z", "€": "E", "£": "L", "¥": "Y", "(": "C"}


def _as_initial(piece: CropReading) -> CropReading:
    char = piece.chars[0]
    letter = _INITIAL_LOOKALIKES.get(char.char)
    if letter is None:
        return piece
    return CropReading(letter, piece.confidence, [CharConfidence(letter, char.confidence)],
                       piece.ctc_text)


def read_model_card(name_or_dir: str = DEFAULT_MODEL) -> tuple[Path, dict]:
    """A model's directory and card, without TensorFlow; ModelError with a reason when the model
    cannot be used (unknown name, unreadable card, no weights file)."""
    model_dir = resolve_model_dir(name_or_dir)
    card_path, weights_path = model_dir / "card.json", model_dir / "model.keras"
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card["charset"], card["input_height"]  # noqa: B018 - required keys
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read model card {card_path}: {exc}") from exc
    if not weights_path.is_file():
        raise ModelError(f"cannot load model {weights_path}: no such file")
    return model_dir, card


def load_model(name_or_dir: str = DEFAULT_MODEL) -> Recognizer:
    """Load a shipped model by name or any model directory; raises ModelError with a reason."""
    from batch_ocr.tf_setup import collector_paused

    with collector_paused():
        return _load_model(name_or_dir)


def _load_model(name_or_dir: str) -> Recognizer:
    model_dir, card = read_model_card(name_or_dir)
    weights_path = model_dir / "model.keras"
    from batch_ocr.tf_core import import_core, tensorflow_loaded
    from batch_ocr.tf_setup import inference_streams, use_bfloat16_inference

    streams = inference_streams(tensorflow_loaded())  # before the import: it sets the threads
    import_core()
    from batch_ocr.model.inference import as_tensors
    from batch_ocr.model.weights import read_weights

    try:
        # The arrays alone, without building the Keras model (0.4 s at every start).
        weights = read_weights(weights_path)
    except Exception:  # noqa: BLE001 - unreadable here: Keras's loader below says why
        weights = None
    if weights is not None:
        return Recognizer(model_dir, card, as_tensors(weights), use_bfloat16_inference(),
                          streams)
    import keras

    import batch_ocr.model.layers  # noqa: F401 - registers the custom layers for safe loading

    try:
        model = keras.models.load_model(weights_path, safe_mode=True, compile=False)
    except Exception as exc:  # keras raises many types for a bad file; all mean "unusable model"
        raise ModelError(f"cannot load model {weights_path}: {exc}") from exc
    return Recognizer(model_dir, card, model, use_bfloat16_inference(), streams)
