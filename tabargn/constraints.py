"""Constraints: rules that every generated row satisfies.

Pass them as ``TabularARGN(constraints=[...])``. They are checked against the training data at
``fit`` (a rule the data breaks raises :class:`tabargn.errors.ConstraintError` naming the
rows), stored in the model (``config.json``) and applied by every flat generation call:
``sample`` (with ``conditions``, ``where``, ``rebalance`` and ``fairness``) and ``impute``, and
by sequential generation (events and context rows, :mod:`tabargn.sequential.rules`).

The built-in kinds are enforced by construction (:mod:`tabargn.constrain`): the codes that
would break a rule, given what the row already holds, get probability zero and the draw is
renormalized over the rest, so draws stay exact and no rejection loop runs.

- :class:`FixedCombinations`: only the value combinations seen in training (after value
  protection) of some categorical (or discrete numeric) columns, e.g. city with its country.
- :class:`Inequality`: ``low <= high`` (or ``<``), column against column, numbers or datetimes.
- :class:`Range`: ``low <= column <= high``, a permanent ``where`` range.
- :class:`Sum`: ``sum(columns) == total`` (a column or a number): the last of these columns
  to be generated is decoded as the difference.
- :class:`Predicate`: any function of the rows, checked by rejection (the last resort): rows
  that fail are drawn again, at most ``max_tries`` times.

Missing values pass every rule (SQL semantics): a rule is checked on rows whose columns are
all present. Rules are plain values with ``to_dict``/:func:`rule_from_dict` (JSON). A
:class:`Predicate` saves its name and columns only, not its function: pass the function again
at load (``TabularARGN.load(path, predicates={name: fn})``), else sampling raises
:class:`~tabargn.errors.ConstraintError`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import pandas as pd

from tabargn.encoding import get_encoding
from tabargn.errors import ConstraintError

__all__ = [
    "Rule",
    "FixedCombinations",
    "Inequality",
    "Range",
    "Sum",
    "Predicate",
    "rule_from_dict",
    "parse_rules",
    "satisfied",
    "check_training",
    "parity_gap",
]

_SHOWN = 10


def _rows_text(index: pd.Index) -> str:
    shown = ", ".join(repr(i) for i in list(index[:_SHOWN]))
    more = f" and {len(index) - _SHOWN} more" if len(index) > _SHOWN else ""
    return f"[{shown}]{more}"


def _numbers(values: pd.Series) -> np.ndarray:
    """A numeric or datetime column as float64 (datetimes in ns since the epoch, UTC); NaN
    for missing values."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or (
        s.dtype == object and s.dropna().map(lambda v: hasattr(v, "year")).all() and s.notna().any()
    ):
        t = pd.to_datetime(s, utc=True)
        out = t.astype("int64").to_numpy(dtype=np.float64)
        out[t.isna().to_numpy()] = np.nan
        return out
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _bound(value) -> float:
    """A rule bound (number, date string, Timestamp, None) as float64 (datetimes in ns)."""
    if value is None:
        return np.nan
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConstraintError(f"bound {value!r} is neither a number nor a datetime") from None
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return float(t.value)


def _plain(value):
    """A bound as JSON (datetimes as ISO strings)."""
    if isinstance(value, pd.Timestamp | np.datetime64) or hasattr(value, "isoformat"):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


class Rule:
    """Base class of the constraint kinds."""

    kind = "rule"

    @property
    def columns(self) -> list[str]:
        """The columns the rule reads."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """The rule as JSON (``{"kind": ..., ...}``)."""
        raise NotImplementedError

    def satisfied(self, df: pd.DataFrame) -> np.ndarray:
        """bool ``[n]``: which rows satisfy the rule (missing values pass)."""
        raise NotImplementedError

    def fitted(self, df: pd.DataFrame, codec) -> Rule:
        """The rule after fit (learned parts filled in); checks the training data."""
        bad = ~self.satisfied(df)
        if bad.any():
            rows = df.index[bad]
            raise ConstraintError(
                f"{self!r} is broken by {int(bad.sum())} training row(s): {_rows_text(rows)}",
                rows=list(rows),
            )
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    __hash__ = None


class FixedCombinations(Rule):
    """Only the value combinations of ``columns`` that training held (after value protection).

    Args:
        columns: Two or more categorical (or discrete numeric) columns, e.g. ``["country",
            "city"]``; each is drawn among the combinations that match the row's known ones.
        combinations: Set at fit: the allowed combinations, one list per combination.
    """

    kind = "fixed_combinations"

    def __init__(self, columns, combinations: list | None = None) -> None:
        self._columns = [str(c) for c in columns]
        if len(self._columns) < 2 or len(set(self._columns)) != len(self._columns):
            raise ConstraintError(f"FixedCombinations needs 2+ distinct columns, got {columns!r}")
        self.combinations = None if combinations is None else [list(c) for c in combinations]

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "columns": self.columns, "combinations": self.combinations}

    def __repr__(self) -> str:
        n = "unfitted" if self.combinations is None else f"{len(self.combinations)} combinations"
        return f"FixedCombinations({self._columns!r}, {n})"

    def satisfied(self, df: pd.DataFrame) -> np.ndarray:
        if self.combinations is None:
            return np.ones(len(df), dtype=bool)
        frame = df[self._columns].astype(object)
        present = frame.notna().all(axis=1).to_numpy()
        allowed = {tuple(_key(v) for v in c) for c in self.combinations}
        keys = [tuple(_key(v) for v in row) for row in frame.itertuples(index=False, name=None)]
        return ~present | np.fromiter((k in allowed for k in keys), bool, len(keys))

    def fitted(self, df: pd.DataFrame, codec) -> Rule:
        for name in self._columns:
            s = codec.slot(name)
            exact = s.spec.kind == "categorical" or s.stats.get("mode") == "discrete"
            if s.width != 1 or not exact:
                raise ConstraintError(
                    f"FixedCombinations needs categorical or discrete numeric columns of at "
                    f"most 1024 values; {name!r} is not one"
                )
        frame = df[self._columns].reset_index(drop=True)
        codes, _ = codec.encode_partial(frame, missing_is_null=True, strict=False)
        sub = np.stack([codes[:, codec.slot(c).start] for c in self._columns], axis=1)
        rare = np.zeros(len(sub), dtype=bool)
        for j, name in enumerate(self._columns):  # RARE decodes to a random kept value
            s = codec.slot(name)
            if s.stats.get("has_rare"):
                rare |= sub[:, j] == int(s.has_null)
        unique = np.unique(sub[~rare], axis=0)
        if not len(unique):
            raise ConstraintError(f"no combination of {self._columns} survives value protection")
        values = []
        for j, name in enumerate(self._columns):
            s = codec.slot(name)
            dec = get_encoding(s.spec.kind).decode(unique[:, j : j + 1], s.stats, None)
            values.append([None if pd.isna(v) else _plain(v) for v in dec])
        return FixedCombinations(self._columns, [list(c) for c in zip(*values, strict=True)])


def _key(value):
    """Hashable key of a cell: NULL as None, numbers by value (1 == 1.0)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


class Inequality(Rule):
    """``low <= high`` (``low < high`` with ``strict``): two numeric or two datetime columns.

    Args:
        low: The column that must not exceed ``high``.
        high: The column that must be at least ``low``.
        strict: Require ``low < high``.
    """

    kind = "inequality"

    def __init__(self, low: str, high: str, strict: bool = False) -> None:
        if low == high:
            raise ConstraintError(f"Inequality needs two columns, got {low!r} twice")
        self.low, self.high, self.strict = str(low), str(high), bool(strict)

    @property
    def columns(self) -> list[str]:
        return [self.low, self.high]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "low": self.low, "high": self.high, "strict": self.strict}

    def satisfied(self, df: pd.DataFrame) -> np.ndarray:
        a, b = _numbers(df[self.low]), _numbers(df[self.high])
        with np.errstate(invalid="ignore"):
            ok = a < b if self.strict else a <= b
        return ok | np.isnan(a) | np.isnan(b)


class Range(Rule):
    """``low <= column <= high`` (numbers or datetimes; either bound may be None).

    Enforced as a permanent ``where`` range: intersected with any ``where`` on the column.
    """

    kind = "range"

    def __init__(self, column: str, low=None, high=None) -> None:
        if low is None and high is None:
            raise ConstraintError(f"Range({column!r}) needs low or high")
        lo, hi = _bound(low), _bound(high)
        if not np.isnan(lo) and not np.isnan(hi) and lo > hi:
            raise ConstraintError(f"Range({column!r}): low {low!r} > high {high!r}")
        self.column, self.low, self.high = str(column), _plain(low), _plain(high)

    @property
    def columns(self) -> list[str]:
        return [self.column]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "column": self.column, "low": self.low, "high": self.high}

    def satisfied(self, df: pd.DataFrame) -> np.ndarray:
        x = _numbers(df[self.column])
        lo, hi = _bound(self.low), _bound(self.high)
        ok = np.ones(len(x), dtype=bool)
        with np.errstate(invalid="ignore"):
            if not np.isnan(lo):
                ok &= ~(x < lo)
            if not np.isnan(hi):
                ok &= ~(x > hi)
        return ok


class Sum(Rule):
    """``sum(columns) == total``, where ``total`` is a numeric column or a number.

    The last of these columns in the generation order (the data's order) that the row was not
    given is decoded as the difference (or the sum), so the equality holds exactly up to float
    rounding (``rtol``).

    Args:
        columns: Numeric columns (the parts).
        total: A numeric column name, or a number.
        rtol: Relative tolerance of the check (default 1e-9).
    """

    kind = "sum"

    def __init__(self, columns, total, rtol: float = 1e-9) -> None:
        self.parts = [str(c) for c in columns]
        if not self.parts:
            raise ConstraintError("Sum needs at least one column")
        if isinstance(total, numbers.Real) and not isinstance(total, bool):
            self.total = float(total)
        else:
            self.total = str(total)
        names = self.parts + ([self.total] if isinstance(self.total, str) else [])
        if len(set(names)) != len(names):
            raise ConstraintError(f"Sum names a column twice: {names}")
        self.rtol = float(rtol)

    @property
    def columns(self) -> list[str]:
        return self.parts + ([self.total] if isinstance(self.total, str) else [])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "columns": self.parts, "total": self.total, "rtol": self.rtol}

    def total_values(self, df: pd.DataFrame) -> np.ndarray:
        if isinstance(self.total, str):
            return _numbers(df[self.total])
        return np.full(len(df), self.total)

    def satisfied(self, df: pd.DataFrame) -> np.ndarray:
        parts = np.stack([_numbers(df[c]) for c in self.parts], axis=1)
        total = self.total_values(df)
        s = parts.sum(axis=1)
        scale = np.maximum(np.abs(parts).sum(axis=1), np.abs(total))
        with np.errstate(invalid="ignore"):
            ok = np.abs(s - total) <= self.rtol * np.maximum(scale, 1.0)
        return ok | np.isnan(s) | np.isnan(total)


class Predicate(Rule):
    """A user function of the rows, checked by rejection (the last resort).

    Rows that fail are drawn again (with their conditions) up to ``max_tries`` times; rows
    that still fail raise :class:`~tabargn.errors.ConstraintError`.

    Args:
        fn: ``fn(frame) -> bool array-like [n]`` (True = allowed), on the generated columns.
        columns: The columns ``fn`` reads (documentation, and checked to exist).
        name: Saved in the model in place of the function (default ``fn.__name__``).
        max_tries: Draws of a row before giving up (default 20).
    """

    kind = "predicate"

    def __init__(
        self, fn: Callable | None, columns, name: str | None = None, max_tries: int = 20
    ) -> None:
        if fn is not None and not callable(fn):
            raise ConstraintError(f"Predicate needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self._columns = [str(c) for c in columns]
        self.name = name or getattr(fn, "__name__", None) or "predicate"
        if int(max_tries) < 1:
            raise ConstraintError("Predicate max_tries must be >= 1")
        self.max_tries = int(max_tries)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "columns": self.columns,
            "max_tries": self.max_tries,
        }

    def satisfied(self, df: pd.DataFrame) -> np.ndarray:
        if self.fn is None:
            raise ConstraintError(
                f"Predicate {self.name!r} was loaded without its function; pass it again: "
                f"TabularARGN.load(path, predicates={{{self.name!r}: fn}})"
            )
        ok = np.asarray(self.fn(df), dtype=bool).reshape(-1)
        if ok.shape != (len(df),):
            raise ConstraintError(f"Predicate {self.name!r} must return one bool per row")
        return ok


_KINDS = {c.kind: c for c in (FixedCombinations, Inequality, Range, Sum, Predicate)}


def rule_from_dict(data: dict, predicates: dict | None = None) -> Rule:
    """A rule from its JSON form (:meth:`Rule.to_dict`).

    Args:
        data: ``{"kind": "inequality", "low": ..., "high": ...}`` and so on.
        predicates: ``{name: fn}`` functions of :class:`Predicate` rules.

    Raises:
        ConstraintError: Unknown kind or bad fields.
    """
    if isinstance(data, Rule):
        return data
    if not isinstance(data, dict) or data.get("kind") not in _KINDS:
        raise ConstraintError(f"a rule must be a dict with kind in {sorted(_KINDS)}: {data!r}")
    fields = {k: v for k, v in data.items() if k != "kind"}
    try:
        if data["kind"] == "predicate":
            fn = (predicates or {}).get(fields.get("name"))
            return Predicate(fn, **fields)
        return _KINDS[data["kind"]](**fields)
    except TypeError as e:
        raise ConstraintError(f"bad {data['kind']} rule {data!r}: {e}") from None


def parse_rules(rules, predicates: dict | None = None) -> list[Rule]:
    """Rules from a list of :class:`Rule` objects and/or dicts (None: no rule)."""
    if rules is None:
        return []
    if isinstance(rules, Rule | dict):
        rules = [rules]
    return [rule_from_dict(r, predicates) for r in rules]


def satisfied(rules: list[Rule], df: pd.DataFrame) -> np.ndarray:
    """bool ``[n]``: rows that satisfy every rule."""
    ok = np.ones(len(df), dtype=bool)
    for rule in rules:
        ok &= rule.satisfied(df)
    return ok


def check_training(rules: list[Rule], df: pd.DataFrame, codec) -> list[Rule]:
    """Checks the rules' columns and the training data; returns the fitted rules.

    Raises:
        ConstraintError: A rule the training data breaks (naming the rows), or one on columns
            that are not modelled.
    """
    fitted = []
    for rule in rules:
        for name in rule.columns:
            if name not in codec.slots:
                raise ConstraintError(f"{rule!r} names {name!r}, which is not a modelled column")
            kind = codec.slot(name).spec.kind
            if isinstance(rule, Inequality | Range | Sum) and kind not in ("numeric", "datetime"):
                raise ConstraintError(
                    f"{rule!r} needs numeric or datetime columns; {name!r} is {kind}"
                )
        if isinstance(rule, Sum) and any(
            codec.slot(c).spec.kind != "numeric" for c in rule.columns
        ):
            raise ConstraintError(f"{rule!r} needs numeric columns")
        if isinstance(rule, Inequality):
            kinds = {codec.slot(c).spec.kind for c in rule.columns}
            if len(kinds) != 1:
                raise ConstraintError(f"{rule!r} compares a number with a datetime")
        if isinstance(rule, Predicate) and rule.fn is None:
            raise ConstraintError(f"Predicate {rule.name!r} has no function")
        fitted.append(rule.fitted(df, codec))
    return fitted


def parity_gap(df: pd.DataFrame, target: str, sensitive) -> dict[str, float]:
    """Statistical parity gap of ``target`` across each sensitive column's groups.

    The gap of one sensitive column is ``max over target values v of (max over groups g of
    P(v | g) - min over groups g of P(v | g))``; 0 is perfect parity. Missing values form a
    group of their own.

    Returns:
        ``{sensitive column: gap}``.
    """
    out = {}
    y = df[target].astype(object).where(df[target].notna(), "<NA>").astype(str)
    for col in [sensitive] if isinstance(sensitive, str) else list(sensitive):
        g = df[col].astype(object).where(df[col].notna(), "<NA>").astype(str)
        shares = pd.crosstab(g, y, normalize="index")
        out[col] = float((shares.max(axis=0) - shares.min(axis=0)).max()) if len(shares) else 0.0
    return out
