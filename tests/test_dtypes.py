"""Every dtype round-trips through fit -> sample -> save -> load -> sample, or is refused at fit
with a typed error naming the column.

One wide frame holds every supported dtype (one fit keeps the matrix fast); each dtype is its own
parametrized test on the shared samples. Unsupported dtypes fail at ``fit`` before training.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tabargn import TabularARGN
from tabargn.errors import InvalidDataError, TabargnError, UnsupportedDtypeError
from tabargn.schema import ColumnSpec, describe_dtype, dtype_from_info

N = 60
N_OUT = 80
rng = np.random.default_rng(7)
SMALL = np.arange(N) % 5  # 5 values, 12 rows each
MISSING = np.arange(N) % 6 == 5  # every 6th row missing
D = decimal.Decimal


def _masked(values: list) -> list:
    return [None if m else v for v, m in zip(values, MISSING, strict=True)]


def _arrow(values: list, t: pa.DataType) -> pd.Series:
    return pd.Series(values, dtype=pd.ArrowDtype(t))


STAMPS = pd.Timestamp("2021-03-01 08:30:15") + pd.to_timedelta(SMALL * 36.5, unit="D")
DATES = [dt.date(2020, 1, 1) + dt.timedelta(days=int(7 * i)) for i in SMALL]
STRINGS = [f"v{i}" for i in SMALL]

# name -> column; every column must come back with this exact dtype and value types
SUPPORTED: dict[str, pd.Series] = {
    # numpy
    "np_bool": pd.Series(SMALL > 2),
    **{
        f"np_{t}": pd.Series((SMALL * 3 + (200 if t.startswith("u") else -5)).astype(t))
        for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    },
    "np_uint64_huge": pd.Series(np.uint64(2**63) + SMALL.astype(np.uint64) * np.uint64(2**40)),
    "np_float16": pd.Series(SMALL * 0.5, dtype=np.float16),
    "np_float32": pd.Series(rng.normal(size=N), dtype=np.float32),
    "np_float64": pd.Series(np.where(MISSING, np.nan, rng.normal(size=N))),
    "np_float64_inf": pd.Series(
        np.select([SMALL == 0, SMALL == 1], [np.inf, -np.inf], SMALL * 1.5)
    ),
    **{
        f"np_datetime64_{u}": pd.Series(STAMPS.astype(f"datetime64[{u}]"))
        for u in ("s", "ms", "us")
    },
    "np_datetime64_ns_nat": pd.Series(STAMPS).mask(MISSING),
    "np_datetime64_tz": pd.Series(STAMPS.tz_localize("Europe/Berlin")),
    "np_datetime64_s_utc": pd.Series(STAMPS.tz_localize("UTC").astype("datetime64[s, UTC]")),
    "np_timedelta64_ns": pd.Series(pd.to_timedelta(SMALL * 90, unit="min")),
    "np_timedelta64_s_nat": pd.Series(pd.to_timedelta(SMALL * 7, unit="s"))
    .mask(MISSING)
    .astype("timedelta64[s]"),
    # pandas extension dtypes
    **{
        f"pd_{t}": pd.Series(_masked(list(SMALL * 2 + 1)), dtype=t)
        for t in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")
    },
    "pd_Float32": pd.Series(_masked(list(SMALL * 0.25)), dtype="Float32"),
    "pd_Float64": pd.Series(_masked(list(SMALL * 0.125)), dtype="Float64"),
    "pd_boolean": pd.Series(_masked(list(SMALL > 1)), dtype="boolean"),
    "pd_string_python": pd.Series(_masked(STRINGS), dtype=pd.StringDtype("python")),
    "pd_string_pyarrow": pd.Series(_masked(STRINGS), dtype=pd.StringDtype("pyarrow")),
    "pd_str_python": pd.Series(_masked(STRINGS), dtype=pd.StringDtype("python", na_value=np.nan)),
    "pd_str_pyarrow": pd.Series(_masked(STRINGS), dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
    "pd_category": pd.Series(
        pd.Categorical(STRINGS, categories=["v4", "v2", "v0", "v1", "v3", "unused"])
    ),
    "pd_category_ordered_int": pd.Series(
        pd.Categorical(list(SMALL * 10), categories=[40, 30, 20, 10, 0], ordered=True)
    ),
    "pd_category_datetime": pd.Series(STAMPS.astype("datetime64[ns]")).astype("category"),
    "pd_category_string": pd.Series(STRINGS, dtype="string").astype("category"),
    "pd_period_M": pd.Series(pd.PeriodIndex(STAMPS, freq="M")),
    "pd_period_D": pd.Series(pd.PeriodIndex(STAMPS, freq="D")).mask(MISSING),
    "pd_period_Q": pd.Series(pd.PeriodIndex(STAMPS, freq="Q-DEC")),
    # pyarrow
    "pa_string": _arrow(_masked(STRINGS), pa.string()),
    "pa_large_string": _arrow(_masked(STRINGS), pa.large_string()),
    "pa_bool": _arrow(_masked([bool(v > 2) for v in SMALL]), pa.bool_()),
    **{
        f"pa_{t}": _arrow(_masked([int(v) * 3 + 1 for v in SMALL]), getattr(pa, t)())
        for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    },
    "pa_float16": _arrow([float(v) * 0.5 for v in SMALL], pa.float16()),
    "pa_float32": _arrow(_masked([float(v) * 0.25 for v in SMALL]), pa.float32()),
    "pa_float64": _arrow(_masked(list(rng.normal(size=N))), pa.float64()),
    "pa_decimal128": _arrow(_masked([D(f"{v}.25") * 3 for v in SMALL]), pa.decimal128(10, 2)),
    "pa_decimal256": _arrow([D(f"1{v}.125") for v in SMALL], pa.decimal256(40, 3)),
    "pa_date32": _arrow(_masked(DATES), pa.date32()),
    "pa_date64": _arrow(DATES, pa.date64()),
    "pa_timestamp_s": _arrow(list(STAMPS), pa.timestamp("s")),
    "pa_timestamp_us_tz": _arrow(
        _masked(list(STAMPS.tz_localize("Asia/Tokyo"))), pa.timestamp("us", tz="Asia/Tokyo")
    ),
    "pa_duration_ms": _arrow(
        _masked([dt.timedelta(seconds=int(v) * 90) for v in SMALL]), pa.duration("ms")
    ),
    "pa_time64_us": _arrow([dt.time(int(v) + 8, 14 * int(v)) for v in SMALL], pa.time64("us")),
    "pa_time32_s": _arrow(_masked([dt.time(int(v), 30) for v in SMALL]), pa.time32("s")),
    "pa_dictionary": pd.Series(_masked(STRINGS)).astype(
        pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string()))
    ),
    "pa_dictionary_ordered_int8": pd.Series(
        pd.arrays.ArrowExtensionArray(
            pa.array(STRINGS)
            .dictionary_encode()
            .cast(pa.dictionary(pa.int8(), pa.string(), ordered=True))
        )
    ),
    "pa_null": pd.Series([None] * N, dtype=pd.ArrowDtype(pa.null())),
    # object columns
    "obj_str": pd.Series(_masked(STRINGS), dtype=object),
    "obj_mixed_scalars": pd.Series([v if v % 2 else f"s{v}" for v in SMALL.tolist()], dtype=object),
    "obj_bool": pd.Series(_masked([bool(v > 2) for v in SMALL]), dtype=object),
    "obj_date": pd.Series(_masked(DATES), dtype=object),
    "obj_datetime": pd.Series([t.to_pydatetime() for t in STAMPS], dtype=object),
    "obj_timestamp": pd.Series(list(STAMPS), dtype=object),
    "obj_decimal": pd.Series(_masked([D(f"{v}.125") for v in SMALL]), dtype=object),
    "obj_empty": pd.Series([None] * N, dtype=object),
    "obj_timestamp_tz": pd.Series(list(STAMPS.tz_localize("Europe/Paris")), dtype=object),
    "obj_decimal_infinity": pd.Series(
        [D("Infinity") if v == 0 else D(f"{v}.25") for v in SMALL], dtype=object
    ),
    # more categories and dictionaries
    "np_longdouble": pd.Series(SMALL * 0.5, dtype=np.longdouble),
    "pd_category_bool": pd.Series(SMALL > 2).astype("category"),
    "pd_category_Int64": pd.Series(SMALL, dtype="Int64").astype("category"),
    "pd_category_date": pd.Series(DATES, dtype=object).astype("category"),
    "pd_category_period": pd.Series(pd.PeriodIndex(STAMPS, freq="M")).astype("category"),
    "pd_category_decimal": pd.Series([D(f"{v}.5") for v in SMALL]).astype("category"),
    "pa_dictionary_int64": pd.Series(
        pd.arrays.ArrowExtensionArray(
            pa.array(SMALL).dictionary_encode().cast(pa.dictionary(pa.int16(), pa.int64()))
        )
    ),
    "pa_dictionary_date32": pd.Series(
        pd.arrays.ArrowExtensionArray(
            pa.array(DATES).dictionary_encode().cast(pa.dictionary(pa.int8(), pa.date32()))
        )
    ),
}

# name -> (column, error class, text the message must hold besides the column name)
REFUSED: dict[str, tuple] = {
    "np_complex": (pd.Series(SMALL + 1j), UnsupportedDtypeError, "complex"),
    "obj_complex": (
        pd.Series([complex(v, 1) for v in SMALL], dtype=object),
        UnsupportedDtypeError,
        "complex",
    ),
    "obj_list": (pd.Series([[v] for v in SMALL]), UnsupportedDtypeError, "list"),
    "obj_dict": (pd.Series([{"a": v} for v in SMALL]), UnsupportedDtypeError, "dict"),
    "obj_set": (pd.Series([{v} for v in SMALL]), UnsupportedDtypeError, "set"),
    "obj_bytes": (pd.Series([b"x" for _ in SMALL]), UnsupportedDtypeError, "bytes"),
    "obj_timedelta": (
        pd.Series([dt.timedelta(days=int(v)) for v in SMALL], dtype=object),
        UnsupportedDtypeError,
        "pd.to_timedelta",
    ),
    "obj_time": (pd.Series([dt.time(int(v)) for v in SMALL]), UnsupportedDtypeError, "time64"),
    "obj_period": (
        pd.Series([pd.Period("2020-01", "M"), pd.Period("2020", "Y")] * (N // 2), dtype=object),
        UnsupportedDtypeError,
        "period",
    ),
    "obj_date_and_str": (
        pd.Series(DATES[:-1] + ["2020-01-01"], dtype=object),
        UnsupportedDtypeError,
        "mixes",
    ),
    "obj_decimal_and_float": (
        pd.Series([D("1.5")] * (N - 1) + [2.5], dtype=object),
        UnsupportedDtypeError,
        "mixes",
    ),
    "pd_interval": (
        pd.Series(pd.cut(SMALL, 3)).astype("interval"),
        UnsupportedDtypeError,
        "interval",
    ),
    "pd_category_of_intervals": (pd.Series(pd.cut(SMALL, 3)), UnsupportedDtypeError, "categor"),
    "pd_sparse": (pd.Series(pd.arrays.SparseArray(SMALL * 1.0)), UnsupportedDtypeError, "to_dense"),
    "pa_list": (
        _arrow([[int(v)] for v in SMALL], pa.list_(pa.int64())),
        UnsupportedDtypeError,
        "list",
    ),
    "pa_struct": (
        _arrow([{"a": int(v)} for v in SMALL], pa.struct([("a", pa.int64())])),
        UnsupportedDtypeError,
        "struct",
    ),
    "pa_binary": (_arrow([b"x"] * N, pa.binary()), UnsupportedDtypeError, "binary"),
    "pa_timestamp_out_of_range": (
        _arrow([dt.datetime(3000 + int(v), 1, 1) for v in SMALL], pa.timestamp("us")),
        UnsupportedDtypeError,
        "range",
    ),
}


def _value_types(s: pd.Series) -> set:
    return {type(v) for v in s.dropna().tolist()}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """The wide frame, and samples from the fitted model and from its saved-and-loaded copy."""
    df = pd.DataFrame(SUPPORTED)
    model = TabularARGN(
        max_epochs=1, model_size="small", value_protection=False, random_state=0, verbose=0
    ).fit(df)
    path = tmp_path_factory.mktemp("dtypes") / "model"
    model.save(path)
    loaded = TabularARGN.load(path)
    return df, model.sample(N_OUT), loaded.sample(N_OUT), loaded


@pytest.mark.parametrize("name", list(SUPPORTED))
def test_dtype_round_trips(samples, name):
    df, fitted, loaded, _ = samples
    original = df[name]
    for out in (fitted, loaded):
        got = out[name]
        assert got.dtype == original.dtype, (got.dtype, original.dtype)
        assert str(got.dtype) == str(original.dtype)
        if isinstance(original.dtype, pd.StringDtype):
            assert got.dtype.storage == original.dtype.storage
            assert got.dtype.na_value is original.dtype.na_value
        if isinstance(original.dtype, pd.CategoricalDtype):
            assert list(got.cat.categories) == list(original.cat.categories)
            assert got.cat.categories.dtype == original.cat.categories.dtype
            assert got.cat.ordered == original.cat.ordered
        if original.notna().any():
            assert got.notna().any()
            assert _value_types(got) == _value_types(original), name
    # the saved model samples the same rows as the fitted one
    pd.testing.assert_series_equal(fitted[name], loaded[name])


def test_values_survive_exactly(samples):
    """Discrete numbers only produce training values (value_protection=False keeps them all);
    decimals keep their scale, huge uint64 stay huge, infinities come back."""
    df, out, _, _ = samples
    for name in ("pa_decimal128", "obj_decimal", "pa_time32_s", "pa_duration_ms", "pd_UInt8"):
        assert set(out[name].dropna().tolist()) <= set(df[name].dropna().tolist()), name
    assert {v.as_tuple().exponent for v in out["pa_decimal128"].dropna()} == {-2}
    assert {v.as_tuple().exponent for v in out["obj_decimal"].dropna()} == {-3}
    assert set(out["np_timedelta64_ns"].dropna()) <= set(df["np_timedelta64_ns"])
    assert out["np_uint64_huge"].min() >= 2**63
    # +-inf round-trip as values (a third of the training rows hold one)
    inf = out["np_float64_inf"]
    assert (inf == np.inf).any() and (inf == -np.inf).any() and np.isfinite(inf).any()
    assert out["pa_null"].isna().all() and out["obj_empty"].isna().all()


# encoding_types overrides: the kind changes, the dtype and value types do not
OVERRIDDEN = {
    "int_as_categorical": (pd.Series(SMALL * 10), "categorical"),
    "bool_as_numeric": (pd.Series(SMALL > 2), "numeric"),
    "string_digits_as_numeric": (pd.Series([str(v) for v in SMALL], dtype="string"), "numeric"),
    "obj_str_as_datetime": (pd.Series([d.isoformat() for d in DATES], dtype=object), "datetime"),
    "obj_int_as_numeric": (pd.Series(SMALL.tolist(), dtype=object), "numeric"),
    "date32_as_categorical": (_arrow(DATES, pa.date32()), "categorical"),
    "decimal_as_categorical": (
        _arrow([D(f"{v}.5") for v in SMALL], pa.decimal128(5, 1)),
        "categorical",
    ),
    "timedelta_as_categorical": (pd.Series(pd.to_timedelta(SMALL, unit="h")), "categorical"),
}


def test_encoding_type_overrides_keep_dtypes_and_value_types():
    df = pd.DataFrame({name: column for name, (column, _) in OVERRIDDEN.items()})
    kinds = {name: kind for name, (_, kind) in OVERRIDDEN.items()}
    model = TabularARGN(
        encoding_types=kinds, max_epochs=1, model_size="small", value_protection=False, verbose=0
    ).fit(df)
    assert {s.name: s.kind for s in model.codec_.specs} == kinds
    out = model.sample(30)
    assert (out.dtypes == df.dtypes).all()
    for name in OVERRIDDEN:
        assert _value_types(out[name]) == _value_types(df[name]), name
    assert set(out["string_digits_as_numeric"]) <= {str(v) for v in range(5)}  # not "1.0"
    assert all(len(v) == 10 for v in out["obj_str_as_datetime"])  # "2020-01-08", as given


def test_infer_string_option_round_trips():
    """pandas' future ``str`` dtype (future.infer_string) comes back as ``str``, not object."""
    with pd.option_context("future.infer_string", True):
        df = pd.DataFrame({"s": STRINGS, "n": SMALL})
        assert str(df["s"].dtype) == "str"
        out = TabularARGN(max_epochs=1, model_size="small", random_state=0, verbose=0).fit(df)
        got = out.sample(20)["s"]
    assert got.dtype == df["s"].dtype and got.dtype.na_value is df["s"].dtype.na_value


@pytest.mark.parametrize("name", list(REFUSED))
def test_unsupported_dtype_is_refused(name):
    column, error, text = REFUSED[name]
    df = pd.DataFrame({"bad_column": column, "ok": SMALL})
    model = TabularARGN(max_epochs=1, model_size="small", random_state=0, verbose=0)
    with pytest.raises(error) as info:
        model.fit(df)
    assert isinstance(info.value, TabargnError)
    assert "bad_column" in str(info.value) and text in str(info.value), str(info.value)


def test_conditions_and_imputation_keep_dtypes(samples):
    """Condition values of special dtypes are kept verbatim and in their dtype."""
    df, _, _, model = samples
    cols = [
        "pa_decimal128",
        "obj_date",
        "np_timedelta64_s_nat",
        "pd_period_M",
        "pa_timestamp_us_tz",
    ]
    given = df.loc[[0, 1, 2], cols].reset_index(drop=True)
    out = model.sample(conditions=given)
    for col in cols:
        assert out[col].dtype == df[col].dtype
        assert out[col].tolist() == given[col].tolist(), col
    holes = df.iloc[:12].copy()
    holes.loc[holes.index % 2 == 0, cols] = None
    filled = model.impute(holes)
    assert (filled.dtypes == df.dtypes).all()
    for col in cols:
        keep = holes[col].notna()
        assert filled.loc[keep, col].tolist() == holes.loc[keep, col].tolist(), col


def test_dtype_info_is_plain_json_and_rebuilds():
    for name, column in SUPPORTED.items():
        info = describe_dtype(column, name)
        assert json.loads(json.dumps(info)) == info
        if info["family"] != "category":
            assert dtype_from_info(info) == column.dtype, name


def test_corrupt_dtype_info_is_rejected():
    with pytest.raises(ValueError):
        ColumnSpec("x", "numeric", "int8", dtype_info={"family": "arrow", "type": {"id": "exec"}})
    with pytest.raises(ValueError):
        ColumnSpec("x", "numeric", "int8", dtype_info={"family": "numpy", "name": "object"})


def test_models_saved_without_dtype_info_still_restore():
    spec = ColumnSpec("x", "numeric", "Int64")
    from tabargn.schema import restore_dtype

    out = restore_dtype(pd.Series([1.0, np.nan]), spec)
    assert str(out.dtype) == "Int64" and out.isna().tolist() == [False, True]


def test_text_in_numeric_column_is_a_typed_error():
    df = pd.DataFrame({"x": ["a", "b"] * 30, "y": SMALL})
    with pytest.raises(InvalidDataError, match="'x'"):
        TabularARGN(encoding_types={"x": "numeric"}, max_epochs=1, verbose=0).fit(df)


def test_arrow_string_text_columns_are_detected_and_keep_their_dtype():
    """Text detection used to crash on Arrow strings (``.str`` on a list<string> result)."""
    from llm_text._text import is_text_column

    words = np.array("the quick brown fox jumps over a lazy dog near the river bank".split())
    texts = [" ".join(np.random.default_rng(i).choice(words, 6)) for i in range(N)]
    df = pd.DataFrame(
        {
            "note": pd.Series(texts, dtype=pd.ArrowDtype(pa.string())),
            "memo": pd.Series(texts[::-1], dtype=pd.ArrowDtype(pa.large_string())),
            "k": SMALL,
        }
    )
    assert is_text_column(df["note"]) and is_text_column(df["memo"])
    tiny = {"max_length": 16, "max_epochs": 1, "vocab_size": 200, "hidden_dim": 16}
    model = TabularARGN(
        max_epochs=1, model_size="small", random_state=0, verbose=0, text_options=tiny
    ).fit(df)
    assert sorted(model.text_models_) == ["memo", "note"]
    out = model.sample(8)
    assert (out.dtypes == df.dtypes).all()
    assert _value_types(out["note"]) <= {str}


def test_sequences_keep_arrow_and_object_dtypes():
    """Sequential mode: an Arrow string key, an Arrow tz-aware order column, decimals, dates."""
    n = 120
    who = np.random.default_rng(1).integers(0, 15, n)
    when = pd.Timestamp("2021-01-01", tz="Europe/Berlin") + pd.to_timedelta(
        np.random.default_rng(2).integers(0, 500, n), unit="h"
    )
    df = pd.DataFrame(
        {
            "who": pd.Series([f"e{i}" for i in who], dtype=pd.ArrowDtype(pa.string())),
            "when": pd.Series(when).astype(pd.ArrowDtype(pa.timestamp("us", tz="Europe/Berlin"))),
            "amount": _arrow([D(f"{i % 4}.50") for i in range(n)], pa.decimal128(8, 2)),
            "day": pd.Series([DATES[i % N] for i in range(n)], dtype=object),
            "wait": pd.Series(pd.to_timedelta(np.arange(n) % 7, unit="s")),
        }
    )
    model = TabularARGN(max_epochs=1, model_size="small", random_state=0, verbose=0)
    out = model.fit(df, entity_key="who", order_by="when").sample(n_entities=6)
    assert (out.dtypes == df.dtypes).all(), out.dtypes
    assert out["when"].dt.tz is not None and _value_types(out["day"]) == {dt.date}


def test_where_takes_values_of_the_column_dtype(samples):
    """Restrictions may be given as Timedelta, Decimal, Period, time and date values."""
    _, _, _, model = samples
    where = {
        "np_timedelta64_ns": (pd.Timedelta("1h"), pd.Timedelta("4h")),
        "pa_decimal128": [D("3.75"), D("6.75")],
        "pd_period_M": (pd.Period("2021-04", "M"), None),
        "pa_time32_s": [dt.time(1, 30), dt.time(2, 30)],
        "obj_date": (dt.date(2020, 1, 8), dt.date(2020, 1, 22)),
    }
    out = model.sample(30, where=where)
    assert out["np_timedelta64_ns"].between(pd.Timedelta("1h"), pd.Timedelta("4h")).all()
    assert set(out["pa_decimal128"]) <= {D("3.75"), D("6.75")}
    assert (out["pd_period_M"] >= pd.Period("2021-04", "M")).all()
    assert set(out["pa_time32_s"]) <= {dt.time(1, 30), dt.time(2, 30)}
    assert all(dt.date(2020, 1, 8) <= d <= dt.date(2020, 1, 22) for d in out["obj_date"])
    with pytest.raises(TabargnError, match="pa_time32_s"):
        model.sample(5, where={"pa_time32_s": [dt.timedelta(days=3)]})
