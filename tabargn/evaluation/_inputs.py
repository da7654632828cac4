"""The prepared inputs of :func:`tabargn.evaluation.evaluate`, shared by all its sections.

:func:`prepare_tables` subsamples and normalizes the evaluated columns once
(:class:`EvaluationTables`); :func:`sample_neighbors` draws the row samples of the
nearest-neighbour metrics and runs their k-NN searches once (:class:`NeighborSample`), for
alpha/beta (fidelity) and the privacy metrics alike. Every random draw uses its own seed from
:func:`draw_seeds`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabargn.evaluation import fidelity
from tabargn.evaluation._prep import Schema, knn, sample_index, subsample

SEED_NAMES = (
    "real_rows",
    "synthetic_rows",
    "holdout_rows",
    "train_neighbors",
    "holdout_neighbors",
    "synthetic_neighbors",
    "detection",
    "utility",
)
"""Uses of the seeds drawn from ``random_state``, in draw order (one independent seed each)."""

KnnResult = tuple[np.ndarray, np.ndarray]
"""``(distances, indices)`` of :func:`tabargn.evaluation._prep.knn`."""


@dataclass(frozen=True)
class EvaluationTables:
    """The evaluated columns of every input, subsampled and normalized.

    Attributes:
        schema: Column kinds and bins, fitted on ``real``.
        real: Real training rows used (evaluated columns only, at most ``max_rows``).
        synthetic: Synthetic rows used (same columns).
        holdout: Holdout rows used (same columns), or None without a holdout.
        real_values: Normalized columns of ``real`` (:attr:`Schema.real_values`): column name
            -> ``float64`` array (numeric, datetime) or ``object`` array of ``str``/``None``.
        synth_values: Normalized columns of ``synthetic``
            (:meth:`~tabargn.evaluation._prep.Schema.normalize_frame`).
        holdout_values: Normalized columns of ``holdout``, or None.
    """

    schema: Schema
    real: pd.DataFrame
    synthetic: pd.DataFrame
    holdout: pd.DataFrame | None
    real_values: dict[str, np.ndarray]
    synth_values: dict[str, np.ndarray]
    holdout_values: dict[str, np.ndarray] | None


@dataclass(frozen=True)
class NeighborSample:
    """Row samples and nearest neighbours shared by alpha/beta and the privacy metrics.

    Attributes:
        train_index: Sorted ``int`` positions of the sampled training rows.
        synth_index: Sorted ``int`` positions of the sampled synthetic rows.
        holdout_index: Sorted positions of the sampled holdout rows (as many as training
            rows), or None without a holdout.
        train_emb: ``float32 [n_train, d]`` distance embedding of the sampled training rows.
        synth_emb: ``float32 [n_synth, d]`` embedding of the sampled synthetic rows.
        holdout_emb: ``float32 [n_train, d]`` embedding of the sampled holdout rows, or None.
        synth_to_train: :data:`KnnResult` of the ``fidelity.K_NEIGHBORS`` nearest training
            rows of every synthetic row (``[n_synth, k]`` arrays).
        train_to_synth: The ``fidelity.K_NEIGHBORS`` nearest synthetic rows of every training
            row (``[n_train, k]`` arrays).
    """

    train_index: np.ndarray
    synth_index: np.ndarray
    holdout_index: np.ndarray | None
    train_emb: np.ndarray
    synth_emb: np.ndarray
    holdout_emb: np.ndarray | None
    synth_to_train: KnnResult
    train_to_synth: KnnResult


def draw_seeds(random_state: int) -> dict[str, np.int64]:
    """Seeds of every random draw of a run.

    Args:
        random_state: The user's seed.

    Returns:
        Name in :data:`SEED_NAMES` -> ``np.int64`` seed in ``[0, 2**31 - 1)``; the same
        ``random_state`` always gives the same seeds.
    """
    rng = np.random.default_rng(random_state)
    return dict(zip(SEED_NAMES, rng.integers(0, 2**31 - 1, size=len(SEED_NAMES)), strict=True))


def prepare_tables(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    columns: list[str],
    max_rows: int,
    seeds: dict[str, np.int64],
) -> EvaluationTables:
    """Subsamples the evaluated columns of every input and normalizes them.

    Args:
        real, synthetic, holdout: The checked input tables (holdout may be None).
        columns: The evaluated columns.
        max_rows: Most rows kept per table (random rows without replacement, in table order).
        seeds: Seeds by use; reads ``"real_rows"``, ``"synthetic_rows"``, ``"holdout_rows"``.

    Returns:
        The :class:`EvaluationTables`; the schema is fitted on the subsampled real rows.
    """
    real = subsample(real[columns], max_rows, np.random.default_rng(seeds["real_rows"]))
    synth_rng = np.random.default_rng(seeds["synthetic_rows"])
    synthetic = subsample(synthetic[columns], max_rows, synth_rng)
    if holdout is not None:
        holdout_rng = np.random.default_rng(seeds["holdout_rows"])
        holdout = subsample(holdout[columns], max_rows, holdout_rng)
    schema = Schema(real)
    return EvaluationTables(
        schema=schema,
        real=real,
        synthetic=synthetic,
        holdout=holdout,
        real_values=schema.real_values,
        synth_values=schema.normalize_frame(synthetic),
        holdout_values=schema.normalize_frame(holdout) if holdout is not None else None,
    )


def _take_rows(values: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """The rows ``index`` of every normalized column."""
    return {name: column[index] for name, column in values.items()}


def sample_neighbors(
    tables: EvaluationTables, neighbor_rows: int, seeds: dict[str, np.int64]
) -> NeighborSample:
    """Draws the row samples of the nearest-neighbour metrics and their k-NN searches.

    Args:
        tables: The prepared inputs.
        neighbor_rows: Most synthetic rows, and most training rows; with a holdout, training and
            holdout samples both have ``min(n_train, n_holdout, neighbor_rows)`` rows.
        seeds: Seeds by use; reads ``"train_neighbors"``, ``"holdout_neighbors"`` and
            ``"synthetic_neighbors"``.

    Returns:
        The :class:`NeighborSample`.
    """
    n_train = len(tables.real)
    n_train_sampled = neighbor_rows
    holdout_index = None
    if tables.holdout is not None:
        n_train_sampled = min(n_train, len(tables.holdout), neighbor_rows)
        holdout_rng = np.random.default_rng(seeds["holdout_neighbors"])
        holdout_index = sample_index(len(tables.holdout), n_train_sampled, holdout_rng)
    train_rng = np.random.default_rng(seeds["train_neighbors"])
    train_index = sample_index(n_train, n_train_sampled, train_rng)
    synth_rng = np.random.default_rng(seeds["synthetic_neighbors"])
    synth_index = sample_index(len(tables.synthetic), neighbor_rows, synth_rng)
    schema = tables.schema
    train_emb = schema.embed(_take_rows(tables.real_values, train_index))
    synth_emb = schema.embed(_take_rows(tables.synth_values, synth_index))
    holdout_emb = None
    if tables.holdout_values is not None:
        holdout_emb = schema.embed(_take_rows(tables.holdout_values, holdout_index))
    return NeighborSample(
        train_index=train_index,
        synth_index=synth_index,
        holdout_index=holdout_index,
        train_emb=train_emb,
        synth_emb=synth_emb,
        holdout_emb=holdout_emb,
        synth_to_train=knn(train_emb, synth_emb, fidelity.K_NEIGHBORS),
        train_to_synth=knn(synth_emb, train_emb, fidelity.K_NEIGHBORS),
    )
