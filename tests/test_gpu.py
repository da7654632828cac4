"""The public API on a CUDA GPU, with small real data (skipped without a GPU).

Run on a GPU machine with ``pytest -m gpu tests/test_gpu.py`` (the ``gpu`` marker; the default
``-m 'not slow'`` also runs them). Models train 2-3 epochs on ~3,000 Adult rows, 150 baseball
players and 300 bird-strike reports, so the module takes about a minute on one GPU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tabargn import TabularARGN
from tests.conftest import shared_data

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

FIT = {"random_state": 0, "max_epochs": 3, "verbose": 0}
TEXT_COLUMNS = ["phase_of_flt", "ac_mass", "height", "time_of_day", "effect", "sky", "remarks"]


def network_device(model: TabularARGN) -> torch.device:
    return next(model.network_.parameters()).device


def allocates_on_gpu(call) -> tuple[object, bool]:
    """Runs ``call()``; returns its result and whether it allocated CUDA memory beyond what was
    allocated before (the peak counter is reset first)."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = call()
    torch.cuda.synchronize()
    return out, torch.cuda.max_memory_allocated() > before


@pytest.fixture(scope="module")
def adult_split():
    df = shared_data("adult").drop(columns="split").sample(n=3500, random_state=1)
    df = df.reset_index(drop=True)
    return df.iloc[:3000].reset_index(drop=True), df.iloc[3000:].reset_index(drop=True)


@pytest.fixture(scope="module")
def train(adult_split) -> pd.DataFrame:
    return adult_split[0]


@pytest.fixture(scope="module")
def holdout(adult_split) -> pd.DataFrame:
    return adult_split[1]


@pytest.fixture(scope="module")
def gpu_model(train) -> TabularARGN:
    return TabularARGN(device="cuda", **FIT).fit(train)


def test_fit_on_cuda_records_gpu_accelerator_and_precision(gpu_model):
    info = gpu_model.training_
    assert info["accelerator"] == "gpu"
    assert str(info["device"]).startswith("cuda")
    assert info["devices"] == 1
    assert "strategy" in info
    if torch.cuda.is_bf16_supported():
        assert info["precision"] == "bf16-mixed"
    assert network_device(gpu_model).type == "cuda"  # the trained network stays on the GPU


def test_sample_runs_on_gpu_and_matches_training_columns(gpu_model, train):
    out, on_gpu = allocates_on_gpu(lambda: gpu_model.sample(n_samples=2000))
    assert on_gpu, "sampling allocated no CUDA memory"
    assert len(out) == 2000
    assert list(out.columns) == list(train.columns)
    assert (out.dtypes == train.dtypes).all()
    assert out["income"].isin(train["income"].unique()).all()
    assert network_device(gpu_model).type == "cuda"


def test_conditions_on_cuda_are_exact(gpu_model):
    cond = pd.DataFrame({"sex": ["Female"] * 150 + ["Male"] * 150, "age": [30] * 100 + [61] * 200})
    out = gpu_model.sample(conditions=cond)
    assert len(out) == 300
    assert (out["sex"].to_numpy() == cond["sex"].to_numpy()).all()
    assert (out["age"].to_numpy() == cond["age"].to_numpy()).all()
    assert out.drop(columns=["sex", "age"]).notna().any().all()


def test_where_on_cuda_is_exact(gpu_model):
    out = gpu_model.sample(
        1000,
        where={
            "age": (30, 40),
            "workclass": ["Private", "State-gov"],
            "hours_per_week": (None, 20),
        },
    )
    assert len(out) == 1000
    assert out["age"].between(30, 40).all()
    assert out["workclass"].isin(["Private", "State-gov"]).all()
    assert (out["hours_per_week"] <= 20).all()


def test_impute_on_cuda_fills_modelled_columns(gpu_model, holdout):
    rng = np.random.default_rng(0)
    rows = holdout.iloc[:300]
    mask = rng.random(rows.shape) < 0.3
    holes = rows.mask(mask)
    filled = gpu_model.impute(holes)
    assert list(filled.index) == list(holes.index)
    assert filled[gpu_model.modelled_columns].notna().all().all()
    observed = ~mask & rows.notna().to_numpy()
    for j, col in enumerate(rows.columns):
        keep = observed[:, j]
        assert (filled[col].to_numpy()[keep] == rows[col].to_numpy()[keep]).all(), col


def test_log_prob_on_cuda_is_finite(gpu_model, holdout):
    lp = gpu_model.log_prob(holdout.iloc[:300])
    assert lp.shape == (300,)
    assert np.isfinite(lp).all() and (lp < 0).all()


def test_predict_proba_on_cuda_rows_sum_to_one(gpu_model, holdout):
    proba = gpu_model.predict_proba(holdout.iloc[:300], target="income")
    assert set(proba.columns) == {"<=50K", ">50K"}
    assert len(proba) == 300
    assert ((proba.to_numpy() >= 0) & (proba.to_numpy() <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)


def test_restart_sampling_reproduces_samples_on_gpu(gpu_model):
    first = gpu_model.restart_sampling().sample(500)
    second = gpu_model.restart_sampling().sample(500)
    pd.testing.assert_frame_equal(first, second)
    assert not gpu_model.sample(500).equals(first)  # the stream moves on between calls


def test_same_seed_same_gpu_fit_gives_same_samples(gpu_model, train):
    again = TabularARGN(device="cuda", **FIT).fit(train)
    assert again.training_["epochs"] == gpu_model.training_["epochs"]
    pd.testing.assert_frame_equal(gpu_model.restart_sampling().sample(500), again.sample(500))


def test_cpu_inference_of_gpu_model(gpu_model, train, holdout):
    out = gpu_model.sample(n_samples=300, device="cpu")
    assert list(out.columns) == list(train.columns) and (out.dtypes == train.dtypes).all()
    rows = holdout.iloc[:200]
    filled = gpu_model.impute(rows.mask(np.eye(200, rows.shape[1], dtype=bool)), device="cpu")
    assert filled[gpu_model.modelled_columns].notna().all().all()
    proba = gpu_model.predict_proba(rows, target="income", device="cpu")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    lp_cpu = gpu_model.log_prob(rows, device="cpu")
    lp_gpu = gpu_model.log_prob(rows)
    assert np.isfinite(lp_cpu).all()
    # same weights, float32 inference on both; the slack allows other summation orders (or TF32)
    np.testing.assert_allclose(lp_gpu, lp_cpu, rtol=5e-3, atol=0.02)
    # a per-call device does not move the model: the next default call is on the GPU again
    _, on_gpu = allocates_on_gpu(lambda: gpu_model.sample(n_samples=1000))
    assert on_gpu and network_device(gpu_model).type == "cuda"


def test_save_on_gpu_then_load_gives_a_cpu_model(gpu_model, holdout, tmp_path):
    path = gpu_model.save(tmp_path / "gpu_model")
    loaded = TabularARGN.load(path)
    assert network_device(loaded).type == "cpu"
    out = loaded.sample(n_samples=300)
    assert list(out.columns) == list(gpu_model.feature_names_in_)
    assert network_device(loaded).type == "cpu"
    rows = holdout.iloc[:100]
    np.testing.assert_allclose(
        loaded.log_prob(rows), gpu_model.log_prob(rows, device="cpu"), rtol=1e-5, atol=1e-5
    )
    pd.testing.assert_frame_equal(
        TabularARGN.load(path).sample(200), TabularARGN.load(path).sample(200)
    )


@pytest.mark.parametrize("device", ["cuda:0", "auto"])
def test_explicit_cuda_0_and_auto_devices(device, train):
    model = TabularARGN(device=device, **{**FIT, "max_epochs": 2}).fit(train.iloc[:1500])
    assert model.training_["accelerator"] == "gpu"
    assert model.training_["device"] == "cuda:0"
    assert network_device(model) == torch.device("cuda:0")
    out = model.sample(n_samples=300, device="cuda:0")
    assert list(out.columns) == list(train.columns) and len(out) == 300
    pd.testing.assert_frame_equal(
        model.restart_sampling().sample(200), model.restart_sampling().sample(200, device=None)
    )


def test_asking_for_a_missing_gpu_raises_device_error(gpu_model, train):
    from tabargn.errors import DeviceError, TabargnError

    assert issubclass(DeviceError, TabargnError)
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU
    for device in (missing, "mps"):
        with pytest.raises(DeviceError):
            TabularARGN(device=device, **FIT).fit(train.iloc[:200])
    with pytest.raises(DeviceError):
        gpu_model.sample(n_samples=10, device=missing)


def test_sequential_fit_and_sample_on_cuda():
    df = shared_data("baseball")
    ids = df["id"].drop_duplicates().sample(n=150, random_state=3)
    events = df[df["id"].isin(ids)].reset_index(drop=True)
    model = TabularARGN(device="cuda", **{**FIT, "max_epochs": 2}).fit(
        events, entity_key="id", order_by="year"
    )
    assert model.training_["accelerator"] == "gpu"
    assert network_device(model).type == "cuda"
    out, on_gpu = allocates_on_gpu(lambda: model.sample(n_entities=20))
    assert on_gpu, "sequential sampling allocated no CUDA memory"
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(events.columns) and out.dtypes.equals(events.dtypes)
    assert 0 < out["id"].nunique() <= 20
    assert out.groupby("id", sort=False)["year"].apply(lambda y: y.is_monotonic_increasing).all()
    pd.testing.assert_frame_equal(
        model.restart_sampling().sample(n_entities=10),
        model.restart_sampling().sample(n_entities=10, device=None),
    )


def test_text_column_fit_and_sample_on_cuda():
    faa = shared_data("faa_bird_strikes")[TEXT_COLUMNS]
    faa = faa.sample(n=300, random_state=0).reset_index(drop=True)
    model = TabularARGN(
        device="cuda",
        encoding_types={"remarks": "text"},
        text_options={"max_epochs": 1, "max_length": 32},
        **{**FIT, "max_epochs": 2},
    ).fit(faa)
    assert model.training_["accelerator"] == "gpu"
    assert list(model.text_models_) == ["remarks"]
    out = model.sample(n_samples=40)
    assert list(out.columns) == TEXT_COLUMNS
    assert (out.dtypes == faa.dtypes).all()
    texts = out["remarks"].dropna()
    assert len(texts) > 0 and texts.map(lambda t: isinstance(t, str)).all()
