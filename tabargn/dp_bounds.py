"""DP bounds that always release: the exponential mechanism over a public candidate grid.

The lowest and highest values of a numeric (or datetime, in days) column are released as the DP
0- and 1-quantiles by the exponential mechanism (McSherry and Talwar 2007; for quantiles Smith
2011, the mechanism behind OpenDP's ``make_private_quantile``), over a data-independent grid of
candidates: zero and signed powers of two at :data:`STEPS_PER_OCTAVE` steps per octave, from
1 to ``2**MAX_OCTAVE`` (integers for integer columns). Magnitudes below 1 are not resolved (as
in SmartNoise's ``approx_bounds``, whose smallest bin is ``[0, 1)``): a column of small
fractions gets the bounds 0 and 1 (or -1), and the network learns its shape inside them. Unlike a noisy histogram
with a threshold (SmartNoise's ``approx_bounds``, which the DP fit used before and which
released nothing for most columns of a 982-entity table at a small per-column epsilon), the
mechanism always returns a candidate; a small budget makes it less accurate, never absent.

Scores (sensitivity 1 under adding or removing one row; one entity in sequences):

* upper bound ``c``: ``-#{x > c}`` (rows left above it);
* lower bound ``c``: ``-#{x < c}`` (rows left below it).

Both are *monotone* (adding a row never raises a score), so the mechanism samples
``P(c) ∝ mu(c) exp(epsilon * score(c))`` (factor ``epsilon``, not ``epsilon / 2``: McSherry and
Talwar 2007, section 3) and is ``epsilon``-DP; its privacy loss ranges over an interval of
length ``epsilon`` (``epsilon``-bounded range), hence ``epsilon**2 / 8``-zCDP (Cesar and Rogers
2021, lemma 3.2), which :mod:`tabargn.dp_statistics` uses to compose many columns.

``mu`` is a public base measure that breaks ties: every candidate beyond the data has the best
score, so without it the upper bound would be as likely ``2**62`` as the value just above the
maximum. ``mu`` decays by :func:`tie_slope` nats per octave of distance (on the signed scale
``sign(c) log2(1 + |c|)`` of :func:`_octave`) from an anchor: for the upper bound the anchor is 0, so among the
tied candidates above the data the one nearest the maximum wins (and above negative data, 0);
for the lower bound the anchor is the released upper bound (post-processing of a release), so
among the tied candidates below the data the one nearest the minimum wins (below a column of
years, not 0). ``mu`` does not depend on the data (a base measure leaves the privacy loss
unchanged). The slope comes from public quantities only (``n``, ``epsilon``): it equals the
score of :data:`TIE_SHARE` of the rows per octave, so a bound keeps within a fraction of an
octave of the data, and cutting off a bulk of values costs more than the prior gains.

Sampling uses the Gumbel-max trick with the fit's seeded NumPy generator, so ``random_state``
reproduces a release (like the rest of :mod:`tabargn.dp_statistics`; not hardened against
floating-point attacks, Mironov 2012).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "STEPS_PER_OCTAVE",
    "MAX_OCTAVE",
    "TIE_SHARE",
    "TIE_SHARE_TRIMMED",
    "candidate_grid",
    "tie_slope",
    "bound_scores",
    "bound_logits",
    "exponential_bound",
    "dp_bounds",
]

STEPS_PER_OCTAVE = 128
"""Candidates per factor of two (about 0.54 % apart: a bound near the year 1900 lands within
about 10 years of a grid point)."""
MAX_OCTAVE = 62
"""Largest candidate magnitude: ``2**62`` (past it values are clipped to the end candidates)."""
TIE_SHARE = 0.05
"""The base measure's slope per octave equals the score of this share of ``n`` rows, when the
bounds are the column's final range (no histogram follows): the bounds then cut an octave of
tail holding fewer rows than this share, and overshoot the data by about ``1 / slope``
octaves."""
TIE_SHARE_TRIMMED = 0.01
"""The share when a noisy histogram between the bounds follows: its own trimming removes
empty cells at either end, so the bounds should err towards covering the tails (on Adult,
0.05 cut ``hours_per_week`` above 60-70 hours, about 5 % of the rows)."""
MIN_TIE_SLOPE = 0.5
"""Least slope of the base measure, nats per octave."""


def candidate_grid(integer: bool) -> np.ndarray:
    """The public candidates, sorted: 0 and ``±2**(k / STEPS_PER_OCTAVE)``, ``k >= 0``.

    Args:
        integer: Round to integers (and dedupe), for integer columns.

    Returns:
        float64 ``[K]``, sorted ascending, symmetric around 0.
    """
    k = np.arange(0, MAX_OCTAVE * STEPS_PER_OCTAVE + 1)
    pos = 2.0 ** (k / STEPS_PER_OCTAVE)
    if integer:
        pos = np.unique(np.round(pos))
        pos = pos[pos > 0]
    return np.concatenate([-pos[::-1], [0.0], pos])


def _octave(c: np.ndarray) -> np.ndarray:
    """Signed log2 position of candidates (monotone in ``c``): ``sign(c) log2(1 + |c|)``."""
    return np.sign(c) * np.log2(1.0 + np.abs(c))


def _widths(pos: np.ndarray) -> np.ndarray:
    """Each candidate's share of the scale ``pos`` (half the gaps to its neighbours), so the
    base measure is a density on that scale: a crowd of close candidates (the integers
    rounded from a fine grid, the candidates just past 1) weighs no more than the span it
    covers."""
    if len(pos) < 2:
        return np.ones(len(pos))
    gaps = np.diff(pos)
    return np.r_[gaps[0], (gaps[:-1] + gaps[1:]) / 2, gaps[-1]]


def tie_slope(n: int, epsilon: float, share: float = TIE_SHARE) -> float:
    """Nats per octave of the base measure: ``max(MIN_TIE_SLOPE, share * n * epsilon)``.

    ``n`` (the table's row count) is public, as everywhere in the DP fit.
    """
    return max(MIN_TIE_SLOPE, share * n * epsilon)


def bound_scores(x: np.ndarray, candidates: np.ndarray, upper: bool) -> np.ndarray:
    """Scores of the candidates, int64 ``[K]``: ``-#{x > c}`` (upper) or ``-#{x < c}``.

    The same numbers as OpenDP's ``make_quantile_score_candidates`` with ``alpha`` 1 or 0
    (negated; its proof gives the sensitivity 1), checked in ``tests/test_dp_bounds.py``.
    """
    xs = np.sort(np.asarray(x, dtype=np.float64))
    if upper:
        return -(len(xs) - np.searchsorted(xs, candidates, side="right"))
    return -np.searchsorted(xs, candidates, side="left")


def bound_logits(
    x: np.ndarray,
    candidates: np.ndarray,
    epsilon: float,
    upper: bool,
    slope: float,
    anchor: float = 0.0,
) -> np.ndarray:
    """Unnormalized log-probabilities of the mechanism, float64 ``[K]``: ``epsilon * score``
    plus the log base measure (arguments as :func:`exponential_bound`)."""
    score = bound_scores(x, candidates, upper)
    pos = _octave(candidates)
    prior = np.log(_widths(pos)) - slope * np.abs(pos - _octave(np.array([anchor]))[0])
    return epsilon * score.astype(np.float64) + prior


def exponential_bound(
    x: np.ndarray,
    candidates: np.ndarray,
    epsilon: float,
    upper: bool,
    rng: np.random.Generator,
    slope: float,
    anchor: float = 0.0,
) -> float:
    """One DP bound of the finite values ``x`` (``epsilon``-DP, ``epsilon**2 / 8``-zCDP).

    Args:
        x: float64 ``[m]`` finite values (``m`` may be 0: then the base measure alone decides).
        candidates: Sorted public candidates (:func:`candidate_grid`).
        epsilon: Epsilon of this release.
        upper: The upper bound (score ``-#{x > c}``), else the lower (``-#{x < c}``).
        rng: The fit's generator (Gumbel noise: ``argmax(logits + Gumbel)`` samples the
            softmax of the logits exactly).
        slope: Base-measure decay, nats per octave from ``anchor`` (:func:`tie_slope`).
        anchor: Where the base measure peaks, as a candidate value (public).

    Returns:
        One of ``candidates`` (a float).
    """
    logits = bound_logits(x, candidates, epsilon, upper, slope, anchor)
    return float(candidates[int(np.argmax(logits + rng.gumbel(size=len(candidates))))])


def dp_bounds(
    x: np.ndarray,
    integer: bool,
    epsilon: float,
    n: int,
    rng: np.random.Generator,
    share: float = TIE_SHARE,
) -> tuple[float, float]:
    """DP ``(low, high)`` of finite values ``x``: two releases of ``epsilon`` each.

    The upper bound comes first; the lower bound is drawn among candidates at most the upper
    one (post-processing of a released value), so ``low <= high`` always.

    Args:
        x: float64 ``[m]`` finite values.
        integer: Integer column (integer candidates).
        epsilon: Epsilon of *each* bound (the pair costs ``2 * epsilon`` in pure DP,
            ``epsilon**2 / 4`` in zCDP).
        n: The public row count (sets :func:`tie_slope`).
        rng: The fit's generator.
        share: :data:`TIE_SHARE`, or :data:`TIE_SHARE_TRIMMED` when a histogram follows.

    Returns:
        ``(low, high)``, floats on the candidate grid, always released.
    """
    grid = candidate_grid(integer)
    slope = tie_slope(n, epsilon, share)
    high = exponential_bound(x, grid, epsilon, True, rng, slope, anchor=0.0)
    # the lower bound's candidates: those up to the upper one, plus one more so that the
    # last one's width is that of the full grid (a public function of the release)
    below = grid[: int(np.searchsorted(grid, high, side="right"))]
    low = exponential_bound(x, below, epsilon, False, rng, slope, anchor=high)
    if not math.isfinite(low) or low > high:  # cannot happen: the grid is finite and filtered
        low = high
    return low, high
