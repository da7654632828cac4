"""Number helpers of the numeric encoding: float conversion, precision, quantiles, grids.

Precision: the smallest number of decimals ``d`` in ``0..MAX_DECIMALS`` such that every value is
a multiple of ``10**-d`` (None for arbitrary floats), refined by the greatest common divisor of
the values on that grid. Quantiles are weighted (values with their row counts), so partial
statistics of chunks merge exactly (:func:`merge_weighted`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tabargn.errors import UnsupportedDtypeError

MAX_DECIMALS = 8
"""Most decimals detected; finer values are treated as arbitrary floats."""
_EXACT_INT = 2**53

__all__ = [
    "common_grid",
    "decimals_of",
    "grid_gcd",
    "interval_index",
    "merge_weighted",
    "plain_values",
    "round_to_grid",
    "to_float",
    "uniform_between",
    "weighted_quantiles",
]


def to_float(values) -> np.ndarray:
    """Column as ``float64 [n]`` with NaN for every missing marker (+-inf are kept)."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        try:
            s = pd.to_numeric(s, errors="raise")
        except (ValueError, TypeError) as err:
            raise UnsupportedDtypeError(f"numeric column holds non-numeric values: {err}") from None
    elif pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("Float64")
    elif not pd.api.types.is_numeric_dtype(s.dtype):
        raise UnsupportedDtypeError(f"numeric encoding cannot encode dtype {s.dtype}")
    return np.array(s.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def decimals_of(unique: np.ndarray) -> int | None:
    """Smallest ``d`` in ``0..8`` with every value a multiple of ``10**-d``; None if none."""
    if len(unique) == 0 or np.all(unique == np.floor(unique)):
        return 0
    tol_abs = np.abs(unique) * 4e-16
    for d in range(1, MAX_DECIMALS + 1):
        tol = np.maximum(tol_abs, 10.0**-d * 1e-6)
        if np.all(np.abs(np.round(unique, d) - unique) <= tol):
            return d
    return None


def grid_gcd(unique: np.ndarray, decimals: int | None) -> int:
    """GCD of the values in units of ``10**-decimals`` (0 if unknown or all zero)."""
    if decimals is None or len(unique) == 0:
        return 0
    grid = np.round(unique * 10.0**decimals)
    if np.max(np.abs(grid)) >= _EXACT_INT:
        return 1
    return int(np.gcd.reduce(np.abs(grid).astype(np.int64)))


def plain_values(values: np.ndarray, integer: bool) -> list:
    """Array as a list of plain Python numbers (ints for integer columns)."""
    values = np.asarray(values, dtype=np.float64)
    if integer and (len(values) == 0 or np.max(np.abs(values)) < _EXACT_INT):
        return [int(v) for v in values.astype(np.int64)]
    return [float(v) for v in values]


def weighted_quantiles(u: np.ndarray, w: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Inverted-CDF quantiles of sorted distinct values ``u`` with weights ``w`` (data values)."""
    cw = np.cumsum(w)
    idx = np.searchsorted(cw, probs * cw[-1], side="left")
    return u[np.clip(idx, 0, len(u) - 1)]


def merge_weighted(u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uu, inv = np.unique(u, return_inverse=True)
    return uu, np.bincount(inv.reshape(-1), weights=w, minlength=len(uu))


def round_to_grid(x: np.ndarray, stats: dict) -> np.ndarray:
    """Rounds to the detected precision (multiples of ``step``); identity without one."""
    if stats["decimals"] is None:
        return x
    scale = 10.0 ** stats["decimals"]
    g = stats["gcd"]
    return np.round(x * scale / g) * g / scale


def interval_index(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Index ``t`` of the quantile interval ``[q[t], q[t+1]]`` holding each value.

    A value repeated over several quantile points (a tie) goes to the first zero-width interval
    ``[v, v]`` so that it decodes exactly; other values go to ``q[t] <= x < q[t+1]``.
    """
    left = np.searchsorted(q, x, side="left")
    right = np.searchsorted(q, x, side="right")
    t = np.where(right - left >= 2, left, right - 1)
    return np.clip(t, 0, len(q) - 2)


def uniform_between(low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform draws in ``[low, high]`` (written to not overflow for huge ranges)."""
    u = rng.random(len(low))
    return np.clip(low * (1.0 - u) + high * u, low, high)


def common_grid(filled: list[dict]) -> tuple[int | None, int]:
    """``(decimals, gcd)`` shared by non-empty partials: the most decimals of any, and the gcd of
    their value grids at that scale (``(None, 0)`` when one has values without a decimal grid)."""
    if any(p["decimals"] is None for p in filled):
        return None, 0
    decimals = max(p["decimals"] for p in filled)
    gcd = 0
    for p in filled:
        gcd = math.gcd(gcd, int(p["gcd"]) * 10 ** (decimals - p["decimals"]))
    return decimals, gcd
