"""End-to-end DP: DP encoding statistics, per-sample / per-entity gradients checked against
torch.func and per-entity backward passes, sequential DP-SGD and the reported budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.func import functional_call, grad, vmap

pytest.importorskip("opacus")
pytest.importorskip("opendp")

from tabargn import TabularARGN  # noqa: E402
from tabargn.codec import TableCodec  # noqa: E402
from tabargn.dp_sgd import per_sample_gradients  # noqa: E402
from tabargn.dp_statistics import (  # noqa: E402
    StatisticsBudget,
    laplace_threshold,
    require_opendp,
)
from tabargn.model import ARGN, ModelConfig  # noqa: E402
from tabargn.schema import infer_schema  # noqa: E402
from tabargn.sequential.dp_training import entity_loss, per_entity_gradients  # noqa: E402
from tabargn.sequential.network import SequenceConfig, SequenceNetwork  # noqa: E402


# ---------------------------------------------------------------------- gradients
def test_flat_per_sample_gradients_match_torch_func():
    torch.manual_seed(0)
    config = ModelConfig(
        cardinalities=[3, 5, 2, 17, 4],
        column_of=[0, 1, 1, 2, 3],
        position=[0, 0, 1, 0, 0],
        hidden=8,
        n_layers=2,
    )
    network = ARGN(config).eval()
    codes = torch.stack([torch.randint(0, c, (6,)) for c in config.cardinalities], dim=1)
    visible = network.random_visibility(6)
    ours = per_sample_gradients(network, codes, visible)
    params = {n: p.detach() for n, p in network.named_parameters()}

    def loss(p, c, v):
        return _row_loss(network, p, c, v)

    reference = vmap(grad(loss), in_dims=(None, 0, 0))(params, codes, visible)
    for name, g in reference.items():
        torch.testing.assert_close(ours[name], g, atol=1e-6, rtol=1e-4)


def _row_loss(network, params, codes, visible):
    class Loss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = network

        def forward(self, c, v):
            return self.net.loss(c[None], v[None])

    wrapper = Loss()
    named = {f"net.{n}": p for n, p in params.items()}
    named.update({f"net.{n}": b for n, b in network.named_buffers()})
    return functional_call(wrapper, named, (codes, visible))


def _sequence_network(seed=0):
    torch.manual_seed(seed)
    config = SequenceConfig(
        event={
            "cardinalities": [4, 3, 6],
            "column_of": [0, 1, 2],
            "position": [0, 0, 0],
            "hidden": 8,
            "n_layers": 1,
        },
        entity_cardinalities=[5, 3],
        history_dim=6,
        context_dim=4,
    )
    network = SequenceNetwork(config).eval()
    lengths = torch.tensor([3, 1, 5, 2])
    t = int(lengths.max())
    codes = torch.stack([torch.randint(0, c, (4, t)) for c in [4, 3, 6]], dim=2)
    entity_codes = torch.stack([torch.randint(0, c, (4,)) for c in [5, 3]], dim=1)
    visible = network.argn.random_visibility(4 * t).view(4, t, 3, 3)
    return network, codes, entity_codes, lengths, visible


def test_sequential_per_entity_gradients_match_per_entity_backward():
    network, codes, entity_codes, lengths, visible = _sequence_network()
    ours = per_entity_gradients(network, codes, entity_codes, lengths, visible)
    assert set(ours) == {n for n, _ in network.named_parameters()}
    for b in range(codes.shape[0]):
        n = max(int(lengths[b]), 2)  # the entity alone, less padding: it must not matter
        network.zero_grad()
        entity_loss(
            network,
            codes[b : b + 1, :n],
            entity_codes[b : b + 1],
            lengths[b : b + 1],
            visible[b : b + 1, :n],
        ).sum().backward()
        for name, p in network.named_parameters():
            expected = p.grad if p.grad is not None else torch.zeros_like(p)
            torch.testing.assert_close(ours[name][b], expected, atol=1e-5, rtol=1e-4)


def test_entity_loss_is_the_training_loss():
    network, codes, entity_codes, lengths, visible = _sequence_network(1)
    full = torch.full_like(lengths, codes.shape[1])
    total = entity_loss(network, codes, entity_codes, full, visible).sum()
    b, t, c = codes.shape
    context = network.window_contexts(codes, entity_codes, full, 0)
    expected = network.argn.loss(
        codes.reshape(b * t, c), visible.reshape(b * t, c, c), context.reshape(b * t, -1)
    ) * (b * t)
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------------- statistics
def test_laplace_threshold_meets_delta_by_opendp_map():
    dp = require_opendp()
    tau = laplace_threshold(10.0, 1e-6)
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=float, nan=False))
    metric = dp.l01inf_distance(dp.absolute_distance(T=float))
    eps, delta = dp.m.make_laplace_threshold(domain, metric, scale=10.0, threshold=tau).map(
        (1, 1.0, 1.0)
    )
    assert delta <= 1e-6 and abs(eps - 0.1) < 1e-9
    assert 1 + 10.0 * np.log(1 / 2e-6) * 0.9 < tau < 1 + 10.0 * np.log(1 / 2e-6) * 1.2


def test_dp_statistics_keep_no_rare_value_and_no_outlier():
    rng = np.random.default_rng(0)
    n = 4000
    df = pd.DataFrame(
        {
            "code": rng.choice(["a", "b", "c"], n).astype(object),
            "email": [f"user{i}@x.org" for i in range(n)],
            "amount": np.r_[rng.normal(100, 10, n - 1), 1e9],
            "count": rng.integers(0, 20, n),
        }
    )
    df.loc[5, "code"] = "only-one"
    codec = TableCodec.fit(
        df,
        infer_schema(df, {"email": "categorical"}),
        value_protection=True,
        rng=np.random.default_rng(1),
        dp=StatisticsBudget(8.0, 1e-6),
    )
    assert sorted(codec.stats["code"]["categories"]) == ["a", "b", "c"]
    assert codec.stats["email"]["categories"] == []
    assert codec.stats["amount"]["max"] < 1e6  # the outlier is not a bound
    assert codec.stats["count"]["mode"] == "discrete"
    again = TableCodec.fit(
        df,
        infer_schema(df, {"email": "categorical"}),
        value_protection=True,
        rng=np.random.default_rng(1),
        dp=StatisticsBudget(8.0, 1e-6),
    )
    assert again.stats == codec.stats  # one seed, one release
    out = codec.decode(codec.encode(df.iloc[:50]), np.random.default_rng(0))
    assert not set(out["email"]) & set(df["email"])


# ---------------------------------------------------------------------- fits
def test_flat_dp_budget_is_split_and_capped(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.choice(list("xyz"), 600), "b": rng.normal(size=600)})
    model = TabularARGN(
        model_size="small",
        max_epochs=1,
        random_state=0,
        verbose=0,
        differential_privacy={"max_epsilon": 3.0, "statistics_epsilon": 0.5},
    ).fit(df)
    p = model.privacy_
    assert p["statistics_epsilon"] == 0.5 and p["epsilon"] <= 3.0
    assert p["epsilon"] == pytest.approx(p["statistics_epsilon"] + p["training_epsilon"])
    assert p["delta"] == pytest.approx(1e-5)
    model.save(tmp_path / "m")
    assert TabularARGN.load(tmp_path / "m").privacy_ == p
    assert TabularARGN(verbose=0).fit(df.iloc[:50]).privacy_ is None


def test_sequential_dp_fit_reports_total_epsilon(tmp_path):
    rng = np.random.default_rng(0)
    n_entities = 150
    lengths = rng.integers(1, 5, n_entities)
    events = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_entities), lengths),
            "step": np.concatenate([np.arange(k) for k in lengths]),
            "kind": rng.choice(["p", "q"], lengths.sum()),
            "value": rng.integers(0, 5, lengths.sum()),
        }
    )
    model = TabularARGN(
        model_size="small",
        max_epochs=1,
        random_state=0,
        verbose=0,
        differential_privacy={"max_epsilon": 4.0, "statistics_epsilon": 2.0},
    ).fit(events, entity_key="id", order_by="step")
    p = model.privacy_
    assert p["epsilon"] <= 4.0
    parts = p["entity_model_training_epsilon"] + p["sequence_training_epsilon"]
    assert p["training_epsilon"] == pytest.approx(parts)
    assert p["epsilon"] == pytest.approx(p["statistics_epsilon"] + parts)
    assert model.training_["n_train_entities"] == n_entities
    out = model.sample(n_entities=20)
    assert set(out.columns) == set(events.columns)
    model.save(tmp_path / "seq")
    assert TabularARGN.load(tmp_path / "seq").privacy_ == p


def test_statistics_budget_must_leave_training_budget():
    from tabargn.dp_sgd import DPConfig
    from tabargn.errors import InvalidDataError

    assert DPConfig.from_param({"max_epsilon": 4.0}).statistics_share() == 1.0
    assert DPConfig.from_param({"max_epsilon": 2.0}).statistics_share() == 0.5
    with pytest.raises(InvalidDataError, match="statistics_epsilon"):
        DPConfig.from_param({"max_epsilon": 1.0, "statistics_epsilon": 1.0})


def test_few_entities_still_release_sequence_lengths():
    # the DP bounds always release (dp_bounds): 20 entities at a tiny budget still fit,
    # where the thresholded log histogram released nothing and the fit had to refuse
    events = pd.DataFrame({"id": np.repeat(np.arange(20), 3), "v": np.arange(60) % 4})
    model = TabularARGN(
        model_size="small",
        max_epochs=1,
        random_state=0,
        verbose=0,
        differential_privacy={"max_epsilon": 1.0, "statistics_epsilon": 0.1},
    ).fit(events, entity_key="id")
    length = model.sequential_.entity_model.codec.stats["__tabargn_length"]
    assert not length.get("protected") and length["max"] >= 1
    assert model.privacy_["epsilon"] <= 1.0
    assert set(model.sample(n_entities=5).columns) == set(events.columns)


def test_dp_datetime_bounds_and_round_trip():
    rng = np.random.default_rng(0)
    n = 3000
    stamps = pd.Timestamp("2001-01-01") + pd.to_timedelta(rng.integers(0, 3650, n), unit="D")
    df = pd.DataFrame({"when": stamps})
    df.loc[0, "when"] = pd.Timestamp("1700-01-01")  # one outlier
    codec = TableCodec.fit(
        df,
        infer_schema(df, None),
        value_protection=True,
        rng=np.random.default_rng(2),
        dp=StatisticsBudget(4.0, 1e-6),
    )
    st = codec.stats["when"]
    assert st["mode"] == "parts" and "hour" not in st["parts"]  # dates only
    assert pd.Timestamp(st["min"]) > pd.Timestamp("1900-01-01")
    out = codec.decode(codec.encode(df.iloc[1:200]), np.random.default_rng(0))["when"]
    assert out.notna().all() and (out.dt.normalize() == out).all()
