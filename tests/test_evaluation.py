"""Tests of tabargn.evaluation on real data (UCI Adult): the metrics mean what they say.

Scenarios, all against the same 6k training rows and 6k holdout rows (equal sizes, so that a
copy of the training data scores a DCR share of 1; see ``test_dcr_share_dilution`` for
unequal sizes):

* ``fresh`` -- 6k *other* real rows used as "synthetic" data: a perfect generator. (The holdout
  itself cannot play this role: every one of its rows would sit at distance 0 from the holdout,
  so the DCR share would be 0 by construction.)
* ``copy`` -- the training rows themselves: perfect memorization.
* ``shuffled`` -- every column of the training data permuted independently: exact marginals,
  no dependence between columns.
* ``noise`` -- every column drawn uniformly at random over its real range / categories.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabargn.errors import InvalidDataError, TabargnError
from tabargn.evaluation import Report, evaluate

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ADULT = DATA_DIR / "adult.parquet"
TARGET = "income"
N = 6000  # rows of training data, holdout and "fresh" real rows each

pytestmark = pytest.mark.skipif(not ADULT.exists(), reason=f"{ADULT} not available")


@pytest.fixture(scope="module")
def adult_sets() -> dict[str, pd.DataFrame]:
    df = pd.read_parquet(ADULT).drop(columns="split")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(df))
    train = df.iloc[idx[:N]].reset_index(drop=True)
    holdout = df.iloc[idx[N : 2 * N]].reset_index(drop=True)
    fresh = df.iloc[idx[2 * N : 3 * N]].reset_index(drop=True)
    shuffled = train.copy()
    for c in shuffled:
        shuffled[c] = rng.permutation(shuffled[c].to_numpy())
    noise = pd.DataFrame(index=range(len(train)))
    for c in train:
        if train[c].dtype == object:
            cats = train[c].dropna().unique()
            noise[c] = rng.choice(cats, size=len(train))
        else:
            noise[c] = rng.uniform(train[c].min(), train[c].max(), size=len(train))
    return {
        "train": train,
        "holdout": holdout,
        "fresh": fresh,
        "shuffled": shuffled,
        "noise": noise,
    }


@pytest.fixture(scope="module")
def reports(adult_sets) -> dict[str, Report]:
    tr, ho = adult_sets["train"], adult_sets["holdout"]
    return {
        "fresh": evaluate(tr, adult_sets["fresh"], ho, target=TARGET),
        "copy": evaluate(tr, tr, ho),
        "shuffled": evaluate(tr, adult_sets["shuffled"], ho),
        "noise": evaluate(tr, adult_sets["noise"], ho),
    }


REQUIRED_KEYS = [
    "univariate_accuracy",
    "bivariate_accuracy",
    "univariate_accuracy_max",
    "bivariate_accuracy_max",
    "shape_score",
    "trend_score",
    "detection_auc",
    "detection_score",
    "alpha_precision",
    "beta_recall",
    "tstr_score",
    "trtr_score",
    "dcr_share",
    "identical_match_share",
    "nndr",
    "seconds",
]


def test_summary_has_every_metric_as_float(reports):
    s = reports["fresh"].summary()
    for key in REQUIRED_KEYS:
        assert isinstance(s[key], float), key
        assert np.isfinite(s[key]), key
    for key in REQUIRED_KEYS:
        if key not in ("seconds", "tstr_score", "trtr_score"):
            assert 0.0 <= s[key] <= 1.0, (key, s[key])


def test_real_rows_as_synthetic_reach_the_ceiling(reports):
    s = reports["fresh"].summary()
    assert s["univariate_accuracy_max"] > 0.95
    assert s["univariate_accuracy"] == pytest.approx(s["univariate_accuracy_max"], abs=0.01)
    assert s["bivariate_accuracy"] == pytest.approx(s["bivariate_accuracy_max"], abs=0.015)
    assert s["dcr_share"] == pytest.approx(0.5, abs=0.05)
    assert s["membership_auc"] == pytest.approx(0.5, abs=0.05)
    assert s["detection_score"] > 0.8
    assert s["identical_match_share"] < 0.01
    assert s["nndr"] == pytest.approx(s["nndr_holdout"], abs=0.05)
    assert s["alpha_precision"] > 0.85 and s["beta_recall"] > 0.85
    assert s["shape_score"] > 0.95 and s["trend_score"] > 0.9


def test_copy_of_training_data_is_flagged(reports):
    s = reports["copy"].summary()
    assert s["dcr_share"] > 0.95
    assert s["identical_match_share"] == 1.0
    assert s["nndr"] < 0.05
    assert s["membership_auc"] > 0.9
    assert s["univariate_accuracy"] == 1.0 and s["bivariate_accuracy"] == 1.0
    assert np.all(reports["copy"].dcr["synthetic_to_train"] == 0.0)


def test_shuffled_columns_lose_dependence_not_marginals(reports):
    fresh, shuf = reports["fresh"].summary(), reports["shuffled"].summary()
    assert shuf["univariate_accuracy"] > 0.99
    assert shuf["shape_score"] > 0.99
    assert shuf["bivariate_accuracy"] < fresh["bivariate_accuracy"] - 0.03
    assert shuf["trend_score"] < fresh["trend_score"] - 0.03
    assert shuf["association_gap"] > 5 * fresh["association_gap"]
    assert shuf["detection_score"] < fresh["detection_score"] - 0.5
    # The most damaged pair is a strongly associated one in the real data.
    worst = reports["shuffled"].pairs.sort_values("bivariate_accuracy").iloc[0]
    assert worst["association_real"] > 0.5 and worst["association_synthetic"] < 0.1


def test_uniform_noise_is_detected(reports):
    s = reports["noise"].summary()
    assert s["detection_score"] < 0.1
    assert s["detection_auc"] > 0.95
    assert s["univariate_accuracy"] < reports["fresh"].summary()["univariate_accuracy"] - 0.2
    assert s["alpha_precision"] < 0.5


def test_dcr_share_dilution_with_larger_training_data():
    """Training data k times the holdout: it is subsampled, so a full copy scores 0.5 + 0.5/k."""
    from tabargn.evaluation import privacy

    rng = np.random.default_rng(0)
    train = rng.random((3000, 6)).astype(np.float32)
    holdout = rng.random((1000, 6)).astype(np.float32)
    sub = train[rng.choice(len(train), size=len(holdout), replace=False)]
    copy = privacy.dcr(sub, holdout, train)["dcr_share"]
    assert copy == pytest.approx(0.5 + 0.5 / 3, abs=0.03)
    fresh = privacy.dcr(sub, holdout, rng.random((3000, 6)).astype(np.float32))["dcr_share"]
    assert fresh == pytest.approx(0.5, abs=0.03)
    exact = privacy.dcr(sub, holdout, sub)
    assert exact["dcr_share"] == 1.0 and exact["membership_auc"] == 1.0


def test_tstr_close_to_trtr_for_real_rows(reports):
    s = reports["fresh"].summary()
    assert s["trtr_score"] > 0.85  # ROC AUC of income on Adult
    assert s["tstr_score"] == pytest.approx(s["trtr_score"], abs=0.03)
    assert reports["fresh"].info["target_task"].startswith("binary")


def test_per_column_and_pair_details(reports, adult_sets):
    r = reports["fresh"]
    cols = [c for c in adult_sets["train"].columns]
    assert list(r.columns["column"]) == cols
    assert len(r.pairs) == len(cols) * (len(cols) - 1) // 2
    assert r.columns["univariate_accuracy"].mean() == pytest.approx(
        r.summary()["univariate_accuracy"]
    )
    assert set(r.dcr) == {"synthetic_to_train", "synthetic_to_holdout", "holdout_to_train"}
    assert all(np.all(v >= 0) for v in r.dcr.values())


def test_shape_and_trend_match_sdmetrics(adult_sets):
    from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity
    from sdmetrics.single_column import KSComplement, TVComplement

    from tabargn.evaluation import fidelity
    from tabargn.evaluation._prep import Schema

    real = adult_sets["train"].iloc[:1500].reset_index(drop=True)
    numeric = [c for c in real if real[c].dtype != object]
    for key in ("fresh", "shuffled"):
        syn = adult_sets[key].iloc[:1500].reset_index(drop=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shapes = [
                (KSComplement if c in numeric else TVComplement).compute(real[c], syn[c])
                for c in real
            ]
            trends = []
            cols = list(real)
            for i, a in enumerate(cols):
                for b in cols[i + 1 :]:
                    if a in numeric and b in numeric:
                        trends.append(CorrelationSimilarity.compute(real[[a, b]], syn[[a, b]]))
                    else:
                        cont = [c for c in (a, b) if c in numeric]
                        trends.append(
                            ContingencySimilarity.compute(
                                real[[a, b]], syn[[a, b]], continuous_column_names=cont
                            )
                        )
        schema = Schema(real)
        st = fidelity.shape_trend(schema, schema.real_values, schema.normalize_frame(syn))
        assert np.mean(st["shape"]) == pytest.approx(np.mean(shapes), abs=0.02)
        assert np.mean(st["trend"]) == pytest.approx(np.mean(trends), abs=0.02)
        # In fact they agree pair by pair.
        np.testing.assert_allclose(st["shape"], shapes, atol=1e-6)
        np.testing.assert_allclose(st["trend"], trends, atol=1e-6)


def test_to_html_is_self_contained(reports, tmp_path):
    out = tmp_path / "report"
    path = reports["fresh"].to_html(out / "eval.html")
    assert path.exists() and [p.name for p in out.iterdir()] == ["eval.html"]
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert re.search(r"https?://", text) is None
    assert "<script" not in text and "<link" not in text
    n_images = text.count('src="data:image/png;base64,')
    # 15 column plots + association heatmaps + alpha/beta curves + DCR distributions.
    assert n_images == 15 + 3
    assert "univariate_accuracy_max" in text and "dcr_share" in text
    assert "capital_gain" in text


def test_mixed_dtypes_and_no_holdout():
    rng = np.random.default_rng(1)
    n = 400

    def frame(seed: int) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        ints = pd.array(r.integers(0, 5, n), dtype="Int64")
        ints[r.random(n) < 0.1] = pd.NA
        return pd.DataFrame(
            {
                "id": np.arange(n),
                "text": [f"note {i}" for i in range(n)],
                "obj": r.choice(["a", "b", None], n),
                "cat": pd.Categorical(r.choice(["x", "y", "z"], n)),
                "str": pd.array(r.choice(["p", "q"], n), dtype="string"),
                "flag": r.random(n) < 0.3,
                "int64": ints,
                "float": np.where(r.random(n) < 0.05, np.nan, r.normal(size=n)),
                "naive": pd.Timestamp("2020-01-01") + pd.to_timedelta(r.integers(0, 900, n), "D"),
                "aware": pd.Timestamp("2021-06-01", tz="Europe/Berlin")
                + pd.to_timedelta(r.integers(0, 10_000, n), "min"),
                "delta": pd.to_timedelta(r.integers(0, 100, n), "s"),
            }
        )

    real, syn = frame(1), frame(2)
    # Synthetic dtypes need not match the real ones.
    syn["aware"] = syn["aware"].dt.tz_convert("UTC")
    syn["flag"] = syn["flag"].astype(object)
    syn["int64"] = syn["int64"].astype("float64")
    rep = evaluate(real, syn, entity_key="id", text_columns=["text"], random_state=rng.integers(9))
    s = rep.summary()
    assert "id" not in set(rep.columns["column"]) and "text" not in set(rep.columns["column"])
    assert dict(zip(rep.columns["column"], rep.columns["kind"], strict=True)) == {
        "obj": "categorical",
        "cat": "categorical",
        "str": "categorical",
        "flag": "categorical",
        "int64": "numeric",
        "float": "numeric",
        "naive": "datetime",
        "aware": "datetime",
        "delta": "numeric",
    }
    for key in ("univariate_accuracy_max", "bivariate_accuracy_max", "dcr_share"):
        assert s[key] is None
    for key in ("tstr_score", "trtr_score"):
        assert s[key] is None
    for key in ("univariate_accuracy", "bivariate_accuracy", "detection_score", "nndr"):
        assert isinstance(s[key], float) and 0 <= s[key] <= 1
    assert s["univariate_accuracy"] > 0.85  # same generating process
    assert s["identical_match_share"] == 0.0


def test_degenerate_inputs_do_not_crash():
    real = pd.DataFrame({"a": [1.0] * 50, "b": [np.nan] * 50, "c": np.arange(50), "t": ["x"] * 50})
    s = evaluate(real, real.iloc[:1], real.iloc[:20], target="t").summary()
    assert np.isnan(s["detection_score"])  # one synthetic row: no cross-validation possible
    assert s["identical_match_share"] == 1.0
    s = evaluate(real, real.iloc[:30], real.iloc[10:40], target="t").summary()
    assert 0.0 <= s["detection_score"] <= 1.0 and s["tstr_score"] == s["trtr_score"]


def test_alpha_beta_handle_ties_in_discrete_data():
    rng = np.random.default_rng(0)

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame({"a": rng.choice(list("xyz"), n), "b": rng.integers(0, 3, n)})

    s = evaluate(draw(2000), draw(2000), draw(2000)).summary()
    # Nearly every row has k identical neighbours: without tie handling alpha-precision of a
    # perfect generator would be far below 1.
    assert s["alpha_precision"] > 0.95 and s["beta_recall"] > 0.95
    assert s["dcr_share"] == pytest.approx(0.5, abs=0.02)


def test_plot_data_holds_the_plotted_matrices_and_curves(reports):
    rep = reports["fresh"]
    data = rep.plot_data
    assert set(data) == {"association_real", "association_synthetic", "alpha_beta"}
    names = list(rep.columns["column"])  # 15 columns: all of them are plotted
    for key in ("association_real", "association_synthetic"):
        matrix = data[key]
        assert list(matrix.index) == names and list(matrix.columns) == names
        assert np.allclose(matrix.to_numpy(), matrix.to_numpy().T)
        assert np.allclose(np.diag(matrix.to_numpy()), 1.0)
    first, second = rep.pairs.iloc[0][["column_1", "column_2"]]
    assert data["association_real"].loc[first, second] == rep.pairs["association_real"].iloc[0]
    assert data["alpha_beta"]["alpha_precision"] == rep.summary()["alpha_precision"]
    with pytest.raises(TypeError):
        data["other"] = 1  # read-only view
    rep2 = Report()
    rep2.add_plot_data("curve", [1, 2])
    assert dict(rep2.plot_data) == {"curve": [1, 2]}


def test_add_section_extends_summary_and_html(tmp_path):
    real = pd.DataFrame({"a": np.arange(50) % 7, "b": list("xy") * 25})
    rep = evaluate(real, real.sample(frac=1.0, random_state=0))
    rep.add_section("text", {"distinct_2": 0.75, "novelty": None}, descriptions={"novelty": "n"})
    s = rep.summary()
    assert s["distinct_2"] == 0.75 and s["novelty"] is None and "seconds" in s
    with pytest.raises(InvalidDataError):
        rep.add_section("other", {"distinct_2": 0.1})
    with pytest.raises(InvalidDataError):
        rep.add_section("text", {"x": 0.1})
    with pytest.raises(InvalidDataError):
        rep.add_section("bad", {"y": "high"})
    text = rep.to_html(tmp_path / "r.html").read_text()
    assert "distinct_2" in text and "0.750" in text


@pytest.mark.parametrize(
    "case",
    [
        "missing_column",
        "empty_synthetic",
        "empty_real",
        "no_columns",
        "not_a_frame",
        "holdout_missing_column",
        "unknown_target",
        "excluded_target",
        "unknown_text_column",
        "duplicate_columns",
        "bad_max_rows",
    ],
)
def test_bad_input_raises_invalid_data_error(case):
    real = pd.DataFrame({"a": [1, 2, 3, 4], "b": ["x", "y", "x", "y"], "t": list("pqrs")})
    syn = real.copy()
    kwargs: dict = {}
    holdout = None
    if case == "missing_column":
        syn = syn.drop(columns="b")
    elif case == "empty_synthetic":
        syn = syn.iloc[:0]
    elif case == "empty_real":
        real = real.iloc[:0]
    elif case == "no_columns":
        syn = pd.DataFrame(index=range(3))
    elif case == "not_a_frame":
        syn = syn.to_numpy()
    elif case == "holdout_missing_column":
        holdout = real.drop(columns="a")
    elif case == "unknown_target":
        kwargs["target"] = "nope"
    elif case == "excluded_target":
        kwargs.update(target="t", text_columns=["t"])
    elif case == "unknown_text_column":
        kwargs["text_columns"] = ["nope"]
    elif case == "duplicate_columns":
        syn.columns = ["a", "a", "t"]
    elif case == "bad_max_rows":
        kwargs["max_rows"] = 0
    with pytest.raises(InvalidDataError) as info:
        evaluate(real, syn, holdout, **kwargs)
    assert isinstance(info.value, TabargnError | ValueError)


def test_utility_with_a_target_class_drawn_once_in_a_large_synthetic_table():
    # Above 10,000 training rows the TSTR classifier stops early on a stratified split, which a
    # class of one row cannot enter; it used to raise scikit-learn's ValueError from evaluate().
    rng = np.random.default_rng(0)

    def table(n: int, rare: bool) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = np.where(x > 0, "a", "b").astype(object)
        if rare:
            y[0] = "c"
        return pd.DataFrame({"x": x, "z": rng.integers(0, 5, n), "y": y})

    report = evaluate(
        real=table(3000, rare=False),
        synthetic=table(10_500, rare=True),
        holdout=table(1000, rare=False),
        target="y",
        detection_rows=500,
        neighbor_rows=500,
    )
    assert np.isfinite(report.summary()["tstr_score"])
