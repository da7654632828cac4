"""Encodings: every column becomes one or more categorical *sub-columns*.

TabularARGN (Tiwald et al., 2025, arXiv 2501.12012, section 3.1) models a table as a sequence of
categorical sub-columns. Each encoding type lives in its own module with the same interface:

``analyze(values: pd.Series) -> dict``
    Partial statistics of one chunk of a column (JSON-serializable). Never depends on other
    chunks, so chunks can be analyzed in parallel.
``reduce(partials: list[dict], *, value_protection: bool, rng: np.random.Generator) -> dict``
    Merges partial statistics into the final, JSON-serializable ``stats`` of the column. This is
    where value protection (rare categories, extreme values; see :mod:`tabargn.encoding.value_protection`)
    is applied. ``stats["sub_columns"]`` is a list of ``{"name": str, "cardinality": int}``.
``encode(values: pd.Series, stats: dict) -> np.ndarray``
    ``int64`` array of shape ``[n_rows, n_sub_columns]``; every code ``0 <= c < cardinality``.
    Unknown categorical values raise :class:`tabargn.errors.UnknownValueError` naming them.
``decode(codes: np.ndarray, stats: dict, rng: np.random.Generator) -> pd.Series``
    Inverse of ``encode`` (up to binning). Returns values as float64 (numeric), object
    (categorical) or datetime64 (datetime); the caller restores the column's original dtype.
``where_mask(stats, spec, sub_index, prev_codes) -> np.ndarray``
    Boolean ``[n_rows, cardinality]`` of codes of sub-column ``sub_index`` compatible with a
    ``where`` restriction ``spec`` (a ``(low, high)`` range or a list of allowed values), given
    the codes already drawn for the earlier sub-columns of the same column
    (``prev_codes``, ``int64 [n_rows, sub_index]``).
``clip(values: pd.Series, stats, spec, rng=None) -> pd.Series``
    Makes decoded values satisfy a ``where`` range exactly (values inside a boundary bin).
"""

from __future__ import annotations

from types import ModuleType

from tabargn.encoding import categorical, datetime, numeric

ENCODINGS: dict[str, ModuleType] = {
    "categorical": categorical,
    "numeric": numeric,
    "datetime": datetime,
}

__all__ = ["ENCODINGS", "get_encoding"]


def get_encoding(kind: str) -> ModuleType:
    """Returns the encoding module for a column kind.

    Args:
        kind: One of ``"categorical"``, ``"numeric"``, ``"datetime"``.

    Raises:
        InvalidDataError: If the kind is unknown.
    """
    from tabargn.errors import InvalidDataError

    try:
        return ENCODINGS[kind]
    except KeyError:
        raise InvalidDataError(
            f"unknown encoding type {kind!r}; use one of {sorted(ENCODINGS)}"
        ) from None
