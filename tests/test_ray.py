"""tabargn.ray: RayTabularARGN on a local Ray cluster (2 CPUs on 127.0.0.1).

The default tier only checks the optional import and the argument checks (no cluster); the
cluster tests are ``slow`` (one fit on 4,000 Adult rows with 2 workers, about 2 minutes).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tabargn
from tabargn import TabularARGN, parquet_output
from tabargn.errors import InvalidDataError, NotFittedError, OptionalDependencyError

RARE, OUTLIER = "Atlantis", 4_000_000


def _imports(path: Path) -> list[str]:
    """Modules a file imports (``from tabargn import ray`` counts as ``tabargn.ray``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_import_tabargn_does_not_import_ray():
    """No module outside tabargn/ray imports Ray or tabargn.ray (static: cheap and exact)."""
    root = Path(tabargn.__file__).parent
    for path in root.rglob("*.py"):
        if path.relative_to(root).parts[0] == "ray":
            continue
        for name in _imports(path):
            assert name.split(".")[0] != "ray" and not name.startswith("tabargn.ray"), path


def test_missing_ray_is_a_typed_error_naming_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "tabargn.ray" or m.startswith("tabargn.ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(OptionalDependencyError, match=r"tabargn\[ray\]"):
        import tabargn.ray  # noqa: F401


def test_parameters_and_checks_without_a_cluster(adult_small):
    pytest.importorskip("ray")
    from sklearn.base import clone

    from tabargn.ray import RayTabularARGN

    m = RayTabularARGN(num_workers=3, model_size="small", max_epochs=2)
    params = m.get_params()
    assert params["num_workers"] == 3 and params["model_size"] == "small"
    assert set(TabularARGN().get_params()) < set(params)
    assert clone(m).get_params() == params
    with pytest.raises(InvalidDataError, match="ray.data.Dataset"):
        m.fit([1, 2, 3])
    with pytest.raises(InvalidDataError, match="differential_privacy"):
        RayTabularARGN(differential_privacy={"max_epsilon": 1.0}).fit(adult_small)
    with pytest.raises(InvalidDataError, match="num_workers"):
        RayTabularARGN(strategy="ddp").fit(adult_small)
    with pytest.raises(InvalidDataError, match="num_workers"):
        RayTabularARGN(num_workers=0).fit(adult_small)
    with pytest.raises(NotFittedError):
        m.sample(10)


# ---------------------------------------------------------------------------- on a cluster
@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def table(adult_small) -> pd.DataFrame:
    """4,000 Adult rows with one rare category (3 rows) and one outlier."""
    df = adult_small.copy()
    df.loc[:2, "native_country"] = RARE
    df.loc[3, "capital_gain"] = OUTLIER
    return df


@pytest.fixture(scope="module")
def fitted(cluster, table):
    import pyarrow as pa

    from tabargn.ray import RayTabularARGN

    blocks = [pa.Table.from_pandas(table.iloc[i::4], preserve_index=False) for i in range(4)]
    ds = cluster.data.from_arrow(blocks)  # 4 Arrow blocks, as read_parquet gives
    m = RayTabularARGN(num_workers=2, max_epochs=3, model_size="small", random_state=0, verbose=0)
    return ds, m.fit(ds)


@pytest.mark.slow
def test_fit_statistics_equal_the_local_fit_value_protection_included(fitted):
    from tabargn.codec import TableCodec
    from tabargn.schema import infer_schema

    ds, m = fitted
    frame = ds.to_pandas()  # the rows as Ray hands them to pandas
    local = TableCodec.fit(
        frame,
        infer_schema(frame),
        value_protection=True,
        rng=np.random.default_rng([m.seed_, 0]),
    )
    assert json.dumps(m.codec_.stats, sort_keys=True, default=str) == json.dumps(
        local.stats, sort_keys=True, default=str
    )
    assert RARE not in m.codec_.stats["native_country"]["categories"]
    assert m.codec_.stats["capital_gain"]["max"] < OUTLIER
    t = m.training_
    assert t["n_rows"] == 4000 and t["num_workers"] == 2 and t["strategy"] == "RayDDPStrategy"
    assert t["n_train_rows"] + t["n_validation_rows"] == 4000
    assert np.isfinite(t["best_val_loss"]) and t["epochs"] >= 1


@pytest.mark.slow
def test_sample_rows_columns_dtypes_and_no_removed_value(fitted):
    ds, m = fitted
    out_ds = m.sample(1500)
    assert out_ds.schema().names == ds.schema().names
    assert out_ds.schema().types == ds.schema().types
    out = out_ds.to_pandas()
    assert out.shape == (1500, ds.to_pandas().shape[1])
    assert RARE not in set(out["native_country"].dropna())
    assert out["capital_gain"].max() < OUTLIER
    # a rough fidelity check: the category shares of a well-learned column
    real = ds.to_pandas()["sex"].value_counts(normalize=True)
    synth = out["sex"].value_counts(normalize=True)
    assert (real - synth).abs().max() < 0.1


@pytest.mark.slow
def test_same_seed_same_rows_whatever_the_blocks_and_workers(fitted, tmp_path, monkeypatch):
    _, m = fitted
    monkeypatch.setattr(parquet_output, "BLOCK_ROWS", 500)  # 5 units of 500 rows
    m.restart_sampling()
    one = m.sample(2300, num_blocks=1).to_pandas()
    m.restart_sampling()
    m.set_params(num_workers=1)
    try:
        five = m.sample(2300, num_blocks=5).to_pandas()
    finally:
        m.set_params(num_workers=2)
    pd.testing.assert_frame_equal(one, five)
    assert len(one) == 2300 and not one.duplicated().all()
    # the same rows as the local model's sample_to_parquet (same units, same streams)
    local = m.to_local()
    local.sample_to_parquet(tmp_path / "parts", 2300, rows_per_part=700)
    written = pd.read_parquet(tmp_path / "parts")
    pd.testing.assert_frame_equal(one, written, check_dtype=False)


@pytest.mark.slow
def test_to_local_save_and_load_share_the_weights(fitted, tmp_path):
    from tabargn.ray import RayTabularARGN

    _, m = fitted
    local = m.to_local()
    assert type(local) is TabularARGN and "num_workers" not in local.get_params()
    m.save(tmp_path / "model")
    loaded = TabularARGN.load(tmp_path / "model")  # the same folder format
    pd.testing.assert_frame_equal(local.sample(400), loaded.sample(400))
    assert "Atlantis" not in (tmp_path / "model" / "encoders.json").read_text()
    again = RayTabularARGN.load(tmp_path / "model", num_workers=2)
    m.restart_sampling()
    pd.testing.assert_frame_equal(m.sample(600).to_pandas(), again.sample(600).to_pandas())
    for name, value in m.network_.state_dict().items():
        assert (again.network_.state_dict()[name] == value).all()


@pytest.mark.slow
def test_conditions_as_a_ray_dataset(fitted, cluster):
    _, m = fitted
    given = pd.DataFrame({"sex": ["Female"] * 300, "age": [30] * 300})
    cond = cluster.data.from_pandas([given.iloc[:150], given.iloc[150:]])
    m.restart_sampling()
    first = m.sample(conditions=cond).to_pandas()
    assert len(first) == 300
    assert (first["sex"] == "Female").all() and (first["age"] == 30).all()
    again = m.sample(conditions=cond).to_pandas()
    m.restart_sampling()
    redo = m.sample(conditions=cond).to_pandas()
    pd.testing.assert_frame_equal(first, redo)  # same call on the stream, same rows
    assert not first.equals(again)  # the next call draws new rows
    with pytest.raises(InvalidDataError, match="n_samples"):
        m.sample(10, conditions=cond)
    from tabargn.errors import UnknownColumnError

    with pytest.raises(UnknownColumnError):
        m.sample(conditions=cluster.data.from_pandas(pd.DataFrame({"nope": [1]})))
