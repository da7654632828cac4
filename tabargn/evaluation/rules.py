"""The ``constraints`` section of :func:`tabargn.evaluate`: rule violations and parity gaps.

Violations are counted on the full synthetic table (every row, not a subsample): the share of
rows that break any rule, and one count per rule in a table. Parity gaps
(:func:`tabargn.constraints.parity_gap`) are given for the synthetic table with the real
training table's gap beside them.
"""

from __future__ import annotations

import pandas as pd

from tabargn.constraints import parity_gap, parse_rules
from tabargn.errors import InvalidDataError
from tabargn.evaluation.report import Report

__all__ = ["add_constraints_section"]


def add_constraints_section(
    report: Report,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    constraints=None,
    fairness: dict | None = None,
) -> None:
    """Adds the ``constraints`` section (nothing without constraints and fairness).

    Metrics: ``constraint_violation_share`` (rows breaking any rule; ``..._real`` for the
    training table) and, with ``fairness``, ``parity_gap_<column>`` per sensitive column
    (``..._real`` beside it).

    Args:
        report: The report being built.
        real, synthetic: The checked tables.
        constraints: Rules (:mod:`tabargn.constraints` objects or their dicts; a fitted
            model's ``constraints_``).
        fairness: ``{"target": column, "sensitive": [columns]}``.

    Raises:
        InvalidDataError: A rule or fairness column missing from the tables.
    """
    rules = parse_rules(constraints)
    if not rules and not fairness:
        return
    metrics: dict[str, float | None] = {}
    references: dict[str, str] = {}
    tables = {}
    notes = []
    if rules:
        rows = []
        bad_synth = pd.Series(False, index=synthetic.index)
        bad_real = pd.Series(False, index=real.index)
        for rule in rules:
            missing = [c for c in rule.columns if c not in synthetic or c not in real]
            if missing:
                raise InvalidDataError(f"{rule!r} names columns {missing} the tables lack")
            s, r = ~rule.satisfied(synthetic), ~rule.satisfied(real)
            bad_synth |= s
            bad_real |= r
            rows.append({"rule": repr(rule)[:120], "synthetic": int(s.sum()), "real": int(r.sum())})
        metrics["constraint_violation_share"] = float(bad_synth.mean())
        metrics["constraint_violation_share_real"] = float(bad_real.mean())
        references["constraint_violation_share"] = "constraint_violation_share_real"
        tables["Rows breaking each rule"] = pd.DataFrame(rows)
        notes.append(f"{len(rules)} rule(s), checked on every row; missing values pass.")
    if fairness:
        target, sensitive = fairness.get("target"), fairness.get("sensitive")
        sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive or [])
        for c in [target, *sensitive]:
            if c not in synthetic or c not in real:
                raise InvalidDataError(f"fairness column {c!r} is missing from the tables")
        gap_s, gap_r = parity_gap(synthetic, target, sensitive), parity_gap(real, target, sensitive)
        for c in sensitive:
            metrics[f"parity_gap_{c}"] = gap_s[c]
            metrics[f"parity_gap_{c}_real"] = gap_r[c]
            references[f"parity_gap_{c}"] = f"parity_gap_{c}_real"
        notes.append(
            f"Parity gap of {target!r}: max over its values of the spread of P(value | group) "
            "across each sensitive column's groups (0 = statistical parity)."
        )
    report.add_section("constraints", metrics, references=references, tables=tables, notes=notes)
