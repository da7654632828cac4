"""Shared fixtures: real data from ../shared/data, and small fitted models (module-scoped)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

torch.set_num_threads(2)


def shared_data(name: str) -> pd.DataFrame:
    """Reads ``../shared/data/<name>.parquet``; skips the test when it is absent."""
    path = DATA / f"{name}.parquet"
    if not path.exists():
        pytest.skip(f"{path} not found (the shared datasets live beside the checkout)")
    return pd.read_parquet(path)


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return shared_data("adult").drop(columns="split")


@pytest.fixture(scope="session")
def adult_small(adult) -> pd.DataFrame:
    return adult.sample(n=4000, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="session")
def small_model(adult_small):
    from tabargn import TabularARGN

    return TabularARGN(random_state=0, max_epochs=4, model_size="small", verbose=0).fit(adult_small)
