import numpy as np
import pytest

from batch_ocr.batching import (DEFAULT_BATCH_SIZE, MAX_BATCH_GROWTH, REFERENCE_WIDTH,
                                batch_shape, crop_with_margin, plan_batches, prepare_crop,
                                resize_to_height, to_dark_on_light, to_model_input)


def _text_like(height=20, width=120, dark_text=True):
    rng = np.random.default_rng(0)
    image = np.full((height, width), 235, np.uint8)
    image[5:15, 10:110][rng.random((10, 100)) < 0.3] = 20
    return image if dark_text else 255 - image


def test_polarity_is_normalised_to_dark_text_on_light_paper():
    dark = _text_like()
    assert np.array_equal(to_dark_on_light(dark), dark)
    assert np.array_equal(to_dark_on_light(255 - dark), dark)


def test_short_bold_word_keeps_its_polarity():
    # Ink covering more than half of the crop must not flip it: the light border decides.
    image = np.full((30, 40), 240, np.uint8)
    image[3:27, 3:37] = 10
    assert np.array_equal(to_dark_on_light(image), image)


@pytest.mark.parametrize("shape", [(10, 50), (64, 300), (32, 32), (100, 7)])
def test_resize_keeps_aspect_ratio(shape):
    out = resize_to_height(np.full(shape, 200, np.uint8), 32)
    assert out.shape[0] == 32
    assert abs(out.shape[1] - shape[1] * 32 / shape[0]) <= 1


def test_crop_with_margin_pads_outside_the_image_with_background():
    page = np.full((50, 50), 230, np.uint8)
    page[0:10, 0:10] = 0
    crop = crop_with_margin(page, (0, 0, 10, 10), margin=0.5)
    assert crop.shape == (20, 20)
    assert crop[0, 0] == 230 and crop[10, 10] == 0


def test_a_crop_on_dark_paper_is_padded_dark_where_its_own_margin_is_dark():
    # Light strokes on black, the box at the image's top and bottom edges (MNIST cells side by
    # side): padded light, the bands along those edges would pass for the paper.
    page = np.zeros((20, 60), np.uint8)
    page[2:18, 10:14] = page[2:18, 30:34] = page[2:18, 46:50] = 250
    box = (10, 2, 40, 16)
    padded = crop_with_margin(page, box, margin=0.25, dark_paper=True)
    assert padded.shape == (24, 48)
    assert (padded[0] == 0).all() and (padded[-1] == 0).all()
    # Without the page's word, as before: the brightest common level.
    assert (crop_with_margin(page, box, margin=0.25)[0] == 250).all()
    # The page's polarity is overruled by a crop whose own margin is light paper.
    light = np.full((20, 60), 230, np.uint8)
    light[2:18, 10:50] = 20
    assert (crop_with_margin(light, box, margin=0.25, dark_paper=True)[0] == 230).all()


def test_a_light_on_dark_line_cut_tight_reaches_the_model_dark_on_light():
    # White strokes on black, every one from the image's top edge to its bottom edge.
    page = np.zeros((24, 200), np.uint8)
    for x in range(10, 186, 12):
        page[:, x:x + 3] = 255
        page[(x // 12) % 20:(x // 12) % 20 + 3, x:x + 8] = 255
    from batch_ocr.recognizer import prepare_page
    from batch_ocr.segment import find_layout

    assert find_layout(page, "line").light_on_dark
    for crop in prepare_page(page, "line", 32).crops[0]:
        assert np.median(crop) > 128  # paper light
        assert np.median(crop[0]) > 128 and np.median(crop[-1]) > 128  # no dark band


def test_prepare_crop_gives_model_height_dark_on_light():
    page = 255 - _text_like(40, 300)
    crop = prepare_crop(page, (10, 5, 280, 30), 32)
    assert crop.shape[0] == 32 and crop.dtype == np.uint8
    assert np.median(crop) > 128


def test_model_input_pads_only_to_the_batch_widest_with_blank_paper():
    crops = [np.full((32, w), 255, np.uint8) for w in (10, 30, 20)]
    crops[1][:, :] = 0
    batch, widths = to_model_input(crops)
    assert batch.shape == (3, 32, 30, 1)
    assert list(widths) == [10, 30, 20]
    assert batch[0, :, 10:].max() == 0.0  # padding is blank
    assert batch[1].min() == 1.0  # full ink


def test_model_input_of_a_given_shape_repeats_the_last_crop_in_its_extra_rows():
    crops = [np.full((32, w), 255, np.uint8) for w in (10, 30, 20)]
    crops[2][:, :5] = 0
    batch, widths = to_model_input(crops, (5, 40))
    assert batch.shape == (5, 32, 40, 1)
    assert list(widths) == [10, 30, 20, 20, 20]
    assert (batch[3] == batch[2]).all() and (batch[4] == batch[2]).all()
    assert batch[2, :, :5].min() == 1.0 and batch[:, :, 30:].max() == 0.0
    # A shape smaller than the crops' never cuts them.
    assert to_model_input(crops, (1, 8))[0].shape == (3, 32, 30, 1)


def test_batches_of_many_chunks_take_few_shapes():
    """Each new batch shape costs the oneDNN kernels' caches some megabytes for as long as the
    process runs: batches are read at widths on a ladder, full batches hold a number of crops
    fixed by their width, and the others hold counts on a ladder too. 30 chunks of crops of all
    widths (as pages give) then take some dozens of shapes, not one per batch (189 shapes before,
    padding 11 %)."""
    rng = np.random.default_rng(3)
    shapes, padded, used = set(), 0, 0
    for _ in range(30):
        widths = list(rng.integers(20, 400, int(rng.integers(300, 1500))))
        for batch in plan_batches(widths, 128):
            widest = max(widths[i] for i in batch)
            rows, width = batch_shape(len(batch), widest, 128)
            assert rows >= len(batch) and width >= widest
            assert width - widest < max(8, widest / 16)
            shapes.add((rows, width))
            padded += rows * width
            used += sum(widths[i] for i in batch)
    assert len(shapes) <= 90
    assert 1 - used / padded < 0.14


def test_plan_batches_covers_every_crop_once_and_groups_by_width():
    rng = np.random.default_rng(1)
    widths = list(rng.integers(20, 900, 500))
    batches = plan_batches(widths, 32)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    assert all(len(b) <= 32 * MAX_BATCH_GROWTH for b in batches)
    used = sum(widths)
    padded = sum(len(b) * max(widths[i] for i in b) for b in batches)
    assert 1 - used / padded < 0.15


def test_batch_size_is_a_budget_of_columns_not_a_count():
    """Narrow crops share larger batches (faster per crop), wide ones smaller (bounded memory)."""
    words = plan_batches([REFERENCE_WIDTH // 8] * 1000, 16)
    assert max(len(b) for b in words) == 16 * MAX_BATCH_GROWTH
    lines = plan_batches([REFERENCE_WIDTH] * 100, 16)
    assert [len(b) for b in lines[:-1]] == [16] * (len(lines) - 1)
    wide = plan_batches([4 * REFERENCE_WIDTH] * 40, 16)
    assert max(len(b) for b in wide) == 4
    rng = np.random.default_rng(2)
    widths = list(rng.integers(10, 3000, 400))
    for batch in plan_batches(widths, 16):
        # Only a crop wider than the whole budget may go over it, alone.
        assert len(batch) * max(widths[i] for i in batch) <= 16 * REFERENCE_WIDTH or len(batch) == 1


def test_command_line_batch_size_defaults_match_the_library():
    from batch_ocr.bench import bench_command
    from batch_ocr.cli import run_command
    for command in (run_command, bench_command):
        option = next(p for p in command.params if p.name == "batch_size")
        assert option.default == DEFAULT_BATCH_SIZE
