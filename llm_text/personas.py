"""Persona-conditioned generation (Persona Hub, Ge et al., arXiv 2406.20094).

A persona (a one-sentence description of a writer) is attached to each synthetic row and put in
its prompt, to steer style and content and to spread the outputs over many voices. Personas come
from the two Persona Hub methods:

* **text-to-persona**: for a real text, ask the LLM who is likely to have written it;
* **persona-to-persona**: for a persona, ask who is in a close relationship with them
  (a colleague, a customer, a supervisor...), to reach personas the data shows less often.

Or the caller gives a list of personas.
"""

from __future__ import annotations

import numpy as np

from .chat import Budget, ChatClient, ChatRequest

__all__ = ["PERSONA_SCHEMA", "text_to_persona", "expand_personas", "build_personas"]

PERSONA_SCHEMA: dict = {
    "type": "object",
    "properties": {"persona": {"type": "string"}},
    "required": ["persona"],
    "additionalProperties": False,
}

TEXT_TO_PERSONA = (
    "Here is a text from a dataset:\n\n{text}\n\nWho is likely to have written this text? "
    'Describe that person in one sentence (role, experience, writing habits). Reply as JSON: {{"persona": "..."}}'
)
PERSONA_TO_PERSONA = (
    "Here is a persona:\n\n{persona}\n\nWho is in a close relationship with this persona "
    "(a colleague, a customer, a supervisor, a competitor, ...) and would write similar texts in "
    'their own way? Describe that person in one sentence. Reply as JSON: {{"persona": "..."}}'
)


def _request(prompt: str, seed: int) -> ChatRequest:
    return ChatRequest(
        ({"role": "user", "content": prompt},),
        seed=seed,
        json_schema=PERSONA_SCHEMA,
        field="persona",
        max_tokens=96,
        tag="persona",
    )


def text_to_persona(
    chat_client: ChatClient,
    texts: list[str],
    *,
    random_state: int = 0,
    budget: Budget | None = None,
) -> list[str]:
    """Infer one persona per text (Persona Hub's text-to-persona).

    Args:
        chat_client: A chat client.
        texts: Real texts.
        random_state: Seed sent with the requests.
        budget: Optional spending limit.

    Returns:
        One persona per answered text (skipped requests are left out), stripped.
    """
    reqs = [
        _request(TEXT_TO_PERSONA.format(text=t[:2000]), (random_state * 7919 + i) % (2**31))
        for i, t in enumerate(texts)
    ]
    return [r.text.strip() for r in chat_client.complete(reqs, budget=budget) if r.text]


def expand_personas(
    chat_client: ChatClient,
    personas: list[str],
    n: int,
    *,
    random_state: int = 0,
    max_rounds: int = 5,
    budget: Budget | None = None,
) -> list[str]:
    """Grow a persona list to ``n`` distinct personas by persona-to-persona expansion.

    Each round asks, for personas chosen at random from the current list, for a related persona;
    exact duplicates (case-insensitive) are dropped.

    Args:
        chat_client: A chat client.
        personas: Starting personas.
        n: Target number of distinct personas.
        random_state: Seed of the choices and requests.
        max_rounds: Upper limit on rounds (default 5).
        budget: Optional spending limit.

    Returns:
        The distinct personas, the starting ones first (at most ``n``).
    """
    rng = np.random.default_rng(random_state)
    out: list[str] = []
    seen: set[str] = set()
    for p in personas:
        if p.lower() not in seen:
            seen.add(p.lower())
            out.append(p)
    for rnd in range(max_rounds):
        if len(out) >= n or not out:
            break
        sources = rng.choice(len(out), size=n - len(out), replace=True)
        reqs = [
            _request(
                PERSONA_TO_PERSONA.format(persona=out[int(s)]),
                (random_state * 104729 + rnd * 1009 + j) % (2**31),
            )
            for j, s in enumerate(sources)
        ]
        for res in chat_client.complete(reqs, budget=budget):
            if res.text and res.text.strip().lower() not in seen:
                seen.add(res.text.strip().lower())
                out.append(res.text.strip())
    return out[:n]


def build_personas(
    chat_client: ChatClient,
    texts: list[str],
    *,
    n_seeds: int = 8,
    n_personas: int = 16,
    random_state: int = 0,
    budget: Budget | None = None,
) -> list[str]:
    """Text-to-persona on ``n_seeds`` random real texts, then expansion to ``n_personas``.

    Returns:
        Distinct personas (possibly fewer than ``n_personas`` when the LLM repeats itself).
    """
    rng = np.random.default_rng(random_state)
    pick = rng.choice(len(texts), size=min(n_seeds, len(texts)), replace=False)
    seeds = text_to_persona(
        chat_client, [texts[int(i)] for i in sorted(pick)], random_state=random_state, budget=budget
    )
    return expand_personas(chat_client, seeds, n_personas, random_state=random_state, budget=budget)
