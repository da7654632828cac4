"""Cleaning and validation of free-text values.

Every text generator sees text only after :func:`clean_text`, so non-UTF-8 bytes, lone
surrogates and control characters never reach a tokenizer, a prompt or a cache key.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError

__all__ = ["clean_text", "clean_series", "is_text_column"]

# C0/C1 control characters except tab and newline; also DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(value: object) -> str | float:
    """Return one text value as clean UTF-8, or NaN when it is missing or blank.

    * ``bytes`` are decoded as UTF-8 with undecodable bytes replaced by U+FFFD, then the
      replacement characters are dropped.
    * Lone surrogates (from ``surrogateescape`` decoding) are dropped.
    * Unicode is NFC-normalized; ``\\r\\n`` and ``\\r`` become ``\\n``; control characters other
      than tab and newline are removed; runs of blank lines are collapsed; leading and trailing
      whitespace is stripped.
    * ``None``, NaN, ``pd.NA`` and strings that are empty after cleaning become ``NaN``.
    * Other scalars (numbers, booleans) are converted with ``str``.

    Args:
        value: Any scalar.

    Returns:
        The cleaned ``str``, or ``float("nan")`` for a missing value.
    """
    if value is None:
        return np.nan
    if isinstance(value, float | np.floating) and np.isnan(value):
        return np.nan
    if value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", errors="replace").replace("\ufffd", "")
    else:
        text = str(value)
    text = text.encode("utf-8", errors="ignore").decode("utf-8")  # drops lone surrogates
    text = text.replace("\ufffd", "")
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _BLANK_LINES.sub("\n\n", text).strip()
    return text if text else np.nan


def clean_series(texts: pd.Series | list | np.ndarray, *, name: str = "texts") -> pd.Series:
    """Clean a whole text column with :func:`clean_text`.

    Args:
        texts: The column; a list or array is turned into a ``pd.Series`` with a RangeIndex.
        name: Used in error messages.

    Returns:
        An ``object`` Series with the same index, holding ``str`` or ``NaN``.

    Raises:
        InvalidDataError: If ``texts`` is not one-dimensional.
    """
    if isinstance(texts, pd.DataFrame):
        raise InvalidDataError(f"{name} must be one column (a Series), got a DataFrame")
    if not isinstance(texts, pd.Series):
        arr = np.asarray(texts, dtype=object)
        if arr.ndim != 1:
            raise InvalidDataError(f"{name} must be one-dimensional, got shape {arr.shape}")
        texts = pd.Series(arr, dtype=object)
    return pd.Series(
        [clean_text(v) for v in texts.tolist()], index=texts.index, dtype=object, name=texts.name
    )


def is_text_column(
    series: pd.Series, *, min_mean_words: float = 3.0, min_unique: float = 0.3
) -> bool:
    """Heuristic used to detect free-text columns.

    A column is text when it holds strings (object, ``string``, ``str`` or Arrow ``string`` /
    ``large_string`` dtype), their mean word count is at least ``min_mean_words``, and the share
    of distinct values among the non-missing ones is at least ``min_unique`` (so long but
    repeated labels stay categorical).

    Args:
        series: The column.
        min_mean_words: Minimum mean number of whitespace-separated words (default 3).
        min_unique: Minimum ratio of unique to non-missing values (default 0.3).

    Returns:
        ``True`` if the column looks like free text.
    """
    if not (
        pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)
    ):
        return False
    values = series.dropna()
    if len(values) == 0:
        return False
    # plain Python strings whatever the storage (object, string, str, Arrow string types)
    sample = values.sample(min(len(values), 5000), random_state=0).tolist()
    if not all(isinstance(v, str) for v in sample):
        return False
    mean_words = float(np.mean([len(v.split()) for v in sample]))
    unique_share = len(set(sample)) / len(sample)
    return bool(mean_words >= min_mean_words and unique_share >= min_unique)
