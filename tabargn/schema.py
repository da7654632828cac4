"""Column kinds, input validation and dtype round-tripping.

A column's *kind* picks its encoding (:mod:`tabargn.encoding`): ``categorical``, ``numeric``,
``datetime``, ``text`` (free text, handled by :mod:`llm_text`) or ``empty`` (all values missing:
nothing to learn, output is all-missing in the original dtype).

Dtypes. Every column's dtype is recorded at fit in a JSON-readable form (``ColumnSpec.dtype_info``,
never pickled, never evaluated) and sampled columns come back in exactly that dtype, holding the
same Python value types. What is supported, and as which kind:

=======================================================  ===========  =============================
dtype                                                    kind         notes
=======================================================  ===========  =============================
numpy ``bool``; ``boolean``; ``bool[pyarrow]``           categorical
numpy ``int8`` .. ``uint64``, ``float16/32/64``;         numeric      ``+-inf`` round-trip (see
``Int*``, ``UInt*``, ``Float*``; Arrow ints and floats                 :mod:`~tabargn.encoding.numeric`)
Arrow ``decimal128/256``; object ``decimal.Decimal``     numeric      back as ``Decimal`` at the
                                                                      type's (the data's) scale
``timedelta64[unit]``; Arrow ``duration``                numeric      a number of ``unit``
Arrow ``time32/time64``                                  numeric      ``unit`` since midnight
``datetime64[unit]``, ``datetime64[unit, tz]``; Arrow    datetime
``timestamp``; Arrow ``date32/date64``; object
``datetime.date`` / ``datetime`` / ``Timestamp``
``period[freq]``                                         datetime     its start timestamp
object str/number/bool; ``string`` (python or pyarrow    categorical  or ``text`` when detected
storage); ``str``; Arrow ``string``/``large_string``;
Arrow ``dictionary``; ``category`` (categories, their
order and dtype are kept)
=======================================================  ===========  =============================

An ``encoding_types`` override changes the kind, not the output dtype: strings modelled as numbers
or datetimes come back as strings (``"3"``, ``"2020-01-08"``), object integers as ints, and so on.
``numpy.str_`` values come back as ``str``.

Refused at fit with :class:`~tabargn.errors.UnsupportedDtypeError` naming the column and a fix:
complex numbers, nested or binary values (lists, dicts, sets, bytes, Arrow list/struct/map/binary),
object columns of timedeltas, times of day or Periods, object columns mixing dates, datetimes or
Decimals with other types, interval and sparse dtypes, categories of such types.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import numbers
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api import types as ptypes

from tabargn.errors import InvalidDataError, UnsupportedDtypeError

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

KINDS = ("categorical", "numeric", "datetime", "text")
MAX_DECIMAL_SCALE = 18
"""Object columns of ``Decimal`` come back with the largest scale seen in training, at most this."""

_MASKED = (
    pd.BooleanDtype,
    pd.Int8Dtype,
    pd.Int16Dtype,
    pd.Int32Dtype,
    pd.Int64Dtype,
    pd.UInt8Dtype,
    pd.UInt16Dtype,
    pd.UInt32Dtype,
    pd.UInt64Dtype,
    pd.Float32Dtype,
    pd.Float64Dtype,
)


@dataclass
class ColumnSpec:
    """One fitted column.

    Attributes:
        name: Column name.
        kind: ``categorical``, ``numeric``, ``datetime``, ``text`` or ``empty``.
        dtype: ``str`` of the original pandas dtype (e.g. ``"Int64"``, ``"category"``), for
            people and for models saved before ``dtype_info`` existed.
        categories: Categories of a ``category`` dtype, as JSON values (None otherwise).
        ordered: Whether that ``category`` dtype was ordered.
        dtype_info: The dtype in a JSON form that round-trips (:func:`describe_dtype`).
    """

    name: str
    kind: str
    dtype: str
    categories: list | None = None
    ordered: bool = False
    dtype_info: dict | None = None

    def __post_init__(self) -> None:
        if self.dtype_info is not None:
            dtype_from_info(self.dtype_info)  # ValueError for a corrupt or unknown description

    def to_dict(self) -> dict:
        return asdict(self)


# ============================================================================ Arrow types <-> JSON
_ARROW_SIMPLE = {
    "null": pa.null,
    "bool": pa.bool_,
    "int8": pa.int8,
    "int16": pa.int16,
    "int32": pa.int32,
    "int64": pa.int64,
    "uint8": pa.uint8,
    "uint16": pa.uint16,
    "uint32": pa.uint32,
    "uint64": pa.uint64,
    "float16": pa.float16,
    "float32": pa.float32,
    "float64": pa.float64,
    "string": pa.string,
    "large_string": pa.large_string,
    "date32": pa.date32,
    "date64": pa.date64,
}
_UNITS = ("s", "ms", "us", "ns")
_DECIMALS = ("decimal32", "decimal64", "decimal128", "decimal256")


def _arrow_to_json(t: pa.DataType) -> dict | None:
    """A supported Arrow type as a small JSON dict; None for types tabargn cannot model."""
    for name, factory in _ARROW_SIMPLE.items():
        if t == factory():
            return {"id": name}
    if pa.types.is_decimal(t):
        return {"id": f"decimal{t.bit_width}", "precision": t.precision, "scale": t.scale}
    if pa.types.is_timestamp(t):
        return {"id": "timestamp", "unit": t.unit, "tz": t.tz}
    if pa.types.is_duration(t):
        return {"id": "duration", "unit": t.unit}
    if pa.types.is_time32(t) or pa.types.is_time64(t):
        return {"id": f"time{t.bit_width}", "unit": t.unit}
    if pa.types.is_dictionary(t):
        index, value = _arrow_to_json(t.index_type), _arrow_to_json(t.value_type)
        if index is None or value is None or value["id"] in ("null", "dictionary"):
            return None
        return {"id": "dictionary", "index": index, "value": value, "ordered": bool(t.ordered)}
    return None


def _arrow_from_json(d: dict) -> pa.DataType:
    """Inverse of :func:`_arrow_to_json`; ValueError for anything else (nothing is evaluated)."""
    if not isinstance(d, dict) or not isinstance(d.get("id"), str):
        raise ValueError(f"not an Arrow type description: {d!r}")
    kind = d["id"]
    if kind in _ARROW_SIMPLE:
        return _ARROW_SIMPLE[kind]()
    if kind in _DECIMALS and hasattr(pa, kind):
        return getattr(pa, kind)(int(d["precision"]), int(d["scale"]))
    unit = d.get("unit")
    if kind in ("timestamp", "duration", "time32", "time64") and unit not in _UNITS:
        raise ValueError(f"unknown Arrow time unit {unit!r}")
    if kind == "timestamp":
        tz = d.get("tz")
        if tz is not None and not isinstance(tz, str):
            raise ValueError(f"bad time zone {tz!r}")
        return pa.timestamp(unit, tz=tz)
    if kind == "duration":
        return pa.duration(unit)
    if kind == "time32":
        return pa.time32(unit)
    if kind == "time64":
        return pa.time64(unit)
    if kind == "dictionary":
        index = _arrow_from_json(d["index"])
        if not pa.types.is_integer(index):
            raise ValueError(f"dictionary index type must be an integer, got {index}")
        return pa.dictionary(index, _arrow_from_json(d["value"]), ordered=bool(d.get("ordered")))
    raise ValueError(f"unknown Arrow type {kind!r}")


def _arrow_kind(t: pa.DataType) -> str:
    if pa.types.is_null(t):
        return "empty"
    if pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return "categorical"
    if pa.types.is_dictionary(t):
        return "categorical"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    return "numeric"  # ints, floats, decimals, durations, times of day


# ============================================================================ describing dtypes
def _value_class(t: type) -> str:
    """Class of one Python value type in an object column."""
    if issubclass(t, str):
        return "str"
    if issubclass(t, bool | np.bool_):
        return "bool"
    if issubclass(t, pd.Timestamp | np.datetime64):
        return "timestamp"
    if issubclass(t, _dt.datetime):
        return "datetime"
    if issubclass(t, _dt.date):
        return "date"
    if issubclass(t, decimal.Decimal):
        return "decimal"
    if issubclass(t, complex | np.complexfloating):
        return "complex"
    if issubclass(t, numbers.Integral):
        return "int"
    if issubclass(t, numbers.Real):
        return "float"
    if issubclass(t, _dt.timedelta | np.timedelta64):
        return "timedelta"
    if issubclass(t, _dt.time):
        return "time"
    if issubclass(t, pd.Period):
        return "period"
    return "other"


def _object_info(s: pd.Series, name: str) -> dict:
    """``dtype_info`` of an object column: which Python types it holds (and a Decimal scale)."""
    values = s.dropna()
    types = set(map(type, values.tolist()))
    classes = {_value_class(t) for t in types}
    fix = f"df[{name!r}] = df[{name!r}].astype(str)"
    if "complex" in classes:
        raise UnsupportedDtypeError(
            f"column {name!r} holds complex numbers; split it into two float columns "
            f"(df[{name!r}].apply(lambda z: z.real) and .imag)"
        )
    if "timedelta" in classes:
        raise UnsupportedDtypeError(
            f"column {name!r} holds timedelta objects in an object column; convert it to "
            f"timedelta64 with df[{name!r}] = pd.to_timedelta(df[{name!r}])"
        )
    if "time" in classes:
        raise UnsupportedDtypeError(
            f"column {name!r} holds datetime.time values; convert it to an Arrow time column "
            f"with df[{name!r}] = df[{name!r}].astype(pd.ArrowDtype(pa.time64('us')))"
        )
    if "period" in classes:
        raise UnsupportedDtypeError(
            f"column {name!r} holds Period objects in an object column; give it one period "
            f"dtype, e.g. df[{name!r}] = df[{name!r}].astype('period[M]')"
        )
    if "other" in classes:
        bad = sorted(t.__name__ for t in types if _value_class(t) == "other")
        raise UnsupportedDtypeError(
            f"column {name!r} holds values of type {bad}; only scalars (str, numbers, bool, "
            f"dates, datetimes, Decimal) are supported: flatten them into scalar columns or "
            f"convert them to strings with {fix}"
        )
    if classes <= {"str", "int", "float", "bool"}:
        return {"family": "object", "values": "scalar", "types": sorted(classes)}
    if classes == {"date"}:
        return {"family": "object", "values": "date"}
    if classes <= {"datetime", "timestamp"}:
        return {
            "family": "object",
            "values": "timestamp" if classes == {"timestamp"} else "datetime",
        }
    if classes == {"decimal"}:
        exponents = [v.as_tuple().exponent for v in values.tolist() if v.is_finite()]
        scale = max([0] + [-e for e in exponents if isinstance(e, int)])
        return {"family": "object", "values": "decimal", "scale": min(scale, MAX_DECIMAL_SCALE)}
    names = sorted({t.__name__ for t in types})
    raise UnsupportedDtypeError(
        f"column {name!r} mixes values of types {names}; convert it to one type, e.g. {fix}"
    )


def describe_dtype(s: pd.Series, name: str) -> dict:
    """The dtype of a column as a JSON-readable dict that :func:`dtype_from_info` rebuilds.

    Families: ``{"family": "numpy", "name": "int8"}``, ``{"family": "pandas", "name": "Int64"}``
    (nullable, ``datetime64[ns, tz]``, ``period[M]``), ``{"family": "string", "storage",
    "na_value"}``, ``{"family": "category", "categories": <dtype_info of the categories>}``,
    ``{"family": "arrow", "type": {"id": "decimal128", "precision": 10, "scale": 2}}`` and
    ``{"family": "object", "values": "scalar" | "date" | "datetime" | "timestamp" | "decimal"}``.

    Raises:
        UnsupportedDtypeError: The dtype or the values cannot be modelled; the message names the
            column and a fix.
    """
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype):
        t = dtype.pyarrow_dtype
        info = _arrow_to_json(t)
        if info is None:
            raise UnsupportedDtypeError(
                f"column {name!r} has Arrow type {t}, which tabargn cannot model (nested, binary "
                f"or interval values); flatten it into scalar columns or convert it to strings "
                f"with df[{name!r}] = df[{name!r}].astype(str)"
            )
        return {"family": "arrow", "type": info}
    if isinstance(dtype, pd.StringDtype):
        na_value = getattr(dtype, "na_value", pd.NA)
        return {
            "family": "string",
            "storage": dtype.storage,
            "na_value": "NA" if na_value is pd.NA else "nan",
        }
    if isinstance(dtype, pd.CategoricalDtype):
        categories = pd.Series(dtype.categories)
        try:
            inner = describe_dtype(categories, name)
        except UnsupportedDtypeError:
            inner = None
        if inner is None:
            raise UnsupportedDtypeError(
                f"column {name!r} is a category of {categories.dtype} values, which tabargn "
                f"cannot restore; convert the categories, e.g. "
                f"df[{name!r}] = df[{name!r}].astype(str).astype('category')"
            ) from None
        return {"family": "category", "categories": inner}
    if isinstance(dtype, pd.SparseDtype):
        raise UnsupportedDtypeError(
            f"column {name!r} is sparse ({dtype}); densify it with "
            f"df[{name!r}] = df[{name!r}].sparse.to_dense()"
        )
    if isinstance(dtype, pd.IntervalDtype):
        raise UnsupportedDtypeError(
            f"column {name!r} holds intervals ({dtype}); split it into two columns "
            f"(df[{name!r}].array.left and .right) or convert it to strings with "
            f"df[{name!r}] = df[{name!r}].astype(str)"
        )
    if isinstance(dtype, (pd.DatetimeTZDtype, pd.PeriodDtype, *_MASKED)):
        return {"family": "pandas", "name": str(dtype)}
    if isinstance(dtype, np.dtype):
        if dtype.kind == "c":
            raise UnsupportedDtypeError(
                f"column {name!r} holds complex numbers ({dtype}); split it into two float "
                f"columns (np.real(df[{name!r}]) and np.imag(df[{name!r}]))"
            )
        if dtype.kind == "O":
            return _object_info(s, name)
        if dtype.kind in "biufmM":
            return {"family": "numpy", "name": dtype.name}
    raise UnsupportedDtypeError(
        f"column {name!r} has unsupported dtype {dtype}; convert it, e.g. "
        f"df[{name!r}] = df[{name!r}].astype(str)"
    )


def _string_dtype(storage: str, na_value: str) -> pd.StringDtype:
    if na_value == "nan":
        try:
            return pd.StringDtype(storage, na_value=np.nan)
        except TypeError:  # pandas < 2.3
            return pd.StringDtype("pyarrow_numpy")
    return pd.StringDtype(storage)


def dtype_from_info(info: dict):
    """The pandas/numpy dtype described by :func:`describe_dtype` (categories excluded: a
    ``category`` family gives ``"category"``).

    Raises:
        ValueError: An unknown or corrupt description.
    """
    if not isinstance(info, dict):
        raise ValueError(f"not a dtype description: {info!r}")
    family = info.get("family")
    if family == "arrow":
        return pd.ArrowDtype(_arrow_from_json(info.get("type")))
    if family == "numpy":
        dtype = np.dtype(str(info["name"]))
        if dtype.kind not in "biufmM":
            raise ValueError(f"unexpected numpy dtype {dtype}")
        return dtype
    if family == "pandas":
        dtype = ptypes.pandas_dtype(str(info["name"]))
        if not isinstance(dtype, (pd.DatetimeTZDtype, pd.PeriodDtype, *_MASKED)):
            raise ValueError(f"unexpected pandas dtype {dtype}")
        return dtype
    if family == "string":
        if info.get("storage") not in ("python", "pyarrow", "pyarrow_numpy"):
            raise ValueError(f"unknown string storage {info.get('storage')!r}")
        return _string_dtype(info["storage"], info.get("na_value", "NA"))
    if family == "category":
        dtype_from_info(info["categories"])
        return "category"
    if family == "object":
        if info.get("values") not in ("scalar", "date", "datetime", "timestamp", "decimal"):
            raise ValueError(f"unknown object value type {info.get('values')!r}")
        return np.dtype(object)
    raise ValueError(f"unknown dtype family {family!r}")


def _legacy_info(spec: ColumnSpec) -> dict:
    """``dtype_info`` of a spec saved before it existed (from the dtype's ``str``)."""
    if spec.dtype == "category":
        return {"family": "category", "categories": None}
    if spec.dtype == "object":
        return {"family": "object", "values": "scalar"}
    try:
        dtype = ptypes.pandas_dtype(spec.dtype)
    except (TypeError, ValueError, NotImplementedError):
        return {"family": "object", "values": "scalar"}  # values are returned as decoded
    if isinstance(dtype, pd.ArrowDtype):
        arrow = _arrow_to_json(dtype.pyarrow_dtype)
        if arrow is None:
            return {"family": "object", "values": "scalar"}
        return {"family": "arrow", "type": arrow}
    if isinstance(dtype, pd.StringDtype):
        return {"family": "string", "storage": dtype.storage, "na_value": "NA"}
    if isinstance(dtype, np.dtype) and dtype.kind in "biufmM":
        return {"family": "numpy", "name": dtype.name}
    if isinstance(dtype, (pd.DatetimeTZDtype, pd.PeriodDtype, *_MASKED)):
        return {"family": "pandas", "name": str(dtype)}
    return {"family": "object", "values": "scalar"}


def _info(spec: ColumnSpec) -> dict:
    return spec.dtype_info if spec.dtype_info is not None else _legacy_info(spec)


def datetime_tz(spec: ColumnSpec) -> str | None:
    """Time zone of a tz-aware datetime column (``datetime64[unit, tz]`` or an Arrow
    ``timestamp`` with a zone), else None."""
    if spec.dtype_info is None:  # a model saved before dtype_info: "datetime64[ns, tz]"
        if "[" in spec.dtype and "," in spec.dtype:
            return spec.dtype.split(",", 1)[1].rstrip("]").strip()
        return None
    dtype = dtype_from_info(spec.dtype_info) if spec.dtype_info["family"] != "category" else None
    if isinstance(dtype, pd.DatetimeTZDtype):
        return str(dtype.tz)
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(dtype.pyarrow_dtype):
        return dtype.pyarrow_dtype.tz
    return None


def _kind_of(info: dict) -> str:
    """The kind a (non-empty) column of this dtype is modelled as."""
    family = info["family"]
    if family == "arrow":
        return _arrow_kind(_arrow_from_json(info["type"]))
    if family in ("numpy", "pandas"):
        dtype = dtype_from_info(info)
        if ptypes.is_bool_dtype(dtype):
            return "categorical"
        if isinstance(dtype, pd.PeriodDtype) or ptypes.is_datetime64_any_dtype(dtype):
            return "datetime"
        return "numeric"  # ints, floats, timedeltas
    if family == "object":
        return {"date": "datetime", "datetime": "datetime", "timestamp": "datetime"}.get(
            info["values"], "numeric" if info["values"] == "decimal" else "categorical"
        )
    return "categorical"  # string, category


# ============================================================================ validation, schema
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
        kind = encoding_types.get(name) or _kind_of(info)
        if kind not in KINDS and kind != "empty":
            raise InvalidDataError(f"encoding_types[{name!r}] = {kind!r}; use one of {list(KINDS)}")
        if s.isna().all():
            kind = "empty"
        spec = ColumnSpec(name=name, kind=kind, dtype=str(s.dtype), dtype_info=info)
        if isinstance(s.dtype, pd.CategoricalDtype):
            spec.categories = [_json_value(v) for v in s.dtype.categories]
            spec.ordered = bool(s.dtype.ordered)
        specs.append(spec)
    return specs


def _json_value(v):
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
    info = _info(spec) if spec is not None else None
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
        dtype = _string_dtype(info["storage"], info.get("na_value", "NA"))
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
    obj = _objects(values)
    return obj.map(lambda v: v if v is None or isinstance(v, str) else str(v))


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
    out = _restore(values, _info(spec), spec)
    out.name = spec.name
    return out
