"""Median and quantiles of small arrays, for segmentation's per-line statistics.

`np.median` and `np.percentile` handle any axis, NaNs and weights; segmentation calls them half a
dozen times per crop on arrays of tens to thousands of values, where that generality is most of the
cost (about 45 of 60 microseconds per call). These take the whole array, flattened, and give
NumPy's default (linear) estimate, so results agree with NumPy's to float rounding.
"""
from __future__ import annotations

import math

import numpy as np


def quantile(values, q: float) -> float:
    """The `q`-quantile (0..1) of all of `values`, interpolated linearly like `np.quantile`."""
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        raise ValueError("quantile of an empty array")
    position = q * (flat.size - 1)
    low = int(math.floor(position))
    high = min(low + 1, flat.size - 1)
    part = np.partition(flat, (low, high)) if high != low else np.partition(flat, low)
    below, above = float(part[low]), float(part[high])
    return below + (position - low) * (above - below)


def median(values) -> float:
    """The median of all of `values` (the mean of the middle two for an even count)."""
    return quantile(values, 0.5)
