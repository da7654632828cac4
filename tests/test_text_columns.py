"""TabularARGN with free-text columns (llm_text integration) on FAA bird strikes ``remarks``.

Small settings (a few hundred rows, 1-2 epochs, a tiny text model): these tests check the
plumbing (fit, conditioning, conditions, imputation, save/load, CLI, evaluation), not quality.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tabargn import TabularARGN
from tabargn.errors import InvalidDataError, ModelFileError
from tests.conftest import shared_data

COLUMNS = ["phase_of_flt", "ac_mass", "height", "time_of_day", "effect", "sky", "remarks"]
TINY_TEXT = {
    "max_length": 24,
    "max_epochs": 1,
    "vocab_size": 300,
    "embedding_dim": 16,
    "hidden_dim": 32,
    "context_dim": 16,
}


@pytest.fixture(scope="module")
def faa() -> pd.DataFrame:
    df = shared_data("faa_bird_strikes")[COLUMNS]
    return df.sample(n=500, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def model(faa) -> TabularARGN:
    return TabularARGN(
        model_size="small",
        max_epochs=2,
        batch_size=128,
        random_state=0,
        verbose=0,
        text_options=TINY_TEXT,
    ).fit(faa.iloc[:400])


def test_text_column_detected_and_sampled(model, faa):
    assert list(model.text_models_) == ["remarks"]
    assert "remarks" not in model.modelled_columns
    assert model.training_["text_columns"] == ["remarks"]
    card = model.text_models_["remarks"].card_
    assert card["fit"]["context_columns"] == [c for c in COLUMNS if c != "remarks"]
    out = model.sample(60)
    assert list(out.columns) == COLUMNS
    assert (out.dtypes == faa.dtypes).all()
    texts = out["remarks"].dropna()
    assert len(texts) > 30  # ~15 % of real remarks are missing
    assert all(isinstance(t, str) and t.strip() for t in texts)


def test_texts_are_generated_from_their_synthetic_rows(model, monkeypatch):
    text_model = model.text_models_["remarks"]
    seen = {}
    original = text_model.generate

    def spy(context, **kwargs):
        seen["context"], seen["kwargs"] = context.copy(), kwargs
        return original(context, **kwargs)

    monkeypatch.setattr(text_model, "generate", spy)
    out = model.sample(25)
    ctx = seen["context"]
    assert list(ctx.columns) == [c for c in COLUMNS if c != "remarks"]
    # the rows as value protection sees them, as in training
    protected = model.codec_.protected_frame(out[ctx.columns].reset_index(drop=True))
    pd.testing.assert_frame_equal(ctx, protected)
    # rows drawn freely get the training missing rate; conditioned rows keep their own
    assert seen["kwargs"]["match_missing_rate"] is True
    model.sample(conditions=pd.DataFrame({"phase_of_flt": ["Climb"] * 5}))
    assert seen["kwargs"]["match_missing_rate"] is False
    model.sample(5, where={"phase_of_flt": ["Climb", "Approach"]})
    assert seen["kwargs"]["match_missing_rate"] is False


def test_texts_see_only_context_codes_they_trained_on(faa, monkeypatch):
    """A column value protection removes whole (an id: every value rare) is missing in the text
    model's training context; sampled rows (the rare placeholder) and imputed rows (the real
    ids) must reach the text model the same way, not as a code it never saw."""
    train = faa.iloc[:300].assign(ref=[f"r{i}" for i in range(300)])
    model = TabularARGN(
        model_size="small", max_epochs=1, random_state=0, verbose=0, text_options=TINY_TEXT
    ).fit(train)
    text_model = model.text_models_["remarks"]
    encoder = text_model.text_generator.encoder
    context = [c for c in train.columns if c != "remarks"]
    trained = encoder.transform(model.codec_.protected_frame(train[context]))
    assert set(trained[:, encoder.names.index("ref")]) == {0}  # missing: all removed
    seen = []
    original = text_model.generate

    def spy(ctx, **kwargs):
        seen.append(encoder.transform(ctx))
        return original(ctx, **kwargs)

    monkeypatch.setattr(text_model, "generate", spy)
    out = model.sample(40)
    assert (out["ref"] != "r0").all()  # rare ids never come out
    holes = train.iloc[:20].copy()
    holes["remarks"] = np.nan
    imputed = model.impute(holes)
    assert (imputed["ref"] == holes["ref"]).all() and imputed["remarks"].notna().all()
    assert len(seen) == 2
    for codes in seen:
        for j in range(codes.shape[1]):
            assert set(codes[:, j]) <= set(trained[:, j]), encoder.names[j]


def test_same_seed_same_texts_and_stream_advances(model, tmp_path):
    fresh = TabularARGN(**model.get_params())  # unfitted clone: parameters only
    assert fresh.text_options == TINY_TEXT
    path = model.save(tmp_path / "m")
    loaded = TabularARGN.load(path)  # the sampling stream restarts at load
    a = loaded.sample(30)
    b = loaded.sample(30)
    pd.testing.assert_frame_equal(TabularARGN.load(path).sample(30), a)
    assert not a["remarks"].equals(b["remarks"])


def test_text_conditions_are_copied_and_others_generated(model):
    cond = pd.DataFrame(
        {
            "remarks": ["BIRD HIT THE RADOME, NO DAMAGE.", None, "  exact  spacing kept "],
            "phase_of_flt": ["Climb", "Approach", None],
        }
    )
    out = model.sample(conditions=cond)
    assert out.loc[0, "remarks"] == "BIRD HIT THE RADOME, NO DAMAGE."
    assert out.loc[2, "remarks"] == "  exact  spacing kept "
    assert list(out["phase_of_flt"][:2]) == ["Climb", "Approach"]
    only_text = model.sample(conditions=pd.DataFrame({"remarks": ["ONE", "TWO"]}))
    assert list(only_text["remarks"]) == ["ONE", "TWO"]


def test_impute_fills_missing_texts_and_keeps_observed(model, faa):
    df = faa.iloc[400:420].copy().reset_index(drop=True)
    df.index = pd.RangeIndex(100, 120)
    observed = df["remarks"].copy()
    df.loc[100:109, "remarks"] = None
    df.loc[110:, "height"] = np.nan
    out = model.impute(df)
    assert out.index.equals(df.index)
    assert out["remarks"].notna().all()  # missing text cells get a text
    kept = df["remarks"].notna()
    assert out.loc[kept, "remarks"].equals(observed[kept])
    assert out["height"].notna().all()


def test_save_load_identical_output(model, tmp_path):
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "text" / "0" / "model.safetensors").exists()
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["text_models"] == {"remarks": "text/0"}
    first = TabularARGN.load(tmp_path / "m")
    second = TabularARGN.load(tmp_path / "m")
    second.sample(5)  # the stream of a loaded model restarts at load
    third = TabularARGN.load(tmp_path / "m")
    a = first.sample(40)
    pd.testing.assert_frame_equal(a, third.sample(40))
    pd.testing.assert_frame_equal(
        first.impute(pd.DataFrame({"remarks": [None, "KEEP"]})),
        third.impute(pd.DataFrame({"remarks": [None, "KEEP"]})),
    )
    assert a["remarks"].notna().any()


def test_missing_or_corrupt_text_part_raises(model, tmp_path):
    path = model.save(tmp_path / "m")
    (path / "text" / "0" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFileError, match="remarks"):
        TabularARGN.load(path)
    (path / "text" / "0" / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="remarks"):
        TabularARGN.load(path)
    shutil.rmtree(path / "text")
    with pytest.raises(ModelFileError, match="missing"):
        TabularARGN.load(path)


def test_encoding_types_control_text_and_bad_backend_fails_early(faa):
    small = faa.iloc[:60]
    with pytest.raises(InvalidDataError, match="text_backend"):
        TabularARGN(max_epochs=1, verbose=0, text_backend="gpt-9").fit(small)
    with pytest.raises(InvalidDataError, match="option"):
        TabularARGN(max_epochs=1, verbose=0, text_options={"no_such_option": 1}).fit(small)
    cat = TabularARGN(
        model_size="small", max_epochs=1, verbose=0, encoding_types={"remarks": "categorical"}
    ).fit(small[["phase_of_flt", "remarks"]])
    assert cat.text_models_ == {} and "remarks" in cat.modelled_columns


def test_cli_fit_sample_evaluate_with_text_column(faa, tmp_path):
    from tabargn.cli import app

    data = tmp_path / "faa.parquet"
    faa.iloc[:250][["phase_of_flt", "height", "remarks"]].to_parquet(data)
    runner = CliRunner()
    args = ["fit", str(data), "-o", str(tmp_path / "m"), "--max-epochs", "1", "--quiet"]
    args += ["--model-size", "small", "--text-column", "remarks"]
    for key, value in TINY_TEXT.items():
        args += ["--text-option", f"{key}={value}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["params"]["encoding_types"] == {"remarks": "text"}
    assert config["params"]["text_options"]["max_epochs"] == 1
    out_file = tmp_path / "syn.parquet"
    result = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "30", "-o", str(out_file)])
    assert result.exit_code == 0, result.output
    syn = pd.read_parquet(out_file)
    assert syn["remarks"].dropna().map(lambda t: isinstance(t, str) and len(t) > 0).all()
    assert syn["remarks"].notna().sum() > 10
    result = runner.invoke(
        app,
        ["evaluate", str(data), str(out_file), "--text-column", "remarks", "-q"]
        + ["--json", str(tmp_path / "s.json")],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert 0 <= summary["text_remarks_distinct_2"] <= 1
    bad = runner.invoke(app, ["fit", str(data), "-o", str(tmp_path / "x"), "--text-option", "x"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output


def test_evaluate_with_text_columns(model, faa, tmp_path):
    from tabargn import evaluate

    train, holdout = faa.iloc[:400], faa.iloc[400:]
    syn = model.sample(200)
    report = evaluate(
        train,
        syn,
        holdout,
        text_columns=["remarks"],
        text_consistency_column="phase_of_flt",
        neighbor_rows=200,
    )
    s = report.summary()
    for key in (
        "distinct_1",
        "distinct_2",
        "distinct_2_real",
        "length_accuracy",
        "length_accuracy_holdout",
        "novelty",
        "novelty_holdout",
        "ngram_overlap_3",
        "missing_rate_synthetic",
        "consistency",
        "consistency_real",
        "consistency_baseline",
    ):
        value = s[f"text_remarks_{key}"]
        assert value is not None and 0 <= value <= 1, key
    assert "remarks" in report.info["excluded_columns"]
    html = report.to_html(tmp_path / "r.html").read_text()
    assert "text: remarks" in html.lower() or "Text: remarks" in html
    assert "text_remarks_novelty" in html
    plain = evaluate(train, syn, text_columns=["remarks"], neighbor_rows=200).summary()
    assert plain["text_remarks_consistency"] is None
    assert plain["text_remarks_novelty_holdout"] is None
    with pytest.raises(InvalidDataError, match="consistency"):
        evaluate(train, syn, text_columns=["remarks"], text_consistency_column="nope")


def test_minhash_dedup_without_datasketch(monkeypatch):
    """A plain install (no optional ``datasketch``) still deduplicates, with the NumPy MinHash."""
    import sys

    from llm_text.curation import minhash_duplicates

    texts = [
        "bird struck the radome on approach no damage reported",
        "bird struck the radome on approach no damage reported.",
        "engine ingested a flock of geese during the take-off run",
        "windshield cracked by a large hawk at 2000 feet",
    ]
    monkeypatch.setitem(sys.modules, "datasketch", None)  # import now raises ImportError
    flags = minhash_duplicates(texts, threshold=0.7)
    assert flags.tolist() == [False, True, False, False]
