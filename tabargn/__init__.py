"""tabargn: tabular synthetic data with a TabularARGN-style any-order autoregressive model.

Public API::

    from tabargn import TabularARGN, evaluate
    model = TabularARGN(random_state=0).fit(df)
    synthetic = model.sample(n_samples=1000)
    report = evaluate(real=train, synthetic=synthetic, holdout=test, target="income")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabargn._version import __version__
from tabargn.estimator import TabularARGN

if TYPE_CHECKING:
    from tabargn.evaluation import Report, evaluate

__all__ = ["TabularARGN", "evaluate", "Report", "__version__"]


def __getattr__(name: str):
    """``evaluate`` and ``Report`` are imported on first use (PEP 562).

    The evaluation suite loads scikit-learn's metric models (about 15 MB of RSS and
    0.1 s); a process that only fits and samples never needs them.
    """
    if name in ("evaluate", "Report"):
        from tabargn import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module 'tabargn' has no attribute {name!r}")
