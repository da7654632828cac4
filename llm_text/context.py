"""Encoding of a row's tabular columns into integer codes (the "context" of a text value).

The offline language model embeds these codes into one context vector per row; the prompted
text generator uses them to find real rows similar to a synthetic row (few-shot selection) and
:func:`describe_row` to write the row into a prompt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError

__all__ = ["ContextEncoder", "describe_row"]

NULL_CODE = 0  # every column: code 0 = missing (or unseen, for numbers out of nothing)
OTHER_CODE = 1  # categorical columns: code 1 = a value outside the top-k (or unseen)


@dataclass
class _Column:
    name: str
    kind: str  # "categorical" | "numeric"
    categories: list[str] = field(default_factory=list)  # categorical: top-k values as str
    edges: list[float] = field(default_factory=list)  # numeric: inner quantile edges
    datetime: bool = False

    @property
    def cardinality(self) -> int:
        if self.kind == "categorical":
            return 2 + len(self.categories)
        return 1 + len(self.edges) + 1

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "categories": self.categories,
            "edges": self.edges,
            "datetime": self.datetime,
        }


def _as_numeric(values: pd.Series) -> tuple[pd.Series, bool]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        dt = pd.to_datetime(values)
        if getattr(dt.dt, "tz", None) is not None:
            dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
        out = dt.astype("datetime64[ns]").astype("int64").astype("float64")
        out[dt.isna().to_numpy()] = np.nan
        return pd.Series(out.to_numpy() / 86_400e9, index=values.index), True  # days
    if pd.api.types.is_timedelta64_dtype(values.dtype):
        return pd.Series(values.dt.total_seconds().to_numpy(), index=values.index), False
    return pd.to_numeric(values, errors="coerce").astype("float64"), False


def _is_numeric(values: pd.Series) -> bool:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    )


class ContextEncoder:
    """Turns the tabular columns of rows into small integer codes, one per column.

    * Categorical columns (object, string, category, bool, and numbers with at most
      ``max_categories`` distinct values are kept numeric): the ``top_k`` most frequent values get
      codes ``2..``, other values code 1, missing values code 0.
    * Numeric and datetime columns: ``n_bins`` quantile bins (codes ``1..``), missing code 0.

    The fitted state is plain JSON (:meth:`to_dict` / :meth:`from_dict`).

    Args:
        top_k: Number of categories kept per categorical column (default 50).
        min_count: A category is kept only if at least this many rows hold it (default 5, the
            smallest value-protection ``k``): the saved state never names a rare value.
            tabargn also passes the value-protected frame (rare categories already removed).
        n_bins: Number of quantile bins per numeric column (default 10).
    """

    def __init__(self, top_k: int = 50, n_bins: int = 10, min_count: int = 5) -> None:
        self.top_k = int(top_k)
        self.min_count = int(min_count)
        self.n_bins = int(n_bins)
        self.columns: list[_Column] = []

    @property
    def cardinalities(self) -> list[int]:
        """Number of codes of each column (NULL and OTHER included)."""
        return [c.cardinality for c in self.columns]

    @property
    def names(self) -> list[str]:
        """Fitted column names, in order."""
        return [c.name for c in self.columns]

    def fit(self, context: pd.DataFrame) -> ContextEncoder:
        """Learn categories and bin edges.

        Args:
            context: ``[n_rows, n_columns]`` of any dtypes; NaN allowed. Zero columns is allowed
                (the text is then unconditioned).

        Returns:
            ``self``.

        Raises:
            InvalidDataError: If ``context`` is not a DataFrame or has duplicate column names.
        """
        context = _check_frame(context)
        self.columns = []
        for name in context.columns:
            values = context[name]
            if _is_numeric(values) and values.nunique(dropna=True) > self.n_bins:
                numbers, is_dt = _as_numeric(values)
                finite = numbers[np.isfinite(numbers)]
                if len(finite):
                    qs = np.quantile(finite.to_numpy(), np.linspace(0, 1, self.n_bins + 1)[1:-1])
                    edges = sorted({float(q) for q in qs})
                else:
                    edges = []
                self.columns.append(_Column(str(name), "numeric", edges=edges, datetime=is_dt))
            else:
                counts = values.dropna().map(_key).value_counts(sort=True)
                counts = counts.sort_index(kind="stable").sort_values(
                    ascending=False, kind="stable"
                )
                counts = counts[counts >= self.min_count]  # rare values are never kept
                cats = [str(c) for c in counts.index[: self.top_k]]
                self.columns.append(_Column(str(name), "categorical", categories=cats))
        return self

    def transform(self, context: pd.DataFrame) -> np.ndarray:
        """Encode rows.

        Args:
            context: ``[n_rows, ...]`` holding at least the fitted columns (missing fitted
                columns are encoded as NULL; extra columns are ignored).

        Returns:
            ``int64`` array ``[n_rows, n_fitted_columns]``.
        """
        context = _check_frame(context)
        out = np.zeros((len(context), len(self.columns)), dtype=np.int64)
        for j, col in enumerate(self.columns):
            if col.name not in context.columns:
                continue
            values = context[col.name]
            if col.kind == "numeric":
                numbers, _ = _as_numeric(values)
                arr = numbers.to_numpy(dtype="float64")
                codes = 1 + np.searchsorted(np.asarray(col.edges, dtype="float64"), arr, "right")
                codes[~np.isfinite(arr)] = NULL_CODE
            else:
                lookup = {c: i + 2 for i, c in enumerate(col.categories)}
                codes = np.array(
                    [
                        NULL_CODE if _is_missing(v) else lookup.get(_key(v), OTHER_CODE)
                        for v in values.tolist()
                    ],
                    dtype=np.int64,
                )
            out[:, j] = codes
        return out

    def fit_transform(self, context: pd.DataFrame) -> np.ndarray:
        """:meth:`fit` then :meth:`transform`."""
        return self.fit(context).transform(context)

    def to_dict(self) -> dict:
        """JSON-serializable state."""
        return {
            "top_k": self.top_k,
            "n_bins": self.n_bins,
            "min_count": self.min_count,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, state: dict) -> ContextEncoder:
        """Rebuild an encoder from :meth:`to_dict` output."""
        enc = cls(top_k=state["top_k"], n_bins=state["n_bins"], min_count=state.get("min_count", 1))
        enc.columns = [_Column(**c) for c in state["columns"]]
        return enc


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _key(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _check_frame(context: pd.DataFrame | None) -> pd.DataFrame:
    if context is None:
        return pd.DataFrame()
    if not isinstance(context, pd.DataFrame):
        raise InvalidDataError(f"context must be a pandas DataFrame, got {type(context).__name__}")
    if context.columns.duplicated().any():
        dups = list(context.columns[context.columns.duplicated()])
        raise InvalidDataError(f"context has duplicate column names: {dups}")
    return context


def describe_row(row: pd.Series | dict, *, max_value_chars: int = 80) -> str:
    """Write one row's tabular values as ``name: value`` lines for a prompt.

    Missing values are written as ``(missing)``; datetimes as ISO dates; floats that are whole
    numbers without a decimal point. Each value is cut to ``max_value_chars`` characters.

    Args:
        row: One row (a Series indexed by column name, or a dict).
        max_value_chars: Maximum characters per value (default 80).

    Returns:
        A multi-line string (empty when the row has no columns).
    """
    items = row.items() if isinstance(row, pd.Series) else dict(row).items()
    lines = []
    for name, value in items:
        if _is_missing(value):
            text = "(missing)"
        elif isinstance(value, pd.Timestamp):
            text = value.isoformat() if (value.hour or value.minute) else value.date().isoformat()
        else:
            text = _key(value)
        lines.append(f"{name}: {text[:max_value_chars]}")
    return "\n".join(lines)
