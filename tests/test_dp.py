"""Differentially private training (DP-SGD): per-sample gradients, clipping, accounting, fit."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
import torch

from tabargn import TabularARGN
from tabargn.dp_sgd import (
    DPConfig,
    _epsilon,
    _max_steps,
    clipped_gradient_sum,
    per_sample_gradients,
)
from tabargn.errors import InvalidDataError, OptionalDependencyError, TabargnError
from tabargn.model import ARGN, ModelConfig


def _network(n_layers: int = 2, seed: int = 0) -> tuple[ARGN, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    config = ModelConfig(
        cardinalities=[3, 5, 2, 17, 4, 70],
        column_of=[0, 1, 1, 2, 3, 4],
        position=[0, 0, 1, 0, 0, 0],
        hidden=16,
        n_layers=n_layers,
    )
    network = ARGN(config)
    codes = torch.stack([torch.randint(0, c, (12,)) for c in config.cardinalities], dim=1)
    return network, codes, network.random_visibility(codes.shape[0])


@pytest.mark.parametrize("n_layers", [1, 2])
def test_per_sample_gradients_equal_single_row_gradients(n_layers):
    network, codes, visible = _network(n_layers)
    grads = per_sample_gradients(network, codes, visible)
    assert set(grads) == {name for name, _ in network.named_parameters()}
    for row in range(codes.shape[0]):
        network.zero_grad()
        network.loss(codes[row : row + 1], visible[row : row + 1]).backward()
        for name, p in network.named_parameters():
            torch.testing.assert_close(grads[name][row], p.grad, atol=1e-6, rtol=1e-4)


def test_clipping_bounds_each_rows_contribution():
    network, codes, visible = _network()
    max_norm = 0.5
    per_row = per_sample_gradients(network, codes, visible)
    full, norms = clipped_gradient_sum(network, codes, visible, max_norm)
    flat = torch.cat([g.flatten(1) for g in per_row.values()], dim=1)
    torch.testing.assert_close(norms, flat.norm(dim=1), rtol=1e-4, atol=1e-6)
    assert (norms > max_norm).any(), "the test should clip some rows"
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for name, g in per_row.items():
        expected = (g * scale.view(-1, *[1] * (g.dim() - 1))).sum(0)
        torch.testing.assert_close(full[name], expected, atol=1e-6, rtol=1e-4)
    # removing any one row changes the clipped sum by at most max_norm (the sensitivity)
    for row in range(codes.shape[0]):
        keep = torch.arange(codes.shape[0]) != row
        rest, _ = clipped_gradient_sum(network, codes[keep], visible[keep], max_norm)
        diff = torch.cat([(full[n] - rest[n]).flatten() for n in full])
        assert float(diff.norm()) <= max_norm * (1 + 1e-4)


def test_dp_config_validation():
    assert DPConfig.from_param(True) == DPConfig()
    assert DPConfig.from_param({"max_epsilon": 2.0}).max_epsilon == 2.0
    for bad in (
        {"epsilon": 1.0},
        {"max_epsilon": -1.0},
        {"delta": 1.5},
        {"max_grad_norm": 0},
        {"max_epsilon": None, "noise_multiplier": None},
        "yes",
    ):
        with pytest.raises(InvalidDataError):
            DPConfig.from_param(bad)


def test_missing_opacus_is_a_typed_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)  # makes `import opacus` fail
    df = pd.DataFrame({"a": list("xyxy") * 5, "b": range(20)})
    model = TabularARGN(differential_privacy={"max_epsilon": 1.0}, verbose=0)
    with pytest.raises(OptionalDependencyError, match=r"tabargn\[dp\]") as info:
        model.fit(df)
    assert isinstance(info.value, ImportError) and isinstance(info.value, TabargnError)


def test_budget_limits_the_steps():
    pytest.importorskip("opacus")
    steps = _max_steps(1.0, 0.05, 1e-5, 2.0, 10_000)
    assert 0 < steps < 10_000
    assert _epsilon(1.0, 0.05, steps, 1e-5) <= 2.0 < _epsilon(1.0, 0.05, steps + 1, 1e-5)


def test_dp_fit_reports_epsilon_and_samples(adult, tmp_path):
    pytest.importorskip("opacus")
    df = adult.sample(n=2000, random_state=3).reset_index(drop=True)
    target = 4.0
    model = TabularARGN(
        model_size="small",
        max_epochs=1,
        random_state=0,
        verbose=0,
        differential_privacy={"max_epsilon": target, "delta": 1e-5},
    ).fit(df)
    t = model.training_
    assert t["differential_privacy"] and t["delta"] == 1e-5 and t["accountant"] == "rdp"
    assert 0.9 * target <= t["epsilon"] <= target
    assert t["n_train_rows"] == len(df) and t["steps"] == round(1 / t["sample_rate"])
    synthetic = model.sample(n_samples=300)
    assert list(synthetic.columns) == list(df.columns)
    # same dtypes, except that DP may flag a complete integer column as having missing values
    # (a noisy count past 3 noise scales, about 1 column in 40): then it comes back nullable
    for name in df.columns:
        got, want = synthetic[name].dtype, df[name].dtype
        assert got == want or (
            pd.api.types.is_integer_dtype(want) and str(got) == str(want).capitalize()
        ), name
    assert synthetic["income"].isin(df["income"].unique()).all()
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["training"]["epsilon"] == t["epsilon"]
    assert config["params"]["differential_privacy"] == {"max_epsilon": target, "delta": 1e-5}
    assert TabularARGN.load(tmp_path / "m").training_["epsilon"] == t["epsilon"]
