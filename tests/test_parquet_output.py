"""Sampling straight to Parquet parts: same rows whatever the part size, dtypes kept."""

import numpy as np
import pandas as pd
import pytest

from tabargn import TabularARGN, parquet_output
from tabargn.errors import InvalidDataError


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame(
        {
            "a": rng.choice(["x", "y", "z"], n),
            "b": pd.array(rng.integers(0, 99, n), dtype="Int64"),
            "c": rng.normal(size=n).round(3),
            "d": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 500, n), "D"),
        }
    )
    return df, TabularARGN(max_epochs=1, verbose=0, random_state=0).fit(df)


def test_same_rows_whatever_the_part_size(model, tmp_path, monkeypatch):
    df, m = model
    monkeypatch.setattr(parquet_output, "BLOCK_ROWS", 1000)  # small blocks, same logic
    n = 2500  # three blocks
    m.restart_sampling()
    few = m.sample_to_parquet(tmp_path / "few", n, rows_per_part=2000)
    m.restart_sampling()
    many = m.sample_to_parquet(tmp_path / "many", n, rows_per_part=300)
    assert len(few) == 2 and len(many) == -(-n // 300)
    a, b = pd.read_parquet(tmp_path / "few"), pd.read_parquet(tmp_path / "many")
    assert len(a) == n
    pd.testing.assert_frame_equal(a, b)
    assert list(a.dtypes) == list(df.dtypes)


def test_where_applies_and_progress_is_reported(model, tmp_path):
    _, m = model
    seen = []
    m.sample_to_parquet(tmp_path / "w", 1000, where={"c": (0.0, None)}, progress=seen.append)
    out = pd.read_parquet(tmp_path / "w")
    assert (out["c"] >= 0).all() and seen == [1000]


def test_bad_arguments(model, tmp_path):
    _, m = model
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidDataError):
        m.sample_to_parquet(tmp_path / "file", 10)
    with pytest.raises(InvalidDataError):
        m.sample_to_parquet(tmp_path / "o", 10, rows_per_part=0)
    with pytest.raises(InvalidDataError):
        m.sample_to_parquet(tmp_path / "o", -1)
