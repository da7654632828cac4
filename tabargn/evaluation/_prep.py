"""Shared input checks, column typing, subsampling, discretization and encodings.

Every metric of the evaluation suite reads the tables through this module, so all of them agree
on what a column *is*:

* **kind** -- decided from the *real* (training) column's dtype: ``"numeric"`` (int, float,
  nullable ``Int64``/``Float64``, timedelta), ``"datetime"`` (``datetime64``, naive or tz-aware)
  or ``"categorical"`` (object, ``string``, ``category``, bool and anything else). The synthetic
  and holdout columns are converted to the real column's kind; values that cannot be converted
  become missing (and are then penalized as missing values).
* **normalized values** -- numeric: ``float64`` (``±inf`` become NaN, timedeltas become seconds);
  datetime: ``float64`` seconds since 1970-01-01 UTC (tz-aware values are converted to UTC,
  naive values are read as UTC); categorical: ``object`` array of ``str`` with ``None`` for
  missing.
* **bins** (:meth:`Schema.bin_codes`) -- deciles of the real column for numeric and datetime
  columns (duplicate edges merged, bins are ``(e[i-1], e[i]]``), the ``TOP_CATEGORIES`` most
  frequent real categories plus ``"(other)"`` for categorical columns; a missing value is always
  its own bin.
* **model features** (:meth:`Schema.model_features`) -- for scikit-learn's
  ``HistGradientBoosting*``: numbers as they are (NaN kept), categories as ordinal codes of the
  ``MODEL_CATEGORIES`` most frequent real categories (rarer and unseen values share one code).
* **distance embedding** (:meth:`Schema.embed`) -- for nearest-neighbour metrics: each numeric
  or datetime column becomes its mid-rank position in the real column's empirical CDF (in
  ``[0, 1]``; missing values sit at 0.5) plus a 0/1 missing indicator; each categorical column
  becomes a one-hot vector of the ``EMBED_CATEGORIES`` most frequent real categories plus
  "other" and "missing", scaled by ``1/sqrt(2)`` so that two different categories are at
  distance 1, the same as the two ends of a numeric range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError, UnsupportedDtypeError

TOP_CATEGORIES = 10
"""Categories kept by the binning of categorical columns (the rest is ``"(other)"``)."""
MODEL_CATEGORIES = 250
"""Categories kept as distinct ordinal codes for the gradient-boosting models (max 255)."""
EMBED_CATEGORIES = 20
"""Categories kept as one-hot dimensions of the distance embedding."""
N_QUANTILE_BINS = 10
"""Number of quantile bins (deciles) of numeric and datetime columns."""

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def check_frame(df: object, role: str) -> pd.DataFrame:
    """Checks that an input is a usable, non-empty DataFrame.

    Args:
        df: The object passed by the caller.
        role: Name of the argument (``"real"``, ``"synthetic"``, ``"holdout"``) for messages.

    Returns:
        The same DataFrame with a fresh ``RangeIndex``.

    Raises:
        InvalidDataError: If ``df`` is not a DataFrame, has no rows or no columns, or has
            duplicate column names.
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidDataError(f"{role} must be a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0:
        raise InvalidDataError(f"{role} has no columns")
    if len(df) == 0:
        raise InvalidDataError(f"{role} has no rows")
    if df.columns.has_duplicates:
        dups = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise InvalidDataError(f"{role} has duplicate column names: {dups}")
    return df.reset_index(drop=True)


def column_kind(s: pd.Series) -> str:
    """Kind of a real column: ``"numeric"``, ``"datetime"`` or ``"categorical"``.

    Raises:
        UnsupportedDtypeError: For complex numbers.
    """
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_complex_dtype(dtype):
        raise UnsupportedDtypeError(f"column {s.name!r} holds complex numbers")
    if pd.api.types.is_timedelta64_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "categorical"


def normalize(s: pd.Series, kind: str) -> np.ndarray:
    """Converts a column to the normalized representation of its kind (see module docstring).

    Returns:
        ``float64`` array (numeric, datetime) or ``object`` array of ``str``/``None``.
    """
    if kind == "numeric":
        if pd.api.types.is_timedelta64_dtype(s.dtype):
            x = pd.to_timedelta(s, errors="coerce").dt.total_seconds().to_numpy(dtype=float)
        else:
            if s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype):
                s = pd.to_numeric(s.astype(object), errors="coerce")
            elif pd.api.types.is_datetime64_any_dtype(s.dtype):
                s = pd.Series(np.full(len(s), np.nan))
            elif pd.api.types.is_string_dtype(s.dtype):
                s = pd.to_numeric(s, errors="coerce")
            x = pd.Series(s).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        x[~np.isfinite(x)] = np.nan
        return x
    if kind == "datetime":
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype(float)
        t = pd.to_datetime(s, errors="coerce", utc=True)
        return (t - _EPOCH).dt.total_seconds().to_numpy(dtype=float)
    obj = s.astype(object)
    missing = pd.isna(obj).to_numpy()
    out = np.empty(len(obj), dtype=object)
    vals = obj.to_numpy()
    out[~missing] = [v if isinstance(v, str) else str(v) for v in vals[~missing]]
    out[missing] = None
    return out


def subsample(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Rows of ``df`` drawn without replacement (all of them if ``len(df) <= n``)."""
    if len(df) <= n:
        return df
    idx = np.sort(rng.choice(len(df), size=n, replace=False))
    return df.iloc[idx].reset_index(drop=True)


def sample_index(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``min(n, size)`` rows drawn without replacement out of ``n``."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


@dataclass
class ColumnSchema:
    """Everything fitted on one real column that the metrics need."""

    name: str
    kind: str
    edges: np.ndarray | None = None  # interior decile edges (numeric/datetime)
    top: list[str] = field(default_factory=list)  # binning categories (categorical)
    model_cats: list[str] = field(default_factory=list)  # ordinal codes for the models
    embed_cats: list[str] = field(default_factory=list)  # one-hot categories
    sorted_real: np.ndarray | None = None  # sorted non-missing real values (numeric/datetime)

    @property
    def n_bins(self) -> int:
        """Number of bins of :meth:`Schema.bin_codes` (missing-value bin included)."""
        if self.kind == "categorical":
            return len(self.top) + 2
        return len(self.edges) + 2

    def bin_codes(self, x: np.ndarray) -> np.ndarray:
        """``int64`` bin code of every normalized value of this column (last code: missing)."""
        if self.kind == "categorical":
            codes = pd.Categorical(x, categories=self.top).codes.astype(np.int64)
            miss = pd.isna(x)
            codes[(codes < 0) & ~miss] = len(self.top)
            codes[miss] = len(self.top) + 1
            return codes
        codes = np.searchsorted(self.edges, x, side="left").astype(np.int64)
        codes[np.isnan(x)] = len(self.edges) + 1
        return codes

    def bin_labels(self) -> list[str]:
        """Human-readable label of every bin, in code order."""
        if self.kind == "categorical":
            return [*self.top, "(other)", "(missing)"]
        e = [_fmt(v, self.kind) for v in self.edges]
        if not e:
            return ["(all)", "(missing)"]
        labels = [f"≤ {e[0]}"]
        labels += [f"({a}, {b}]" for a, b in zip(e[:-1], e[1:], strict=True)]
        labels += [f"> {e[-1]}", "(missing)"]
        return labels


def _fmt(v: float, kind: str) -> str:
    if kind == "datetime":
        t = pd.Timestamp(v, unit="s")
        return t.strftime("%Y-%m-%d") if t == t.normalize() else t.strftime("%Y-%m-%d %H:%M")
    return f"{v:.4g}"


def _top_categories(values: np.ndarray, k: int) -> list[str]:
    vc = pd.Series(values[pd.notna(values)], dtype=object).value_counts(sort=True)
    # Ties broken by value for reproducibility.
    df = pd.DataFrame({"v": vc.index.astype(str), "n": vc.to_numpy()})
    df = df.sort_values(["n", "v"], ascending=[False, True], kind="stable")
    return df["v"].head(k).tolist()


class Schema:
    """Column kinds and per-column statistics fitted on the real (training) table.

    Args:
        real: Real table (already validated), only the evaluated columns.

    Attributes:
        columns: One :class:`ColumnSchema` per evaluated column, in table order.
    """

    def __init__(self, real: pd.DataFrame) -> None:
        self.columns: list[ColumnSchema] = []
        self.real_values: dict[str, np.ndarray] = {}
        for name in real.columns:
            kind = column_kind(real[name])
            x = normalize(real[name], kind)
            self.real_values[name] = x
            col = ColumnSchema(name=name, kind=kind)
            if kind == "categorical":
                col.top = _top_categories(x, TOP_CATEGORIES)
                col.model_cats = _top_categories(x, MODEL_CATEGORIES)
                col.embed_cats = col.model_cats[:EMBED_CATEGORIES]
            else:
                ok = x[~np.isnan(x)]
                col.sorted_real = np.sort(ok)
                if len(ok):
                    qs = np.quantile(ok, np.arange(1, N_QUANTILE_BINS) / N_QUANTILE_BINS)
                    col.edges = np.unique(qs)
                else:
                    col.edges = np.empty(0)
            self.columns.append(col)

    @property
    def names(self) -> list[str]:
        """Names of the evaluated columns."""
        return [c.name for c in self.columns]

    def normalize_frame(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Normalized values of every evaluated column of ``df`` (keyed by column name)."""
        return {c.name: normalize(df[c.name], c.kind) for c in self.columns}

    # -- binning ---------------------------------------------------------------------------
    def bin_codes(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Bin code of every cell.

        Args:
            values: Normalized columns (from :meth:`normalize_frame`), each of length ``n``.

        Returns:
            ``int64`` array ``[n, n_columns]``; column ``j`` holds codes in
            ``[0, columns[j].n_bins)``, the last code meaning "missing".
        """
        return np.column_stack([c.bin_codes(values[c.name]) for c in self.columns])

    # -- features for gradient boosting ----------------------------------------------------
    def model_features(
        self, values: dict[str, np.ndarray], exclude: Sequence[str] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature matrix for ``HistGradientBoosting*``.

        Args:
            values: Normalized columns (from :meth:`normalize_frame`).
            exclude: Column names to leave out (e.g. the target).

        Returns:
            ``(X, is_categorical)``: ``float64 [n, n_features]`` with NaN for missing values, and
            a boolean mask ``[n_features]`` of the categorical features (ordinal codes in
            ``[0, MODEL_CATEGORIES]``).
        """
        cols, cat = [], []
        for c in self.columns:
            if c.name in exclude:
                continue
            x = values[c.name]
            if c.kind == "categorical":
                codes = pd.Categorical(x, categories=c.model_cats).codes.astype(float)
                miss = pd.isna(x)
                codes[(codes < 0) & ~miss] = len(c.model_cats)
                codes[miss] = np.nan
                cols.append(codes)
                cat.append(True)
            else:
                cols.append(x)
                cat.append(False)
        n = len(next(iter(values.values())))
        X = np.column_stack(cols) if cols else np.zeros((n, 0))
        return X, np.array(cat, dtype=bool)

    # -- distance embedding ----------------------------------------------------------------
    def embed(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Distance embedding (see module docstring).

        Args:
            values: Normalized columns (from :meth:`normalize_frame`), each of length ``n``.

        Returns:
            ``float32`` array ``[n, d]``; Euclidean distances between rows are the distances
            used by every nearest-neighbour metric.
        """
        blocks = []
        scale = np.float32(1.0 / np.sqrt(2.0))
        for c in self.columns:
            x = values[c.name]
            if c.kind == "categorical":
                codes = pd.Categorical(x, categories=c.embed_cats).codes.astype(np.int64)
                miss = pd.isna(x)
                codes[(codes < 0) & ~miss] = len(c.embed_cats)
                codes[miss] = len(c.embed_cats) + 1
                onehot = np.zeros((len(x), len(c.embed_cats) + 2), dtype=np.float32)
                onehot[np.arange(len(x)), codes] = scale
                blocks.append(onehot)
            else:
                miss = np.isnan(x)
                srt = c.sorted_real
                if len(srt):
                    lo = np.searchsorted(srt, x, side="left")
                    hi = np.searchsorted(srt, x, side="right")
                    u = (lo + hi) / (2.0 * len(srt))
                else:
                    u = np.full(len(x), 0.5)
                u[miss] = 0.5
                blocks.append(np.column_stack([u, miss]).astype(np.float32))
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)


def row_hashes(values: dict[str, np.ndarray]) -> np.ndarray:
    """``uint64`` hash of every row of normalized values (missing equals missing)."""
    df = pd.DataFrame(values)
    return pd.util.hash_pandas_object(df, index=False).to_numpy()


def knn(fit: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest rows of ``fit`` for every row of ``query`` (Euclidean).

    scikit-learn's brute-force search (``NearestNeighbors(algorithm="brute")``, BLAS-backed,
    chunked, multi-threaded) finds the candidates; their distances are then recomputed as
    ``sqrt(sum((q - f) ** 2))``, without the ``|q|^2 - 2 q.f + |f|^2`` rounding error, so that
    identical rows are at distance exactly 0 and ties compare equal.

    Args:
        fit: ``float32 [n_fit, d]`` rows searched.
        query: ``float32 [n_query, d]`` rows whose neighbours are wanted.
        k: Number of neighbours (capped at ``n_fit``).

    Returns:
        ``(distances, indices)``: ``float64 [n_query, k]`` ascending, and ``int64 [n_query, k]``.
    """
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(fit))
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(fit)
    idx = nn.kneighbors(query, return_distance=False)
    dist = np.empty(idx.shape)
    for j in range(k):
        diff = query.astype(np.float64) - fit[idx[:, j]].astype(np.float64)
        dist[:, j] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)
