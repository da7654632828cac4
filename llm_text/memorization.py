"""Memorization guard: no rare training text comes out verbatim or as a near copy.

A text held by fewer than ``k`` training rows (``k`` drawn in 5..7 as by tabargn's value
protection, :mod:`tabargn.encoding.value_protection`) can identify those rows; a generator that
memorized it must not reproduce it. The guard remembers rare texts only as salted hashes:

* exact copies: a keyed 64-bit BLAKE2b hash of each rare text (after normalization: case folded,
  whitespace collapsed), and of each common text (so that a common text is never refused);
* near copies: a MinHash signature (Broder, 1997, "On the resemblance and containment of
  documents") of the character 5-gram shingles of each rare text, hashed with the same salt,
  looked up through locality-sensitive hashing bands (Leskovec, Rajaraman and Ullman, *Mining of
  Massive Datasets*, ch. 3). A generated text whose estimated Jaccard similarity to a rare text
  reaches ``threshold`` (default 0.7) is a near copy.

No training text is stored. Offending outputs are regenerated (at most ``max_retries`` rounds)
and replaced by a missing value when they still offend.

Limits: a near copy is judged on the whole text, so a short output that is a small part of a long
rare text (a truncated copy) can pass; an attacker holding the model can test guesses against
the salted hashes (they are not encryption).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["MemorizationGuard", "normalize"]

_PRIME = (1 << 31) - 1


def normalize(text: str) -> str:
    """Case-folded text with runs of whitespace collapsed to one space."""
    return " ".join(str(text).casefold().split())


class MemorizationGuard:
    """Salted hashes and MinHash signatures of the rare training texts.

    Args:
        k: Texts held by fewer than ``k`` rows are rare.
        threshold: Estimated Jaccard similarity (character 5-grams) at which a text is a near
            copy of a rare one.
        num_perm: MinHash permutations (a multiple of ``bands``).
        bands: LSH bands.
        shingle: Characters per shingle.
        max_retries: Regeneration rounds for offending texts.
    """

    def __init__(
        self,
        k: int = 5,
        *,
        threshold: float = 0.7,
        num_perm: int = 64,
        bands: int = 16,
        shingle: int = 5,
        max_retries: int = 3,
    ) -> None:
        self.k = int(k)
        self.threshold = float(threshold)
        self.num_perm = int(num_perm)
        self.bands = int(bands)
        self.shingle = int(shingle)
        self.max_retries = int(max_retries)
        self.salt = b""
        self.rare_hashes = np.zeros(0, dtype=np.uint64)
        self.common_hashes = np.zeros(0, dtype=np.uint64)
        self.signatures = np.zeros((0, self.num_perm), dtype=np.uint32)
        self.perm = np.zeros((2, self.num_perm), dtype=np.uint64)
        self._buckets: list[dict] | None = None

    # ------------------------------------------------------------------ hashing
    def _h64(self, text: str) -> int:
        digest = hashlib.blake2b(text.encode("utf-8"), key=self.salt, digest_size=8).digest()
        return int.from_bytes(digest, "little")

    def _hashes(self, texts) -> np.ndarray:
        return np.array(sorted({self._h64(t) for t in texts}), dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature ``uint32 [num_perm]`` of a normalized text."""
        n = self.shingle
        grams = {text[i : i + n] for i in range(max(len(text) - n + 1, 1))}
        x = np.array([self._h64(g) % _PRIME for g in grams], dtype=np.uint64)
        a, b = self.perm
        return ((x[:, None] * a[None, :] + b[None, :]) % _PRIME).min(axis=0).astype(np.uint32)

    # ------------------------------------------------------------------ fit
    def fit(self, texts: pd.Series, rng: np.random.Generator) -> MemorizationGuard:
        """Hashes the rare and common texts of a (cleaned) text column.

        Args:
            texts: Training texts (``str`` or missing).
            rng: Draws the salt and the MinHash permutations.
        """
        self.salt = rng.bytes(16)
        self.perm = rng.integers(1, _PRIME, size=(2, self.num_perm)).astype(np.uint64)
        counts = texts.dropna().map(normalize).value_counts()
        rare = [t for t, c in counts.items() if c < self.k]
        self.rare_hashes = self._hashes(rare)
        self.common_hashes = self._hashes(t for t, c in counts.items() if c >= self.k)
        sigs = [self.signature(t) for t in rare]
        self.signatures = np.array(sigs, dtype=np.uint32).reshape(len(sigs), self.num_perm)
        self._buckets = None
        return self

    def _band_keys(self, sig: np.ndarray) -> list[bytes]:
        return [band.tobytes() for band in np.split(sig, self.bands)]

    def _index(self) -> list[dict]:
        if self._buckets is None:
            self._buckets = [{} for _ in range(self.bands)]
            for i, sig in enumerate(self.signatures):
                for b, key in enumerate(self._band_keys(sig)):
                    self._buckets[b].setdefault(key, []).append(i)
        return self._buckets

    # ------------------------------------------------------------------ check
    def offending(self, texts: list) -> np.ndarray:
        """Which texts copy a rare training text, exactly or nearly. ``bool [n]``."""
        out = np.zeros(len(texts), dtype=bool)
        buckets = self._index() if len(self.signatures) else None
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                continue
            norm = normalize(text)
            h = np.uint64(self._h64(norm))
            if _contains(self.rare_hashes, h):
                out[i] = True
                continue
            if buckets is None or _contains(self.common_hashes, h):
                continue
            sig = self.signature(norm)
            cand = {
                j for b, key in enumerate(self._band_keys(sig)) for j in buckets[b].get(key, ())
            }
            if cand:
                similar = (self.signatures[sorted(cand)] == sig[None, :]).mean(axis=1)
                out[i] = bool(similar.max() >= self.threshold)
        return out

    def apply(self, texts: list, regenerate: Callable[[np.ndarray, int], list]) -> tuple:
        """Regenerates offending texts, then replaces those still offending by missing values.

        Args:
            texts: Generated texts (changed in place).
            regenerate: ``regenerate(rows, round)`` returns new texts for those row positions.

        Returns:
            ``(texts, counts)`` with counts ``offending`` (first pass), ``regenerated`` and
            ``replaced_by_missing``.
        """
        bad = np.flatnonzero(self.offending(texts))
        counts = {"offending": int(len(bad)), "regenerated": 0, "replaced_by_missing": 0}
        for rnd in range(1, self.max_retries + 1):
            if len(bad) == 0:
                break
            new = regenerate(bad, rnd)
            counts["regenerated"] += int(len(bad))
            for j, i in enumerate(bad):
                texts[i] = new[j]
            bad = bad[self.offending([texts[i] for i in bad])]
        for i in bad:
            texts[i] = np.nan
        counts["replaced_by_missing"] = int(len(bad))
        return texts, counts

    # ------------------------------------------------------------------ save/load
    def get_config(self) -> dict:
        """JSON settings (the hashes go to :meth:`arrays`)."""
        return {
            "k": self.k,
            "threshold": self.threshold,
            "num_perm": self.num_perm,
            "bands": self.bands,
            "shingle": self.shingle,
            "max_retries": self.max_retries,
            "salt": self.salt.hex(),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The hashes and signatures, for a safetensors file."""
        return {
            "rare_hashes": self.rare_hashes,
            "common_hashes": self.common_hashes,
            "signatures": self.signatures,
            "perm": self.perm,
        }

    @classmethod
    def from_saved(cls, config: dict, arrays: dict) -> MemorizationGuard:
        """Rebuilds a guard from :meth:`get_config` and :meth:`arrays`."""
        guard = cls(
            config["k"],
            threshold=config["threshold"],
            num_perm=config["num_perm"],
            bands=config["bands"],
            shingle=config["shingle"],
            max_retries=config["max_retries"],
        )
        guard.salt = bytes.fromhex(config["salt"])
        guard.rare_hashes = np.asarray(arrays["rare_hashes"], dtype=np.uint64)
        guard.common_hashes = np.asarray(arrays["common_hashes"], dtype=np.uint64)
        guard.signatures = np.asarray(arrays["signatures"], dtype=np.uint32)
        guard.perm = np.asarray(arrays["perm"], dtype=np.uint64)
        return guard


def _contains(sorted_hashes: np.ndarray, h: np.uint64) -> bool:
    pos = int(np.searchsorted(sorted_hashes, h))
    return pos < len(sorted_hashes) and sorted_hashes[pos] == h
