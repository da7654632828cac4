"""``evaluate``: the whole tabular evaluation suite in one call."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tabargn.errors import InvalidDataError
from tabargn.evaluation import _plots, fidelity, privacy
from tabargn.evaluation._prep import Schema, check_frame, knn, row_hashes, sample_index, subsample
from tabargn.evaluation.detection import detection
from tabargn.evaluation.report import MAX_PLOTTED_COLUMNS, Report
from tabargn.evaluation.utility import tstr

DEFAULT_MAX_ROWS = 50_000
DEFAULT_NEIGHBOR_ROWS = 10_000
DEFAULT_DETECTION_ROWS = 20_000


def _threads(n: int | None):
    """Context limiting OpenMP threads to ``n`` (no limit when ``n`` is None)."""
    if n is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="openmp")


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidDataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    *,
    target: str | None = None,
    entity_key: str | None = None,
    order_by: str | None = None,
    text_columns: Sequence[str] | None = None,
    text_consistency_column: str | dict[str, str] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    neighbor_rows: int = DEFAULT_NEIGHBOR_ROWS,
    detection_rows: int = DEFAULT_DETECTION_ROWS,
    random_state: int = 0,
    n_threads: int | None = 1,
) -> Report:
    """Evaluates a synthetic table against the real training table (and a holdout).

    Every metric compares the columns of ``real`` except ``entity_key`` and ``text_columns``
    (sequence and text metrics are separate sections). Column kinds come from ``real``'s dtypes
    (see :mod:`tabargn.evaluation._prep`); any pandas dtype is accepted: object, category,
    string, bool, nullable integers, floats, timedeltas, naive or tz-aware datetimes.

    Metrics (keys of :meth:`Report.summary`, all floats; None when the input a metric needs
    was not given; NaN when it cannot be computed on the data):

    * fidelity (:mod:`~tabargn.evaluation.fidelity`): ``univariate_accuracy``,
      ``bivariate_accuracy`` (1 - TVD of binned columns / column pairs) and, with a holdout,
      their ceilings ``univariate_accuracy_max``, ``bivariate_accuracy_max`` (the same measure
      between training data and holdout); ``association_gap`` (mean absolute difference of
      Cramér's V matrices; ``association_gap_holdout`` for the holdout); ``shape_score``,
      ``trend_score`` (sdmetrics QualityReport properties, own implementation);
      ``alpha_precision``, ``beta_recall`` (Alaa et al. 2022, k-NN version).
    * detection (:mod:`~tabargn.evaluation.detection`): ``detection_auc``,
      ``detection_score`` = 1 - 2 |AUC - 0.5|.
    * utility (:mod:`~tabargn.evaluation.utility`, needs ``target`` and ``holdout``):
      ``tstr_score``, ``trtr_score``.
    * privacy (:mod:`~tabargn.evaluation.privacy`): ``identical_match_share`` and ``nndr``
      (always, with ``..._holdout`` references when a holdout is given), ``dcr_share`` and
      ``membership_auc`` (need a holdout).
    * text (:mod:`~tabargn.evaluation.text`, one section per ``text_columns`` entry; keys
      ``text_<column>_<metric>``): ``distinct_1``, ``distinct_2`` (and ``..._real``),
      ``length_accuracy``, ``mean_length_real`` / ``_synthetic``, ``novelty``,
      ``ngram_overlap_3``, ``missing_rate_real`` / ``_synthetic``, ``consistency``,
      ``consistency_real``, ``consistency_baseline`` (None without
      ``text_consistency_column``), ``embedding_*`` with an installed embedding model, and
      with a holdout ``length_accuracy_holdout``, ``novelty_holdout``,
      ``ngram_overlap_3_holdout`` (holdout texts against the training texts).
    * ``seconds``: wall time of this call.

    Sizes: each input is first subsampled to ``max_rows`` rows. Detection uses a balanced sample
    of at most ``detection_rows`` rows per side. The quadratic nearest-neighbour metrics
    (alpha/beta, DCR, NNDR, membership) use at most ``neighbor_rows`` synthetic rows and the
    same number of training rows; with a holdout, training and holdout samples have equal size
    ``min(n_train, n_holdout, neighbor_rows)``. All draws come from ``random_state``.
    On Adult (39k training, 10k holdout, 39k synthetic rows) the suite takes well under a minute
    on 2 CPU cores.

    Args:
        real: Real training table (the data the generator was fitted on).
        synthetic: Synthetic table; must have every column of ``real`` (extra columns ignored).
        holdout: Optional real rows the generator never saw, with every column of ``real``.
        target: Optional column to predict for TSTR / TRTR (needs ``holdout``).
        entity_key: Optional entity (sequence) key column, left out of the tabular metrics.
            With it the report gains a ``sequences`` section (sequence lengths, coherence of
            consecutive events, per-entity aggregates; :mod:`tabargn.evaluation.sequence`).
        order_by: Optional order column of the sequences (events are sorted stably by entity
            and this column; without it the row order within an entity is the event order).
        text_columns: Optional free-text columns, left out of the tabular metrics and scored
            by the text metrics (:func:`llm_text.metrics.text_metrics`).
        text_consistency_column: Optional categorical column (or ``{text column: column}``)
            for the text consistency check: a classifier trained on real text predicts it, and
            must agree with each synthetic row's value.
        max_rows: Most rows used from each input table.
        neighbor_rows: Most rows per side in the nearest-neighbour metrics.
        detection_rows: Most rows per side in the detection classifier.
        random_state: Seed of every random draw and model.
        n_threads: OpenMP threads of the gradient-boosting models (detection, utility);
            ``None`` leaves scikit-learn's default (all cores). The default of 1 is deliberate:
            ``HistGradientBoosting*`` runs many short parallel regions, and on a machine whose
            cores are busy with other work two threads were measured up to 10x slower than one
            (nearest-neighbour searches are not affected and always use all cores).

    Returns:
        A :class:`~tabargn.evaluation.report.Report`.

    Raises:
        InvalidDataError: If an input is not a DataFrame, has no rows or no columns, has
            duplicate column names; if ``synthetic`` or ``holdout`` lacks a column of ``real``;
            if ``entity_key``, ``text_columns`` or ``target`` name unknown columns (or the
            target is excluded); if no column is left to evaluate; or if a size argument is not
            a positive integer.
        UnsupportedDtypeError: If a real column holds complex numbers.
    """
    t0 = time.perf_counter()
    real = check_frame(real, "real")
    synthetic = check_frame(synthetic, "synthetic")
    if holdout is not None:
        holdout = check_frame(holdout, "holdout")
    inputs = (real, synthetic, holdout)  # text metrics use the full tables
    max_rows = _check_int("max_rows", max_rows, 2)
    neighbor_rows = _check_int("neighbor_rows", neighbor_rows, 2)
    detection_rows = _check_int("detection_rows", detection_rows, 2)
    if n_threads is not None:
        n_threads = _check_int("n_threads", n_threads, 1)

    if isinstance(text_columns, str):
        text_columns = [text_columns]
    excluded = ([entity_key] if entity_key is not None else []) + list(text_columns or [])
    unknown = [c for c in excluded if c not in real.columns]
    if unknown:
        raise InvalidDataError(f"entity_key / text_columns not in the real data: {unknown}")
    for role, df in (("synthetic", synthetic), ("holdout", holdout)):
        if df is None:
            continue
        missing = [c for c in real.columns if c not in df.columns]
        if missing:
            raise InvalidDataError(f"{role} lacks columns of the real data: {missing}")
    columns = [c for c in real.columns if c not in excluded]
    if not columns:
        raise InvalidDataError("no column left to evaluate after excluding key/text columns")
    if target is not None and target not in columns:
        raise InvalidDataError(
            f"target {target!r} is not an evaluated column of the real data"
            + (" (it is excluded as key/text)" if target in excluded else "")
        )

    rng = np.random.default_rng(random_state)
    seeds = rng.integers(0, 2**31 - 1, size=8)
    real = subsample(real[columns], max_rows, np.random.default_rng(seeds[0]))
    synthetic = subsample(synthetic[columns], max_rows, np.random.default_rng(seeds[1]))
    if holdout is not None:
        holdout = subsample(holdout[columns], max_rows, np.random.default_rng(seeds[2]))

    schema = Schema(real)
    R = schema.real_values
    S = schema.normalize_frame(synthetic)
    H = schema.normalize_frame(holdout) if holdout is not None else None
    report = Report()
    report.info = {
        "real_rows": len(real),
        "synthetic_rows": len(synthetic),
        "holdout_rows": len(holdout) if holdout is not None else 0,
        "columns": len(columns),
        "excluded_columns": excluded,
        "target": target if target is not None else "—",
        "random_state": random_state,
    }

    # -- fidelity -----------------------------------------------------------------------------
    n_bins = np.array([c.n_bins for c in schema.columns])
    codes_r = schema.bin_codes(R)
    acc = fidelity.accuracy(codes_r, schema.bin_codes(S), n_bins, with_association=True)
    acc_h = (
        fidelity.accuracy(codes_r, schema.bin_codes(H), n_bins, with_association=True)
        if H is not None
        else None
    )
    st = fidelity.shape_trend(schema, R, S)
    names = schema.names
    pairs = acc["pairs"]

    def _mean(x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")

    report.columns = pd.DataFrame(
        {
            "column": names,
            "kind": [c.kind for c in schema.columns],
            "univariate_accuracy": acc["univariate"],
            "univariate_accuracy_max": acc_h["univariate"] if acc_h else np.nan,
            "shape_metric": st["shape_metric"],
            "shape_score": st["shape"],
            "missing_real": [float(pd.isna(R[n]).mean()) for n in names],
            "missing_synthetic": [float(pd.isna(S[n]).mean()) for n in names],
        }
    )
    report.pairs = pd.DataFrame(
        {
            "column_1": [names[i] for i, _ in pairs],
            "column_2": [names[j] for _, j in pairs],
            "bivariate_accuracy": acc["bivariate"],
            "bivariate_accuracy_max": acc_h["bivariate"] if acc_h else np.nan,
            "trend_metric": st["trend_metric"],
            "trend_score": st["trend"],
            "association_real": acc["assoc_real"],
            "association_synthetic": acc["assoc_other"],
        }
    )

    # -- nearest-neighbour samples (shared by alpha/beta and privacy) -----------------------
    n_r, n_s = len(real), len(synthetic)
    if H is not None:
        m = min(n_r, len(holdout), neighbor_rows)
        i_t = sample_index(n_r, m, np.random.default_rng(seeds[3]))
        i_h = sample_index(len(holdout), m, np.random.default_rng(seeds[4]))
    else:
        i_t = sample_index(n_r, neighbor_rows, np.random.default_rng(seeds[3]))
        i_h = None
    i_s = sample_index(n_s, neighbor_rows, np.random.default_rng(seeds[5]))
    emb_t = schema.embed({k: v[i_t] for k, v in R.items()})
    emb_s = schema.embed({k: v[i_s] for k, v in S.items()})
    emb_h = schema.embed({k: v[i_h] for k, v in H.items()}) if H is not None else None
    k = fidelity.K_NEIGHBORS
    syn_to_train = knn(emb_t, emb_s, k)
    train_to_syn = knn(emb_s, emb_t, k)
    ab = fidelity.alpha_beta(emb_t, emb_s, real_to_syn=train_to_syn, syn_to_real=syn_to_train)

    def _gap(res: dict) -> float:
        return _mean(np.abs(res["assoc_real"] - res["assoc_other"])) if pairs else float("nan")

    report.add_section(
        "fidelity",
        {
            "univariate_accuracy": _mean(acc["univariate"]),
            "univariate_accuracy_max": _mean(acc_h["univariate"]) if acc_h else None,
            "bivariate_accuracy": _mean(acc["bivariate"]) if pairs else float("nan"),
            "bivariate_accuracy_max": (
                (_mean(acc_h["bivariate"]) if pairs else float("nan")) if acc_h else None
            ),
            "association_gap": _gap(acc),
            "association_gap_holdout": _gap(acc_h) if acc_h else None,
            "shape_score": _mean(st["shape"]),
            "trend_score": _mean(st["trend"]) if pairs else float("nan"),
            "alpha_precision": ab["alpha_precision"],
            "beta_recall": ab["beta_recall"],
        },
        references={
            "univariate_accuracy": "univariate_accuracy_max",
            "bivariate_accuracy": "bivariate_accuracy_max",
            "association_gap": "association_gap_holdout",
        },
        descriptions={
            "association_gap_holdout": "association_gap of the holdout against the training "
            "data (the level sampling noise alone gives).",
        },
        notes=[
            "Accuracy bins: deciles of the real column for numbers and datetimes, the 10 most "
            "frequent real categories plus '(other)' for categories; missing values are their "
            "own bin. The reference beside each accuracy is the same measure between the "
            "training data and the holdout (the ceiling reachable with that many rows).",
            "Association heatmaps: Cramér's V of every pair of binned columns, which works "
            "for any mix of numeric and categorical columns (0 = independent, 1 = fully "
            "dependent).",
        ],
    )
    fid = report.section("fidelity")
    hide = [] if acc_h else ["univariate_accuracy_max", "bivariate_accuracy_max"]
    fid.tables["Per-column details"] = report.columns.drop(columns=hide, errors="ignore")
    if pairs:
        worst = report.pairs.sort_values("bivariate_accuracy", kind="stable").head(15)
        fid.tables["Column pairs with the lowest bivariate accuracy"] = worst.drop(
            columns=hide, errors="ignore"
        )
    # Columns plotted: all up to MAX_PLOTTED_COLUMNS, else the least accurate ones.
    if len(names) <= MAX_PLOTTED_COLUMNS:
        plotted = list(names)
    else:
        worst_idx = np.argsort(acc["univariate"], kind="stable")[:MAX_PLOTTED_COLUMNS]
        plotted = [names[i] for i in sorted(worst_idx)]
        fid.notes.append(
            f"Histograms and heatmaps show the {MAX_PLOTTED_COLUMNS} columns with the lowest "
            f"univariate accuracy out of {len(names)}."
        )
    hists = fidelity.column_histograms(schema, R, S, plotted)
    acc_by_name = dict(zip(names, acc["univariate"], strict=True))
    for item in hists:
        fid.figures.append(partial(_plots.column_figure, item, acc_by_name[item["name"]]))
    if len(plotted) >= 2:
        pos = {n: p for p, n in enumerate(names)}
        vr = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
        vs = vr.copy()
        for p, (i, j) in enumerate(pairs):
            vr.iat[i, j] = vr.iat[j, i] = acc["assoc_real"][p]
            vs.iat[i, j] = vs.iat[j, i] = acc["assoc_other"][p]
        sel = [pos[n] for n in plotted]
        report._plots["association_real"] = vr.iloc[sel, sel]
        report._plots["association_synthetic"] = vs.iloc[sel, sel]
        fid.figures.append(
            (
                "Cramér's V between binned columns",
                partial(_plots.association_figure, vr.iloc[sel, sel], vs.iloc[sel, sel]),
            )
        )
    fid.figures.append(("α-precision and β-recall curves", partial(_plots.alpha_beta_figure, ab)))
    report._plots["alpha_beta"] = ab

    # -- detection ----------------------------------------------------------------------------
    X_r, is_cat = schema.model_features(R)
    X_s, _ = schema.model_features(S)
    with _threads(n_threads):
        det = detection(X_r, X_s, is_cat, max_rows=detection_rows, random_state=int(seeds[6]))
    report.add_section(
        "detection",
        {"detection_auc": det["detection_auc"], "detection_score": det["detection_score"]},
        notes=[
            f"HistGradientBoostingClassifier, {det['n_per_side']:,} real and "
            f"{det['n_per_side']:,} synthetic rows, 3-fold cross-validation, out-of-fold ROC AUC."
        ],
    )

    # -- utility ------------------------------------------------------------------------------
    util_metrics: dict[str, float | None] = {"tstr_score": None, "trtr_score": None}
    util_notes = []
    if target is not None and H is not None:
        with _threads(n_threads):
            u = tstr(schema, target, R, S, H, random_state=int(seeds[7]))
        util_metrics = {"tstr_score": u["tstr_score"], "trtr_score": u["trtr_score"]}
        report.info["target_task"] = f"{u['utility_task']} ({u['utility_metric']})"
        util_notes.append(
            f"Target {target!r}: {u['utility_task']} task scored by {u['utility_metric']} on "
            f"the holdout; HistGradientBoosting with default settings."
        )
    elif target is not None:
        util_notes.append("TSTR needs a holdout as test set; none was given.")
    else:
        util_notes.append("No target column given: TSTR / TRTR not computed.")
    report.add_section(
        "utility", util_metrics, references={"tstr_score": "trtr_score"}, notes=util_notes
    )

    # -- privacy ------------------------------------------------------------------------------
    train_hashes = row_hashes(R)
    priv: dict[str, float | None] = {
        "dcr_share": None,
        "identical_match_share": privacy.identical_match_share(train_hashes, row_hashes(S)),
        "identical_match_share_holdout": None,
        "nndr": float(np.mean(privacy.nndr(syn_to_train))),
        "nndr_holdout": None,
        "membership_auc": None,
    }
    report.dcr = {"synthetic_to_train": syn_to_train[0][:, 0]}
    privacy_notes = [
        f"Distances between {len(i_s):,} synthetic and {len(i_t):,} training rows"
        + (f" and {len(i_h):,} holdout rows" if i_h is not None else "")
        + "; numbers as ranks in the real distribution, categories one-hot (a mismatch "
        "counts 1). Identical matches are counted over all rows."
    ]
    if H is not None:
        hold_to_train = knn(emb_t, emb_h, 2)
        d = privacy.dcr(
            emb_t,
            emb_h,
            emb_s,
            syn_to_train=syn_to_train,
            train_to_syn=train_to_syn,
            holdout_to_train=hold_to_train,
        )
        priv["dcr_share"] = d["dcr_share"]
        priv["membership_auc"] = d["membership_auc"]
        priv["identical_match_share_holdout"] = privacy.identical_match_share(
            train_hashes, row_hashes(H)
        )
        priv["nndr_holdout"] = float(np.mean(privacy.nndr(hold_to_train)))
        report.dcr = {
            "synthetic_to_train": d["synthetic_to_train"],
            "synthetic_to_holdout": d["synthetic_to_holdout"],
            "holdout_to_train": d["holdout_to_train"],
        }
    report.add_section(
        "privacy",
        priv,
        references={
            "identical_match_share": "identical_match_share_holdout",
            "nndr": "nndr_holdout",
        },
        notes=privacy_notes,
        figures=[("", partial(_plots.dcr_figure, report.dcr, priv["dcr_share"]))],
    )
    # -- sequences ----------------------------------------------------------------------------
    if entity_key is not None:
        from tabargn.evaluation.sequence import DESCRIPTIONS, sequence_metrics

        if entity_key not in inputs[1].columns:
            raise InvalidDataError(f"synthetic lacks the entity key {entity_key!r}")
        if order_by is not None and order_by not in columns:
            raise InvalidDataError(f"order_by {order_by!r} is not an evaluated column")
        seq_metrics, seq_tables, seq_figures = sequence_metrics(
            inputs[0],
            inputs[1],
            entity_key=entity_key,
            order_by=order_by,
            columns=columns,
            random_state=random_state,
        )
        report.add_section(
            "sequences",
            seq_metrics,
            seq_figures,
            descriptions=DESCRIPTIONS,
            tables=seq_tables,
            references={"mean_sequence_length_synthetic": "mean_sequence_length_real"},
        )
    # -- text ---------------------------------------------------------------------------------
    if text_columns:
        from tabargn.evaluation.text import add_text_sections

        add_text_sections(
            report,
            *inputs,
            list(text_columns),
            context_columns=columns,
            consistency_column=text_consistency_column,
            max_rows=min(max_rows, 5000),
            random_state=random_state,
        )
    report.seconds = time.perf_counter() - t0
    return report
