"""Detection: a classifier two-sample test (C2ST) between real and synthetic rows.

Lopez-Paz & Oquab, 2017, "Revisiting Classifier Two-Sample Tests" (ICLR): if no classifier
can tell real rows from synthetic ones better than chance, the two samples come from the same
distribution as far as that classifier can see. Here the classifier is scikit-learn's
``HistGradientBoostingClassifier`` (native categorical support, missing values handled), the
samples are balanced (the same number of real and synthetic rows), and the ROC AUC is computed
on out-of-fold predictions of a stratified k-fold cross-validation. The score
``1 - 2 * |AUC - 0.5|`` is 1 for indistinguishable data and 0 for perfectly separable data
(an AUC below 0.5 is as suspicious as one above, so both are penalized).
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

N_FOLDS = 3
"""Folds of the cross-validation."""


def detection(
    X_real: np.ndarray,
    X_syn: np.ndarray,
    is_categorical: np.ndarray,
    *,
    max_rows: int,
    random_state: int = 0,
) -> dict:
    """Cross-validated detection AUC of real vs synthetic rows.

    Args:
        X_real: ``float64 [n_real, d]`` features of the real rows
            (:meth:`tabargn.evaluation._prep.Schema.model_features`).
        X_syn: ``float64 [n_syn, d]`` features of the synthetic rows.
        is_categorical: ``bool [d]`` mask of the categorical (ordinal-coded) features.
        max_rows: Most rows drawn from each side; the sample is balanced at
            ``min(n_real, n_syn, max_rows)`` rows per side.
        random_state: Seed of the sampling, the folds and the classifier.

    Returns:
        Dict with ``"detection_auc"`` (ROC AUC in ``[0, 1]``, 0.5 best) and
        ``"detection_score"`` (``1 - 2 * |AUC - 0.5|``, 1 best) and ``"n_per_side"``. Both
        scores are NaN with fewer than 2 rows per side; features missing in every sampled row
        are left out (with none left, the two samples are indistinguishable: AUC 0.5).
    """
    rng = np.random.default_rng(random_state)
    n = min(len(X_real), len(X_syn), max_rows)
    if n < 2:
        return {"detection_auc": float("nan"), "detection_score": float("nan"), "n_per_side": n}
    ia = rng.choice(len(X_real), size=n, replace=False)
    ib = rng.choice(len(X_syn), size=n, replace=False)
    X = np.vstack([X_real[ia], X_syn[ib]])
    y = np.r_[np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int8)]
    # Features missing in every sampled row carry no information (and break the binning).
    informative = ~np.isnan(X).all(axis=0)
    X, is_categorical = X[:, informative], is_categorical[informative]
    if X.shape[1] == 0:
        return {"detection_auc": 0.5, "detection_score": 1.0, "n_per_side": n}
    folds = StratifiedKFold(n_splits=min(N_FOLDS, n), shuffle=True, random_state=random_state)
    proba = np.empty(len(y))
    for train, test in folds.split(X, y):
        clf = HistGradientBoostingClassifier(
            categorical_features=is_categorical if is_categorical.any() else None,
            random_state=random_state,
        )
        clf.fit(X[train], y[train])
        proba[test] = clf.predict_proba(X[test])[:, 1]
    auc = float(roc_auc_score(y, proba))
    return {
        "detection_auc": auc,
        "detection_score": 1.0 - 2.0 * abs(auc - 0.5),
        "n_per_side": n,
    }
