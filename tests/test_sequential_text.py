"""Free-text event columns in sequential models (:mod:`tabargn.sequential.text`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tabargn import TabularARGN, evaluate
from tabargn.codec import TableCodec
from tabargn.schema import infer_schema
from tabargn.sequential.text import ENTITY, PREVIOUS, STEP, history_context

torch.set_num_threads(1)

DATA = Path("/work/shared/data")
if not DATA.exists():
    DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_TEXT = {
    "embedding_dim": 16,
    "hidden_dim": 32,
    "context_dim": 16,
    "vocab_size": 300,
    "max_epochs": 1,
    "max_length": 24,
}


def test_history_context_step_previous_and_entity():
    events = pd.DataFrame({"phase": ["a", "b", "c", "d", "e"], "n": [1.0, 2.0, 3.0, 4.0, 5.0]})
    codec = TableCodec.fit(
        events, infer_schema(events, None), value_protection=False, rng=np.random.default_rng(0)
    )
    entities = pd.DataFrame({"kind": ["x", "y"], "__tabargn_length": [3, 2]})
    ctx = history_context(events, np.array([0, 0, 0, 1, 1]), entities, codec)
    assert ctx[STEP].tolist() == [0, 1, 2, 0, 1]
    assert ctx[f"{PREVIOUS}phase"].isna().tolist() == [True, False, False, True, False]
    assert ctx[f"{PREVIOUS}phase"].iloc[2] == "b" and ctx[f"{PREVIOUS}n"].iloc[4] == 4.0
    assert ctx[f"{ENTITY}kind"].tolist() == ["x", "x", "x", "y", "y"]


def _faa_events(n_operators: int = 16, per_operator: int = 20) -> pd.DataFrame:
    path = DATA / "faa_bird_strikes.parquet"
    if not path.exists():
        pytest.skip(f"{path} not available")
    df = pd.read_parquet(path, columns=["opid", "date", "phase_of_flt", "height", "remarks"])
    top = df["opid"].value_counts().index[:n_operators]
    df = df[df["opid"].isin(top)].groupby("opid").head(per_operator)
    return df.reset_index(drop=True)


def test_sequential_text_fit_sample_save_load_evaluate(tmp_path):
    events = _faa_events()
    model = TabularARGN(
        model_size="small", max_epochs=1, random_state=0, text_options=TINY_TEXT
    ).fit(events, entity_key="opid", order_by="date")
    assert list(model.text_models_) == ["remarks"]
    ctx_cols = model.text_models_["remarks"].card_["fit"]["context_columns"]
    assert STEP in ctx_cols and f"{PREVIOUS}phase_of_flt" in ctx_cols
    syn = model.sample(n_entities=5)
    assert "remarks" in syn.columns and syn["remarks"].notna().any()
    assert syn["remarks"].dropna().map(lambda t: isinstance(t, str) and t.strip() != "").all()
    model.save(tmp_path / "m")
    again = TabularARGN.load(tmp_path / "m")
    model.restart_sampling()
    first = model.sample(n_entities=5)
    pd.testing.assert_frame_equal(again.sample(n_entities=5), first)
    # seed events keep their texts verbatim
    seed = events[events["opid"] == events["opid"].iloc[0]].head(2)
    continued = model.sample(seed_events=seed, n_entities=None)
    kept = continued[continued["opid"] == seed["opid"].iloc[0]]["remarks"].head(2)
    assert kept.tolist() == seed["remarks"].tolist()
    report = evaluate(
        events,
        syn,
        entity_key="opid",
        order_by="date",
        text_columns=["remarks"],
        text_consistency_column="phase_of_flt",
    )
    assert any(k.startswith("text_remarks_") for k in report.summary())
