"""Privacy: does the synthetic data sit closer to the training rows than fresh real rows do?

All distances are Euclidean in the distance embedding of :mod:`tabargn.evaluation._prep`
(numeric columns as real-ECDF ranks in ``[0, 1]`` plus a missing indicator, categorical
columns one-hot scaled so that a category mismatch counts 1), computed with scikit-learn's
brute-force ``NearestNeighbors`` (exact distances, see :func:`tabargn.evaluation._prep.knn`).

* **DCR share** -- the share of synthetic rows whose distance to the closest record (DCR) of the
  training data is smaller than their distance to the closest record of the holdout; ties count
  one half. The training sample has the holdout's size (it is subsampled when larger), so a
  generator that learned the distribution without memorizing rows scores 0.5. A copy of the
  training data scores 1.0 when training data and holdout have the same size; when the
  training data is ``k`` times larger than the holdout, a copied row's original is in the
  subsample with probability ``1/k`` only, and a full copy scores ``0.5 + 0.5 / k`` (0.63 for
  Adult's 39k training / 10k holdout rows) -- still far above 0.5 given the sample sizes, but
  read the DCR share together with ``identical_match_share``, which uses all rows. The
  measure follows MOSTLY AI's ``mostlyai-qa`` (which also compares equal-size training and
  holdout samples) and Platzer & Reutterer, 2021, "Holdout-Based Empirical Assessment of
  Mixed-Type Synthetic Data" (Frontiers in Big Data).
* **Identical-match share** -- the share of synthetic rows exactly equal (all evaluated columns,
  missing equals missing) to at least one training row; computed by hashing every row, over all
  rows (no subsampling). Compare with the same share for the holdout: real data can contain
  duplicates too.
* **NNDR** -- nearest-neighbour distance ratio: the distance of a synthetic row to its nearest
  training row divided by the distance to its second-nearest training row, averaged (over the
  same training sample as the DCR share; the reference is the same ratio for holdout rows).
  Values near 0 flag synthetic rows that single out one training row; ``0/0`` (two identical
  training rows) counts as 1.
* **Membership-inference AUC** -- a distance attack: the attacker scores a real row by minus its
  distance to the closest synthetic row and must tell training rows (members) from holdout rows
  (non-members) of the same size; ROC AUC, 0.5 means no leak.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from tabargn.evaluation._prep import knn


def identical_match_share(train_hashes: np.ndarray, syn_hashes: np.ndarray) -> float:
    """Share of synthetic rows whose row hash equals the hash of some training row.

    Args:
        train_hashes: ``uint64 [n_train]`` (:func:`tabargn.evaluation._prep.row_hashes`).
        syn_hashes: ``uint64 [n_syn]``.

    Returns:
        A float in ``[0, 1]``.
    """
    return float(np.isin(syn_hashes, train_hashes).mean())


def nndr(syn_to_train: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per-row nearest-neighbour distance ratio.

    Args:
        syn_to_train: ``(distances, indices)`` of the 2 or more nearest training rows of every
            synthetic row (ascending).

    Returns:
        ``float64 [n_syn]`` ratios in ``[0, 1]`` (1 when there is only one training row).
    """
    d = syn_to_train[0]
    if d.shape[1] < 2:
        return np.ones(len(d))
    d1, d2 = d[:, 0], d[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d2 > 0, d1 / d2, 1.0)
    return r


def dcr(
    train_emb: np.ndarray,
    holdout_emb: np.ndarray,
    syn_emb: np.ndarray,
    *,
    syn_to_train: tuple[np.ndarray, np.ndarray] | None = None,
    train_to_syn: tuple[np.ndarray, np.ndarray] | None = None,
    holdout_to_train: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """DCR share, the DCR distributions, and the membership-inference AUC.

    Args:
        train_emb: ``float32 [m, d]`` embedded training rows, the same number as
            ``holdout_emb`` (the caller subsamples).
        holdout_emb: ``float32 [m, d]`` embedded holdout rows.
        syn_emb: ``float32 [n_syn, d]`` embedded synthetic rows.
        syn_to_train: Optional precomputed nearest training rows of every synthetic row.
        train_to_syn: Optional precomputed nearest synthetic rows of every training row.
        holdout_to_train: Optional precomputed nearest training rows of every holdout row.

    Returns:
        Dict with ``"dcr_share"`` and ``"membership_auc"`` (floats) and per-row distance arrays
        (``float64``): ``"synthetic_to_train"`` ``[n_syn]``, ``"synthetic_to_holdout"``
        ``[n_syn]``, ``"holdout_to_train"`` ``[m]``.
    """
    if syn_to_train is None:
        syn_to_train = knn(train_emb, syn_emb, 1)
    if train_to_syn is None:
        train_to_syn = knn(syn_emb, train_emb, 1)
    d_st = syn_to_train[0][:, 0]
    d_sh = knn(holdout_emb, syn_emb, 1)[0][:, 0]
    if holdout_to_train is None:
        holdout_to_train = knn(train_emb, holdout_emb, 1)
    d_ht = holdout_to_train[0][:, 0]
    d_hs = knn(syn_emb, holdout_emb, 1)[0][:, 0]
    d_ts = train_to_syn[0][:, 0]
    share = np.where(d_st < d_sh, 1.0, np.where(d_st == d_sh, 0.5, 0.0)).mean()
    y = np.r_[np.ones(len(d_ts)), np.zeros(len(d_hs))]
    mia = roc_auc_score(y, -np.r_[d_ts, d_hs])
    return {
        "dcr_share": float(share),
        "membership_auc": float(mia),
        "synthetic_to_train": d_st,
        "synthetic_to_holdout": d_sh,
        "holdout_to_train": d_ht,
    }
