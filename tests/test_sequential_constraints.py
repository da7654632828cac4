"""Constraints and fairness on sequential models (tabargn.sequential.rules), on real sequences:
baseball seasons per player (../shared/data), a small subset and few epochs to stay fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tabargn import TabularARGN
from tabargn.constraints import (
    FixedCombinations,
    Inequality,
    Predicate,
    Range,
    Sum,
    parity_gap,
    satisfied,
)
from tabargn.errors import ConditionError, ConstraintError

from .conftest import shared_data


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: small tensors on a shared 2-core machine (see test_sequential)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def extra_base_hits_within_hits(d: pd.DataFrame):
    return (d["X2b"] + d["X3b"] + d["hr"] <= d["h"]).to_numpy()


EVENT_RULES = [
    FixedCombinations(["team", "lg"]),  # a team with its own league
    Inequality("h", "ab"),  # hits never exceed at-bats
    Range("g", 0, 165),
    Sum(["X2b", "X3b", "hr"], "xbh"),  # extra-base hits, the sum of their kinds
    Predicate(extra_base_hits_within_hits, ["X2b", "X3b", "hr", "h"], name="xbh_le_h"),
]
CONTEXT_RULES = [
    FixedCombinations(["team0", "lg0"]),  # the debut team with its league
    Inequality("debut", "final"),
]


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """160 players' seasons (with ``xbh``, extra-base hits) and a context row per player."""
    df = shared_data("baseball")
    ids = df["id"].drop_duplicates().sample(n=160, random_state=3)
    events = df[df["id"].isin(ids)]
    events = events[["id", "year", "team", "lg", "g", "ab", "h", "X2b", "X3b", "hr", "rbi"]]
    events = events.reset_index(drop=True)
    events["xbh"] = events["X2b"] + events["X3b"] + events["hr"]
    first = events.groupby("id").agg(
        team0=("team", "first"), lg0=("lg", "first"), debut=("year", "min"), final=("year", "max")
    )
    context = first.reset_index()
    context["era"] = np.where(context["debut"] < 1965, "early", "late")
    return events, context


@pytest.fixture(scope="module")
def model(tables):
    events, context = tables
    return TabularARGN(
        random_state=0,
        max_epochs=6,
        model_size="small",
        verbose=0,
        constraints=EVENT_RULES + CONTEXT_RULES,
    ).fit(events, entity_key="id", order_by="year", context=context)


def _check_each(rules, frame: pd.DataFrame) -> None:
    for rule in rules:
        assert rule.satisfied(frame).all(), rule


def test_every_generated_event_and_context_row_satisfies_every_rule(model):
    seq = model.sequential_
    assert model.constraints_ == seq.entity_model.constraints + seq.constraints
    assert [r.kind for r in seq.constraints] == [r.kind for r in EVENT_RULES]
    assert [r.kind for r in seq.entity_model.constraints] == [r.kind for r in CONTEXT_RULES]
    context, events = model.sample(n_entities=80)
    assert len(events) > 400
    _check_each(model.sequential_.constraints, events)
    _check_each(model.sequential_.entity_model.constraints, context)
    # the learned combinations are those of training (after value protection)
    combos = {tuple(c) for c in model.sequential_.constraints[0].combinations}
    assert set(map(tuple, events[["team", "lg"]].dropna().to_numpy())) <= combos


def test_rules_hold_with_given_context_seed_events_and_where(model, tables):
    events, context = tables
    some = context.iloc[:24]
    out = model.sample(context=some)
    _check_each(model.sequential_.constraints, out)
    # seeds whose team and league survived value protection (others break FixedCombinations)
    seeds = events[events["id"].isin(some["id"])].groupby("id").head(2).reset_index(drop=True)
    ok = satisfied(model.sequential_.constraints, seeds)
    seeds = seeds[seeds["id"].isin(set(seeds["id"]) - set(seeds["id"][~ok]))]
    seeds = seeds.reset_index(drop=True)
    assert seeds["id"].nunique() >= 8
    done = model.sample(context=some, seed_events=seeds)
    _check_each(model.sequential_.constraints, done)
    firsts = done[done["id"].isin(seeds["id"])].groupby("id").head(2).reset_index(drop=True)
    pd.testing.assert_frame_equal(firsts, seeds.sort_values(["id", "year"], ignore_index=True))
    ctx, ev = model.sample(n_entities=40, where={"era": ["late"]})
    assert (ctx["era"] == "late").all()
    _check_each(model.sequential_.constraints, ev)
    _check_each(model.sequential_.entity_model.constraints, ctx)


def test_built_in_rules_need_no_redraw(model, tmp_path):
    """With the Predicate always met, every rule is held by the masks: no event drawn again."""
    model.save(tmp_path / "m")
    loaded = TabularARGN.load(tmp_path / "m", predicates={"xbh_le_h": lambda d: np.ones(len(d))})
    _, events = loaded.sample(n_entities=80)
    assert events.attrs["constraint_redraws"] == 0
    _check_each(loaded.sequential_.constraints[:4], events)


def test_save_load_keeps_the_rules(model, tmp_path):
    model.save(tmp_path / "m")
    fns = {"xbh_le_h": extra_base_hits_within_hits}
    loaded = TabularARGN.load(tmp_path / "m", predicates=fns)
    assert loaded.constraints_ == model.constraints_
    assert loaded.sequential_.constraints == model.sequential_.constraints
    assert loaded.sequential_.entity_model.constraints == model.sequential_.entity_model.constraints
    model.restart_sampling()
    a = model.sample(n_entities=40)
    b = loaded.sample(n_entities=40)
    pd.testing.assert_frame_equal(a[1], b[1])
    pd.testing.assert_frame_equal(a[0], b[0])
    without = TabularARGN.load(tmp_path / "m")
    with pytest.raises(ConstraintError, match="xbh_le_h"):
        without.sample(n_entities=5)


def test_a_predicate_that_cannot_be_met_raises_after_its_tries(model, tmp_path):
    model.save(tmp_path / "m")
    never = TabularARGN.load(tmp_path / "m", predicates={"xbh_le_h": lambda d: np.zeros(len(d))})
    with pytest.raises(ConstraintError, match="after 20 draws") as err:
        never.sample(n_entities=4)
    assert err.value.rows


def test_rules_the_training_tables_break_raise_naming_the_rows(tables):
    events, context = tables
    fit = dict(entity_key="id", order_by="year", context=context)

    def build(rules):
        return TabularARGN(max_epochs=1, verbose=0, constraints=rules)

    with pytest.raises(ConstraintError, match="training row") as err:
        build([Inequality("ab", "h", strict=True)]).fit(events, **fit)
    bad = events.index[~(events["ab"] < events["h"])]
    assert err.value.rows == list(bad)
    with pytest.raises(ConstraintError, match="of the training context") as err:
        build([Inequality("final", "debut", strict=True)]).fit(events, **fit)
    assert err.value.rows == list(context.index[~(context["final"] < context["debut"])])
    with pytest.raises(ConstraintError, match="within one table"):
        build([Inequality("debut", "g")]).fit(events, **fit)
    with pytest.raises(ConstraintError, match="order column"):
        build([Range("year", 1800, 2020)]).fit(events, **fit)
    with pytest.raises(ConstraintError, match="neither"):
        build([Range("nope", 0, 1)]).fit(events, **fit)


def test_seed_events_that_break_a_rule_raise(model, tables):
    events, context = tables
    seeds = events.iloc[:3].copy()
    seeds.loc[1, "h"] = seeds.loc[1, "ab"] + 1
    some = context[context["id"].isin(seeds["id"])]
    with pytest.raises(ConstraintError, match="seed_events") as err:
        model.sample(context=some, seed_events=seeds)
    assert err.value.rows == [1]


def test_fairness_on_context_columns_and_a_clear_error_elsewhere(model, tables):
    _, context = tables
    ctx, events = model.sample(n_entities=240, fairness={"target": "lg0", "sensitive": ["era"]})
    assert parity_gap(ctx, "lg0", ["era"])["era"] <= 0.02
    assert satisfied(model.sequential_.entity_model.constraints, ctx).all()
    assert set(events["id"]) <= set(ctx["id"])
    with pytest.raises(ConditionError, match="history"):
        model.sample(n_entities=10, fairness={"target": "lg", "sensitive": ["era"]})
    with pytest.raises(ConditionError, match="given context"):
        model.sample(context=context.iloc[:5], fairness={"target": "lg0", "sensitive": "era"})
