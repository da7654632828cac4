"""Free-text columns in the evaluation report: one section per text column.

The metrics come from :func:`llm_text.metrics.text_metrics` (distinct-n, length distribution,
novelty, n-gram overlap, missing rates, the conditional consistency check and, when a semantic
embedding model is installed, embedding similarity and diversity). With a holdout, the same
metrics between the training texts and the holdout texts are shown beside them as references:
they are the level that new real text reaches (e.g. the holdout's novelty and length accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tabargn.errors import InvalidDataError
from tabargn.evaluation._plots import HOLD_COLOR, REAL_COLOR, SYN_COLOR

__all__ = ["add_text_sections", "TEXT_METRICS"]

#: Metrics of one text column (summary keys are ``text_<column>_<metric>``) and their meaning.
TEXT_METRICS: dict[str, str] = {
    "distinct_1": "Distinct word unigrams / all unigrams of the synthetic texts (equal-size "
    "samples); reference: the real texts'.",
    "distinct_2": "Distinct word bigrams / all bigrams (Li et al. 2016); reference: the real "
    "texts'. Lower than real = repetitive text.",
    "length_accuracy": "1 − total variation distance of the character-length histograms (real "
    "deciles). Reference: holdout texts against the training texts.",
    "mean_length_synthetic": "Mean characters per synthetic text; reference: real.",
    "novelty": "Share of synthetic texts that are not verbatim copies of a training text. "
    "Reference: the holdout's share (short stock phrases repeat in real data too).",
    "ngram_overlap_3": "Share of synthetic word 3-grams that occur in the real texts; reference: "
    "the holdout's share.",
    "missing_rate_synthetic": "Share of missing texts; reference: real.",
    "consistency": "Agreement of classifiers trained on real text -> the consistency column "
    "with the synthetic rows' own values (is each text consistent with its row?), four "
    "cross-fitted classifiers averaged; reference: their out-of-fold accuracy on the real texts.",
    "consistency_baseline": "Majority-class accuracy of the consistency column (chance level "
    "for consistency).",
    "embedding_similarity": "Cosine of the mean sentence embeddings of real and synthetic texts "
    "(needs an installed embedding model).",
    "embedding_diversity": "1 − mean pairwise cosine of synthetic embeddings; reference: real.",
}

# metric -> the text_metrics key shown beside it (from the same call)
_SAME_CALL_REFS = {
    "distinct_1": "distinct_1_real",
    "distinct_2": "distinct_2_real",
    "mean_length_synthetic": "mean_length_real",
    "missing_rate_synthetic": "missing_rate_real",
    "consistency": "consistency_real",
    "embedding_diversity": "embedding_diversity_real",
}
# metric -> reference from the holdout-vs-training call
_HOLDOUT_REFS = ("length_accuracy", "novelty", "ngram_overlap_3")
_ALWAYS = (
    "consistency",
    "consistency_real",
    "consistency_baseline",
)


def _consistency_for(column: str, consistency_column) -> str | None:
    if consistency_column is None or isinstance(consistency_column, str):
        return consistency_column
    if isinstance(consistency_column, Mapping):
        return consistency_column.get(column)
    raise InvalidDataError(
        "text_consistency_column must be a column name, a {text column: column} dict or None"
    )


def _length_figure(name: str, real: pd.Series, syn: pd.Series, hold: pd.Series | None) -> Figure:
    fig = Figure(figsize=(4.6, 3.0), dpi=80, layout="constrained")
    ax = fig.add_subplot()
    lens = {
        "real": real.dropna().astype(str).str.len().to_numpy(),
        "synthetic": syn.dropna().astype(str).str.len().to_numpy(),
    }
    if hold is not None:
        lens["holdout"] = hold.dropna().astype(str).str.len().to_numpy()
    top = max(1.0, float(np.quantile(lens["real"], 0.99)) if len(lens["real"]) else 1.0)
    edges = np.linspace(0, top, 31)
    colors = {"real": REAL_COLOR, "synthetic": SYN_COLOR, "holdout": HOLD_COLOR}
    for label, lengths in lens.items():
        if not len(lengths):
            continue
        shares = np.histogram(np.clip(lengths, 0, top), bins=edges)[0] / len(lengths)
        if label == "real":
            ax.stairs(shares, edges, fill=True, color=colors[label], alpha=0.45, label=label)
        else:
            ax.stairs(shares, edges, color=colors[label], linewidth=1.6, label=label)
    ax.set_xlabel("characters per text (clipped at the real 99th percentile)", fontsize=8)
    ax.set_ylabel("share of texts", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    fig.suptitle(f"{name}: text length", fontsize=10)
    return fig


def add_text_sections(
    report,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    text_columns: Sequence[str],
    *,
    context_columns: Sequence[str],
    consistency_column: str | Mapping[str, str] | None = None,
    max_rows: int = 5000,
    random_state: int = 0,
    n_examples: int = 8,
) -> None:
    """Adds a ``text: <column>`` section per text column to ``report``.

    Args:
        report: The :class:`~tabargn.evaluation.report.Report` being built.
        real, synthetic, holdout: The full input tables (holdout may be None).
        text_columns: The free-text columns (present in every table).
        context_columns: Tabular columns shown beside the example texts.
        consistency_column: A categorical column for the consistency check (one for all text
            columns, or a ``{text column: column}`` dict); None skips the check (its metrics
            are None).
        max_rows: Most non-missing texts per side (``text_metrics`` subsample).
        random_state: Seed of the subsamples and the consistency classifier.
        n_examples: Synthetic example rows shown in the HTML.

    Raises:
        InvalidDataError: The consistency column is unknown or is a text column.
    """
    from llm_text.metrics import text_metrics

    for column in text_columns:
        consistency_col = _consistency_for(column, consistency_column)
        if consistency_col is not None and (
            consistency_col not in real.columns or consistency_col not in synthetic.columns
        ):
            raise InvalidDataError(
                f"text_consistency_column {consistency_col!r} is not in the data"
            )
        if consistency_col is not None and consistency_col in text_columns:
            raise InvalidDataError(
                f"text_consistency_column {consistency_col!r} is a text column; "
                "use a categorical column"
            )
        shared_kwargs = {
            "consistency_column": consistency_col,
            "max_rows": max_rows,
            "random_state": random_state,
        }
        context = [consistency_col] if consistency_col is not None else []
        synth_metrics = text_metrics(
            real[column],
            synthetic[column],
            real_context=real[context] if context else None,
            synthetic_context=synthetic[context] if context else None,
            **shared_kwargs,
        )
        holdout_metrics = None
        if holdout is not None:
            holdout_metrics = text_metrics(
                real[column],
                holdout[column],
                real_context=real[context] if context else None,
                synthetic_context=holdout[context] if context else None,
                embedder="none",
                **{**shared_kwargs, "consistency_column": None},
            )
        metrics: dict[str, float | None] = {}
        for key in _ALWAYS:
            synth_metrics.setdefault(key, None)
        for key, value in synth_metrics.items():
            if key in ("n_real", "n_synthetic"):
                continue
            metrics[key] = value
        for key in _HOLDOUT_REFS:
            metrics[f"{key}_holdout"] = (
                None if holdout_metrics is None else holdout_metrics.get(key)
            )
        prefix = f"text_{column}_"
        flat = {prefix + k: v for k, v in metrics.items()}
        refs = {prefix + k: prefix + r for k, r in _SAME_CALL_REFS.items() if k in metrics}
        refs.update({prefix + k: prefix + k + "_holdout" for k in _HOLDOUT_REFS})
        descriptions = {prefix + k: d for k, d in TEXT_METRICS.items()}
        n_real, n_synthetic = int(synth_metrics["n_real"]), int(synth_metrics["n_synthetic"])
        notes = [
            f"{n_real:,} real and {n_synthetic:,} synthetic non-missing "
            f"texts (at most {max_rows:,} per side); words are \\w+ tokens, lower-cased.",
            "Consistency column: "
            + (
                repr(consistency_col)
                if consistency_col is not None
                else "none given (pass text_consistency_column to check that texts agree "
                "with their rows)."
            ),
        ]
        if holdout is not None:
            notes.append(
                "References marked _holdout are the same metric for the holdout texts against "
                "the training texts."
            )
        shown = [
            c
            for c in ([consistency_col] if consistency_col else []) + list(context_columns)
            if c != column
        ]
        shown = list(dict.fromkeys(shown))[:4]
        syn_rows = synthetic[synthetic[column].notna()]
        if len(syn_rows) > n_examples:
            syn_rows = syn_rows.sample(n=n_examples, random_state=random_state)
        examples = syn_rows[shown + [column]].reset_index(drop=True).astype(str)
        examples[column] = examples[column].str.slice(0, 300)
        report.add_section(
            f"text: {column}",
            flat,
            figures=[
                (
                    "",
                    partial(
                        _length_figure,
                        column,
                        real[column],
                        synthetic[column],
                        None if holdout is None else holdout[column],
                    ),
                )
            ],
            descriptions=descriptions,
            references=refs,
            tables={"Synthetic examples (random rows)": examples},
            notes=notes,
        )
