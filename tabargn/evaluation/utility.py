"""Utility: train on synthetic, test on real (TSTR) against train on real, test on real (TRTR).

Esteban, Hyland & Rätsch, 2017, "Real-valued (Medical) Time Series Generation with Recurrent
Conditional GANs" (arXiv 1706.02633) introduced TSTR. The same model -- scikit-learn's
``HistGradientBoostingClassifier`` or ``HistGradientBoostingRegressor`` with default
hyper-parameters except ``l2_regularization=1.0`` -- is fitted once on the synthetic table and
once on the real training table, to predict the target column from all other evaluated columns,
and both are scored on the holdout, which neither saw. The task is:

* **binary** (a categorical target with two classes in the holdout, or a numeric target with
  exactly two distinct real values): ROC AUC of the predicted probability of the second class
  in sorted order;
* **multi-class** (a categorical target with more classes): macro-averaged F1 over the classes
  present in the holdout;
* **regression** (any other numeric or datetime target): R² (can be negative).

The L2 penalty keeps leaf values finite for rare classes: unregularized, the multi-class
model collapsed to one class on lending_club_loans (``grade``, whose class G has 10 of 8,000
rows: macro F1 0.13 on real data, 1.00 with the penalty).

Rows whose target is missing are dropped from training and test data. TSTR close to TRTR means
the synthetic data keeps what a model needs to predict the target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import f1_score, r2_score, roc_auc_score

from tabargn.evaluation._prep import Schema

L2 = 1.0  # l2_regularization of the utility models (see the module docstring)


def task_type(schema: Schema, target: str, real: dict[str, np.ndarray]) -> str:
    """``"binary"``, ``"multiclass"`` or ``"regression"`` for a target column."""
    col = next(c for c in schema.columns if c.name == target)
    y = real[target]
    if col.kind == "categorical":
        n = pd.Series(y).nunique(dropna=True)
        return "binary" if n <= 2 else "multiclass"
    if pd.Series(y).nunique(dropna=True) == 2:
        return "binary"
    return "regression"


def _labels(y: np.ndarray, task: str) -> np.ndarray:
    if task == "regression":
        return y.astype(float)
    return np.array([None if v is None or v != v else str(v) for v in y], dtype=object)


def _fit_score(X_tr, y_tr, X_te, y_te, is_cat, task: str, random_state: int) -> float:
    # Features missing in every training row carry no information (and break the binning).
    keep = ~np.isnan(X_tr).all(axis=0) if len(X_tr) else np.zeros(X_tr.shape[1], dtype=bool)
    X_tr, X_te, is_cat = X_tr[:, keep], X_te[:, keep], is_cat[keep]
    if X_tr.shape[1] == 0:  # nothing to learn from: a constant feature
        X_tr, X_te = np.zeros((len(X_tr), 1)), np.zeros((len(X_te), 1))
        is_cat = np.zeros(1, dtype=bool)
    cat = is_cat if is_cat.any() else None
    if task == "regression":
        if len(y_tr) < 2:
            return float("nan")
        model = HistGradientBoostingRegressor(
            categorical_features=cat, l2_regularization=L2, random_state=random_state
        )
        model.fit(X_tr, y_tr)
        return float(r2_score(y_te, model.predict(X_te)))
    classes_te = np.unique(y_te)
    class_counts = np.unique(y_tr, return_counts=True)[1]
    if len(class_counts) < 2:
        # A constant model: chance-level AUC, F1 of always predicting that one class.
        if task == "binary":
            return 0.5
        pred = np.full(len(y_te), y_tr[0] if len(y_tr) else "", dtype=object)
        return float(f1_score(y_te, pred, labels=classes_te, average="macro", zero_division=0))
    # On more than 10,000 rows the classifier stops early on a stratified 10 % of them, which
    # a class of one row (a rare value drawn once in a synthetic table) cannot be split into;
    # such a training set stops on its training loss instead (validation_fraction=None).
    model = HistGradientBoostingClassifier(
        categorical_features=cat,
        l2_regularization=L2,
        random_state=random_state,
        validation_fraction=0.1 if class_counts.min() >= 2 else None,
    )
    model.fit(X_tr, y_tr)
    if task == "binary":
        if len(classes_te) < 2:
            return float("nan")
        positive = classes_te[-1]
        proba = model.predict_proba(X_te)
        hit = np.flatnonzero(model.classes_ == positive)
        score = proba[:, hit[0]] if len(hit) else np.zeros(len(y_te))
        return float(roc_auc_score(y_te == positive, score))
    pred = model.predict(X_te)
    return float(f1_score(y_te, pred, labels=classes_te, average="macro", zero_division=0))


def tstr(
    schema: Schema,
    target: str,
    real: dict[str, np.ndarray],
    synthetic: dict[str, np.ndarray],
    holdout: dict[str, np.ndarray],
    *,
    random_state: int = 0,
) -> dict:
    """TSTR and TRTR scores for one target column.

    Args:
        schema: Fitted schema of the evaluated columns (``target`` among them).
        target: Name of the target column.
        real: Normalized real training columns (:meth:`Schema.normalize_frame`).
        synthetic: Normalized synthetic columns.
        holdout: Normalized holdout columns (the test set of both models).
        random_state: Seed of the models.

    Returns:
        Dict with ``"tstr_score"``, ``"trtr_score"`` (floats; ROC AUC, macro F1 or R², see the
        module docstring), ``"utility_task"`` and ``"utility_metric"`` (strings).
    """
    task = task_type(schema, target, real)
    frames = {}
    for key, vals in (("real", real), ("synthetic", synthetic), ("holdout", holdout)):
        X, is_cat = schema.model_features(vals, exclude=[target])
        y = _labels(vals[target], task)
        keep = ~pd.isna(y)
        frames[key] = (X[keep], y[keep])
    X_te, y_te = frames["holdout"]
    out = {
        "utility_task": task,
        "utility_metric": {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "r2"}[task],
    }
    if len(y_te) == 0:
        out["tstr_score"] = out["trtr_score"] = float("nan")
        return out
    for key, name in (("synthetic", "tstr_score"), ("real", "trtr_score")):
        X_tr, y_tr = frames[key]
        out[name] = _fit_score(X_tr, y_tr, X_te, y_te, is_cat, task, random_state)
    return out
