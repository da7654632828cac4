"""Differentially private encoding statistics: what the codec learns from the data under DP.

With ``differential_privacy`` on, every statistic the encoders read from the training rows is
released by a DP mechanism, so the reported epsilon covers the whole model, not only the
network weights (the design of mostlyai-engine's ``value_protection_epsilon``, made stricter
here: categories are selected with a threshold calibrated to delta, and the quantile bins are
DP too). The statistics budget ``(epsilon_s, delta_s)`` of a table is split over its modelled
columns by :meth:`StatisticsBudget.plan`: weighted by what each kind needs (:data:`WEIGHTS`:
a categorical column twice a numeric one), categorical selections by basic composition (Dwork
and Roth 2014, theorem 3.16: one row touches every column once), the numeric and datetime
releases (all pure DP) by zCDP when that gives each more (Bun and Steinke 2016; with 18
numeric columns about 2.5 times the epsilon per release); inside a column:

* **Categorical: noisy category selection** ("Laplace threshold", the stability-based
  histogram of Korolova et al. 2009 and Bun, Nissim and Stemmer 2016; unknown-domain analysis
  of Rogers 2023): every distinct value's count gets Laplace noise of scale ``1 / epsilon_c``
  and is kept when the noisy count reaches a threshold ``tau``, chosen so that a value held by
  one row survives with probability at most ``delta_c``. The kept values' noisy counts are
  stored; every other value encodes to RARE. ``tau`` comes from OpenDP's proof-backed privacy
  map of ``make_laplace_threshold`` (a binary search on it), never from a formula typed here.
* **Numeric: DP bounds, then (budget permitting) DP quantile bins.** The bounds are the DP
  minimum and maximum by the exponential mechanism over a public grid of signed powers of two
  (:mod:`tabargn.dp_bounds`; Smith 2011, OpenDP's quantile scores): they are *always*
  released, a small budget makes them looser, never absent. (They were SmartNoise's
  ``approx_bounds`` before, as in mostlyai-engine: a thresholded noisy log histogram, which
  released nothing for 17 of baseball's 21 event columns at its per-column epsilon of 0.03,
  so those columns came out all missing; ``benchmarks/dp_diagnose.py``.) When
  ``n * bound_epsilon`` reaches :data:`HISTOGRAM_SIGNAL`, a share releases a Laplace-noised
  histogram on a public grid between the bounds (its cell count adapts to ``n * epsilon``);
  the ordinary numeric reduce cuts its quantile bins from that noisy distribution (mass spread
  evenly inside each cell). Below it, or when no cell clears its noise, the bins are even
  between the bounds (post-processing: the network learns the shape). Bins, atoms and the
  discrete mode are post-processing either way. Integer columns (by dtype, public) keep
  integer grids; float columns are decoded without a detected decimal grid (detecting one
  reads the raw values).
* **Datetime:** the bounds and bins as for numbers (in days), a noisy count deciding whether
  times of day vary (else dates only); sub-second parts are not modelled under DP.
* **Sequence lengths** are a numeric column of the entity table and get DP bounds and bins the
  same way (one row per entity). Event columns of sequential tables count one randomly chosen
  event per entity, so one entity changes each count by at most one.

Structural facts are treated as public, not released: the column names and dtypes, the number
of rows (opacus makes the same assumption for the sampling rate). Whether a column has missing
values is a noisy count too; it counts the rows the other releases of the column do not see
(parallel composition), so it costs no share of its own.

Library choice: **OpenDP** (0.16) calibrates the thresholds: its privacy maps carry published
proofs, which is what matters in a threshold. The noise itself is drawn from the fit's seeded
NumPy generator, so ``random_state`` still reproduces a fit; OpenDP's samplers are
cryptographically seeded and cannot be. Like opacus without ``secure_mode`` this does not resist
an attacker exploiting floating-point noise sampling (Mironov 2012). IBM's diffprivlib (0.6.6)
was the other candidate; it fails to import with scikit-learn 1.9 (``sklearn.tree._tree.DOUBLE``
is gone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabargn.dp_bounds import TIE_SHARE, TIE_SHARE_TRIMMED, dp_bounds
from tabargn.encoding import categorical, datetime, numeric
from tabargn.errors import OptionalDependencyError
from tabargn.schema import keep_spec_categories, to_kind

__all__ = [
    "StatisticsBudget",
    "require_opendp",
    "laplace_threshold",
    "ColumnBudget",
    "zcdp_rho",
    "dp_categorical",
    "dp_numeric",
    "dp_datetime",
    "reduce_column_dp",
    "is_integer_column",
    "Release",
    "sample_releases",
]

MAX_CELLS = 512
"""Most cells of the noisy histogram the quantile bins are cut from."""
MIN_CELLS = 4
ROWS_PER_NOISE = 20.0
"""Expected rows per cell, in units of the noise scale: ``cells = n * eps / ROWS_PER_NOISE``."""
POINTS_PER_CELL = 32
"""A cell's noisy mass is spread over this many evenly spaced points (fewer for integers)."""


def require_opendp():
    """Imports ``opendp.prelude`` with the ``contrib`` features, or raises a typed error."""
    try:
        import opendp.prelude as dp
    except ImportError:
        raise OptionalDependencyError(
            'differential_privacy needs the optional opendp package: pip install "tabargn[dp]"'
        ) from None
    dp.enable_features("contrib")
    return dp


@dataclass(frozen=True)
class ColumnBudget:
    """What one column's DP release may spend (see :meth:`StatisticsBudget.plan`).

    Attributes:
        epsilon: The column's share of the table's epsilon (before the zCDP saving).
        delta: Delta of a categorical selection (0 for the other kinds).
        bound: Epsilon of each of the two bounds (:func:`tabargn.dp_bounds.dp_bounds`).
        histogram: Epsilon of the noisy histogram the quantile bins are cut from; 0: no
            histogram, the bins are even between the bounds (the network learns the shape).
        nulls: Epsilon of the noisy count of missing values (parallel to the rest).
        timed: Epsilon of a datetime column's count of values with a time of day.
    """

    epsilon: float
    delta: float = 0.0
    bound: float = 0.0
    histogram: float = 0.0
    nulls: float = 0.0
    timed: float = 0.0


WEIGHTS = {"categorical": 2.0, "numeric": 1.0, "datetime": 1.0}
# numeric and datetime weights double when the table can afford histograms (plan)
"""Share of the table's statistics epsilon per column kind, by what each needs. A category
holding a share ``p`` of ``n`` rows survives the selection when ``epsilon p n`` clears about
``log(1 / delta)`` (14-17 at the usual deltas); a DP bound misses by about ``log(K) / epsilon``
rows (``K`` candidates, about 8) and the network learns the shape inside it, so a
categorical column needs about twice a numeric one's epsilon for a comparable result (on
baseball's 982 entities, ``lg``'s two leagues need about 0.03 each, the bounds 0.03 per
column). The quantile histogram and the time-of-day count come out of a numeric share."""
HISTOGRAM_SIGNAL = 200.0
"""A numeric column gets a noisy quantile histogram when ``n * bound_epsilon`` reaches this
(``n`` public): below it, the histogram's cells would sink in noise and the share goes to
the bounds."""


def zcdp_rho(epsilon: float, delta: float) -> float:
    """Largest zCDP ``rho`` that converts to ``(epsilon, delta)``-DP (Bun and Steinke 2016,
    proposition 1.3: ``epsilon = rho + 2 sqrt(rho log(1 / delta))``, solved for ``rho``)."""
    log = math.log(1.0 / delta)
    return (math.sqrt(log + epsilon) - math.sqrt(log)) ** 2


@dataclass(frozen=True)
class StatisticsBudget:
    """The DP budget of one table's encoding statistics.

    Attributes:
        epsilon: Total epsilon of the table's statistics.
        delta: Total delta (categorical selections, and the zCDP conversion of the numeric
            releases).
    """

    epsilon: float
    delta: float

    def plan(self, kinds: list[str], n: int) -> tuple[list[ColumnBudget], dict]:
        """Splits the budget over a table's modelled columns, weighted by what each needs.

        1. Epsilon goes to the categorical and the numeric/datetime columns in proportion to
           :data:`WEIGHTS` (one selection; two bounds); delta in halves when both kinds are
           present (categorical selections; the numeric releases' zCDP conversion).
        2. Categorical columns split their part evenly (basic composition, Dwork and Roth
           2014, theorem 3.16), each with ``delta / n_categorical``.
        3. Numeric and datetime columns split theirs by the better of two accountings: basic
           composition, or zCDP (every numeric release is pure DP: a bound of ``eps`` is
           ``eps**2 / 8``-zCDP, a Laplace count ``eps**2 / 2``-zCDP; zCDP composes by adding
           ``rho``, Bun and Steinke 2016, and the total ``rho`` converts back to
           ``(epsilon_numeric, delta_numeric)``). With many columns zCDP gives each release
           about ``sqrt(columns)`` times more epsilon. The missing-value count uses the whole
           column share (it counts rows the other releases do not see: parallel composition).

        Args:
            kinds: The modelled columns' kinds.
            n: The table's row count (public).

        Returns:
            ``(budgets, accounting)``: one :class:`ColumnBudget` per column and a summary
            (``"numeric_composition"``: ``"basic"`` or ``"zcdp"``, the parts' epsilons).
        """
        budgets, composition, eps_cat, eps_num, delta_num = self._split(kinds, n, 1.0)
        if any(b.histogram > 0 for b in budgets):  # numeric columns need a histogram too
            budgets, composition, eps_cat, eps_num, delta_num = self._split(kinds, n, 2.0)
        accounting = {
            "categorical_epsilon": eps_cat,
            "numeric_epsilon": eps_num,
            "numeric_delta": delta_num,
            "numeric_composition": composition,
        }
        return budgets, accounting

    def _split(self, kinds, n, numeric_factor):
        """Column budgets with the numeric weights times ``numeric_factor``."""
        weights = [
            WEIGHTS.get(k, 1.0) * (1 if k == "categorical" else numeric_factor) for k in kinds
        ]
        total = sum(weights) or 1.0
        cats = [i for i, k in enumerate(kinds) if k == "categorical"]
        nums = [i for i, k in enumerate(kinds) if k != "categorical"]
        eps_cat = self.epsilon * sum(weights[i] for i in cats) / total
        eps_num = self.epsilon - eps_cat
        delta_cat = self.delta / 2 if nums else self.delta
        delta_num = (self.delta - delta_cat if cats else self.delta) if nums else 0.0
        budgets: list[ColumnBudget | None] = [None] * len(kinds)
        for i in cats:
            budgets[i] = ColumnBudget(eps_cat / len(cats), delta_cat / len(cats))
        composition = "basic"
        if nums:
            col_eps = eps_num / len(nums)
            rho = zcdp_rho(eps_num, delta_num) / len(nums)
            # one accounting for the whole table (mixing them would not add up): the one
            # giving a column's two bounds more epsilon
            composition = "zcdp" if math.sqrt(8 * rho / 2) > col_eps / 2 else "basic"
            for i in nums:
                extra = 1 if kinds[i] == "datetime" else 0  # the time-of-day count
                budgets[i] = _numeric_budget(col_eps, rho, composition, 2 + extra, extra, n)
        return budgets, composition, eps_cat, eps_num, delta_num


def _numeric_budget(col_eps, rho, composition, n_parts, timed, n) -> ColumnBudget:
    """A numeric/datetime column's releases (bounds, optional histogram, counts), each an
    equal part of the column's ``col_eps`` (basic) or ``rho`` (zCDP); a histogram takes two
    parts (it gives the bins their shape: on Adult a third of the column left the quantile
    bins coarser than the thresholded log histogram's)."""

    def split(parts):
        if composition == "basic":  # pure releases adding up to col_eps
            share = col_eps / parts
            return share, share, col_eps
        return math.sqrt(8 * rho / parts), math.sqrt(2 * rho / parts), math.sqrt(2 * rho)

    bound, laplace, nulls = split(n_parts)
    histogram = 0.0
    if n * bound >= HISTOGRAM_SIGNAL:
        bound, laplace, nulls = split(n_parts + 2)
        histogram = laplace * math.sqrt(2) if composition == "zcdp" else 2 * laplace
    return ColumnBudget(col_eps, 0.0, bound, histogram, nulls, laplace if timed else 0.0)


# ====================================================================== mechanisms
def laplace_threshold(scale: float, delta: float) -> float:
    """Smallest threshold with which noisy-count selection has failure probability ``delta``.

    Uses OpenDP's privacy map of ``make_laplace_threshold`` for one row added or removed (one
    count changes by one), searched by bisection on the threshold.

    Args:
        scale: Laplace scale of the count noise (``1 / epsilon``).
        delta: Target delta, in (0, 1).

    Returns:
        The threshold ``tau`` (a float, counts below it are not released).
    """
    dp = require_opendp()
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=float, nan=False))
    metric = dp.l01inf_distance(dp.absolute_distance(T=float))

    def delta_of(tau: float) -> float:
        m = dp.m.make_laplace_threshold(domain, metric, scale=float(scale), threshold=float(tau))
        return float(m.map((1, 1.0, 1.0))[1])

    low, high = 1.0, 2.0 + scale * 2.0
    while delta_of(high) > delta:
        low, high = high, high * 2
    for _ in range(40):
        mid = (low + high) / 2
        if delta_of(mid) > delta:
            low = mid
        else:
            high = mid
    return high


def _noisy_cells(x, lo, hi, integer, epsilon, rng):
    """Noisy histogram of ``x`` on a public grid in ``[lo, hi]``: ``(points, weights, span)``.

    The grid has ``n * epsilon / ROWS_PER_NOISE`` cells (clamped to ``MIN_CELLS..MAX_CELLS``,
    ``n`` being public); cells at either end whose noisy count is below ``log(cells)`` noise
    scales are trimmed, negative counts become zero, and each cell's mass is spread evenly over
    points inside it (its integers for integer columns).
    """
    n_cells = int(np.clip(len(x) * epsilon / ROWS_PER_NOISE, MIN_CELLS, MAX_CELLS))
    if integer:
        lo, hi = math.floor(lo), math.ceil(hi)
        n_cells = min(n_cells, hi - lo + 1)
        edges = np.unique(np.round(np.linspace(lo, hi + 1, n_cells + 1)))
    else:
        edges = np.linspace(lo, hi, n_cells + 1)
    n_cells = len(edges) - 1
    counts, _ = np.histogram(np.clip(x, edges[0], edges[-1]), bins=edges)
    noisy = counts + rng.laplace(0.0, 1.0 / epsilon, size=n_cells)
    cut = math.log(max(n_cells, 2)) / epsilon
    strong = np.nonzero(noisy >= cut)[0]
    if not len(strong):
        return np.array([]), np.array([]), None
    first, last = strong[0], strong[-1]
    points, weights = [], []
    for i in range(first, last + 1):
        mass = max(float(noisy[i]), 0.0)
        if integer:
            inside = np.arange(edges[i], edges[i + 1])
            if len(inside) > POINTS_PER_CELL:
                inside = np.unique(
                    np.round(np.linspace(edges[i], edges[i + 1] - 1, POINTS_PER_CELL))
                )
        else:
            inside = edges[i] + (edges[i + 1] - edges[i]) * (np.arange(POINTS_PER_CELL) + 0.5) / (
                POINTS_PER_CELL
            )
        points.append(inside)
        weights.append(np.full(len(inside), mass / len(inside)))
    span = (float(edges[first]), float(edges[last + 1]))
    return np.concatenate(points), np.concatenate(weights), span


def is_integer_column(column: pd.Series) -> bool:
    """Whether a column's dtype holds integers (or booleans): public, it is the schema."""
    dtype = column.dtype
    return bool(pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))


RARE_SENTINEL = "\x00tabargn-removed"
"""Stands for every value the selection removed (it encodes to RARE)."""


@dataclass
class Release:
    """The noisy distribution a column's DP stats were cut from (DP: post-processing is free).

    Not saved with the model: it initializes the network's output biases
    (:func:`sample_releases`), as the non-private fit does from the data.

    Attributes:
        values: Values (categories, numeric points, timestamps).
        weights: Their noisy, non-negative masses, ``[len(values)]``.
        nulls: The noisy count of missing values (clipped at 0).
    """

    values: list
    weights: np.ndarray
    nulls: float


def sample_releases(releases: dict, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows drawn column by column from the released distributions (independently).

    Encoded by the codec, they give the network's initial marginals
    (:meth:`tabargn.model.ARGN.init_marginals`) without reading the data again.
    """
    out = {}
    for name, r in releases.items():
        weights = np.r_[np.asarray(r.weights, dtype=np.float64), r.nulls]
        if weights.sum() <= 0:
            weights = np.ones(len(weights))
        pick = rng.choice(len(weights), size=n, p=weights / weights.sum())
        column = np.empty(n, dtype=object)
        values = np.empty(len(r.values) + 1, dtype=object)
        values[: len(r.values)] = r.values
        values[-1] = None
        column[:] = values[pick]
        out[name] = column
    return pd.DataFrame(out)


# ====================================================================== per kind
def dp_categorical(
    values: pd.Series, epsilon: float, delta: float, rng: np.random.Generator, placeholder: str
) -> dict:
    """Categorical stats by noisy category selection (see the module docstring)."""
    partial = categorical.analyze(values)
    scale = 1.0 / epsilon
    tau = laplace_threshold(scale, delta)
    counts = np.asarray(partial["counts"], dtype=np.float64)
    noisy = counts + rng.laplace(0.0, scale, size=len(counts))
    keep = noisy >= tau
    has_null, nulls = _noisy_nulls(partial["n_null"], epsilon, rng)
    selected = {
        "n_null": has_null,
        "values": [v for v, k in zip(partial["values"], keep, strict=True) if k],
        "counts": [int(round(c)) for c in noisy[keep]],
    }
    stats = categorical.reduce(
        [selected], value_protection=False, rng=rng, placeholder=placeholder, selected=True
    )
    stats["dp"] = {"epsilon": epsilon, "delta": delta, "threshold": tau}
    kept = noisy[keep].clip(min=0)
    rest = max(len(values) - kept.sum() - nulls, 0.0)  # the row count is public
    release = Release([*selected["values"], RARE_SENTINEL], np.r_[kept, rest], nulls)
    return stats, release


NULL_CUT = 3.0
"""A column is released as having missing values when its noisy count of them clears
``NULL_CUT / epsilon`` noise scales: a column without any gets a spurious missing code (and a
nullable dtype in samples) with probability ``exp(-3) / 2``, about 1/40; a stricter cut
would lose the missing code of columns with a few percent missing (baseball's ``so``)."""


def _noisy_nulls(n_null: int, epsilon: float, rng: np.random.Generator) -> tuple[int, float]:
    """``(1 when a Laplace-noised count of missing values clears NULL_CUT / epsilon else 0, the
    noisy count clipped at 0)``.

    Missing values are one more cell of the column's noisy histogram (a row is missing or has a
    value), so the count costs no extra epsilon (parallel composition); the candidate is
    public, so any cut is valid.
    """
    noisy = n_null + rng.laplace(0.0, 1.0 / epsilon)
    return int(noisy >= NULL_CUT / epsilon), max(float(noisy), 0.0)


def _share(budget: ColumnBudget) -> float:
    """The bounds' tie share: looser when a histogram follows and trims its empty ends."""
    return TIE_SHARE_TRIMMED if budget.histogram > 0 else TIE_SHARE


def _even_points(lo: float, hi: float, integer: bool) -> np.ndarray:
    """Evenly spaced points on ``[lo, hi]`` (its integers, at most 257, for integer columns)."""
    if integer:
        lo, hi = math.floor(lo), math.ceil(hi)
        if hi - lo + 1 <= 257:
            return np.arange(lo, hi + 1, dtype=np.float64)
        return np.unique(np.round(np.linspace(lo, hi, 257)))
    return np.linspace(lo, hi, 257) if hi > lo else np.array([lo])


def _released_points(x, lo, hi, integer, budget: ColumnBudget, n_values, rng):
    """``(points, weights, span)`` the bins are cut from: the noisy histogram between the DP
    bounds when the budget has one and a cell clears its noise, else even points between the
    bounds with even weights summing to ``n_values`` (post-processing: no data read)."""
    if budget.histogram > 0:
        points, weights, span = _noisy_cells(x, lo, hi, integer, budget.histogram, rng)
        if len(points) and weights.sum() > 0:
            return points, weights, span
    points = _even_points(lo, hi, integer)
    weights = np.full(len(points), max(n_values, 1.0) / len(points))
    return points, weights, (float(points[0]), float(points[-1]))


def dp_numeric(
    values: pd.Series, integer: bool, budget: ColumnBudget, rng: np.random.Generator
) -> dict:
    """Numeric stats from DP bounds and, budget permitting, a DP histogram (module docstring).

    Always releases a range (:func:`tabargn.dp_bounds.dp_bounds`); the column comes out all
    missing only when its noisy count of values says it has none.
    """
    x = values.to_numpy(dtype=np.float64, na_value=np.nan)
    n = len(x)
    n_null, nulls = _noisy_nulls(int(np.isnan(x).sum()), budget.nulls, rng)
    x = x[np.isfinite(x)]
    lo, hi = dp_bounds(x, integer, budget.bound, n, rng, _share(budget))
    points, weights, _ = _released_points(x, lo, hi, integer, budget, n - nulls, rng)
    keep = weights > 0
    partial = {
        "n": int(max(round(n - nulls), 1)),
        "n_null": n_null,
        "decimals": 0 if integer else None,
        "gcd": 1,
        "values": numeric.plain_values(points[keep], integer),
        "weights": [float(w) for w in weights[keep]],
    }
    stats = numeric.reduce([partial], value_protection=False, rng=rng)
    stats["dp"] = _spent(budget)
    return stats, Release(list(points[keep]), weights[keep], nulls)


def _spent(budget: ColumnBudget) -> dict:
    return {
        "epsilon": budget.epsilon,
        "bound_epsilon": budget.bound,
        "histogram_epsilon": budget.histogram,
    }


_DAY_NS = 86_400 * 10**9


def dp_datetime(values: pd.Series, budget: ColumnBudget, rng: np.random.Generator) -> dict:
    """Datetime stats from DP bounds (in days), a DP histogram when the budget has one, and a
    noisy count deciding whether times of day vary."""
    ns, null, tz = datetime._to_ns(values)
    n = len(ns)
    n_null, nulls = _noisy_nulls(int(null.sum()), budget.nulls, rng)
    ns = ns[~null]
    days = ns / _DAY_NS
    lo, hi = dp_bounds(days, False, budget.bound, n, rng, _share(budget))
    points, weights, span = _released_points(days, lo, hi, False, budget, n - nulls, rng)
    lo_ns = int(math.floor(span[0] * 86_400)) * 10**9
    hi_ns = int(math.ceil(span[1] * 86_400)) * 10**9
    timed = float(np.count_nonzero(ns % _DAY_NS)) + rng.laplace(0.0, 1.0 / budget.timed)
    varies = timed >= math.log(2) / budget.timed + 1
    parts = {name: [datetime._BASE[name], datetime._LAST[name]] for name in ("month", "day")}
    for name in ("hour", "minute", "second"):
        parts[name] = [0, datetime._LAST[name] if varies else 0]
    parts.update({name: [0, 0] for name in ("ms", "us", "ns")})
    partial = {
        "n": int(max(round(n - nulls), 1)),
        "n_null": n_null,
        "tz": tz,
        "low": [lo_ns],
        "high": [hi_ns],
    }
    stats = datetime.reduce([partial | {"parts": parts}], value_protection=False, rng=rng)
    stats["dp"] = _spent(budget)
    stamps = pd.to_datetime(np.round(points * _DAY_NS).astype(np.int64))
    if tz is not None:
        stamps = stamps.tz_localize("UTC").tz_convert(tz)
    return stats, Release(list(stamps), weights, nulls)


def reduce_column_dp(
    spec,
    values: pd.Series,
    *,
    integer: bool,
    budget: ColumnBudget,
    rng: np.random.Generator,
    placeholder: str = categorical.RARE_PLACEHOLDER,
) -> dict:
    """The DP stats of one modelled column.

    Args:
        spec: The column's :class:`tabargn.dtypes.ColumnSpec` (``kind`` picks the mechanism).
        values: The column converted to its kind (:func:`tabargn.conversion.to_kind`).
        integer: Whether the column's dtype holds integers (public: the schema).
        budget: The column's :class:`ColumnBudget` (:meth:`StatisticsBudget.plan`).
        rng: The fit's random generator (the noise).
        placeholder: Output of a categorical column with no selected category.

    Returns:
        ``(stats, release)``: stats in the format of the kind's ``reduce`` plus ``"dp"`` (what
        was spent), and the noisy distribution they were cut from (:class:`Release`).
    """
    if spec.kind == "categorical":
        return dp_categorical(values, budget.epsilon, budget.delta, rng, placeholder)
    if spec.kind == "numeric":
        return dp_numeric(values, integer, budget, rng)
    return dp_datetime(values, budget, rng)


def release_columns(
    df: pd.DataFrame, specs: list, budget, rng: np.random.Generator, placeholder: str
) -> tuple[dict, dict]:
    """DP stats of every modelled column, the budget split by :meth:`StatisticsBudget.plan`.

    Args:
        df: The training table.
        specs: The modelled columns' :class:`tabargn.dtypes.ColumnSpec`; a ``category``
            column's spec keeps only the released categories.
        budget: The :class:`StatisticsBudget`.
        rng: The fit's random generator (the noise).
        placeholder: Output of a categorical column with no selected category.

    Returns:
        ``(stats, releases)``: column -> stats, column -> :class:`Release`.
    """
    stats, releases = {}, {}
    plans, _ = budget.plan([s.kind for s in specs], len(df))
    for spec, column_budget in zip(specs, plans, strict=True):
        values = to_kind(df[spec.name], spec.kind, spec.name, spec)
        stats[spec.name], releases[spec.name] = reduce_column_dp(
            spec,
            values.reset_index(drop=True),
            integer=is_integer_column(df[spec.name]),
            budget=column_budget,
            rng=rng,
            placeholder=placeholder,
        )
        if spec.kind == "categorical":
            keep_spec_categories(spec, stats[spec.name])
    return stats, releases
