"""Tests of llm_text: the offline model on real data, the OpenAI path against a real local HTTP
server, the literature methods, metrics and bad input."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from llm_text import (
    Budget,
    ChatClient,
    Curation,
    OfflineTextGenerator,
    OneExampleCreator,
    OpenAIChatClient,
    PromptedTextGenerator,
    TextColumnModel,
    build_personas,
    select_examples,
    text_metrics,
)
from llm_text._text import clean_text, is_text_column
from llm_text.curation import ConsistencyFilter, embedding_duplicates, minhash_duplicates
from llm_text.embeddings import get_embedder
from tabargn.errors import InvalidDataError, LLMBackendError, NotFittedError

torch.set_num_threads(1)

DATA = Path("/work/shared/data")
if not DATA.exists():  # CI checkouts have shared/ beside the repository
    DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _read(name: str) -> pd.DataFrame:
    path = DATA / f"{name}.parquet"
    if not path.exists():
        pytest.skip(f"{path} not available")
    return pd.read_parquet(path)


def tiny(**kw) -> dict:
    """Options of a tiny, fast offline model."""
    opts = {
        "embedding_dim": 32,
        "hidden_dim": 64,
        "context_dim": 32,
        "vocab_size": 400,
        "max_epochs": 2,
        "batch_size": 64,
    }
    opts.update(kw)
    return opts


# ---------------------------------------------------------------------------------------------
# Offline text generator
# ---------------------------------------------------------------------------------------------


def test_offline_faa_end_to_end(tmp_path):
    df = _read("faa_bird_strikes").sample(1500, random_state=0)
    ctx = df.drop(columns="remarks")
    m = TextColumnModel(max_length=40, random_state=0, **tiny())
    m.fit(df["remarks"], ctx)
    syn_ctx = ctx.iloc[:300]
    out = m.generate(syn_ctx, random_state=1)
    assert len(out) == 300 and out.index.equals(syn_ctx.index)
    present = out.dropna()
    assert all(isinstance(t, str) and t.strip() for t in present)
    # missing texts are learned (real rate ~15%), not dropped
    assert abs(out.isna().mean() - df["remarks"].isna().mean()) < 0.12
    m.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists()
    assert (tmp_path / "m" / "tokenizer.json").exists()
    assert not list((tmp_path / "m").glob("*.pkl"))
    m2 = TextColumnModel.load(tmp_path / "m")
    assert m2.generate(syn_ctx, random_state=1).equals(out)
    assert not m2.generate(syn_ctx, random_state=2).equals(out)
    metrics = text_metrics(
        df["remarks"],
        out,
        real_context=ctx,
        synthetic_context=syn_ctx,
        consistency_column="phase_of_flt",
    )
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["novelty"] > 0.5
    assert 0 < metrics["distinct_1"] <= 1 and 0 < metrics["distinct_2"] <= 1
    assert 0 <= metrics["length_accuracy"] <= 1
    assert 0 <= metrics["consistency"] <= 1
    card = m.card_
    assert card["backend"] == "offline" and card["counts"]["rows"] == 300
    info = card["fit"]["info"]  # trained by the shared Trainer, best validation epoch kept
    assert info["epochs"] == 2 and info["val_rows"] == 150 and info["best_val_loss"] > 0
    assert card["fingerprints"]["training_inputs"] and card["tokens"]["completion"] > 0


def test_offline_amazon_reviews_small():
    df = _read("amazon_fine_food_reviews").iloc[:300]
    ctx = df[["product", "score"]]
    m = TextColumnModel(max_length=48, random_state=0, **tiny(max_epochs=1))
    m.fit(df["review"], ctx)
    out = m.generate(ctx.iloc[:50], random_state=0)
    # no missing review in training: every row gets a non-empty string
    assert out.map(lambda t: isinstance(t, str) and len(t.strip()) > 0).all()
    assert m.card_["fit"]["info"]["truncated_texts"] > 0  # long reviews were cut at max_length


def test_offline_learns_the_condition():
    rng = np.random.default_rng(0)
    animal = rng.choice(["cat", "dog"], size=400)
    words = {"cat": "the cat purrs softly", "dog": "the dog barks loudly"}
    texts = pd.Series([words[a] + f" {rng.integers(3)}" for a in animal])
    ctx = pd.DataFrame({"animal": animal, "noise": rng.normal(size=400)})
    m = TextColumnModel(
        max_length=16, random_state=0, **tiny(max_epochs=6, learning_rate=1e-2, val_fraction=0)
    )
    m.fit(texts, ctx)
    query = pd.DataFrame({"animal": ["cat"] * 50 + ["dog"] * 50, "noise": 0.0})
    out = m.generate(query, random_state=0)
    hits = [
        ("purr" in t) if a == "cat" else ("bark" in t)
        for a, t in zip(query.animal, out, strict=True)
    ]
    assert np.mean(hits) > 0.9


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_input():
    with pytest.raises(InvalidDataError):
        TextColumnModel(**tiny()).fit(pd.Series([], dtype=object), pd.DataFrame())
    with pytest.raises(InvalidDataError):
        TextColumnModel(**tiny()).fit(pd.Series([np.nan, None, "  "]), None)
    with pytest.raises(InvalidDataError):
        TextColumnModel(**tiny()).fit(pd.Series(["a", "b"]), pd.DataFrame({"x": [1, 2, 3]}))
    with pytest.raises(InvalidDataError):
        TextColumnModel(backend="gpt")
    with pytest.raises(InvalidDataError):
        TextColumnModel(not_an_option=1)
    with pytest.raises(NotFittedError):
        TextColumnModel(**tiny()).generate(pd.DataFrame({"x": [1]}))


def test_unfitted_text_generators_raise_not_fitted(tmp_path):
    ctx = pd.DataFrame({"x": [1]})
    with pytest.raises(NotFittedError):
        OfflineTextGenerator().generate(ctx, random_state=0)
    with pytest.raises(NotFittedError):
        OfflineTextGenerator().save(tmp_path)
    with pytest.raises(NotFittedError):
        PromptedTextGenerator(ScriptedChat()).generate(ctx, random_state=0)


def test_clean_text_bytes_and_control_characters():
    assert clean_text(b"caf\xc3\xa9 \xff\xfe ok") == "café  ok"
    assert clean_text("a\x00b\x07c\r\nd\x1b") == "abc\nd"
    assert clean_text("bad \udcff surrogate") == "bad  surrogate"
    assert np.isnan(clean_text("  \t ")) and np.isnan(clean_text(None))
    assert clean_text(12) == "12"


def test_identical_texts_dirty_bytes_and_truncation():
    texts = pd.Series([b"NO DAMAGE \xff\x01"] * 60 + ["NO DAMAGE"] * 60)
    ctx = pd.DataFrame({"c": ["a", "b"] * 60, "when": pd.date_range("2020", periods=120)})
    m = TextColumnModel(
        max_length=6, random_state=0, **tiny(max_epochs=3, learning_rate=1e-2, batch_size=16)
    )
    m.fit(texts, ctx)
    out = m.generate(ctx, random_state=0)
    assert out.notna().all()
    assert (out == "NO DAMAGE").mean() > 0.5
    assert not any("\x01" in t or "\ufffd" in t for t in out)
    # truncation: generated texts have at most max_length tokens
    tok = m.text_generator.tokenizer
    long = TextColumnModel(max_length=5, random_state=0, **tiny(max_epochs=1))
    long.fit(pd.Series(["word " * 200] * 20), None)
    assert long.card_["fit"]["info"]["truncated_texts"] == 20
    gen = long.generate(n=5, random_state=0)
    assert all(len(long.text_generator.tokenizer.encode(t).ids) <= 5 for t in gen)
    assert tok is not None


# ---------------------------------------------------------------------------------------------
# A real OpenAI-compatible HTTP server on 127.0.0.1
# ---------------------------------------------------------------------------------------------


def _answer_for(body: dict) -> str:
    """Deterministic scripted answers, chosen by what the prompt asks."""
    last = body["messages"][-1]["content"]
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    digest = hashlib.sha256(f"{last}|{body.get('seed')}".encode()).hexdigest()[:6]
    if "Who is likely to have written" in last:
        return json.dumps({"persona": f"a pilot who writes terse reports #{digest}"})
    if "close relationship" in last:
        return json.dumps({"persona": f"a mechanic who works with that pilot #{digest}"})
    if "Is this value realistic" in last:
        return json.dumps(
            {"critique": "mentions a cat, which no bird report does" if "cat" in last else "OK"}
        )
    if "A reviewer found these problems" in last:
        return json.dumps({"text": "bird strike on approach, no damage (rewritten)"})
    if "Write one new record" in last:
        return json.dumps({"text": f"record {digest}"})
    m = re.search(r"phase: (\w+)", last)
    phase = m.group(1) if m else "unknown"
    text = f"strike during {phase} {digest}"
    if "shouts" in system:
        text = text.upper()
    return json.dumps({"text": text})


class FakeServer:
    """Speaks POST /v1/chat/completions; injects failures by hit number."""

    def __init__(
        self, script: dict | None = None, *, die_after: int | None = None, slow_s: float = 1.0
    ):
        self.script = dict(script or {})
        self.die_after = die_after
        self.slow_s = slow_s
        self.hits = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.answered: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code: int, payload: bytes, headers: dict | None = None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.hits += 1
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    action = outer.script.get(outer.hits)
                    dead = outer.die_after is not None and len(outer.answered) >= outer.die_after
                try:
                    time.sleep(0.02)  # lets concurrent requests overlap
                    if self.path != "/v1/chat/completions":
                        return self._send(404, b'{"error": {"message": "not found"}}')
                    if dead:
                        self.close_connection = True
                        self.connection.shutdown(2)  # the server died: drop the connection
                        return None
                    if action == "429":
                        return self._send(
                            429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "0"}
                        )
                    if action == "500":
                        return self._send(500, b'{"error": {"message": "boom"}}')
                    if action == "slow":
                        time.sleep(outer.slow_s)
                    if action == "malformed":
                        return self._send(200, b'{"id": "x", "choices": [')
                    content = "not json at all" if action == "bad_content" else _answer_for(body)
                    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
                    completion_tokens = len(content.split())
                    payload = {
                        "id": f"chatcmpl-{outer.hits}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": completion_tokens,
                            "total_tokens": prompt_tokens + completion_tokens,
                        },
                    }
                    self._send(200, json.dumps(payload).encode())
                    if action != "slow":
                        with outer.lock:
                            outer.answered.append(body["messages"][-1]["content"])
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
                finally:
                    with outer.lock:
                        outer.in_flight -= 1
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers = []

    def make(*args, **kw):
        s = FakeServer(*args, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def _chat_client(server: FakeServer, cache, **kw) -> OpenAIChatClient:
    opts = {"timeout": 0.4, "max_retries": 3, "backoff_base": 0.01, "max_concurrency": 3}
    opts.update(kw)
    return OpenAIChatClient(
        "test-model",
        base_url=server.url,
        api_key="sk-test-secret",
        cache_path=cache,
        price_per_million_input=1.0,
        price_per_million_output=2.0,
        **opts,
    )


def _faa_like(n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    ctx = pd.DataFrame(
        {
            "phase": rng.choice(["climb", "approach", "landing"], size=n),
            "height": rng.integers(0, 3000, size=n).astype(float),
        }
    )
    texts = pd.Series([f"bird hit during {p}, no damage" for p in ctx.phase], name="remarks")
    return texts, ctx


def test_openai_retries_cache_and_accounting(server_factory, tmp_path):
    script = {2: "429", 4: "500", 5: "slow", 7: "malformed", 9: "bad_content"}
    server = server_factory(script, slow_s=2.0)
    texts, ctx = _faa_like(40)
    cache = tmp_path / "cache.sqlite"
    # retries enough for one request to meet all five scripted failures (which request meets
    # which depends on thread timing), and a timeout that a loaded machine's answers stay under
    client = _chat_client(server, cache, max_retries=6, timeout=1.0)
    m = TextColumnModel(client, n_shots=2, random_state=0, column_name="remarks")
    m.fit(texts, ctx)
    out = m.generate(ctx.iloc[:10], random_state=3)
    assert out.notna().all(), "no row lost"
    for phase, text in zip(ctx.phase.iloc[:10], out, strict=True):
        assert text.startswith(f"strike during {phase}")
    usage = m.card_["backend_usage"]
    assert usage["retries"] == 5
    assert usage["errors_rate_limit"] == 1 and usage["errors_server_error"] == 1
    assert usage["errors_timeout"] == 1 and usage["errors_malformed"] == 2
    assert server.hits == 15
    assert 2 <= server.max_in_flight <= 3  # concurrent, within max_concurrency
    assert m.card_["tokens"]["prompt"] > 0 and m.card_["cost"]["total"] > 0
    assert m.last_usage_["completion_tokens"].gt(0).all()  # accounting per row
    assert Path(str(cache) + ".card.json").exists()
    # second run: a new client on the same cache; the server sees nothing
    m2 = TextColumnModel(
        _chat_client(server, cache),
        n_shots=2,
        random_state=0,
        column_name="remarks",
        save_examples=True,
    )
    m2.fit(texts, ctx)
    again = m2.generate(ctx.iloc[:10], random_state=3)
    assert again.equals(out)
    assert server.hits == 15
    assert m2.card_["backend_usage"]["cache_hits"] == 10 and m2.card_["cost"]["total"] == 0
    # by default a saved prompted model holds no training text (no example pool)
    m.save(tmp_path / "plain")
    assert "bird hit during" not in (tmp_path / "plain" / "config.json").read_text()
    # a saved folder's URL and key variable are never used: the client is passed at load
    m2.save(tmp_path / "saved")
    assert "sk-test-secret" not in (tmp_path / "saved" / "config.json").read_text()
    detached = TextColumnModel.load(tmp_path / "saved")
    with pytest.raises(LLMBackendError, match="without a chat client"):
        detached.generate(ctx.iloc[:10], random_state=3)
    loaded = TextColumnModel.load(tmp_path / "saved", chat_client=_chat_client(server, cache))
    assert loaded.generate(ctx.iloc[:10], random_state=3).equals(out)
    assert server.hits == 15


def test_openai_interrupted_run_resumes(server_factory, tmp_path):
    texts, ctx = _faa_like(30)
    cache = tmp_path / "cache.sqlite"
    dying = server_factory(die_after=4)
    m = TextColumnModel(
        _chat_client(dying, cache, max_retries=1, max_concurrency=2), n_shots=1, random_state=0
    )
    m.fit(texts, ctx)
    with pytest.raises(LLMBackendError, match="re-run to resume"):
        m.generate(ctx.iloc[:10], random_state=0)
    assert len(dying.answered) == 4
    healthy = server_factory()
    m2 = TextColumnModel(_chat_client(healthy, cache), n_shots=1, random_state=0)
    m2.fit(texts, ctx)
    out = m2.generate(ctx.iloc[:10], random_state=0)
    assert out.notna().all()
    assert len(healthy.answered) == 6, "only the missing rows are requested"
    assert not set(healthy.answered) & set(dying.answered)
    # a server that never answers: LLMBackendError after the retries
    dead = server_factory()
    dead.close()
    m3 = TextColumnModel(_chat_client(dead, None, max_retries=2), n_shots=1, random_state=0)
    m3.fit(texts, ctx)
    with pytest.raises(LLMBackendError, match="after 2 retries"):
        m3.generate(ctx.iloc[:2], random_state=9)


def test_openai_structured_output_request_shape(server_factory):
    seen = {}
    server = server_factory()
    chat_client = _chat_client(server, None)
    original = chat_client.client.chat.completions.create

    def spy(**kw):
        seen.update(kw)
        return original(**kw)

    chat_client.client.chat.completions.create = spy
    texts, ctx = _faa_like(10)
    TextColumnModel(chat_client, n_shots=2, random_state=0).fit(texts, ctx).generate(ctx.iloc[:1])
    assert seen["response_format"]["type"] == "json_schema"
    assert seen["response_format"]["json_schema"]["schema"]["required"] == ["text"]
    assert isinstance(seen["seed"], int)
    roles = [m["role"] for m in seen["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]  # 2 real shots


# ---------------------------------------------------------------------------------------------
# Literature methods, with an in-process chat client (same machinery, no HTTP)
# ---------------------------------------------------------------------------------------------


class ScriptedChat(ChatClient):
    """A chat client that answers with :func:`_answer_for`, counting tokens like the server."""

    kind = "scripted"

    def __init__(self, **kw):
        super().__init__("scripted", **kw)
        self.prompts: list[tuple] = []

    def _call(self, request):
        with self._lock:
            self.prompts.append(request.messages)
        content = _answer_for({"messages": list(request.messages), "seed": request.seed})
        p = sum(len(m["content"].split()) for m in request.messages)
        return content, p, len(content.split())


def test_select_examples_diverse_vs_similar():
    pool = ["seed record about birds"] + [f"red apple pie number {i}" for i in range(5)]
    pool += [f"blue ocean wave number {i}" for i in range(5)] + [
        f"green forest tree number {i}" for i in range(5)
    ]
    vecs = get_embedder("tfidf").encode(pool)
    rng = np.random.default_rng(0)
    sims = (vecs @ vecs.T).toarray()

    def mean_pair_sim(idx):
        return np.mean([sims[a, b] for a in idx for b in idx if a < b])

    diverse = select_examples("diverse", vecs, 4, rng)
    similar = select_examples("similar", vecs, 4, rng, anchor=1)
    assert len(set(diverse)) == 4 and similar[0] == 1
    assert all(pool[i].startswith("red apple") for i in similar)  # one cluster
    groups = {pool[i].split()[0] for i in diverse}
    assert len(groups) == 4  # one example from each cluster (and the seed)
    assert mean_pair_sim(diverse) < mean_pair_sim(similar)
    assert select_examples("naive", vecs, 4, rng) == [0]
    assert select_examples("tree", vecs, 4, rng, parent=7) == [7]


@pytest.mark.parametrize("strategy", ["naive", "random", "diverse", "similar", "tree"])
def test_one_example_creation(strategy):
    chat = ScriptedChat()
    creator = OneExampleCreator(chat, strategy=strategy, n_examples=2, round_size=3, branching=2)
    records = creator.create("record 000000", 9, random_state=0)
    assert len(records) == 9 and len(set(records)) == 9
    first_round = [h for h in creator.history_ if h["round"] == 1]
    assert all(h["examples"] == [0] for h in first_round) or strategy not in ("naive", "tree")
    later = [h for h in creator.history_ if h["round"] >= 2]
    if strategy == "naive":
        assert all(h["examples"] == [0] for h in creator.history_)
    else:  # later rounds learn from generated records, not only the seed
        assert any(max(h["examples"]) > 0 for h in later)
    if strategy == "tree":  # round r's parents are round r - 1's records, branching 2
        assert [h["round"] for h in creator.history_] == [1, 1, 2, 2, 2, 2, 3, 3, 3]
        assert [h["examples"][0] for h in creator.history_[2:6]] == [1, 1, 2, 2]


def test_one_example_mode_in_column_model():
    chat = ScriptedChat()
    texts, ctx = _faa_like(20)
    m = TextColumnModel(chat, one_example="diverse", n_shots=2, round_size=4, random_state=0)
    m.fit(texts, ctx)
    out = m.generate(ctx, random_state=0)
    assert out.notna().all()
    real_in_prompts = {
        t for p in chat.prompts for msg in p if msg["role"] == "assistant" for t in [msg["content"]]
    }
    real_texts = {json.dumps({"text": t}) for t in texts}
    assert len(real_in_prompts & real_texts) == 1, "only one real example is ever shown"


def test_personas_text_to_persona_expansion_and_steering():
    chat = ScriptedChat()
    texts, ctx = _faa_like(20)
    personas = build_personas(chat, texts.tolist(), n_seeds=3, n_personas=8, random_state=0)
    assert len(personas) == len(set(personas)) == 8
    assert sum(p.startswith("a pilot") for p in personas) == 3  # text-to-persona
    assert sum(p.startswith("a mechanic") for p in personas) == 5  # persona-to-persona
    styles = ["a retired captain who shouts in capitals", "a calm clerk"]
    m = TextColumnModel(ScriptedChat(), personas=styles, random_state=0)
    m.fit(texts, ctx)
    out = m.generate(ctx, random_state=0)
    row_personas = m.text_generator.generate(ctx, random_state=0)[1]["row_personas"]
    assert set(row_personas) == set(styles)
    for p, t in zip(row_personas, out, strict=True):
        assert (t == t.upper()) == ("shouts" in p)
    auto = TextColumnModel(ScriptedChat(), personas="auto", n_personas=4, n_persona_seeds=2)
    auto.fit(texts, ctx)
    assert len(auto.text_generator.personas_) == 4


def test_minhash_and_embedding_dedup():
    texts = [
        "the bird hit the left wing during approach and no damage was found",
        "the bird hit the left wing during approach and no damage was found today",
        "engine ingested a flock of geese on takeoff, aborted",
        "the bird hit the left wing during the approach and no damage was found",
        "landing light broken by a hawk",
    ]
    flags = minhash_duplicates(texts, threshold=0.6)
    assert flags.tolist() == [False, True, False, True, False]
    emb = embedding_duplicates(texts, threshold=0.9, embedder="tfidf")
    assert not emb[0] and emb[1] and not emb[2] and not emb[4]
    # against real texts: a verbatim copy of a training text is flagged
    assert minhash_duplicates(["landing light broken by a hawk"], reference=texts).tolist() == [
        True
    ]


def test_curation_filters_and_consistency():
    rng = np.random.default_rng(0)
    cats = rng.choice(["cat", "dog"], size=200)
    real = pd.Series(
        [f"my {c} loves this {c} food, great for {c}s {i}" for i, c in enumerate(cats)]
    )
    real_ctx = pd.DataFrame({"animal": cats})
    cur = Curation(
        minhash_threshold=0.8, embedding_threshold=None, min_chars=5, consistency_column="animal"
    )
    cur.fit(real, real_ctx)
    assert cur.filter_.usable_ and cur.filter_.accuracy_ > 0.9
    syn = ["my cat loves this cat food", "my dog loves this dog food", "my dog loves this dog food",
           "", "ok", "my cat adores the cat treats", np.nan]  # fmt: skip
    syn_ctx = pd.DataFrame({"animal": ["cat", "cat", "dog", "dog", "dog", "cat", "dog"]})
    res = cur.apply(syn, syn_ctx)
    assert res.reasons.tolist() == [None, "consistency", "minhash", "empty", "length", None, None]
    assert res.counts["kept"] == 2 and res.counts["consistency"] == 1


def test_consistency_filter_in_column_model_regenerates():
    class Contrary(ScriptedChat):
        """Writes about dogs for cat rows on the first try only."""

        def _call(self, request):
            row = request.messages[-1]["content"]
            animal = "cat" if "animal: cat" in row else "dog"
            wrong = "dog" if animal == "cat" else "cat"
            first = request.seed % 2 == 0 and self.usage["http_attempts"] < 20
            text = f"my {wrong if first else animal} likes it {request.seed}"
            return json.dumps({"text": text}), 10, 5

    rng = np.random.default_rng(1)
    cats = rng.choice(["cat", "dog"], size=120)
    real = pd.Series([f"my {c} likes it {i}" for i, c in enumerate(cats)])
    ctx = pd.DataFrame({"animal": cats})
    cur = Curation(minhash_threshold=None, embedding_threshold=None, consistency_column="animal")
    m = TextColumnModel(
        Contrary(), curation=cur, curation_fallback="missing", n_shots=1, random_state=0
    )
    m.fit(real, ctx)
    out = m.generate(ctx.iloc[:20], random_state=0)
    ok = [isinstance(t, str) and a in t for a, t in zip(ctx.animal.iloc[:20], out, strict=True)]
    assert all(ok[i] or pd.isna(out.iloc[i]) for i in range(20))
    counts = m.card_["counts"]
    assert counts["filtered"]["consistency"] > 0 and counts["regenerated"] > 0


def test_refinement_critique_and_rewrite():
    class CatWriter(ScriptedChat):
        def _call(self, request):
            content, p, c = super()._call(request)
            if request.tag == "text" and request.seed % 3 == 0:
                content = json.dumps({"text": "a cat walked on the runway"})
            return content, p, c

    texts, ctx = _faa_like(20)
    m = TextColumnModel(CatWriter(), refine=True, n_shots=1, random_state=0)
    m.fit(texts, ctx)
    out = m.generate(ctx, random_state=0)
    drafts = m.text_generator.chat_client.prompts
    assert any("cat walked" in p[-1]["content"] for p in drafts)  # some drafts were criticized
    assert not any("cat" in t for t in out)
    assert out.str.contains("rewritten").sum() >= 1
    assert m.last_usage_["requests"].min() >= 2  # generate + critique per row


def test_budget_stops_generation_and_card_reports_cost(tmp_path):
    texts, ctx = _faa_like(40)
    chat = ScriptedChat(
        price_per_million_input=1000.0, price_per_million_output=1000.0, max_concurrency=2
    )
    budget = Budget(max_cost=0.5)
    card = tmp_path / "card.json"
    m = TextColumnModel(chat, budget=budget, n_shots=1, random_state=0, card_path=card)
    m.fit(texts, ctx)
    out = m.generate(ctx, random_state=0)
    c = json.loads(card.read_text())
    assert 0 < out.notna().sum() < 40
    assert c["counts"]["skipped_by_budget"] == out.isna().sum()
    assert budget.spent_cost <= 0.5 + 2 * (c["cost"]["total"] / c["counts"]["kept"])
    assert c["cost"]["per_kept_row"] == pytest.approx(c["cost"]["total"] / c["counts"]["kept"])
    assert c["budget"]["max_cost"] == 0.5


def test_token_budget():
    texts, ctx = _faa_like(40)
    chat = ScriptedChat(max_concurrency=1)
    m = TextColumnModel(chat, budget=Budget(max_tokens=1000), n_shots=1, random_state=0)
    m.fit(texts, ctx)
    out = m.generate(ctx, random_state=0)
    per_row = m.card_["tokens"]["total"] / out.notna().sum()
    assert m.card_["tokens"]["total"] <= 1000 + per_row  # at most one request in flight past it
    assert out.isna().sum() == m.card_["counts"]["skipped_by_budget"] > 0


def test_data_card_fingerprints(tmp_path):
    texts, ctx = _faa_like(20)
    m = TextColumnModel(ScriptedChat(), n_shots=1, random_state=0, card_path=tmp_path / "c.json")
    m.fit(texts, ctx)
    m.generate(ctx, random_state=0)
    card = json.loads((tmp_path / "c.json").read_text())
    for key in ("backend", "model", "settings", "seed", "counts", "tokens", "cost", "prompts"):
        assert key in card
    fp = card["fingerprints"]
    assert (
        len(fp["training_inputs"]) == 64 and fp["code"] == card["code_version"]["llm_text_sha256"]
    )
    assert card["prompts"]["first_prompt"][0]["role"] == "system"
    m.fit(texts.str.upper(), ctx)
    assert m.card_["fit"]["training_fingerprint"] != fp["training_inputs"]
    m.save(tmp_path / "saved")
    back = TextColumnModel.load(tmp_path / "saved", chat_client=ScriptedChat())
    assert back.generate(ctx, random_state=0).notna().all()


# ---------------------------------------------------------------------------------------------
# Metrics and optional pieces
# ---------------------------------------------------------------------------------------------


def test_text_metrics_baselines():
    df = _read("faa_bird_strikes").iloc[:3000]
    real = df["remarks"]
    resampled = real.dropna().sample(1000, replace=True, random_state=0)
    met = text_metrics(real, resampled)
    assert met["novelty"] == 0.0 and met["ngram_overlap_3"] == 1.0
    assert met["length_accuracy"] > 0.9
    shuffled = pd.Series(
        [" ".join(np.random.default_rng(i).permutation(t.split())) for i, t in enumerate(resampled)]
    )
    assert text_metrics(real, shuffled)["novelty"] > 0.3
    consistency = text_metrics(
        real.iloc[:2000], real.iloc[:2000], real_context=df.iloc[:2000], synthetic_context=df.iloc[:2000],
        consistency_column="phase_of_flt",
    )  # fmt: skip
    assert consistency["consistency"] >= consistency["consistency_real"] - 0.05
    if get_embedder("minilm") is None:
        assert "embedding_similarity" not in met


def test_consistency_is_read_by_cross_fitted_classifiers():
    rng = np.random.default_rng(0)
    fillers = ["quiet", "brown", "small", "happy", "old", "young", "grey", "loud"]
    animals = rng.choice(["cat", "dog", "owl"], size=600, p=[0.5, 0.3, 0.2])
    texts = pd.Series(
        [f"the {rng.choice(fillers)} {a} sat by the {rng.choice(fillers)} door" for a in animals]
    )
    real_ctx = pd.DataFrame({"animal": animals})
    # synthetic rows: the same texts, 30% of them on a row of another animal
    wrong = rng.random(600) < 0.3
    other = {"cat": "dog", "dog": "owl", "owl": "cat"}
    syn_ctx = pd.DataFrame(
        {"animal": [other[a] if w else a for a, w in zip(animals, wrong, strict=True)]}
    )
    m = text_metrics(
        texts, texts, real_context=real_ctx, synthetic_context=syn_ctx, consistency_column="animal",
        embedder="none",
    )  # fmt: skip
    assert m["consistency_real"] == 1.0  # out of fold, every real text reads its own animal
    assert abs(m["consistency"] - (1 - wrong.mean())) < 1e-9
    assert abs(m["consistency_baseline"] - np.mean(animals == "cat")) < 1e-9
    # a value with fewer texts than folds is not modelled: those rows are not read
    few = real_ctx.assign(animal=np.where(np.arange(600) < 2, "emu", animals))
    m2 = text_metrics(
        texts, texts, real_context=few, synthetic_context=few, consistency_column="animal",
        embedder="none",
    )  # fmt: skip
    assert m2["consistency"] == 1.0 and m2["consistency_real"] == 1.0


def test_context_dtypes_and_text_detection():
    n = 40
    ctx = pd.DataFrame(
        {
            "cat": pd.Categorical(["a", "b", None, "a"] * 10),
            "i": pd.array([1, 2, None, 4] * 10, dtype="Int64"),
            "b": pd.array([True, False, None, True] * 10, dtype="boolean"),
            "dt": pd.date_range("2020-01-01", periods=n, tz="Europe/Berlin"),
            "f": np.r_[np.linspace(0, 1, n - 3), [np.nan, np.inf, -np.inf]],
            "s": pd.array(["x", "y", None, "z"] * 10, dtype="string"),
            "lst": [[1, 2], [3]] * 20,
            "allnan": [np.nan] * n,
        }
    )
    texts = pd.Series([f"note {i % 5}" for i in range(n)])
    m = TextColumnModel(max_length=6, random_state=0, **tiny(max_epochs=1))
    m.fit(texts, ctx)
    assert m.generate(ctx.iloc[:3]).notna().all()
    assert m.generate(ctx[["cat"]].iloc[:3]).notna().all()  # missing columns count as NULL
    assert is_text_column(pd.Series([f"the bird hit wing {i}" for i in range(50)]))
    assert not is_text_column(pd.Series(["Precautionary Landing now"] * 50))
    assert not is_text_column(pd.Series(range(50)))


def test_consistency_filter_unusable_when_text_says_nothing():
    rng = np.random.default_rng(0)
    f = ConsistencyFilter("x").fit(
        pd.Series(["same text"] * 100), pd.Series(rng.choice(["a", "b"], 100))
    )
    assert not f.usable_


def test_huggingface_chat_client_needs_transformers(tmp_path):
    try:
        import transformers  # noqa: F401
    except ImportError:
        from llm_text import HuggingFaceChatClient

        with pytest.raises(LLMBackendError, match="transformers"):
            HuggingFaceChatClient(tmp_path)
    else:
        pytest.skip("transformers is installed")


def test_offline_generator_instance_and_unconditioned():
    texts = pd.Series(["alpha beta", "gamma delta", "alpha gamma"] * 20)
    generator = OfflineTextGenerator(**tiny(max_epochs=1))
    m = TextColumnModel(generator, max_length=8, random_state=0).fit(texts)
    assert m.generate(n=4).notna().all()
    with pytest.raises(InvalidDataError):
        TextColumnModel(generator, hidden_dim=8)
