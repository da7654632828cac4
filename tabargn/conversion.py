"""Values to a column's kind and back to its recorded dtype.

:func:`to_kind` turns a column into what its encoding reads (numbers, datetimes, categories);
:func:`restore_dtype` turns decoded values back into the dtype and Python value types recorded
at fit (:mod:`tabargn.dtypes`), e.g. ``Decimal`` at the column's scale, ``datetime.date``,
Arrow-backed strings, ordered categories.
"""

from __future__ import annotations

import datetime as _dt
import decimal

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api import types as ptypes

from tabargn.dtypes import ColumnSpec, dtype_from_info, dtype_info, string_dtype
from tabargn.dtypes import arrow_type_from_json as _arrow_from_json
from tabargn.errors import InvalidDataError, UnsupportedDtypeError

__all__ = ["to_kind", "restore_dtype", "json_value"]


def json_value(v):
    """A JSON-native version of a scalar (str for dates, Decimals, Timestamps, ...)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str | bool | int | float) or v is None:
        return v
    return str(v)


# ============================================================================ model form
def _unit(info: dict | None) -> str | None:
    """Unit of a timedelta / duration / time-of-day dtype."""
    if info is None:
        return None
    dtype = dtype_from_info(info)
    if isinstance(dtype, pd.ArrowDtype):
        return getattr(dtype.pyarrow_dtype, "unit", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        return np.datetime_data(dtype)[0]
    return None


def _floats(x) -> pd.Series:
    index = x.index if isinstance(x, pd.Series) else None
    return pd.Series(np.asarray(x, dtype=np.float64), index=index, dtype=np.float64)


def _as_numbers(s: pd.Series, info: dict | None) -> pd.Series:
    """A numeric-kind column as float64 numbers (NaN for missing)."""
    target = dtype_from_info(info) if info is not None else None
    arrow_target = target.pyarrow_dtype if isinstance(target, pd.ArrowDtype) else None
    dtype = s.dtype
    own = dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else None
    if arrow_target is not None and (
        pa.types.is_time(arrow_target) or pa.types.is_duration(arrow_target)
    ):
        # times of day and Arrow durations: integers of the fitted unit
        if own != arrow_target:
            if pa.types.is_duration(arrow_target):
                s = pd.to_timedelta(s.astype(object).where(s.notna(), None))
            obj = s.astype(object).where(s.notna(), None).tolist()
            arr = pa.array(obj, from_pandas=True).cast(arrow_target, safe=False)
        else:
            arr = pa.array(s.array)
        if pa.types.is_time32(arrow_target):
            arr = arr.cast(pa.int32())
        arr = arr.cast(pa.int64())
        return _floats(arr.to_numpy(zero_copy_only=False)).set_axis(s.index)
    is_td_target = isinstance(target, np.dtype) and target.kind == "m"
    if is_td_target or ptypes.is_timedelta64_dtype(dtype) or (own and pa.types.is_duration(own)):
        unit = _unit(info) or (
            own.unit if own is not None else np.datetime_data(np.dtype(dtype))[0]
        )
        if not ptypes.is_timedelta64_dtype(dtype):
            s = pd.to_timedelta(s.astype(object).where(s.notna(), None))
        arr = s.to_numpy(dtype=f"timedelta64[{unit}]")
        out = arr.view(np.int64).astype(np.float64)
        out[np.isnat(arr)] = np.nan
        return pd.Series(out, index=s.index)
    if ptypes.is_bool_dtype(dtype):
        return _floats(s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)).set_axis(
            s.index
        )
    if ptypes.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return _floats(s.to_numpy(dtype=np.float64, na_value=np.nan)).set_axis(s.index)
    obj = s.astype(object).where(s.notna(), None)
    return _floats(pd.to_numeric(obj, errors="raise")).set_axis(s.index)


def _as_datetimes(s: pd.Series) -> pd.Series:
    """A datetime-kind column as datetime64[ns] (tz-aware for tz-aware data)."""
    dtype = s.dtype
    if isinstance(dtype, pd.PeriodDtype):
        return s.dt.to_timestamp()
    if isinstance(dtype, pd.ArrowDtype):
        t = dtype.pyarrow_dtype
        if pa.types.is_timestamp(t) and t.tz is not None:
            return s.astype(pd.DatetimeTZDtype("ns", t.tz))
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return s.astype("datetime64[ns]")
    if ptypes.is_datetime64_any_dtype(dtype):
        return s
    obj = s.astype(object).where(s.notna(), None)
    if obj.map(lambda v: isinstance(v, pd.Period)).any():
        obj = obj.map(lambda v: v.to_timestamp() if isinstance(v, pd.Period) else v)
    try:
        return pd.to_datetime(obj)
    except (ValueError, TypeError):
        return pd.to_datetime(obj, utc=True)  # mixed offsets


def to_kind(s: pd.Series, kind: str, name: str, spec: ColumnSpec | None = None) -> pd.Series:
    """Converts a column to what its encoding expects: float64 numbers for numeric (timedeltas
    and durations as numbers of their unit, times of day as units since midnight, Decimals as
    floats), datetime64 for datetime (Arrow timestamps and dates, Periods as their start, date
    and datetime objects), the column itself for categorical.

    Args:
        s: The column (training data, conditions or rows to impute).
        kind: The column's kind.
        name: Used in error messages.
        spec: The fitted column, when there is one (conditions are read in its dtype's unit).

    Raises:
        InvalidDataError: Values cannot be converted (e.g. text in a column typed numeric).
        UnsupportedDtypeError: Datetimes outside the ``datetime64[ns]`` range.
    """
    info = dtype_info(spec) if spec is not None else None
    try:
        if kind == "numeric":
            return _as_numbers(s, info)
        if kind == "datetime":
            try:
                return _as_datetimes(s)
            except (pd.errors.OutOfBoundsDatetime, OverflowError, pa.ArrowInvalid) as e:
                raise UnsupportedDtypeError(
                    f"column {name!r} holds datetimes outside the supported range (years "
                    f"1678-2261): {e}; drop or clip them"
                ) from None
    except UnsupportedDtypeError:
        raise
    except (ValueError, TypeError, pa.ArrowException) as e:
        raise InvalidDataError(f"column {name!r} cannot be read as {kind}: {e}") from None
    return s


# ============================================================================ restoring dtypes
def _objects(values: pd.Series) -> pd.Series:
    """Values as an object Series with None for every missing marker."""
    return values.astype(object).where(values.notna(), None)


def _numbers(values: pd.Series) -> np.ndarray:
    if ptypes.is_numeric_dtype(values.dtype) and not ptypes.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    obj = _objects(values)
    return pd.to_numeric(obj, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _datetimes(values: pd.Series) -> pd.Series:
    if ptypes.is_datetime64_any_dtype(values.dtype):
        return values
    return _as_datetimes(values)


def _naive(d: pd.Series) -> pd.Series:
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        return d.dt.tz_convert("UTC").dt.tz_localize(None)
    return d


def _aware(d: pd.Series, tz) -> pd.Series:
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        return d.dt.tz_convert(tz)
    return d.dt.tz_localize(tz)


def _decimal(v: float, scale: int) -> decimal.Decimal:
    d = decimal.Decimal(repr(float(v)))
    if not d.is_finite():
        return d
    with decimal.localcontext() as ctx:
        ctx.prec = 100
        return d.quantize(decimal.Decimal(1).scaleb(-scale))


def _timedeltas(values: pd.Series, unit: str) -> np.ndarray:
    """``timedelta64[unit]`` array from numbers of ``unit`` (or from timedelta-like values)."""
    if values.dtype == object and values.map(lambda v: isinstance(v, str | _dt.timedelta)).any():
        return pd.to_timedelta(_objects(values)).to_numpy(dtype=f"timedelta64[{unit}]")
    x = np.round(_numbers(values))
    nat = np.isnan(x)
    arr = np.where(nat, 0, x).astype(np.int64).view(f"timedelta64[{unit}]")
    arr[nat] = np.timedelta64("NaT")
    return arr


def _arrow_array(values: pd.Series, t: pa.DataType) -> pa.Array:
    """An Arrow array of type ``t`` from decoded values."""
    if pa.types.is_null(t):
        return pa.nulls(len(values))
    if pa.types.is_dictionary(t):
        encoded = _arrow_array(values, t.value_type).dictionary_encode()
        return pa.DictionaryArray.from_arrays(
            encoded.indices.cast(t.index_type), encoded.dictionary, ordered=t.ordered
        )
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        obj = [None if v is None else str(v) for v in _objects(values).tolist()]
        return pa.array(obj, type=t)
    if pa.types.is_boolean(t):
        return pa.array([None if v is None else bool(v) for v in _objects(values).tolist()], t)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        x = _numbers(values)
        missing = np.isnan(x)
        if pa.types.is_integer(t):
            x = np.round(np.where(missing, 0, x))
        return pa.array(x.astype(t.to_pandas_dtype()), mask=missing, type=t)
    if pa.types.is_decimal(t):
        x = _numbers(values)
        return pa.array([None if np.isnan(v) else _decimal(v, t.scale) for v in x], type=t)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        d = _datetimes(values)
        d = _aware(d, t.tz) if getattr(t, "tz", None) else _naive(d)
        return pa.array(d, from_pandas=True).cast(t, safe=False)
    if pa.types.is_duration(t):
        return pa.array(_timedeltas(values, t.unit), from_pandas=True).cast(t)
    if pa.types.is_time(t):
        x = np.round(_numbers(values))
        missing = np.isnan(x)
        ints = pa.array(np.where(missing, 0, x).astype(np.int64), mask=missing)
        return ints.cast(pa.int32() if pa.types.is_time32(t) else pa.int64()).cast(t)
    raise ValueError(f"cannot restore Arrow type {t}")  # excluded at fit


_NULLABLE_INT = {f"{p}int{b}": f"{p.upper()}Int{b}" for p in ("", "u") for b in (8, 16, 32, 64)}


def _restore(values: pd.Series, info: dict, spec: ColumnSpec) -> pd.Series:
    """Decoded values (numbers, datetimes or Python objects) in the dtype ``info`` describes."""
    family = info["family"]
    index = values.index
    if family == "arrow":
        arr = _arrow_array(values, _arrow_from_json(info["type"]))
        return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index)
    if family == "string":
        dtype = string_dtype(info["storage"], info.get("na_value", "NA"))
        return _strings(values).astype(dtype)
    if family == "category":
        return _restore_category(values, info, spec)
    if family == "object":
        return _restore_objects(values, info)
    dtype = dtype_from_info(info)
    if ptypes.is_bool_dtype(dtype):
        obj = _objects(values)
        if isinstance(dtype, pd.BooleanDtype) or obj.isna().any():
            return pd.Series(pd.array(obj.tolist(), dtype="boolean"), index=index)
        return obj.astype(bool)
    if isinstance(dtype, pd.PeriodDtype):
        return _naive(_datetimes(values)).dt.to_period(dtype.freq)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _aware(_datetimes(values), dtype.tz).astype(dtype)
    if ptypes.is_datetime64_dtype(dtype):
        return _naive(_datetimes(values)).astype(dtype)
    if ptypes.is_timedelta64_dtype(dtype):
        return pd.Series(_timedeltas(values, np.datetime_data(dtype)[0]), index=index)
    x = _numbers(values)
    if ptypes.is_integer_dtype(dtype):
        x = np.round(x)
        if np.isnan(x).any() and isinstance(dtype, np.dtype):
            dtype = ptypes.pandas_dtype(_NULLABLE_INT[dtype.name])  # only from conditions
    return pd.Series(x, index=index).astype(dtype)


def _restore_objects(values: pd.Series, info: dict) -> pd.Series:
    kind = info.get("values", "scalar")
    if kind == "decimal":
        x = _numbers(values)
        scale = int(info.get("scale", 0))
        out = [None if np.isnan(v) else _decimal(v, scale) for v in x]
        return pd.Series(out, index=values.index, dtype=object)
    if kind in ("date", "datetime", "timestamp"):
        d = _datetimes(values)
        if kind == "date":
            d = _naive(d)
            out = [None if v is pd.NaT else v.date() for v in d.tolist()]
        elif kind == "datetime":
            out = [None if v is pd.NaT else v.to_pydatetime() for v in d.tolist()]
        else:
            out = [None if v is pd.NaT else v for v in d.tolist()]
        return pd.Series(out, index=values.index, dtype=object)
    types = info.get("types")
    if types == ["str"]:  # strings modelled as numbers or datetimes (encoding_types)
        return _strings(values)
    if types == ["int"] and ptypes.is_float_dtype(values.dtype):
        x = np.round(values.to_numpy(dtype=np.float64))
        out = [None if np.isnan(v) else int(v) for v in x]
        return pd.Series(out, index=values.index, dtype=object)
    return _objects(values)


def _strings(values: pd.Series) -> pd.Series:
    """Decoded values as an object Series of str (None for missing): numbers without a
    spurious ``.0``, datetimes as dates when they are all midnight."""
    if ptypes.is_datetime64_any_dtype(values.dtype):
        d = values
        date_only = bool((d.dropna() == d.dropna().dt.normalize()).all())
        text = d.dt.strftime("%Y-%m-%d") if date_only else d.astype(str)
        return text.astype(object).where(d.notna(), None)
    if ptypes.is_float_dtype(values.dtype):
        x = values.to_numpy(dtype=np.float64)
        finite = x[np.isfinite(x)]
        integral = bool(np.all(finite == np.round(finite)))
        out = [
            None if np.isnan(v) else (str(int(v)) if integral and np.isfinite(v) else repr(v))
            for v in x.tolist()
        ]
        return pd.Series(out, index=values.index, dtype=object)
    if values.dtype == object and ptypes.infer_dtype(values, skipna=True) in ("string", "empty"):
        return _objects(values)  # already str (decoded categories): no per-value conversion
    obj = _objects(values)
    # converted once per distinct value: decoded columns hold few of them
    codes, uniques = pd.factorize(obj, use_na_sentinel=True)
    as_text = np.array(
        [None] + [v if isinstance(v, str) else str(v) for v in uniques], dtype=object
    )
    return pd.Series(as_text[codes + 1], index=values.index, dtype=object)


def _restore_category(values: pd.Series, info: dict, spec: ColumnSpec) -> pd.Series:
    inner = info.get("categories")
    if inner is None:  # a model saved before dtype_info: categories as stored
        if spec.categories is None:
            return values.astype("category")
        restored = _objects(values)
        cats = pd.Index(spec.categories)
    else:
        cats = pd.Index(_restore(pd.Series(spec.categories or [], dtype=object), inner, spec))
        restored = _restore(values, inner, spec)
        restored = _objects(restored) if not isinstance(restored.dtype, np.dtype) else restored
    known = set(cats.tolist())
    extra = [v for v in pd.unique(restored.dropna()) if v not in known]
    if extra:
        cats = cats.append(pd.Index(extra, dtype=cats.dtype if len(cats) else None))
    codes = pd.Categorical(restored.tolist(), categories=cats, ordered=spec.ordered)
    return pd.Series(codes, index=values.index)


def restore_dtype(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    """Casts decoded values back to the column's original dtype (and Python value types).

    Args:
        values: Decoded values: float64 numbers (numeric), datetime64 (datetime), Python objects
            (categorical, text), or all-missing (empty columns).
        spec: The fitted column.

    Integers are rounded first; a missing value in a plain numpy ``int``/``bool`` column (which
    can only come from conditions) falls back to the nullable dtype of the same width.
    """
    if spec.kind == "empty":
        values = pd.Series([None] * len(values), index=values.index, dtype=object)
    out = _restore(values, dtype_info(spec), spec)
    out.name = spec.name
    return out
