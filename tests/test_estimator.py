"""TabularARGN on real data: sampling, conditions, where, imputation, scores, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tabargn import TabularARGN
from tabargn.errors import (
    ConditionError,
    InvalidDataError,
    ModelFileError,
    NotFittedError,
    UnknownColumnError,
    UnknownValueError,
    UnsupportedDtypeError,
)
from tests.conftest import shared_data


def test_sample_has_training_columns_and_dtypes(small_model, adult_small):
    out = small_model.sample(n_samples=500)
    assert list(out.columns) == list(adult_small.columns)
    assert (out.dtypes == adult_small.dtypes).all()
    assert len(out) == 500
    assert small_model.sample(n_samples=0).shape == (0, adult_small.shape[1])


def test_conditions_are_exact_one_row_each(small_model):
    cond = pd.DataFrame({"sex": ["Female"] * 300 + ["Male"] * 300, "age": [30] * 200 + [61] * 400})
    out = small_model.sample(conditions=cond)
    assert len(out) == 600
    assert (out["sex"].to_numpy() == cond["sex"].to_numpy()).all()
    assert (out["age"].to_numpy() == cond["age"].to_numpy()).all()
    # missing cells in a condition frame are free
    partial = pd.DataFrame({"sex": ["Female", None, "Male"]})
    out = small_model.sample(conditions=partial)
    assert out["sex"].notna().all() and out.loc[0, "sex"] == "Female"


@pytest.fixture(scope="module")
def adult_model(adult):
    """A model fitted on 12,000 adult rows (the rest of adult is its holdout), trained to early
    stopping (~30 s on 2 cores); capped at 8 epochs, education's TVD sat at the 0.05 limit."""
    return TabularARGN(random_state=0, verbose=0).fit(adult.iloc[:12000])


def _tvd(a: pd.Series, b: pd.Series) -> float:
    """Total variation distance on deciles (numbers with many values) or categories."""
    if a.dtype.kind in "if" and a.nunique() > 20:
        edges = np.unique(np.nanquantile(a, np.linspace(0, 1, 11)))
        a = pd.cut(a, edges, include_lowest=True)
        b = pd.cut(b.clip(edges[0], edges[-1]), edges, include_lowest=True)
    pa = a.astype(str).value_counts(normalize=True)
    pb = b.astype(str).value_counts(normalize=True)
    return 0.5 * pa.subtract(pb, fill_value=0).abs().sum()


def test_end_to_end_fidelity_per_column(adult_model, adult):
    train, holdout = adult.iloc[:12000], adult.iloc[12000:24000]
    synthetic = adult_model.sample(12000)
    worse = {}
    for column in train.columns:
        ceiling = _tvd(train[column], holdout[column])
        gap = _tvd(train[column], synthetic[column])
        if gap > max(0.05, 3 * ceiling):
            worse[column] = (round(gap, 4), round(ceiling, 4))
    assert not worse, f"TVD (synthetic, holdout) per column: {worse}"
    # a dependency the model must learn: sex given relationship
    crosstab = pd.crosstab(synthetic["relationship"], synthetic["sex"], normalize="index")
    assert crosstab.loc["Husband", "Male"] > 0.9 and crosstab.loc["Wife", "Female"] > 0.9


def test_conditions_steer_the_rest_of_the_row(adult_model):
    model = adult_model
    husbands = model.sample(conditions=pd.DataFrame({"relationship": ["Husband"] * 2000}))
    wives = model.sample(conditions=pd.DataFrame({"relationship": ["Wife"] * 2000}))
    assert (husbands["sex"] == "Male").mean() > 0.9
    assert (wives["sex"] == "Female").mean() > 0.9


def test_where_ranges_and_sets_are_exact(small_model):
    out = small_model.sample(
        2000,
        where={
            "age": (30, 40),
            "workclass": ["Private", "State-gov"],
            "fnlwgt": (100_000, 200_000),
            "hours_per_week": (None, 20),
        },
    )
    assert out["age"].between(30, 40).all()
    assert out["workclass"].isin(["Private", "State-gov"]).all()
    assert out["fnlwgt"].between(100_000, 200_000).all()
    assert (out["hours_per_week"] <= 20).all()
    assert out["age"].nunique() > 5  # the range is sampled, not pinned to a boundary


def test_impute_fills_only_missing_cells(small_model, adult_small):
    rng = np.random.default_rng(0)
    holes = adult_small.iloc[:800].copy()
    mask = rng.random(holes.shape) < 0.3
    holes = holes.mask(mask)  # ints become float, strings keep object
    filled = small_model.impute(holes)
    assert (filled.dtypes == adult_small.dtypes).all()
    assert filled.notna().all().all()
    observed = ~mask & adult_small.iloc[:800].notna().to_numpy()
    for j, col in enumerate(holes.columns):
        keep = observed[:, j]
        assert (filled[col].to_numpy()[keep] == adult_small[col].iloc[:800].to_numpy()[keep]).all()
    assert list(filled.index) == list(holes.index)


def test_impute_and_proba_keep_never_seen_categories(small_model):
    """New rows may hold categories the model never saw: kept as observed, not conditioned on."""
    frame = pd.DataFrame(
        {"workclass": ["Moon-base", "Private"], "age": [40.0, np.nan], "sex": [None, "Male"]}
    )
    filled = small_model.impute(frame)
    assert filled.loc[0, "workclass"] == "Moon-base"
    assert filled.notna().all().all()
    proba = small_model.predict_proba(frame.drop(columns="sex"), target="sex")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(UnknownValueError, match="Moon-base"):
        small_model.sample(conditions=frame[["workclass"]])


def test_impute_accepts_all_missing_and_absent_columns(small_model):
    frame = pd.DataFrame({"age": [25.0, np.nan, 70.0], "sex": [None, "Female", None]})
    filled = small_model.impute(frame)
    assert filled.notna().all().all()
    assert list(filled["age"])[0] == 25 and filled.loc[1, "sex"] == "Female"


def test_rebalance_hits_target_shares(small_model):
    out = small_model.sample(4000, rebalance={"income": {">50K": 0.5}})
    share = (out["income"] == ">50K").mean()
    assert abs(share - 0.5) < 0.03


def test_temperature_and_top_p_sharpen(small_model):
    base = small_model.sample(3000)
    cold = small_model.sample(3000, temperature=0.3, top_p=0.8)
    assert cold["native_country"].nunique() < base["native_country"].nunique()
    with pytest.raises(InvalidDataError):
        small_model.sample(10, temperature=0)
    with pytest.raises(InvalidDataError):
        small_model.sample(10, top_p=1.5)


def test_predict_proba_and_log_prob(small_model, adult_small):
    X = adult_small.iloc[:200]
    proba = small_model.predict_proba(X, target="income")
    assert set(proba.columns) == {"<=50K", ">50K"}
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    lp = small_model.log_prob(X)
    assert lp.shape == (200,) and np.isfinite(lp).all() and (lp < 0).all()
    with pytest.raises(InvalidDataError):
        small_model.predict_proba(X, target="fnlwgt")  # binned: two sub-columns


def test_reproducible_stream_and_save_load(small_model, tmp_path, adult_small):
    path = small_model.save(tmp_path / "m")
    assert {p.name for p in path.iterdir()} == {"config.json", "encoders.json", "model.safetensors"}
    a = TabularARGN.load(path).sample(300)
    b = TabularARGN.load(path)
    first, second = b.sample(300), b.sample(300)
    pd.testing.assert_frame_equal(a, first)
    assert not first.equals(second)  # successive calls continue one random stream
    c = TabularARGN.load(path)
    pd.testing.assert_frame_equal(
        c.impute(adult_small.iloc[:50].mask(np.eye(50, 15, dtype=bool))),
        TabularARGN.load(path).impute(adult_small.iloc[:50].mask(np.eye(50, 15, dtype=bool))),
    )


def test_same_seed_same_fit(adult_small):
    a = TabularARGN(random_state=3, max_epochs=1, model_size="small", verbose=0)
    b = clone(a)
    assert b.get_params() == a.get_params() and not hasattr(b, "network_")
    pd.testing.assert_frame_equal(
        a.fit(adult_small.iloc[:1500]).sample(200), b.fit(adult_small.iloc[:1500]).sample(200)
    )


def test_value_protection_removes_rare_categories_and_outliers(adult_small):
    df = adult_small.iloc[:3000].copy()
    df.loc[:2, "native_country"] = "Atlantis"  # seen 3 times
    df.loc[5, "capital_loss"] = 9_999_999  # a single extreme outlier
    model = TabularARGN(random_state=0, max_epochs=1, model_size="small", verbose=0).fit(df)
    out = model.sample(100_000)
    assert "Atlantis" not in set(out["native_country"])
    assert out["capital_loss"].max() < 9_999_999
    assert out["capital_loss"].max() <= df["capital_loss"].nlargest(5).iloc[-1]
    with pytest.raises(UnknownValueError, match="Atlantis"):
        model.sample(conditions=pd.DataFrame({"native_country": ["Atlantis"]}))
    open_model = TabularARGN(
        random_state=0, max_epochs=1, model_size="small", value_protection=False, verbose=0
    ).fit(df)
    assert "Atlantis" in str(open_model.codec_.to_json())


def test_mixed_dtypes_round_trip():
    birds = shared_data("faa_bird_strikes").drop(columns="remarks").iloc[:2500].copy()
    birds["date_utc"] = birds["date"].dt.tz_localize("UTC")
    birds["num_engs"] = birds["num_engs"].astype("Int64")
    birds["speed"] = birds["speed"].astype("Float64")
    birds["sky"] = birds["sky"].astype("category")
    birds["state"] = birds["state"].astype("string")
    birds["heavy"] = birds["ac_mass"] > 3
    birds["heavy_na"] = (birds["ac_mass"] > 3).astype("boolean").mask(birds["ac_mass"].isna())
    birds["nothing"] = np.nan
    model = TabularARGN(random_state=0, max_epochs=2, model_size="small", verbose=0).fit(birds)
    out = model.sample(1000)
    assert list(out.columns) == list(birds.columns)
    assert (out.dtypes == birds.dtypes).all(), out.dtypes[out.dtypes != birds.dtypes]
    assert out["nothing"].isna().all()
    assert out["date"].between(birds["date"].min(), birds["date"].max()).all()
    for col in ["speed", "effect", "date"]:
        share = birds[col].isna().mean()
        assert abs(out[col].isna().mean() - share) < 0.15  # a 2-epoch model: coarse


def test_high_cardinality_column_fits(adult_small):
    df = adult_small.iloc[:2000].copy()
    df["ident"] = [f"id-{i}" for i in range(len(df))]
    model = TabularARGN(
        random_state=0, max_epochs=1, model_size="small", value_protection=False, verbose=0
    ).fit(df)
    assert max(model.codec_.cardinalities) <= 1100
    assert model.sample(100)["ident"].str.startswith("id-").all()


# ------------------------------------------------------------------ bad input -> typed errors
def test_bad_input_raises_typed_errors(small_model, tmp_path):
    m = TabularARGN(verbose=0)
    with pytest.raises(InvalidDataError, match="no rows"):
        m.fit(pd.DataFrame({"a": []}))
    with pytest.raises(InvalidDataError, match="no columns"):
        m.fit(pd.DataFrame(index=range(5)))
    with pytest.raises(InvalidDataError, match="duplicate"):
        m.fit(pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"]))
    with pytest.raises(InvalidDataError, match="DataFrame"):
        m.fit([[1, 2]])
    with pytest.raises(UnsupportedDtypeError, match="complex"):
        m.fit(pd.DataFrame({"z": [1 + 2j, 3j]}))
    with pytest.raises(UnsupportedDtypeError, match="list"):
        m.fit(pd.DataFrame({"z": [[1], [2]]}))
    with pytest.raises(UnsupportedDtypeError, match="dict"):
        m.fit(pd.DataFrame({"z": [{"a": 1}, {"b": 2}]}))
    with pytest.raises(InvalidDataError, match="empty"):
        m.fit(pd.DataFrame({"z": [np.nan, np.nan]}))
    with pytest.raises(NotFittedError):
        m.sample(5)
    with pytest.raises(InvalidDataError, match="n_samples"):
        small_model.sample(-1)
    with pytest.raises(UnknownColumnError, match="nope"):
        small_model.sample(conditions=pd.DataFrame({"nope": [1]}))
    with pytest.raises(UnknownColumnError, match="nope"):
        small_model.sample(5, where={"nope": (1, 2)})
    with pytest.raises(UnknownValueError, match="Martian"):
        small_model.sample(conditions=pd.DataFrame({"race": ["Martian", "White"]}))
    with pytest.raises(UnknownValueError, match="Martian"):
        small_model.sample(5, where={"race": ["Martian"]})
    with pytest.raises(ConditionError):
        small_model.sample(5, where={"age": (50, 40)})
    with pytest.raises(ConditionError):
        small_model.sample(5, where={"age": (500, 600)})
    with pytest.raises(ConditionError):
        small_model.sample(5, where={"race": (1, 2)})
    with pytest.raises(ModelFileError):
        TabularARGN.load(tmp_path / "missing")
    small_model.save(tmp_path / "bad")
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError):
        TabularARGN.load(tmp_path / "bad")
    small_model.save(tmp_path / "bad2")
    (tmp_path / "bad2" / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError):
        TabularARGN.load(tmp_path / "bad2")


def test_all_nan_column_is_kept_empty(adult_small):
    df = adult_small.iloc[:600].copy()
    df["blank"] = pd.Series([None] * len(df), dtype=object)
    out = (
        TabularARGN(random_state=0, max_epochs=1, model_size="small", verbose=0).fit(df).sample(50)
    )
    assert out["blank"].isna().all()


def test_regressor_dropout_falls_with_training_rows(adult_small, monkeypatch):
    from tabargn import flat
    from tabargn.model import REGRESSOR_DROPOUT

    assert flat.flat_dropout(1) == flat.flat_dropout(flat.FULL_DROPOUT_ROWS) == REGRESSOR_DROPOUT
    assert flat.flat_dropout(4 * flat.FULL_DROPOUT_ROWS) == pytest.approx(REGRESSOR_DROPOUT / 16)
    larger = [flat.flat_dropout(n) for n in (50_000, 200_000, 1_000_000, 10**9)]
    assert larger == sorted(larger, reverse=True) and larger[0] < REGRESSOR_DROPOUT
    assert larger[-1] > 0
    # a fit takes it from its own training rows (validation excluded, as the batch size rule)
    monkeypatch.setattr(flat, "FULL_DROPOUT_ROWS", 100)
    model = TabularARGN(random_state=0, max_epochs=1, model_size="small", verbose=0)
    model.fit(adult_small.head(500))
    assert model.network_.config.dropout == pytest.approx(REGRESSOR_DROPOUT * (100 / 400) ** 2)


def test_auto_model_size_follows_training_rows(adult_small):
    from tabargn.flat import SMALL_MODEL_ROWS, flat_model_size
    from tabargn.model import MODEL_SIZES

    assert flat_model_size("auto", SMALL_MODEL_ROWS - 1) == "small"
    assert flat_model_size("auto", SMALL_MODEL_ROWS) == "medium"
    assert flat_model_size("large", 10) == "large"  # an explicit size is kept
    auto = TabularARGN(random_state=0, max_epochs=1, verbose=0).fit(adult_small.iloc[:500])
    assert auto.get_params()["model_size"] == "auto"
    assert auto.training_["model_size"] == "small"
    assert auto.network_.config.hidden == MODEL_SIZES["small"][0]
    medium = TabularARGN(random_state=0, max_epochs=1, model_size="medium", verbose=0)
    assert medium.fit(adult_small.iloc[:500]).network_.config.hidden == MODEL_SIZES["medium"][0]
