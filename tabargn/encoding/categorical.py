"""Categorical encoding: one code per category, split into digits for high cardinality.

Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012, section 3.1) and the categorical
encoding of MOSTLY AI's ``mostlyai-engine``; the digit split for high cardinality is ours.

Code layout (one integer per row, before the split)::

    0                 NULL   (only if the training data had missing values)
    next              RARE   (only if value protection removed categories)
    next ...          kept categories, by training frequency (descending, ties by ``str(value)``)

With value protection, a category held by fewer than ``k`` rows (``k`` uniform in 5..7, see
:mod:`tabargn.encoding.value_protection`) leaves the vocabulary: its rows encode to RARE, the stats never
mention it, and :func:`decode` resamples RARE codes from the kept categories in proportion to their
training counts, so no placeholder ever reaches the output while kept categories exist. The
exception is a column that is identifier-like at the table's size: when removed values hold at
least :data:`MOSTLY_RARE_SHARE` of its rows (player ids, tail numbers in a few thousand rows),
resampling would pile most rows onto the few kept values, so RARE decodes to synthetic keys of
the removed values' shape instead when a safe shape exists (see below), else to the placeholder
(``fallback`` is then set while categories are kept).

When no category is common enough to keep (every category held by fewer than ``k`` rows), the
column yields no training value at all: an identifier-like column (unique per row, strings of a
common shape) decodes to random synthetic keys of that shape (:mod:`tabargn.encoding.synthetic_keys`),
any other to a placeholder (:data:`RARE_PLACEHOLDER` unless the caller sets another). The
stats then hold ``fallback`` (``{"kind": "key", "runs": ...}`` or ``{"kind": "placeholder",
"value": ...}``) and no category.

High cardinality: when there are more than :data:`MAX_CARDINALITY` codes, the code is written in
base ``b = ceil(n_codes ** (1 / m))`` with ``m`` digits (``m`` the smallest with ``b <= 1024``):
``code = d0 * b**(m-1) + ... + d_{m-1}``. Each digit is one sub-column (``"cat0"``, ``"cat1"``...),
the most significant first; with one digit the sub-column is ``"cat"``. Digit combinations past the
last code decode to the last code (clamped); ``where_mask(stats, None, ...)`` masks them out.

Values keep their Python type through JSON: ``str``, ``int``, ``float`` and ``bool`` are stored as
is; other scalars (dates, decimals, bytes...) are stored and matched as ``str(value)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import pandas as pd

from tabargn.encoding.synthetic_keys import generate_keys, learn_shape
from tabargn.encoding.value_protection import draw_k, rare_mask
from tabargn.errors import ConditionError, UnknownValueError, UnsupportedDtypeError

__all__ = [
    "MAX_CARDINALITY",
    "RARE_PLACEHOLDER",
    "MOSTLY_RARE_SHARE",
    "analyze",
    "reduce",
    "encode",
    "decode",
    "where_mask",
    "clip",
    "categories",
    "allowed_prefix_mask",
    "fallback_values",
    "kept_mask",
]

MAX_CARDINALITY = 1024
"""Largest cardinality of one sub-column; more codes are split into digits."""

RARE_PLACEHOLDER = "_RARE_"
MOSTLY_RARE_SHARE = 0.5
"""Share of a column's non-missing rows held by removed values from which RARE decodes to
synthetic keys of their shape (when one is safe) or to the placeholder, instead of being
resampled from the kept values."""
"""Default output of a column none of whose categories survives value protection."""

_PREVIEW = 10  # values named in an error message


# --------------------------------------------------------------------------------------------
# value normalization
# --------------------------------------------------------------------------------------------


def _to_python(value):
    """Turns one non-missing scalar into a JSON-friendly Python value (str/int/float/bool)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, list | dict | set | tuple | np.ndarray):
        raise UnsupportedDtypeError(
            f"categorical values must be scalars, got {type(value).__name__}: {value!r:.80}"
        )
    return str(value)


def merge_counts(partials: list[dict]) -> list[list]:
    """``[value, count]`` of every value of the partials, counts summed across them."""
    merged: dict[tuple, list] = {}
    for part in partials:
        for value, count in zip(part["values"], part["counts"], strict=True):
            key = _key(value)
            if key in merged:
                merged[key][1] += int(count)
            else:
                merged[key] = [value, int(count)]
    return list(merged.values())


def _key(value) -> tuple:
    """Lookup key of a normalized value: ``1`` matches ``1.0`` but not ``True`` or ``"1"``."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    return ("s", value)


def _factorize(values: pd.Series) -> tuple[np.ndarray, list]:
    """Factorizes a column into ``(codes, uniques)``; missing values get code ``-1``.

    Every missing marker (NaN, None, ``pd.NA``, ``NaT``) counts as missing. ``uniques`` are
    normalized Python values.
    """
    obj = pd.Series(values).astype(object).to_numpy()
    try:
        codes, uniques = pd.factorize(obj, use_na_sentinel=True)
    except TypeError as err:  # unhashable values (lists, dicts)
        raise UnsupportedDtypeError(f"categorical values must be hashable scalars: {err}") from None
    return np.asarray(codes, dtype=np.int64), [_to_python(u) for u in uniques]


def _preview(values: list) -> str:
    shown = ", ".join(repr(v) for v in values[:_PREVIEW])
    more = f" and {len(values) - _PREVIEW} more" if len(values) > _PREVIEW else ""
    return f"[{shown}{more}]"


def _unknown_error(unknown: list) -> UnknownValueError:
    err = UnknownValueError(
        f"{len(unknown)} value(s) {_preview(unknown)} were never seen in training or were removed "
        "by value protection (categories held by fewer than 5-7 rows)"
    )
    err.unknown_values = list(unknown)
    return err


# --------------------------------------------------------------------------------------------
# digit split (shared with the other encodings through allowed_prefix_mask)
# --------------------------------------------------------------------------------------------


def _digit_layout(n_codes: int) -> tuple[int, int]:
    """Returns ``(n_digits, base)`` so that every digit's cardinality is at most 1024."""
    if n_codes <= MAX_CARDINALITY:
        return 1, max(n_codes, 1)
    m = 2
    while MAX_CARDINALITY**m < n_codes:
        m += 1
    base = max(2, math.ceil(n_codes ** (1.0 / m)))
    while base**m < n_codes:
        base += 1
    while base > 2 and (base - 1) ** m >= n_codes:
        base -= 1
    return m, base


def _split(codes: np.ndarray, stats: dict) -> np.ndarray:
    m, base = stats["n_digits"], stats["base"]
    if m == 1:
        return codes.reshape(-1, 1).astype(np.int64)
    out = np.empty((len(codes), m), dtype=np.int64)
    rest = codes.astype(np.int64)
    for i in range(m - 1, -1, -1):
        out[:, i] = rest % base
        rest = rest // base
    return out


def _combine(digits: np.ndarray, stats: dict) -> np.ndarray:
    m, base = stats["n_digits"], stats["base"]
    code = np.zeros(digits.shape[0], dtype=np.int64)
    for i in range(m):
        code = code * base + digits[:, i]
    return np.clip(code, 0, stats["n_codes"] - 1)


def _as_prev(prev_codes, sub_index: int) -> np.ndarray:
    """``prev_codes`` as ``int64 [n_rows, sub_index]`` (a 1-D array is one column per row)."""
    prev = np.asarray(prev_codes, dtype=np.int64)
    if prev.ndim == 1:
        prev = prev.reshape(-1, 1) if sub_index == 1 else prev.reshape(len(prev), 0)
    return prev


def allowed_prefix_mask(
    allowed: np.ndarray, sub_index: int, prev_codes: np.ndarray, cardinality: int
) -> np.ndarray:
    """Mask of the codes of one sub-column that extend the drawn prefix to an allowed code tuple.

    Used by every encoding for ``where`` restrictions given as a set of values: the caller encodes
    the allowed values into code tuples, and at sub-column ``i`` a code ``c`` is allowed for a row
    when some allowed tuple starts with the row's earlier codes followed by ``c``. Rows whose
    prefix matches no allowed tuple (only possible when earlier sub-columns were drawn without
    the mask) get every code allowed, so a row never has an empty choice.

    Args:
        allowed: ``int64 [n_allowed, n_sub]``, the code tuples of the allowed values.
        sub_index: The sub-column being drawn.
        prev_codes: ``int64 [n_rows, sub_index]``, codes already drawn for earlier sub-columns.
        cardinality: Cardinality of sub-column ``sub_index``.

    Returns:
        ``bool [n_rows, cardinality]``.
    """
    allowed = np.asarray(allowed, dtype=np.int64)
    prev_codes = _as_prev(prev_codes, sub_index)
    n = prev_codes.shape[0]
    if sub_index == 0:
        row = np.zeros(cardinality, dtype=bool)
        row[allowed[:, 0]] = True
        return np.broadcast_to(row, (n, cardinality)).copy()
    prefix_allowed, prefix_rows = allowed[:, :sub_index], prev_codes
    radices = np.maximum(prefix_allowed.max(axis=0), prefix_rows.max(axis=0, initial=0)) + 1
    if float(np.prod(radices.astype(np.float64))) < 2.0**62:
        # one integer key per prefix (mixed radix), then 1-D lookups
        key_allowed = np.zeros(len(allowed), dtype=np.int64)
        key_rows = np.zeros(n, dtype=np.int64)
        for j, radix in enumerate(radices.tolist()):
            key_allowed = key_allowed * radix + prefix_allowed[:, j]
            key_rows = key_rows * radix + prefix_rows[:, j]
        keys = np.unique(key_allowed)
        table = np.zeros((len(keys) + 1, cardinality), dtype=bool)
        table[np.searchsorted(keys, key_allowed), allowed[:, sub_index]] = True
        pos = np.clip(np.searchsorted(keys, key_rows), 0, len(keys) - 1)
        pos[keys[pos] != key_rows] = len(keys)  # unmatched prefix: the all-False last row
        mask = table[pos]
    else:
        m = allowed.shape[0]
        both = np.concatenate([prefix_allowed, prefix_rows], axis=0)
        _, inverse = np.unique(both, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        table = np.zeros((int(inverse.max()) + 1, cardinality), dtype=bool)
        table[inverse[:m], allowed[:, sub_index]] = True
        mask = table[inverse[m:]]
    mask[~mask.any(axis=1)] = True
    return mask


# --------------------------------------------------------------------------------------------
# interface
# --------------------------------------------------------------------------------------------


def analyze(values: pd.Series) -> dict:
    """Partial statistics of one chunk: counts per distinct value and the number of missing ones.

    Args:
        values: One chunk of the column (any dtype; NaN, None, ``pd.NA``, ``NaT`` are missing).

    Returns:
        JSON-serializable ``{"n_null": int, "values": list, "counts": list[int]}``.

    Raises:
        UnsupportedDtypeError: If the column holds non-scalar values (lists, dicts...).
    """
    codes, uniques = _factorize(values)
    valid = codes >= 0
    counts = np.bincount(codes[valid], minlength=len(uniques))
    merged: dict[tuple, list] = {}
    for value, count in zip(uniques, counts.tolist(), strict=True):
        key = _key(value)
        if key in merged:
            merged[key][1] += count
        else:
            merged[key] = [value, count]
    return {
        "n_null": int((~valid).sum()),
        "values": [v for v, _ in merged.values()],
        "counts": [int(c) for _, c in merged.values()],
    }


def reduce(
    partials: list[dict],
    *,
    value_protection: bool,
    rng: np.random.Generator,
    placeholder: str = RARE_PLACEHOLDER,
    selected: bool = False,
) -> dict:
    """Merges partial statistics into the final stats of the column.

    Value protection: with ``k = draw_k(rng)``, categories with fewer than ``k`` rows are
    dropped (their rows encode to RARE). If that drops every category, no training value is
    kept: the column decodes to synthetic keys of its shape when it is identifier-like (every
    value held by one row, strings; see :func:`tabargn.encoding.synthetic_keys.learn_shape`),
    else to ``placeholder``. If removed values hold at least :data:`MOSTLY_RARE_SHARE` of the
    rows, RARE decodes to synthetic keys of their shape (when a safe one exists) or to
    ``placeholder`` although categories are kept (``fallback`` set).

    Args:
        partials: Outputs of :func:`analyze`.
        value_protection: Whether to drop rare categories.
        rng: Random generator (draws ``k``).
        placeholder: What RARE decodes to in a column with no kept category, or with mostly
            removed values (:data:`MOSTLY_RARE_SHARE`), when no key shape is safe.
        selected: The partials hold only categories already selected by a differentially
            private mechanism (:mod:`tabargn.dp_statistics`): every other value encodes to RARE,
            and a column with none decodes to ``placeholder`` (no key shape: learning it would
            read the raw values).

    Returns:
        JSON-serializable stats: ``kind``, ``has_null``, ``has_rare``, ``categories`` (kept values
        in code order), ``counts`` (their training counts), ``offset`` (number of special codes
        before the first category), ``n_codes``, ``n_digits``, ``base`` and ``sub_columns``.
    """
    n_null = 0
    # rows of values a bounded summary dropped (tabargn.encoding.summaries): they encode to RARE
    n_pruned = sum(int(p.get("n_pruned", 0)) for p in partials)
    for part in partials:
        n_null += int(part["n_null"])
    items = sorted(merge_counts(partials), key=lambda vc: (-vc[1], str(vc[0])))
    has_rare = False
    fallback = None
    if value_protection and items:
        k = draw_k(rng)
        rare = rare_mask([c for _, c in items], k)
        kept = [item for item, r in zip(items, rare, strict=True) if not r]
        if not kept:
            most = max([int(p.get("max_pruned", 0)) for p in partials] or [0])
            unique = all(c == 1 for _, c in items) and most <= 1
            shape = learn_shape([v for v, _ in items], k) if unique else None
            fallback = (
                {"kind": "key", **shape}
                if shape is not None
                else {"kind": "placeholder", "value": str(placeholder)}
            )
        elif _rare_share(items, rare, n_pruned) >= MOSTLY_RARE_SHARE:
            # identifier-like at this size: resampling the few kept values would pile most rows
            # onto them; new keys of the removed values' shape keep the column's spread
            shape = learn_shape([v for (v, _), r in zip(items, rare, strict=True) if r], k)
            fallback = (
                {"kind": "key", **shape}
                if shape is not None
                else {"kind": "placeholder", "value": str(placeholder)}
            )
        has_rare = len(kept) < len(items) or n_pruned > 0
        items = kept
    elif selected:
        has_rare = True
        if not items:
            fallback = {"kind": "placeholder", "value": str(placeholder)}
    has_null = n_null > 0
    offset = int(has_null) + int(has_rare)
    n_codes = max(offset + len(items), 1)
    n_digits, base = _digit_layout(n_codes)
    if n_digits == 1:
        sub_columns = [{"name": "cat", "cardinality": n_codes}]
    else:
        first = math.ceil(n_codes / base ** (n_digits - 1))
        sub_columns = [{"name": "cat0", "cardinality": int(first)}] + [
            {"name": f"cat{i}", "cardinality": int(base)} for i in range(1, n_digits)
        ]
    stats = {
        "kind": "categorical",
        "has_null": has_null,
        "has_rare": has_rare,
        "categories": [v for v, _ in items],
        "counts": [int(c) for _, c in items],
        "offset": offset,
        "n_codes": int(n_codes),
        "n_digits": int(n_digits),
        "base": int(base),
        "sub_columns": sub_columns,
    }
    if fallback is not None:
        stats["fallback"] = fallback
    return stats


def _rare_share(items: list, rare: np.ndarray, n_pruned: int) -> float:
    """Share of the counted rows whose value value protection removed (pruned rows included)."""
    counts = np.array([c for _, c in items], dtype=np.float64)
    total = counts.sum() + n_pruned
    return float((counts[np.asarray(rare, dtype=bool)].sum() + n_pruned) / total) if total else 0.0


def fallback_values(stats: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """What the RARE code of a column without kept categories decodes to, ``object [n]``.

    Synthetic keys for identifier-like columns, else the placeholder (see :func:`reduce`).
    """
    fallback = stats.get("fallback") or {"kind": "placeholder", "value": RARE_PLACEHOLDER}
    if fallback["kind"] == "key":
        return generate_keys(fallback, n, rng)
    out = np.empty(n, dtype=object)
    out[:] = fallback["value"]
    return out


def categories(stats: dict) -> list:
    """The categories a column can produce (kept by value protection), most frequent first.

    Use it to list the allowed values in error messages.
    """
    return list(stats["categories"])


def _lookup(stats: dict) -> dict[tuple, int]:
    offset = stats["offset"]
    return {_key(v): offset + i for i, v in enumerate(stats["categories"])}


def _codes(values: pd.Series, stats: dict, strict: bool) -> np.ndarray:
    """Full (unsplit) codes of values; see :func:`encode`."""
    codes, uniques = _factorize(values)
    lookup = _lookup(stats)
    rare_code = int(stats["has_null"]) if stats["has_rare"] else None
    per_unique = np.empty(len(uniques) + 1, dtype=np.int64)
    unknown = []
    for i, value in enumerate(uniques):
        code = lookup.get(_key(value))
        if code is None:
            if rare_code is None or strict:
                unknown.append(value)
                code = 0
            else:
                code = rare_code
        per_unique[i] = code
    if unknown:
        raise _unknown_error(unknown)
    per_unique[-1] = 0  # missing: NULL code, or code 0 when the column had no NULLs
    return per_unique[codes]  # codes == -1 picks the last entry


def kept_mask(values: pd.Series, stats: dict) -> np.ndarray:
    """Which values are kept categories of the column (False for removed, unseen, missing).

    Returns:
        ``bool [n_rows]``.
    """
    codes, uniques = _factorize(values)
    lookup = _lookup(stats)
    per_unique = np.array([_key(v) in lookup for v in uniques] + [False], dtype=bool)
    return per_unique[codes]


def encode(values: pd.Series, stats: dict, *, strict: bool = False) -> np.ndarray:
    """Encodes a column into categorical codes.

    Missing values encode to the NULL code; in a column fitted without missing values they encode
    to code 0 (a valid code; the caller masks such cells, e.g. when imputing). A value outside
    the vocabulary encodes to RARE when value protection removed categories at fit time (so the
    training data itself encodes without error), unless ``strict``.

    Args:
        values: The column, ``[n_rows]``.
        stats: Output of :func:`reduce`.
        strict: Raise for every value outside the vocabulary, even if a RARE code exists (use it
            for user-given conditions).

    Returns:
        ``int64 [n_rows, n_sub_columns]``.

    Raises:
        UnknownValueError: For values never seen in training or removed by value protection
            (always when ``strict``; otherwise only if the column has no RARE code). The error's
            ``unknown_values`` attribute lists them.
    """
    return _split(_codes(values, stats, strict), stats)


def decode(codes: np.ndarray, stats: dict, rng: np.random.Generator) -> pd.Series:
    """Decodes codes into values; RARE codes are resampled from the kept categories.

    A column without kept categories decodes RARE to :func:`fallback_values`.

    Args:
        codes: ``int [n_rows, n_sub_columns]``.
        stats: Output of :func:`reduce`.
        rng: Random generator for RARE resampling.

    Returns:
        ``object`` Series with the original Python values (None for NULL), RangeIndex.
    """
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, stats["n_digits"])
    full = _combine(codes, stats)
    offset = stats["offset"]
    cats = stats["categories"]
    table = np.empty(offset + len(cats), dtype=object)
    table[:offset] = None
    table[offset:] = cats
    full = np.minimum(full, len(table) - 1)
    out = table[full] if len(table) else np.full(len(full), None, dtype=object)
    if stats["has_rare"]:
        is_rare = full == int(stats["has_null"])
        n_rare = int(is_rare.sum())
        if n_rare and cats and "fallback" not in stats:
            p = np.asarray(stats["counts"], dtype=np.float64)
            draws = rng.choice(len(cats), size=n_rare, p=p / p.sum())
            out[is_rare] = table[offset + draws]
        elif n_rare:  # synthetic keys or the placeholder, never a training value
            out[is_rare] = fallback_values(stats, n_rare, rng)
    return pd.Series(out, dtype=object)


def _as_list(spec) -> list:
    if isinstance(spec, str | bytes) or not isinstance(spec, Iterable):
        return [spec]
    return list(spec)


def where_mask(stats: dict, spec, sub_index: int, prev_codes: np.ndarray) -> np.ndarray:
    """Codes of sub-column ``sub_index`` compatible with a ``where`` set of allowed values.

    NULL and RARE are never allowed. ``spec=None`` only masks digit combinations past the last
    code (useful for unrestricted sampling of split high-cardinality columns).

    Args:
        stats: Output of :func:`reduce`.
        spec: List (or any iterable) of allowed values, or None.
        sub_index: The sub-column being drawn.
        prev_codes: ``int64 [n_rows, sub_index]``, codes already drawn for this column.

    Returns:
        ``bool [n_rows, cardinality]``.

    Raises:
        ConditionError: For a ``(low, high)`` range, an empty list, or a missing value in the list.
        UnknownValueError: For values not in the vocabulary (never seen, or removed by value
            protection); ``unknown_values`` lists them.
    """
    card = stats["sub_columns"][sub_index]["cardinality"]
    if spec is None:
        allowed = np.arange(stats["n_codes"], dtype=np.int64)
    else:
        if isinstance(spec, tuple):
            raise ConditionError(
                "a (low, high) range cannot restrict a categorical column; give a list of values"
            )
        wanted = _as_list(spec)
        if not wanted:
            raise ConditionError("an empty list of allowed values can never be satisfied")
        if any(v is None or (not isinstance(v, str) and pd.isna(v)) for v in wanted):
            raise ConditionError("NULL cannot be requested in a where restriction")
        allowed = np.unique(_codes(pd.Series(wanted, dtype=object), stats, strict=True))
    return allowed_prefix_mask(_split(allowed, stats), sub_index, prev_codes, card)


def clip(values: pd.Series, stats: dict, spec, rng: np.random.Generator | None = None) -> pd.Series:
    """Identity: categorical restrictions are exact through :func:`where_mask` alone.

    Raises:
        ConditionError: For a ``(low, high)`` range.
    """
    if isinstance(spec, tuple):
        raise ConditionError(
            "a (low, high) range cannot restrict a categorical column; give a list of values"
        )
    return values
