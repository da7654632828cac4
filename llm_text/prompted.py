"""Row-conditioned text generation with a prompted LLM (any :class:`~llm_text.chat.ChatClient`).

For each synthetic row, a chat prompt shows the row's tabular values and asks for the text
column's value as structured JSON (``{"text": ...}``). Options:

* **Few-shot from real rows** (``n_shots``, ``example_selection``): each prompt shows real
  ``(row, text)`` pairs as user/assistant turns, chosen ``"similar"`` (real rows whose tabular
  codes match the target row best), ``"random"`` or ``"diverse"`` (farthest-point on text
  embeddings).
* **One-example data creation** (``one_example``, Lee et al., EMNLP 2023): only one real record is
  ever shown; rows are generated in rounds whose examples come from the records generated so far,
  selected ``naive`` / ``random`` / ``diverse`` / ``similar`` / ``tree``
  (see :mod:`llm_text.one_example`).
* **Personas** (``personas``, Persona Hub arXiv 2406.20094): ``"auto"`` builds personas with
  text-to-persona on real texts plus persona-to-persona expansion; a list uses the given ones;
  each row gets one, drawn with the seed, written into its system prompt.
* **Refinement** (``refine``, AgentInstruct style): generate, then a critique request per text;
  texts the critic does not accept are rewritten with the critique.
* **Budget** (``budget``, arXiv 2408.16737): a :class:`~llm_text.chat.Budget` stops sending
  requests; rows without an answer stay missing and are counted.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError, NotFittedError

from .chat import TEXT_SCHEMA, Budget, ChatClient, ChatRequest, DetachedChatClient
from .context import ContextEncoder, describe_row
from .embeddings import get_embedder
from .one_example import STRATEGIES, select_examples
from .personas import build_personas

__all__ = ["PromptedTextGenerator", "SYSTEM_PROMPT"]

SYSTEM_PROMPT = (
    'You write the value of the free-text column "{column}" for one row of a table. Given the '
    "row's other columns, write one realistic value that is consistent with them, in the same "
    'style, length and format as the examples. Reply only with JSON: {{"text": "..."}}'
)
#: Answer token limit when ``max_length`` is ``None``.
DEFAULT_MAX_TOKENS = 128
PERSONA_LINE = "\nWrite it as this person would: {persona}"
_EMPTY_POOL = {"texts": [], "rows": [], "codes": []}
CRITIQUE_SCHEMA: dict = {
    "type": "object",
    "properties": {"critique": {"type": "string"}},
    "required": ["critique"],
    "additionalProperties": False,
}
CRITIQUE_PROMPT = (
    'Row:\n{row}\n\nCandidate value of the column "{column}":\n{text}\n\nIs this value realistic '
    'for such a table and consistent with the row? If it is, reply {{"critique": "OK"}}. '
    'Otherwise reply {{"critique": "<the problems, briefly>"}}.'
)
REWRITE_PROMPT = (
    'Row:\n{row}\n\nDraft value of the column "{column}":\n{text}\n\nA reviewer found these '
    "problems:\n{critique}\n\nRewrite the value to fix them. Reply only with JSON: "
    '{{"text": "..."}}'
)


def _seed(*parts: int) -> int:
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFF)) * 1099511628211) % (2**61 - 1)
    return int(h % (2**31 - 1))


class PromptedTextGenerator:
    """Generates a text column row by row through a chat client.

    ``fit`` keeps an example pool of real rows (and builds personas); nothing is trained.

    Args:
        chat_client: The chat client (:class:`~llm_text.openai_client.OpenAIChatClient` or
            :class:`~llm_text.hf_client.HuggingFaceChatClient`).
        column_name: Name of the text column, used in prompts (default ``"text"``).
        n_shots: Real examples per prompt (default 3; 0 for zero-shot).
        example_selection: ``"similar"`` (default), ``"random"`` or ``"diverse"``.
        one_example: ``None`` (default: few-shot from real rows) or one of ``"naive"``,
            ``"random"``, ``"diverse"``, ``"similar"``, ``"tree"``: one-example data creation.
        round_size: Rows per round in one-example mode (default 8).
        tree_branching: Children per parent for ``one_example="tree"`` (default 3).
        personas: ``None`` (default), ``"auto"`` or a list of persona strings.
        n_personas: Personas built by ``"auto"`` (default 16).
        n_persona_seeds: Real texts used for text-to-persona by ``"auto"`` (default 8).
        refine: Run the critique -> rewrite step (default ``False``).
        budget: A :class:`~llm_text.chat.Budget`, or ``None``.
        instructions: Extra instructions appended to the system prompt.
        pool_size: Real rows kept as the example pool (default 500).
        embedder: Embedder for ``diverse`` / ``similar`` selection (default ``"auto"``).
        save_examples: Store the example pool (real training texts and rows) in saved models
            (default ``False``: a saved model holds no training row; after loading it writes
            zero-shot). Set it only when the model folder may hold training data.
    """

    kind = "prompted"

    def __init__(
        self,
        chat_client: ChatClient,
        *,
        column_name: str = "text",
        n_shots: int = 3,
        example_selection: str = "similar",
        one_example: str | None = None,
        round_size: int = 8,
        tree_branching: int = 3,
        personas: str | list[str] | None = None,
        n_personas: int = 16,
        n_persona_seeds: int = 8,
        refine: bool = False,
        budget: Budget | None = None,
        instructions: str | None = None,
        pool_size: int = 500,
        embedder: str = "auto",
        save_examples: bool = False,
    ) -> None:
        if example_selection not in ("similar", "random", "diverse"):
            raise InvalidDataError("example_selection must be 'similar', 'random' or 'diverse'")
        if one_example is not None and one_example not in STRATEGIES:
            raise InvalidDataError(f"one_example must be None or one of {STRATEGIES}")
        if not (personas is None or personas == "auto" or isinstance(personas, list | tuple)):
            raise InvalidDataError("personas must be None, 'auto' or a list of strings")
        self.chat_client = chat_client
        self.options = {
            "column_name": str(column_name),
            "n_shots": int(n_shots),
            "example_selection": example_selection,
            "one_example": one_example,
            "round_size": int(round_size),
            "tree_branching": int(tree_branching),
            "personas": personas if personas in (None, "auto") else list(personas),
            "n_personas": int(n_personas),
            "n_persona_seeds": int(n_persona_seeds),
            "refine": bool(refine),
            "instructions": instructions,
            "pool_size": int(pool_size),
            "embedder": embedder,
            "save_examples": bool(save_examples),
        }
        self.budget = budget
        self.encoder: ContextEncoder | None = None
        self.pool: dict | None = None
        self.personas_: list[str] = []
        self.missing_rate_ = 0.0
        self.max_length: int | None = None
        self._vectors = None

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        texts: pd.Series,
        context: pd.DataFrame,
        *,
        max_length: int | None,
        random_state,
        verbose: int = 0,
    ):
        """Keep an example pool of real rows and, with ``personas="auto"``, build personas.

        Args:
            texts: Cleaned texts (``str`` or NaN) ``[n_rows]``.
            context: ``[n_rows, n_columns]`` tabular columns.
            max_length: Answer token limit (``None``: 128); examples are cut to ``4 *
                max_length`` characters.
            random_state: Seed of the pool sample and the persona requests.
            verbose: Unused.
        """
        seed = 0 if random_state is None else int(random_state)
        self.max_length = DEFAULT_MAX_TOKENS if max_length is None else int(max_length)
        self.missing_rate_ = float(texts.isna().mean())
        self.encoder = ContextEncoder().fit(context)
        present = np.flatnonzero(texts.notna().to_numpy())
        rng = np.random.default_rng(seed)
        take = np.sort(
            rng.choice(present, size=min(len(present), self.options["pool_size"]), replace=False)
        )
        rows = context.iloc[take]
        limit = 4 * self.max_length
        self.pool = {
            "texts": [str(t)[:limit] for t in texts.iloc[take].tolist()],
            "rows": [describe_row(r) for _, r in rows.iterrows()],
            "codes": self.encoder.transform(rows).tolist(),
        }
        self._vectors = None
        personas = self.options["personas"]
        if personas == "auto":
            self.personas_ = build_personas(
                self.chat_client,
                self.pool["texts"],
                n_seeds=self.options["n_persona_seeds"],
                n_personas=self.options["n_personas"],
                random_state=seed,
                budget=self.budget,
            )
        elif personas:
            self.personas_ = [str(p) for p in personas]
        return self

    # ------------------------------------------------------------- prompts
    def _system(self, persona: str | None) -> str:
        text = SYSTEM_PROMPT.format(column=self.options["column_name"])
        if self.options["instructions"]:
            text += "\n" + self.options["instructions"]
        if persona:
            text += PERSONA_LINE.format(persona=persona)
        return text

    def _user(self, row: str) -> str:
        return f'Row:\n{row}\n\nWrite the value of "{self.options["column_name"]}".'

    def _messages(self, row: str, examples: list[tuple[str, str]], persona: str | None) -> tuple:
        msgs = [{"role": "system", "content": self._system(persona)}]
        for ex_row, ex_text in examples:
            msgs.append({"role": "user", "content": self._user(ex_row)})
            msgs.append(
                {"role": "assistant", "content": json.dumps({"text": ex_text}, ensure_ascii=False)}
            )
        msgs.append({"role": "user", "content": self._user(row)})
        return tuple(msgs)

    def _pool_vectors(self):
        if self._vectors is None:
            embedder = get_embedder(self.options["embedder"]) or get_embedder("tfidf")
            self._vectors = embedder.encode(self.pool["texts"])
        return self._vectors

    def _few_shot(self, codes_row: np.ndarray, rng: np.random.Generator) -> list[int]:
        k = min(self.options["n_shots"], len(self.pool["texts"]))
        if k == 0:
            return []
        how = self.options["example_selection"]
        if how == "random":
            return [int(i) for i in rng.choice(len(self.pool["texts"]), size=k, replace=False)]
        if how == "diverse":
            return select_examples("diverse", self._pool_vectors(), k, rng)
        pool_codes = np.asarray(self.pool["codes"], dtype=np.int64)
        if pool_codes.ndim != 2 or pool_codes.shape[1] == 0:  # no context columns
            return [int(i) for i in rng.choice(len(self.pool["texts"]), size=k, replace=False)]
        score = (pool_codes == codes_row[None, :]).sum(1) + rng.random(len(pool_codes)) * 0.5
        return [int(i) for i in np.argsort(-score, kind="stable")[:k]]

    # ------------------------------------------------------------- generate
    def generate(
        self,
        context: pd.DataFrame,
        *,
        max_length: int | None = None,
        random_state,
        allow_missing: bool = True,
    ):
        """Generate one text per row of ``context``.

        Returns:
            ``(texts, stats)``: a list of ``str`` or NaN, and a dict with per-row usage
            (``row_usage``: DataFrame with ``prompt_tokens``, ``completion_tokens``, ``cost``,
            ``cached``, ``requests``), counts, and the first prompt.

        Raises:
            NotFittedError: Before :meth:`fit`.
        """
        if self.pool is None:
            raise NotFittedError("PromptedTextGenerator is not fitted: call fit() first")
        seed = 0 if random_state is None else int(random_state)
        n = len(context)
        max_tokens = int(max_length or self.max_length)
        rng = np.random.default_rng(seed)
        missing = rng.random(n) < self.missing_rate_
        if not allow_missing:
            missing[:] = False
        persona_idx = (
            rng.integers(len(self.personas_), size=n) if self.personas_ else np.full(n, -1)
        )
        rows = [describe_row(r) for _, r in context.iterrows()]
        codes = self.encoder.transform(context)
        usage = pd.DataFrame(
            {
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "cost": 0.0,
                "cached": False,
                "requests": 0,
            },
            index=range(n),
        )
        texts: list = [np.nan] * n
        todo = [i for i in range(n) if not missing[i]]
        first_prompt = None

        def persona(i):
            return self.personas_[persona_idx[i]] if persona_idx[i] >= 0 else None

        def account(i, res):
            usage.loc[i, "prompt_tokens"] += res.prompt_tokens
            usage.loc[i, "completion_tokens"] += res.completion_tokens
            usage.loc[i, "cost"] += res.cost
            usage.loc[i, "requests"] += 0 if res.skipped else 1

        def request(i, examples):
            return ChatRequest(
                self._messages(rows[i], examples, persona(i)),
                seed=_seed(seed, i),
                json_schema=TEXT_SCHEMA,
                max_tokens=max_tokens,
                tag="text",
            )

        skipped = 0
        strategy = self.options["one_example"]
        examples_used: list[list] = [[] for _ in range(n)]
        if strategy is None:
            reqs = []
            for i in todo:
                idx = self._few_shot(codes[i], rng)
                examples_used[i] = [("real", j) for j in idx]
                reqs.append(
                    request(i, [(self.pool["rows"][j], self.pool["texts"][j]) for j in idx])
                )
            first_prompt = reqs[0].messages if reqs else None
            for i, res in zip(
                todo, self.chat_client.complete(reqs, budget=self.budget), strict=True
            ):
                account(i, res)
                usage.loc[i, "cached"] = res.cached
                skipped += res.skipped
                texts[i] = res.text if res.text is not None else np.nan
        else:
            skipped, first_prompt = self._one_example(
                todo, rows, codes, rng, request, account, usage, texts, examples_used, strategy
            )

        refined = 0
        if self.options["refine"]:
            refined = self._refine(rows, texts, seed, max_tokens, account, persona)
        stats = {
            "row_usage": usage,
            "rows": n,
            "missing_drawn": int(missing.sum()),
            "skipped_by_budget": int(skipped),
            "refined": int(refined),
            "first_prompt": list(first_prompt) if first_prompt else None,
            "personas": list(self.personas_),
            "row_personas": [persona(i) for i in range(n)],
            "examples_used": examples_used,
        }
        return texts, stats

    def _one_example(
        self, todo, rows, codes, rng, request, account, usage, texts, examples_used, strategy
    ):
        """Rounds of generation whose examples come from the rows generated so far."""
        k = self.options["n_shots"] or 1
        pool_rows = [self.pool["rows"][0]]
        pool_texts = [self.pool["texts"][0]]
        pool_codes = [np.asarray(self.pool["codes"][0], dtype=np.int64)]
        embedder = get_embedder(self.options["embedder"]) or get_embedder("tfidf")
        skipped = 0
        first_prompt = None
        frontier = [0]
        pos = 0
        while pos < len(todo):
            if strategy == "tree":
                plan = [p for p in frontier for _ in range(self.options["tree_branching"])]
            else:
                plan = [None] * self.options["round_size"]
            batch = todo[pos : pos + len(plan)]
            plan = plan[: len(batch)]
            pos += len(batch)
            vectors = (
                embedder.encode(pool_texts)
                if strategy in ("diverse", "similar")
                else np.zeros((len(pool_texts), 1))
            )
            reqs = []
            for i, parent in zip(batch, plan, strict=True):
                anchor = None
                if strategy == "similar":
                    match = (np.stack(pool_codes) == codes[i][None, :]).sum(1)
                    anchor = int(np.argmax(match))
                idx = select_examples(strategy, vectors, k, rng, anchor=anchor, parent=parent)
                examples_used[i] = [("real" if j == 0 else "generated", j) for j in idx]
                reqs.append(request(i, [(pool_rows[j], pool_texts[j]) for j in idx]))
            if first_prompt is None and reqs:
                first_prompt = reqs[0].messages
            new = []
            for i, res in zip(
                batch, self.chat_client.complete(reqs, budget=self.budget), strict=True
            ):
                account(i, res)
                usage.loc[i, "cached"] = res.cached
                skipped += res.skipped
                if res.text is None:
                    continue
                texts[i] = res.text
                pool_rows.append(rows[i])
                pool_texts.append(res.text)
                pool_codes.append(codes[i])
                new.append(len(pool_texts) - 1)
            frontier = new or frontier
        return skipped, first_prompt

    def _refine(self, rows, texts, seed, max_tokens, account, persona) -> int:
        """AgentInstruct-style critique -> rewrite; returns how many texts were rewritten."""
        col = self.options["column_name"]
        idx = [i for i, t in enumerate(texts) if isinstance(t, str)]
        crit_reqs = [
            ChatRequest(
                (
                    {
                        "role": "user",
                        "content": CRITIQUE_PROMPT.format(row=rows[i], column=col, text=texts[i]),
                    },
                ),
                seed=_seed(seed, i, 1),
                json_schema=CRITIQUE_SCHEMA,
                field="critique",
                max_tokens=128,
                tag="critique",
            )
            for i in idx
        ]
        critiques = self.chat_client.complete(crit_reqs, budget=self.budget)
        redo, rewrite_reqs = [], []
        for i, res in zip(idx, critiques, strict=True):
            account(i, res)
            if res.text is None or res.text.strip().upper().rstrip(".!").startswith("OK"):
                continue
            redo.append(i)
            rewrite_reqs.append(
                ChatRequest(
                    (
                        {"role": "system", "content": self._system(persona(i))},
                        {
                            "role": "user",
                            "content": REWRITE_PROMPT.format(
                                row=rows[i], column=col, text=texts[i], critique=res.text
                            ),
                        },
                    ),
                    seed=_seed(seed, i, 2),
                    json_schema=TEXT_SCHEMA,
                    max_tokens=max_tokens,
                    tag="rewrite",
                )
            )
        rewritten = 0
        for i, res in zip(
            redo, self.chat_client.complete(rewrite_reqs, budget=self.budget), strict=True
        ):
            account(i, res)
            if res.text is not None:
                texts[i] = res.text
                rewritten += 1
        return rewritten

    # ------------------------------------------------------------ save/load
    def get_config(self) -> dict:
        """JSON-serializable state: options, example pool, personas, encoder, chat client."""
        return {
            "kind": self.kind,
            "options": self.options,
            "backend": self.chat_client.get_config(),  # key kept: saved models read it
            "budget": None
            if self.budget is None
            else {"max_tokens": self.budget.max_tokens, "max_cost": self.budget.max_cost},
            "encoder": None if self.encoder is None else self.encoder.to_dict(),
            "pool": self.pool if self.options["save_examples"] else _EMPTY_POOL,
            "personas": self.personas_,
            "missing_rate": self.missing_rate_,
            "max_length": self.max_length,
        }

    def save(self, directory) -> None:
        """Nothing beyond the config: prompted generators have no weights."""

    @classmethod
    def load(
        cls, directory, config: dict, chat_client: ChatClient | None = None
    ) -> PromptedTextGenerator:
        """Rebuild from :meth:`get_config` output.

        The saved folder is untrusted: its client settings (``base_url``, ``api_key_env``,
        ``cache_path``, ``model_dir``) are never used. Without ``chat_client`` the generator
        gets a :class:`~llm_text.chat.DetachedChatClient` that raises on the first request.
        A model saved without its examples (the default) generates zero-shot.
        """
        if chat_client is None:
            chat_client = DetachedChatClient(config["backend"])
        budget = None if config.get("budget") is None else Budget(**config["budget"])
        options = dict(config["options"])
        pool = config.get("pool") or _EMPTY_POOL
        if not pool["texts"]:
            options["one_example"] = None  # no real example to start rounds from
        gen = cls(chat_client, budget=budget, **options)
        gen.encoder = ContextEncoder.from_dict(config["encoder"])
        gen.pool = {key: list(pool[key]) for key in _EMPTY_POOL}
        gen.personas_ = list(config["personas"])
        gen.missing_rate_ = float(config["missing_rate"])
        gen.max_length = config["max_length"]
        return gen


def chat_client_from_config(cfg: dict) -> ChatClient:
    """Re-create a chat client from its :meth:`~llm_text.chat.ChatClient.get_config`.

    For settings the caller trusts only: loading a model never calls it (the settings in a
    model folder may name any URL and environment variable).
    """
    cfg = dict(cfg)
    kind = cfg.pop("kind")
    if kind == "openai":
        from .openai_client import OpenAIChatClient

        return OpenAIChatClient(cfg.pop("model"), **cfg)
    if kind == "huggingface":
        from .hf_client import HuggingFaceChatClient

        cfg.pop("model")
        cfg.pop("max_concurrency", None)
        return HuggingFaceChatClient(cfg.pop("model_dir"), **cfg)
    raise InvalidDataError(f"unknown chat client kind {kind!r} in the saved model")
