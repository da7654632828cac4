"""Classifier-free guidance weight fitted so generated texts agree with their rows as real ones do.

How strongly a text follows its row depends on the column: FAA remarks name the flight phase in a
few words among boilerplate, Amazon reviews carry their score in every sentence. A small LSTM
learns such dependences only in part, and one fixed guidance weight (Ho & Salimans, 2022) cannot
suit both: on FAA remarks weight 3.5 brought the consistency of generated texts with
``phase_of_flt`` to the real texts' (0.41 against 0.40; 1.5 gave 0.36), while on Amazon reviews
weight 2.5 already overshot the real consistency with ``score`` by 0.12
(``benchmarks/results/text_issue15.md``).

So the weight is fitted, as the temperature is. Probes (:class:`~llm_text.curation.ColumnProbe`:
TF-IDF and a linear SVM, :func:`~llm_text.curation.text_classifier`) learn to read the row's
categorical columns from the real training texts; texts generated at each weight are read by the
same probes. The walk starts at the default 1.5 (the best fixed weight on held-out rows of both
tables). While the generated texts agree with their rows less often than real texts do, it goes
up :data:`GUIDANCE_GRID`; when they already agree more often at 1.5, it goes down
:data:`LOWER_GRID` to 1.0 (the conditional model alone). Where the agreement crosses the real one
the weight is interpolated between the two grid points; where it never does, the walk up keeps
the weight of the highest agreement and the walk down stops at 1.0.

The generated texts are read on up to 4,800 rows of the table, training rows included
(:func:`guidance_rows`), 1,200 at a time (:func:`read_until_decided`): a weight whose agreement
is more than two standard errors from the real texts' is decided on the first 1,200 texts, one
near the crossing is read on more, up to 4,800. Read on the validation rows alone (240 rows
drawn five times at 2,400 Amazon reviews, 400 drawn three times at 4,000), which rows were held
out moved the reading. Read on 1,200 texts, the agreement carried noise of about the tolerance
the weight is fitted for: on the same model (Amazon, 4,000 rows, seed 1, weight 1.35) and the
same 1,200 rows, three seeds read 0.804, 0.780 and 0.808; the fitted weight's texts were read
0.02-0.04 away from the probes' reading by the evaluation in two runs of that split
(``benchmarks/results/text_issue15.md``). At 1.5 the text model overshot the real texts'
agreement on the real holdout rows of every Amazon run measured (2,400 rows: 0.830 against
0.786; 4,000 rows, seeds 0 and 1: 0.827 against 0.815, 0.826 against 0.804), hence the walk
down. On two of six benchmark runs (Amazon 2,400 rows; 4,000 rows, seed 2) the evaluation read
the final texts about 0.03 below this fit's reading of the same weight: the fit reads texts
generated from its own (value-protected) context codes, and tabargn's sampling gave the text
model the decoded rows, where a removed category took a code it never trained; tabargn now
protects the rows it conditions texts on (``tabargn.flat.text_context``).

The real texts' agreement, the target of the walk, is measured on every real text a probe has not
read: each probe is :data:`~llm_text.curation.FOLDS` classifiers cross-fitted on the training
texts, so each training text is read by the classifier that did not learn from it, pooled with the
validation texts (:func:`real_agreement`). Generated texts are read by all the folds' classifiers
(their mean agreement has the same expectation). A single 75/25 split measured the target on a
quarter of the texts: on Amazon reviews (2,400 rows) it read 0.772 where a 75/25 classifier read
0.808 on its own held-out quarter and 0.829 on the holdout, a spread as large as the tolerance the
weight is fitted for.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .curation import ColumnProbe, value_labels

__all__ = [
    "GUIDANCE_CHUNK",
    "GUIDANCE_GRID",
    "GUIDANCE_TEXTS",
    "LOWER_GRID",
    "agreement",
    "context_probes",
    "fit_guidance",
    "guidance_rows",
    "read_until_decided",
    "real_agreement",
]

#: Guidance weights tried, in this order (the first is the default).
GUIDANCE_GRID = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
#: Weights below the first of :data:`GUIDANCE_GRID` tried, in this order, when texts at that
#: weight agree with their rows more often than real texts do (1.0: the conditional model alone).
LOWER_GRID = (1.25, 1.0)
#: Context columns probed at most (those whose values the text reveals best).
MAX_PROBES = 5
#: A probe is used when it beats the majority class by this much on held-out real texts (and
#: by two standard errors of that accuracy).
MIN_PROBE_GAIN = 0.02
#: Distinct values a context column may have to be probed (its :data:`~llm_text.curation.TOP_VALUES`
#: most frequent are modelled).
MAX_PROBE_VALUES = 50
#: Training texts a probe learns from at most.
MAX_PROBE_TEXTS = 5000
#: Validation texts needed to fit the weight (fewer: the default weight is kept).
MIN_GUIDANCE_TEXTS = 50
#: Texts generated per step of a reading (:func:`read_until_decided`).
GUIDANCE_CHUNK = 1200
#: Texts generated for one weight at most (rows drawn again when the table has fewer).
GUIDANCE_TEXTS = 4800
#: Binomial standard errors between a reading and the real texts' agreement that end it.
DECIDED_AT = 2.0


def context_probes(
    texts: pd.Series, context: pd.DataFrame, random_state: int = 0
) -> list[ColumnProbe]:
    """Probes reading the row's categorical columns from real texts.

    Args:
        texts: Real training texts ``[n]`` (``str`` or NaN).
        context: The same rows' columns ``[n, ...]``; columns with 2 to
            :data:`MAX_PROBE_VALUES` distinct values are probed.
        random_state: Seed of the subsample and of each probe's folds.

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
        known = values.notna().to_numpy()
        probe = ColumnProbe.fit(
            str(column),
            texts.iloc[rows[known]].tolist(),
            values[known].map(str).tolist(),
            random_state,
        )
        if probe is None:
            continue
        gain = probe.accuracy_ - probe.baseline_
        # the gain must stand out of the noise of the held-out accuracy (two standard errors of
        # the majority-class accuracy), or a column the text does not reveal passes
        noise = 2.0 * np.sqrt(probe.baseline_ * (1.0 - probe.baseline_) / probe.n_held_)
        if gain >= max(MIN_PROBE_GAIN, noise):
            probes.append((gain, str(column), probe))
    probes.sort(key=lambda p: (-p[0], p[1]))
    return [p[2] for p in probes[:MAX_PROBES]]


def _probe_shares(
    probes: list[ColumnProbe], texts, context: pd.DataFrame
) -> list[tuple[float, int]]:
    """Per probe, ``(share of texts whose read value equals the row's, texts counted)``; rows with
    a missing text or a value the probe does not model are left out (0 texts: share NaN)."""
    texts = pd.Series(list(texts))
    present = texts.map(lambda t: isinstance(t, str)).to_numpy()
    shares = []
    for probe in probes:
        labels = value_labels(context[probe.column])
        applies = present & labels.isin(probe.classes).to_numpy()
        n = int(applies.sum())
        read = probe.agree(texts[applies].tolist(), labels[applies].tolist())
        shares.append((float(read.mean()) if n else float("nan"), n))
    return shares


def agreement(probes: list[ColumnProbe], texts, context: pd.DataFrame) -> float:
    """Mean over ``probes`` of the share of texts whose read value equals the row's value (rows
    with a missing text or a value a probe does not model are left out of that probe)."""
    shares = [share for share, n in _probe_shares(probes, texts, context) if n]
    return float(np.mean(shares)) if shares else float("nan")


def real_agreement(probes: list[ColumnProbe], texts, context: pd.DataFrame) -> float:
    """:func:`agreement` of real ``texts``, each probe's share pooled with its out-of-fold
    accuracy on its ``n_held_`` training texts: ``(a_held n_held + a n) / (n_held + n)``, then
    the mean over probes (the same quantity on every real text the probe has not learned from)."""
    pooled = []
    for probe, (share, n) in zip(probes, _probe_shares(probes, texts, context), strict=True):
        total = (share * n if n else 0.0) + probe.accuracy_ * probe.n_held_
        pooled.append(total / (n + probe.n_held_))
    return float(np.mean(pooled)) if pooled else float("nan")


def guidance_rows(has_text, seed: int, count: int = GUIDANCE_TEXTS) -> np.ndarray:
    """Positions of the rows whose contexts the texts read by :func:`fit_guidance` are generated
    for: up to ``count`` distinct rows with a text, a seeded draw; when fewer, all of them,
    repeated whole ``count // rows`` times (``int`` array; empty when no row has a text).

    Drawn from every row (training and validation): the validation rows alone (240 at 2,400
    Amazon reviews) make the agreement of the generated texts depend on which rows were held out.
    A reading takes its chunks in this order, so its first chunk holds distinct rows.
    """
    pick = np.random.default_rng([seed, 7]).permutation(np.flatnonzero(has_text))[:count]
    return np.tile(pick, max(1, count // max(len(pick), 1)))


def fit_guidance(
    sample: Callable[[float, slice], list],
    probes: list[ColumnProbe],
    real_texts: pd.Series,
    real_context: pd.DataFrame,
    generated_context: pd.DataFrame,
    default: float,
    chunk: int = GUIDANCE_CHUNK,
) -> tuple[float, list[list[float]]]:
    """The guidance weight whose generated texts agree with their rows as real texts do.

    Each weight is read chunk by chunk (:func:`read_until_decided`): ``chunk`` texts first, more
    only while the agreement is within two standard errors of the real texts'.

    Args:
        sample: ``(weight, rows) -> texts``, one per row of the ``slice`` ``rows`` of
            ``generated_context`` (``chunk`` rows or the last ones), in order; the same seed
            for a slice at every weight.
        probes: From :func:`context_probes` (fitted on the training texts).
        real_texts: The real validation texts ``[n]`` (their agreement is pooled with the
            probes' out-of-fold training texts: :func:`real_agreement`).
        real_context: The validation rows ``[n, ...]``.
        generated_context: The rows the texts are generated for ``[m, ...]``, in chunks.
        default: Returned when there is no probe or fewer than :data:`MIN_GUIDANCE_TEXTS` real
            texts (the walk itself starts at ``GUIDANCE_GRID[0]``).
        chunk: Texts generated per step of a reading (default :data:`GUIDANCE_CHUNK`).

    Returns:
        ``(weight, trace)``: the weight interpolated (rounded to 0.05) where the agreement of the
        generated texts crosses the real texts', walking up :data:`GUIDANCE_GRID` from its first
        weight while they agree less often, or down :data:`LOWER_GRID` while they agree more
        often; the weight of the highest agreement when the walk up never crosses, the last of
        :data:`LOWER_GRID` when the walk down never does; and ``[[weight, agreement, texts
        read], ...]`` for each weight tried, after the real texts' ``[0.0, agreement, texts]``.
    """
    real_texts = pd.Series(list(real_texts))
    n_real = int(real_texts.map(lambda t: isinstance(t, str)).sum())
    if not probes or n_real < MIN_GUIDANCE_TEXTS:
        return float(default), []
    generated_context = generated_context.reset_index(drop=True)
    target = real_agreement(probes, real_texts, real_context.reset_index(drop=True))
    trace = [[0.0, round(target, 4), n_real + max(p.n_held_ for p in probes)]]

    def read(weight: float) -> float:
        share, n = read_until_decided(
            lambda part: sample(weight, part), probes, generated_context, target, chunk
        )
        trace.append([weight, round(share, 4), n])
        return trace[-1][1]

    if read(GUIDANCE_GRID[0]) > target:  # past the real texts already: walk down
        for weight in LOWER_GRID:
            if read(weight) <= target:
                return _crossing(target, trace[-1][:2], trace[-2][:2]), trace
        return float(LOWER_GRID[-1]), trace
    if trace[-1][1] == target:
        return float(GUIDANCE_GRID[0]), trace
    for weight in GUIDANCE_GRID[1:]:
        if read(weight) >= target:  # (NaN, nothing read: on upwards)
            return _crossing(target, trace[-2][:2], trace[-1][:2]), trace
    return float(max(trace[1:], key=lambda t: t[1])[0]), trace


def read_until_decided(
    sample_part: Callable[[slice], list],
    probes: list[ColumnProbe],
    generated_context: pd.DataFrame,
    target: float,
    chunk: int = GUIDANCE_CHUNK,
) -> tuple[float, int]:
    """:func:`agreement` of generated texts read ``chunk`` at a time, until it is decided.

    A sequential reading: after each chunk the agreement ``a`` of all texts so far (``n`` of
    them) is compared with ``target``; the reading stops once ``|a - target|`` reaches
    :data:`DECIDED_AT` binomial standard errors ``sqrt(a (1 - a) / n)``, or when
    ``generated_context`` has no chunk left. Weights far from the crossing cost one chunk; near
    it the reading grows to every chunk (4,800 texts: a standard error of about 0.006 at an
    agreement of 0.8, against 0.012 on one chunk of 1,200).

    Args:
        sample_part: ``rows -> texts`` for the rows of a ``slice`` of ``generated_context``.
        probes: From :func:`context_probes`.
        generated_context: Every row a text may be generated for ``[m, ...]``.
        target: The real texts' agreement.
        chunk: Rows per part.

    Returns:
        ``(agreement, texts read)``: NaN and 0 when no text was counted.
    """
    agreed = np.zeros(len(probes))  # per probe: texts read as their row's value, texts counted
    counted = np.zeros(len(probes))
    share, n = float("nan"), 0
    for start in range(0, len(generated_context), chunk):
        rows = slice(start, min(start + chunk, len(generated_context)))
        shares = _probe_shares(probes, sample_part(rows), generated_context.iloc[rows])
        for j, (part_share, part_n) in enumerate(shares):
            if part_n:  # each chunk is read once; the probes' shares are pooled over chunks
                agreed[j] += part_share * part_n
                counted[j] += part_n
        read = counted > 0
        if not read.any():
            continue
        share = float(np.mean(agreed[read] / counted[read]))
        n = int(np.mean(counted[read]))
        if abs(share - target) >= DECIDED_AT * np.sqrt(max(share * (1 - share), 1e-6) / n):
            break
    return share, n


def _crossing(target: float, low: list[float], high: list[float]) -> float:
    """The weight interpolated between two ``[weight, agreement]`` points (``low`` agreeing
    less often than ``target``, ``high`` at least as often), rounded to 0.05."""
    (w_low, a_low), (w_high, a_high) = low, high
    share = (target - a_low) / max(a_high - a_low, 1e-12)  # the trace is rounded
    return round((w_low + share * (w_high - w_low)) * 20) / 20
