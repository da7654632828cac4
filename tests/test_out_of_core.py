"""Out-of-core fit: mergeable summaries, the compact code matrix, block shuffling, inputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from tabargn import TabularARGN
from tabargn.cli import app
from tabargn.code_store import CodeMatrix, uint_dtype, validation_mask
from tabargn.codec import fit_statistics
from tabargn.data import BLOCK_ROWS, BlockRows, BlockShuffleSampler
from tabargn.encoding import categorical, numeric, summaries
from tabargn.errors import InvalidDataError
from tabargn.schema import infer_schema


def _chunks(df: pd.DataFrame, rows: int):
    return [df.iloc[i : i + rows] for i in range(0, len(df), rows)]


# ---------------------------------------------------------------- summaries
def test_chunked_statistics_equal_one_chunk(adult_small):
    specs = infer_schema(adult_small)
    one = fit_statistics([adult_small], specs, value_protection=True, rng=np.random.default_rng(3))
    many = fit_statistics(
        _chunks(adult_small, 97), specs, value_protection=True, rng=np.random.default_rng(3)
    )
    assert many.stats == one.stats


def test_value_protection_counts_across_chunks():
    # "a" 2 rows in each of 4 chunks (8 >= 7: kept); "b" 1 row in each (4 < 5: removed)
    chunks = [pd.Series(["a", "a", "b"] + ["c"] * 20) for _ in range(4)]
    folder = summaries.PartialFolder("categorical", value_protection=True)
    for chunk in chunks:
        folder.add(categorical.analyze(chunk))
    stats = categorical.reduce(
        folder.partials(), value_protection=True, rng=np.random.default_rng(0)
    )
    assert "a" in stats["categories"] and "b" not in stats["categories"]


def test_top_k_pruning_never_keeps_a_rare_category(monkeypatch):
    monkeypatch.setattr(summaries, "MAX_CATEGORIES", 16)
    rng = np.random.default_rng(0)
    common = [f"c{i}" for i in range(6)]
    rows = []
    for chunk in range(40):  # every chunk: the common ones, plus fresh singletons
        rows.append(pd.Series(common * 3 + [f"s{chunk}_{j}" for j in range(30)]))
    folder = summaries.PartialFolder("categorical", value_protection=True)
    for chunk in rows:
        folder.add(categorical.analyze(chunk))
    partials = folder.partials()
    assert all(len(p["values"]) <= 16 for p in partials)
    stats = categorical.reduce(partials, value_protection=True, rng=rng)
    assert set(stats["categories"]) == set(common) and stats["has_rare"]
    truth = pd.concat(rows).value_counts()
    for value, count in zip(stats["categories"], stats["counts"], strict=True):
        assert count <= truth[value]  # a kept count is a lower bound of the true count


def test_numeric_summary_is_bounded_and_close(monkeypatch):
    monkeypatch.setattr(summaries, "SAMPLE_SIZE", 500)
    x = np.random.default_rng(1).normal(size=40_000)
    folder = summaries.PartialFolder("numeric", value_protection=True)
    for part in np.array_split(x, 80):
        folder.add(numeric.analyze(pd.Series(part)))
    (merged,) = folder.partials()
    assert len(merged["values"]) <= 500 and merged["n"] == len(x)
    assert merged["low"] == sorted(x)[:7] and merged["high"] == sorted(x)[-7:]
    u, w = np.asarray(merged["values"]), np.asarray(merged["weights"])
    for q in (0.1, 0.5, 0.9):  # rank error well below one of the 2,048 bins' width
        approx = u[np.searchsorted(np.cumsum(w), q * w.sum())]
        assert abs((x < approx).mean() - q) < 0.005


# ---------------------------------------------------------------- code matrix
def test_code_matrix_round_trip(tmp_path):
    cards = [2, 300, 70_000, 5]
    assert [uint_dtype(c) for c in cards] == [np.uint8, np.uint16, np.uint32, np.uint8]
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, c, 1000) for c in cards], axis=1)
    m = CodeMatrix(tmp_path, cards)
    m.append(codes[:400])
    m.append(codes[400:])
    assert m.shape == (1000, 4) and m.row_bytes == 1 + 2 + 4 + 1
    np.testing.assert_array_equal(m.read(0, 1000), codes)
    np.testing.assert_array_equal(m.read(123, 456), codes[123:456])
    np.testing.assert_array_equal(m.column(2), codes[:, 2])
    rows = np.array([0, 5, 399, 400, 999])
    np.testing.assert_array_equal(m.take(rows), codes[rows])
    assert m.take(np.array([], dtype=np.int64)).shape == (0, 4)


def test_validation_split_independent_of_chunking():
    whole = validation_mask(0, 10_000, 0.2, seed=5)
    parts = np.concatenate([validation_mask(s, 1000, 0.2, seed=5) for s in range(0, 10_000, 1000)])
    np.testing.assert_array_equal(whole, parts)
    assert 0.18 < whole.mean() < 0.22
    assert (whole != validation_mask(0, 10_000, 0.2, seed=6)).any()


def test_block_shuffle_visits_every_row_once_within_windows(tmp_path):
    n = 3 * BLOCK_ROWS + 100
    m = CodeMatrix(tmp_path, [n + 1])
    m.append(np.arange(n)[:, None])
    sampler = BlockShuffleSampler(n, 1000, 2, torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler)
    rows = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(rows), np.arange(n))
    # the first window holds 2 blocks: its full batches draw only from them
    first = np.concatenate(batches[: (2 * BLOCK_ROWS) // 1000 - 1]) // BLOCK_ROWS
    assert len(np.unique(first)) <= 2
    data = BlockRows(m, cache_blocks=3)
    np.testing.assert_array_equal(data[batches[0]].numpy()[:, 0], batches[0])


# ---------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def census_part():
    from tests.conftest import shared_data

    census = shared_data("census_income_kdd")
    return census.iloc[:1500, :12].reset_index(drop=True)


def _model(**kw):
    kw = {"model_size": "small", "max_epochs": 1, "batch_size": 256, **kw}
    return TabularARGN(random_state=0, verbose=0, **kw)


def test_every_input_form_gives_the_same_model(census_part, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    table = pa.Table.from_pandas(census_part, preserve_index=False)
    for i in range(3):
        pq.write_table(table.slice(i * 500, 500), folder / f"part-{i}.parquet")
    budget = 16  # chunks of 1,024 rows: the statistics and codes come from several chunks
    reference = _model(memory_budget_mb=budget).fit(census_part)
    expected = reference.sample(200)
    for source in (str(folder), table, pa_ds.dataset(str(folder))):
        model = _model(memory_budget_mb=budget).fit(source)
        assert model.training_["n_rows"] == 1500
        pd.testing.assert_frame_equal(model.sample(200), expected)


def test_a_dataframe_input_does_not_load_arrows_dataset_readers():
    # pyarrow.dataset and its file systems cost the fit's process about 6 MB of memory
    script = (
        "import sys, pandas as pd; from tabargn.table_files import open_table; "
        "open_table(pd.DataFrame({'a': [1, 2]})); "
        "sys.exit('pyarrow.dataset' in sys.modules or 'pyarrow.csv' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 0


def test_csv_file_and_cli_directory(census_part, tmp_path):
    df = census_part.iloc[:400]
    df.to_csv(tmp_path / "t.csv", index=False)
    model = _model().fit(tmp_path / "t.csv")
    assert list(model.sample(5).columns) == list(df.columns)
    folder = tmp_path / "dir"
    folder.mkdir()
    df.to_parquet(folder / "a.parquet")
    out = CliRunner().invoke(
        app,
        ["fit", str(folder), "-o", str(tmp_path / "m"), "--max-epochs", "1",
         "--model-size", "small", "--drop", "age", "-q"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    loaded = TabularARGN.load(tmp_path / "m")
    assert "age" not in loaded.sample(3).columns


def test_streamed_column_empty_in_the_first_rows(tmp_path):
    n = 6000  # HEAD_ROWS is 4,096: "late" has values only after it
    late = [None] * 5000 + ["x", "y"] * 500
    pq.write_table(pa.table({"a": np.arange(n) % 7, "late": late}), tmp_path / "t.parquet")
    model = _model().fit(tmp_path / "t.parquet")
    assert model.codec_.slot("late").spec.kind == "categorical"
    assert set(model.sample(300)["late"].dropna()) <= {"x", "y"}


def test_bad_inputs(tmp_path):
    with pytest.raises(InvalidDataError, match="pyarrow.Table"):
        _model().fit([[1, 2]])
    with pytest.raises(InvalidDataError, match="does not exist"):
        _model().fit(tmp_path / "missing.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidDataError, match="no .parquet"):
        _model().fit(tmp_path / "empty")
    with pytest.raises(InvalidDataError, match="memory_budget_mb"):
        _model(memory_budget_mb=1).fit(pd.DataFrame({"a": [1, 2, 3]}))
    words = [" ".join(f"w{i}{j}" for j in range(6)) for i in range(200)]
    pq.write_table(pa.table({"t": words, "a": list(range(200))}), tmp_path / "text.parquet")
    with pytest.raises(InvalidDataError, match="in memory"):
        _model().fit(tmp_path / "text.parquet")
