"""Distributed sampling: a ``ray.data.Dataset`` generated in parallel blocks.

Unconditional rows are generated in fixed units of :data:`tabargn.parquet_output.BLOCK_ROWS`
rows; unit ``i`` draws from its own stream ``np.random.default_rng([base, i])``, where ``base`` is
one draw of the model's sampling stream. This is the scheme of
:meth:`tabargn.TabularARGN.sample_to_parquet`, so the same model state gives the same rows there
and here, and the rows do not depend on the number of Ray blocks (units per block) or workers.

With a ``ray.data.Dataset`` of conditions, every batch of condition rows (``map_batches``) draws
from a stream seeded by ``base`` and a hash of the batch's contents: the result does not depend
on the workers or on the order the batches run in; it is the same for the same batches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tabargn.flat import FlatModel, sample_rows
from tabargn.parquet_output import BLOCK_ROWS

__all__ = ["sample_units", "sample_conditioned", "unit_count"]


def unit_count(n_samples: int, unit_rows: int = BLOCK_ROWS) -> int:
    """Number of generation units for ``n_samples`` rows."""
    return -(-n_samples // unit_rows)


def _on_device(model: FlatModel, use_gpu: bool, threads: int) -> FlatModel:
    """The model with its network where this Ray worker generates (CPU threads set)."""
    torch.set_num_threads(threads)
    if use_gpu:
        model.network.to("cuda")
    return model


def _units_block(
    batch: dict,
    *,
    model: FlatModel,
    base: int,
    n_samples: int,
    unit_rows: int,
    settings: dict,
    use_gpu: bool,
    threads: int,
) -> pd.DataFrame:
    """Map step: the rows of the units listed in ``batch["id"]``, in order."""
    model = _on_device(model, use_gpu, threads)
    frames = []
    for unit in batch["id"].tolist():
        rows = min(unit_rows, n_samples - unit * unit_rows)
        stream = np.random.default_rng([base, int(unit)])
        frames.append(sample_rows(model, stream, rows, **settings))
    return pd.concat(frames, ignore_index=True)


def sample_units(
    model: FlatModel,
    base: int,
    n_samples: int,
    *,
    settings: dict,
    num_blocks: int | None,
    num_workers: int,
    use_gpu: bool,
    cpus_per_worker: int,
    unit_rows: int = BLOCK_ROWS,
):
    """``n_samples`` unconditional rows as a lazy ``ray.data.Dataset`` (order kept).

    Args:
        model: The fitted model (sent to the workers once).
        base: One draw of the model's sampling stream.
        n_samples: Rows in total (> 0).
        settings: ``where``, ``rebalance``, ``temperature``, ``top_p``, ``fairness`` of
            :func:`tabargn.flat.sample_rows`.
        num_blocks: Ray blocks (each holds whole units); None: one per unit.
        num_workers: Tasks generating at the same time.
        use_gpu: Generate on a GPU per task.
        cpus_per_worker: CPUs (and torch threads) per task.
        unit_rows: Rows per unit (:data:`tabargn.parquet_output.BLOCK_ROWS`).
    """
    import ray

    units = unit_count(n_samples, unit_rows)
    blocks = units if num_blocks is None else max(1, min(num_blocks, units))
    out = ray.data.range(units, override_num_blocks=blocks).map_batches(
        _units_block,
        fn_kwargs={
            "model": model,
            "base": base,
            "n_samples": n_samples,
            "unit_rows": unit_rows,
            "settings": settings,
            "use_gpu": use_gpu,
            "threads": cpus_per_worker,
        },
        batch_size=None,
        batch_format="numpy",
        compute=ray.data.TaskPoolStrategy(size=num_workers),
        num_cpus=cpus_per_worker,
        num_gpus=1 if use_gpu else 0,
    )
    out.context.execution_options.preserve_order = True  # rows in the input's order
    return out


def _conditioned_batch(
    batch: pd.DataFrame, *, model: FlatModel, base: int, settings: dict, use_gpu, threads
) -> pd.DataFrame:
    """Map step: one output row per condition row, from the batch's own stream."""
    model = _on_device(model, use_gpu, threads)
    batch = batch.reset_index(drop=True)
    digest = int(pd.util.hash_pandas_object(batch, index=False).to_numpy().sum(dtype=np.uint64))
    stream = np.random.default_rng([base, len(batch), digest])
    return sample_rows(model, stream, conditions=batch, **settings)


def sample_conditioned(
    model: FlatModel,
    base: int,
    conditions,
    *,
    settings: dict,
    num_workers: int,
    use_gpu: bool,
    cpus_per_worker: int,
    batch_rows: int = BLOCK_ROWS,
):
    """One generated row per row of the ``ray.data.Dataset`` ``conditions`` (lazy Dataset)."""
    import ray

    out = conditions.map_batches(
        _conditioned_batch,
        fn_kwargs={
            "model": model,
            "base": base,
            "settings": settings,
            "use_gpu": use_gpu,
            "threads": cpus_per_worker,
        },
        batch_size=batch_rows,
        batch_format="pandas",
        compute=ray.data.TaskPoolStrategy(size=num_workers),
        num_cpus=cpus_per_worker,
        num_gpus=1 if use_gpu else 0,
    )
    out.context.execution_options.preserve_order = True  # rows in the input's order
    return out
