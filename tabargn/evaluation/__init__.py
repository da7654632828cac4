"""Evaluation suite: fidelity, detection, utility and privacy of synthetic tables.

Use :func:`evaluate` to compare a synthetic table with the real training table (and,
preferably, a holdout of real rows the generator never saw); it returns a :class:`Report`
whose :meth:`Report.summary` is a flat dict of floats and whose :meth:`Report.to_html` writes
a self-contained HTML file. See DESIGN.md section 4.

Example::

    from tabargn.evaluation import evaluate

    report = evaluate(train, synthetic, holdout, target="income")
    print(report.summary()["bivariate_accuracy"])
    report.to_html("report.html")
"""

from __future__ import annotations

from tabargn.evaluation.report import Report, Section
from tabargn.evaluation.suite import evaluate

__all__ = ["evaluate", "Report", "Section"]
