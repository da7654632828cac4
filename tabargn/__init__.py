"""tabargn: tabular synthetic data with a TabularARGN-style any-order autoregressive model.

Public API::

    from tabargn import TabularARGN, evaluate
    model = TabularARGN(random_state=0).fit(df)
    synthetic = model.sample(n_samples=1000)
    report = evaluate(real=train, synthetic=synthetic, holdout=test, target="income")
"""

from tabargn.estimator import TabularARGN
from tabargn.evaluation import Report, evaluate

__version__ = "0.1.0"
__all__ = ["TabularARGN", "evaluate", "Report", "__version__"]
