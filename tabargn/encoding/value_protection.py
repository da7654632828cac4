"""Value protection: keep rare categories and extreme values out of the model.

A synthetic-data model must not be able to reproduce a value that only a handful of training rows
hold: a rare category (a surname, a small employer) or an extreme number (one salary of 1e9) would
identify those rows. Value protection, as in TabularARGN (Tiwald et al., 2025, arXiv 2501.12012,
section on privacy) and MOSTLY AI's ``mostlyai-engine`` (``get_stochastic_rare_threshold``), does
two things when a column's statistics are reduced:

* a category (or a discrete number) survives only if at least ``k`` rows hold it;
* numeric and datetime ranges are clipped to ``[k-th smallest, k-th largest]`` value, so the single
  most extreme values never appear in the output.

``k`` is drawn uniformly from ``K_MIN..K_MAX`` per column at each fit, so an attacker cannot tell
from the output whether a value was held by exactly ``K_MIN`` rows. Like the reference, which
counts distinct entities (root keys), sequential tables count distinct entities holding a value
(:func:`holders`, :func:`tabargn.sequential.prepare.fit_event_codec`); in a flat table rows and
entities coincide.

Nothing common enough to keep means no training value in the output: a categorical column with
no kept category decodes to synthetic keys or a placeholder
(:mod:`tabargn.encoding.categorical`), a numeric or datetime column with fewer than ``2k`` values
to missing values.

The removed values are never written to the stats: the encoders only store what survives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["K_MIN", "K_MAX", "draw_k", "holders", "kth_smallest", "kth_largest", "rare_mask"]

K_MIN = 5
"""Smallest protection threshold ``k``."""
K_MAX = 7
"""Largest protection threshold ``k``; analyze keeps the ``K_MAX`` most extreme values per chunk."""


def draw_k(rng: np.random.Generator) -> int:
    """Draws the protection threshold ``k`` of one column.

    Args:
        rng: Random generator of the fit.

    Returns:
        A Python ``int``, uniform in ``K_MIN..K_MAX`` inclusive (5, 6 or 7).
    """
    return int(rng.integers(K_MIN, K_MAX + 1))


def kth_smallest(sorted_values: Sequence | np.ndarray, k: int):
    """Returns the ``k``-th smallest value (1-based) of an ascending sequence.

    With fewer than ``k`` values it returns the largest one (the caller decides what a too-short
    column means; see :func:`tabargn.encoding.numeric.reduce`).

    Args:
        sorted_values: Values sorted ascending (with repeats: one entry per row).
        k: Protection threshold, ``>= 1``.

    Raises:
        ValueError: If ``sorted_values`` is empty.
    """
    if len(sorted_values) == 0:
        raise ValueError("kth_smallest of an empty sequence")
    return sorted_values[min(k, len(sorted_values)) - 1]


def kth_largest(sorted_values: Sequence | np.ndarray, k: int):
    """Returns the ``k``-th largest value (1-based) of an ascending sequence.

    Args:
        sorted_values: Values sorted ascending (with repeats: one entry per row).
        k: Protection threshold, ``>= 1``.

    Raises:
        ValueError: If ``sorted_values`` is empty.
    """
    if len(sorted_values) == 0:
        raise ValueError("kth_largest of an empty sequence")
    return sorted_values[max(len(sorted_values) - k, 0)]


def rare_mask(counts: Sequence | np.ndarray, k: int) -> np.ndarray:
    """Which values are rare (held by fewer than ``k`` rows).

    Args:
        counts: Row count of each distinct value, shape ``[n_values]``.
        k: Protection threshold.

    Returns:
        ``bool [n_values]``, True where ``count < k``.
    """
    return np.asarray(counts, dtype=np.float64) < k


def holders(partials: list[dict], u: np.ndarray, w: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """How many rows, or distinct entities when the partials say so, hold each value.

    Args:
        partials: Numeric partial stats; sequential tables add ``entity_values`` and
            ``entity_weights`` (distinct entities per value).
        u: Sorted distinct values, already clipped to ``[lo, hi]``.
        w: Row counts of ``u``.
        lo: Lower clip bound applied to ``u``.
        hi: Upper clip bound applied to ``u``.

    Returns:
        ``float [len(u)]``: ``w`` for flat tables, else entity counts aligned with ``u``.
    """
    if not partials or not all("entity_values" in p for p in partials):
        return np.asarray(w, dtype=np.float64)
    ev = np.concatenate([np.asarray(p["entity_values"], np.float64) for p in partials])
    ew = np.concatenate([np.asarray(p["entity_weights"], np.float64) for p in partials])
    eu, inv = np.unique(np.clip(ev, lo, hi), return_inverse=True)
    ew = np.bincount(inv.reshape(-1), weights=ew, minlength=len(eu))
    out = np.zeros(len(u))
    pos = np.clip(np.searchsorted(eu, u), 0, max(len(eu) - 1, 0))
    ok = (pos < len(eu)) & (eu[pos] == u) if len(eu) else np.zeros(len(u), bool)
    out[ok] = ew[pos[ok]]
    return out
