"""The table codec: a DataFrame <-> an int64 code matrix ``[n_rows, n_sub_columns]``.

It applies one encoding module per column (:mod:`tabargn.encoding`), lays the sub-columns out
side by side, and handles partial rows (conditions, imputation), ``where`` restrictions and
dtype restoration. It holds no model: the network only ever sees codes.
"""

from __future__ import annotations

import datetime as _dt
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tabargn.dp_statistics import StatisticsBudget, release_columns
from tabargn.encoding import get_encoding
from tabargn.encoding.categorical import RARE_PLACEHOLDER
from tabargn.encoding.categorical import kept_mask as categorical_kept
from tabargn.encoding.summaries import PartialFolder
from tabargn.errors import (
    ConditionError,
    InvalidDataError,
    UnknownColumnError,
    UnknownValueError,
    UnsupportedDtypeError,
)
from tabargn.schema import ColumnSpec, keep_spec_categories, restore_dtype, to_kind

__all__ = ["TableCodec", "MODELLED_KINDS", "reduce_column", "analyze_chunk", "fit_statistics"]


def _is_aware(value) -> bool:
    return getattr(value, "tzinfo", None) is not None


MODELLED_KINDS = ("categorical", "numeric", "datetime")


def _is_nan(value) -> bool:
    """True for float NaN, numpy NaN and NaT (not for None, which means an open end)."""
    return value is not None and value is not pd.NA and bool(pd.isna(value))


def reduce_column(
    spec: ColumnSpec,
    partials: list[dict],
    *,
    value_protection: bool,
    rng: np.random.Generator,
    rare_placeholder: str = RARE_PLACEHOLDER,
) -> dict:
    """Reduces one column's partial stats and keeps its spec free of removed values.

    A pandas ``category`` column lists its categories in ``spec.categories`` (saved with the
    model); under value protection only the kept ones (and the placeholder) stay there, so the
    saved spec never names a removed value.

    Returns:
        The column's stats.
    """
    enc = get_encoding(spec.kind)
    if spec.kind != "categorical":
        return enc.reduce(partials, value_protection=value_protection, rng=rng)
    stats = enc.reduce(
        partials, value_protection=value_protection, rng=rng, placeholder=rare_placeholder
    )
    if value_protection:
        keep_spec_categories(spec, stats)
    return stats


def analyze_chunk(frame: pd.DataFrame, specs: list[ColumnSpec]) -> dict[str, dict]:
    """Partial statistics of one chunk of rows: ``{column: partial}`` for every modelled column
    (the map step of :func:`fit_statistics`; partials merge with
    :func:`tabargn.encoding.summaries.merge`).

    Raises:
        UnsupportedDtypeError: A column's values cannot be read as its kind.
    """
    out = {}
    for spec in specs:
        if spec.kind in MODELLED_KINDS:
            values = to_kind(frame[spec.name], spec.kind, spec.name, spec)
            try:
                out[spec.name] = get_encoding(spec.kind).analyze(values.reset_index(drop=True))
            except UnsupportedDtypeError as e:
                raise UnsupportedDtypeError(f"column {spec.name!r}: {e}") from None
    return out


def fit_statistics(
    chunks,
    specs: list[ColumnSpec],
    *,
    value_protection: bool,
    rng: np.random.Generator,
    rare_placeholder: str = RARE_PLACEHOLDER,
    empty_unseen: bool = False,
) -> TableCodec:
    """Fits the codec from a stream of chunks in bounded memory (one pass).

    Each chunk is analyzed (:func:`analyze_chunk`: counts per category, exact values or a
    quantile summary for numbers, extremes and parts for datetimes), the partials are folded as
    they come (:class:`tabargn.encoding.summaries.PartialFolder`: memory bounded whatever the
    number of chunks), and each column is reduced once at the end, where value protection
    applies (on counts summed over every chunk, so a value rare in the whole table is removed
    even when it is common in no chunk, and one common only across chunks is kept). Columns are
    reduced in ``specs`` order, so ``rng`` draws the same thresholds however the rows were cut.
    Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), section 3.1.

    Args:
        chunks: Iterable of DataFrames holding every column of ``specs`` (a list, a generator,
            or already-computed partials as dicts ``{column: partial}``, e.g. from workers).
        specs: The columns; ``spec.kind`` picks the encoding.
        value_protection: Remove rare categories and clip extremes (see
            :mod:`tabargn.encoding.value_protection`).
        rng: Draws the protection thresholds.
        rare_placeholder: See :func:`tabargn.encoding.categorical.reduce`.
        empty_unseen: Turn a modelled column that held no value in any chunk into kind
            ``"empty"`` (streamed inputs, whose kinds were inferred from the first rows).

    Returns:
        The fitted :class:`TableCodec`.

    Raises:
        UnsupportedDtypeError: A column's values cannot be read as its kind.
    """
    modelled = [s for s in specs if s.kind in MODELLED_KINDS]
    folders = {s.name: PartialFolder(s.kind, value_protection=value_protection) for s in modelled}
    for chunk in chunks:
        partials = chunk if isinstance(chunk, dict) else analyze_chunk(chunk, modelled)
        for name, partial in partials.items():
            folders[name].add(partial)
    stats = {}
    for spec in modelled:
        partials = folders[spec.name].partials()
        if empty_unseen and not any(_has_values(spec.kind, p) for p in partials):
            spec.kind = "empty"
            continue
        stats[spec.name] = reduce_column(
            spec,
            partials,
            value_protection=value_protection,
            rng=rng,
            rare_placeholder=rare_placeholder,
        )
    return TableCodec(specs, stats)


def _has_values(kind: str, partial: dict) -> bool:
    if kind == "categorical":
        return bool(partial["values"]) or int(partial.get("n_pruned", 0)) > 0
    return int(partial["n"]) + int(partial.get("n_neginf", 0)) + int(partial.get("n_posinf", 0)) > 0


def _can_avoid_null(slot) -> bool:
    """Whether NULL can be forbidden: the column has NULL and some other first code."""
    return slot.has_null and slot.stats["sub_columns"][0]["cardinality"] > 1


@dataclass
class _Slot:
    """Where one modelled column sits in the code matrix."""

    spec: ColumnSpec
    stats: dict
    start: int  # first sub-column index
    width: int  # number of sub-columns
    has_null: bool  # code 0 of the first sub-column decodes to a missing value

    @property
    def subs(self) -> range:
        return range(self.start, self.start + self.width)


class TableCodec:
    """Encodes and decodes whole tables.

    Args:
        specs: Every fitted column, in the data's order.
        stats: Final encoding stats per modelled column name.
    """

    def __init__(self, specs: list[ColumnSpec], stats: dict[str, dict]) -> None:
        self.specs = specs
        self.stats = stats
        self.slots: dict[str, _Slot] = {}
        start = 0
        for spec in specs:
            if spec.kind not in MODELLED_KINDS:
                continue
            st = stats[spec.name]
            width = len(st["sub_columns"])
            enc = get_encoding(spec.kind)
            probe = enc.decode(np.zeros((1, width), dtype=np.int64), st, np.random.default_rng(0))
            self.slots[spec.name] = _Slot(spec, st, start, width, bool(pd.isna(probe.iloc[0])))
            start += width
        self.n_sub = start

    # ----------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        specs: list[ColumnSpec],
        *,
        value_protection: bool,
        rng: np.random.Generator,
        rare_placeholder: str = RARE_PLACEHOLDER,
        dp: StatisticsBudget | None = None,
    ) -> TableCodec:
        """Analyzes every modelled column and reduces its stats (value protection applies here).

        ``rare_placeholder`` is the output of a categorical column none of whose categories
        survives value protection (see :func:`tabargn.encoding.categorical.reduce`). One chunk:
        :func:`fit_statistics` with ``[df]``. With ``dp`` (a
        :class:`tabargn.dp_statistics.StatisticsBudget`), every column's stats are released by
        DP mechanisms instead, which replace value protection's thresholds; their noisy
        distributions stay on the codec as ``dp_releases`` (not saved).
        """
        if dp is None:
            return fit_statistics(
                [df],
                specs,
                value_protection=value_protection,
                rng=rng,
                rare_placeholder=rare_placeholder,
            )
        modelled = [s for s in specs if s.kind in MODELLED_KINDS]
        stats, releases = release_columns(df, modelled, dp, rng, rare_placeholder)
        codec = cls(specs, stats)
        codec.dp_releases = releases  # transient: the network's initial marginals under DP
        return codec

    # ----------------------------------------------------------------- layout
    @property
    def cardinalities(self) -> list[int]:
        return [
            int(sc["cardinality"]) for s in self.slots.values() for sc in s.stats["sub_columns"]
        ]

    @property
    def column_of(self) -> list[int]:
        return [k for k, s in enumerate(self.slots.values()) for _ in range(s.width)]

    @property
    def position(self) -> list[int]:
        return [p for s in self.slots.values() for p in range(s.width)]

    @property
    def sub_column_names(self) -> list[str]:
        return [
            f"{name}.{sc['name']}"
            for name, s in self.slots.items()
            for sc in s.stats["sub_columns"]
        ]

    def slot(self, name: str) -> _Slot:
        try:
            return self.slots[name]
        except KeyError:
            raise UnknownColumnError(
                f"column {name!r} is not a modelled column of this model; "
                f"known columns: {list(self.slots)}"
            ) from None

    # ----------------------------------------------------------------- encode
    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """Codes of complete rows, int64 ``[n, C]`` (training data, ``log_prob`` input).

        Raises:
            InvalidDataError: A modelled column is missing, or holds missing values although the
                training data had none in it.
        """
        codes, known = self.encode_partial(df, missing_is_null=True, strict=False)
        if not known.all():
            cols = [name for name, s in self.slots.items() if not known[:, s.start].all()]
            raise InvalidDataError(f"columns {cols} are missing from the data")
        return codes

    def encode_partial(
        self,
        df: pd.DataFrame,
        *,
        missing_is_null: bool = False,
        strict: bool = True,
        unseen_unknown: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Codes of partially known rows.

        A modelled column absent from ``df`` is unknown in every row. With
        ``missing_is_null=False`` (conditions, imputation) a missing cell is unknown; with True it
        is the NULL value (an error if the column had no missing values in training).
        With ``strict`` (conditions, where), categories outside the vocabulary
        raise; without it (training data, imputation, scores) they encode to the RARE code when
        value protection removed some categories (and still raise otherwise).
        With ``unseen_unknown`` (imputation and ``predict_proba`` on new rows), a category that
        still cannot be encoded leaves its cell unknown instead of raising: the row is
        conditioned on its other cells.

        Returns:
            ``(codes int64 [n, C], known bool [n, C])``; codes of unknown entries are 0.

        Raises:
            UnknownValueError: A categorical value was never seen in training (or was removed
                by value protection).
            InvalidDataError: A NULL in a column that had none in training.
        """
        n = len(df)
        codes = np.zeros((n, self.n_sub), dtype=np.int64)
        known = np.zeros((n, self.n_sub), dtype=bool)
        for name, s in self.slots.items():
            if name not in df.columns:
                continue
            values = to_kind(df[name], s.spec.kind, name, s.spec).reset_index(drop=True)
            present = values.notna().to_numpy()
            if missing_is_null and not present.all():
                # under DP "has missing values" is a noisy count: a few can be left out, and
                # encode to the column's code 0 like any value outside its fitted stats
                if not s.has_null and "dp" not in s.stats:
                    raise InvalidDataError(
                        f"column {name!r} has missing values, but had none in training"
                    )
                present[:] = True
            if present.any():
                enc = get_encoding(s.spec.kind)
                kwargs = {"strict": strict} if s.spec.kind == "categorical" else {}
                try:
                    sub = values[present].reset_index(drop=True)
                    encoded = enc.encode(sub, s.stats, **kwargs)
                except UnknownValueError as err:
                    if not unseen_unknown:
                        raise
                    present = present & ~values.isin(err.unknown_values).to_numpy()
                    sub = values[present].reset_index(drop=True)
                    encoded = enc.encode(sub, s.stats, **kwargs)
                codes[present, s.start : s.start + s.width] = encoded
            known[present, s.start : s.start + s.width] = True
        return codes, known

    # ----------------------------------------------------------------- decode
    def decode(
        self,
        codes: np.ndarray,
        rng: np.random.Generator,
        *,
        verbatim: pd.DataFrame | None = None,
        where: dict | None = None,
    ) -> pd.DataFrame:
        """Decodes codes ``[n, C]`` to a DataFrame with every fitted column in original dtypes.

        Args:
            codes: int64 ``[n, C]``.
            rng: Random generator for within-bin draws and rare-category resampling.
            verbatim: Optional frame of condition values; its non-missing cells are copied into
                the output as given (conditions are exact).
            where: ``where`` restrictions; decoded values are clipped into their ranges.
        """
        n = codes.shape[0]
        out = {}
        for spec in self.specs:
            if spec.name in self.slots:
                s = self.slots[spec.name]
                enc = get_encoding(spec.kind)
                values = enc.decode(codes[:, s.start : s.start + s.width], s.stats, rng)
                if where and spec.name in where:
                    restriction = self._model_where(spec.name, where[spec.name])
                    values = enc.clip(values, s.stats, restriction, rng)
                values = values.reset_index(drop=True)
                if verbatim is not None and spec.name in verbatim.columns:
                    given = verbatim[spec.name].reset_index(drop=True)
                    mask = given.notna().to_numpy()
                    if mask.any():
                        # conditions in the decoded form (numbers of the unit, datetimes)
                        given = to_kind(given, spec.kind, spec.name, spec)
                        merged = values.to_numpy(dtype=object, copy=True)
                        merged[mask] = given.to_numpy(dtype=object)[mask]
                        values = pd.Series(merged, dtype=object)
                        if spec.kind == "datetime":
                            values = pd.to_datetime(values, utc=values.map(_is_aware).any())
                out[spec.name] = restore_dtype(values, spec)
            else:
                out[spec.name] = restore_dtype(pd.Series([None] * n, dtype=object), spec)
        return pd.DataFrame(out)

    def protected_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """The frame as value protection sees it (context of text models).

        Categories removed by value protection become missing; numbers are clipped to the
        fitted range (missing when the column kept no value); datetimes are encoded and decoded
        (clipped; decoding is deterministic). Columns the codec does not model pass unchanged.
        """
        out = df.copy()
        for name in out.columns:
            if name not in self.slots:
                continue
            s = self.slots[name]
            st, kind = s.stats, s.spec.kind
            values = to_kind(out[name], kind, name).reset_index(drop=True)
            if kind == "categorical":
                kept = categorical_kept(values, st)
                out[name] = values.where(kept | values.isna(), None).to_numpy()
            elif kind == "numeric":
                if st["mode"] == "empty":
                    out[name] = np.nan
                else:
                    x = pd.to_numeric(values, errors="coerce").astype(float)
                    out[name] = x.clip(st["min"], st["max"]).to_numpy()
            else:
                enc = get_encoding(kind)
                codes = enc.encode(values, st)
                decoded = enc.decode(codes, st, np.random.default_rng(0))
                out[name] = decoded.where(values.notna().to_numpy()).to_numpy()
        return out

    def value_shares(self, name: str) -> dict:
        """Training shares of the kept values of a categorical column, ``{value: share}``."""
        st = self.slot(name).stats
        counts = np.asarray(st.get("counts", []), dtype=np.float64)
        if not len(counts):
            return {}
        return dict(zip(st["categories"], (counts / counts.sum()).tolist(), strict=True))

    def code_values(self, name: str) -> tuple[list, np.ndarray]:
        """How the codes of a one-sub-column column map to output values.

        Returns:
            ``(labels, weights)`` with ``weights`` float ``[cardinality, len(labels)]``: a kept
            code is one-hot on its value, NULL is all zero, and a RARE code is spread over the
            kept categories in proportion to their training counts (as decoding resamples it);
            in a column with no kept category it is the placeholder, or ``"<synthetic key>"``
            for a column decoding to synthetic keys.
        """
        s = self.slot(name)
        card = s.stats["sub_columns"][0]["cardinality"]
        enc = get_encoding(s.spec.kind)
        decoded = enc.decode(
            np.arange(card, dtype=np.int64)[:, None], s.stats, np.random.default_rng(0)
        )
        rare_code = int(s.has_null) if s.stats.get("has_rare") else None
        labels: list = []
        index: dict = {}
        for code in range(card):
            if code == rare_code or pd.isna(decoded.iloc[code]):
                continue
            value = decoded.iloc[code]
            if value not in index:
                index[value] = len(labels)
                labels.append(value)
        weights = np.zeros((card, len(labels)))
        for code in range(card):
            if code != rare_code and not pd.isna(decoded.iloc[code]):
                weights[code, index[decoded.iloc[code]]] = 1.0
        if rare_code is not None:
            fallback = s.stats.get("fallback")
            if fallback is not None:  # RARE decodes to the placeholder or a new key
                labels.append(fallback.get("value", "<synthetic key>"))
                weights = np.concatenate([weights, np.zeros((card, 1))], axis=1)
                weights[rare_code, -1] = 1.0
            else:  # RARE is resampled from the kept categories
                for value, share in self.value_shares(name).items():
                    if value in index:
                        weights[rare_code, index[value]] = share
        return labels, weights

    # ----------------------------------------------------------------- restrictions
    def _model_where(self, name: str, spec):
        """A ``where`` restriction with its values in the decoded form of the column: numbers
        of the unit for timedeltas, durations and times of day, floats for Decimals, datetimes
        for Periods and dates. Numbers, strings and datetimes pass unchanged.

        Raises:
            ConditionError: A value cannot be read in the column's dtype.
        """
        s = self.slots.get(name)
        if s is None or s.spec.kind not in ("numeric", "datetime"):
            return spec

        def convert(value):
            if value is None or isinstance(value, str | numbers.Real | _dt.datetime):
                return value
            try:
                converted = to_kind(pd.Series([value], dtype=object), s.spec.kind, name, s.spec)
            except InvalidDataError as e:
                raise ConditionError(f"where[{name!r}]: {e}") from None
            return converted.iloc[0]

        if isinstance(spec, tuple):
            return tuple(convert(v) for v in spec)
        if isinstance(spec, list | set | frozenset | np.ndarray | pd.Series | pd.Index):
            return [convert(v) for v in spec]
        return spec

    def where_constraint(self, where: dict, *, no_null: np.ndarray | None = None):
        """Builds the generation constraint for ``where`` restrictions and imputation.

        Args:
            where: ``{column: (low, high) | [allowed values]}``.
            no_null: Optional bool ``[n, n_columns_modelled]``: rows/columns where NULL must not
                be drawn (imputation fills missing cells with real values).

        Returns:
            A callback for :func:`tabargn.generation.generate`, or None when nothing is restricted.

        Raises:
            UnknownColumnError, ConditionError, UnknownValueError: From the restrictions.
        """
        slots = list(self.slots.values())
        by_sub: dict[int, tuple[int, _Slot]] = {
            sub: (k, s) for k, s in enumerate(slots) for sub in s.subs
        }
        specs = {}
        for name, spec in (where or {}).items():
            s = self.slot(name)
            spec = self._model_where(name, spec)
            if isinstance(spec, tuple) and len(spec) == 2:
                low, high = spec
                if any(_is_nan(v) for v in spec):
                    raise ConditionError(
                        f"where[{name!r}] = {spec!r}: a bound is NaN; use None for an open end"
                    )
                if low is not None and high is not None and low > high:
                    raise ConditionError(f"where[{name!r}]: low {low!r} > high {high!r}")
            elif isinstance(spec, list | set | frozenset | np.ndarray | pd.Series | pd.Index):
                spec = list(spec)
                if not spec:
                    raise ConditionError(f"where[{name!r}] is an empty set of values")
            else:
                raise ConditionError(
                    f"where[{name!r}] must be a (low, high) tuple or a list of values, got {spec!r}"
                )
            enc = get_encoding(s.spec.kind)
            # validate once on the first sub-column (raises for impossible restrictions)
            first = enc.where_mask(s.stats, spec, 0, np.zeros((1, 0), dtype=np.int64))
            if not first.any():
                raise ConditionError(f"where[{name!r}] = {spec!r} allows no fitted value")
            specs[name] = spec
        # high-cardinality categoricals split into digits: combinations past the last code are
        # invalid and never drawn
        split = {s.spec.name for s in slots if s.spec.kind == "categorical" and s.width > 1}
        if not specs and no_null is None and not split:
            return None
        no_null_t = torch.as_tensor(no_null) if no_null is not None else None

        def constraint(sub: int, rows: torch.Tensor, codes: torch.Tensor) -> torch.Tensor | None:
            k, s = by_sub[sub]
            allowed = None
            if s.spec.name in specs or (s.spec.name in split and sub > s.start):
                pos = sub - s.start
                prev = codes[:, s.start : sub].numpy()
                mask = get_encoding(s.spec.kind).where_mask(
                    s.stats, specs.get(s.spec.name), pos, prev
                )
                allowed = torch.as_tensor(np.asarray(mask, dtype=bool))
            if no_null_t is not None and sub == s.start and _can_avoid_null(s):
                rows_no_null = no_null_t[rows, k]
                if rows_no_null.any():
                    if allowed is None:
                        allowed = torch.ones(
                            len(rows), s.stats["sub_columns"][0]["cardinality"], dtype=torch.bool
                        )
                    allowed[rows_no_null, 0] = False
            return allowed

        restricted = {sub for s in slots if s.spec.name in specs for sub in s.subs}
        restricted |= {sub for s in slots if s.spec.name in split for sub in s.subs[1:]}
        if no_null is not None:
            restricted |= {s.start for s in slots if _can_avoid_null(s)}
        constraint.subs = frozenset(restricted)  # the sub-columns it may restrict
        return constraint

    # ----------------------------------------------------------------- serialization
    def to_json(self) -> dict:
        return {"columns": [s.to_dict() for s in self.specs], "stats": self.stats}

    @classmethod
    def from_json(cls, data: dict) -> TableCodec:
        specs = [ColumnSpec(**c) for c in data["columns"]]
        return cls(specs, data["stats"])
