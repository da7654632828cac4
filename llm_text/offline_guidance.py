"""Classifier-free guidance fitted on the validation split.

How strongly a text follows its row depends on the column: FAA remarks name the flight phase in a
few words among boilerplate, Amazon reviews carry their score in every sentence. A small LSTM
learns such dependences only in part, and one fixed guidance weight (Ho & Salimans, 2022) cannot
suit both: on FAA remarks weight 3.5 brought the consistency of generated texts with
``phase_of_flt`` to the real texts' (0.41 against 0.40; 1.5 gave 0.36), while on Amazon reviews
weight 2.5 already overshot the real consistency with ``score`` by 0.12
(``benchmarks/results/text_issue15.md``).

So the weight is fitted, as the temperature is: probes (:class:`~llm_text.curation.
ConsistencyFilter`, TF-IDF and a linear SVM) learn to read the row's categorical columns from the
real training texts; on the validation rows, texts generated at each weight of
:data:`GUIDANCE_GRID` are read by the same probes. The grid starts at the default 1.5 (the best
fixed weight on held-out rows of both tables) and is walked upwards while the generated texts
agree with their rows less often than the real validation texts do; where the agreement crosses
the real one the weight is interpolated between the two grid points, and where it never does
the weight of the highest agreement is kept. The weight is never lowered below the default: on
Amazon reviews 1.0 gave a consistency 0.057 below the real texts' where 1.5 was within 0.011.

The real texts' agreement, the target of the walk, pools each probe's accuracy on the quarter of
training texts it held out with its agreement on the validation texts (:func:`real_agreement`):
both are real texts the probe has not read. On 400 validation texts alone its standard error is
about 0.02, as large as the tolerance the weight is fitted for; pooled with a held-out quarter of
900 texts (Amazon reviews, 4,000 rows) it falls to about 0.011 (there the target moved from 0.8075
to 0.8069).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .curation import ConsistencyFilter

__all__ = ["GUIDANCE_GRID", "agreement", "context_probes", "fit_guidance", "real_agreement"]

#: Guidance weights tried, in this order (the first is the default).
GUIDANCE_GRID = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
#: Context columns probed at most (those whose values the text reveals best).
MAX_PROBES = 5
#: A probe is used when it beats the majority class by this much on held-out real texts (and
#: by two standard errors of that accuracy).
MIN_PROBE_GAIN = 0.02
#: Distinct values a context column may have to be probed.
MAX_PROBE_VALUES = 50
#: Training texts a probe learns from at most.
MAX_PROBE_TEXTS = 5000
#: Validation texts needed to fit the weight (fewer: the default weight is kept).
MIN_GUIDANCE_TEXTS = 50


def context_probes(
    texts: pd.Series, context: pd.DataFrame, random_state: int = 0
) -> list[ConsistencyFilter]:
    """Probes reading the row's categorical columns from real texts.

    Args:
        texts: Real training texts ``[n]`` (``str`` or NaN).
        context: The same rows' columns ``[n, ...]``; columns with 2 to
            :data:`MAX_PROBE_VALUES` distinct values are probed.
        random_state: Seed of the subsample and of each probe's held-out split.

    Returns:
        At most :data:`MAX_PROBES` usable probes, the largest gain over the majority class first.
    """
    texts = pd.Series(texts).reset_index(drop=True)
    context = context.reset_index(drop=True)
    rows = np.flatnonzero(texts.map(lambda t: isinstance(t, str)).to_numpy())
    if len(rows) > MAX_PROBE_TEXTS:
        rows = np.sort(np.random.default_rng(random_state).choice(rows, MAX_PROBE_TEXTS, False))
    probes = []
    for column in context.columns:
        values = context[column].iloc[rows]
        try:
            distinct = values.nunique(dropna=True)
        except TypeError:  # unhashable cells (lists, dicts): not a categorical column
            continue
        if not 2 <= distinct <= MAX_PROBE_VALUES:
            continue
        probe = ConsistencyFilter(column, min_gain=0.0, random_state=random_state)
        probe.fit(texts.iloc[rows], values)
        gain = probe.accuracy_ - probe.baseline_
        # the gain must stand out of the noise of the probe's held-out quarter (two standard
        # errors of the majority-class accuracy), or a column the text does not reveal passes
        held = max(1, len(rows) // 4)
        noise = 2.0 * np.sqrt(probe.baseline_ * (1.0 - probe.baseline_) / held)
        if probe.model_ is not None and gain >= max(MIN_PROBE_GAIN, noise):
            probes.append((gain, str(column), probe))
    probes.sort(key=lambda p: (-p[0], p[1]))
    return [p[2] for p in probes[:MAX_PROBES]]


def _probe_shares(
    probes: list[ConsistencyFilter], texts, context: pd.DataFrame
) -> list[tuple[float, int]]:
    """Per probe, ``(share of texts whose read value equals the row's, texts counted)``; rows with
    a missing text or a value the probe does not model are left out (0 texts: share NaN)."""
    texts = pd.Series(list(texts))
    shares = []
    for probe in probes:
        labels = context[probe.column].reset_index(drop=True)
        classes = set(probe.model_.classes_)
        modelled = labels.map(lambda v, c=classes: not pd.isna(v) and str(v) in c)
        applies = texts.map(lambda t: isinstance(t, str)).to_numpy() & modelled.to_numpy(bool)
        n = int(applies.sum())
        share = float(probe.agree(texts[applies], labels[applies]).mean()) if n else float("nan")
        shares.append((share, n))
    return shares


def agreement(probes: list[ConsistencyFilter], texts, context: pd.DataFrame) -> float:
    """Mean over ``probes`` of the share of texts whose read value equals the row's value (rows
    with a missing text or a value a probe does not model are left out of that probe)."""
    shares = [share for share, n in _probe_shares(probes, texts, context) if n]
    return float(np.mean(shares)) if shares else float("nan")


def real_agreement(probes: list[ConsistencyFilter], texts, context: pd.DataFrame) -> float:
    """:func:`agreement` of real ``texts``, each probe's share pooled with its accuracy on the
    ``n_held_`` training texts it held out: ``(a_held n_held + a n) / (n_held + n)``, then the
    mean over probes (the same quantity on up to ``n_held_`` more real texts)."""
    pooled = []
    for probe, (share, n) in zip(probes, _probe_shares(probes, texts, context), strict=True):
        held = probe.n_held_ if np.isfinite(probe.accuracy_) else 0
        if n + held:
            total = (share * n if n else 0.0) + (probe.accuracy_ * held if held else 0.0)
            pooled.append(total / (n + held))
    return float(np.mean(pooled)) if pooled else float("nan")


def fit_guidance(
    sample: Callable[[float], list],
    probes: list[ConsistencyFilter],
    real_texts: pd.Series,
    context: pd.DataFrame,
    default: float,
) -> tuple[float, list[list[float]]]:
    """The guidance weight whose generated texts agree with their rows as real texts do.

    Args:
        sample: ``weight -> texts``, one per row of ``context`` (the same seed at every call).
        probes: From :func:`context_probes` (fitted on training texts, not these rows).
        real_texts: The real validation texts of the same rows ``[n]`` (their agreement is pooled
            with the probes' held-out training texts: :func:`real_agreement`).
        context: The validation rows ``[n, ...]``.
        default: Returned when there is no probe or fewer than :data:`MIN_GUIDANCE_TEXTS` texts.

    Returns:
        ``(weight, trace)``: the first grid weight when its texts already agree as often as the
        real ones; else the weight interpolated where the agreement crosses the real texts'
        (rounded to 0.05), or the grid weight of the highest agreement when it never does; and
        ``[[weight, agreement], ...]`` for each weight tried, after the real texts'
        ``[0.0, agreement]``.
    """
    real_texts = pd.Series(list(real_texts))
    if not probes or int(real_texts.map(lambda t: isinstance(t, str)).sum()) < MIN_GUIDANCE_TEXTS:
        return float(default), []
    target = real_agreement(probes, real_texts, context)
    trace = [[0.0, round(target, 4)]]
    for weight in GUIDANCE_GRID:
        agree = agreement(probes, sample(weight), context)
        trace.append([weight, round(agree, 4)])
        if agree >= target:
            if len(trace) == 2:
                return float(weight), trace
            (low, a_low), (high, a_high) = trace[-2], trace[-1]
            share = (target - a_low) / max(a_high - a_low, 1e-12)
            return round((low + share * (high - low)) * 20) / 20, trace
    return float(max(trace[1:], key=lambda wa: wa[1])[0]), trace
