"""Report sections of :func:`tabargn.evaluation.evaluate`: metrics in, :class:`Section` out.

:mod:`tabargn.evaluation.suite` checks the inputs and prepares them once
(:mod:`tabargn.evaluation._inputs`); each ``add_*_section`` function here runs one metric
group on them (through :mod:`~tabargn.evaluation.fidelity`,
:mod:`~tabargn.evaluation.detection`, :mod:`~tabargn.evaluation.utility`,
:mod:`~tabargn.evaluation.privacy`, :mod:`~tabargn.evaluation.sequence`) and adds the section,
with its tables, notes and figures, to the :class:`~tabargn.evaluation.report.Report`. The
text sections are added by :func:`tabargn.evaluation.text.add_text_sections`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tabargn.errors import InvalidDataError
from tabargn.evaluation import _plots, attacks, fidelity, privacy
from tabargn.evaluation._inputs import EvaluationTables, NeighborSample
from tabargn.evaluation._prep import Schema, knn, row_hashes
from tabargn.evaluation.detection import detection
from tabargn.evaluation.report import MAX_PLOTTED_COLUMNS, Report, Section
from tabargn.evaluation.sequence import DESCRIPTIONS as SEQUENCE_DESCRIPTIONS
from tabargn.evaluation.sequence import sequence_metrics
from tabargn.evaluation.utility import tstr

WORST_PAIRS_SHOWN = 15
"""Rows of the table of column pairs with the lowest bivariate accuracy."""


@dataclass(frozen=True)
class FidelityResult:
    """Outputs of the fidelity metrics (inputs of the fidelity section, tables and plots).

    Attributes:
        synthetic: :func:`~tabargn.evaluation.fidelity.accuracy` of the synthetic data
            against the training data, with association (``"univariate"``, ``"pairs"``,
            ``"bivariate"``, ``"assoc_real"``, ``"assoc_other"``).
        holdout: The same for the holdout against the training data, or None.
        shape_trend: :func:`~tabargn.evaluation.fidelity.shape_trend` of the synthetic data.
        alpha_beta: :func:`~tabargn.evaluation.fidelity.alpha_beta` (scores and curves).
    """

    synthetic: dict
    holdout: dict | None
    shape_trend: dict
    alpha_beta: dict

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Column index pairs ``(i, j)``, ``i < j``, in the order of the pair arrays."""
        return self.synthetic["pairs"]


def _nan_mean(values: np.ndarray) -> float:
    """Mean of the finite values (as ``float64``); NaN when there is none."""
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _association_gap(accuracy: dict) -> float:
    """Mean ``|V_real - V_other|`` over column pairs of an ``accuracy`` result (NaN: no pair)."""
    if not accuracy["pairs"]:
        return float("nan")
    return _nan_mean(np.abs(accuracy["assoc_real"] - accuracy["assoc_other"]))


def _openmp_threads(n_threads: int | None) -> contextlib.AbstractContextManager:
    """Context limiting OpenMP threads to ``n_threads`` (no limit when None)."""
    if n_threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n_threads, user_api="openmp")


# -- fidelity -------------------------------------------------------------------------------
def fidelity_metrics(tables: EvaluationTables, neighbors: NeighborSample) -> FidelityResult:
    """Runs the fidelity metrics: binned accuracies, shape/trend scores, alpha/beta.

    Args:
        tables: The prepared inputs.
        neighbors: The nearest-neighbour samples (for alpha-precision and beta-recall).

    Returns:
        The :class:`FidelityResult`.
    """
    schema = tables.schema
    n_bins = np.array([c.n_bins for c in schema.columns])
    real_codes = schema.bin_codes(tables.real_values)
    synth_accuracy = fidelity.accuracy(
        real_codes, schema.bin_codes(tables.synth_values), n_bins, with_association=True
    )
    holdout_accuracy = None
    if tables.holdout_values is not None:
        holdout_accuracy = fidelity.accuracy(
            real_codes, schema.bin_codes(tables.holdout_values), n_bins, with_association=True
        )
    shape_trend = fidelity.shape_trend(schema, tables.real_values, tables.synth_values)
    alpha_beta = fidelity.alpha_beta(
        neighbors.train_emb,
        neighbors.synth_emb,
        real_to_syn=neighbors.train_to_synth,
        syn_to_real=neighbors.synth_to_train,
    )
    return FidelityResult(synth_accuracy, holdout_accuracy, shape_trend, alpha_beta)


def column_details(tables: EvaluationTables, result: FidelityResult) -> pd.DataFrame:
    """Per-column table (:attr:`Report.columns`): one row per evaluated column.

    Args:
        tables: The prepared inputs (for the missing-value shares).
        result: The fidelity metrics.

    Returns:
        Columns ``column``, ``kind``, ``univariate_accuracy``, ``univariate_accuracy_max``
        (NaN without holdout), ``shape_metric``, ``shape_score``, ``missing_real``,
        ``missing_synthetic``.
    """
    schema = tables.schema
    names = schema.names
    holdout = result.holdout
    return pd.DataFrame(
        {
            "column": names,
            "kind": [column.kind for column in schema.columns],
            "univariate_accuracy": result.synthetic["univariate"],
            "univariate_accuracy_max": holdout["univariate"] if holdout is not None else np.nan,
            "shape_metric": result.shape_trend["shape_metric"],
            "shape_score": result.shape_trend["shape"],
            "missing_real": [float(pd.isna(tables.real_values[n]).mean()) for n in names],
            "missing_synthetic": [float(pd.isna(tables.synth_values[n]).mean()) for n in names],
        }
    )


def pair_details(schema: Schema, result: FidelityResult) -> pd.DataFrame:
    """Per-pair table (:attr:`Report.pairs`): one row per pair of evaluated columns.

    Args:
        schema: The fitted schema (for the column names).
        result: The fidelity metrics.

    Returns:
        Columns ``column_1``, ``column_2``, ``bivariate_accuracy``, ``bivariate_accuracy_max``
        (NaN without holdout), ``trend_metric``, ``trend_score``, ``association_real``,
        ``association_synthetic``.
    """
    names = schema.names
    holdout = result.holdout
    return pd.DataFrame(
        {
            "column_1": [names[i] for i, _ in result.pairs],
            "column_2": [names[j] for _, j in result.pairs],
            "bivariate_accuracy": result.synthetic["bivariate"],
            "bivariate_accuracy_max": holdout["bivariate"] if holdout is not None else np.nan,
            "trend_metric": result.shape_trend["trend_metric"],
            "trend_score": result.shape_trend["trend"],
            "association_real": result.synthetic["assoc_real"],
            "association_synthetic": result.synthetic["assoc_other"],
        }
    )


def add_fidelity_section(report: Report, result: FidelityResult) -> Section:
    """Adds the ``fidelity`` section: metrics and the per-column / worst-pair tables.

    Args:
        report: The report being built; its ``columns`` and ``pairs`` must be set already.
        result: The fidelity metrics.

    Returns:
        The new section (the plots are added by :func:`add_fidelity_plots`).
    """
    accuracy, holdout = result.synthetic, result.holdout
    has_pairs = bool(result.pairs)
    no_pair = float("nan")
    section = report.add_section(
        "fidelity",
        {
            "univariate_accuracy": _nan_mean(accuracy["univariate"]),
            "univariate_accuracy_max": _nan_mean(holdout["univariate"])
            if holdout is not None
            else None,
            "bivariate_accuracy": _nan_mean(accuracy["bivariate"]) if has_pairs else no_pair,
            "bivariate_accuracy_max": (
                (_nan_mean(holdout["bivariate"]) if has_pairs else no_pair)
                if holdout is not None
                else None
            ),
            "association_gap": _association_gap(accuracy),
            "association_gap_holdout": _association_gap(holdout) if holdout is not None else None,
            "shape_score": _nan_mean(result.shape_trend["shape"]),
            "trend_score": _nan_mean(result.shape_trend["trend"]) if has_pairs else no_pair,
            "alpha_precision": result.alpha_beta["alpha_precision"],
            "beta_recall": result.alpha_beta["beta_recall"],
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
    hidden = [] if holdout is not None else ["univariate_accuracy_max", "bivariate_accuracy_max"]
    section.tables["Per-column details"] = report.columns.drop(columns=hidden, errors="ignore")
    if has_pairs:
        worst = report.pairs.sort_values("bivariate_accuracy", kind="stable")
        section.tables["Column pairs with the lowest bivariate accuracy"] = worst.head(
            WORST_PAIRS_SHOWN
        ).drop(columns=hidden, errors="ignore")
    return section


def _plotted_columns(names: list[str], univariate: np.ndarray) -> list[str]:
    """All columns up to ``MAX_PLOTTED_COLUMNS``, else the least accurate ones in table order."""
    if len(names) <= MAX_PLOTTED_COLUMNS:
        return list(names)
    worst = np.argsort(univariate, kind="stable")[:MAX_PLOTTED_COLUMNS]
    return [names[i] for i in sorted(worst)]


def _association_matrices(
    names: list[str], plotted: list[str], result: FidelityResult
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cramér's V matrices of the real and the synthetic data, restricted to ``plotted``.

    Args:
        names: All evaluated columns, in the order of the pair indices.
        plotted: The columns shown (a subset of ``names``, in table order).
        result: The fidelity metrics (``assoc_real`` / ``assoc_other`` of every pair).

    Returns:
        ``(real, synthetic)``: symmetric ``float64`` DataFrames ``[len(plotted)] * 2`` indexed
        by column name both ways, with ones on the diagonal.
    """
    real_matrix = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    synth_matrix = real_matrix.copy()
    for pair, (i, j) in enumerate(result.pairs):
        real_matrix.iat[i, j] = real_matrix.iat[j, i] = result.synthetic["assoc_real"][pair]
        synth_matrix.iat[i, j] = synth_matrix.iat[j, i] = result.synthetic["assoc_other"][pair]
    position = {name: p for p, name in enumerate(names)}
    shown = [position[name] for name in plotted]
    return real_matrix.iloc[shown, shown], synth_matrix.iloc[shown, shown]


def add_fidelity_plots(
    report: Report, section: Section, tables: EvaluationTables, result: FidelityResult
) -> None:
    """Adds the fidelity figures: column histograms, association heatmaps, alpha/beta curves.

    Figures are added to ``section`` as callables (drawn when the HTML is written); with more
    than ``MAX_PLOTTED_COLUMNS`` columns only the least accurate ones are plotted, and a note
    says so. The plotted association matrices and the alpha/beta curves are kept with
    :meth:`Report.add_plot_data`.

    Args:
        report: The report being built.
        section: Its ``fidelity`` section.
        tables: The prepared inputs.
        result: The fidelity metrics.
    """
    names = tables.schema.names
    univariate = result.synthetic["univariate"]
    plotted = _plotted_columns(names, univariate)
    if len(plotted) < len(names):
        section.notes.append(
            f"Histograms and heatmaps show the {MAX_PLOTTED_COLUMNS} columns with the lowest "
            f"univariate accuracy out of {len(names)}."
        )
    histograms = fidelity.column_histograms(
        tables.schema, tables.real_values, tables.synth_values, plotted
    )
    accuracy_by_name = dict(zip(names, univariate, strict=True))
    for histogram in histograms:
        accuracy = accuracy_by_name[histogram["name"]]
        section.figures.append(partial(_plots.column_figure, histogram, accuracy))
    if len(plotted) >= 2:
        real_matrix, synth_matrix = _association_matrices(names, plotted, result)
        report.add_plot_data("association_real", real_matrix)
        report.add_plot_data("association_synthetic", synth_matrix)
        section.figures.append(
            (
                "Cramér's V between binned columns",
                partial(_plots.association_figure, real_matrix, synth_matrix),
            )
        )
    section.figures.append(
        ("α-precision and β-recall curves", partial(_plots.alpha_beta_figure, result.alpha_beta))
    )
    report.add_plot_data("alpha_beta", result.alpha_beta)


# -- detection, utility ---------------------------------------------------------------------
def add_detection_section(
    report: Report,
    tables: EvaluationTables,
    *,
    detection_rows: int,
    n_threads: int | None,
    random_state: int,
) -> None:
    """Adds the ``detection`` section (classifier telling real from synthetic rows).

    Args:
        report: The report being built.
        tables: The prepared inputs.
        detection_rows: Most rows per side.
        n_threads: OpenMP threads of the classifier (None: no limit).
        random_state: Seed of the sample, folds and classifier.
    """
    real_features, is_categorical = tables.schema.model_features(tables.real_values)
    synth_features, _ = tables.schema.model_features(tables.synth_values)
    with _openmp_threads(n_threads):
        result = detection(
            real_features,
            synth_features,
            is_categorical,
            max_rows=detection_rows,
            random_state=random_state,
        )
    n_per_side = result["n_per_side"]
    report.add_section(
        "detection",
        {"detection_auc": result["detection_auc"], "detection_score": result["detection_score"]},
        notes=[
            f"HistGradientBoostingClassifier, {n_per_side:,} real and "
            f"{n_per_side:,} synthetic rows, 3-fold cross-validation, out-of-fold ROC AUC."
        ],
    )


def add_utility_section(
    report: Report,
    tables: EvaluationTables,
    target: str | None,
    *,
    n_threads: int | None,
    random_state: int,
) -> None:
    """Adds the ``utility`` section: TSTR and TRTR scores on the holdout.

    Both metrics are None without a target or without a holdout (a note says which). With
    both, also sets ``report.info["target_task"]``.

    Args:
        report: The report being built.
        tables: The prepared inputs.
        target: The column to predict, or None.
        n_threads: OpenMP threads of the models (None: no limit).
        random_state: Seed of the models.
    """
    metrics: dict[str, float | None] = {"tstr_score": None, "trtr_score": None}
    if target is not None and tables.holdout_values is not None:
        with _openmp_threads(n_threads):
            scores = tstr(
                tables.schema,
                target,
                tables.real_values,
                tables.synth_values,
                tables.holdout_values,
                random_state=random_state,
            )
        metrics = {"tstr_score": scores["tstr_score"], "trtr_score": scores["trtr_score"]}
        task, metric = scores["utility_task"], scores["utility_metric"]
        report.info["target_task"] = f"{task} ({metric})"
        note = (
            f"Target {target!r}: {task} task scored by {metric} on the holdout; "
            "HistGradientBoosting with default settings."
        )
    elif target is not None:
        note = "TSTR needs a holdout as test set; none was given."
    else:
        note = "No target column given: TSTR / TRTR not computed."
    report.add_section("utility", metrics, references={"tstr_score": "trtr_score"}, notes=[note])


# -- privacy --------------------------------------------------------------------------------
def add_privacy_section(
    report: Report, tables: EvaluationTables, neighbors: NeighborSample
) -> None:
    """Adds the ``privacy`` section and sets ``report.dcr``.

    Identical matches are counted over all rows; NNDR, DCR share and membership AUC use the
    nearest-neighbour samples. Without a holdout, the metrics that need one are None.

    Args:
        report: The report being built.
        tables: The prepared inputs.
        neighbors: The nearest-neighbour samples.
    """
    train_hashes = row_hashes(tables.real_values)
    synth_hashes = row_hashes(tables.synth_values)
    metrics: dict[str, float | None] = {
        "dcr_share": None,
        "identical_match_share": privacy.identical_match_share(train_hashes, synth_hashes),
        "identical_match_share_holdout": None,
        "nndr": float(np.mean(privacy.nndr(neighbors.synth_to_train))),
        "nndr_holdout": None,
        "membership_auc": None,
    }
    report.dcr = {"synthetic_to_train": neighbors.synth_to_train[0][:, 0]}
    holdout_rows = ""
    if neighbors.holdout_index is not None:
        holdout_rows = f" and {len(neighbors.holdout_index):,} holdout rows"
    notes = [
        f"Distances between {len(neighbors.synth_index):,} synthetic and "
        f"{len(neighbors.train_index):,} training rows{holdout_rows}; numbers as ranks in the "
        "real distribution, categories one-hot (a mismatch counts 1). Identical matches are "
        "counted over all rows."
    ]
    if tables.holdout_values is not None:
        holdout_to_train = knn(neighbors.train_emb, neighbors.holdout_emb, 2)
        distances = privacy.dcr(
            neighbors.train_emb,
            neighbors.holdout_emb,
            neighbors.synth_emb,
            syn_to_train=neighbors.synth_to_train,
            train_to_syn=neighbors.train_to_synth,
            holdout_to_train=holdout_to_train,
        )
        metrics["dcr_share"] = distances["dcr_share"]
        metrics["membership_auc"] = distances["membership_auc"]
        metrics["identical_match_share_holdout"] = privacy.identical_match_share(
            train_hashes, row_hashes(tables.holdout_values)
        )
        metrics["nndr_holdout"] = float(np.mean(privacy.nndr(holdout_to_train)))
        report.dcr = {
            key: distances[key]
            for key in ("synthetic_to_train", "synthetic_to_holdout", "holdout_to_train")
        }
    report.add_section(
        "privacy",
        metrics,
        references={
            "identical_match_share": "identical_match_share_holdout",
            "nndr": "nndr_holdout",
        },
        notes=notes,
        figures=[("", partial(_plots.dcr_figure, report.dcr, metrics["dcr_share"]))],
    )


# -- attacks --------------------------------------------------------------------------------
ATTACK_ROWS = 2000
"""Most rows per side in the attacks (kernel densities and 1-NN are quadratic)."""


def add_attack_section(
    report: Report,
    tables: EvaluationTables,
    neighbors: NeighborSample,
    *,
    sensitive_column: str | None,
    quasi_identifiers: list[str],
    random_state: int,
) -> None:
    """Adds the ``attacks`` section: DOMIAS membership AUC and attribute inference.

    ``domias_auc`` needs a holdout (at least 4 rows); the attribute-inference keys need
    ``sensitive_column`` (None otherwise; see :mod:`tabargn.evaluation.attacks`).
    """
    rng = np.random.default_rng(random_state)
    metrics: dict[str, float | None] = {
        "domias_auc": None,
        "attribute_inference_accuracy": None,
        "attribute_inference_accuracy_holdout": None,
        "attribute_inference_gap": None,
        "attribute_inference_baseline": None,
    }
    notes = []
    if neighbors.holdout_emb is not None and len(neighbors.holdout_emb) >= 4:

        def cap(emb: np.ndarray, n: int) -> np.ndarray:
            return emb if len(emb) <= n else emb[rng.choice(len(emb), size=n, replace=False)]

        result = attacks.domias(
            cap(neighbors.train_emb, ATTACK_ROWS),
            cap(neighbors.holdout_emb, 2 * ATTACK_ROWS),
            cap(neighbors.synth_emb, 2 * ATTACK_ROWS),
            rng,
        )
        metrics["domias_auc"] = result["domias_auc"]
        notes.append(
            "DOMIAS: training rows (members) against holdout rows (non-members), scored by "
            "p_synth(x) / p_ref(x), Gaussian kernel densities (synthetic bandwidth "
            f"{result['domias_bandwidth']:.3g}) with half the holdout as the reference."
        )
    if sensitive_column is not None:
        metrics.update(
            attacks.attribute_inference(
                tables.real,
                tables.synthetic,
                tables.holdout,
                sensitive=sensitive_column,
                quasi_identifiers=quasi_identifiers,
                max_rows=ATTACK_ROWS,
                rng=rng,
            )
        )
        notes.append(
            f"Attribute inference: {sensitive_column!r} guessed from "
            f"{len(quasi_identifiers)} quasi-identifier column(s) by a 1-nearest-neighbour "
            "classifier trained on the synthetic rows."
        )
    report.add_section(
        "attacks",
        metrics,
        descriptions={
            "domias_auc": "density-ratio membership inference AUC (0.5: no leak)",
            "attribute_inference_accuracy": "sensitive column guessed right, training rows",
            "attribute_inference_accuracy_holdout": "the same on holdout rows",
            "attribute_inference_gap": "training minus holdout accuracy (0: no leak)",
            "attribute_inference_baseline": "share of the most frequent real value",
        },
        references={"attribute_inference_accuracy": "attribute_inference_accuracy_holdout"},
        notes=notes,
    )


# -- sequences ------------------------------------------------------------------------------
def add_sequence_section(
    report: Report,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    entity_key: str,
    order_by: str | None,
    columns: list[str],
    random_state: int,
) -> None:
    """Adds the ``sequences`` section (:func:`tabargn.evaluation.sequence.sequence_metrics`).

    Args:
        report: The report being built.
        real: The full checked real table (not subsampled), with the entity key.
        synthetic: The full checked synthetic table.
        entity_key: The entity column.
        order_by: The order column within an entity, or None (row order).
        columns: The evaluated columns (compared event by event).
        random_state: Seed of the entity subsets.

    Raises:
        InvalidDataError: If ``synthetic`` lacks ``entity_key`` or ``order_by`` is not an
            evaluated column.
    """
    if entity_key not in synthetic.columns:
        raise InvalidDataError(f"synthetic lacks the entity key {entity_key!r}")
    if order_by is not None and order_by not in columns:
        raise InvalidDataError(f"order_by {order_by!r} is not an evaluated column")
    metrics, section_tables, figures = sequence_metrics(
        real,
        synthetic,
        entity_key=entity_key,
        order_by=order_by,
        columns=columns,
        random_state=random_state,
    )
    report.add_section(
        "sequences",
        metrics,
        figures,
        descriptions=SEQUENCE_DESCRIPTIONS,
        tables=section_tables,
        references={"mean_sequence_length_synthetic": "mean_sequence_length_real"},
    )
