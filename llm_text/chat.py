"""What every chat client shares: requests, caching, concurrency, retries, budget.

A chat client (an OpenAI-compatible server, a local Hugging Face model) answers chat requests; it
is not trained. A subclass implements only :meth:`ChatClient._call` (send one request once).
This base class adds:

* a persistent cache keyed by a hash of (model, messages, parameters, seed) (:mod:`.cache`);
* concurrent requests, at most ``max_concurrency`` at a time;
* retries with exponential backoff on rate limits (429), server errors (5xx), timeouts, broken
  connections and malformed answers, counted by cause in :attr:`ChatClient.usage`;
* token and cost accounting per request, and a :class:`Budget` (tokens or money) that stops
  sending new requests once it would be exceeded (cost-aware generation, arXiv 2408.16737).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from tabargn.errors import InvalidDataError, LLMBackendError

from .cache import AnswerCache, cache_key

__all__ = [
    "Budget",
    "ChatClient",
    "ChatRequest",
    "ChatResult",
    "DetachedChatClient",
    "RetryableError",
    "TEXT_SCHEMA",
    "parse_answer",
]

#: JSON schema of a structured answer holding one text value.
TEXT_SCHEMA: dict = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completion request.

    Attributes:
        messages: ``({"role": ..., "content": ...}, ...)`` in order.
        seed: Sampling seed sent to the server and part of the cache key.
        json_schema: When set, the answer must be a JSON object matching it (structured output);
            its ``field`` is the result text.
        field: The key read from a structured answer (default ``"text"``).
        temperature: Sampling temperature (``None``: the client's default).
        max_tokens: Maximum answer tokens (``None``: the client's default).
        tag: Label used for accounting (``"text"``, ``"critique"``, ``"persona"``, ...).
    """

    messages: tuple
    seed: int | None = None
    json_schema: dict | None = None
    field: str = "text"
    temperature: float | None = None
    max_tokens: int | None = None
    tag: str = "text"


@dataclass
class ChatResult:
    """The answer to one :class:`ChatRequest`.

    Attributes:
        text: The answer text; ``None`` when the request was not sent (budget exhausted) or
            failed.
        prompt_tokens: Input tokens reported by the server (0 when unknown or not sent).
        completion_tokens: Output tokens reported by the server.
        cost: Money spent *in this run* (0 for a cache hit).
        cached: Whether the answer came from the cache.
        attempts: HTTP attempts made in this run (0 for a cache hit).
        skipped: ``True`` when the budget stopped the request before it was sent.
        error: The last error message, when the request failed.
    """

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cached: bool = False
    attempts: int = 0
    skipped: bool = False
    error: str | None = None


class RetryableError(Exception):
    """Raised by :meth:`ChatClient._call` for a failure worth retrying.

    Args:
        cause: One of ``"rate_limit"``, ``"server_error"``, ``"timeout"``, ``"connection"``,
            ``"malformed"``.
        message: Details.
        retry_after: Seconds the server asked to wait, if it said.
    """

    def __init__(self, cause: str, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{cause}: {message}")
        self.cause = cause
        self.retry_after = retry_after


@dataclass
class Budget:
    """A spending limit for one run: tokens, money, or both (arXiv 2408.16737).

    Before each group of requests is sent, the expected spend of the group is estimated from the
    mean spend of the requests answered so far; requests that would cross a limit are not sent
    (their rows stay missing and are counted as ``skipped_by_budget`` in the data card). The spend
    can exceed a limit by at most the in-flight requests of one group (``max_concurrency``).

    Args:
        max_tokens: Limit on prompt + completion tokens, or ``None``.
        max_cost: Limit on money (same unit as the chat client's prices), or ``None``.
    """

    max_tokens: int | None = None
    max_cost: float | None = None
    spent_tokens: int = 0
    spent_cost: float = 0.0
    answered: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def charge(self, tokens: int, cost: float) -> None:
        """Add one answered request's spend."""
        with self._lock:
            self.spent_tokens += int(tokens)
            self.spent_cost += float(cost)
            self.answered += 1

    def allowed(self, wanted: int) -> int:
        """How many of ``wanted`` further requests fit in the remaining budget."""
        with self._lock:
            n = wanted
            if self.answered == 0:
                exhausted = (self.max_tokens is not None and self.max_tokens <= 0) or (
                    self.max_cost is not None and self.max_cost <= 0
                )
                return 0 if exhausted else min(wanted, 1)  # learn the price of one first
            if self.max_tokens is not None:
                per = self.spent_tokens / self.answered
                left = self.max_tokens - self.spent_tokens
                n = min(n, int(left // per) if per > 0 else n) if left > 0 else 0
            if self.max_cost is not None:
                per = self.spent_cost / self.answered
                left = self.max_cost - self.spent_cost
                n = min(n, int(left // per) if per > 0 else n) if left > 0 else 0
            return max(0, n)

    def to_dict(self) -> dict:
        """Limits and spend, for the data card."""
        return {
            "max_tokens": self.max_tokens,
            "max_cost": self.max_cost,
            "spent_tokens": self.spent_tokens,
            "spent_cost": self.spent_cost,
        }


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_answer(content: str | None, request: ChatRequest) -> str:
    """Extract the text of an answer; raises :class:`RetryableError` (``malformed``) if invalid."""
    if content is None:
        raise RetryableError("malformed", "the answer has no content")
    content = content.strip()
    if request.json_schema is None:
        return content
    try:
        obj = json.loads(_FENCE.sub("", content))
    except json.JSONDecodeError as exc:
        raise RetryableError("malformed", f"answer is not JSON: {content[:80]!r}") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get(request.field), str):
        raise RetryableError("malformed", f"answer lacks the string field {request.field!r}")
    return obj[request.field]


class ChatClient:
    """Base class of chat clients (OpenAI-compatible server, local Hugging Face model).

    Args:
        model: The model name (part of every cache key).
        cache_path: SQLite cache file, or ``None`` for no persistent cache.
        max_concurrency: Requests in flight at once (default 4).
        max_retries: Retries per request after the first attempt (default 5).
        backoff_base: First backoff in seconds; doubles per retry (default 0.5).
        backoff_max: Cap on one backoff, also on a server's ``Retry-After`` (default 30).
        temperature: Default sampling temperature (default 0.9).
        max_tokens: Default answer token limit (default 256).
        price_per_million_input: Money per million prompt tokens (default 0: cost unknown).
        price_per_million_output: Money per million completion tokens (default 0).
    """

    kind = "chat"

    def __init__(
        self,
        model: str,
        *,
        cache_path: str | Path | None = None,
        max_concurrency: int = 4,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        temperature: float = 0.9,
        max_tokens: int = 256,
        price_per_million_input: float = 0.0,
        price_per_million_output: float = 0.0,
    ) -> None:
        if max_concurrency < 1 or max_retries < 0:
            raise InvalidDataError("max_concurrency must be >= 1 and max_retries >= 0")
        self.model = str(model)
        self.cache_path = None if cache_path is None else str(cache_path)
        self.cache = None if cache_path is None else AnswerCache(cache_path)
        self.max_concurrency = int(max_concurrency)
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.price_in = float(price_per_million_input)
        self.price_out = float(price_per_million_output)
        self._lock = threading.Lock()
        self.usage: Counter = Counter()

    # ------------------------------------------------------------------ to override
    def _call(self, request: ChatRequest) -> tuple[str | None, int, int]:
        """Send one request once: return (content, prompt_tokens, completion_tokens).

        Raise :class:`RetryableError` for failures worth retrying and
        :class:`~tabargn.errors.LLMBackendError` for failures that are not (bad request, auth).
        """
        raise NotImplementedError

    def _parse(self, content: str | None, request: ChatRequest) -> str:
        """Read the text out of an answer (structured JSON or plain)."""
        return parse_answer(content, request)

    def get_config(self) -> dict:
        """JSON-serializable settings (never credentials)."""
        return {
            "kind": self.kind,
            "model": self.model,
            "cache_path": self.cache_path,
            "max_concurrency": self.max_concurrency,
            "max_retries": self.max_retries,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "price_per_million_input": self.price_in,
            "price_per_million_output": self.price_out,
        }

    # ------------------------------------------------------------------ shared machinery
    def request_key(self, request: ChatRequest) -> str:
        """Cache key: hash of (model, messages, parameters, seed)."""
        return cache_key(
            {
                "model": self.model,
                "messages": list(request.messages),
                "params": {
                    "temperature": self._temperature(request),
                    "max_tokens": self._max_tokens(request),
                    "json_schema": request.json_schema,
                    "field": request.field,
                },
                "seed": request.seed,
            }
        )

    def _temperature(self, request: ChatRequest) -> float:
        return self.temperature if request.temperature is None else float(request.temperature)

    def _max_tokens(self, request: ChatRequest) -> int:
        return self.max_tokens if request.max_tokens is None else int(request.max_tokens)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.usage[name] += n

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = self.backoff_base * (2**attempt)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.backoff_max)

    def _send(self, request: ChatRequest) -> ChatResult:
        last = ""
        for attempt in range(self.max_retries + 1):
            self._count("http_attempts")
            try:
                content, p_tok, c_tok = self._call(request)
                text = self._parse(content, request)
            except RetryableError as exc:
                last = str(exc)
                self._count(f"errors_{exc.cause}")
                if attempt < self.max_retries:
                    self._count("retries")
                    time.sleep(self._backoff(attempt, exc.retry_after))
                continue
            cost = (p_tok * self.price_in + c_tok * self.price_out) / 1e6
            return ChatResult(text, p_tok, c_tok, cost, cached=False, attempts=attempt + 1)
        return ChatResult(None, attempts=self.max_retries + 1, error=last)

    def complete(
        self, requests: list[ChatRequest], *, budget: Budget | None = None
    ) -> list[ChatResult]:
        """Answer requests: from the cache when possible, else from the model, concurrently.

        Args:
            requests: The requests, any number.
            budget: Optional spending limit shared across calls; requests beyond it come back
                with ``skipped=True`` and ``text=None``.

        Returns:
            One :class:`ChatResult` per request, in order.

        Raises:
            LLMBackendError: When a request still fails after ``max_retries`` retries (or fails
                in a way not worth retrying). Every answer received before is in the cache, so a
                re-run with the same inputs and seed requests only what is missing.
        """
        results: list[ChatResult | None] = [None] * len(requests)
        keys = [self.request_key(r) for r in requests]
        pending: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                self._count("cache_hits")
                results[i] = ChatResult(
                    hit["text"], hit.get("prompt_tokens", 0), hit.get("completion_tokens", 0),
                    0.0, cached=True,
                )  # fmt: skip
            else:
                pending.setdefault(key, []).append(i)
        order = list(pending)
        failure: str | None = None
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            in_flight: dict = {}
            pos = 0
            while pos < len(order) or in_flight:
                while (
                    failure is None and pos < len(order) and len(in_flight) < self.max_concurrency
                ):
                    room = self.max_concurrency - len(in_flight)
                    if budget is not None:
                        if in_flight and budget.answered == 0:
                            break  # wait for the first answer to learn the price
                        room = min(room, budget.allowed(room))
                        if room == 0:
                            break
                    for key in order[pos : pos + room]:
                        req = requests[pending[key][0]]
                        in_flight[pool.submit(self._send, req)] = key
                    pos += min(room, len(order) - pos)
                if not in_flight:
                    break
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for fut in done:
                    key = in_flight.pop(fut)
                    try:
                        res = fut.result()
                    except LLMBackendError as exc:
                        res = ChatResult(None, error=str(exc))
                    if res.text is None:
                        self._count("failed_requests")
                        failure = failure or res.error or "unknown error"
                    else:
                        self._count("answers")
                        self._count("prompt_tokens", res.prompt_tokens)
                        self._count("completion_tokens", res.completion_tokens)
                        with self._lock:
                            self.usage["cost_micro"] += round(res.cost * 1e6)
                        if budget is not None:
                            budget.charge(res.prompt_tokens + res.completion_tokens, res.cost)
                        if self.cache is not None:
                            self.cache.put(
                                key,
                                {
                                    "text": res.text,
                                    "prompt_tokens": res.prompt_tokens,
                                    "completion_tokens": res.completion_tokens,
                                    "cost": res.cost,
                                    "model": self.model,
                                },
                            )
                    for i in pending[key]:
                        results[i] = res
        if failure is not None:
            done_n = sum(r is not None and r.text is not None for r in results)
            raise LLMBackendError(
                f"{self.kind} chat client ({self.model}) failed after {self.max_retries} retries: "
                f"{failure}. {done_n} of {len(requests)} requests have answers"
                + (" (kept in the cache: re-run to resume)" if self.cache is not None else "")
            )
        for i, r in enumerate(results):
            if r is None:
                self._count("skipped_by_budget")
                results[i] = ChatResult(None, skipped=True)
        return results  # type: ignore[return-value]

    def usage_dict(self) -> dict:
        """Counters since creation: attempts, retries by cause, tokens, cost, cache hits."""
        with self._lock:
            out = {k: v for k, v in self.usage.items() if k != "cost_micro"}
            out["cost"] = self.usage.get("cost_micro", 0) / 1e6
        return out


class DetachedChatClient(ChatClient):
    """Stand-in for the chat client of a prompted model loaded without one.

    A model folder is untrusted input: the ``base_url`` and ``api_key_env`` saved in it are never
    used to send requests (a crafted folder could send an environment variable's secret to any
    URL). :meth:`TextColumnModel.load <llm_text.TextColumnModel.load>` without ``chat_client``
    puts this client in place; it keeps the saved settings for a later save and raises on use.

    Args:
        saved: The saved client settings (``get_config()`` output).
    """

    kind = "detached"

    def __init__(self, saved: dict) -> None:
        super().__init__(str(saved.get("model", "unknown")))
        self.saved = dict(saved)
        self.kind = str(saved.get("kind", "detached"))

    def get_config(self) -> dict:
        """The saved settings, unchanged."""
        return dict(self.saved)

    def _call(self, request: ChatRequest) -> tuple[str | None, int, int]:
        raise LLMBackendError(
            "this prompted text model was loaded without a chat client: the URL and key "
            "variable saved in a model folder are never used; pass the backend again at load "
            "(TextColumnModel.load(dir, chat_client=...) or TabularARGN.load(dir, "
            "text_backend=...))"
        )
