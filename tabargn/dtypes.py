"""Column specs and dtypes in a JSON form that round-trips (never pickled, never evaluated).

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

from tabargn.errors import UnsupportedDtypeError

__all__ = [
    "KINDS",
    "ColumnSpec",
    "describe_dtype",
    "dtype_from_info",
    "dtype_info",
    "datetime_tz",
    "kind_of",
    "string_dtype",
    "arrow_type_from_json",
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


def arrow_type_from_json(d: dict) -> pa.DataType:
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
        index = arrow_type_from_json(d["index"])
        if not pa.types.is_integer(index):
            raise ValueError(f"dictionary index type must be an integer, got {index}")
        return pa.dictionary(
            index, arrow_type_from_json(d["value"]), ordered=bool(d.get("ordered"))
        )
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


def string_dtype(storage: str, na_value: str) -> pd.StringDtype:
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
        return pd.ArrowDtype(arrow_type_from_json(info.get("type")))
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
        return string_dtype(info["storage"], info.get("na_value", "NA"))
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


def dtype_info(spec: ColumnSpec) -> dict:
    """The spec's dtype description (models saved before ``dtype_info`` existed: from ``dtype``)."""
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


def kind_of(info: dict) -> str:
    """The kind a (non-empty) column of this dtype is modelled as."""
    family = info["family"]
    if family == "arrow":
        return _arrow_kind(arrow_type_from_json(info["type"]))
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
