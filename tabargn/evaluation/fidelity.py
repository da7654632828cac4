"""Fidelity: how close the synthetic distribution is to the real one.

Three families of measures, all vectorized with NumPy:

* **Accuracy** (:func:`accuracy`) -- ``1 - TVD`` (total variation distance,
  ``0.5 * sum |p - q|``) between the real and synthetic distributions of every column
  (univariate) and every pair of columns (bivariate), after the discretization of
  :mod:`tabargn.evaluation._prep` (real deciles, top-10 categories plus "other", missing as its
  own bin). This follows the accuracy measure of MOSTLY AI's ``mostlyai-qa`` (also used to
  evaluate TabularARGN, Tiwald et al., 2025, arXiv 2501.12012). Between the training data and
  a holdout it gives the ceiling a generator can reach with that many rows.
* **sdmetrics-style shape and trend** (:func:`shape_trend`) -- the two properties of
  ``sdmetrics.reports.single_table.QualityReport`` (DataCebo, sdmetrics 0.x): column shapes are
  ``KSComplement`` (``1 - `` two-sample Kolmogorov-Smirnov statistic, missing values dropped)
  for numeric and datetime columns and ``TVComplement`` (``1 - TVD`` over all categories,
  missing dropped) for categorical columns; column-pair trends are ``CorrelationSimilarity``
  (``1 - |r_real - r_syn| / 2`` with Pearson ``r`` on pairwise-complete rows) for two numeric
  or datetime columns and ``ContingencySimilarity`` (``1 - TVD`` of the joint table; numeric
  columns cut into 10 equal-width bins of the real column's range, missing values kept as their
  own bin) for every other pair, averaged over *all* pairs. Per column and per pair this equals
  sdmetrics' own ``KSComplement.compute``, ``TVComplement.compute``,
  ``CorrelationSimilarity.compute`` and ``ContingencySimilarity.compute(...,
  continuous_column_names=...)`` (checked in the tests). The averages differ from the
  ``QualityReport`` of recent sdmetrics versions, which leave out pairs whose real
  association is below a threshold and bin the synthetic column with its own edges. Scores of
  constant or empty columns are NaN and left out of the averages, as in sdmetrics.
* **alpha-precision / beta-recall** (:func:`alpha_beta`) -- Alaa et al., 2022, "How Faithful is
  your Synthetic Data? Sample-level Metrics for Evaluating and Auditing Generative Models"
  (ICML), simplified: supports estimated from k-nearest-neighbour distances instead of a
  learned one-class embedding.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from tabargn.evaluation._prep import Schema, knn

K_NEIGHBORS = 5
"""``k`` of the k-nearest-neighbour balls of :func:`alpha_beta`."""
ALPHA_GRID = (np.arange(20) + 0.5) / 20
"""Levels ``alpha`` (and ``beta``) at which the curves of :func:`alpha_beta` are evaluated."""


def _tvd_counts(ca: np.ndarray, cb: np.ndarray) -> float:
    """Total variation distance between two count vectors of the same support."""
    return 0.5 * float(np.abs(ca / ca.sum() - cb / cb.sum()).sum())


def _cramers_v(p: np.ndarray) -> float:
    """Cramér's V of a joint probability table (rows/columns with zero mass dropped)."""
    p = p[p.sum(axis=1) > 0][:, p.sum(axis=0) > 0]
    r, c = p.shape
    if min(r, c) < 2:
        return 0.0
    e = p.sum(axis=1, keepdims=True) * p.sum(axis=0, keepdims=True)
    phi2 = float(((p - e) ** 2 / e).sum())
    return float(np.sqrt(min(1.0, phi2 / (min(r, c) - 1))))


def accuracy(
    codes_real: np.ndarray,
    codes_other: np.ndarray,
    n_bins: np.ndarray,
    *,
    with_association: bool = False,
) -> dict:
    """Univariate and bivariate accuracy of binned tables.

    Args:
        codes_real: ``int64 [n_real, m]`` bin codes of the real table (:meth:`Schema.bin_codes`).
        codes_other: ``int64 [n_other, m]`` bin codes of the synthetic (or holdout) table.
        n_bins: ``int [m]`` number of bins of every column.
        with_association: Also return Cramér's V of every pair in both tables.

    Returns:
        Dict with ``"univariate"`` (``float64 [m]``, ``1 - TVD`` per column), ``"pairs"``
        (list of ``(i, j)`` with ``i < j``), ``"bivariate"`` (``float64 [n_pairs]``) and, with
        ``with_association``, ``"assoc_real"`` / ``"assoc_other"`` (``float64 [n_pairs]``).
    """
    m = codes_real.shape[1]
    n_bins = np.asarray(n_bins, dtype=np.int64)
    uni = np.empty(m)
    for j in range(m):
        ca = np.bincount(codes_real[:, j], minlength=n_bins[j])
        cb = np.bincount(codes_other[:, j], minlength=n_bins[j])
        uni[j] = 1.0 - _tvd_counts(ca, cb)
    pairs = list(combinations(range(m), 2))
    bi = np.empty(len(pairs))
    va = np.empty(len(pairs))
    vb = np.empty(len(pairs))
    p = 0
    for i in range(m - 1):
        js = np.arange(i + 1, m)
        size = n_bins[i] * n_bins[js]
        offsets = np.concatenate([[0], np.cumsum(size)[:-1]])
        total = int(size.sum())
        tables = []
        for codes in (codes_real, codes_other):
            keys = codes[:, i : i + 1] * n_bins[js] + codes[:, js] + offsets
            tables.append(np.bincount(keys.ravel(), minlength=total))
        for t, j in enumerate(js):
            sl = slice(offsets[t], offsets[t] + size[t])
            ta, tb = tables[0][sl], tables[1][sl]
            bi[p] = 1.0 - _tvd_counts(ta, tb)
            if with_association:
                shape = (n_bins[i], n_bins[j])
                va[p] = _cramers_v((ta / ta.sum()).reshape(shape))
                vb[p] = _cramers_v((tb / tb.sum()).reshape(shape))
            p += 1
    out = {"univariate": uni, "pairs": pairs, "bivariate": bi}
    if with_association:
        out["assoc_real"] = va
        out["assoc_other"] = vb
    return out


def _ks_complement(a: np.ndarray, b: np.ndarray) -> float:
    a = np.sort(a[~np.isnan(a)])
    b = np.sort(b[~np.isnan(b)])
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return 1.0 - float(np.abs(fa - fb).max())


def _joint_tvd(ka: np.ndarray, kb: np.ndarray, size: int) -> float:
    """``1 - TVD`` of two samples of integer keys in ``[0, size)``."""
    if size <= 4_000_000:
        return 1.0 - _tvd_counts(np.bincount(ka, minlength=size), np.bincount(kb, minlength=size))
    ua, ca = np.unique(ka, return_counts=True)
    ub, cb = np.unique(kb, return_counts=True)
    keys = np.union1d(ua, ub)
    fa = np.zeros(len(keys))
    fb = np.zeros(len(keys))
    fa[np.searchsorted(keys, ua)] = ca / len(ka)
    fb[np.searchsorted(keys, ub)] = cb / len(kb)
    return 1.0 - 0.5 * float(np.abs(fa - fb).sum())


def shape_trend(
    schema: Schema, real: dict[str, np.ndarray], synthetic: dict[str, np.ndarray]
) -> dict:
    """sdmetrics-style column-shape and column-pair-trend scores (see module docstring).

    Args:
        schema: Fitted schema of the evaluated columns.
        real: Normalized real columns (:meth:`Schema.normalize_frame`).
        synthetic: Normalized synthetic columns.

    Returns:
        Dict with ``"shape"`` (``float64 [m]``), ``"shape_metric"`` (``list[str]``),
        ``"pairs"`` (``list[(i, j)]``), ``"trend"`` (``float64 [n_pairs]``) and
        ``"trend_metric"`` (``list[str]``). NaN marks a score that cannot be computed.
    """
    cols = schema.columns
    m = len(cols)
    shape = np.empty(m)
    shape_metric = []
    # Discrete codes for the contingency tables: all categories (missing = own code) for
    # categorical columns, 10 equal-width bins of the real range (+ missing) for the others.
    disc_a, disc_b, card = [], [], []
    for j, c in enumerate(cols):
        a, b = real[c.name], synthetic[c.name]
        if c.kind == "categorical":
            ma, mb = pd.isna(a), pd.isna(b)
            shape_metric.append("TVComplement")
            if ma.all() or mb.all():
                shape[j] = np.nan
            else:
                codes, uniq = pd.factorize(np.concatenate([a[~ma], b[~mb]]))
                na = int((~ma).sum())
                k = len(uniq)
                shape[j] = 1.0 - _tvd_counts(
                    np.bincount(codes[:na], minlength=k), np.bincount(codes[na:], minlength=k)
                )
            codes, uniq = pd.factorize(np.concatenate([a, b]), use_na_sentinel=False)
            disc_a.append(codes[: len(a)].astype(np.int64))
            disc_b.append(codes[len(a) :].astype(np.int64))
            card.append(max(len(uniq), 1))
        else:
            shape_metric.append("KSComplement")
            shape[j] = _ks_complement(a, b)
            ok = a[~np.isnan(a)]
            if len(ok):
                edges = np.histogram_bin_edges(ok, bins=10)[1:-1]
            else:
                edges = np.empty(0)
            da = np.searchsorted(edges, a, side="right")
            db = np.searchsorted(edges, b, side="right")
            da[np.isnan(a)] = len(edges) + 1
            db[np.isnan(b)] = len(edges) + 1
            disc_a.append(da.astype(np.int64))
            disc_b.append(db.astype(np.int64))
            card.append(len(edges) + 2)

    numeric = [j for j, c in enumerate(cols) if c.kind != "categorical"]
    corr_a = corr_b = None
    if len(numeric) >= 2:
        corr_a = pd.DataFrame({j: real[cols[j].name] for j in numeric}).corr()
        corr_b = pd.DataFrame({j: synthetic[cols[j].name] for j in numeric}).corr()

    pairs = list(combinations(range(m), 2))
    trend = np.empty(len(pairs))
    trend_metric = []
    for p, (i, j) in enumerate(pairs):
        if cols[i].kind != "categorical" and cols[j].kind != "categorical":
            trend_metric.append("CorrelationSimilarity")
            ra, rb = corr_a.loc[i, j], corr_b.loc[i, j]
            trend[p] = 1.0 - abs(ra - rb) / 2.0
        else:
            trend_metric.append("ContingencySimilarity")
            ka = disc_a[i] * card[j] + disc_a[j]
            kb = disc_b[i] * card[j] + disc_b[j]
            trend[p] = _joint_tvd(ka, kb, card[i] * card[j])
    return {
        "shape": shape,
        "shape_metric": shape_metric,
        "pairs": pairs,
        "trend": trend,
        "trend_metric": trend_metric,
    }


def _level_curve(reference: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Share of ``query`` inside the alpha-level sets of ``reference``, for every alpha.

    A query value ``d`` lies inside the alpha-level set when its rank among the reference
    values, ``F(d)``, is at most alpha. Ties (frequent in discrete data, where many rows have
    ``d = 0``) are broken uniformly at random within the tied mass ``[F(d-), F(d)]``; the curve
    is the exact expectation over that draw, so a query drawn like the reference gives
    ``curve(alpha) = alpha``.
    """
    ref = np.sort(reference)
    lo = np.searchsorted(ref, query, side="left")[:, None] / len(ref)
    hi = np.searchsorted(ref, query, side="right")[:, None] / len(ref)
    a = ALPHA_GRID[None, :]
    width = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(width > 0, np.clip((a - lo) / width, 0.0, 1.0), (lo <= a) * 1.0)
    return inside.mean(axis=0)


def alpha_beta(
    real_emb: np.ndarray,
    syn_emb: np.ndarray,
    *,
    real_to_syn: tuple[np.ndarray, np.ndarray] | None = None,
    syn_to_real: tuple[np.ndarray, np.ndarray] | None = None,
    k: int = K_NEIGHBORS,
) -> dict:
    """alpha-precision and beta-recall, k-nearest-neighbour version.

    Alaa et al. (2022) define the alpha-support of a distribution as its minimum-volume subset
    holding probability mass ``alpha``; the alpha-precision curve ``P(alpha)`` is the share of
    synthetic rows inside the alpha-support of the real data, the beta-recall curve ``R(beta)``
    the share of real rows inside the beta-support of the synthetic data. For a perfect
    generator ``P(alpha) = alpha`` and ``R(beta) = beta``; the scores are the paper's
    integrated summaries ``1 - 2 * mean_alpha |P(alpha) - alpha|`` (and the same for ``R``),
    in ``[0, 1]``, 1 best. Unlike plain precision they also penalize synthetic rows that crowd
    into the densest real regions (mode collapse).

    Simplification (instead of the paper's one-class neural embedding): the density of a point
    ``x`` relative to a sample is measured by ``d_k(x)``, its distance to the ``k``-th nearest
    row of the sample in the distance embedding of :mod:`tabargn.evaluation._prep`. The
    alpha-support of the real sample is ``{x : d_k(x) <= tau_alpha}``, where ``tau_alpha`` is
    the alpha-quantile of the leave-one-out ``d_k`` of the real rows themselves (so a fresh
    real row falls inside with probability ``alpha``; ties of ``d_k``, common in discrete data,
    are split evenly, see :func:`_level_curve`); the beta-support of the synthetic sample is
    built the same way from the synthetic rows. Real and synthetic samples should
    have about the same size.

    Args:
        real_emb: ``float32 [n_real, d]`` embedded real rows.
        syn_emb: ``float32 [n_syn, d]`` embedded synthetic rows.
        real_to_syn: Optional precomputed ``(distances, indices)`` of the ``k`` nearest
            synthetic rows of every real row.
        syn_to_real: Optional precomputed ``(distances, indices)`` of the ``k`` nearest real
            rows of every synthetic row.
        k: Number of neighbours.

    Returns:
        Dict with ``"alpha_precision"``, ``"beta_recall"`` (floats) and the curves
        ``"alpha"``, ``"precision_curve"``, ``"recall_curve"`` (``float64 [20]``).
    """
    k = max(1, min(k, len(real_emb) - 1, len(syn_emb) - 1))
    d_rr, _ = knn(real_emb, real_emb, k + 1)
    d_ss, _ = knn(syn_emb, syn_emb, k + 1)
    if syn_to_real is None:
        syn_to_real = knn(real_emb, syn_emb, k)
    if real_to_syn is None:
        real_to_syn = knn(syn_emb, real_emb, k)
    # Leave-one-out k-th neighbour distance: column k of a (k+1)-query that includes the point.
    loo_r = d_rr[:, min(k, d_rr.shape[1] - 1)]
    loo_s = d_ss[:, min(k, d_ss.shape[1] - 1)]
    dk_syn_to_real = syn_to_real[0][:, k - 1]
    dk_real_to_syn = real_to_syn[0][:, k - 1]
    prec = _level_curve(loo_r, dk_syn_to_real)
    rec = _level_curve(loo_s, dk_real_to_syn)
    return {
        "alpha_precision": max(0.0, float(1.0 - 2.0 * np.abs(prec - ALPHA_GRID).mean())),
        "beta_recall": max(0.0, float(1.0 - 2.0 * np.abs(rec - ALPHA_GRID).mean())),
        "alpha": ALPHA_GRID.copy(),
        "precision_curve": prec,
        "recall_curve": rec,
    }


def column_histograms(
    schema: Schema,
    real: dict[str, np.ndarray],
    synthetic: dict[str, np.ndarray],
    columns: list[str],
    n_bins: int = 30,
) -> list[dict]:
    """Plot-ready histograms of real vs synthetic values (small arrays, for the HTML report).

    Numeric and datetime columns get ``n_bins`` equal-width bins over the real 0.5-99.5 %
    range (values outside are counted in the outer bins; missing values reported apart);
    categorical columns get the top-10 real categories, "(other)" and "(missing)".

    Returns:
        One dict per column: ``name``, ``kind``, and either ``edges`` (``[n_bins + 1]``) or
        ``labels``, plus ``real`` / ``synthetic`` shares (``float64``, summing to the share of
        non-missing values for numeric columns) and ``missing_real`` / ``missing_synthetic``.
    """
    by_name = {c.name: c for c in schema.columns}
    out = []
    for name in columns:
        c = by_name[name]
        a, b = real[name], synthetic[name]
        item: dict = {"name": name, "kind": c.kind}
        if c.kind == "categorical":
            codes_a = c.bin_codes(a)
            codes_b = c.bin_codes(b)
            item["labels"] = c.bin_labels()
            item["real"] = np.bincount(codes_a, minlength=c.n_bins) / len(a)
            item["synthetic"] = np.bincount(codes_b, minlength=c.n_bins) / len(b)
            item["missing_real"] = float(pd.isna(a).mean())
            item["missing_synthetic"] = float(pd.isna(b).mean())
        else:
            ok = a[~np.isnan(a)]
            lo, hi = np.quantile(ok, [0.005, 0.995]) if len(ok) else (0.0, 1.0)
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, n_bins + 1)
            item["edges"] = edges
            for key, x in (("real", a), ("synthetic", b)):
                v = np.clip(x[~np.isnan(x)], lo, hi)
                item[key] = np.histogram(v, bins=edges)[0] / len(x)
                item[f"missing_{key}"] = float(np.isnan(x).mean())
        out.append(item)
    return out
