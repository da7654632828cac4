"""Value protection end to end: no training value of a rare column leaves the model.

A unique-per-row e-mail column and a column of rare codes (every code held by 2 rows) must not
show a single training value in samples, in ``impute`` output, or anywhere in the saved model
folder (its bytes are searched). Sequential tables count entities, not events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabargn import TabularARGN
from tabargn.encoding import categorical
from tabargn.sequential.prepare import fit_event_codec

N = 300


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))

    def word(n: int) -> str:
        return "".join(rng.choice(letters, n))

    emails = [f"{word(5)}.{word(8)}@{word(6)}.org" for _ in range(N)]
    codes = [f"Z{int(c):05d}" for c in rng.choice(100_000, N // 2, replace=False)] * 2
    return pd.DataFrame(
        {
            "email": emails,
            "code": codes,
            "group": rng.choice(["x", "y", "z"], N),
            "amount": rng.normal(100, 10, N).round(2),
        }
    )


@pytest.fixture(scope="module")
def fitted():
    df = _frame()
    model = TabularARGN(
        random_state=0, max_epochs=2, model_size="small", verbose=0, rare_placeholder="<hidden>"
    )
    return df, model.fit(df)


def _training_values(df: pd.DataFrame) -> set:
    return set(df["email"]) | set(df["code"])


def test_samples_and_imputation_hold_no_rare_training_value(fitted):
    df, model = fitted
    secret = _training_values(df)
    out = model.sample(500)
    assert not (set(out["email"]) | set(out["code"])) & secret
    assert set(out["code"]) == {"<hidden>"}  # rare codes: the placeholder
    assert out["email"].str.fullmatch(r"[a-z]{5}\.[a-z]{8}@[a-z]{6}\.[a-z]{3}").all()  # keys
    holes = df.copy()
    holes.loc[:, ["email", "code"]] = None
    filled = model.impute(holes)
    assert filled[["email", "code"]].notna().all().all()
    assert not (set(filled["email"]) | set(filled["code"])) & secret


def test_saved_model_folder_holds_no_rare_training_value(fitted, tmp_path):
    df, model = fitted
    model.save(tmp_path / "m")
    blob = b"".join(p.read_bytes() for p in sorted(Path(tmp_path / "m").rglob("*")) if p.is_file())
    found = [v for v in _training_values(df) if v.encode() in blob]
    assert found == []


def test_numeric_column_of_few_values_yields_no_real_value():
    df = pd.DataFrame({"g": ["a", "b"] * 50, "salary": [np.nan] * 97 + [1.0e6, 2.0e6, 3.0e6]})
    model = TabularARGN(random_state=0, max_epochs=1, model_size="small", verbose=0).fit(df)
    out = model.sample(200)
    assert out["salary"].isna().all()


def test_sequential_rare_values_count_entities_not_events():
    # "vip" is held by 3 entities with 20 events each: 60 events, but only 3 entities
    n_ent = 40
    entity = np.repeat(np.arange(n_ent), 20)
    status = np.where(entity < 3, "vip", np.where(entity % 2 == 0, "a", "b"))
    amount = np.where(entity < 3, 7.0, (entity % 4).astype(float))
    events = pd.DataFrame({"status": status, "amount": amount})
    codec = fit_event_codec(
        events, entity, None, value_protection=True, rng=np.random.default_rng(0)
    )
    assert "vip" not in codec.stats["status"]["categories"]
    amount_stats = codec.stats["amount"]
    assert 7.0 not in amount_stats.get("values", []) and amount_stats["max"] < 7.0


def test_text_context_is_the_protected_frame(fitted):
    from llm_text.context import ContextEncoder

    df, model = fitted
    ctx = model.codec_.protected_frame(df)
    assert ctx["code"].isna().all() and ctx["email"].isna().all()
    assert ctx["group"].equals(df["group"].astype(object))
    enc = ContextEncoder().fit(pd.DataFrame({"c": ["a"] * 10 + ["rare"] * 2}))
    assert enc.columns[0].categories == ["a"]


def test_predict_proba_of_a_column_with_no_kept_value_is_the_placeholder(fitted):
    df, model = fitted
    proba = model.predict_proba(df.head(3).drop(columns="code"), "code")
    assert list(proba.columns) == ["<hidden>"] and (proba["<hidden>"] == 1.0).all()


def test_mostly_rare_identifier_column_decodes_to_keys_not_piled_kept_values():
    # 600 rows: 3 ids common enough to keep (100 rows each), 300 ids held by one row each
    rng = np.random.default_rng(3)
    common = ["ABC100000", "ABC100001", "ABC100002"]
    letters = zip("QWERTYUIOP" * 30, "ZXCVBNMLKJ" * 30, "ASDFGHJKLM" * 30, strict=True)
    rare = [f"{a}{b}{c}{n:06d}" for (a, b, c), n in zip(letters, range(300), strict=True)]
    values = pd.Series(common * 100 + rare)
    partial = categorical.analyze(values)
    stats = categorical.reduce([partial], value_protection=True, rng=np.random.default_rng(0))
    assert set(stats["categories"]) == set(common) and stats["fallback"]["kind"] == "key"
    out = categorical.decode(categorical.encode(values, stats), stats, rng)
    assert not set(out) & set(rare)  # no removed training value comes back
    assert out.isin(common).mean() == pytest.approx(0.5)  # kept rows stay, rare rows are new keys
    assert out[~out.isin(common)].str.fullmatch(r"[A-Z]{3}\d{6}").all()
    # a column with a small removed share keeps resampling kept values (no key fallback)
    few = pd.Series(common * 100 + rare[:20])
    stats = categorical.reduce(
        [categorical.analyze(few)], value_protection=True, rng=np.random.default_rng(0)
    )
    assert "fallback" not in stats
    assert categorical.decode(categorical.encode(few, stats), stats, rng).isin(common).all()


def test_mostly_rare_column_without_a_safe_key_shape_decodes_to_the_placeholder():
    common = ["N100AA", "N100AB"]
    rare = [f"N{n:03d}ZZ" for n in range(300)]  # key space too small for a safe shape
    values = pd.Series(common * 100 + rare)
    stats = categorical.reduce(
        [categorical.analyze(values)],
        value_protection=True,
        rng=np.random.default_rng(0),
        placeholder="<hidden>",
    )
    assert stats["fallback"] == {"kind": "placeholder", "value": "<hidden>"}
    out = categorical.decode(categorical.encode(values, stats), stats, np.random.default_rng(1))
    assert set(out) == set(common) | {"<hidden>"}
    assert (out == "<hidden>").mean() == pytest.approx(0.6)
