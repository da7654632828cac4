"""Tests of the column encodings (categorical, numeric, datetime) and value protection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabargn.encoding import categorical, numeric, value_protection
from tabargn.encoding import datetime as dt_enc
from tabargn.errors import ConditionError, UnknownValueError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _data(name: str, columns=None) -> pd.DataFrame:
    path = DATA / f"{name}.parquet"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return pd.read_parquet(path, columns=columns)


def fit(enc, values, *, vp: bool = False, seed: int = 0, chunks: int = 1) -> dict:
    values = pd.Series(values).reset_index(drop=True)
    bounds = np.linspace(0, len(values), chunks + 1).astype(int)
    chunked = [
        values.iloc[a:b].reset_index(drop=True)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    parts = [enc.analyze(c) for c in chunked]
    stats = enc.reduce(parts, value_protection=vp, rng=np.random.default_rng(seed))
    json.dumps(stats)  # always JSON-serializable
    return stats


def check_codes(codes: np.ndarray, stats: dict, n: int) -> None:
    assert codes.dtype == np.int64
    assert codes.shape == (n, len(stats["sub_columns"]))
    cards = np.array([sc["cardinality"] for sc in stats["sub_columns"]])
    assert (cards >= 1).all()
    assert (codes >= 0).all() and (codes < cards).all()


def roundtrip(enc, values, stats, seed: int = 0) -> pd.Series:
    values = pd.Series(values).reset_index(drop=True)
    codes = enc.encode(values, stats)
    check_codes(codes, stats, len(values))
    out = enc.decode(codes, stats, np.random.default_rng(seed))
    assert isinstance(out.index, pd.RangeIndex) and len(out) == len(values)
    return out


def draw_under_where(enc, stats, spec, n: int, seed: int = 0) -> np.ndarray:
    """Draws codes sub-column by sub-column, uniformly among the codes where_mask allows."""
    rng = np.random.default_rng(seed)
    subs = stats["sub_columns"]
    codes = np.zeros((n, len(subs)), dtype=np.int64)
    for i, sc in enumerate(subs):
        mask = enc.where_mask(stats, spec, i, codes[:, :i])
        assert mask.dtype == bool and mask.shape == (n, sc["cardinality"])
        assert mask.any(axis=1).all()
        codes[:, i] = (rng.random(mask.shape) * mask).argmax(axis=1)
    return codes


def json_copy(stats: dict) -> dict:
    return json.loads(json.dumps(stats))


# --------------------------------------------------------------------------------------------
# privacy
# --------------------------------------------------------------------------------------------


def test_privacy_helpers():
    rng = np.random.default_rng(0)
    ks = {value_protection.draw_k(rng) for _ in range(200)}
    assert ks == {5, 6, 7} and all(type(k) is int for k in ks)
    values = list(range(1, 11))
    assert value_protection.kth_smallest(values, 5) == 5
    assert value_protection.kth_largest(values, 5) == 6
    assert value_protection.rare_mask([1, 4, 5, 9], 5).tolist() == [True, True, False, False]


# --------------------------------------------------------------------------------------------
# categorical
# --------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.lists(st.one_of(st.text(max_size=5), st.none()), min_size=1, max_size=40),
    st.lists(st.one_of(st.integers(-5, 5), st.none()), min_size=1, max_size=40),
    st.lists(st.one_of(st.booleans(), st.none()), min_size=1, max_size=40),
)


@SETTINGS
@given(scalars)
def test_categorical_roundtrip_property(values):
    s = pd.Series(values, dtype=object)
    stats = fit(categorical, s)
    out = roundtrip(categorical, s, stats)
    assert out.dtype == object
    for a, b in zip(s, out, strict=True):
        if a is None:
            assert b is None
        else:
            assert b == a and type(b) is type(a)
    assert stats["has_null"] == s.isna().any()
    # stats survive JSON and decode identically
    codes = categorical.encode(s, stats)
    again = categorical.decode(codes, json_copy(stats), np.random.default_rng(0))
    assert again.tolist() == out.tolist()


def test_categorical_layout_and_frequency_order():
    s = pd.Series(["b", "a", "b", None, "c", "b", "a"])
    stats = fit(categorical, s)
    assert stats["categories"] == ["b", "a", "c"]
    assert stats["counts"] == [3, 2, 1]
    assert stats["sub_columns"] == [{"name": "cat", "cardinality": 4}]
    assert categorical.encode(s, stats)[:, 0].tolist() == [1, 2, 1, 0, 3, 1, 2]
    assert categorical.categories(stats) == ["b", "a", "c"]


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([True, False, None, True], dtype="boolean"),
        pd.Series([True, False, True, False]),
        pd.Series([1, None, 3, 3], dtype="Int64"),
        pd.Series(["x", None, "y", "x"], dtype="string"),
        pd.Series(["x", None, "y", "x"], dtype="category"),
        pd.Series([1.5, np.nan, 2.5, 1.5]),
        pd.Series(["x", np.nan, pd.NA, None, pd.NaT, "y"], dtype=object),
    ],
)
def test_categorical_dtypes_and_missing(series):
    stats = fit(categorical, series)
    out = roundtrip(categorical, series, stats)
    assert out.isna().tolist() == series.isna().tolist()
    for a, b in zip(series, out, strict=True):
        if not pd.isna(a):
            assert b == a
    assert all(v is None for v in out[series.isna().to_numpy()])


def test_categorical_value_protection():
    s = pd.Series(["common"] * 50 + ["other"] * 20 + ["secret_name"] * 3 + ["lonely"])
    stats = fit(categorical, s, vp=True)
    dumped = json.dumps(stats)
    assert "secret_name" not in dumped and "lonely" not in dumped
    assert stats["has_rare"] and stats["categories"] == ["common", "other"]
    codes = categorical.encode(s, stats)  # rare training values encode to RARE, no error
    check_codes(codes, stats, len(s))
    out = categorical.decode(codes, stats, np.random.default_rng(0))
    assert set(out) == {"common", "other"}
    # RARE resamples proportionally to the kept frequencies
    rare = np.full((5000, 1), int(stats["has_null"]), dtype=np.int64)
    shares = categorical.decode(rare, stats, np.random.default_rng(1)).value_counts(normalize=True)
    assert abs(shares["common"] - 50 / 70) < 0.03
    # strict encoding (conditions) names removed values
    with pytest.raises(UnknownValueError, match="secret_name"):
        categorical.encode(pd.Series(["secret_name"]), stats, strict=True)
    with pytest.raises(UnknownValueError, match="secret_name"):
        categorical.where_mask(stats, ["secret_name"], 0, np.zeros((1, 0), np.int64))
    # switched off: everything is kept
    stats_off = fit(categorical, s, vp=False)
    assert not stats_off["has_rare"] and "secret_name" in json.dumps(stats_off)
    assert roundtrip(categorical, s, stats_off).tolist() == s.tolist()


def test_categorical_all_rare_yields_placeholder_not_a_training_value():
    s = pd.Series(["a", "a", "b", "c"])
    stats = fit(categorical, s, vp=True)
    assert stats["categories"] == [] and stats["fallback"]["kind"] == "placeholder"
    assert not {"a", "b", "c"} & set(json.dumps(stats).replace('"', " ").split())
    assert set(roundtrip(categorical, s, stats)) == {categorical.RARE_PLACEHOLDER}
    custom = categorical.reduce(
        [categorical.analyze(s)],
        value_protection=True,
        rng=np.random.default_rng(0),
        placeholder="<hidden>",
    )
    assert set(roundtrip(categorical, s, custom)) == {"<hidden>"}


def test_categorical_unique_per_row_yields_synthetic_keys_of_its_shape():
    rng = np.random.default_rng(3)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    emails = pd.Series(
        [
            "".join(rng.choice(letters, 6)) + "." + "".join(rng.choice(letters, 7)) + "@corp.com"
            for _ in range(300)
        ]
    )
    stats = fit(categorical, emails, vp=True)
    dumped = json.dumps(stats)
    assert stats["fallback"]["kind"] == "key"
    assert not any(e in dumped for e in emails)
    out = roundtrip(categorical, emails, stats)
    assert not set(out) & set(emails)
    assert out.str.fullmatch(r"[a-z]{6}\.[a-z]{7}@[a-z]{4}\.[a-z]{3}").all()
    assert out.nunique() == len(out)


def test_categorical_short_unique_codes_fall_back_to_placeholder():
    # two-digit codes: too small a key space to rule out a chance hit on a training code
    codes = pd.Series([f"{i:02d}" for i in range(60)])
    stats = fit(categorical, codes, vp=True)
    assert stats["fallback"]["kind"] == "placeholder"


def test_categorical_unknown_value_raises_naming_it():
    stats = fit(categorical, pd.Series(["red", "green", "blue"]))
    with pytest.raises(UnknownValueError, match="purple") as info:
        categorical.encode(pd.Series(["red", "purple"]), stats)
    assert info.value.unknown_values == ["purple"]
    assert "never seen in training" in str(info.value)


def test_categorical_high_cardinality():
    s = pd.Series([f"id_{i:05d}" for i in range(40_000)])
    stats = fit(categorical, s)
    cards = [sc["cardinality"] for sc in stats["sub_columns"]]
    assert len(cards) == 2 and max(cards) <= 1024
    out = roundtrip(categorical, s, stats)
    assert (out == s).all()
    # invalid digit combinations decode to a valid value; spec=None masks them out
    bad = np.array([[cards[0] - 1, cards[1] - 1]] * 3, dtype=np.int64)
    assert categorical.decode(bad, stats, np.random.default_rng(0)).isin(set(s)).all()
    n_valid = categorical.where_mask(stats, None, 1, bad[:, :1]).sum(axis=1)
    assert (cards[0] - 1) * cards[1] + n_valid[0] == stats["n_codes"]
    # where restrictions work across the digits
    allowed = ["id_00005", "id_39999", "id_20000"]
    codes = draw_under_where(categorical, stats, allowed, 300)
    assert set(categorical.decode(codes, stats, np.random.default_rng(0))) == set(allowed)


def test_categorical_where():
    s = pd.Series(["a"] * 10 + ["b"] * 10 + ["c"] * 10 + [None] * 5)
    stats = fit(categorical, s)
    codes = draw_under_where(categorical, stats, ["a", "c"], 200)
    out = categorical.decode(codes, stats, np.random.default_rng(0))
    assert set(out) == {"a", "c"}
    assert categorical.clip(out, stats, ["a", "c"]) is out
    with pytest.raises(ConditionError):
        categorical.where_mask(stats, ("a", "c"), 0, np.zeros((1, 0), np.int64))
    with pytest.raises(UnknownValueError, match="zzz"):
        categorical.where_mask(stats, ["a", "zzz"], 0, np.zeros((1, 0), np.int64))


def test_categorical_chunks_merge():
    s = pd.Series(list("aaabbbbccd") * 20 + [None] * 3)
    one = fit(categorical, s)
    three = fit(categorical, s, chunks=3)
    assert one == three


# --------------------------------------------------------------------------------------------
# numeric
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.one_of(st.integers(-50, 50), st.none()), min_size=1, max_size=200))
def test_numeric_discrete_roundtrip_property(values):
    s = pd.Series(values, dtype="Int64")
    stats = fit(numeric, s)
    if s.notna().any():
        assert stats["mode"] == "discrete"
    out = roundtrip(numeric, s, stats)
    assert out.dtype == np.float64
    expected = s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(out.to_numpy(), expected)


def _check_binned(values: np.ndarray, stats: dict, out: np.ndarray) -> None:
    """Each decoded value lies inside the sub-bin (or atom) its original was encoded to."""
    codes = numeric.encode(pd.Series(values), stats)
    q = np.asarray(stats["quantiles"], dtype=float)
    atoms = np.asarray(stats["atoms"], dtype=float)
    b = codes[:, 0] - int(stats["has_null"]) - len(atoms)
    is_atom = b < 0
    np.testing.assert_array_equal(out[is_atom], values[is_atom])
    s = codes[:, 1] if codes.shape[1] > 1 else 0
    t = (b * stats["n_sub"] + s)[~is_atom]
    assert (out[~is_atom] >= q[t]).all() and (out[~is_atom] <= q[t + 1]).all()


@SETTINGS
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=120, max_size=400, unique=True),
    st.integers(0, 4),
)
def test_numeric_binned_roundtrip_property(floats, decimals):
    x = np.round(np.asarray(floats), decimals)
    stats = fit(numeric, x)
    if stats["mode"] != "binned":
        return
    out = roundtrip(numeric, x, stats).to_numpy()
    _check_binned(x, stats, out)
    assert stats["decimals"] is not None and stats["decimals"] <= decimals
    assert np.allclose(out, np.round(out, decimals), rtol=0, atol=1e-9 * (1 + np.abs(out)))
    assert out.min() >= x.min() and out.max() <= x.max()


def test_numeric_binned_integers_stay_integers():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5000, 3000) * 25  # multiples of 25
    stats = fit(numeric, x)
    assert stats["mode"] == "binned" and stats["integer"] and stats["step"] == 25
    out = roundtrip(numeric, x, stats).to_numpy()
    _check_binned(x.astype(float), stats, out)
    assert (out % 25 == 0).all()


def test_numeric_precision_detection():
    x = np.round(np.random.default_rng(0).normal(50, 10, 2000), 2)
    stats = fit(numeric, x)
    assert stats["decimals"] == 2 and not stats["integer"]
    out = roundtrip(numeric, x, stats).to_numpy()
    assert np.allclose(out * 100, np.round(out * 100))
    arbitrary = np.random.default_rng(0).normal(size=500)
    assert fit(numeric, arbitrary)["decimals"] is None


def test_numeric_adult_distribution():
    from scipy.stats import ks_2samp

    df = _data("adult", ["age", "fnlwgt", "capital_gain"])
    for col in ["age", "fnlwgt", "capital_gain"]:
        x = df[col].to_numpy(dtype=float)
        for vp in (False, True):
            stats = fit(numeric, df[col], vp=vp)
            out = roundtrip(numeric, df[col], stats).to_numpy()
            assert ks_2samp(x, out).statistic < 0.01, (col, vp)
            assert (out == np.round(out)).all()
            if col == "capital_gain":
                assert stats["mode"] == "binned" and 0 in stats["atoms"]
                assert abs((out == 0).mean() - (x == 0).mean()) < 0.005


def test_numeric_outlier_protection():
    rng = np.random.default_rng(0)
    ages = pd.Series(np.concatenate([rng.integers(18, 90, 2000), [1_000_000_000]]))
    stats = fit(numeric, ages, vp=True)
    dumped = json.dumps(stats)
    assert "1000000000" not in dumped and "1e+09" not in dumped
    out = roundtrip(numeric, ages, stats)
    assert out.max() < 100
    # a binned column too
    wide = pd.Series(np.concatenate([rng.normal(0, 1, 2000).round(3), [1e9]]))
    stats = fit(numeric, wide, vp=True)
    assert stats["mode"] == "binned" and "1e+09" not in json.dumps(stats)
    assert roundtrip(numeric, wide, stats).max() < 10
    # switched off: the outlier is kept
    stats_off = fit(numeric, ages, vp=False)
    assert stats_off["max"] == 1_000_000_000
    assert roundtrip(numeric, ages, stats_off).max() == 1e9


def test_numeric_discrete_rare_value_protection():
    s = pd.Series([1] * 30 + [2] * 30 + [3] * 2 + [4] * 30 + [5] * 30)
    stats = fit(numeric, s, vp=True)
    assert stats["mode"] == "discrete" and 3 not in stats["values"]
    out = roundtrip(numeric, s, stats)
    assert 3 not in set(out)


def test_numeric_tiny_column_with_protection_keeps_no_value():
    stats = fit(numeric, pd.Series([1.0, 500.0, 3.0]), vp=True)
    assert stats["mode"] == "empty" and stats["protected"]
    assert roundtrip(numeric, pd.Series([1.0, 500.0, 3.0]), stats).isna().all()


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1, None, 3, pd.NA] * 40 + list(range(200)), dtype="Int64"),
        pd.Series([1.5, None, 3.25, np.nan] * 40 + [float(i) for i in range(200)], dtype="Float64"),
        pd.Series([1.5, None, np.nan, 2.0, pd.NA] * 5, dtype=object),
        pd.Series([np.nan, np.nan]),
    ],
)
def test_numeric_missing_values(series):
    stats = fit(numeric, series)
    out = roundtrip(numeric, series, stats)
    assert out.isna().tolist() == series.isna().tolist()
    if stats["mode"] != "empty":
        assert stats["has_null"] and stats["sub_columns"][0]["cardinality"] >= 2


@pytest.mark.parametrize("finite", [np.arange(200.0), np.array([1.0, 2.0, 2.0]), np.array([])])
def test_numeric_infinities_round_trip_and_restrict(finite):
    x = np.concatenate([finite, [np.inf, np.inf, -np.inf, np.nan]])
    stats = json_copy(fit(numeric, x))
    assert stats["has_neginf"] and stats["has_posinf"] and stats["has_null"]
    out = roundtrip(numeric, x, stats).to_numpy()
    np.testing.assert_array_equal(np.isinf(out), np.isinf(x))
    np.testing.assert_array_equal(out[np.isinf(x)], x[np.isinf(x)])
    assert np.isnan(out[-1])
    for spec, allowed in [
        ((None, None), {-np.inf, np.inf}),
        ((0, None), {np.inf}),
        ([-np.inf], {-np.inf}),
    ]:
        codes = draw_under_where(numeric, stats, spec, 400)
        got = numeric.clip(numeric.decode(codes, stats, np.random.default_rng(0)), stats, spec)
        assert got.notna().all()
        assert set(got[np.isinf(got)]) <= allowed
        if spec == [-np.inf]:
            assert (got == -np.inf).all()
    # a column fitted without infinities clips them into its range
    plain = fit(numeric, np.arange(50.0))
    codes = numeric.encode(pd.Series([np.inf]), plain)
    assert numeric.decode(codes, plain, np.random.default_rng(0))[0] == 49.0


def test_numeric_encode_clips_out_of_range():
    stats = fit(numeric, np.arange(1000.0))
    codes = numeric.encode(pd.Series([-1e12, 1e12]), stats)
    check_codes(codes, stats, 2)
    out = numeric.decode(codes, stats, np.random.default_rng(0))
    assert out.between(0, 999).all()


@pytest.mark.parametrize("spec", [(100, 200), (None, 40), (987, None), (500.5, 500.7), (42, 42)])
def test_numeric_where_range_binned(spec):
    x = np.random.default_rng(1).lognormal(5, 1, 5000).round(1)
    stats = fit(numeric, x)
    assert stats["mode"] == "binned"
    codes = draw_under_where(numeric, stats, spec, 2000)
    out = numeric.decode(codes, stats, np.random.default_rng(0))
    clipped = numeric.clip(out, stats, spec, rng=np.random.default_rng(1)).to_numpy()
    low = -np.inf if spec[0] is None else spec[0]
    high = np.inf if spec[1] is None else spec[1]
    assert ((clipped >= low) & (clipped <= high)).all()
    assert np.allclose(clipped * 10, np.round(clipped * 10))  # precision kept
    # most values already fall in the range before clipping (unless it is narrower than a sub-bin)
    assert ((out >= low) & (out <= high)).mean() > 0.5 or high - low < 1


def test_numeric_where_discrete_and_errors():
    s = pd.Series([1, 2, 3, 4, 5, 7] * 20 + [None])
    stats = fit(numeric, s)
    codes = draw_under_where(numeric, stats, (2, 4), 300)
    assert set(numeric.decode(codes, stats, np.random.default_rng(0))) == {2.0, 3.0, 4.0}
    codes = draw_under_where(numeric, stats, [1, 7], 300)
    assert set(numeric.decode(codes, stats, np.random.default_rng(0))) == {1.0, 7.0}
    prev = np.zeros((1, 0), np.int64)
    with pytest.raises(UnknownValueError, match="6"):
        numeric.where_mask(stats, [6], 0, prev)
    with pytest.raises(ConditionError):
        numeric.where_mask(stats, (5, 2), 0, prev)
    with pytest.raises(ConditionError):
        numeric.where_mask(stats, (100, 200), 0, prev)
    with pytest.raises(ConditionError):
        numeric.where_mask(stats, (5.2, 5.8), 0, prev)  # no value of the column in range


def test_numeric_where_set_on_binned_is_exact():
    x = np.random.default_rng(2).normal(1000, 100, 3000).round()
    stats = fit(numeric, x)
    wanted = [903.0, 1000.0, 1111.0]
    codes = draw_under_where(numeric, stats, wanted, 500)
    out = numeric.clip(numeric.decode(codes, stats, np.random.default_rng(0)), stats, wanted)
    assert set(out) == set(wanted)


def test_numeric_json_and_chunks():
    x = pd.Series(np.random.default_rng(0).gamma(2, 1000, 6000).round(2))
    stats = fit(numeric, x, vp=True)
    codes = numeric.encode(x, stats)
    a = numeric.decode(codes, stats, np.random.default_rng(5))
    b = numeric.decode(codes, json_copy(stats), np.random.default_rng(5))
    pd.testing.assert_series_equal(a, b)
    chunked = fit(numeric, x, vp=True, chunks=4)
    assert chunked["min"] == stats["min"] and chunked["max"] == stats["max"]
    assert chunked["quantiles"] == stats["quantiles"]


# --------------------------------------------------------------------------------------------
# datetime
# --------------------------------------------------------------------------------------------

datetimes = st.datetimes(
    min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2100-12-31").to_pydatetime(),
)


@SETTINGS
@given(st.lists(st.one_of(datetimes, st.none()), min_size=1, max_size=50))
def test_datetime_roundtrip_property(values):
    s = pd.Series(pd.to_datetime(pd.Series(values, dtype=object)), dtype="datetime64[ns]")
    stats = fit(dt_enc, s)
    out = roundtrip(dt_enc, s, stats)
    assert out.dtype == "datetime64[ns]"
    pd.testing.assert_series_equal(out, s, check_names=False)
    again = dt_enc.decode(dt_enc.encode(s, stats), json_copy(stats), np.random.default_rng(0))
    pd.testing.assert_series_equal(again, out)


def test_datetime_faa_dates():
    date = _data("faa_bird_strikes", ["date"])["date"]
    stats = fit(dt_enc, date)
    assert stats["parts"] == ["year", "month", "day"]  # a date-only column
    out = roundtrip(dt_enc, date, stats)
    pd.testing.assert_series_equal(out, date.reset_index(drop=True), check_names=False)
    stats_vp = fit(dt_enc, date, vp=True)
    out = roundtrip(dt_enc, date, stats_vp)
    assert out.min() > date.min() and out.max() < date.max()


def test_datetime_timezone_and_subseconds():
    s = pd.Series(
        pd.to_datetime(
            ["2020-03-29 01:30", "2020-10-25 02:30", None, "2021-01-01 00:00:00.123"],
            format="ISO8601",
        )
    ).dt.tz_localize("Europe/Vienna", ambiguous=True)
    stats = fit(dt_enc, s)
    assert stats["tz"] == "Europe/Vienna" and "ms" in stats["parts"]
    assert "second" not in stats["parts"]  # always 0: no sub-column
    out = roundtrip(dt_enc, s, stats)
    assert str(out.dtype) == "datetime64[ns, Europe/Vienna]"
    pd.testing.assert_series_equal(out, s, check_names=False)


def test_datetime_missing_and_object_input():
    s = pd.Series([pd.Timestamp("2020-01-01"), None, np.nan, pd.NaT, pd.Timestamp("2021-06-30")])
    stats = fit(dt_enc, s)
    assert stats["has_null"]
    out = roundtrip(dt_enc, s, stats)
    assert out.isna().tolist() == [False, True, True, True, False]
    assert out[4] == pd.Timestamp("2021-06-30")


def test_datetime_invalid_date_is_clamped():
    s = pd.Series(pd.to_datetime(["2019-01-31", "2020-03-15", "2020-12-01"]))
    stats = fit(dt_enc, s)
    year, month, day = (stats["parts"].index(p) for p in ("year", "month", "day"))
    codes = np.zeros((1, len(stats["parts"])), dtype=np.int64)
    codes[0, year], codes[0, month], codes[0, day] = 1, 1, 29  # 2020-02-30
    assert dt_enc.decode(codes, stats, None)[0] == pd.Timestamp("2020-02-29")
    codes[0, year], codes[0, month] = 0, 0  # 2019-01-30 < min 2019-01-31: clamped into range
    assert dt_enc.decode(codes, stats, None)[0] == pd.Timestamp("2019-01-31")


def test_datetime_outlier_protection():
    rng = np.random.default_rng(0)
    days = pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 3000, 1000), "D")
    s = pd.Series(list(days) + [pd.Timestamp("2250-07-04")])
    stats = fit(dt_enc, s, vp=True)
    assert "2250" not in json.dumps(stats)
    assert roundtrip(dt_enc, s, stats).max() < pd.Timestamp("2019-01-01")
    assert fit(dt_enc, s)["max"].startswith("2250")


def test_datetime_tiny_column_with_protection_keeps_no_value():
    s = pd.Series(pd.to_datetime(["2001-03-04", "2011-05-06", "2021-07-08"]))
    stats = fit(dt_enc, s, vp=True)
    assert stats["mode"] == "empty" and stats["protected"]
    assert "2011" not in json.dumps(stats)
    assert roundtrip(dt_enc, s, stats).isna().all()


@pytest.mark.parametrize(
    "spec",
    [("2012-02-10", "2012-03-05"), (None, "2010-01-20"), ("2018-03-01 12:00", None)],
)
def test_datetime_where_range(spec):
    rng = np.random.default_rng(0)
    days = pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 3000 * 24, 2000), "h")
    s = pd.Series(days)
    stats = fit(dt_enc, s)
    codes = draw_under_where(dt_enc, stats, spec, 1000)
    out = dt_enc.decode(codes, stats, None)
    low = pd.Timestamp(spec[0]) if spec[0] else pd.Timestamp.min
    high = pd.Timestamp(spec[1]) if spec[1] else pd.Timestamp.max
    assert out.between(low, high).all()  # exact through the masks alone
    assert dt_enc.clip(out, stats, spec).between(low, high).all()
    prev = np.zeros((1, 0), np.int64)
    with pytest.raises(ConditionError):
        dt_enc.where_mask(stats, ("2030-01-01", "2031-01-01"), 0, prev)
    with pytest.raises(ConditionError):
        dt_enc.where_mask(stats, ("2012-01-01", "2011-01-01"), 0, prev)


def test_datetime_where_tz_and_set():
    s = pd.Series(pd.date_range("2021-01-01", periods=500, freq="7h", tz="America/New_York"))
    stats = fit(dt_enc, s)
    spec = ("2021-02-01", "2021-02-03 06:00")  # naive bounds are read in the column's zone
    out = dt_enc.decode(draw_under_where(dt_enc, stats, spec, 300), stats, None)
    low, high = (pd.Timestamp(b, tz="America/New_York") for b in spec)
    assert dt_enc.clip(out, stats, spec).between(low, high).all()
    wanted = [s[10], s[20]]
    out = dt_enc.decode(draw_under_where(dt_enc, stats, wanted, 200), stats, None)
    assert set(dt_enc.clip(out, stats, wanted)) == set(wanted)


# --------------------------------------------------------------------------------------------
# every column of adult
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vp", [False, True])
def test_adult_every_column(vp):
    df = _data("adult")
    for col in df.columns:
        enc = numeric if pd.api.types.is_numeric_dtype(df[col]) else categorical
        values = df[col]
        stats = fit(enc, values, vp=vp, seed=1)
        out = roundtrip(enc, values, stats, seed=2)
        assert out.isna().sum() == values.isna().sum(), col
        again = enc.decode(enc.encode(values, stats), json_copy(stats), np.random.default_rng(2))
        pd.testing.assert_series_equal(again, out)
        if enc is categorical and not vp:
            assert out.tolist() == values.where(values.notna(), None).tolist(), col
        if enc is categorical and vp:
            assert set(out.dropna()) <= set(stats["categories"])


def test_allowed_prefix_mask_both_paths():
    allowed = np.array([[0, 1, 2], [0, 2, 0], [3, 1, 1]], dtype=np.int64)
    prev = np.array([[0, 1], [0, 2], [3, 1], [9, 9]], dtype=np.int64)
    mask = categorical.allowed_prefix_mask(allowed, 2, prev, 3)
    assert mask.tolist() == [[False, False, True], [True, False, False], [False, True, False]] + [
        [True] * 3  # unmatched prefix: everything (never an empty choice)
    ]
    huge = np.array([[2**40, 2**40, 1], [5, 6, 0]], dtype=np.int64)  # keys would overflow
    prev = np.array([[2**40, 2**40], [5, 6]], dtype=np.int64)
    mask = categorical.allowed_prefix_mask(huge, 2, prev, 2)
    assert mask.tolist() == [[False, True], [True, False]]
    first = categorical.allowed_prefix_mask(allowed, 0, np.zeros((2, 0), np.int64), 4)
    assert first.tolist() == [[True, False, False, True]] * 2


@SETTINGS
@given(
    st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.none()),
        min_size=1,
        max_size=300,
    ),
    st.booleans(),
    st.integers(1, 3),
)
def test_numeric_fuzz(values, vp, chunks):
    s = pd.Series(values, dtype=object)
    stats = fit(numeric, s, vp=vp, chunks=chunks)
    out = roundtrip(numeric, s, json_copy(stats))
    x = pd.to_numeric(s).astype(float)
    finite = x[np.isfinite(x)]
    if stats.get("protected"):  # fewer than 2k values: none kept
        assert vp and len(finite) < 2 * 7 and out.isna().all()
        return
    assert out.isna().tolist() == x.isna().tolist()
    assert (out == np.inf).tolist() == (x == np.inf).tolist()  # infinities round-trip
    assert (out == -np.inf).tolist() == (x == -np.inf).tolist()
    out = out[np.isfinite(out)]
    if len(finite):
        assert out.dropna().between(stats["min"], stats["max"]).all()
        assert finite.min() <= stats["min"] <= stats["max"] <= finite.max()


@SETTINGS
@given(
    st.lists(st.one_of(st.sampled_from("abcdefgh"), st.none()), min_size=1, max_size=100),
    st.integers(1, 3),
)
def test_categorical_fuzz_with_protection(values, chunks):
    s = pd.Series(values, dtype=object)
    stats = fit(categorical, s, vp=True, chunks=chunks)
    out = roundtrip(categorical, s, stats)
    counts = s.value_counts()
    placeholder = {stats["fallback"]["value"]} if "fallback" in stats else set()
    assert set(out.dropna()) <= set(stats["categories"]) | placeholder
    assert not set(out.dropna()) & set(counts[counts < 5].index)
    assert all(counts[c] >= 5 for c in stats["categories"])
    assert out.isna().tolist() == s.isna().tolist()
