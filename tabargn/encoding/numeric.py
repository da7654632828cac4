"""Numeric encoding: discrete values, or atoms plus two-level quantile bins.

Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012, section 3.1) and the numeric encodings
of MOSTLY AI's ``mostlyai-engine`` (``numeric_discrete`` and ``numeric_binned``). The reference
samples uniformly inside up to 100 quantile bins, which visibly smooths distributions; here a
second sub-column refines each bin, giving about 1/2000 quantile resolution.

Precision: integer-valued columns decode to integers; otherwise the smallest number of decimals
``d`` in ``0..8`` such that every value is a multiple of ``10**-d`` is detected (``None`` for
arbitrary floats). The grid is refined further by the greatest common divisor of the values on
that grid (amounts that are multiples of 25 decode to multiples of 25): ``stats["step"]``.

Value protection (:mod:`tabargn.encoding.value_protection`): the range is clipped to ``[k-th smallest,
k-th largest]`` value (a column with fewer than ``2k`` values keeps no value at all and decodes
to missing values, ``"protected": True`` in the stats), so a
single outlier never reaches the stats or the output.

Modes (``stats["mode"]``):

``"discrete"`` (at most :data:`DISCRETE_MAX_VALUES` distinct values after clipping)
    One sub-column ``"val"``: ``[NULL] + sorted distinct values``. With value protection a value
    held by fewer than ``k`` rows is dropped and its rows encode to the nearest kept value.
``"binned"``
    Sub-column ``"bin"``: ``[NULL] + atoms + quantile bins``. Atoms are single values holding at
    least ``1/64`` of the rows (``capital_gain == 0``), decoded exactly. The other values are cut
    into up to :data:`N_BINS` equal-mass bins, and sub-column ``"sub"`` cuts each bin into up to
    :data:`N_SUB` equal-mass sub-bins, all given by one array of quantile points
    ``Q[0..n_bins*n_sub]`` (bin ``i``, sub-bin ``j`` is ``[Q[i*n_sub+j], Q[i*n_sub+j+1]]``).
    Decoding draws uniformly inside the sub-bin and rounds to the detected precision. Bin and
    sub-bin counts shrink on small columns so that a cell holds about 5 rows or more.
    NULL and atom rows get sub-code 0.
``"empty"``
    No non-missing value at fit: one sub-column ``"val"`` of cardinality 1; decodes to NaN.

Missing values (NaN, None, ``pd.NA``) take code 0 of the first sub-column when the training data
had any; in a column fitted without them they encode to code 0 (a valid code; the caller masks
those cells). Values outside the fitted range are clipped into it (no error).

Infinities: ``-inf`` and ``+inf`` round-trip. Like NULL they are markers, not values: each gets
its own code right after NULL in the first sub-column when the training data held it
(``stats["has_neginf"]``, ``stats["has_posinf"]``), the model learns how often (and with what)
they occur, and decoding returns them exactly. They never enter the range, the bins or value
protection (an infinity identifies no one). In a column fitted without them an infinity is
clipped into the fitted range like any out-of-range value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from tabargn.encoding.categorical import _as_prev, allowed_prefix_mask
from tabargn.encoding.number_grid import (
    common_grid,
    decimals_of,
    grid_gcd,
    interval_index,
    merge_weighted,
    plain_values,
    round_to_grid,
    to_float,
    uniform_between,
    weighted_quantiles,
)
from tabargn.encoding.value_protection import K_MAX, draw_k, holders, kth_largest, kth_smallest
from tabargn.errors import ConditionError, UnknownValueError

__all__ = [
    "DISCRETE_MAX_VALUES",
    "N_BINS",
    "N_SUB",
    "analyze",
    "reduce",
    "encode",
    "decode",
    "where_mask",
    "clip",
]

DISCRETE_MAX_VALUES = 100
"""At most this many distinct values (after clipping) use the discrete mode."""
N_BINS = 64
"""Most quantile bins in sub-column ``"bin"`` (atoms and NULL come on top)."""
N_SUB = 32
"""Most quantile sub-bins per bin in sub-column ``"sub"``."""
MIN_ROWS_PER_CELL = 5
"""Binning is coarsened on small columns so that a (bin, sub-bin) cell holds about this many rows."""
SAMPLE_SIZE = 200_000
"""``analyze`` keeps every distinct value up to this many; beyond, evenly spaced order statistics."""


def _n_special(stats: dict) -> int:
    """Codes before the first value in sub-column 0: NULL, -inf, +inf (those fitted)."""
    return (
        int(stats["has_null"])
        + int(stats.get("has_neginf", False))
        + int(stats.get("has_posinf", False))
    )


def _inf_codes(stats: dict) -> tuple[int | None, int | None]:
    """Codes of ``-inf`` and ``+inf`` in sub-column 0 (None when not fitted)."""
    code = int(stats["has_null"])
    neg = pos = None
    if stats.get("has_neginf", False):
        neg, code = code, code + 1
    if stats.get("has_posinf", False):
        pos = code
    return neg, pos


# --------------------------------------------------------------------------------------------
# analyze / reduce
# --------------------------------------------------------------------------------------------


def analyze(values: pd.Series) -> dict:
    """Partial statistics of one chunk.

    Keeps the distinct values with their counts (exact up to :data:`SAMPLE_SIZE` distinct values,
    else evenly spaced order statistics with fractional weights), the ``K_MAX`` smallest and
    largest values (for exact value-protection bounds across chunks), the detected decimals and
    the GCD on that grid.

    Args:
        values: One chunk of a numeric column (int, float, nullable ``Int64``/``Float64``, or
            object holding numbers).

    Returns:
        JSON-serializable dict: ``n`` (finite values), ``n_null``, ``n_neginf``, ``n_posinf``,
        ``decimals``, ``gcd``, ``values``, ``weights``, ``low``, ``high``.

    Raises:
        UnsupportedDtypeError: If the values are not numeric.
    """
    x = to_float(values)
    null = np.isnan(x)
    v = np.sort(x[np.isfinite(x)])
    n = len(v)
    u, c = np.unique(v, return_counts=True)
    decimals = decimals_of(u)
    gcd = grid_gcd(u, decimals)
    weights: list = [int(i) for i in c]
    if len(u) > SAMPLE_SIZE:
        pos = np.linspace(0, n - 1, SAMPLE_SIZE).round().astype(np.int64)
        u, c = np.unique(v[pos], return_counts=True)
        weights = [float(i) for i in c * (n / SAMPLE_SIZE)]
    integer = decimals == 0
    return {
        "n": int(n),
        "n_null": int(null.sum()),
        "n_neginf": int((x == -np.inf).sum()),
        "n_posinf": int((x == np.inf).sum()),
        "decimals": decimals,
        "gcd": gcd,
        "values": plain_values(u, integer),
        "weights": weights,
        "low": plain_values(v[:K_MAX], integer),
        "high": plain_values(v[max(n - K_MAX, 0) :], integer),
    }


def _empty_stats(has_null: bool) -> dict:
    return {
        "kind": "numeric",
        "mode": "empty",
        "has_null": has_null,
        "integer": True,
        "decimals": 0,
        "gcd": 1,
        "step": 1,
        "min": None,
        "max": None,
        "sub_columns": [{"name": "val", "cardinality": 1}],
    }


def reduce(partials: list[dict], *, value_protection: bool, rng: np.random.Generator) -> dict:
    """Merges partial statistics, applies value protection and chooses the mode.

    Args:
        partials: Outputs of :func:`analyze`.
        value_protection: Clip to the ``k``-th extreme values and drop rare discrete values.
        rng: Random generator (draws ``k``).

    Returns:
        JSON-serializable stats with ``kind="numeric"``, ``mode``, ``has_null``, ``integer``,
        ``decimals``, ``gcd``, ``step``, ``min``, ``max``, ``sub_columns``, plus ``values``
        (discrete) or ``atoms``, ``quantiles``, ``n_bins``, ``n_sub`` (binned).
    """
    n_total = sum(int(p["n"]) for p in partials)
    has_null = sum(int(p["n_null"]) for p in partials) > 0
    infinities = {
        "has_neginf": sum(int(p.get("n_neginf", 0)) for p in partials) > 0,
        "has_posinf": sum(int(p.get("n_posinf", 0)) for p in partials) > 0,
    }
    if n_total == 0 and not any(infinities.values()):
        return _empty_stats(has_null)
    if n_total == 0:  # only infinities (and NULLs): a discrete column without finite values
        stats = {**_empty_stats(has_null), **infinities, "mode": "discrete", "values": []}
        stats["sub_columns"] = [{"name": "val", "cardinality": _n_special(stats)}]
        return stats
    filled = [p for p in partials if p["n"] > 0]
    decimals, gcd = common_grid(filled)
    gcd = gcd or 1
    integer = decimals == 0
    u = np.concatenate([np.asarray(p["values"], dtype=np.float64) for p in filled])
    w = np.concatenate([np.asarray(p["weights"], dtype=np.float64) for p in filled])
    u, w = merge_weighted(u, w)

    k = draw_k(rng) if value_protection else 1
    support = w  # rows (or, in sequences, entities) holding each value
    if value_protection:
        low = np.sort(np.concatenate([np.asarray(p["low"], dtype=np.float64) for p in filled]))
        high = np.sort(np.concatenate([np.asarray(p["high"], dtype=np.float64) for p in filled]))
        n_holders = min(n_total, sum(int(p.get("n_entities", p["n"])) for p in filled))
        if n_holders < 2 * k:  # too few values to hide the extremes: keep none (all missing)
            return _empty_stats(has_null) | {"protected": True}
        lo, hi = float(kth_smallest(low, k)), float(kth_largest(high, k))
        support = holders(filled, *merge_weighted(np.clip(u, lo, hi), w), lo, hi)
        u, w = merge_weighted(np.clip(u, lo, hi), w)
    lo, hi = float(u[0]), float(u[-1])

    stats = {
        "kind": "numeric",
        "has_null": has_null,
        **infinities,
        "integer": integer,
        "decimals": decimals,
        "gcd": int(gcd),
        "step": None if decimals is None else (gcd if decimals == 0 else gcd / 10**decimals),
        "min": plain_values([lo], integer)[0],
        "max": plain_values([hi], integer)[0],
    }
    keep = support >= k
    if len(u) <= DISCRETE_MAX_VALUES and keep.any():
        # discrete; with no value held by k rows the binned mode below draws inside bins
        kept = u[keep]
        stats.update(
            min=plain_values(kept[:1], integer)[0],
            max=plain_values(kept[-1:], integer)[0],
            mode="discrete",
            values=plain_values(kept, integer),
            sub_columns=[{"name": "val", "cardinality": _n_special(stats) + len(kept)}],
        )
        return stats

    total = w.sum()
    is_atom = (w >= total / N_BINS) & (support >= k)
    atoms = u[is_atom]
    ru, rw = u[~is_atom], w[~is_atom]
    n_bins = n_sub = 0
    quantiles: list = []
    if len(ru):
        cells = max(1, int(rw.sum() // MIN_ROWS_PER_CELL))
        n_bins = min(N_BINS, max(1, round(math.sqrt(2 * cells))))
        n_sub = min(N_SUB, max(1, cells // n_bins))
        probs = np.linspace(0.0, 1.0, n_bins * n_sub + 1)
        quantiles = plain_values(weighted_quantiles(ru, rw, probs), integer)
    sub_columns = [{"name": "bin", "cardinality": _n_special(stats) + len(atoms) + n_bins}]
    if n_sub > 1:
        sub_columns.append({"name": "sub", "cardinality": n_sub})
    stats.update(
        mode="binned",
        atoms=plain_values(atoms, integer),
        quantiles=quantiles,
        n_bins=n_bins,
        n_sub=n_sub,
        sub_columns=sub_columns,
    )
    return stats


# --------------------------------------------------------------------------------------------
# encode / decode
# --------------------------------------------------------------------------------------------


def _nearest(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the nearest value in ``sorted_values`` for each ``x`` (ties to the smaller)."""
    idx = np.searchsorted(sorted_values, x)
    left = np.clip(idx - 1, 0, len(sorted_values) - 1)
    right = np.clip(idx, 0, len(sorted_values) - 1)
    take_right = np.abs(sorted_values[right] - x) < np.abs(x - sorted_values[left])
    return np.where(take_right, right, left)


def encode(values: pd.Series, stats: dict) -> np.ndarray:
    """Encodes a numeric column.

    Args:
        values: The column, ``[n_rows]``.
        stats: Output of :func:`reduce`.

    Returns:
        ``int64 [n_rows, n_sub_columns]``. Values outside the fitted range are clipped into it;
        missing values take the NULL code (code 0 if the column had no NULLs at fit); +-inf take
        their own codes when fitted, else they are clipped like other out-of-range values.

    Raises:
        UnsupportedDtypeError: If the values are not numeric.
    """
    x = to_float(values)
    n = len(x)
    n_sub_cols = len(stats["sub_columns"])
    out = np.zeros((n, n_sub_cols), dtype=np.int64)
    if stats["mode"] == "empty":
        return out
    neg_code, pos_code = _inf_codes(stats)
    ok = ~np.isnan(x)
    for sign, code in ((-1, neg_code), (1, pos_code)):
        if code is not None:
            hit = x == sign * np.inf
            out[hit, 0] = code
            ok &= ~hit
    if stats["min"] is None:  # only infinities were fitted: other values take code 0
        return out
    xc = np.clip(x[ok], stats["min"], stats["max"])
    special = _n_special(stats)
    if stats["mode"] == "discrete":
        vals = np.asarray(stats["values"], dtype=np.float64)
        out[ok, 0] = special + _nearest(vals, xc)
        return out
    atoms = np.asarray(stats["atoms"], dtype=np.float64)
    codes0 = np.empty(len(xc), dtype=np.int64)
    codes1 = np.zeros(len(xc), dtype=np.int64)
    if len(atoms):
        idx = np.clip(np.searchsorted(atoms, xc), 0, len(atoms) - 1)
        is_atom = atoms[idx] == xc
    else:
        idx = np.zeros(len(xc), dtype=np.int64)
        is_atom = np.zeros(len(xc), dtype=bool)
    codes0[is_atom] = special + idx[is_atom]
    rest = ~is_atom
    if stats["n_bins"] > 0:
        t = interval_index(xc[rest], np.asarray(stats["quantiles"], dtype=np.float64))
        codes0[rest] = special + len(atoms) + t // stats["n_sub"]
        codes1[rest] = t % stats["n_sub"]
    else:  # only atoms were fitted: nearest atom
        codes0[rest] = special + _nearest(atoms, xc[rest])
    out[ok, 0] = codes0
    if n_sub_cols > 1:
        out[ok, 1] = codes1
    return out


def decode(codes: np.ndarray, stats: dict, rng: np.random.Generator) -> pd.Series:
    """Decodes codes into numbers.

    Discrete and atom codes decode exactly; a quantile sub-bin decodes to a uniform draw inside
    it, rounded to the detected precision (integers stay integral) and kept inside the fitted
    range.

    Args:
        codes: ``int [n_rows, n_sub_columns]``.
        stats: Output of :func:`reduce`.
        rng: Random generator for the draws inside sub-bins.

    Returns:
        ``float64`` Series (NaN for NULL, +-inf for their codes), RangeIndex.
    """
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, len(stats["sub_columns"]))
    n = codes.shape[0]
    out = np.full(n, np.nan)
    if stats["mode"] == "empty":
        return pd.Series(out, dtype=np.float64)
    special = _n_special(stats)
    for sign, code in zip((-1, 1), _inf_codes(stats), strict=True):
        if code is not None:
            out[codes[:, 0] == code] = sign * np.inf
    c0 = codes[:, 0] - special
    ok = c0 >= 0 if special else np.ones(n, dtype=bool)
    if stats["mode"] == "discrete":
        vals = np.asarray(stats["values"], dtype=np.float64)
        if len(vals):
            out[ok] = vals[np.clip(c0[ok], 0, len(vals) - 1)]
        return pd.Series(out, dtype=np.float64)
    atoms = np.asarray(stats["atoms"], dtype=np.float64)
    n_atoms, n_bins, n_sub = len(atoms), stats["n_bins"], stats["n_sub"]
    is_atom = ok & ((c0 < n_atoms) | (n_bins == 0))
    if n_atoms:
        out[is_atom] = atoms[np.clip(c0[is_atom], 0, n_atoms - 1)]
    rest = ok & ~is_atom
    if n_bins and rest.any():
        q = np.asarray(stats["quantiles"], dtype=np.float64)
        b = np.clip(c0[rest] - n_atoms, 0, n_bins - 1)
        s = np.clip(codes[rest, 1], 0, n_sub - 1) if codes.shape[1] > 1 else 0
        t = b * n_sub + s
        low, high = q[t], q[t + 1]
        drawn = round_to_grid(uniform_between(low, high, rng), stats)
        out[rest] = np.clip(drawn, low, high)
    out[ok] = np.clip(out[ok], stats["min"], stats["max"])
    return pd.Series(out, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# where restrictions
# --------------------------------------------------------------------------------------------


def _parse_range(stats: dict, spec: tuple) -> tuple[float, float]:
    if len(spec) != 2:
        raise ConditionError(f"a range restriction is a (low, high) pair, got {spec!r}")
    low, high = spec
    try:
        low = -np.inf if low is None or pd.isna(low) else float(low)
        high = np.inf if high is None or pd.isna(high) else float(high)
    except (TypeError, ValueError):
        raise ConditionError(f"range bounds must be numbers, got {spec!r}") from None
    if low > high:
        raise ConditionError(f"empty range: low {spec[0]!r} > high {spec[1]!r}")
    neg_code, pos_code = _inf_codes(stats)
    if (neg_code is not None and low == -np.inf) or (pos_code is not None and high == np.inf):
        return low, high  # an infinity the column can produce lies in the range
    if (
        stats["mode"] == "empty"
        or stats["min"] is None
        or high < stats["min"]
        or low > stats["max"]
    ):
        raise ConditionError(
            f"range [{spec[0]}, {spec[1]}] lies outside the fitted range "
            f"[{stats['min']}, {stats['max']}]"
        )
    return low, high


def _parse_set(stats: dict, spec) -> np.ndarray:
    wanted = [spec] if not isinstance(spec, Iterable) or isinstance(spec, str) else list(spec)
    if not wanted:
        raise ConditionError("an empty list of allowed values can never be satisfied")
    if any(v is None or pd.isna(v) for v in wanted):
        raise ConditionError("NULL cannot be requested in a where restriction")
    try:
        x = np.asarray([float(v) for v in wanted], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConditionError(f"allowed values must be numbers, got {wanted!r:.200}") from None
    if stats["mode"] == "discrete":
        known = np.isin(x, np.asarray(stats["values"], dtype=np.float64))
    elif stats["mode"] == "binned":
        known = (x >= stats["min"]) & (x <= stats["max"])
    else:
        known = np.zeros(len(x), dtype=bool)
    neg_code, pos_code = _inf_codes(stats)
    known |= ((x == -np.inf) & (neg_code is not None)) | ((x == np.inf) & (pos_code is not None))
    if not known.all():
        unknown = [v for v, ok in zip(wanted, known, strict=True) if not ok]
        shown = ", ".join(repr(v) for v in unknown[:10])
        err = UnknownValueError(
            f"value(s) [{shown}] were never seen in training or were removed by value protection"
            f" (fitted range [{stats['min']}, {stats['max']}])"
        )
        err.unknown_values = unknown
        raise err
    return np.unique(x)


def _overlaps(a: np.ndarray, b: np.ndarray, low: float, high: float) -> np.ndarray:
    """Whether intervals ``[a, b]`` meet ``[low, high]`` with positive length (or as points)."""
    positive = np.maximum(a, low) < np.minimum(b, high)
    point_interval = (a == b) & (a >= low) & (a <= high)
    point_range = (low == high) & (a <= low) & (b >= low)
    return positive | point_interval | point_range


def where_mask(stats: dict, spec, sub_index: int, prev_codes: np.ndarray) -> np.ndarray:
    """Codes of sub-column ``sub_index`` compatible with a ``where`` restriction.

    A range allows the discrete values, atoms, bins and (given the drawn bin) sub-bins that meet
    ``[low, high]``; :func:`clip` then makes the decoded values exact. A list of values allows
    the codes those values encode to (exact values for discrete columns and atoms; the holding
    sub-bin otherwise, which :func:`clip` snaps to the value). NULL is never allowed; a fitted
    ``-inf`` (``+inf``) is allowed by a range whose low (high) end is None or infinite, and by a
    list that names it; ``spec=None`` allows everything. Rows with no compatible code get all
    codes (never an empty choice).

    Args:
        stats: Output of :func:`reduce`.
        spec: ``(low, high)`` (either end may be None), a list of values, or None.
        sub_index: The sub-column being drawn.
        prev_codes: ``int64 [n_rows, sub_index]``, codes already drawn for this column.

    Returns:
        ``bool [n_rows, cardinality]``.

    Raises:
        ConditionError: If ``low > high``, the range misses the fitted range or holds no value the
            column can produce, or the list is empty or holds a missing value.
        UnknownValueError: For listed values the column cannot produce (not a kept discrete
            value, or outside the fitted range); ``unknown_values`` lists them.
    """
    card = stats["sub_columns"][sub_index]["cardinality"]
    prev_codes = _as_prev(prev_codes, sub_index)
    n = prev_codes.shape[0]
    if spec is None:
        return np.ones((n, card), dtype=bool)
    if not isinstance(spec, tuple):
        allowed = encode(pd.Series(_parse_set(stats, spec)), stats)
        return allowed_prefix_mask(allowed, sub_index, prev_codes, card)
    low, high = _parse_range(stats, spec)
    special = _n_special(stats)
    neg_code, pos_code = _inf_codes(stats)

    def with_infinities(row: np.ndarray) -> np.ndarray:
        if neg_code is not None and low == -np.inf:
            row[neg_code] = True
        if pos_code is not None and high == np.inf:
            row[pos_code] = True
        return row

    if stats["mode"] == "discrete":
        vals = np.asarray(stats["values"], dtype=np.float64)
        row = np.zeros(card, dtype=bool)
        row[special:] = (vals >= low) & (vals <= high)
        row = with_infinities(row)
        if not row.any():
            raise ConditionError(f"no value of the column lies in [{spec[0]}, {spec[1]}]")
        return np.broadcast_to(row, (n, card)).copy()
    atoms = np.asarray(stats["atoms"], dtype=np.float64)
    q = np.asarray(stats["quantiles"], dtype=np.float64)
    n_atoms, n_sub = len(atoms), stats["n_sub"]
    if sub_index == 0:
        row = np.zeros(card, dtype=bool)
        row[special : special + n_atoms] = (atoms >= low) & (atoms <= high)
        if stats["n_bins"]:
            starts, ends = q[:-1:n_sub], q[n_sub::n_sub]
            row[special + n_atoms :] = _overlaps(starts, ends, low, high)
        row = with_infinities(row)
        if not row.any():
            raise ConditionError(f"no value of the column lies in [{spec[0]}, {spec[1]}]")
        return np.broadcast_to(row, (n, card)).copy()
    # sub-bins of the drawn bin
    mask = np.zeros((n, card), dtype=bool)
    b = prev_codes[:, 0] - special - n_atoms
    in_bin = (b >= 0) & (b < stats["n_bins"])
    mask[~in_bin, 0] = True
    t = b[in_bin, None] * n_sub + np.arange(n_sub)[None, :]
    mask[in_bin] = _overlaps(q[t], q[t + 1], low, high)
    mask[~mask.any(axis=1)] = True
    return mask


def clip(values: pd.Series, stats: dict, spec, rng: np.random.Generator | None = None) -> pd.Series:
    """Makes decoded values satisfy a ``where`` restriction exactly.

    For a range, a value outside ``[low, high]`` (drawn in a boundary sub-bin) is redrawn
    uniformly inside the part of its sub-bin that lies in the range, on the column's precision
    grid where possible (no spike at the boundary), and finally clipped. For a list, values snap
    to the nearest allowed value. ``None`` is the identity.

    Args:
        values: Decoded values (``float64``).
        stats: Output of :func:`reduce`.
        spec: ``(low, high)``, a list of values, or None.
        rng: Random generator for redraws (a fixed seed if None).

    Returns:
        ``float64`` Series with the index of ``values``.
    """
    index = values.index if isinstance(values, pd.Series) else None
    x = to_float(values)
    if spec is None or stats["mode"] == "empty":
        return pd.Series(x, index=index, dtype=np.float64)
    finite = np.isfinite(x)  # infinities come only from codes the restriction allows
    if not isinstance(spec, tuple):
        allowed = _parse_set(stats, spec)
        allowed = allowed[np.isfinite(allowed)]
        if len(allowed):
            x[finite] = allowed[_nearest(allowed, x[finite])]
        return pd.Series(x, index=index, dtype=np.float64)
    low, high = _parse_range(stats, spec)
    outside = finite & ((x < low) | (x > high))
    if stats["mode"] == "binned" and stats["n_bins"] and outside.any():
        rng = rng if rng is not None else np.random.default_rng(0)
        q = np.asarray(stats["quantiles"], dtype=np.float64)
        t = interval_index(x[outside], q)
        a, b = np.maximum(q[t], low), np.minimum(q[t + 1], high)
        redraw = np.where(a <= b, uniform_between(a, b, rng), x[outside])
        if stats["decimals"] is not None:
            step = stats["gcd"] / 10.0 ** stats["decimals"]
            g_lo, g_hi = np.ceil(a / step - 1e-9), np.floor(b / step + 1e-9)
            on_grid = g_lo <= g_hi
            g = g_lo + np.floor(rng.random(len(t)) * (g_hi - g_lo + 1))
            gridded = np.minimum(g, g_hi) * stats["gcd"] / 10.0 ** stats["decimals"]
            redraw = np.where(on_grid, gridded, redraw)
        x[outside] = redraw
    x = np.where(finite, np.clip(x, low, high), x)
    return pd.Series(x, index=index, dtype=np.float64)
