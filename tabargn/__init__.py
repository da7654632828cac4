"""tabargn: tabular synthetic data with a TabularARGN-style any-order autoregressive model.

Public API::

    from tabargn import TabularARGN, evaluate
    model = TabularARGN(random_state=0).fit(df)
    synthetic = model.sample(n_samples=1000)
    report = evaluate(real=train, synthetic=synthetic, holdout=test, target="income")
"""

from tabargn._version import __version__
from tabargn.estimator import TabularARGN
from tabargn.evaluation import Report, evaluate

__all__ = ["TabularARGN", "evaluate", "Report", "__version__"]
