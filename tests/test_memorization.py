"""Memorization guard of text columns: no rare training text comes out, verbatim or nearly.

The guard keeps salted hashes and MinHash signatures of the texts held by fewer than k rows
(never the texts); offending outputs are regenerated, then become missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llm_text import TextColumnModel
from llm_text.memorization import MemorizationGuard, normalize
from tests.conftest import shared_data

RARE = "the left engine ingested a red tailed hawk near runway 27 at dusk"
COMMON = "no damage reported"


def _guard() -> MemorizationGuard:
    texts = pd.Series([RARE, "another one off remark about a goose strike"] + [COMMON] * 10)
    return MemorizationGuard(5).fit(texts, np.random.default_rng(0))


def test_guard_flags_exact_and_near_copies_of_rare_texts_only():
    guard = _guard()
    near = RARE.replace("27", "29")
    flags = guard.offending([RARE, RARE.upper() + "  ", near, COMMON, "a new text", np.nan])
    assert flags.tolist() == [True, True, True, False, False, False]
    saved = repr(guard.get_config()).encode() + b"".join(
        a.tobytes() for a in guard.arrays().values()
    )
    assert RARE.encode() not in saved and b"goose" not in saved


def test_guard_regenerates_then_falls_back_to_missing():
    guard = _guard()
    texts, counts = guard.apply(
        [RARE, "fine", COMMON], lambda rows, rnd: ["fresh text"] * len(rows)
    )
    assert texts == ["fresh text", "fine", COMMON] and counts["offending"] == 1
    stuck, counts = guard.apply([RARE], lambda rows, rnd: [RARE] * len(rows))
    assert pd.isna(stuck[0]) and counts["replaced_by_missing"] == 1


def test_faa_remarks_no_rare_training_remark_in_output(tmp_path):
    cols = ["phase_of_flt", "time_of_day", "sky", "effect"]
    df = shared_data("faa_bird_strikes")[[*cols, "remarks"]]
    df = df.sample(n=2000, random_state=0).reset_index(drop=True)
    # rarity as the guard sees it: texts equal up to case and spacing are one text
    held = df["remarks"].dropna().map(normalize).value_counts()
    rare = {t for t in df["remarks"].dropna() if held[normalize(t)] < 5}
    model = TextColumnModel(
        max_length=24,
        random_state=0,
        max_epochs=1,
        vocab_size=400,
        embedding_dim=16,
        hidden_dim=32,
        context_dim=16,
    ).fit(df["remarks"], df[cols])
    out = model.generate(df[cols], random_state=1).dropna()
    assert len(out) > 1000
    assert out.isin(rare).mean() == 0.0
    assert out.map(normalize).isin(held[held < 5].index).mean() == 0.0
    assert model.guard_.offending(out.tolist()).sum() == 0
    # the saved folder holds hashes, not the rare remarks (long ones: short ones can be tokens)
    model.save(tmp_path / "m")
    blob = b"".join(p.read_bytes() for p in Path(tmp_path / "m").rglob("*") if p.is_file())
    assert not [t for t in rare if len(t) >= 20 and t.encode() in blob]
    loaded = TextColumnModel.load(tmp_path / "m")
    assert loaded.guard_.offending(sorted(rare)[:50]).all()
