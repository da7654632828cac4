"""Sequence metrics: lengths, coherence of consecutive events, per-entity aggregates.

All metrics are accuracies ``1 - total variation distance`` between real and synthetic binned
distributions (1.0 = identical), with bins fitted on the real data as in the flat fidelity
metrics (deciles for numbers and datetimes, top categories plus "other" and "missing"; see
:class:`tabargn.evaluation._prep.Schema`). They follow the sequential part of DESIGN.md section 4
and the coherence metrics of mostlyai-qa (consecutive-event pairs per column):

* ``sequence_length_accuracy``: events per entity.
* ``coherence_pair_accuracy``: per column, the joint distribution of the binned values of
  consecutive events ``(x_t, x_{t+1})`` of the same entity; averaged over columns.
* ``coherence_diff_accuracy``: per numeric/datetime column, the distribution of step-to-step
  differences ``x_{t+1} - x_t`` (for the order column: the time gaps); averaged.
* ``entity_aggregate_accuracy``: per-entity aggregates: the event count, the mean of each
  numeric/datetime column and the number of distinct values of each categorical column;
  averaged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tabargn.evaluation._prep import Schema

__all__ = ["sequence_metrics", "DESCRIPTIONS"]

DESCRIPTIONS = {
    "sequence_length_accuracy": "1 - TVD of the number of events per entity (decile bins).",
    "coherence_pair_accuracy": "1 - TVD of the binned (event t, event t+1) pairs, per column.",
    "coherence_diff_accuracy": "1 - TVD of step-to-step differences of numeric/datetime columns.",
    "entity_aggregate_accuracy": "1 - TVD of per-entity count, means and distinct counts.",
    "mean_sequence_length_real": "Mean events per entity, real.",
    "mean_sequence_length_synthetic": "Mean events per entity, synthetic.",
}


def _tvd_accuracy(a: np.ndarray, b: np.ndarray, size: int) -> float:
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    pa = np.bincount(a, minlength=size) / len(a)
    pb = np.bincount(b, minlength=size) / len(b)
    return float(1 - 0.5 * np.abs(pa - pb).sum())


def _binned_accuracy(real: pd.Series, syn: pd.Series) -> float:
    """1 - TVD of two 1-D samples with bins fitted on ``real``."""
    schema = Schema(pd.DataFrame({"v": real.reset_index(drop=True)}))
    col = schema.columns[0]
    a = schema.bin_codes(schema.normalize_frame(pd.DataFrame({"v": real}).reset_index(drop=True)))
    b = schema.bin_codes(schema.normalize_frame(pd.DataFrame({"v": syn}).reset_index(drop=True)))
    return _tvd_accuracy(a[:, 0], b[:, 0], col.n_bins)


def _sorted(df: pd.DataFrame, entity_key: str, order_by: str | None) -> pd.DataFrame:
    by = [entity_key] + ([order_by] if order_by else [])
    return df.sort_values(by, kind="stable").reset_index(drop=True)


def _pairs(df: pd.DataFrame, entity_key: str) -> tuple[np.ndarray, np.ndarray]:
    key = df[entity_key].to_numpy()
    same = np.flatnonzero(key[1:] == key[:-1])
    return same, same + 1


def _entities(df: pd.DataFrame, entity_key: str, n: int, rng: np.random.Generator):
    keys = pd.unique(df[entity_key])
    if len(keys) > n:
        keep = rng.choice(len(keys), size=n, replace=False)
        df = df[df[entity_key].isin(keys[keep])]
    return df


def sequence_metrics(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    entity_key: str,
    order_by: str | None = None,
    columns: list[str] | None = None,
    max_entities: int = 5000,
    random_state: int = 0,
) -> tuple[dict[str, float], dict[str, pd.DataFrame], list]:
    """Computes the sequence metrics.

    Args:
        real, synthetic: Events with an entity key column (and the order column).
        entity_key: Entity column.
        order_by: Optional order column; events are sorted stably by entity and order (else the
            row order within each entity is the event order).
        columns: Event columns to compare (default: all but the entity key).
        max_entities: Entities per table used (random subset beyond it).
        random_state: Seed of the subsets.

    Returns:
        ``(metrics, tables, figures)``: the metrics above plus mean sequence lengths; a
        per-column table; figures for the HTML report.
    """
    rng = np.random.default_rng(random_state)
    real = _sorted(_entities(real, entity_key, max_entities, rng), entity_key, order_by)
    synthetic = _sorted(_entities(synthetic, entity_key, max_entities, rng), entity_key, order_by)
    if columns is None:
        columns = [c for c in real.columns if c != entity_key]
    len_real = real.groupby(entity_key, sort=False).size()
    len_syn = synthetic.groupby(entity_key, sort=False).size()
    metrics = {
        "sequence_length_accuracy": _binned_accuracy(len_real, len_syn),
        "mean_sequence_length_real": float(len_real.mean()),
        "mean_sequence_length_synthetic": float(len_syn.mean()) if len(len_syn) else float("nan"),
    }
    schema = Schema(real[columns].reset_index(drop=True))
    norm_real = schema.normalize_frame(real[columns])
    norm_syn = schema.normalize_frame(synthetic[columns])
    codes_real = schema.bin_codes(norm_real)
    codes_syn = schema.bin_codes(norm_syn)
    real_prev, real_next = _pairs(real, entity_key)
    synth_prev, synth_next = _pairs(synthetic, entity_key)
    real_entities = real[entity_key].to_numpy()
    synth_entities = synthetic[entity_key].to_numpy()
    rows = []
    agg_acc = [metrics["sequence_length_accuracy"]]
    for j, col in enumerate(schema.columns):
        n_bins = col.n_bins
        pair = _tvd_accuracy(
            codes_real[real_prev, j] * n_bins + codes_real[real_next, j],
            codes_syn[synth_prev, j] * n_bins + codes_syn[synth_next, j],
            n_bins * n_bins,
        )
        diff = agg = np.nan
        real_col, synth_col = norm_real[col.name], norm_syn[col.name]
        if col.kind != "categorical":
            diff = _binned_accuracy(
                pd.Series(real_col[real_next] - real_col[real_prev]),
                pd.Series(synth_col[synth_next] - synth_col[synth_prev]),
            )
            real_per_entity = pd.Series(real_col).groupby(real_entities, sort=False).mean()
            synth_per_entity = pd.Series(synth_col).groupby(synth_entities, sort=False).mean()
        else:
            real_per_entity = pd.Series(real_col).groupby(real_entities, sort=False).nunique()
            synth_per_entity = pd.Series(synth_col).groupby(synth_entities, sort=False).nunique()
        if len(synth_per_entity):
            agg = _binned_accuracy(real_per_entity, synth_per_entity)
            agg_acc.append(agg)
        rows.append({"column": col.name, "pairs": pair, "differences": diff, "per_entity": agg})
    table = pd.DataFrame(rows)
    pairs = table["pairs"].dropna() if len(table) else pd.Series(dtype=float)
    metrics["coherence_pair_accuracy"] = float(pairs.mean()) if len(pairs) else None
    diffs = table["differences"].dropna() if len(table) else pd.Series(dtype=float)
    metrics["coherence_diff_accuracy"] = float(diffs.mean()) if len(diffs) else None
    aggs = [a for a in agg_acc if a is not None and np.isfinite(a)]
    metrics["entity_aggregate_accuracy"] = float(np.mean(aggs)) if aggs else None
    metrics = {
        k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in metrics.items()
    }
    figures = [("sequence lengths", lambda: _length_figure(len_real, len_syn))]
    return metrics, {"sequence coherence per column (accuracy)": table.round(4)}, figures


def _length_figure(real: pd.Series, syn: pd.Series) -> Figure:
    fig = Figure(figsize=(4.2, 3.0), dpi=80, layout="constrained")
    ax = fig.add_subplot()
    top = int(max(real.max(), syn.max() if len(syn) else 0))
    bins = np.linspace(0, top + 1, min(40, top + 2))
    ax.hist(real, bins=bins, density=True, alpha=0.45, color="#4c72b0", label="real")
    ax.hist(
        syn, bins=bins, density=True, histtype="step", lw=1.6, color="#dd8452", label="synthetic"
    )
    ax.set_xlabel("events per entity", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    fig.suptitle("sequence lengths", fontsize=10)
    return fig
