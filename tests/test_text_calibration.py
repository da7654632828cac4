"""Tests of the offline text model's length control and held-out calibration
(:mod:`llm_text.offline_calibration`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from llm_text import TextColumnModel
from llm_text.offline_calibration import Calibration, LengthBuckets, calibrate, text_lengths
from llm_text.offline_network import BOS, EOS, remaining_bucket

torch.set_num_threads(1)


def tiny(**kw) -> dict:
    opts = {
        "embedding_dim": 32,
        "hidden_dim": 64,
        "context_dim": 32,
        "vocab_size": 300,
        "max_epochs": 4,
        "batch_size": 32,
        "learning_rate": 1e-2,
    }
    opts.update(kw)
    return opts


def test_length_buckets_draw_inside_the_bucket():
    lengths = np.array([1, 1, 2, 3, 3, 3, 10, 11, 12, 30] * 10)
    buckets = LengthBuckets.fit(lengths, max_length=32)
    assert buckets.n_buckets >= 3
    gen = torch.Generator().manual_seed(0)
    # all mass on the bucket of length 10: every draw is a training length of that bucket
    k = int(buckets.bucket([10])[0])
    logits = torch.full((200, buckets.n_buckets), -1e4)
    logits[:, k] = 0.0
    drawn = buckets.draw(logits, 1.0, gen).numpy()
    assert set(drawn) <= {n for n in set(lengths) if buckets.bucket([n])[0] == k}
    assert LengthBuckets.from_dict(buckets.to_dict()).edges == buckets.edges
    assert text_lengths([[BOS, 5, 6, EOS], [BOS], [BOS, 5, 6, 7]], EOS).tolist() == [2, 0, 3]
    assert remaining_bucket(torch.tensor([-3, 0, 7, 8, 16, 10_000])).tolist()[:4] == [0, 0, 7, 8]


class _FakeHeads(nn.Module):
    """A network whose missing logit is three times too confident."""

    length_buckets = 0

    def context_vector(self, codes):
        return codes.float()

    def missing_logit(self, ctx):
        return 3.0 * ctx[:, 0] / 100.0


def test_platt_calibration_of_the_missing_head():
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    y = rng.random(4000) < 1 / (1 + np.exp(-x))  # true logit x; the fake head says 3x
    items = [
        ([BOS] if miss else [BOS, 5, EOS], np.array([int(v * 100)]))
        for v, miss in zip(x, y, strict=True)
    ]
    cal = calibrate(_FakeHeads(), items, None, EOS)
    assert abs(cal.missing_scale - 1 / 3) < 0.05 and abs(cal.missing_bias) < 0.1
    assert calibrate(_FakeHeads(), [], None, EOS).to_dict() == Calibration().to_dict()


def _short_and_long_model():
    """A text model on 600 rows: "short" rows have 2 words and 5 % missing, "long" 14 and 35 %."""
    rng = np.random.default_rng(0)
    n = 600
    kind = rng.choice(["short", "long"], size=n)
    words = ["wing", "engine", "bird", "damage", "none", "flock", "gull", "radome"]
    texts = [" ".join(rng.choice(words, size=2 if k == "short" else 14)) for k in kind]
    missing = rng.random(n) < np.where(kind == "short", 0.05, 0.35)
    series = pd.Series(
        [np.nan if m else t for m, t in zip(missing, texts, strict=True)], dtype=object
    )
    ctx = pd.DataFrame({"kind": kind})
    # nearly every text here is rare (2-14 random words): the memorization guard would turn
    # them missing, so it is off to test the calibration alone (tests/test_memorization.py)
    m = TextColumnModel(
        max_length=48, random_state=0, memorization_guard=False, **tiny(val_fraction=0.25)
    )
    return m.fit(series, ctx), series


def test_length_follows_the_row_and_missing_rate_is_calibrated(tmp_path):
    m, _ = _short_and_long_model()
    cal = m.text_generator.fit_info["calibration"]
    assert cal["missing_scale"] > 0 and cal["length_temperature"] > 0
    query = pd.DataFrame({"kind": ["short"] * 200 + ["long"] * 200})
    out = m.generate(query, random_state=0)
    length = out.str.split().str.len()
    short, long = length[:200].mean(), length[200:].mean()
    assert short < 4 and 10 < long < 18, (short, long)
    rate_short, rate_long = out[:200].isna().mean(), out[200:].isna().mean()
    assert rate_short < 0.15 and 0.2 < rate_long < 0.5, (rate_short, rate_long)
    m.save(tmp_path / "m")
    again = TextColumnModel.load(tmp_path / "m")
    assert again.text_generator.params["length_control"]
    assert again.generate(query, random_state=0).equals(out)


def test_length_control_off_keeps_the_old_model(tmp_path):
    texts = pd.Series(["alpha beta gamma", "delta epsilon", "alpha gamma delta"] * 20)
    m = TextColumnModel(max_length=8, random_state=0, **tiny(max_epochs=1, length_control=False))
    m.fit(texts)
    assert m.text_generator.length_buckets is None
    assert "length_head" not in dict(m.text_generator.network.named_parameters()).keys()
    m.save(tmp_path / "m")
    # a model saved before length control existed has no such param: it loads without it
    import json

    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    config["generator"]["params"].pop("length_control", None)
    path.write_text(json.dumps(config))
    again = TextColumnModel.load(tmp_path / "m")
    assert again.text_generator.params["length_control"] is False
    assert again.generate(n=5, random_state=0).equals(m.generate(n=5, random_state=0))


def test_missing_bias_matches_the_training_rate_not_the_small_split():
    rng = np.random.default_rng(1)
    x = rng.normal(size=3000)
    y = rng.random(3000) < 1 / (1 + np.exp(-(x - 2)))
    items = [
        ([BOS] if m else [BOS, 5, EOS], np.array([int(v * 100)])) for v, m in zip(x, y, strict=True)
    ]
    val = items[:100]  # a small split whose rate is off the training rate
    cal = calibrate(_FakeHeads(), val, None, EOS, all_items=items)
    z = torch.as_tensor(3.0 * np.array([int(v * 100) for v in x]) / 100.0)
    on_val = float(torch.sigmoid(cal.missing_logit(z[:100])).mean())
    assert abs(on_val - y.mean()) < 0.002  # the full rate, on held-out contexts
    assert abs(float(torch.sigmoid(cal.missing_logit(z)).mean()) - y.mean()) < 0.03


def test_max_length_is_chosen_from_the_data(tmp_path):
    from llm_text.offline import choose_max_length
    from llm_text.offline_network import train_tokenizer

    rng = np.random.default_rng(2)
    words = ["wing", "engine", "bird", "damage", "none", "flock", "gull", "radome"]
    # 97 % short texts, 3 % of 60 words: the 0.99 quantile is a long one, kept whole
    sizes = np.where(rng.random(200) < 0.97, 3, 60)
    texts = pd.Series([" ".join(rng.choice(words, size=k)) for k in sizes])
    tok = train_tokenizer(texts.tolist(), 300)
    lengths = np.array([len(tok.encode(t).ids) for t in texts])
    chosen = choose_max_length(tok, texts)
    assert chosen == int(np.ceil(np.quantile(lengths, 0.99))) and chosen >= lengths.max() - 5
    assert choose_max_length(tok, pd.Series(["gull"] * 10)) == 16  # the lower bound
    long_texts = pd.Series([" ".join(rng.choice(words, size=700)) for _ in range(20)])
    assert choose_max_length(tok, long_texts) == 512  # the upper bound
    m = TextColumnModel(random_state=0, memorization_guard=False, **tiny(max_epochs=1))
    assert m.max_length is None and m.fitted_max_length is None
    m.fit(texts)
    assert m.fitted_max_length == m.text_generator.max_length == chosen
    assert m.text_generator.fit_info["truncated_texts"] <= 2  # 1 % of 200 at most
    m.save(tmp_path / "m")
    again = TextColumnModel.load(tmp_path / "m")
    assert again.max_length is None and again.fitted_max_length == chosen
    assert again.generate(n=5, random_state=0).equals(m.generate(n=5, random_state=0))


def test_guidance_strengthens_the_condition(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    animal = rng.choice(["cat", "dog"], size=n)
    # the text names the row's animal 70 % of the time: plain sampling reproduces about that,
    # classifier-free guidance (against the all-NULL context learnt by row dropout) more
    say = np.where(rng.random(n) < 0.7, animal, np.where(animal == "cat", "dog", "cat"))
    words = {"cat": "the cat purrs softly", "dog": "the dog barks loudly"}
    texts = pd.Series([words[a] + f" {rng.integers(3)}" for a in say])
    m = TextColumnModel(
        random_state=0,
        memorization_guard=False,
        # six texts, each held by many rows: spelled token by token here, not stock texts
        **tiny(max_epochs=8, val_fraction=0, row_dropout=0.2, stock_texts=0),
    )
    m.fit(texts, pd.DataFrame({"animal": animal}))
    query = pd.DataFrame({"animal": ["cat"] * 150 + ["dog"] * 150})

    def agreement(guidance: float) -> float:
        m.text_generator.params["guidance"] = guidance
        out = m.generate(query, random_state=0)
        pairs = zip(out, query.animal, strict=True)
        return float(np.mean([("cat" in t) == (a == "cat") for t, a in pairs]))

    plain, guided = agreement(1.0), agreement(3.0)
    assert 0.55 < plain < 0.85 and guided > plain + 0.1, (plain, guided)
    m.save(tmp_path / "m")  # the weight is a saved setting
    assert TextColumnModel.load(tmp_path / "m").text_generator.params["guidance"] == 3.0


def test_sampling_temperature_matches_the_real_distinct_2():
    from llm_text.offline_calibration import fit_temperature

    def sample(temperature: float, seed: int = 0) -> list[str]:
        # the share of free-worded texts grows with the temperature, the rest is a stock phrase
        rng = np.random.default_rng(seed)
        free = rng.random(200) < (temperature - 0.6) / 0.6
        words = [f"w{i}" for i in range(300)]
        return [
            " ".join(rng.choice(words, size=4)) if f else "no damage found" for f in free.tolist()
        ]

    fitted = fit_temperature(sample, sample(0.9, seed=1))
    assert abs(fitted - 0.9) < 0.06, fitted
    assert fit_temperature(sample, ["too few texts"] * 5) == 1.0
    assert fit_temperature(sample, sample(2.0, seed=1)) > 1.15  # the end of the range


def test_distinct_2_follows_heaps_law_to_a_larger_corpus():
    from llm_text.metrics import distinct_n
    from llm_text.offline_calibration import distinct_2_at

    # i.i.d. texts of Zipf-distributed words: distinct-2 falls with the count
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, 2001) ** 1.1
    words = rng.choice(2000, size=(4000, 8), p=p / p.sum())
    texts = [" ".join(f"w{w}" for w in row) for row in words]
    small, large = distinct_n(texts[:300], 2), distinct_n(texts, 2)
    predicted = distinct_2_at(texts[:300], 4000)
    assert large < small - 0.1, (small, large)  # the effect the extrapolation is for
    assert abs(predicted - large) < 0.25 * (small - large), (small, predicted, large)
    assert distinct_2_at(texts[:300], 100) == distinct_n(texts[:100], 2)


def test_sampling_temperature_is_matched_at_the_corpus_size():
    from llm_text.offline_calibration import fit_temperature

    def sample(temperature: float, seed: int = 0, n: int = 200) -> list[str]:
        rng = np.random.default_rng(seed)
        free = rng.random(n) < (temperature - 0.6) / 0.6
        words = [f"w{i}" for i in range(300)]
        return [
            " ".join(rng.choice(words, size=4)) if f else "no damage found" for f in free.tolist()
        ]

    # a real corpus whose distinct-2 falls faster with the count than the model's texts do:
    # its first 200 texts look like temperature 0.9, the whole corpus repeats its stock
    # phrases more (a share of them drawn at a lower temperature)
    corpus = sample(0.9, seed=1, n=200) + sample(0.75, seed=2, n=2000)
    at_validation_size = fit_temperature(sample, corpus[:200])
    at_corpus_size = fit_temperature(sample, corpus[:200], corpus)
    assert at_corpus_size < at_validation_size - 0.04, (at_validation_size, at_corpus_size)
    # a corpus no larger than the validation texts changes nothing
    assert fit_temperature(sample, corpus[:200], corpus[:100]) == at_validation_size


def test_distinct_2_is_matched_at_half_the_corpus():
    from llm_text.offline_calibration import match_count

    assert match_count(200, 2200) == 1100  # between a holdout's size and the corpus's
    assert match_count(800, 1000) == 800  # never below the validation texts
    assert match_count(200, 100) == 200  # a corpus no larger: the validation size


def test_missing_rate_matched_on_rows_drawn_without_conditions():
    m, series = _short_and_long_model()
    gen = m.text_generator
    rate = series.isna().mean()
    assert gen.missing_rate == rate
    # rows skewed towards "long" (35 % missing): the head's rate on them is above training's
    query = pd.DataFrame({"kind": ["short"] * 100 + ["long"] * 300})
    codes = torch.as_tensor(gen.encoder.transform(query), dtype=torch.long)
    with torch.no_grad():
        z = gen.network.missing_logit(gen.network.context_vector(codes))
    bias = gen.matched_missing_bias(query)
    p = torch.sigmoid(gen.calibration.missing_logit(z, bias))
    assert float(p.mean()) == pytest.approx(rate, abs=1e-4)
    assert float(torch.sigmoid(gen.calibration.missing_logit(z)).mean()) > rate + 0.03
    assert float(p[100:].mean()) > float(p[:100].mean())  # the rows keep their order
    matched = m.generate(query, random_state=0, match_missing_rate=True)
    plain = m.generate(query, random_state=0)
    assert plain.isna().mean() > matched.isna().mean()
    assert abs(matched.isna().mean() - rate) < 0.06  # binomial spread of 400 rows: 0.02
    assert m.generate(query, random_state=0, match_missing_rate=False).equals(plain)
    # imputation never draws missing texts, matched or not
    forced = m.generate(query, random_state=0, allow_missing=False, match_missing_rate=True)
    assert forced.notna().all()
