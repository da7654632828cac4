"""Precision detection of numeric columns: decimals and the greatest common divisor.

Integer-valued columns decode to integers; otherwise the smallest number of decimals ``d`` in
``0..8`` such that every value is a multiple of ``10**-d`` is detected, and the grid is refined by
the GCD of the values on it (see :mod:`tabargn.encoding.numeric`). Source: ours, after the
``numeric_digit`` precision handling of MOSTLY AI's ``mostlyai-engine``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_DECIMALS"]

MAX_DECIMALS = 8
"""Most decimals detected; finer values count as arbitrary floats."""
_EXACT_INT = 2**53


def _decimals(unique: np.ndarray) -> int | None:
    """Smallest ``d`` in ``0..8`` with every value a multiple of ``10**-d``; None if none."""
    if len(unique) == 0 or np.all(unique == np.floor(unique)):
        return 0
    tol_abs = np.abs(unique) * 4e-16
    for d in range(1, MAX_DECIMALS + 1):
        tol = np.maximum(tol_abs, 10.0**-d * 1e-6)
        if np.all(np.abs(np.round(unique, d) - unique) <= tol):
            return d
    return None


def _gcd(unique: np.ndarray, decimals: int | None) -> int:
    """GCD of the values in units of ``10**-decimals`` (0 if unknown or all zero)."""
    if decimals is None or len(unique) == 0:
        return 0
    grid = np.round(unique * 10.0**decimals)
    if np.max(np.abs(grid)) >= _EXACT_INT:
        return 1
    return int(np.gcd.reduce(np.abs(grid).astype(np.int64)))
