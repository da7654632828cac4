"""Enforcing constraints (:mod:`tabargn.constraints`) during generation, by construction.

One :class:`Plan` per generation call turns the rules into:

- ``where`` ranges (``Range`` is a permanent range, intersected with the call's ``where``);
- a generation constraint (:class:`tabargn.generation.Constraint`) that, for each sub-column
  drawn, allows only the codes with which the row can still satisfy every rule given what it
  already holds (its conditions and the sub-columns drawn before). A numeric code stands for
  a value interval (a discrete value, an atom, a quantile bin or sub-bin), a datetime prefix
  for the span of its completions: a code is allowed when its interval can still satisfy
  the rule, so the draw is exact, renormalized over the allowed codes. The masks work in
  either direction (``high`` given ``low`` or ``low`` given ``high``; a combination given any
  of its known columns), so columns keep the data's order, the order the network is trained
  on half of the time (with ``low`` moved before ``high`` the benchmark's column TVD gap was
  larger, though those runs also trained fewer epochs: see benchmarks/results/constraints.md);
- after decoding, :meth:`Plan.finish`: a number drawn inside a bin that is only partly
  allowed is redrawn inside the allowed part (as ``where`` does), and a ``Sum``'s determined
  column is set to the difference.

What is left (a :class:`~tabargn.constraints.Predicate`, and the rare row the masks cannot
settle, e.g. two rules fighting over one column) is found by :meth:`Plan.violations` and drawn
again by the caller (:func:`tabargn.flat.generate_rows`; per event in sequences,
:mod:`tabargn.sequential.rules`).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch

from tabargn.constraints import (
    FixedCombinations,
    Inequality,
    Predicate,
    Range,
    Rule,
    Sum,
    _bound,
    _numbers,
    satisfied,
)
from tabargn.encoding import get_encoding
from tabargn.errors import ConstraintError

__all__ = ["Plan", "merge_ranges"]


# ====================================================================== where ranges
def merge_ranges(where: dict, rules: list[Rule]) -> dict:
    """``where`` with every :class:`Range` intersected into it.

    Raises:
        ConstraintError: A ``where`` on the column that the range leaves empty.
    """
    out = dict(where or {})
    for rule in rules:
        if not isinstance(rule, Range):
            continue
        lo, hi = _bound(rule.low), _bound(rule.high)
        spec = out.get(rule.column)
        if spec is None:
            out[rule.column] = (rule.low, rule.high)
        elif isinstance(spec, tuple):
            a, b = spec
            new_lo = rule.low if a is None or (not np.isnan(lo) and lo > _bound(a)) else a
            new_hi = rule.high if b is None or (not np.isnan(hi) and hi < _bound(b)) else b
            out[rule.column] = (new_lo, new_hi)
        else:
            keep = [v for v in spec if not (_bound(v) < lo) and not (_bound(v) > hi)]
            if not keep:
                raise ConstraintError(f"where[{rule.column!r}] = {spec!r} breaks {rule!r}")
            out[rule.column] = keep
    return out


# ====================================================================== code intervals
def _numeric_intervals(st: dict, pos: int, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value interval ``[vmin, vmax]`` of each code of a numeric sub-column, ``[r, K]`` (NaN:
    NULL)."""
    card = st["sub_columns"][pos]["cardinality"]
    n = prev.shape[0]
    special = int(st["has_null"])
    lo = np.full((n, card), np.nan)
    if st["mode"] == "empty":
        return lo, lo.copy()
    if st["mode"] == "discrete":
        lo[:, special:] = np.asarray(st["values"], dtype=np.float64)[None, :]
        return lo, lo.copy()
    atoms = np.asarray(st["atoms"], dtype=np.float64)
    q = np.asarray(st["quantiles"], dtype=np.float64)
    n_atoms, n_bins, n_sub = len(atoms), st["n_bins"], st["n_sub"]
    hi = lo.copy()
    if pos == 0:
        lo[:, special : special + n_atoms] = atoms
        hi[:, special : special + n_atoms] = atoms
        if n_bins:
            lo[:, special + n_atoms :] = q[:-1:n_sub][:n_bins]
            hi[:, special + n_atoms :] = q[n_sub::n_sub][:n_bins]
    else:
        c0 = prev[:, 0] - special
        is_atom = (c0 >= 0) & (c0 < n_atoms)
        if is_atom.any():
            lo[is_atom] = atoms[c0[is_atom], None]
            hi[is_atom] = atoms[c0[is_atom], None]
        in_bin = c0 >= n_atoms
        if in_bin.any():
            t = (c0[in_bin] - n_atoms)[:, None] * n_sub + np.arange(card)[None, :]
            t = np.clip(t, 0, len(q) - 2)
            lo[in_bin], hi[in_bin] = q[t], q[t + 1]
    lo = np.clip(lo, st["min"], st["max"])
    hi = np.clip(hi, st["min"], st["max"])
    return lo, hi


def _datetime_intervals(st: dict, pos: int, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Earliest and latest completion (ns) of each code of a datetime sub-column given the
    codes drawn before it, ``[r, K]`` (NaN: NULL)."""
    width = len(st["sub_columns"])
    card = st["sub_columns"][pos]["cardinality"]
    enc = get_encoding("datetime")
    uniq, inv = np.unique(prev.reshape(prev.shape[0], -1), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    m = len(uniq)
    out = []
    for fill in ("min", "max"):
        codes = np.zeros((m, card, width), dtype=np.int64)
        codes[:, :, :pos] = uniq[:, None, :pos]
        codes[:, :, pos] = np.arange(card)[None, :]
        if fill == "max":
            for k in range(pos + 1, width):
                codes[:, :, k] = st["sub_columns"][k]["cardinality"] - 1
        values = enc.decode(codes.reshape(m * card, width), st, None)
        out.append(_numbers(values).reshape(m, card)[inv])
    return out[0], out[1]


def _intervals(slot, pos: int, prev: np.ndarray, where_spec) -> tuple[np.ndarray, np.ndarray]:
    st = slot.stats
    if slot.spec.kind == "datetime":
        lo, hi = _datetime_intervals(st, pos, prev)
    else:
        lo, hi = _numeric_intervals(st, pos, prev)
    if isinstance(where_spec, tuple):  # the where range clips decoded values
        a, b = (_bound(v) for v in where_spec)
        if not np.isnan(a):
            lo, hi = np.maximum(lo, a), np.maximum(hi, a)
        if not np.isnan(b):
            lo, hi = np.minimum(lo, b), np.minimum(hi, b)
    return lo, hi


def _step(slot) -> float:
    """Smallest difference between two values of a numeric column (0 when unknown)."""
    if slot.spec.kind != "numeric":
        return 0.0
    step = slot.stats.get("step")
    return float(step) if step else 0.0


# ====================================================================== the plan
class Plan:
    """Constraint enforcement for one generation call.

    Args:
        codec: The model's :class:`tabargn.codec.TableCodec`.
        rules: Fitted rules.
        given: The call's partial rows (conditions or imputation input), RangeIndex.
        codes: int64 ``[n, C]`` codes of ``given`` (:meth:`TableCodec.encode_partial`).
        known: bool ``[n, C]`` of the known sub-columns of ``given``.
        where: The call's ``where`` (already merged with :func:`merge_ranges`).
        first_columns: Columns to generate first (``where`` columns).

    Raises:
        ConstraintError: Conditions that break a rule.
    """

    def __init__(self, codec, rules, given, codes, known, where, first_columns) -> None:
        self.codec = codec
        self.rules = [r for r in rules if not isinstance(r, Range)]  # ranges live in where
        self.all_rules = list(rules)
        self.where = where
        self.known0 = np.asarray(known, dtype=bool)
        self.codes0 = np.asarray(codes)
        self._ranges: dict[str, tuple[float, float]] = {}
        # the data's order (where columns first), as in unconstrained sampling: every mask
        # works in any order, and the natural order is the one the network knows best
        self.columns = list(first_columns) + [c for c in codec.slots if c not in set(first_columns)]
        self.rank = {c: i for i, c in enumerate(self.columns)}
        self.given = {}
        for rule in self.rules:
            for c in rule.columns:
                if c in given.columns and c not in self.given:
                    self.given[c] = _numbers(given[c]) if self._numeric(c) else None
        self._check_given(given)
        self.combos = {
            id(r): self._combo_codes(r) for r in self.rules if isinstance(r, FixedCombinations)
        }
        for rule in self.rules:
            if isinstance(rule, FixedCombinations):
                self._check_partial(rule)

    # ------------------------------------------------------------------ setup
    def _numeric(self, column: str) -> bool:
        return self.codec.slot(column).spec.kind in ("numeric", "datetime")

    def _check_given(self, given: pd.DataFrame) -> None:
        """Rows whose given cells already break a rule."""
        checked = [r for r in self.all_rules if not isinstance(r, Predicate | Sum)]
        for rule in checked:
            cols = [c for c in rule.columns if c in given.columns]
            if len(cols) < len(rule.columns):
                continue
            bad = ~rule.satisfied(given)
            if bad.any():
                rows = [int(i) for i in np.flatnonzero(bad)]
                raise ConstraintError(
                    f"conditions break {rule!r} in {len(rows)} row(s): {rows[:10]}", rows=rows
                )

    def _check_partial(self, rule: FixedCombinations) -> None:
        """Rows whose given cells match no allowed combination (after ``where``)."""
        combos = self.combos[id(rule)]
        starts = [self.codec.slot(c).start for c in rule.columns]
        if not self.known0[:, starts].any():
            return
        key = np.where(self.known0[:, starts], self.codes0[:, starts], -1)
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        ok = np.array(
            [np.all((u[None, :] < 0) | (combos == u[None, :]), axis=1).any() for u in uniq]
        )
        bad = ~ok[inv.reshape(-1)]
        if bad.any():
            rows = [int(i) for i in np.flatnonzero(bad)]
            raise ConstraintError(
                f"conditions leave no allowed combination of {rule!r} (with where) in "
                f"{len(rows)} row(s): {rows[:10]}",
                rows=rows,
            )

    def _combo_codes(self, rule: FixedCombinations) -> np.ndarray:
        """The rule's combinations as codes ``[m, k]``, filtered by ``where`` lists."""
        frame = pd.DataFrame(rule.combinations, columns=rule.columns)
        keep = np.ones(len(frame), dtype=bool)
        for c in rule.columns:
            spec = self.where.get(c)
            if spec is not None and not isinstance(spec, tuple):
                keep &= frame[c].isin(list(spec)).to_numpy()
        if not keep.any():
            raise ConstraintError(f"where leaves no combination of {rule!r}")
        frame = frame[keep].reset_index(drop=True)
        codes, _ = self.codec.encode_partial(frame, missing_is_null=True, strict=False)
        return np.stack([codes[:, self.codec.slot(c).start] for c in rule.columns], axis=1)

    def order(self) -> list[int]:
        """Sub-column generation order."""
        return [sub for c in self.columns for sub in self.codec.slot(c).subs]

    # ------------------------------------------------------------------ masks
    def subs(self) -> frozenset[int]:
        out = set()
        for rule in self.rules:
            if isinstance(rule, Inequality):
                out |= {s for c in rule.columns for s in self.codec.slot(c).subs}
            elif isinstance(rule, FixedCombinations):
                out |= {self.codec.slot(c).start for c in rule.columns}
        return frozenset(out)

    def _known(self, column: str, current: str, rows: np.ndarray) -> np.ndarray:
        """Rows that hold ``column`` when ``current`` is drawn."""
        if self.rank[column] < self.rank[current]:
            return np.ones(len(rows), dtype=bool)
        return self.known0[rows, self.codec.slot(column).start]

    def _global_bounds(self, column: str) -> tuple[float, float]:
        """Smallest and largest value ``column`` can take (its fitted range within ``where``)."""
        if column not in self._ranges:
            s = self.codec.slot(column)
            lo, hi = _intervals(s, 0, np.zeros((1, 0), dtype=np.int64), self.where.get(column))
            self._ranges[column] = (float(np.nanmin(lo)), float(np.nanmax(hi)))
        return self._ranges[column]

    def _value_bounds(self, column: str, rows: np.ndarray, codes: np.ndarray):
        """``(min, max)`` of the value a row holds in ``column`` (NaN: NULL or not known)."""
        s = self.codec.slot(column)
        prev = codes[:, s.start : s.start + s.width - 1]
        lo, hi = _intervals(s, s.width - 1, prev, self.where.get(column))
        last = codes[:, s.start + s.width - 1]
        lo = np.take_along_axis(lo, last[:, None], 1)[:, 0]
        hi = np.take_along_axis(hi, last[:, None], 1)[:, 0]
        given = self.given.get(column)
        if given is not None:
            g = given[rows]
            has = ~np.isnan(g)
            lo[has], hi[has] = g[has], g[has]
        return lo, hi

    def _inequality_mask(self, rule: Inequality, col, sub, rows, codes) -> np.ndarray | None:
        other = rule.low if col == rule.high else rule.high
        known = self._known(other, col, rows)
        s = self.codec.slot(col)
        pos = sub - s.start
        vmin, vmax = _intervals(s, pos, codes[:, s.start : sub], self.where.get(col))
        g_lo, g_hi = self._global_bounds(other)
        o_lo, o_hi = np.full(len(rows), g_lo), np.full(len(rows), g_hi)
        if known.any():  # rows that hold the other column: its value; others: its range
            k_lo, k_hi = self._value_bounds(other, rows[known], codes[known])
            o_lo[known], o_hi[known] = k_lo, k_hi
        eps = max(_step(s), _step(self.codec.slot(other))) if rule.strict else 0.0
        with np.errstate(invalid="ignore"):
            if col == rule.high:  # some completion reaches past the low value
                bad = vmax < o_lo[:, None] + eps
                if rule.strict:
                    bad |= vmax <= o_lo[:, None]
            else:
                bad = vmin > o_hi[:, None] - eps
                if rule.strict:
                    bad |= vmin >= o_hi[:, None]
        return ~bad

    def _combo_mask(self, rule: FixedCombinations, col, rows, codes) -> np.ndarray:
        combos = self.combos[id(rule)]
        j = rule.columns.index(col)
        card = self.codec.slot(col).stats["sub_columns"][0]["cardinality"]
        key = np.full((len(rows), len(rule.columns)), -1, dtype=np.int64)
        for i, c in enumerate(rule.columns):
            if i != j:
                k = self._known(c, col, rows)
                key[k, i] = codes[k, self.codec.slot(c).start]
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        allowed_u = np.zeros((len(uniq), card), dtype=bool)
        for u, row in enumerate(uniq):
            match = np.all((row[None, :] < 0) | (combos == row[None, :]), axis=1)
            allowed_u[u, combos[match, j]] = True
        return allowed_u[inv.reshape(-1)]

    def constraint(self, where_constraint):
        """The generation constraint: the rules' masks and ``where_constraint``'s, combined."""
        rule_subs = self.subs()
        if not rule_subs:
            return where_constraint
        by_sub = {sub: name for name, s in self.codec.slots.items() for sub in s.subs}

        def constraint(sub: int, rows: torch.Tensor, codes: torch.Tensor) -> torch.Tensor | None:
            allowed = None
            if where_constraint is not None and sub in where_constraint.subs:
                allowed = where_constraint(sub, rows, codes)
            if sub not in rule_subs:
                return allowed
            col = by_sub[sub]
            r, c = rows.numpy(), codes.numpy()
            mask = None
            for rule in self.rules:
                if col not in rule.columns:
                    continue
                if isinstance(rule, Inequality):
                    m = self._inequality_mask(rule, col, sub, r, c)
                elif isinstance(rule, FixedCombinations):
                    m = self._combo_mask(rule, col, r, c)
                else:
                    m = None
                if m is not None:
                    mask = m if mask is None else mask & m
            if mask is None:
                return allowed
            mask = torch.as_tensor(mask)
            return mask if allowed is None else allowed & mask

        subs = rule_subs | (where_constraint.subs if where_constraint is not None else frozenset())
        constraint.subs = frozenset(subs)
        return constraint

    def take(self, rows: np.ndarray) -> Plan:
        """The plan restricted to some of its rows (renumbered ``0..len(rows)-1``), e.g. to
        :meth:`finish` rows decoded again after a redraw."""
        part = copy.copy(self)
        part.known0, part.codes0 = self.known0[rows], self.codes0[rows]
        part.given = {c: (None if v is None else v[rows]) for c, v in self.given.items()}
        return part

    # ------------------------------------------------------------------ after decoding
    def finish(self, codes: np.ndarray, out: pd.DataFrame, rng: np.random.Generator) -> None:
        """Settles what the masks leave to decoding, in place: numbers inside partly allowed
        bins (``Inequality``) and ``Sum``'s determined columns."""
        rows = np.arange(len(out))
        for rule in self.rules:
            if isinstance(rule, Inequality) and self.codec.slot(rule.low).spec.kind == "numeric":
                self._settle_inequality(rule, rows, codes, out, rng)
        for rule in self.rules:
            if isinstance(rule, Sum):
                self._settle_sum(rule, out)

    def _settle_inequality(self, rule, rows, codes, out, rng) -> None:
        bad = ~rule.satisfied(out)
        if not bad.any():
            return
        r = rows[bad]
        a0, a1 = self._value_bounds(rule.low, r, codes[bad])
        b0, b1 = self._value_bounds(rule.high, r, codes[bad])
        s_lo, s_hi = self.codec.slot(rule.low), self.codec.slot(rule.high)
        eps = max(_step(s_lo), _step(s_hi)) if rule.strict else 0.0
        top = np.minimum(a1, b1 - eps)
        low = _on_grid(_uniform(a0, np.maximum(a0, top), rng), s_lo.stats, a0, np.maximum(a0, top))
        start = np.maximum(b0, low + eps)
        high = _on_grid(_uniform(start, np.maximum(start, b1), rng), s_hi.stats, start, b1)
        if rule.strict:
            high = np.where(high <= low, np.maximum(b1, high), high)
        _assign(out, rule.low, bad, low)
        _assign(out, rule.high, bad, high)

    def _settle_sum(self, rule: Sum, out: pd.DataFrame) -> None:
        cols = rule.columns
        n = len(out)
        # per row, the last of the rule's columns (in order) that the row was not given
        target = np.full(n, -1)
        for i, c in sorted(enumerate(cols), key=lambda t: self.rank[t[1]]):
            free = ~self.known0[:, self.codec.slot(c).start]
            target[free] = i
        values = np.stack([_numbers(out[c]) for c in cols], axis=1)
        decimals = [self.codec.slot(c).stats.get("decimals") for c in cols]
        d = None if any(x is None for x in decimals) else max(decimals)
        n_parts = len(rule.parts)
        total = rule.total_values(out) if not isinstance(rule.total, str) else None
        for i, c in enumerate(cols):
            rows = target == i
            if not rows.any():
                continue
            v = values[rows]
            if i < n_parts:  # a part: the total minus the other parts
                t = total[rows] if total is not None else v[:, n_parts]
                others = np.delete(v[:, :n_parts], i, axis=1).sum(axis=1)
                new = t - others
            else:  # the total column: the sum of the parts
                new = v[:, :n_parts].sum(axis=1)
            if d is not None:
                new = np.round(new, d)
            _assign(out, c, rows, new)

    def violations(self, out: pd.DataFrame) -> np.ndarray:
        """bool ``[n]``: rows that break a rule (to draw again)."""
        return ~satisfied(self.all_rules, out)


def _assign(out: pd.DataFrame, column: str, rows: np.ndarray, values: np.ndarray) -> None:
    """Sets ``out[column][rows] = values``, keeping the column's dtype (datetimes: ns)."""
    old = out[column]
    if pd.api.types.is_datetime64_any_dtype(old.dtype):
        new = old.copy()
        stamps = pd.to_datetime(values.astype(np.int64), utc=True)
        tz = getattr(old.dtype, "tz", None)
        stamps = stamps.tz_convert(tz) if tz is not None else stamps.tz_localize(None)
        new[rows] = stamps
        out[column] = new
        return
    col = old.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    col[rows] = values
    try:
        out[column] = pd.Series(col, index=out.index).astype(old.dtype)
    except (TypeError, ValueError):
        out[column] = col


def _uniform(low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(low))
    return np.clip(low * (1.0 - u) + high * u, low, high)


def _on_grid(x: np.ndarray, st: dict, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``x`` on the column's precision grid, inside ``[low, high]`` where the grid allows."""
    step = st.get("step")
    if not step:
        return x
    g = np.round(x / step) * step
    g = np.where(g < low, np.ceil(low / step - 1e-9) * step, g)
    g = np.where(g > high, np.floor(high / step + 1e-9) * step, g)
    ok = (g >= low - 1e-9 * np.abs(low)) & (g <= high + 1e-9 * np.abs(high))
    if st.get("decimals") is not None:
        g = np.round(g, int(st["decimals"]))
    return np.where(ok, g, x)
