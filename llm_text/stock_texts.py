"""Stock texts: whole texts that many training rows share, each one token of the offline model.

Free-text columns carry boilerplate: in the FAA bird-strike remarks 13 % of the texts are one of
a few dozen texts that many rows hold word for word ("NO DAMAGE", "NO DAMAGE/INJURY.",
"ATIS WARNING"), and 16 % of held-out texts copy a training text exactly. Spelled token by token
such a text comes out verbatim less often than in the data, since every token is a separate draw
at a temperature fitted to the whole corpus's diversity. As one token each, the model draws the
whole text in one step at the rate it learnt for the row, and a byte-level spelling stays for
everything else (the "word-level tokens for frequent units" of BPE itself, Sennrich et al., 2016,
taken to whole texts).

Privacy: only texts that at least :data:`MIN_ROWS` training rows hold exactly become stock texts
(``K_MAX``, the largest value-protection ``k``: no text that value protection or the memorization
guard could treat as rare is one); they are saved verbatim in the model's configuration, like
the categories that value protection keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from tabargn.encoding.value_protection import K_MAX

__all__ = ["StockTexts", "MIN_ROWS", "MAX_TEXTS"]

#: Training rows that must hold a text, word for word, before it becomes a stock text.
MIN_ROWS = K_MAX
#: Stock texts at most (the most frequent first).
MAX_TEXTS = 256


@dataclass
class StockTexts:
    """The stock texts of one column and their token ids (``first_id``, ``first_id + 1``, ...).

    Args:
        texts: The stock texts, most frequent first.
        first_id: Token id of ``texts[0]``: the tokenizer's vocabulary size, so the stock ids
            follow the byte-level BPE ids.
    """

    texts: list[str] = field(default_factory=list)
    first_id: int = 0

    @classmethod
    def fit(
        cls,
        texts: pd.Series,
        first_id: int,
        *,
        min_rows: int = MIN_ROWS,
        max_texts: int = MAX_TEXTS,
        keep: Callable[[str], bool] | None = None,
    ) -> StockTexts:
        """The texts held by at least ``min_rows`` rows (``str`` values of ``texts``, NaN
        ignored) for which ``keep`` holds (e.g. short enough not to be truncated), most
        frequent first (ties in text order), at most ``max_texts``."""
        values = texts[texts.map(lambda t: isinstance(t, str))]
        counts = values.value_counts()
        kept = [(t, c) for t, c in counts.items() if c >= max(int(min_rows), 1)]
        if keep is not None:
            kept = [(t, c) for t, c in kept if keep(t)]
        order = sorted(kept, key=lambda kv: (-kv[1], kv[0]))[: max(int(max_texts), 0)]
        return cls([text for text, _ in order], int(first_id))

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def ids(self) -> list[int]:
        """The stock token ids, ``[len(self)]``."""
        return list(range(self.first_id, self.first_id + len(self.texts)))

    def index(self) -> dict[str, int]:
        """Stock text -> its token id."""
        return {text: self.first_id + i for i, text in enumerate(self.texts)}

    def decode(self, tokenizer, rows: list[list[int]]) -> list[str]:
        """Texts of token-id rows: a stock id gives its whole text, the other ids are decoded by
        ``tokenizer`` (special tokens skipped); a row holding both gets them in order."""
        plain = [[i for i in row if i < self.first_id] for row in rows]
        decoded = tokenizer.decode_batch(plain, skip_special_tokens=True)
        if not self.texts:
            return decoded
        out = []
        for row, text in zip(rows, decoded, strict=True):
            stock = [self.texts[i - self.first_id] for i in row if i >= self.first_id]
            out.append("".join(stock) + text if stock else text)
        return out

    def to_dict(self) -> dict:
        return {"texts": list(self.texts), "first_id": int(self.first_id)}

    @classmethod
    def from_dict(cls, data: dict | None, vocab_size: int) -> StockTexts:
        """Rebuilds :meth:`to_dict` output; ``None`` (models saved before stock texts) gives
        none.

        Raises:
            ValueError: Not a list of strings, or ids that do not follow the tokenizer's
                ``vocab_size`` ids.
        """
        if data is None:
            return cls([], int(vocab_size))
        texts, first_id = data.get("texts"), data.get("first_id")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError("stock_texts.texts must be a list of strings")
        if first_id != vocab_size:
            raise ValueError(
                f"stock_texts.first_id {first_id!r} does not follow the tokenizer's "
                f"{vocab_size} ids"
            )
        return cls(list(texts), int(first_id))
