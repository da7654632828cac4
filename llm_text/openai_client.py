"""Chat client for any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp, Ollama).

Uses the official ``openai`` client with its own retries switched off (``max_retries=0``): this
module retries itself so every retry is counted and the backoff is deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path

from tabargn.errors import LLMBackendError

from .chat import ChatClient, ChatRequest, RetryableError, parse_answer

__all__ = ["OpenAIChatClient"]


def _retry_after(exc) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


class OpenAIChatClient(ChatClient):
    """Chat completions from an OpenAI-compatible HTTP server.

    Args:
        model: Model name sent to the server.
        base_url: Server root including ``/v1`` (e.g. ``"http://127.0.0.1:8000/v1"``); ``None``
            uses the client's default (``OPENAI_BASE_URL`` or api.openai.com).
        api_key: The key; ``None`` reads the environment variable ``api_key_env``.
        api_key_env: Environment variable holding the key (default ``"OPENAI_API_KEY"``). Local
            servers often need no key: a placeholder is sent when none is set.
        timeout: Seconds before one HTTP attempt counts as timed out (default 60).
        structured_output: Ask for JSON-schema structured output (``response_format`` of type
            ``json_schema``) and read the ``text`` field (default ``True``). Servers without
            support can use ``False``: the whole answer is the text.
        client: An already configured ``openai.OpenAI`` client (its retries should be 0).
        **kwargs: :class:`~llm_text.chat.ChatClient` settings: ``cache_path``,
            ``max_concurrency``, ``max_retries``, ``backoff_base``, ``backoff_max``,
            ``temperature``, ``max_tokens``, ``price_per_million_input``,
            ``price_per_million_output``.

    Raises:
        LLMBackendError: When the ``openai`` package cannot be imported.
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        structured_output: bool = True,
        client=None,
        cache_path: str | Path | None = None,
        **kwargs,
    ) -> None:
        super().__init__(model, cache_path=cache_path, **kwargs)
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - openai is a core dependency
            raise LLMBackendError("the openai package is required: pip install openai") from exc
        self._openai = openai
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.structured_output = bool(structured_output)
        if client is None:
            key = api_key or os.environ.get(api_key_env) or "not-needed"
            client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=timeout)
        self.client = client

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            timeout=self.timeout,
            structured_output=self.structured_output,
        )
        return cfg

    def _call(self, request: ChatRequest) -> tuple[str | None, int, int]:
        openai = self._openai
        kwargs = {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            "temperature": self._temperature(request),
            "max_tokens": self._max_tokens(request),
            "timeout": self.timeout,
        }
        if request.seed is not None:
            kwargs["seed"] = int(request.seed)
        if request.json_schema is not None and self.structured_output:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema, "strict": True},
            }
        try:
            response = self.client.chat.completions.create(**kwargs)
        except openai.RateLimitError as exc:
            raise RetryableError("rate_limit", str(exc), _retry_after(exc)) from exc
        except openai.APITimeoutError as exc:
            raise RetryableError("timeout", str(exc)) from exc
        except openai.APIConnectionError as exc:
            raise RetryableError("connection", str(exc)) from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code in (408, 409):
                raise RetryableError("server_error", str(exc), _retry_after(exc)) from exc
            raise LLMBackendError(f"the server refused the request: {exc}") from exc
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise RetryableError("malformed", str(exc)) from exc
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as exc:
            raise RetryableError("malformed", f"unexpected response shape: {exc}") from exc
        usage = getattr(response, "usage", None)
        p_tok = int(getattr(usage, "prompt_tokens", 0) or 0)
        c_tok = int(getattr(usage, "completion_tokens", 0) or 0)
        return content, p_tok, c_tok

    def _parse(self, content: str | None, request: ChatRequest) -> str:
        if request.json_schema is None or self.structured_output:
            return parse_answer(content, request)
        try:  # no structured output: JSON if the model wrote JSON, else the whole answer
            return parse_answer(content, request)
        except RetryableError:
            if content is None or not content.strip():
                raise
            return content.strip()
