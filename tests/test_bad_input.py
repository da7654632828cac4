"""Bad parameters and sampling arguments raise typed errors (TabargnError subclasses)."""

import numpy as np
import pandas as pd
import pytest

from tabargn import TabularARGN
from tabargn.errors import ConditionError, InvalidDataError, TabargnError


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.choice(["x", "y", "z"], 200),
            "b": rng.integers(0, 50, 200),
            "c": rng.normal(size=200),
        }
    )


@pytest.fixture(scope="module")
def fitted(frame):
    return TabularARGN(max_epochs=1, verbose=0, random_state=0).fit(frame)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": -5}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"max_time": 0}, "max_time"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_epochs": True}, "max_epochs"),
        ({"model_size": "huge"}, "model_size"),
        ({"random_state": "abc"}, "random_state"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": 2**40}, "random_state"),
        ({"value_protection": "yes"}, "value_protection"),
        ({"encoding_types": {"a": "blob"}}, "encoding_types"),
        ({"encoding_types": ["a"]}, "encoding_types"),
        ({"text_options": "fast"}, "text_options"),
        ({"verbose": -1}, "verbose"),
    ],
)
def test_bad_parameters_raise_at_fit(frame, params, message):
    with pytest.raises(InvalidDataError, match=message):
        TabularARGN(**params).fit(frame)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_samples": 10**12}, InvalidDataError, "GiB"),
        ({"n_samples": -1}, InvalidDataError, "n_samples"),
        ({"n_samples": 10, "rebalance": {"a": {"x": float("nan")}}}, ConditionError, "finite"),
        ({"n_samples": 10, "where": {"c": (float("nan"), float("nan"))}}, ConditionError, "NaN"),
        ({"n_samples": 10, "temperature": 0}, InvalidDataError, "temperature"),
        ({"n_samples": 10, "top_p": 1.5}, InvalidDataError, "top_p"),
    ],
)
def test_bad_sampling_arguments_raise_typed_errors(fitted, kwargs, error, message):
    with pytest.raises(error, match=message) as caught:
        fitted.sample(**kwargs)
    assert isinstance(caught.value, TabargnError)


def test_open_ended_where_still_works(fitted):
    out = fitted.sample(50, where={"c": (None, 0.0)})
    assert (out["c"] <= 0.0).all()
