"""Column kinds and input validation: which encoding each column gets.

A column's *kind* picks its encoding (:mod:`tabargn.encoding`): ``categorical``, ``numeric``,
``datetime``, ``text`` (free text, handled by :mod:`llm_text`) or ``empty`` (all values missing:
nothing to learn, output is all-missing in the original dtype). Which dtypes map to which kind,
and how they round-trip, is :mod:`tabargn.dtypes`; the conversions are :mod:`tabargn.conversion`.
"""

from __future__ import annotations

import pandas as pd

from tabargn.conversion import json_value, restore_dtype, to_kind
from tabargn.dtypes import KINDS, ColumnSpec, datetime_tz, describe_dtype, dtype_from_info, kind_of
from tabargn.errors import InvalidDataError

__all__ = [
    "ColumnSpec",
    "KINDS",
    "validate_frame",
    "infer_schema",
    "describe_dtype",
    "dtype_from_info",
    "datetime_tz",
    "restore_dtype",
    "to_kind",
]


def validate_frame(df: object, *, what: str = "data") -> pd.DataFrame:
    """Checks that ``df`` is a usable table.

    Raises:
        InvalidDataError: Not a DataFrame, no rows, no columns, duplicate or non-string names.
        UnsupportedDtypeError: A column's dtype or values cannot be modelled (complex numbers,
            nested or binary values, intervals, sparse columns, mixed dates and strings, ...; see
            the module docstring); the message names the column and a fix.
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidDataError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0:
        raise InvalidDataError(f"{what} has no columns")
    if df.shape[0] == 0:
        raise InvalidDataError(f"{what} has no rows; fit needs at least 2 rows")
    dup = df.columns[df.columns.duplicated()].unique().tolist()
    if dup:
        raise InvalidDataError(f"{what} has duplicate column names {dup}; rename them")
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise InvalidDataError(
            f"{what} has non-string column names {bad[:5]}; use df.columns = df.columns.astype(str)"
        )
    for name in df.columns:
        describe_dtype(df[name], name)
    return df


def infer_schema(
    df: pd.DataFrame, encoding_types: dict[str, str] | None = None
) -> list[ColumnSpec]:
    """Infers each column's kind from its dtype (see the module docstring); ``encoding_types``
    overrides. All-missing columns are ``empty``.

    Raises:
        InvalidDataError: ``encoding_types`` names an unknown column or kind.
        UnsupportedDtypeError: A column's dtype cannot be modelled.
    """
    encoding_types = dict(encoding_types or {})
    unknown = sorted(set(encoding_types) - set(df.columns))
    if unknown:
        raise InvalidDataError(f"encoding_types names columns not in the data: {unknown}")
    specs = []
    for name in df.columns:
        s = df[name]
        info = describe_dtype(s, name)
        kind = encoding_types.get(name) or kind_of(info)
        if kind not in KINDS and kind != "empty":
            raise InvalidDataError(f"encoding_types[{name!r}] = {kind!r}; use one of {list(KINDS)}")
        if s.isna().all():
            kind = "empty"
        spec = ColumnSpec(name=name, kind=kind, dtype=str(s.dtype), dtype_info=info)
        if isinstance(s.dtype, pd.CategoricalDtype):
            spec.categories = [json_value(v) for v in s.dtype.categories]
            spec.ordered = bool(s.dtype.ordered)
        specs.append(spec)
    return specs


def keep_spec_categories(spec: ColumnSpec, stats: dict) -> None:
    """Drops the categories the stats did not keep from a pandas ``category`` column's spec."""
    if spec.categories is not None:
        keep = {str(v) for v in stats["categories"]}
        spec.categories = [c for c in spec.categories if str(c) in keep]
        fallback = stats.get("fallback") or {}
        if fallback.get("kind") == "placeholder":
            spec.categories.append(fallback["value"])
