"""Tests of the guidance weight fitted on the validation split (:mod:`llm_text.offline_guidance`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from llm_text import TextColumnModel
from llm_text.curation import FOLDS
from llm_text.offline_guidance import (
    GUIDANCE_GRID,
    GUIDANCE_TEXTS,
    LOWER_GRID,
    agreement,
    context_probes,
    fit_guidance,
    guidance_rows,
    read_until_decided,
    real_agreement,
)

from .test_text_calibration import tiny

torch.set_num_threads(1)


def animal_rows(n: int, seed: int = 0) -> tuple[pd.Series, pd.DataFrame]:
    """Texts that name the row's animal 80 % of the time; a colour column they do not reveal."""
    rng = np.random.default_rng(seed)
    animal = rng.choice(["cat", "dog"], size=n)
    colour = rng.choice(["red", "blue", "green"], size=n)
    say = np.where(rng.random(n) < 0.8, animal, np.where(animal == "cat", "dog", "cat"))
    words = {"cat": "the cat purrs softly", "dog": "the dog barks loudly"}
    texts = pd.Series([f"{words[a]} near tree {rng.integers(1000)}" for a in say])
    tags = [[int(i)] for i in range(n)]  # unhashable cells: never probed
    return texts, pd.DataFrame({"animal": animal, "colour": colour, "tags": tags})


def test_probes_read_only_the_columns_the_text_reveals():
    texts, context = animal_rows(600)
    probes = context_probes(texts, context, random_state=0)
    assert [p.column for p in probes] == ["animal"]  # colour is noise, tags unhashable
    assert 0.7 < probes[0].accuracy_ <= 0.9
    fresh_texts, fresh_context = animal_rows(600, seed=1)  # texts no fold has learned from
    assert abs(agreement(probes, fresh_texts, fresh_context) - 0.8) < 0.1


def test_real_agreement_pools_the_probes_out_of_fold_texts():
    texts, context = animal_rows(800)
    probes = context_probes(texts.iloc[:400], context.iloc[:400], random_state=0)
    probe = probes[0]
    # cross-fitted: every one of its 400 training texts is read by a model that did not learn it
    assert probe.n_held_ == 400 and len(probe.models) == FOLDS
    val_texts, val_context = texts.iloc[400:], context.iloc[400:].reset_index(drop=True)
    on_val = agreement(probes, val_texts, val_context)
    pooled = real_agreement(probes, val_texts, val_context)
    assert pooled == pytest.approx((probe.accuracy_ * 400 + on_val * 400) / 800)
    assert min(on_val, probe.accuracy_) <= pooled <= max(on_val, probe.accuracy_)
    # no validation text: the out-of-fold accuracy alone
    missing = pd.Series([np.nan] * len(val_context))
    assert real_agreement(probes, missing, val_context) == pytest.approx(probe.accuracy_)
    # generated texts are read by every fold's model: a text's agreement is a share of FOLDS
    shares = probe.agree(val_texts.tolist()[:50], val_context.animal.tolist()[:50])
    assert set(np.round(shares * FOLDS, 6)) <= set(range(FOLDS + 1))


def naming(context: pd.DataFrame, share: float) -> list[str]:
    """Texts naming the row's animal for the first ``share`` of the rows, the other animal after."""
    named = np.where(
        np.arange(len(context)) < share * len(context),
        context.animal,
        np.where(context.animal == "cat", "dog", "cat"),
    )
    return [f"the {a} sleeps" for a in named]


def test_fit_guidance_walks_up_to_the_real_agreement():
    texts, context = animal_rows(600)
    probes = context_probes(texts.iloc[:400], context.iloc[:400], random_state=0)
    val_texts, val_context = texts.iloc[400:], context.iloc[400:].reset_index(drop=True)
    rows = context.iloc[:300]  # the rows the texts are generated for (training rows too)
    calls = []

    def sample(weight: float, part: slice) -> list[str]:
        # texts that name the row's animal more often as the weight grows (0.625 at 1.5)
        calls.append(weight)
        return naming(rows.iloc[part], min(0.55 + 0.15 * (weight - 1.0), 1.0))

    weight, trace = fit_guidance(sample, probes, val_texts, val_context, rows, default=1.5)
    real = trace[0][1]
    assert 0.7 < real < 0.9 and trace[0][0] == 0.0
    assert 2.5 <= weight <= 3.0  # 0.55 + 0.15 (w - 1) meets ~0.8 near 2.7
    assert calls == list(GUIDANCE_GRID[: len(calls)])  # upwards from the default ...
    assert trace[-1][1] >= real and trace[-2][1] < real  # ... stopping once past the real texts
    low, high = trace[-2][0], trace[-1][0]
    assert low <= weight <= high and round(weight * 20) == weight * 20  # interpolated, to 0.05
    # texts that never agree enough: the weight of the highest agreement
    flat = {1.5: 0.5, 2.0: 0.6, 2.5: 0.7, 3.0: 0.65, 3.5: 0.6, 4.0: 0.6}
    weight, trace = fit_guidance(
        lambda w, part: naming(rows.iloc[part], flat[w]), probes, val_texts, val_context, rows, 1.5
    )
    assert weight == 2.5 and [t[0] for t in trace[1:]] == list(GUIDANCE_GRID)
    assert all(t[2] == len(rows) for t in trace[1:])  # one chunk (300 rows < GUIDANCE_CHUNK)
    # no probe, or too few real texts: the default weight, nothing sampled
    calls.clear()
    assert fit_guidance(sample, [], val_texts, val_context, rows, default=1.7) == (1.7, [])
    few = val_texts.where(np.arange(len(val_texts)) < 10)
    assert fit_guidance(sample, probes, few, val_context, rows, default=1.7) == (1.7, [])
    assert calls == []


def test_fit_guidance_walks_down_when_the_default_overshoots():
    texts, context = animal_rows(600)
    probes = context_probes(texts.iloc[:400], context.iloc[:400], random_state=0)
    val_texts, val_context = texts.iloc[400:], context.iloc[400:].reset_index(drop=True)
    rows = context.iloc[:300]
    # every text names its animal at 1.5; 0.7 of them at 1.0 (the real texts: about 0.8)
    weight, trace = fit_guidance(
        lambda w, part: naming(rows.iloc[part], 0.7 + 0.6 * (w - 1.0)),
        probes,
        val_texts,
        val_context,
        rows,
        1.5,
    )
    real = trace[0][1]
    assert [t[0] for t in trace[1:]] == [GUIDANCE_GRID[0], *LOWER_GRID][: len(trace) - 1]
    assert trace[-1][1] <= real < trace[-2][1]  # stopped once at or below the real texts
    assert trace[-1][0] <= weight <= trace[-2][0] and round(weight * 20) == weight * 20
    expected = 1.0 + (real - 0.7) / 0.6  # where 0.7 + 0.6 (w - 1) meets the real agreement
    assert abs(weight - expected) <= 0.1
    # still past the real texts at 1.0: the conditional model alone
    weight, trace = fit_guidance(
        lambda w, part: naming(rows.iloc[part], 1.0), probes, val_texts, val_context, rows, 1.5
    )
    assert weight == LOWER_GRID[-1] == 1.0 and len(trace) == 2 + len(LOWER_GRID)


def test_guidance_rows_draws_distinct_rows_with_a_text():
    has_text = np.arange(3000) % 3 != 0  # 2,000 rows with a text
    pick = guidance_rows(has_text, seed=0, count=1200)
    assert len(pick) == 1200 == len(set(pick.tolist())) and has_text[pick].all()
    assert np.array_equal(pick, guidance_rows(has_text, seed=0, count=1200))  # seeded
    assert not np.array_equal(pick, guidance_rows(has_text, seed=1, count=1200))
    few = guidance_rows(has_text[:600], seed=0, count=1200)  # 400 rows with a text: 3 draws each
    assert len(few) == 1200 and len(set(few.tolist())) == 400 and has_text[few].all()
    assert np.array_equal(few[:400], few[400:800])
    assert len(guidance_rows(np.zeros(10, bool), seed=0)) == 0
    assert len(guidance_rows(has_text, seed=0)) == 2000 * (GUIDANCE_TEXTS // 2000)  # whole draws


def test_a_reading_grows_only_near_the_real_agreement():
    texts, context = animal_rows(600)
    probes = context_probes(texts.iloc[:400], context.iloc[:400], random_state=0)
    rows = context.iloc[:400].reset_index(drop=True)
    parts = []

    def sample(share: float):
        def part_texts(part: slice) -> list[str]:
            parts.append(part)
            return naming(rows.iloc[part], share)

        return part_texts

    # every text names its animal: far above a target of 0.8, decided on the first 100 texts
    share, n = read_until_decided(sample(1.0), probes, rows, target=0.8, chunk=100)
    assert share > 0.95 and n == 100 and parts == [slice(0, 100)]
    # texts agreeing about as often as the target: every chunk is read, in order
    parts.clear()
    share, n = read_until_decided(sample(0.8), probes, rows, target=0.8, chunk=150)
    assert parts == [slice(0, 150), slice(150, 300), slice(300, 400)] and n == 400
    assert abs(share - 0.8) < 0.1
    # a fit's reading: one chunk far from the real texts, more near them (in the trace)
    weight, trace = fit_guidance(
        lambda w, part: naming(rows.iloc[part], 0.7 + 0.6 * (w - 1.0)),
        probes,
        texts.iloc[400:],
        context.iloc[400:].reset_index(drop=True),
        rows,
        1.5,
        chunk=100,
    )
    assert trace[1][2] == 100  # 1.5: every text names its animal, decided at once
    assert trace[-1][2] > 100  # the last weight, near the real texts: more than one chunk


def test_the_fitted_weight_is_saved_and_used(tmp_path):
    texts, context = animal_rows(400)
    m = TextColumnModel(
        random_state=0, memorization_guard=False, **tiny(max_epochs=3, val_fraction=0.25)
    )
    m.fit(texts, context[["animal", "colour"]])
    gen = m.text_generator
    assert gen.params["guidance"] is None
    info = gen.fit_info
    assert info["guidance"] == gen.guidance == gen.calibration.guidance
    assert LOWER_GRID[-1] <= info["guidance"] <= GUIDANCE_GRID[-1]
    assert len(info["guidance_trace"]) >= 2
    m.save(tmp_path / "m")
    again = TextColumnModel.load(tmp_path / "m")
    assert again.text_generator.guidance == gen.guidance
    query = context[["animal", "colour"]].iloc[:20]
    assert again.generate(query, random_state=0).equals(m.generate(query, random_state=0))
    # a fixed weight is used as given, and nothing is fitted
    fixed = TextColumnModel(random_state=0, memorization_guard=False, guidance=2.0, max_epochs=1)
    fixed.fit(texts, context[["animal"]])
    assert fixed.text_generator.guidance == 2.0
    assert fixed.text_generator.fit_info["guidance_trace"] == []
