"""DP bounds by the exponential mechanism (tabargn.dp_bounds) and the weighted statistics
budget (StatisticsBudget.plan): always released, on the public grid, reproducible, DP by the
exact output distribution, and the accounting adds up to at most the budget."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tabargn.dp_bounds import (
    bound_logits,
    bound_scores,
    candidate_grid,
    dp_bounds,
    tie_slope,
)
from tabargn.dp_statistics import StatisticsBudget, dp_numeric, zcdp_rho


def _log_probs(x, grid, eps, upper, slope, anchor=0.0):
    logits = bound_logits(x, grid, eps, upper, slope, anchor)
    return logits - np.logaddexp.reduce(logits)


@pytest.mark.parametrize("integer", [True, False])
def test_bounds_always_release_on_the_grid(integer):
    grid = candidate_grid(integer)
    assert np.all(np.diff(grid) > 0) and 0.0 in grid
    rng = np.random.default_rng(0)
    for x in (np.array([]), np.array([7.0]), rng.normal(50, 5, 30), -rng.exponential(1e6, 40)):
        for eps in (1e-4, 0.05, 5.0):
            low, high = dp_bounds(x, integer, eps, max(len(x), 1), rng)
            assert math.isfinite(low) and math.isfinite(high) and low <= high
            assert low in grid and high in grid


def test_bounds_are_accurate_with_budget_and_reproducible():
    x = np.random.default_rng(1).integers(1871, 2008, 1000).astype(float)
    lows, highs = [], []
    for seed in range(20):
        low, high = dp_bounds(x, True, 1.0, len(x), np.random.default_rng(seed))
        lows.append(low)
        highs.append(high)
    assert 1790 <= min(lows) and max(lows) <= x.min()  # just below the data, not 0
    assert x.max() <= min(highs) and max(highs) <= 2150
    again = [dp_bounds(x, True, 1.0, len(x), np.random.default_rng(s)) for s in range(20)]
    assert again == list(zip(lows, highs, strict=True))
    counts = np.r_[np.zeros(300), np.random.default_rng(2).integers(1, 160, 700)]
    low, high = dp_bounds(counts, True, 0.05, len(counts), np.random.default_rng(3))
    assert low == 0 and 100 <= high <= 400  # zero-inflated counts start at 0


@pytest.mark.parametrize("upper", [True, False])
def test_exponential_mechanism_is_epsilon_dp_exactly(upper):
    # the exact output distributions of neighbouring data (one row added, at an extreme or
    # inside) differ by at most a factor exp(epsilon) on every candidate
    grid = candidate_grid(False)
    rng = np.random.default_rng(4)
    x = rng.normal(100, 20, 200)
    eps, slope = 0.3, tie_slope(200, 0.3)
    base = _log_probs(x, grid, eps, upper, slope, anchor=150.0)
    for extra in (-1e9, 0.0, 100.0, 1e12):
        other = _log_probs(np.r_[x, extra], grid, eps, upper, slope, anchor=150.0)
        assert np.max(np.abs(base - other)) <= eps + 1e-9
        # bounded range (epsilon**2 / 8 zCDP): the loss spans an interval of length epsilon
        loss = base - other
        assert loss.max() - loss.min() <= eps + 1e-9


def test_scores_match_opendp_quantile_scores():
    dp = pytest.importorskip("opendp.prelude")
    dp.enable_features("contrib")
    x = np.random.default_rng(5).integers(0, 50, 300).astype(float)
    grid = candidate_grid(True)
    grid = grid[(grid >= -4) & (grid <= 80)]
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    for alpha, upper in ((1.0, True), (0.0, False)):
        t = dp.t.make_quantile_score_candidates(
            domain, dp.symmetric_distance(), candidates=[float(c) for c in grid], alpha=alpha
        )
        assert t.map(1) == 1  # sensitivity 1 under adding or removing a row
        ours = bound_scores(x, grid, upper)
        np.testing.assert_array_equal(-ours, np.asarray(t(list(x)), dtype=np.int64))


@pytest.mark.parametrize(
    "kinds",
    [
        ["numeric"] * 20 + ["categorical"] * 2,
        ["numeric"],
        ["categorical"] * 3,
        ["datetime", "numeric", "categorical"],
        ["numeric"] * 6 + ["categorical"] * 9,
    ],
)
@pytest.mark.parametrize("n", [100, 1000, 50_000])
def test_plan_never_exceeds_the_budget(kinds, n):
    budget = StatisticsBudget(1.0, 5e-6)
    plans, acc = budget.plan(kinds, n)
    cats = [p for p, k in zip(plans, kinds, strict=True) if k == "categorical"]
    nums = [p for p, k in zip(plans, kinds, strict=True) if k != "categorical"]
    eps_cat = sum(p.epsilon for p in cats)
    assert sum(p.delta for p in cats) <= budget.delta * (0.5 if nums else 1.0) + 1e-18
    if acc["numeric_composition"] == "basic":
        used = sum(2 * p.bound + p.histogram + p.timed for p in nums)
        assert all(p.nulls <= p.epsilon + 1e-12 for p in nums)  # parallel to the rest
        eps_num = used
    else:
        rho = sum(2 * p.bound**2 / 8 + p.histogram**2 / 2 + p.timed**2 / 2 for p in nums)
        assert all(p.nulls**2 / 2 <= rho / len(nums) + 1e-12 for p in nums)
        assert rho <= zcdp_rho(acc["numeric_epsilon"], acc["numeric_delta"]) + 1e-12
        eps_num = acc["numeric_epsilon"]
    assert eps_cat + eps_num <= budget.epsilon + 1e-9
    if cats and nums:  # a categorical column weighs twice a numeric one without histograms
        ratio = 1 if nums[0].histogram > 0 else 2
        assert cats[0].epsilon == pytest.approx(ratio * nums[0].epsilon)


def test_many_columns_use_zcdp_and_gain_per_release():
    budget = StatisticsBudget(1.0, 5e-6)
    plans, acc = budget.plan(["numeric"] * 20, 982)
    assert acc["numeric_composition"] == "zcdp"
    assert plans[0].bound > 1.0 / 20 / 2 * 1.5  # well above the even basic split
    _, few = budget.plan(["numeric"], 982)
    assert few["numeric_composition"] == "basic"


def test_dp_numeric_always_releases_a_range():
    # 982 rows at a per-column epsilon of 0.03: the thresholded log histogram kept nothing
    rng = np.random.default_rng(6)
    values = pd.Series(np.r_[rng.integers(0, 170, 950), [np.nan] * 32])
    plans, _ = StatisticsBudget(0.6, 1e-6).plan(["numeric"] * 18, len(values))
    stats, release = dp_numeric(values, True, plans[0], np.random.default_rng(7))
    # usable, not exact: at this budget the tie prior may cut the lowest few percent
    assert not stats.get("protected") and stats["min"] <= 40 and stats["max"] >= 100
    assert len(release.values) and release.weights.sum() > 0
