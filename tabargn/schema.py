"""Column kinds, input validation and dtype round-tripping.

A column's *kind* picks its encoding (:mod:`tabargn.encoding`): ``categorical``, ``numeric``,
``datetime``, ``text`` (free text, handled by :mod:`llm_text`) or ``empty`` (all values missing:
nothing to learn, output is all-missing in the original dtype).
"""

from __future__ import annotations

import datetime as _dt
import decimal
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tabargn.errors import InvalidDataError, UnsupportedDtypeError

__all__ = ["ColumnSpec", "KINDS", "validate_frame", "infer_schema", "restore_dtype", "to_kind"]

KINDS = ("categorical", "numeric", "datetime", "text")
_SCALAR_TYPES = (str, bool, int, float, np.generic, decimal.Decimal)


@dataclass
class ColumnSpec:
    """One fitted column.

    Attributes:
        name: Column name.
        kind: ``categorical``, ``numeric``, ``datetime``, ``text`` or ``empty``.
        dtype: ``str`` of the original pandas dtype (e.g. ``"Int64"``, ``"category"``).
        categories: Categories of a ``category`` dtype (None otherwise).
        ordered: Whether that ``category`` dtype was ordered.
    """

    name: str
    kind: str
    dtype: str
    categories: list | None = None
    ordered: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def validate_frame(df: object, *, what: str = "data") -> pd.DataFrame:
    """Checks that ``df`` is a usable table.

    Raises:
        InvalidDataError: Not a DataFrame, no rows, no columns, duplicate or non-string names.
        UnsupportedDtypeError: A column holds complex numbers, timedeltas, periods, intervals,
            or objects that are not scalars (lists, dicts, sets, bytes, ...).
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
        _check_dtype(df[name], name)
    return df


def _check_dtype(s: pd.Series, name: str) -> None:
    dtype = s.dtype
    if ptypes.is_complex_dtype(dtype):
        raise UnsupportedDtypeError(f"column {name!r} holds complex numbers; split into two floats")
    if ptypes.is_timedelta64_dtype(dtype):
        raise UnsupportedDtypeError(
            f"column {name!r} holds timedeltas; convert to a number, e.g. "
            f"df[{name!r}].dt.total_seconds()"
        )
    if isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype | pd.SparseDtype):
        raise UnsupportedDtypeError(f"column {name!r} has unsupported dtype {dtype}")
    if ptypes.is_object_dtype(dtype):
        values = s.dropna()
        if len(values) > 5000:
            values = values.sample(5000, random_state=0)
        types = {type(v) for v in values}
        bad = [t for t in types if not issubclass(t, _SCALAR_TYPES + (_dt.date, pd.Timestamp))]
        if bad:
            raise UnsupportedDtypeError(
                f"column {name!r} holds values of type {sorted(t.__name__ for t in bad)}; "
                "only scalars (str, numbers, bool, datetimes) are supported"
            )


def _infer_kind(s: pd.Series) -> str:
    if s.isna().all():
        return "empty"
    dtype = s.dtype
    if ptypes.is_bool_dtype(dtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype):
        return "numeric"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_object_dtype(dtype):
        values = s.dropna()
        if len(values) and all(isinstance(v, _dt.datetime | pd.Timestamp) for v in values[:1000]):
            return "datetime"
    return "categorical"


def infer_schema(
    df: pd.DataFrame, encoding_types: dict[str, str] | None = None
) -> list[ColumnSpec]:
    """Infers each column's kind from its dtype; ``encoding_types`` overrides.

    Booleans are categorical; numbers numeric; datetime64 (naive or tz-aware) datetime;
    strings, objects and categories categorical; all-missing columns ``empty``.

    Raises:
        InvalidDataError: ``encoding_types`` names an unknown column or kind.
    """
    encoding_types = dict(encoding_types or {})
    unknown = sorted(set(encoding_types) - set(df.columns))
    if unknown:
        raise InvalidDataError(f"encoding_types names columns not in the data: {unknown}")
    specs = []
    for name in df.columns:
        s = df[name]
        kind = encoding_types.get(name) or _infer_kind(s)
        if kind not in KINDS and kind != "empty":
            raise InvalidDataError(f"encoding_types[{name!r}] = {kind!r}; use one of {list(KINDS)}")
        if s.isna().all():
            kind = "empty"
        spec = ColumnSpec(name=name, kind=kind, dtype=str(s.dtype))
        if isinstance(s.dtype, pd.CategoricalDtype):
            spec.categories = [_plain(v) for v in s.dtype.categories]
            spec.ordered = bool(s.dtype.ordered)
        specs.append(spec)
    return specs


def _plain(v):
    """A JSON-native version of a scalar."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def to_kind(s: pd.Series, kind: str, name: str) -> pd.Series:
    """Converts a column to what its encoding expects (numbers for numeric, datetimes for datetime).

    Raises:
        InvalidDataError: Values cannot be converted (e.g. text in a column typed numeric).
    """
    try:
        if kind == "numeric" and not ptypes.is_numeric_dtype(s.dtype):
            return pd.to_numeric(s, errors="raise")
        if kind == "numeric" and ptypes.is_bool_dtype(s.dtype):
            return s.astype("float64")
        if kind == "datetime" and not ptypes.is_datetime64_any_dtype(s.dtype):
            return pd.to_datetime(s, errors="raise")
    except (ValueError, TypeError) as e:
        raise InvalidDataError(f"column {name!r} cannot be read as {kind}: {e}") from None
    return s


def restore_dtype(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    """Casts decoded values back to the column's original dtype.

    Integers are rounded first; a missing value in a plain ``int64``/``bool`` column (which can
    only come from conditions) falls back to the nullable dtype.
    """
    dtype = spec.dtype
    if spec.kind == "empty":
        return pd.Series([None] * len(values), index=values.index, name=spec.name).astype(
            _pandas_dtype(spec)
        )
    try:
        target = _pandas_dtype(spec)
        if ptypes.is_integer_dtype(target):
            numeric = pd.to_numeric(values, errors="coerce").round()
            if numeric.isna().any() and not isinstance(target, pd.api.extensions.ExtensionDtype):
                target = pd.Int64Dtype()
            out = numeric.astype(target)
        elif ptypes.is_bool_dtype(target) and not isinstance(target, pd.BooleanDtype):
            if values.isna().any():
                out = values.astype("boolean")
            else:
                out = values.astype(bool)
        elif isinstance(target, pd.CategoricalDtype):
            if spec.categories is None:
                out = values.astype("category")
            else:
                extra = [v for v in pd.unique(values.dropna()) if v not in set(spec.categories)]
                cats = list(spec.categories) + extra
                out = values.astype(pd.CategoricalDtype(cats, ordered=spec.ordered))
        elif dtype == "object":
            out = values.astype(object).where(values.notna(), None)
        else:
            out = values.astype(target)
    except (ValueError, TypeError):
        out = values
    out.name = spec.name
    return out


def _pandas_dtype(spec: ColumnSpec):
    if spec.dtype == "category":
        return pd.CategoricalDtype(spec.categories, ordered=spec.ordered)
    return pd.api.types.pandas_dtype(spec.dtype)
