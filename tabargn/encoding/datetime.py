"""Datetime encoding: one sub-column per calendar part that varies in the data.

Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012, section 3.1) and the datetime encoding
of MOSTLY AI's ``mostlyai-engine`` (year, month, day, hour, minute, second parts).

Parts, in order: ``year`` (offset from the first fitted year), ``month`` (1-12), ``day`` (1-31),
``hour``, ``minute``, ``second``, ``ms``, ``us``, ``ns`` (0-999 each). A part that is the same for
every training value (``hour == 0`` in a date-only column, ``ns == 0`` almost always) gets no
sub-column: its constant is stored in the stats. If no part varies, ``year`` is kept (cardinality
1) so that the column has a sub-column. Code of a part = value minus the part's smallest value
(``year0``, 1, 1, 0, ...); the first sub-column gets an extra code 0 for NULL when the training
data had missing values, and the other sub-columns take code 0 on NULL rows.

Decoding clamps impossible dates (Feb 30 -> Feb 28/29) to the month's last day and the result into
the fitted range. Value protection clips the range to the ``k``-th smallest and largest datetimes
(:mod:`tabargn.encoding.value_protection`); a column with fewer than ``2k`` values keeps no
value at all: mode ``"empty"`` with ``"protected": True``, decoding to missing values (NaT).

Time zones: tz-aware columns are encoded in UTC (no ambiguous or missing wall times at daylight
saving changes) and decoded back to the original zone (``stats["tz"]``). Hour-of-day patterns
are therefore learned in UTC.

Accepted inputs: ``datetime64`` of any unit, tz-aware ``datetime64``, and object columns of
Timestamps / ``datetime`` / ``date`` / parseable strings. NaT, None, NaN and ``pd.NA`` are missing.
Values must lie in the ``datetime64[ns]`` range (years 1678-2261).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from tabargn.encoding.categorical import _as_prev, allowed_prefix_mask
from tabargn.encoding.value_protection import K_MAX, draw_k, kth_largest, kth_smallest
from tabargn.errors import ConditionError, UnknownValueError, UnsupportedDtypeError

__all__ = ["PARTS", "analyze", "reduce", "encode", "decode", "where_mask", "clip"]

PARTS = ("year", "month", "day", "hour", "minute", "second", "ms", "us", "ns")
"""Calendar parts, coarsest first."""
_BASE = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "ms": 0, "us": 0, "ns": 0}
_LAST = {"month": 12, "day": 31, "hour": 23, "minute": 59, "second": 59, "ms": 999, "us": 999}
_LAST["ns"] = 999
_DAY = 86_400 * 10**9
_UNIT = {
    "hour": 3_600 * 10**9,
    "minute": 60 * 10**9,
    "second": 10**9,
    "ms": 10**6,
    "us": 10**3,
    "ns": 1,
}


# --------------------------------------------------------------------------------------------
# conversions
# --------------------------------------------------------------------------------------------


def _to_ns(values) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Column as ``(int64 ns since epoch in UTC/naive [n], bool missing [n], tz name or None)``."""
    s = pd.Series(values)
    if not (pd.api.types.is_datetime64_any_dtype(s.dtype)):
        if not (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
            raise UnsupportedDtypeError(f"datetime encoding cannot encode dtype {s.dtype}")
        try:
            s = pd.to_datetime(s.astype(object).where(s.notna(), None))
        except (ValueError, TypeError) as err:
            raise UnsupportedDtypeError(
                f"datetime column holds non-datetime values: {err}"
            ) from None
        if not pd.api.types.is_datetime64_any_dtype(s.dtype):
            raise UnsupportedDtypeError("datetime column mixes time zones or types")
    tz = None
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        tz = str(s.dtype.tz)
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    try:
        arr = s.to_numpy(dtype="datetime64[ns]")
    except (ValueError, OverflowError) as err:
        raise UnsupportedDtypeError(f"datetimes outside the datetime64[ns] range: {err}") from None
    null = np.isnat(arr)
    return arr.view(np.int64).copy(), null, tz


def _from_ns(ns: np.ndarray, null: np.ndarray, tz: str | None, index=None) -> pd.Series:
    arr = ns.astype(np.int64).view("datetime64[ns]").copy()
    arr[null] = np.datetime64("NaT")
    out = pd.Series(arr, index=index, dtype="datetime64[ns]")
    if tz is not None:
        out = out.dt.tz_localize("UTC").dt.tz_convert(tz)
    return out


def _parts(ns: np.ndarray) -> dict[str, np.ndarray]:
    """Calendar parts of ns timestamps (int64 arrays)."""
    days = ns // _DAY
    rem = ns - days * _DAY
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    m_int = months.astype(np.int64)
    out = {
        "year": m_int // 12 + 1970,
        "month": m_int % 12 + 1,
        "day": days - months.astype("datetime64[D]").astype(np.int64) + 1,
        "hour": rem // _UNIT["hour"],
        "minute": rem // _UNIT["minute"] % 60,
        "second": rem // _UNIT["second"] % 60,
        "ms": rem // _UNIT["ms"] % 1000,
        "us": rem // _UNIT["us"] % 1000,
        "ns": rem % 1000,
    }
    return out


def _build(parts: dict[str, np.ndarray]) -> np.ndarray:
    """ns timestamps from (broadcastable) parts; days past the month's end clamp to its last day."""
    ym = (np.asarray(parts["year"], dtype=np.int64) - 1970) * 12 + (
        np.asarray(parts["month"], dtype=np.int64) - 1
    )
    start = ym.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    end = (ym + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    day = np.clip(np.asarray(parts["day"], dtype=np.int64), 1, end - start)
    ns = (start + day - 1) * _DAY
    for name, unit in _UNIT.items():
        ns = ns + np.asarray(parts[name], dtype=np.int64) * unit
    return ns


def _iso(ns: int) -> str:
    return pd.Timestamp(ns).isoformat()


# --------------------------------------------------------------------------------------------
# analyze / reduce
# --------------------------------------------------------------------------------------------


def analyze(values: pd.Series) -> dict:
    """Partial statistics of one chunk.

    Args:
        values: One chunk of a datetime column.

    Returns:
        JSON-serializable dict: ``n``, ``n_null``, ``tz``, ``low`` / ``high`` (the ``K_MAX``
        smallest / largest values as ns integers), ``all`` (every value when there are at most
        ``2 * K_MAX``, else None) and ``parts`` (``{part: [min, max]}``).

    Raises:
        UnsupportedDtypeError: If the values are not datetimes.
    """
    ns, null, tz = _to_ns(values)
    v = np.sort(ns[~null])
    n = len(v)
    parts = {}
    if n:
        for name, arr in _parts(v).items():
            parts[name] = [int(arr.min()), int(arr.max())]
    return {
        "n": int(n),
        "n_null": int(null.sum()),
        "tz": tz,
        "low": [int(i) for i in v[:K_MAX]],
        "high": [int(i) for i in v[max(n - K_MAX, 0) :]],
        "parts": parts,
    }


def reduce(partials: list[dict], *, value_protection: bool, rng: np.random.Generator) -> dict:
    """Merges partial statistics, applies value protection and picks the varying parts.

    Args:
        partials: Outputs of :func:`analyze`.
        value_protection: Clip the range to the ``k``-th smallest / largest datetimes.
        rng: Random generator (draws ``k``).

    Returns:
        JSON-serializable stats: ``kind="datetime"``, ``mode`` (``"parts"`` or ``"empty"``),
        ``has_null``, ``tz``, ``min_ns`` / ``max_ns`` (and ISO ``min`` / ``max``), ``year0``,
        ``parts`` (names of the parts with a sub-column, in order), ``constants`` (value of every
        other part) and ``sub_columns``.
    """
    filled = [p for p in partials if p["n"] > 0]
    n_total = sum(int(p["n"]) for p in filled)
    has_null = sum(int(p["n_null"]) for p in partials) > 0
    tz = next((p["tz"] for p in partials if p["tz"] is not None), None)
    if n_total == 0:
        return {
            "kind": "datetime",
            "mode": "empty",
            "has_null": has_null,
            "tz": tz,
            "sub_columns": [{"name": "year", "cardinality": 1}],
        }
    low = np.sort(np.concatenate([np.asarray(p["low"], dtype=np.int64) for p in filled]))
    high = np.sort(np.concatenate([np.asarray(p["high"], dtype=np.int64) for p in filled]))
    lo, hi = int(low[0]), int(high[-1])
    if value_protection:
        k = draw_k(rng)
        n_holders = min(n_total, sum(int(p.get("n_entities", p["n"])) for p in filled))
        if n_holders < 2 * k:  # too few values to hide the extremes: keep none (all NaT)
            return {
                "kind": "datetime",
                "mode": "empty",
                "protected": True,
                "has_null": has_null,
                "tz": tz,
                "sub_columns": [{"name": "year", "cardinality": 1}],
            }
        lo, hi = int(kth_smallest(low, k)), int(kth_largest(high, k))
    bounds = _parts(np.array([lo, hi], dtype=np.int64))
    constants: dict[str, int] = {}
    active: list[str] = []
    for name in PARTS:
        if name == "year":
            varies = bounds["year"][1] > bounds["year"][0]
            value = int(bounds["year"][0])
        elif lo == hi:
            varies, value = False, int(bounds[name][0])
        else:
            mins = [p["parts"][name][0] for p in filled]
            maxs = [p["parts"][name][1] for p in filled]
            varies = min(mins) != max(maxs)
            value = int(min(mins))
        if varies:
            active.append(name)
        else:
            constants[name] = value
    if not active:
        active = ["year"]
        constants.pop("year")
    year0 = int(bounds["year"][0])
    sub_columns = []
    for i, name in enumerate(active):
        card = (
            int(bounds["year"][1]) - year0 + 1 if name == "year" else _LAST[name] - _BASE[name] + 1
        )
        sub_columns.append({"name": name, "cardinality": int(card + (has_null and i == 0))})
    return {
        "kind": "datetime",
        "mode": "parts",
        "has_null": has_null,
        "tz": tz,
        "min_ns": lo,
        "max_ns": hi,
        "min": _iso(lo),
        "max": _iso(hi),
        "year0": year0,
        "parts": active,
        "constants": constants,
        "sub_columns": sub_columns,
    }


# --------------------------------------------------------------------------------------------
# encode / decode
# --------------------------------------------------------------------------------------------


def _base(stats: dict, name: str) -> int:
    return stats["year0"] if name == "year" else _BASE[name]


def _encode_ns(ns: np.ndarray, null: np.ndarray, stats: dict) -> np.ndarray:
    out = np.zeros((len(ns), len(stats["sub_columns"])), dtype=np.int64)
    if stats["mode"] == "empty":
        return out
    ok = ~null
    parts = _parts(np.clip(ns[ok], stats["min_ns"], stats["max_ns"]))
    shift = int(stats["has_null"])
    for i, name in enumerate(stats["parts"]):
        card = stats["sub_columns"][i]["cardinality"]
        code = parts[name] - _base(stats, name) + (shift if i == 0 else 0)
        out[ok, i] = np.clip(code, 0, card - 1)
    return out


def encode(values: pd.Series, stats: dict) -> np.ndarray:
    """Encodes a datetime column into its part codes.

    Values outside the fitted range are clipped into it; missing values take the NULL code
    (code 0 everywhere if the column had no NULLs at fit).

    Args:
        values: The column, ``[n_rows]``.
        stats: Output of :func:`reduce`.

    Returns:
        ``int64 [n_rows, n_sub_columns]``.

    Raises:
        UnsupportedDtypeError: If the values are not datetimes.
    """
    ns, null, _ = _to_ns(values)
    return _encode_ns(ns, null, stats)


def _codes_to_parts(codes: np.ndarray, stats: dict) -> dict[str, np.ndarray]:
    shift = int(stats["has_null"])
    parts: dict[str, np.ndarray] = {}
    for name in PARTS:
        if name in stats["constants"]:
            parts[name] = np.int64(stats["constants"][name])
    for i, name in enumerate(stats["parts"]):
        card = stats["sub_columns"][i]["cardinality"] - (shift if i == 0 else 0)
        value = np.clip(codes[:, i] - (shift if i == 0 else 0), 0, card - 1)
        parts[name] = value + _base(stats, name)
    return parts


def decode(codes: np.ndarray, stats: dict, rng: np.random.Generator) -> pd.Series:
    """Decodes part codes into datetimes.

    Args:
        codes: ``int [n_rows, n_sub_columns]``.
        stats: Output of :func:`reduce`.
        rng: Unused (decoding is deterministic); kept for the common interface.

    Returns:
        ``datetime64[ns]`` Series (tz-aware in the original zone for tz-aware columns), NaT for
        NULL, RangeIndex.
    """
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, len(stats["sub_columns"]))
    n = codes.shape[0]
    if stats["mode"] == "empty":
        return _from_ns(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool), stats["tz"])
    null = codes[:, 0] == 0 if stats["has_null"] else np.zeros(n, dtype=bool)
    ns = np.broadcast_to(_build(_codes_to_parts(codes, stats)), (n,))
    ns = np.clip(ns, stats["min_ns"], stats["max_ns"])
    return _from_ns(ns, null, stats["tz"])


# --------------------------------------------------------------------------------------------
# where restrictions
# --------------------------------------------------------------------------------------------


def _bound_ns(value, tz: str | None) -> int:
    """One user-given datetime as ns in the encoding's frame (UTC for tz-aware columns)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ConditionError(f"cannot read {value!r} as a datetime: {err}") from None
    if ts is pd.NaT:
        raise ConditionError("NULL cannot be requested in a where restriction")
    if tz is not None and ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value)


def _parse_range(stats: dict, spec: tuple) -> tuple[int, int]:
    if len(spec) != 2:
        raise ConditionError(f"a range restriction is a (low, high) pair, got {spec!r}")
    lo_spec, hi_spec = spec
    tz = stats.get("tz")
    low = _bound_ns(lo_spec, tz) if lo_spec is not None else np.iinfo(np.int64).min
    high = _bound_ns(hi_spec, tz) if hi_spec is not None else np.iinfo(np.int64).max
    if low > high:
        raise ConditionError(f"empty range: low {lo_spec!r} > high {hi_spec!r}")
    if stats["mode"] == "empty" or high < stats["min_ns"] or low > stats["max_ns"]:
        fitted = "none" if stats["mode"] == "empty" else f"[{stats['min']}, {stats['max']}]"
        raise ConditionError(f"range [{lo_spec}, {hi_spec}] lies outside the fitted range {fitted}")
    return low, high


def _parse_set(stats: dict, spec) -> np.ndarray:
    wanted = [spec] if isinstance(spec, str) or not isinstance(spec, Iterable) else list(spec)
    if not wanted:
        raise ConditionError("an empty list of allowed values can never be satisfied")
    ns = np.asarray([_bound_ns(v, stats.get("tz")) for v in wanted], dtype=np.int64)
    if stats["mode"] == "empty":
        known = np.zeros(len(ns), dtype=bool)
    else:
        known = (ns >= stats["min_ns"]) & (ns <= stats["max_ns"])
    if not known.all():
        unknown = [v for v, ok in zip(wanted, known, strict=True) if not ok]
        err = UnknownValueError(
            f"value(s) {unknown[:10]!r} were never seen in training or were removed by value "
            f"protection (fitted range [{stats.get('min')}, {stats.get('max')}])"
        )
        err.unknown_values = unknown
        raise err
    return np.unique(ns)


def _first_true(predicate, n: int, size: int) -> np.ndarray:
    """Per row, the smallest ``i`` in ``0..size`` with ``predicate(i)`` (``size`` if none).

    ``predicate`` maps ``int64 [n]`` offsets to ``bool [n]`` and must be monotone in ``i``
    (False then True); vectorized bisection, ``O(n log size)`` memory-light.
    """
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, size, dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        ok = predicate(np.minimum(mid, size - 1))
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid + 1, lo)


def where_mask(stats: dict, spec, sub_index: int, prev_codes: np.ndarray) -> np.ndarray:
    """Codes of sub-column ``sub_index`` compatible with a ``where`` restriction.

    For a range, a code is allowed when the span of datetimes it can still lead to (given the
    parts drawn so far, with every later part at its smallest / largest value) meets
    ``[low, high]`` within the fitted range. This restricts every part exactly, so the decoded
    value lies in the range whenever the range holds a representable datetime; :func:`clip`
    covers the rest. A list of datetimes allows exactly their part codes. NULL is never allowed;
    ``spec=None`` allows everything. Naive bounds on a tz-aware column are read in its zone.

    Args:
        stats: Output of :func:`reduce`.
        spec: ``(low, high)`` (Timestamps, datetimes or strings; either may be None), a list of
            datetimes, or None.
        sub_index: The sub-column being drawn.
        prev_codes: ``int64 [n_rows, sub_index]``, codes already drawn for this column.

    Returns:
        ``bool [n_rows, cardinality]``.

    Raises:
        ConditionError: If ``low > high``, the range misses the fitted range, a bound cannot be
            read, or a list is empty or holds a missing value.
        UnknownValueError: For listed datetimes outside the fitted range.
    """
    card = stats["sub_columns"][sub_index]["cardinality"]
    prev_codes = _as_prev(prev_codes, sub_index)
    n = prev_codes.shape[0]
    if spec is None:
        return np.ones((n, card), dtype=bool)
    if not isinstance(spec, tuple):
        ns = _parse_set(stats, spec)
        allowed = _encode_ns(ns, np.zeros(len(ns), dtype=bool), stats)
        return allowed_prefix_mask(allowed, sub_index, prev_codes, card)
    low, high = _parse_range(stats, spec)
    low, high = max(low, stats["min_ns"]), min(high, stats["max_ns"])
    shift = int(stats["has_null"]) if sub_index == 0 else 0
    drawn = _codes_to_parts(
        np.concatenate([prev_codes, np.zeros((n, len(stats["parts"]) - sub_index), np.int64)], 1),
        stats,
    )
    name = stats["parts"][sub_index]
    later = set(stats["parts"][sub_index + 1 :])
    base = _base(stats, name)
    n_values = card - shift

    def edge(rows: np.ndarray, offset, at_end: bool) -> np.ndarray:
        """First (or last) datetime reachable with ``name = base + offset`` given the prefix."""
        parts = {}
        for part in PARTS:
            if part == name:
                parts[part] = base + offset
            elif part in later:
                parts[part] = _LAST[part] if at_end else _BASE[part]
            else:
                parts[part] = drawn[part][rows] if np.ndim(drawn[part]) else drawn[part]
        return np.broadcast_to(_build(parts), rows.shape)

    every = np.arange(n)
    span_first, span_last = edge(every, 0, False), edge(every, n_values - 1, True)
    outside = (span_last < low) | (span_first > high)
    if sub_index == 0 and n and outside.all():
        raise ConditionError(f"no datetime of the column lies in [{spec[0]}, {spec[1]}]")
    # rows fully inside the range allow every value; rows outside it (only if earlier
    # sub-columns were drawn without the mask) allow every value too, never an empty choice
    mask = np.zeros((n, card), dtype=bool)
    mask[:, shift:] = True
    rows = np.flatnonzero(~outside & ((span_first < low) | (span_last > high)))
    if len(rows):
        # both edges grow with the candidate value, so the allowed values form one run per row:
        # from the first whose last datetime is >= low to the last whose first datetime is <= high
        first_ok = _first_true(lambda i: edge(rows, i, True) >= low, len(rows), n_values)
        last_ok = _first_true(lambda i: edge(rows, i, False) > high, len(rows), n_values) - 1
        offsets = np.arange(n_values, dtype=np.int32)[None, :]
        run = (offsets >= first_ok[:, None]) & (offsets <= last_ok[:, None])
        run[~run.any(axis=1)] = True  # no representable datetime in range: clip() handles it
        mask[rows, shift:] = run
    return mask


def clip(values: pd.Series, stats: dict, spec, rng: np.random.Generator | None = None) -> pd.Series:
    """Makes decoded datetimes satisfy a ``where`` restriction exactly.

    A range clips into ``[low, high]``; a list snaps each value to the nearest allowed datetime;
    None is the identity.

    Args:
        values: Decoded datetimes (naive, or tz-aware in the column's zone).
        stats: Output of :func:`reduce`.
        spec: ``(low, high)``, a list of datetimes, or None.

    Returns:
        Series of the same kind as ``values``, same index.
    """
    if spec is None or stats["mode"] == "empty":
        return values
    index = values.index if isinstance(values, pd.Series) else None
    ns, null, _ = _to_ns(values)
    if isinstance(spec, tuple):
        low, high = _parse_range(stats, spec)
        ns = np.clip(ns, low, high)
    else:
        allowed = _parse_set(stats, spec)
        idx = np.clip(np.searchsorted(allowed, ns), 0, len(allowed) - 1)
        left = np.clip(idx - 1, 0, len(allowed) - 1)
        take_left = np.abs(ns - allowed[left]) <= np.abs(allowed[idx] - ns)
        ns = np.where(take_left, allowed[left], allowed[idx])
    return _from_ns(ns, null, stats["tz"], index=index)
