"""Datasets bundled with the package (no network needed): see ``README.md`` beside this file."""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_adult"]


def load_adult(*, drop_split: bool = True) -> pd.DataFrame:
    """The UCI Adult census table (48,842 rows; CC BY 4.0, Becker & Kohavi 1996).

    Args:
        drop_split: Drop the ``split`` column (original train/test file marker).

    Returns:
        DataFrame with 15 columns (16 with ``split``): ints, strings with NaN for missing.
    """
    with resources.as_file(resources.files(__package__) / "adult.parquet") as path:
        df = pd.read_parquet(path)
    return df.drop(columns="split") if drop_split else df
