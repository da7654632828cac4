"""Constraints (tabargn.constraints, tabargn.constrain) and fairness: small data, fast."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tabargn import TabularARGN
from tabargn.constrain import merge_ranges
from tabargn.constraints import (
    FixedCombinations,
    Inequality,
    Predicate,
    Range,
    Sum,
    parity_gap,
    parse_rules,
    rule_from_dict,
    satisfied,
)
from tabargn.errors import ConditionError, ConstraintError
from tabargn.evaluation.report import Report
from tabargn.evaluation.rules import add_constraints_section

CITIES = {"FR": ["Paris", "Lyon"], "DE": ["Berlin", "Munich"], "IT": ["Rome", "Milan"]}


def hotel_table(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """A hotel-rates-like table: every rule below holds in it."""
    rng = np.random.default_rng(seed)
    country = rng.choice(list(CITIES), n)
    city = [CITIES[c][rng.integers(2)] for c in country]
    checkin = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    nights = rng.integers(1, 9, n)
    rate = np.round(rng.gamma(3, 40, n), 2)
    fees = np.round(rng.gamma(2, 5, n), 2)
    guest = rng.choice(["business", "leisure"], n, p=[0.3, 0.7])
    return pd.DataFrame(
        {
            "country": country,
            "city": city,
            "checkin": checkin,
            "checkout": checkin + pd.to_timedelta(nights, unit="D"),
            "nights": nights,
            "min_rate": rate,
            "max_rate": np.round(rate + rng.gamma(2, 10, n), 2),
            "fees": fees,
            "total": np.round(rate + fees, 2),
            "age": rng.integers(21, 80, n),
            "guest": guest,
            "suite": np.where(rng.random(n) < np.where(guest == "business", 0.6, 0.2), "y", "n"),
        }
    )


def short_stay(d: pd.DataFrame):
    return d["nights"] <= 8


RULES = [
    FixedCombinations(["country", "city"]),
    Inequality("checkin", "checkout", strict=True),
    Inequality("min_rate", "max_rate"),
    Range("age", 25, 75),
    Sum(["min_rate", "fees"], "total"),
    Predicate(short_stay, ["nights"]),
]


@pytest.fixture(scope="module")
def hotel() -> pd.DataFrame:
    df = hotel_table()
    df["age"] = df["age"].clip(25, 75)
    return df


@pytest.fixture(scope="module")
def model(hotel):
    return TabularARGN(
        constraints=RULES, max_epochs=3, model_size="small", random_state=0, verbose=0
    ).fit(hotel)


def broken(rules, df) -> int:
    return int((~satisfied(rules, df)).sum())


# ---------------------------------------------------------------- rules as values
def test_rules_round_trip_through_json():
    for rule in RULES[:-1]:
        back = rule_from_dict(json.loads(json.dumps(rule.to_dict())))
        assert back == rule
    p = rule_from_dict(RULES[-1].to_dict(), {"short_stay": short_stay})
    assert p.fn is short_stay and p.columns == ["nights"]
    assert parse_rules([{"kind": "range", "column": "a", "low": 0}])[0] == Range("a", 0)


def test_bad_rules_raise_typed_errors():
    with pytest.raises(ConstraintError):
        rule_from_dict({"kind": "nope"})
    with pytest.raises(ConstraintError):
        Range("a", 5, 1)
    with pytest.raises(ConstraintError):
        Inequality("a", "a")
    with pytest.raises(ConstraintError):
        FixedCombinations(["a"])
    assert isinstance(ConstraintError("x"), ConditionError)


def test_satisfied_checks_each_kind_and_lets_missing_values_pass():
    df = pd.DataFrame({"a": [1.0, 3.0, None], "b": [2.0, 2.0, 1.0], "t": [3.0, 5.0, 1.0]})
    assert Inequality("a", "b").satisfied(df).tolist() == [True, False, True]
    assert Range("b", None, 1.5).satisfied(df).tolist() == [False, False, True]
    assert Sum(["a", "b"], "t").satisfied(df).tolist() == [True, True, True]
    assert Sum(["a", "b"], 3).satisfied(df).tolist() == [True, False, True]


def test_ranges_merge_into_where():
    where = merge_ranges({"a": (0, 10), "b": [1, 5, 9]}, [Range("a", 2, None), Range("b", 3, 6)])
    assert where == {"a": (2, 10), "b": [5]}


# ---------------------------------------------------------------- fit
def test_fit_names_the_rows_that_break_a_rule(hotel):
    df = hotel.copy()
    df.loc[[3, 7], "max_rate"] = -1.0
    with pytest.raises(ConstraintError, match=r"2 training row\(s\): \[3, 7\]") as info:
        TabularARGN(constraints=[Inequality("min_rate", "max_rate")], max_epochs=1).fit(df)
    assert info.value.rows == [3, 7]
    with pytest.raises(ConstraintError, match="numeric or datetime"):
        TabularARGN(constraints=[Range("city", 0, 1)], max_epochs=1, verbose=0).fit(hotel)


def test_fixed_combinations_are_learned(model):
    combos = {tuple(c) for c in model.constraints_[0].combinations}
    assert combos == {(k, v) for k, vs in CITIES.items() for v in vs}


# ---------------------------------------------------------------- generation
def test_every_sampled_row_satisfies_every_rule(model):
    out = model.sample(1500)
    assert broken(RULES, out) == 0
    assert out.attrs["constraint_redraws"] >= 0
    model.constraints_, saved = [], model.constraints_
    try:
        plain = model.sample(1500)
    finally:
        model.constraints_ = saved
    assert broken(RULES[:-1], plain) > 0  # the model alone breaks them


def test_rules_hold_with_conditions_where_and_rebalance(model):
    given = pd.DataFrame(
        {
            "city": ["Paris", None, "Rome"] * 100,
            "checkout": [pd.Timestamp("2024-03-01"), None, pd.Timestamp("2024-02-10")] * 100,
            "min_rate": [None, 250.0, None] * 100,
        }
    )
    out = model.sample(conditions=given, where={"age": (30, 40), "fees": (None, 20.0)})
    assert broken(RULES, out) == 0
    assert out["age"].between(30, 40).all() and (out["fees"] <= 20).all()
    assert (out.loc[given["city"].notna(), "city"] == given["city"].dropna()).all()
    assert (out["max_rate"][1::3] >= 250).all()
    rebalance = {"country": {"IT": 0.8, "FR": 0.2}}
    out = model.sample(300, rebalance=rebalance, where={"city": ["Rome", "Paris"]})
    assert broken(RULES, out) == 0 and set(out["city"]) <= {"Rome", "Paris"}
    assert (out["country"] == "IT").mean() > 0.6
    with pytest.raises(ConstraintError, match="no allowed combination"):  # DE has no such city
        model.sample(300, rebalance={"country": {"DE": 1.0}}, where={"city": ["Rome", "Paris"]})


def test_range_is_intersected_with_where(model):
    out = model.sample(300, where={"age": (10, 30)})
    assert out["age"].between(25, 30).all()


def test_imputation_respects_the_rules(model, hotel):
    X = hotel.head(200).copy()
    X.loc[::2, ["city", "checkout", "total"]] = None
    X.loc[1::2, ["max_rate", "min_rate"]] = None
    out = model.impute(X)
    assert broken(RULES, out) == 0
    assert (out.loc[1::2, "country"] == X.loc[1::2, "country"]).all()


def test_conditions_that_break_a_rule_raise(model):
    bad = pd.DataFrame({"country": ["FR", "IT"], "city": ["Rome", "Rome"]})
    with pytest.raises(ConstraintError, match=r"1 row\(s\): \[0\]"):
        model.sample(conditions=bad)


def test_sum_with_a_constant_total():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 60, 600)
    df = pd.DataFrame({"a": a, "b": 100 - a, "c": rng.choice(["x", "y"], 600)})
    m = TabularARGN(constraints=[Sum(["a", "b"], 100)], max_epochs=2, model_size="small")
    out = m.set_params(verbose=0, random_state=0).fit(df).sample(500)
    assert ((out["a"] + out["b"]) == 100).all()


# ---------------------------------------------------------------- persistence
def test_constraints_are_saved_and_predicates_come_back_by_name(model, tmp_path):
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert [r["kind"] for r in config["constraints"]] == [r.kind for r in RULES]
    back = TabularARGN.load(tmp_path / "m", predicates={"short_stay": short_stay})
    assert broken(RULES, back.sample(300)) == 0
    blind = TabularARGN.load(tmp_path / "m")
    with pytest.raises(ConstraintError, match="without its function"):
        blind.sample(10)
    even = TabularARGN.load(tmp_path / "m", predicates={"short_stay": lambda d: d.age % 2 == 0})
    out = even.sample(300)  # about half the rows fail at first: drawn again with their rules
    assert (out["age"] % 2 == 0).all() and out.attrs["constraint_redraws"] > 50
    assert broken(RULES[:-1], out) == 0
    never = TabularARGN.load(tmp_path / "m", predicates={"short_stay": lambda d: d.nights < 0})
    with pytest.raises(ConstraintError, match="after 20 draws"):
        never.sample(5)


def test_sequential_models_check_their_rules_at_fit(hotel):
    """Sequential models take rules (tests/test_sequential_constraints.py); the events are
    checked before training, naming the rows."""
    df = hotel.assign(key=np.arange(len(hotel)) // 3)
    with pytest.raises(ConstraintError, match="training row") as err:
        TabularARGN(constraints=[Range("age", 30, 99)], max_epochs=1).fit(df, entity_key="key")
    assert err.value.rows == list(df.index[df["age"] < 30])


# ---------------------------------------------------------------- fairness
def test_fairness_gives_statistical_parity(model, hotel):
    fairness = {"target": "suite", "sensitive": ["guest"]}
    assert parity_gap(hotel, "suite", ["guest"])["guest"] > 0.3
    out = model.sample(2000, fairness=fairness)
    assert parity_gap(out, "suite", ["guest"])["guest"] < 0.01
    assert broken(RULES, out) == 0
    with pytest.raises(ConditionError, match="categorical target"):
        model.sample(10, fairness={"target": "age", "sensitive": ["guest"]})
    with pytest.raises(ConditionError):
        model.sample(
            10, fairness={"target": "suite", "sensitive": ["guest"]}, where={"suite": ["y"]}
        )


def test_evaluate_section_reports_violations_and_gaps(hotel):
    report = Report()
    synth = hotel.copy()
    synth.loc[:9, "max_rate"] = -1.0
    add_constraints_section(
        report,
        hotel,
        synth,
        constraints=RULES[1:3],
        fairness={"target": "suite", "sensitive": "guest"},
    )
    s = report.summary()
    assert s["constraint_violation_share"] == pytest.approx(10 / len(hotel))
    assert s["constraint_violation_share_real"] == 0
    assert s["parity_gap_guest"] == pytest.approx(s["parity_gap_guest_real"])


# ---------------------------------------------------------------- command line
def test_cli_rules_file_for_fit_and_sample(hotel, tmp_path):
    from typer.testing import CliRunner

    from tabargn.cli import app
    from tabargn.table_files import read_rules

    data = tmp_path / "hotel.parquet"
    hotel.drop(columns=["checkin", "checkout"]).head(600).to_parquet(data)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "constraints:\n"
        "  - {kind: fixed_combinations, columns: [country, city]}\n"
        "  - {kind: inequality, low: min_rate, high: max_rate}\n"
        "fairness: {target: suite, sensitive: [guest]}\n"
    )
    constraints, fairness = read_rules(rules)
    assert constraints[1] == Inequality("min_rate", "max_rate") and fairness["target"] == "suite"
    runner = CliRunner()
    quick = ["--max-epochs", "1", "--model-size", "small", "--quiet"]
    fitted = runner.invoke(
        app, ["fit", str(data), "-o", str(tmp_path / "m"), "--rules", str(rules), *quick]
    )
    assert fitted.exit_code == 0, fitted.output
    out = tmp_path / "syn.parquet"
    args = ["sample", str(tmp_path / "m"), "-n", "400", "-o", str(out), "--rules", str(rules), "-q"]
    assert runner.invoke(app, args).exit_code == 0
    syn = pd.read_parquet(out)
    assert broken(constraints, syn) == 0
    assert parity_gap(syn, "suite", ["guest"])["guest"] < 0.02
    bad = tmp_path / "bad.json"
    bad.write_text('[{"kind": "nope"}]')
    result = runner.invoke(app, ["fit", str(data), "-o", str(tmp_path / "x"), "--rules", str(bad)])
    assert result.exit_code == 2 and "ConstraintError" in result.output
