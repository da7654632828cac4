"""Property-based tests (hypothesis, fixed seed): random frames of mixed dtypes, missing values
and sizes, with random parameters, either fit, sample and round-trip through save/load with
the same columns and dtypes, or raise only TabargnError subclasses."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tabargn import TabularARGN
from tabargn.errors import TabargnError

KINDS = ["int", "float", "nullable_int", "bool", "category", "string", "datetime", "object"]


def _column(kind: str, n: int, rng: np.random.Generator, missing: float) -> pd.Series:
    hole = rng.random(n) < missing
    if kind == "int":
        return pd.Series(rng.integers(-50, 50, n))
    if kind == "float":
        return pd.Series(np.where(hole, np.nan, rng.normal(0, 10, n).round(3)))
    if kind == "nullable_int":
        return pd.Series(pd.array(np.where(hole, None, rng.integers(0, 9, n)), dtype="Int64"))
    if kind == "bool":
        return pd.Series(rng.random(n) < 0.4)
    if kind == "category":
        return pd.Series(pd.Categorical(rng.choice(["lo", "mid", "hi"], n)))
    if kind == "string":
        values = rng.choice(["red", "green", "blue", "black"], n).astype(object)
        values[hole] = None
        return pd.Series(values, dtype="string")
    if kind == "datetime":
        days = pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
        out = pd.Series(pd.Timestamp("2001-01-01") + days)
        return out.mask(pd.Series(hole))
    values = rng.choice(["a", "b", "c"], n).astype(object)
    values[hole] = None
    return pd.Series(values)


frames = st.builds(
    lambda kinds, n, missing, data_seed: pd.DataFrame(
        {
            f"c{i}_{k}": _column(k, n, np.random.default_rng(data_seed + i), missing)
            for i, k in enumerate(kinds)
        }
    ),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=5),
    n=st.integers(min_value=0, max_value=80),
    missing=st.sampled_from([0.0, 0.2, 1.0]),
    data_seed=st.integers(0, 1000),
)

params = st.fixed_dictionaries(
    {
        "value_protection": st.booleans(),
        "batch_size": st.one_of(st.none(), st.integers(-2, 64)),
        "model_size": st.sampled_from(["auto", "small", "medium", "tiny"]),
    }
)


@seed(20261130)
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(frame=frames, kwargs=params)
def test_random_frames_round_trip_or_raise_typed_errors(frame, kwargs, tmp_path):
    try:
        model = TabularARGN(max_epochs=1, verbose=0, random_state=0, **kwargs).fit(frame)
    except TabargnError:
        return
    out = model.sample(15)
    assert list(out.columns) == list(frame.columns)
    for name in frame.columns:
        assert out[name].dtype == frame[name].dtype, name
    model.save(tmp_path / "m")
    loaded = TabularARGN.load(tmp_path / "m")
    again = loaded.sample(15)
    model.restart_sampling()
    pd.testing.assert_frame_equal(again, model.sample(15))


@pytest.mark.parametrize("n_samples", [0, 1, 7])
def test_small_sample_sizes(n_samples):
    frame = pd.DataFrame({"a": ["x", "y"] * 20, "b": range(40)})
    model = TabularARGN(max_epochs=1, verbose=0, random_state=0).fit(frame)
    out = model.sample(n_samples)
    assert len(out) == n_samples and list(out.dtypes) == list(frame.dtypes)
