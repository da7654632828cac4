"""Tests of stock texts: whole texts many rows share, one token each (:mod:`llm_text.stock_texts`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from llm_text import TextColumnModel
from llm_text.offline_network import BOS, EOS, encode_texts, train_tokenizer
from llm_text.stock_texts import MIN_ROWS, StockTexts

from .test_text_calibration import tiny

torch.set_num_threads(1)


def test_stock_texts_are_the_frequent_whole_texts():
    texts = pd.Series(["NO DAMAGE"] * 9 + ["NONE"] * MIN_ROWS + ["rare"] * (MIN_ROWS - 1) + [None])
    stock = StockTexts.fit(texts, first_id=50)
    assert stock.texts == ["NO DAMAGE", "NONE"]  # most frequent first; "rare" is below MIN_ROWS
    assert stock.ids == [50, 51] and stock.index() == {"NO DAMAGE": 50, "NONE": 51}
    assert StockTexts.fit(texts, 50, max_texts=1).texts == ["NO DAMAGE"]
    assert StockTexts.fit(texts, 50, max_texts=0).texts == []
    assert StockTexts.fit(texts, 50, keep=lambda t: len(t) < 5).texts == ["NONE"]
    assert StockTexts.from_dict(stock.to_dict(), 50) == stock
    assert StockTexts.from_dict(None, 50) == StockTexts([], 50)  # models saved before them
    with pytest.raises(ValueError, match="does not follow"):
        StockTexts.from_dict(stock.to_dict(), 49)
    with pytest.raises(ValueError, match="list of strings"):
        StockTexts.from_dict({"texts": [1], "first_id": 50}, 50)


def test_stock_texts_encode_to_one_token_and_decode_whole():
    texts = pd.Series(["NO DAMAGE"] * 8 + ["bird hit the left wing", None])
    tok = train_tokenizer([t for t in texts if isinstance(t, str)], 300)
    stock = StockTexts.fit(texts, tok.get_vocab_size())
    sequences, truncated = encode_texts(tok, texts, 32, stock.index())
    assert truncated == 0
    assert sequences[0] == [BOS, stock.first_id, EOS] and sequences[-1] == [BOS]
    assert len(sequences[8]) > 3  # spelled token by token
    assert stock.decode(tok, [s[1:-1] for s in sequences[:-1]]) == list(texts[:-1])


def test_a_boilerplate_text_comes_out_verbatim_at_its_rate(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    kind = rng.choice(["minor", "severe"], size=n, p=[0.6, 0.4])
    # 40 % of the minor rows hold the boilerplate; every other text is unique
    boiler = (kind == "minor") & (rng.random(n) < 0.4)
    texts = pd.Series(
        [
            "NO DAMAGE" if b else f"struck {rng.choice(['wing', 'nose', 'engine'])} at {i} ft"
            for i, b in enumerate(boiler)
        ]
    )
    m = TextColumnModel(random_state=0, memorization_guard=False, **tiny(max_epochs=10))
    m.fit(texts, pd.DataFrame({"kind": kind}))
    assert m.text_generator.stock.texts == ["NO DAMAGE"]
    query = pd.DataFrame({"kind": ["minor"] * 200 + ["severe"] * 200})
    out = m.generate(query, random_state=0)
    verbatim = np.asarray(out) == "NO DAMAGE"
    # 0.4 of the minor rows and none of the severe ones in training; the tiny model learns
    # the condition only in part (0.24 and 0.075 at this seed, as when the text is spelled)
    assert verbatim[:200].mean() > 0.15 and verbatim[:200].mean() > 2 * verbatim[200:].mean()
    m.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert "NO DAMAGE" in json.dumps(config)
    assert not any(t in json.dumps(config) for t in texts if t != "NO DAMAGE")
    again = TextColumnModel.load(tmp_path / "m")
    assert again.generate(query, random_state=0).equals(out)
    none = TextColumnModel(random_state=0, memorization_guard=False, stock_texts=0, max_epochs=1)
    assert none.fit(texts, pd.DataFrame({"kind": kind})).text_generator.stock.texts == []
