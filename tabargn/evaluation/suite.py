"""``evaluate``: the whole tabular evaluation suite in one call.

:func:`evaluate` checks the inputs (:func:`_check_frames`, :func:`_check_int`,
:func:`_evaluated_columns`), prepares them once (:mod:`tabargn.evaluation._inputs`:
subsamples, normalized values, nearest-neighbour samples), then adds one report section per
metric group with the builders of
:mod:`tabargn.evaluation._sections` (fidelity and its plots, detection, utility, privacy,
sequences) and :func:`tabargn.evaluation.text.add_text_sections` (text).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError
from tabargn.evaluation import _sections
from tabargn.evaluation._inputs import (
    EvaluationTables,
    draw_seeds,
    prepare_tables,
    sample_neighbors,
)
from tabargn.evaluation._prep import check_frame
from tabargn.evaluation.report import Report
from tabargn.evaluation.rules import add_constraints_section
from tabargn.evaluation.text import add_text_sections

DEFAULT_MAX_ROWS = 50_000
DEFAULT_NEIGHBOR_ROWS = 10_000
DEFAULT_DETECTION_ROWS = 20_000
TEXT_MAX_ROWS = 5000
"""Most non-missing texts per side in the text metrics (below ``max_rows`` when it is lower)."""


def _check_int(name: str, value: object, minimum: int) -> int:
    """An integer argument as ``int``.

    Args:
        name: Argument name, for the message.
        value: The value given (``int`` or NumPy integer; ``bool`` is refused).
        minimum: Smallest allowed value.

    Returns:
        ``int(value)``.

    Raises:
        InvalidDataError: If ``value`` is not an integer or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidDataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_frames(
    real: object, synthetic: object, holdout: object | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Checks the three input tables (:func:`~tabargn.evaluation._prep.check_frame`).

    Returns:
        ``(real, synthetic, holdout)`` with fresh ``RangeIndex`` (holdout None if not given).

    Raises:
        InvalidDataError: If a given input is not a DataFrame, has no rows or no columns, or
            has duplicate column names.
    """
    real = check_frame(real, "real")
    synthetic = check_frame(synthetic, "synthetic")
    if holdout is not None:
        holdout = check_frame(holdout, "holdout")
    return real, synthetic, holdout


def _evaluated_columns(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    *,
    entity_key: str | None,
    text_columns: list[str],
    target: str | None,
) -> tuple[list[str], list[str]]:
    """Splits the real columns into the excluded (key, text) and the evaluated ones.

    Args:
        real, synthetic, holdout: The checked input tables (holdout may be None).
        entity_key: Entity key column or None.
        text_columns: Free-text columns (possibly empty).
        target: Utility target column or None.

    Returns:
        ``(excluded, columns)``: the entity key and the text columns, then the other columns
        of ``real`` in table order.

    Raises:
        InvalidDataError: If an excluded column is not in ``real``; if ``synthetic`` or
            ``holdout`` lacks a column of ``real``; if no column is left; if ``target`` is
            not an evaluated column.
    """
    excluded = ([entity_key] if entity_key is not None else []) + text_columns
    unknown = [c for c in excluded if c not in real.columns]
    if unknown:
        raise InvalidDataError(f"entity_key / text_columns not in the real data: {unknown}")
    for role, table in (("synthetic", synthetic), ("holdout", holdout)):
        if table is None:
            continue
        missing = [c for c in real.columns if c not in table.columns]
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
    return excluded, columns


def _attack_columns(
    columns: list[str], sensitive: str | None, quasi_identifiers: Sequence[str] | None
) -> tuple[str | None, list[str]]:
    """Checks the attribute-inference columns; QIs default to every other evaluated column.

    Raises:
        InvalidDataError: A column that is not evaluated, or the sensitive column among the QIs.
    """
    if sensitive is None:
        return None, []
    if sensitive not in columns:
        raise InvalidDataError(f"sensitive_column {sensitive!r} is not an evaluated column")
    qis = (
        [c for c in columns if c != sensitive]
        if quasi_identifiers is None
        else list(quasi_identifiers)
    )
    bad = [c for c in qis if c not in columns or c == sensitive]
    if bad or not qis:
        raise InvalidDataError(
            f"quasi_identifiers must be evaluated columns other than the sensitive one: {bad}"
        )
    return sensitive, qis


def _run_info(
    tables: EvaluationTables, excluded: list[str], target: str | None, random_state: int
) -> dict:
    """The :attr:`Report.info` of a run: rows used per input, columns, target, seed."""
    return {
        "real_rows": len(tables.real),
        "synthetic_rows": len(tables.synthetic),
        "holdout_rows": len(tables.holdout) if tables.holdout is not None else 0,
        "columns": len(tables.schema.columns),
        "excluded_columns": excluded,
        "target": target if target is not None else "—",
        "random_state": random_state,
    }


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
    constraints=None,
    fairness: dict | None = None,
    attacks: bool = True,
    sensitive_column: str | None = None,
    quasi_identifiers: Sequence[str] | None = None,
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
    * attacks (:mod:`~tabargn.evaluation.attacks`, unless ``attacks=False``): ``domias_auc``
      (density-ratio membership inference, needs a holdout); with ``sensitive_column``
      ``attribute_inference_accuracy`` (on training rows), ``..._accuracy_holdout``, ``..._gap``
      and ``..._baseline``.
    * text (:mod:`~tabargn.evaluation.text`, one section per ``text_columns`` entry; keys
      ``text_<column>_<metric>``): ``distinct_1``, ``distinct_2`` (and ``..._real``),
      ``length_accuracy``, ``mean_length_real`` / ``_synthetic``, ``novelty``,
      ``ngram_overlap_3``, ``missing_rate_real`` / ``_synthetic``, ``consistency``,
      ``consistency_real``, ``consistency_baseline`` (None without
      ``text_consistency_column``), ``embedding_*`` with an installed embedding model, and
      with a holdout ``length_accuracy_holdout``, ``novelty_holdout``,
      ``ngram_overlap_3_holdout`` (holdout texts against the training texts).
    * constraints (:mod:`~tabargn.evaluation.rules`, needs ``constraints`` or ``fairness``):
      ``constraint_violation_share`` (and ``..._real``), ``parity_gap_<column>`` per
      sensitive column (and ``..._real``).
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
        attacks: Run the attack section (default True; DOMIAS runs only with a holdout).
        sensitive_column: Column the attribute-inference attack guesses; there is no default
            (what is sensitive is the data owner's call), and without it the attack is skipped.
        quasi_identifiers: Columns the attacker knows (default: every other evaluated column).
        n_threads: OpenMP threads of the gradient-boosting models (detection, utility);
            ``None`` leaves scikit-learn's default (all cores). The default of 1 is deliberate:
            ``HistGradientBoosting*`` runs many short parallel regions, and on a machine whose
            cores are busy with other work two threads were measured up to 10x slower than one
            (nearest-neighbour searches are not affected and always use all cores).
        constraints: Optional rules (:mod:`tabargn.constraints`, e.g. a model's
            ``constraints_``) counted on every synthetic and real row.
        fairness: Optional ``{"target": column, "sensitive": [columns]}``: parity gaps.

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
    start = time.perf_counter()
    real, synthetic, holdout = _check_frames(real, synthetic, holdout)
    max_rows = _check_int("max_rows", max_rows, 2)
    neighbor_rows = _check_int("neighbor_rows", neighbor_rows, 2)
    detection_rows = _check_int("detection_rows", detection_rows, 2)
    if n_threads is not None:
        n_threads = _check_int("n_threads", n_threads, 1)
    if isinstance(text_columns, str):
        text_columns = [text_columns]
    text_columns = list(text_columns or [])
    excluded, columns = _evaluated_columns(
        real, synthetic, holdout, entity_key=entity_key, text_columns=text_columns, target=target
    )
    seeds = draw_seeds(random_state)
    tables = prepare_tables(real, synthetic, holdout, columns, max_rows, seeds)

    report = Report()
    report.info = _run_info(tables, excluded, target, random_state)
    neighbors = sample_neighbors(tables, neighbor_rows, seeds)
    fidelity_result = _sections.fidelity_metrics(tables, neighbors)
    report.columns = _sections.column_details(tables, fidelity_result)
    report.pairs = _sections.pair_details(tables.schema, fidelity_result)
    fidelity_section = _sections.add_fidelity_section(report, fidelity_result)
    _sections.add_fidelity_plots(report, fidelity_section, tables, fidelity_result)
    _sections.add_detection_section(
        report,
        tables,
        detection_rows=detection_rows,
        n_threads=n_threads,
        random_state=int(seeds["detection"]),
    )
    _sections.add_utility_section(
        report, tables, target, n_threads=n_threads, random_state=int(seeds["utility"])
    )
    _sections.add_privacy_section(report, tables, neighbors)
    if attacks:
        sensitive, qis = _attack_columns(columns, sensitive_column, quasi_identifiers)
        _sections.add_attack_section(
            report,
            tables,
            neighbors,
            sensitive_column=sensitive,
            quasi_identifiers=qis,
            random_state=int(seeds["detection"]) + 1,
        )
    if entity_key is not None:
        # sequences and texts are scored on the full checked tables, not the subsamples
        _sections.add_sequence_section(
            report,
            real,
            synthetic,
            entity_key=entity_key,
            order_by=order_by,
            columns=columns,
            random_state=random_state,
        )
    if text_columns:
        add_text_sections(
            report,
            real,
            synthetic,
            holdout,
            text_columns,
            context_columns=columns,
            consistency_column=text_consistency_column,
            max_rows=min(max_rows, TEXT_MAX_ROWS),
            random_state=random_state,
        )
    add_constraints_section(report, real, synthetic, constraints=constraints, fairness=fairness)
    report.seconds = time.perf_counter() - start
    return report
