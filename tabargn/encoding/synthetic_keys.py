"""Synthetic keys: random strings of an identifier column's shape, never a training value.

A column whose values are unique per row (e-mail addresses, customer numbers, hashes) has no
category that value protection (:mod:`tabargn.encoding.value_protection`) can keep. Instead of a
real value, such a column decodes to random keys of the same *shape*: the values are written as
runs of character classes (``A`` upper-case letters, ``a`` lower-case letters, ``9`` digits; every
other character is a literal run of itself), and the most common run pattern is kept when at
least ``k`` training values share it. Each run keeps only its length range, clipped to the
``k``-th smallest and ``k``-th largest length. ``"jane.doe42@mail.com"`` has the pattern
``a . a 9 @ a . a``; a synthetic key of it is e.g. ``"qkzv.tpxa17@rbew.hzq"``.

The stats hold the pattern and length ranges only, no value. A key is random, so it could equal a
training value only by chance: the shape is used only when its space holds at least
:data:`MIN_SPACE_PER_VALUE` times as many keys as there are training values, so that chance is
below one in a million per generated key; otherwise the caller falls back to a placeholder.

Source: the shape-preserving idea follows format-preserving pseudonymization (e.g. the "mask"
and "faker" generators of MOSTLY AI's platform); the run-pattern encoding is ours.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from tabargn.encoding.value_protection import kth_largest, kth_smallest

__all__ = ["MIN_SPACE_PER_VALUE", "learn_shape", "generate_keys"]

MIN_SPACE_PER_VALUE = 1e6
"""The key space must exceed the number of training values by this factor."""

_ALPHABETS = {
    "A": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "a": "abcdefghijklmnopqrstuvwxyz",
    "9": "0123456789",
}


def _char_class(ch: str) -> str:
    if ch.isdigit() and ch.isascii():
        return "9"
    if ch.isalpha():
        return "A" if ch.isupper() else "a"
    return "=" + ch  # a literal character


def _runs(value: str) -> list[tuple[str, int]]:
    """The value as ``[(class, length), ...]``; literal runs repeat one character."""
    runs: list[list] = []
    for ch in value:
        cls = _char_class(ch)
        if runs and runs[-1][0] == cls:
            runs[-1][1] += 1
        else:
            runs.append([cls, 1])
    return [(c, n) for c, n in runs]


def learn_shape(values: list, k: int) -> dict | None:
    """The shape of an identifier column, or None when no safe shape exists.

    Args:
        values: The distinct training values (each held by one row).
        k: Value-protection threshold: the pattern must be shared by at least ``k`` values.

    Returns:
        ``{"runs": [[class, min_len, max_len], ...]}`` or None (non-string values, no pattern
        held by ``k`` values, or a key space too small to make a chance hit negligible).
    """
    if not values or not all(isinstance(v, str) for v in values):
        return None
    shapes = [_runs(v) for v in values]
    patterns = Counter(tuple(c for c, _ in s) for s in shapes)
    pattern, count = patterns.most_common(1)[0]
    if count < k or not pattern:
        return None
    lengths = np.array([[n for _, n in s] for s in shapes if tuple(c for c, _ in s) == pattern])
    runs = []
    log_space = 0.0
    for j, cls in enumerate(pattern):
        col = np.sort(lengths[:, j])
        lo, hi = int(kth_smallest(col, k)), int(kth_largest(col, k))
        lo, hi = min(lo, hi), max(lo, hi)
        runs.append([cls, lo, hi])
        if not cls.startswith("="):
            log_space += lo * math.log10(len(_ALPHABETS[cls]))
    if log_space < math.log10(MIN_SPACE_PER_VALUE * len(values)):
        return None
    return {"runs": runs}


def generate_keys(shape: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draws ``n`` random keys of a shape from :func:`learn_shape`.

    Returns:
        ``object [n]`` array of strings.
    """
    parts = []
    for cls, lo, hi in shape["runs"]:
        lengths = rng.integers(lo, hi + 1, size=n)
        if cls.startswith("="):
            parts.append([cls[1:] * int(m) for m in lengths])
            continue
        alphabet = np.array(list(_ALPHABETS[cls]))
        chars = alphabet[rng.integers(0, len(alphabet), size=(n, int(hi)))]
        parts.append(["".join(row[: int(m)]) for row, m in zip(chars, lengths, strict=True)])
    out = np.empty(n, dtype=object)
    out[:] = ["".join(p) for p in zip(*parts, strict=True)] if parts else [""] * n
    return out
