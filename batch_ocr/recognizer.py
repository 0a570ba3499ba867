"""Model directory -> recogniser: crops in, text with line and character confidences out.

`CropReader` reads height-normalised crops with any in-memory SRN (training validation uses it);
`Recognizer` adds loading a model directory and whole pages (segmentation + joining pieces).
"""
from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from batch_ocr.batching import DEFAULT_BATCH_SIZE, batch_input, normalise_crop, plan_batches
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
    from batch_ocr.rules import page_for_crops
    from batch_ocr.segment import find_layout

    layout = find_layout(page, segment)
    regions = layout.lines
    # Cell borders and underlines are painted out of what the recogniser sees ("|" otherwise).
    source = page_for_crops(page, layout.rules)
    # Tilted pages are rotated level once, so a piece never picks up its neighbour lines.
    crops = [[normalise_crop(crop, height) for crop in piece_crops]
             for piece_crops in deskewed_crops(source, regions)]
    return PreparedPage(page if keep_gray else None, regions, crops)


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

    def decode_batches(self, batches: list, inputs: Callable[[Any], tuple]
                       ) -> Iterator[list[np.ndarray]]:
        """The decoder's outputs as arrays for each of `batches`, in order; `inputs(batch)` makes
        a batch's (images, widths). With `streams` above one, that many batches are decoded at
        once, each in a thread of its own (TensorFlow runs a call without holding the GIL), and
        their inputs are made there too."""
        def decode(batch) -> list[np.ndarray]:
            images, widths = inputs(batch)
            return [t.numpy() for t in self.decoder.decode(images, widths, self.max_length)]

        if self.streams <= 1 or len(batches) <= 1:
            yield from map(decode, batches)
            return
        pool = ThreadPoolExecutor(min(self.streams, len(batches)),
                                  thread_name_prefix="batch-ocr-model")
        # A batch queued behind each one running, so no thread waits while the caller turns the
        # last outputs into readings; no more, so a failure or an early stop wastes little.
        window = 2 * self.streams
        pending: deque = deque()
        try:
            for batch in batches:
                if len(pending) == window:
                    yield pending.popleft().result()
                pending.append(pool.submit(decode, batch))
            while pending:
                yield pending.popleft().result()
        finally:  # also when the caller stops early: batches not started are dropped
            pool.shutdown(wait=True, cancel_futures=True)

    def read_crops(self, crops: list[np.ndarray]) -> list[CropReading]:
        readings: list[CropReading | None] = [None] * len(crops)
        widths = [c.shape[1] for c in crops]
        # Batches hold about the same number of pixels: wide crops come in smaller batches.
        batches = plan_batches(widths, self.batch_size)
        outputs = self.decode_batches(
            batches, lambda batch: batch_input(crops, batch, self.batch_size))
        # Outputs first: zip then runs the generator to its end, which closes its threads.
        for (tokens, probs, ctc_tokens, ctc_probs, ctc_lengths), batch in zip(outputs, batches):
            for row, index in enumerate(batch):
                readings[index] = self.reading(tokens[row], probs[row], ctc_tokens[row],
                                               ctc_probs[row], int(ctc_lengths[row]))
        return readings  # type: ignore[return-value]

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

    def _read_pages(self, pages: list[np.ndarray | PreparedPage], segment: str
                    ) -> list[list[LineResult]]:
        prepared = [page if isinstance(page, PreparedPage) else self._prepare(page, segment)
                    for page in pages]
        crops, owners = [], []
        for page_index, page in enumerate(prepared):
            for line_index, piece_crops in enumerate(page.crops):
                crops.extend(piece_crops)
                owners.extend([(page_index, line_index)] * len(piece_crops))
        readings = self.read_crops(crops) if crops else []
        grouped: dict[tuple[int, int], list[CropReading]] = {}
        for owner, reading in zip(owners, readings):
            grouped.setdefault(owner, []).append(reading)
        results: list[list[LineResult]] = []
        for page_index, page in enumerate(prepared):
            lines = []
            for line_index, region in enumerate(page.regions):
                pieces = grouped.get((page_index, line_index), [])
                if not any(r.text for r in pieces):
                    continue
                lines.append(join_pieces(len(lines), region, pieces))
            results.append(lines)
        return results

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
    from batch_ocr.model.inference import as_variables
    from batch_ocr.model.weights import read_weights

    try:
        # The arrays alone, without building the Keras model (0.4 s at every start).
        weights = read_weights(weights_path)
    except Exception:  # noqa: BLE001 - unreadable here: Keras's loader below says why
        weights = None
    if weights is not None:
        return Recognizer(model_dir, card, as_variables(weights), use_bfloat16_inference(),
                          streams)
    import keras

    import batch_ocr.model.layers  # noqa: F401 - registers the custom layers for safe loading

    try:
        model = keras.models.load_model(weights_path, safe_mode=True, compile=False)
    except Exception as exc:  # keras raises many types for a bad file; all mean "unusable model"
        raise ModelError(f"cannot load model {weights_path}: {exc}") from exc
    return Recognizer(model_dir, card, model, use_bfloat16_inference(), streams)
