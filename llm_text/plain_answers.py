"""Plain-text prompting and tolerant answer parsing for small local models.

Small instruction-tuned models (SmolLM2-135M and the like) follow "reply only with JSON" poorly:
they wrap the JSON in prose, leave it unterminated or forget it. JSON-constrained decoding costs
quality as well (Tam et al., *Let Me Speak Freely? A Study on the Impact of Format Restrictions on
Performance of Large Language Models*, EMNLP 2024 Industry). So when the answer is one free-text
value, the local client asks for the plain value (:func:`plain_messages` rewrites the shared
prompts: the JSON instruction and the JSON few-shot answers become plain text) and keeps JSON
only where structure is asked for (a critique, several fields); :func:`tolerant_parse` then reads
what came back.
"""

from __future__ import annotations

import json
import re

__all__ = ["is_single_text", "plain_messages", "tolerant_parse", "plain_parse"]

_JSON_INSTRUCTION = re.compile(r"Reply only with JSON:\s*\{\s*\"(\w+)\"\s*:\s*\"\.\.\.\"\s*\}")
_PLAIN_INSTRUCTION = "Reply with the value only: no quotes, no labels, no explanation."
_FENCE = re.compile(r"```(?:json|text)?\s*(.*?)\s*```", re.IGNORECASE | re.DOTALL)
_LABEL = re.compile(r"^\s*(?:value|text|answer|assistant)\s*:\s*", re.IGNORECASE)


def is_single_text(schema: dict | None, field: str) -> bool:
    """True for a JSON schema whose only property is the string ``field``."""
    if not schema:
        return False
    props = schema.get("properties", {})
    return list(props) == [field] and props[field].get("type") == "string"


def plain_messages(messages, field: str) -> list[dict]:
    """The same conversation asking for a plain-text value instead of ``{field: ...}`` JSON.

    The JSON instruction becomes a plain one and every assistant turn holding ``{field: text}``
    JSON (the few-shot examples) becomes ``text``.
    """
    out = []
    for m in messages:
        content = str(m["content"])
        if m["role"] == "assistant":
            try:
                obj = json.loads(content)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get(field), str):
                content = obj[field]
        else:
            content = _JSON_INSTRUCTION.sub(_PLAIN_INSTRUCTION, content)
        out.append({"role": m["role"], "content": content})
    return out


def plain_parse(content: str | None) -> str | None:
    """A plain-text answer cleaned of fences, a leading label and wrapping quotes; JSON with one
    string value is unwrapped too. ``None`` for an empty answer."""
    if content is None:
        return None
    text = content.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    if text.startswith("{"):
        obj = _first_json_object(text)
        if obj is not None:
            strings = [v for v in obj.values() if isinstance(v, str)]
            if len(strings) == 1:
                text = strings[0]
    text = _LABEL.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text or None


def _first_json_object(text: str) -> dict | None:
    """The first parseable ``{...}`` object in ``text`` (prose around it is ignored)."""
    decoder = json.JSONDecoder()
    for start in [i for i, ch in enumerate(text) if ch == "{"]:
        try:
            obj, _ = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def tolerant_parse(content: str | None, field: str) -> str | None:
    """Read ``field`` from an answer that was asked to be JSON.

    Tries, in order: the first JSON object in the answer (fences and prose around it ignored),
    a ``"field": "..."`` pair in broken JSON (unterminated object, trailing text), and a plain
    answer without any JSON. ``None`` when nothing usable is there.
    """
    if content is None:
        return None
    text = content.strip()
    obj = _first_json_object(text)
    if obj is not None and isinstance(obj.get(field), str):
        return obj[field]
    pair = re.search(rf'"{re.escape(field)}"\s*:\s*"((?:[^"\\]|\\.)*)', text, re.DOTALL)
    if pair:
        try:
            return json.loads(f'"{pair.group(1)}"')
        except json.JSONDecodeError:
            return pair.group(1)
    if "{" in text:
        return None
    return plain_parse(text)
