"""One-example data creation (Lee et al., "Making Large Language Models Better Data Creators",
EMNLP 2023).

From a *single* formatting example, an LLM generates more records of the same format,
iteratively: each round's prompt shows in-context examples drawn from the records generated so far
(the seed example included), chosen by one of five settings:

* ``naive``: always the single seed example (no iteration feedback);
* ``random``: examples drawn at random from the pool;
* ``diverse``: examples as dissimilar as possible (greedy farthest-point selection on text
  embeddings: each next example maximizes its minimum distance to those already picked);
* ``similar``: an anchor from the pool and its nearest neighbours (in a row-conditioned run, the
  anchor is the pool record whose row best matches the target row);
* ``tree``: records grow as a tree: every record of round *r* is generated from exactly one
  parent of round *r - 1* (the seed is the root), ``branching`` children per parent.

:func:`select_examples` holds the selection rule; :class:`OneExampleCreator` runs the iterative
loop with any :class:`~llm_text.chat.ChatClient` (the same rule is used by
:class:`~llm_text.prompted.PromptedTextGenerator` with ``one_example=...``).
"""

from __future__ import annotations

import json

import numpy as np

from tabargn.errors import InvalidDataError

from .chat import TEXT_SCHEMA, Budget, ChatClient, ChatRequest
from .embeddings import cosine_similarity, get_embedder

__all__ = ["STRATEGIES", "select_examples", "OneExampleCreator"]

STRATEGIES = ("naive", "random", "diverse", "similar", "tree")


def select_examples(
    strategy: str,
    vectors,
    k: int,
    rng: np.random.Generator,
    *,
    anchor: int | None = None,
    parent: int | None = None,
) -> list[int]:
    """Pick in-context examples from a pool (index 0 is the seed example).

    Args:
        strategy: One of :data:`STRATEGIES`.
        vectors: Unit-norm embeddings of the pool, ``[pool_size, dim]`` (dense or sparse); only
            used by ``diverse`` and ``similar``.
        k: Number of examples wanted (fewer when the pool is smaller).
        rng: Random generator (``random`` draws, start of ``diverse``, anchor of ``similar``).
        anchor: ``similar``: the pool index to gather neighbours around (default: random).
        parent: ``tree``: the parent's pool index (default: the seed, 0).

    Returns:
        Pool indices, without repeats.

    Raises:
        InvalidDataError: For an unknown strategy.
    """
    if strategy not in STRATEGIES:
        raise InvalidDataError(
            f"unknown one-example strategy {strategy!r}; use one of {STRATEGIES}"
        )
    n = vectors.shape[0]
    k = max(1, min(int(k), n))
    if strategy == "naive":
        return [0]
    if strategy == "tree":
        return [0 if parent is None else int(parent)]
    if strategy == "random":
        return [int(i) for i in rng.choice(n, size=k, replace=False)]
    sims = cosine_similarity(vectors, vectors)
    if strategy == "similar":
        a = int(rng.integers(n)) if anchor is None else int(anchor)
        order = np.lexsort((np.arange(n), -sims[a]))  # most similar first, ties by index
        picked = [a] + [int(i) for i in order if i != a]
        return picked[:k]
    # diverse: greedy farthest-point selection
    picked = [int(rng.integers(n))]
    min_dist = 1.0 - sims[picked[0]]
    min_dist[picked[0]] = -np.inf
    while len(picked) < k:
        nxt = int(np.argmax(min_dist))
        picked.append(nxt)
        min_dist = np.minimum(min_dist, 1.0 - sims[nxt])
        min_dist[picked] = -np.inf
    return picked


def _format_instruction(instruction: str | None) -> str:
    base = (
        "You create new data records in exactly the same format as the examples. Each new record "
        "must be different from every example: new content, same format and style."
    )
    return base if not instruction else base + "\n" + instruction


class OneExampleCreator:
    """Iterative data creation from one formatting example (Lee et al., EMNLP 2023).

    Args:
        chat_client: Any chat client (e.g. :class:`~llm_text.openai_client.OpenAIChatClient`).
        strategy: ``"naive"``, ``"random"``, ``"diverse"``, ``"similar"`` or ``"tree"``
            (default ``"diverse"``).
        n_examples: In-context examples per prompt (default 3; ``naive`` and ``tree`` use 1).
        round_size: Records generated per round for the non-tree settings (default 8).
        branching: Children per parent for ``tree`` (default 3).
        instruction: Extra task instruction added to the system prompt.
        embedder: ``"auto"``, ``"tfidf"`` or ``"minilm"`` (see :func:`~llm_text.embeddings.get_embedder`).
        budget: Optional :class:`~llm_text.chat.Budget`.

    Attributes:
        history_: After :meth:`create`, one dict per created record: ``{"text", "round",
            "examples"}`` where ``examples`` are the pool indices shown in its prompt (pool index
            0 is the seed, index *i* > 0 is created record *i - 1*).
    """

    def __init__(
        self,
        chat_client: ChatClient,
        *,
        strategy: str = "diverse",
        n_examples: int = 3,
        round_size: int = 8,
        branching: int = 3,
        instruction: str | None = None,
        embedder: str = "auto",
        budget: Budget | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise InvalidDataError(f"unknown strategy {strategy!r}; use one of {STRATEGIES}")
        self.chat_client = chat_client
        self.strategy = strategy
        self.n_examples = int(n_examples)
        self.round_size = int(round_size)
        self.branching = int(branching)
        self.instruction = instruction
        self.embedder = get_embedder(embedder) or get_embedder("tfidf")
        self.budget = budget
        self.history_: list[dict] = []

    def _messages(self, examples: list[str]) -> tuple:
        shown = "\n\n".join(
            f"Example {i + 1}:\n{json.dumps({'text': e})}" for i, e in enumerate(examples)
        )
        return (
            {"role": "system", "content": _format_instruction(self.instruction)},
            {"role": "user", "content": f"{shown}\n\nWrite one new record as JSON."},
        )

    def create(self, example: str, n: int, *, random_state: int = 0) -> list[str]:
        """Create ``n`` records from the one ``example``.

        Args:
            example: The single formatting example (a string; serialize structured records as
                JSON).
            n: Number of records to create.
            random_state: Seed of example selection and of the per-request seeds.

        Returns:
            The created records (fewer than ``n`` only when the budget ran out).
        """
        if not isinstance(example, str) or not example.strip():
            raise InvalidDataError("the formatting example must be a non-empty string")
        rng = np.random.default_rng(random_state)
        pool = [example]
        self.history_ = []
        frontier = [0]  # tree: the parents of the next round
        rnd = 0
        while len(pool) - 1 < n:
            rnd += 1
            vectors = self.embedder.encode(pool)
            plan: list[list[int]] = []
            if self.strategy == "tree":
                for parent in frontier:
                    plan.extend([[parent]] * self.branching)
            else:
                plan = [
                    select_examples(self.strategy, vectors, self.n_examples, rng)
                    for _ in range(self.round_size)
                ]
            plan = plan[: n - (len(pool) - 1)]
            requests = [
                ChatRequest(
                    self._messages([pool[i] for i in ex]),
                    seed=int((random_state * 1_000_003 + len(pool) + j) % (2**31)),
                    json_schema=TEXT_SCHEMA,
                    tag="one_example",
                )
                for j, ex in enumerate(plan)
            ]
            results = self.chat_client.complete(requests, budget=self.budget)
            start = len(pool)
            new = []
            for ex, res in zip(plan, results, strict=True):
                if res.text is None:
                    continue
                pool.append(res.text)
                new.append(len(pool) - 1)
                self.history_.append({"text": res.text, "round": rnd, "examples": ex})
            if len(pool) == start:
                break  # budget exhausted: nothing new
            frontier = new
        return pool[1:]
