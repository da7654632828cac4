"""Calibration in the large: mean predictions meet the frequencies, only the biases move."""

import numpy as np
import torch

from tabargn import TabularARGN
from tabargn.marginal_calibration import (
    calibrate_marginals,
    calibration_rows,
    mean_predictions,
    row_batches,
)
from tabargn.model import ARGN, ModelConfig


def _network_and_rows(n=3000):
    torch.manual_seed(0)
    config = ModelConfig(
        cardinalities=[5, 3, 12, 4], column_of=[0, 1, 2, 2], position=[0, 0, 0, 1], hidden=16
    )
    net = ARGN(config)
    g = torch.Generator().manual_seed(1)
    # skewed codes: the predictors start far from these frequencies
    codes = torch.stack(
        [torch.multinomial(torch.tensor([0.6, 0.2, 0.1, 0.05, 0.05]), n, True, generator=g)]
        + [torch.randint(0, c, (n,), generator=g) for c in config.cardinalities[1:]],
        dim=1,
    )
    return net, codes


def _tvds(net, codes):
    counts = [
        torch.bincount(codes[:, i], minlength=c) for i, c in enumerate(net.config.cardinalities)
    ]
    predicted, _ = mean_predictions(net, row_batches(codes, 1000))
    return [
        0.5 * float((p - c / c.sum()).abs().sum()) for p, c in zip(predicted, counts, strict=True)
    ]


def test_calibration_matches_frequencies_and_moves_only_biases():
    net, codes = _network_and_rows()
    counts = [torch.bincount(codes[:, i]) for i in range(net.n_sub)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    tvd_before = _tvds(net, codes)
    net.train()
    summary = calibrate_marginals(net, row_batches(codes, 512), counts)
    assert net.training  # the mode is restored
    tvd_after = _tvds(net, codes)
    assert max(tvd_before) > 0.1 and max(tvd_after) < 0.01
    assert summary["rows"] == 3000 and summary["passes"] == 3
    assert summary["mean_tvd"][0] > summary["mean_tvd"][-1]
    for k, v in net.state_dict().items():
        if k.startswith("pred_biases"):
            continue
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)  # dependencies untouched
    assert any(not torch.equal(net.state_dict()[k], before[k]) for k in before if "pred_b" in k)


def test_calibration_without_rows_changes_nothing():
    net, codes = _network_and_rows()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    counts = [torch.bincount(codes[:, i]) for i in range(net.n_sub)]
    summary = calibrate_marginals(net, row_batches(codes[:0], 512), counts)
    assert summary["passes"] == 0
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])


def test_calibration_rows_all_or_a_seeded_subset():
    np.testing.assert_array_equal(calibration_rows(10, seed=0), np.arange(10))
    a = calibration_rows(1000, seed=3, max_rows=100)
    assert len(a) == 100 and len(np.unique(a)) == 100 and (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, calibration_rows(1000, seed=3, max_rows=100))
    assert not np.array_equal(a, calibration_rows(1000, seed=4, max_rows=100))


def test_fit_records_its_calibration(adult_small):
    model = TabularARGN(random_state=0, max_epochs=3, verbose=0).fit(adult_small)
    summary = model.training_["marginal_calibration"]
    assert summary["passes"] == 3 and 0 < summary["rows"] <= len(adult_small)
    assert summary["mean_tvd"][-1] < summary["mean_tvd"][0]
