from __future__ import annotations

import numpy as np
import pytest

from batch_ocr.stats import median, quantile


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101, 1000])
@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32, np.float64])
def test_agrees_with_numpy(size, dtype):
    rng = np.random.default_rng(size)
    values = (rng.random(size) * 200).astype(dtype)
    assert median(values) == pytest.approx(float(np.median(values)), rel=1e-6)
    for q in (0.0, 0.25, 0.9, 0.95, 1.0):
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)), rel=1e-6)


def test_whole_array_scalars_and_empty():
    grid = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert median(grid) == 5.5  # flattened, not per axis
    assert quantile(np.float64(7.0), 0.95) == 7.0
    with pytest.raises(ValueError):
        median(np.array([]))


@pytest.mark.parametrize("size", [1, 2, 7, 10, 1001])
def test_median_of_a_histogram_is_the_median_of_its_values(size):
    """binarize reads the median of |pixel - paper| off a 256-level histogram."""
    from batch_ocr.binarize import _histogram_median

    rng = np.random.default_rng(size)
    steps = rng.integers(0, 8, size)
    levels = np.arange(10, dtype=np.float32) * np.float32(1.5)
    counts = np.bincount(steps, minlength=10)  # levels with no pixels too, as in an image's
    assert _histogram_median(levels, counts) == median(levels[steps])
