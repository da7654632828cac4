"""Constraints (:mod:`tabargn.constraints`) on sequential models: which table each rule is on,
the checks at fit and at sampling, and enforcement in the step-by-step event generation.

A rule is on the **context table** when all its columns are context columns: the entity model
(a flat model, :mod:`tabargn.flat`) keeps it, so the context rows of new entities satisfy it
(with ``conditions``, ``where``, ``rebalance`` and ``fairness`` too). Given context rows
(``sample(context=...)``) are the caller's, not generated, and not returned: they are not
checked.

A rule is on the **events** when all its columns are event columns: it holds for every
generated event. The built-in kinds are enforced by construction with the flat path's
:class:`tabargn.constrain.Plan`: each sub-column of an event is drawn only among the codes with
which the event can still satisfy every rule, given what it already holds (its seeded cells
and the sub-columns drawn before); numbers in partly allowed bins and a ``Sum``'s determined
column are settled at decoding (:meth:`Plan.finish`). What is left, a
:class:`~tabargn.constraints.Predicate` (or the rare event the masks cannot settle), is checked
by rejection per event: each step's events are decoded as soon as they are drawn, and the ones
that break a rule are drawn again from the same history before the next step (so the kept
event is an exact draw from the model given its history and the rules); an event still
breaking one after ``max_tries`` draws (20 by default) raises ``ConstraintError``.

A rule naming columns of both tables is refused: the event draws do not see the context
values as numbers to mask against. Built-in rules on the order column or the entity key are
refused too: order values are rebuilt from each entity's start and its drawn gaps and keys are
new, so no mask can hold them; a ``Predicate`` may read both.

Source of the masking: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), section 3.3 (any
order conditional draws); the sequential draws are section 3.4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tabargn.constrain import Plan, merge_ranges
from tabargn.constraints import Predicate, Rule, check_training
from tabargn.errors import ConditionError, ConstraintError

__all__ = [
    "split_rules",
    "check_rows",
    "check_event_rules",
    "EventRules",
    "MAX_REDRAWS",
    "check_fairness",
]

MAX_REDRAWS = 20
"""Draws of a breaking event before giving up (at least; a Predicate may ask for more)."""


def _shown(values) -> str:
    values = list(values)
    more = f" and {len(values) - 10} more" if len(values) > 10 else ""
    return "[" + ", ".join(repr(v) for v in values[:10]) + "]" + more


def split_rules(rules: list[Rule], meta) -> tuple[list[Rule], list[Rule]]:
    """Sorts the rules into ``(context rules, event rules)`` by the columns they name.

    Args:
        rules: Parsed rules (:func:`tabargn.constraints.parse_rules`).
        meta: The model's :class:`tabargn.sequential.prepare.SequenceMeta`.

    Raises:
        ConstraintError: A rule naming columns of neither table, of both, a column both tables
            have, or a built-in rule on the order column or the entity key.
    """
    context = set(meta.context_columns) - {meta.context_key}
    events = set(meta.event_columns)
    derived = {c for c in (meta.entity_key, meta.order_by) if c}
    on_context, on_events = [], []
    for rule in rules:
        cols = rule.columns
        unknown = [c for c in cols if c not in context and c not in events]
        if unknown:
            raise ConstraintError(
                f"{rule!r} names {unknown}, which are neither event nor context columns"
            )
        both = [c for c in cols if c in context and c in events]
        if both:
            raise ConstraintError(
                f"{rule!r} names {both}, which the events and the context table both have; "
                "rename one of them"
            )
        if all(c in events for c in cols):
            fixed = [c for c in cols if c in derived]
            if fixed and not isinstance(rule, Predicate):
                raise ConstraintError(
                    f"{rule!r} names {fixed}: the entity key and the order column are rebuilt "
                    "at sampling (new keys; each entity's start plus its drawn gaps), so no "
                    "mask can enforce a rule on them; use a Predicate"
                )
            on_events.append(rule)
        elif all(c in context for c in cols):
            on_context.append(rule)
        else:
            raise ConstraintError(
                f"{rule!r} names both context columns "
                f"{[c for c in cols if c in context]} and event columns "
                f"{[c for c in cols if c in events]}; a rule must stay within one table"
            )
    return on_context, on_events


def check_rows(rules: list[Rule], frame: pd.DataFrame, what: str) -> None:
    """Checks given rows (the training context, seed events) against the rules
    whose columns they all have; missing values pass.

    Raises:
        ConstraintError: Rows that break a rule; ``rows`` holds their index labels.
    """
    for rule in rules:
        if any(c not in frame.columns for c in rule.columns):
            continue
        bad = ~rule.satisfied(frame)
        if bad.any():
            rows = list(frame.index[bad])
            raise ConstraintError(
                f"{rule!r} is broken by {len(rows)} row(s) of {what}: {_shown(rows)}", rows=rows
            )


def check_event_rules(rules: list[Rule], events: pd.DataFrame, codec) -> list[Rule]:
    """Checks the event rules against the training events; returns the fitted rules.

    Args:
        rules: Event rules (:func:`split_rules`).
        events: The training events as given (their index labels name the breaking rows).
        codec: The fitted event codec.

    Raises:
        ConstraintError: A rule the events break (naming the rows), or a built-in rule on a
            column that is not modelled (text).
    """
    fitted = []
    for rule in rules:
        if isinstance(rule, Predicate):
            if rule.fn is None:
                raise ConstraintError(f"Predicate {rule.name!r} has no function")
            check_rows([rule], events, "the training events")
            fitted.append(rule)
        else:  # names the breaking rows by the caller's index labels
            fitted.extend(check_training([rule], events, codec))
    return fitted


class EventRules:
    """The event rules of one sampling call: masks, decoding, and rejection per event.

    Args:
        codec: The event codec.
        rules: Fitted event rules.
        n_events: Events generated in the call (entity-major, seeds included).
        seeds: ``(positions int64 [s], codes [s, C], known [s, C], the seed events as given)``,
            or None.
        rng: The call's numpy generator (decoding).
        frame_of: ``(decoded events, their positions) -> the events as output`` (entity key
            and order column rebuilt), for the rules' checks.
        keys: ``[n_events]`` each event's output entity key (for the error).
        steps: int64 ``[n_events]`` each event's step in its sequence (for the error).
    """

    def __init__(self, codec, rules, n_events, seeds, *, rng, frame_of, keys, steps):
        self.codec = codec
        self.rules = list(rules)
        self.where = merge_ranges({}, self.rules)
        codes = np.zeros((n_events, codec.n_sub), dtype=np.int64)
        known = np.zeros((n_events, codec.n_sub), dtype=bool)
        given = pd.DataFrame(index=range(n_events))
        self.seeded = np.zeros(n_events, dtype=bool)
        if seeds is not None and len(seeds[0]):
            rows, seed_codes, seed_known, values = seeds
            codes[rows], known[rows], self.seeded[rows] = seed_codes, seed_known, True
            for c in {c for r in self.rules for c in r.columns if c in codec.slots}:
                if c in values.columns:
                    col = np.full(n_events, None, dtype=object)
                    col[rows] = values[c].to_numpy(dtype=object)
                    given[c] = col
        self.plan = Plan(codec, self.rules, given, codes, known, self.where, [])
        self.constraint = self.plan.constraint(codec.where_constraint(self.where))
        self.order = self.plan.order()
        self.max_tries = max(
            [r.max_tries for r in self.rules if isinstance(r, Predicate)] + [MAX_REDRAWS]
        )
        self.rng, self.frame_of, self.keys, self.steps = rng, frame_of, keys, steps
        self.failed = np.zeros(n_events, dtype=np.int64)
        self.parts: list[pd.DataFrame] = []

    @property
    def redrawn(self) -> int:
        """Events drawn again so far."""
        return int(self.failed.sum())

    def accept(self, codes: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The ``accept`` callback of :func:`~tabargn.sequential.generation.generate_sequences`:
        decodes one step's drawn events (settling what the masks left, :meth:`Plan.finish`),
        keeps those that meet every rule (seed events always: they are output verbatim) and
        rejects the others.

        Raises:
            ConstraintError: An event rejected ``max_tries`` times.
        """
        r, c = rows.numpy(), codes.numpy()
        part = self.codec.decode(c, self.rng, where=self.where)
        self.plan.take(r).finish(c, part, self.rng)
        ok = self.seeded[r] | ~self.plan.violations(self.frame_of(part, r))
        if not ok.all():
            bad = r[~ok]
            self.failed[bad] += 1
            stuck = bad[self.failed[bad] >= self.max_tries]
            if len(stuck):
                raise ConstraintError(
                    f"{len(stuck)} event(s) still break a constraint after {self.max_tries} "
                    f"draws: entity keys {_shown(self.keys[stuck])} at steps "
                    f"{_shown(self.steps[stuck])}; the rules may be impossible together",
                    rows=[int(i) for i in stuck],
                )
        self.parts.append(part[ok].set_axis(r[ok]))
        return torch.as_tensor(ok)

    def decoded(self) -> pd.DataFrame:
        """Every accepted event, decoded, in output order (RangeIndex)."""
        if not self.parts:
            return self.codec.decode(np.zeros((0, self.codec.n_sub), dtype=np.int64), self.rng)
        return pd.concat(self.parts).sort_index().reset_index(drop=True)


def check_fairness(seq, fairness, given: bool) -> None:
    """Checks ``fairness`` for a sequential model (``seq``, a fitted ``SequentialModel``).

    Statistical parity is a property of a table of independent rows: in a sequential model
    that is the context table (one row per entity), drawn by the flat entity model.

    Raises:
        ConditionError: A target or sensitive column among the events (an event's value is
            drawn from its entity's history, so imposing shares event by event would override
            the sequence's dependence on its past, and entities with more events would weigh
            more in a group's shares), no context table, or given context / seed events (their
            context is given, not drawn).
    """
    if not isinstance(fairness, dict) or "target" not in fairness or "sensitive" not in fairness:
        raise ConditionError('fairness must be {"target": column, "sensitive": [columns]}')
    sensitive = fairness["sensitive"]
    named = [fairness["target"], *([sensitive] if isinstance(sensitive, str) else sensitive)]
    why = (
        "fairness in a sequential model applies to the context table (one row per entity): "
        "an event's value is drawn from its entity's history, so imposing a target's shares "
        "event by event would override each sequence's dependence on its past, and entities "
        "with more events would weigh more in their group's shares"
    )
    if not seq.has_context:
        raise ConditionError(f"{why}; this model has no context table")
    context_columns = set(seq.meta.context_columns) - {seq.meta.context_key}
    outside = [c for c in named if c not in context_columns]
    if outside:
        raise ConditionError(f"{why}; {outside} are not context columns")
    if given:
        raise ConditionError(
            "fairness draws the context of new entities (n_entities); given context or "
            "seed_events are not drawn"
        )
