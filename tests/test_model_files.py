"""Model folders are untrusted input and hold aggregates only.

A folder whose ``config.json`` names a path outside itself, or a URL and an environment variable
for a chat client, loads with a typed error or without using them; ``save`` never deletes a
``text/`` folder it did not write.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from llm_text import OpenAIChatClient, TextColumnModel
from llm_text.chat import DetachedChatClient
from tabargn import TabularARGN
from tabargn.errors import LLMBackendError, ModelFileError
from tabargn.text_columns import load_text_models, save_text_models


@pytest.fixture(scope="module")
def saved_flat(tmp_path_factory):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.choice(["x", "y"], 200), "b": rng.normal(size=200)})
    path = tmp_path_factory.mktemp("flat") / "model"
    TabularARGN(random_state=0, max_epochs=1, model_size="small", verbose=0).fit(df).save(path)
    return path


def test_text_model_path_outside_the_folder_raises(saved_flat, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    config = json.loads((saved_flat / "config.json").read_text())
    for rel in ["../elsewhere", str(outside), "text/../../elsewhere", "."]:
        config["text_models"] = {"remarks": rel}
        (saved_flat / "config.json").write_text(json.dumps(config))
        with pytest.raises(ModelFileError, match="outside the model directory"):
            TabularARGN.load(saved_flat)
    config["text_models"] = {}
    (saved_flat / "config.json").write_text(json.dumps(config))
    assert TabularARGN.load(saved_flat).sample(5).shape == (5, 2)


def test_saved_url_and_key_variable_are_never_used(tmp_path, monkeypatch):
    monkeypatch.setenv("VICTIM_SECRET", "s3cr3t")
    texts = pd.Series([f"text number {i % 7} here" for i in range(40)])
    ctx = pd.DataFrame({"g": ["a", "b"] * 20})
    client = OpenAIChatClient("m", base_url="http://127.0.0.1:9/v1", max_retries=0)
    model = TextColumnModel(client, n_shots=0, random_state=0).fit(texts, ctx)
    model.save(tmp_path / "t")
    config = json.loads((tmp_path / "t" / "config.json").read_text())
    assert config["generator"]["pool"]["texts"] == []  # no training text unless asked
    config["generator"]["backend"].update(
        base_url="http://attacker.invalid/v1", api_key_env="VICTIM_SECRET"
    )
    config["params"]["card_path"] = str(tmp_path / "outside" / "card.json")
    (tmp_path / "t" / "config.json").write_text(json.dumps(config))
    loaded = TextColumnModel.load(tmp_path / "t")
    assert isinstance(loaded.text_generator.chat_client, DetachedChatClient)
    assert loaded.card_path is None
    with pytest.raises(LLMBackendError, match="without a chat client"):
        loaded.generate(ctx.iloc[:2], random_state=0)
    assert not (tmp_path / "outside").exists()
    # through the table model: the folder's text models use only the caller's client
    mine = OpenAIChatClient("m", base_url="http://127.0.0.1:9/v1")
    models = load_text_models({"t": "t"}, tmp_path, chat_client=mine)
    assert models["t"].text_generator.chat_client is mine


class _Fake:
    def save(self, folder):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")


def test_save_never_deletes_a_foreign_text_folder(tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "precious.txt").write_text("mine")
    with pytest.raises(ModelFileError, match="not written by tabargn"):
        save_text_models({"c": _Fake()}, tmp_path)
    assert (tmp_path / "text" / "precious.txt").read_text() == "mine"
    # an earlier save of ours is replaced
    other = tmp_path / "m"
    other.mkdir()
    assert save_text_models({"c": _Fake()}, other) == {"c": "text/0"}
    assert save_text_models({"c": _Fake(), "d": _Fake()}, other) == {"c": "text/0", "d": "text/1"}
    assert sorted(p.name for p in (other / "text").iterdir()) == [".tabargn-text", "0", "1"]
    assert sorted(p.name for p in other.iterdir()) == ["text"]
