"""Distributed fit: statistics as a map over blocks and a reduce, encoding, Ray Train.

The steps follow the local engine (:func:`tabargn.flat_fit.fit_flat`), with the whole table
replaced by a ``ray.data.Dataset``:

1. Column kinds come from the first :data:`HEAD_ROWS` rows (:func:`tabargn.schema.infer_schema`);
   a column missing everywhere (counted over all blocks) becomes ``empty``, as locally.
2. Statistics: every block runs the encoders' ``analyze`` (:mod:`tabargn.encoding`); the driver
   merges the partials with :func:`tabargn.codec.reduce_column` in the local fit's column order
   and with its random stream ``[seed, 0]``. The partials are mergeable (counts, exact distinct
   values while small, the ``K_MAX`` extremes), so the statistics and every value-protection
   decision are the local fit's on the same rows.
3. Encoding: ``map_batches`` turns each block into codes (:meth:`tabargn.codec.TableCodec.encode`)
   and a validation flag from a salted hash of the row's codes (equal rows fall on the same
   side); the code matrix lives in Ray's object store (spilled to disk when it is full), never
   in the driver.
4. Training: Ray Train's ``TorchTrainer`` runs :class:`tabargn.training.ARGNModule` with
   :func:`tabargn.trainer.fit_with_validation` (AdamW, plateau schedule, relative early stopping,
   best weights) under ``RayDDPStrategy``; each worker streams its equal share of the rows
   (``ray.train.get_dataset_shard`` + ``iter_torch_batches``). The batch size and learning rate
   are the local fit's, split over the workers (each takes ``batch_size // num_workers`` rows
   per step), so the optimizer takes the same steps whatever ``num_workers``. Rank 0 returns the
   best weights as a safetensors checkpoint.
5. Calibration: the driver shifts the predictors' biases to the codes' frequencies
   (:mod:`tabargn.marginal_calibration`) over the first
   :data:`~tabargn.marginal_calibration.CALIBRATION_ROWS` training rows in the seeded block order.

Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), sections 3.1-3.3; DDP: Li et al.,
"PyTorch Distributed", VLDB 2020.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from tabargn.codec import MODELLED_KINDS, TableCodec, reduce_column
from tabargn.dtypes import kind_of
from tabargn.encoding import get_encoding
from tabargn.errors import InvalidDataError, UnsupportedDtypeError
from tabargn.flat import FlatModel, flat_model_size, flat_network_config
from tabargn.marginal_calibration import CALIBRATION_ROWS, calibrate_marginals, row_batches
from tabargn.model import ARGN
from tabargn.params import FitParams
from tabargn.schema import ColumnSpec, infer_schema, to_kind, validate_frame
from tabargn.text_columns import detect_text_columns
from tabargn.trainer import TrainingConfig, fit_with_validation
from tabargn.training import ARGNModule, default_batch_size

__all__ = ["HEAD_ROWS", "infer_specs", "fit_codec", "encode_split", "train_ray", "fit_ray"]

HEAD_ROWS = 10_000
"""Rows read to infer the column kinds (dtypes are the same in every block)."""

SHUFFLE_BUFFER_ROWS = 16_384
"""Rows each training worker shuffles locally (after a random block order)."""

_HASH_BUCKETS = 1_000_000


def infer_specs(ds, encoding_types: dict | None) -> list[ColumnSpec]:
    """Column specs from the first :data:`HEAD_ROWS` rows of ``ds``.

    A column that is missing throughout the head keeps the kind of its dtype here; the reduce
    step makes it ``empty`` only if it is missing in every block.

    Raises:
        InvalidDataError: No rows, no columns, bad names, bad ``encoding_types``, or a free-text
            column (text columns need the local estimator).
        UnsupportedDtypeError: A column's dtype cannot be modelled.
    """
    head = validate_frame(ds.limit(HEAD_ROWS).to_pandas(), what="the dataset")
    specs = infer_schema(head, encoding_types)
    for spec in specs:
        if spec.kind == "empty":
            spec.kind = (encoding_types or {}).get(spec.name) or kind_of(spec.dtype_info)
    specs = detect_text_columns(head, specs, encoding_types)
    text = [s.name for s in specs if s.kind == "text"]
    if text:
        raise InvalidDataError(
            f"columns {text} hold free text, which RayTabularARGN does not model; drop them, "
            "set encoding_types={column: 'categorical'}, or fit them with TabularARGN"
        )
    return specs


def _analyze_block(batch: pd.DataFrame, specs: list[ColumnSpec]) -> dict:
    """Map step: one block's row count, non-missing counts and encoder partials (pickled)."""
    batch = batch.reset_index(drop=True)
    partials = {}
    for spec in specs:
        if spec.kind in MODELLED_KINDS:
            values = to_kind(batch[spec.name], spec.kind, spec.name, spec)
            try:
                partials[spec.name] = get_encoding(spec.kind).analyze(values)
            except UnsupportedDtypeError as e:
                raise UnsupportedDtypeError(f"column {spec.name!r}: {e}") from None
    present = {s.name: int(batch[s.name].notna().sum()) for s in specs}
    return {"partial": np.array([pickle.dumps((len(batch), present, partials))], dtype=object)}


def fit_codec(ds, specs: list[ColumnSpec], params: FitParams, seed: int) -> tuple[TableCodec, int]:
    """Statistics of every column as a map over the blocks of ``ds`` and a reduce.

    The reduce uses the local fit's random stream ``np.random.default_rng([seed, 0])`` and
    column order, so the codec (value protection included) equals
    ``TableCodec.fit(whole table, ...)`` of :func:`tabargn.flat_fit.fit_flat`.

    Returns:
        ``(codec, n_rows)``.

    Raises:
        InvalidDataError: Fewer than 2 rows, or no column with a value.
    """
    rows = ds.map_batches(
        _analyze_block, fn_kwargs={"specs": specs}, batch_format="pandas", batch_size=None
    ).take_all()
    parts = [pickle.loads(r["partial"]) for r in rows]  # written by _analyze_block above
    n_rows = sum(n for n, _, _ in parts)
    if n_rows < 2:
        raise InvalidDataError("fit needs at least 2 rows")
    for spec in specs:
        if sum(present[spec.name] for _, present, _ in parts) == 0:
            spec.kind = "empty"
    rng = np.random.default_rng([seed, 0])
    stats = {}
    for spec in specs:
        if spec.kind in MODELLED_KINDS:
            stats[spec.name] = reduce_column(
                spec,
                [p[spec.name] for _, _, p in parts],
                value_protection=params.value_protection,
                rng=rng,
                rare_placeholder=params.rare_placeholder,
            )
    codec = TableCodec(specs, stats)
    if codec.n_sub == 0:
        raise InvalidDataError(
            "no column can be modelled: every column is empty (all values missing)"
        )
    return codec, n_rows


def _code_dtype(codec: TableCodec) -> np.dtype:
    """The smallest unsigned integer type holding every code."""
    return np.min_scalar_type(max(codec.cardinalities) - 1)


def _encode_block(batch: pd.DataFrame, codec, seed: int, validation_share: float) -> dict:
    """Map step: codes of one block and each row's validation flag (salted row hash)."""
    codes = codec.encode(batch.reset_index(drop=True))
    key = f"{seed:016d}"[-16:]
    hashes = pd.util.hash_pandas_object(pd.DataFrame(codes), index=False, hash_key=key)
    validation = hashes.to_numpy() % _HASH_BUCKETS < round(validation_share * _HASH_BUCKETS)
    return {"codes": codes.astype(_code_dtype(codec)), "validation": validation}


def _side(batch: dict, validation: bool) -> dict:
    keep = batch["validation"] == validation
    return {"codes": batch["codes"][keep]}


def _count_block(batch: dict, cardinalities: list[int]) -> dict:
    """Map step: per sub-column code counts of one block (for the marginal initialization)."""
    codes = batch["codes"].astype(np.int64)
    counts = [np.bincount(codes[:, i], minlength=c) for i, c in enumerate(cardinalities)]
    return {"counts": np.array([pickle.dumps((len(codes), counts))], dtype=object)}


def encode_split(ds, codec: TableCodec, seed: int, validation_share: float, min_rows: int):
    """Encodes ``ds`` and splits it into materialized training and validation datasets.

    Returns:
        ``(train, validation, n_train, n_validation, counts)``: two ``ray.data.Dataset`` of a
        ``codes`` column (unsigned ints ``[C]`` per row), their row counts, and the code counts
        per sub-column over all rows.

    Raises:
        InvalidDataError: Fewer than ``min_rows`` rows on either side (one per worker).
    """
    encoded = ds.map_batches(
        _encode_block,
        fn_kwargs={"codec": codec, "seed": seed, "validation_share": validation_share},
        batch_format="pandas",
        batch_size=None,
    ).randomize_block_order(seed=seed)
    encoded = encoded.materialize()
    train = encoded.map_batches(_side, fn_kwargs={"validation": False}, batch_size=None)
    validation = encoded.map_batches(_side, fn_kwargs={"validation": True}, batch_size=None)
    train, validation = train.materialize(), validation.materialize()
    sides = []
    counts = [np.zeros(c, dtype=np.int64) for c in codec.cardinalities]
    for side in (train, validation):
        rows = side.map_batches(
            _count_block, fn_kwargs={"cardinalities": codec.cardinalities}, batch_size=None
        ).take_all()
        n = 0
        for r in rows:
            block_rows, block_counts = pickle.loads(r["counts"])  # written by _count_block
            n += block_rows
            for total, c in zip(counts, block_counts, strict=True):
                total += c
        sides.append(n)
    if min(sides) < min_rows:
        raise InvalidDataError(
            f"{sides[0]} training and {sides[1]} validation rows: each of the {min_rows} "
            "workers needs at least one of each; use more rows or fewer workers"
        )
    return train, validation, sides[0], sides[1], counts


class _ShardBatches:
    """One worker's shard as an iterable of int64 code batches ``[b, C]`` (one pass per epoch)."""

    def __init__(self, shard, batch_size: int, shuffle: bool) -> None:
        self.shard, self.batch_size, self.shuffle = shard, batch_size, shuffle

    def __iter__(self):
        buffer = SHUFFLE_BUFFER_ROWS if self.shuffle else None
        for batch in self.shard.iter_torch_batches(
            batch_size=self.batch_size,
            dtypes={"codes": torch.int64},
            local_shuffle_buffer_size=buffer,
        ):
            yield batch["codes"]


class ShardDataModule(L.LightningDataModule):
    """Batches of this worker's shards; checks the Trainer with Ray's ``prepare_trainer``."""

    def __init__(self, train, validation, batch_size: int) -> None:
        super().__init__()
        self.train, self.validation, self.batch_size = train, validation, batch_size

    def setup(self, stage: str) -> None:
        from ray.train.lightning import prepare_trainer

        prepare_trainer(self.trainer)

    def train_dataloader(self):
        return _ShardBatches(self.train, self.batch_size, shuffle=True)

    def val_dataloader(self):
        return _ShardBatches(self.validation, self.batch_size, shuffle=False)


def _train_worker(cfg: dict) -> None:
    """Ray Train loop of one worker: the local training run, under RayDDPStrategy."""
    import ray.train
    from ray.train import Checkpoint
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment
    from safetensors.torch import save_file

    torch.set_num_threads(cfg["threads"])
    network = ARGN(cfg["model_config"])
    network.load_state_dict(cfg["initial_state"])
    strategy = RayDDPStrategy(cluster_environment=RayLightningEnvironment())
    config = dataclasses.replace(cfg["training"], strategy=strategy, devices="auto")
    data = ShardDataModule(
        ray.train.get_dataset_shard("train"),
        ray.train.get_dataset_shard("validation"),
        cfg["batch_size"],
    )
    module = ARGNModule(network, config, cfg["global_batch_size"])  # its learning rate
    summary = fit_with_validation(module, data, config)
    summary["strategy"] = "RayDDPStrategy"
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if ray.train.get_context().get_world_rank() == 0:
            state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
            save_file(state, str(Path(folder) / "model.safetensors"))
            checkpoint = Checkpoint.from_directory(folder)
        ray.train.report({"summary": json.dumps(summary)}, checkpoint=checkpoint)


def train_ray(
    network: ARGN,
    train,
    validation,
    config: TrainingConfig,
    *,
    global_batch_size: int,
    num_workers: int,
    use_gpu: bool,
    cpus_per_worker: int,
) -> dict:
    """Trains ``network`` in place with Ray Train; returns the training summary.

    Args:
        network: The initialized network (marginals set); its state goes to every worker.
        train, validation: Datasets of a ``codes`` column, split equally over the workers.
        config: The run's settings (:meth:`tabargn.params.FitParams.training_config`).
        global_batch_size: Rows per optimizer step over all workers (each worker takes its
            share); the learning rate follows it (:func:`tabargn.trainer.default_learning_rate`).
        num_workers, use_gpu, cpus_per_worker: Ray Train's ``ScalingConfig``.

    Returns:
        :func:`tabargn.trainer.fit_with_validation`'s summary from rank 0.
    """
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from safetensors.torch import load_file

    if use_gpu:
        config = dataclasses.replace(config, device="cuda")
    storage = tempfile.mkdtemp(prefix="tabargn-ray-")
    try:
        trainer = TorchTrainer(
            _train_worker,
            train_loop_config={
                "model_config": network.config,
                "initial_state": {k: v.cpu() for k, v in network.state_dict().items()},
                "training": config,
                "batch_size": max(1, global_batch_size // num_workers),
                "global_batch_size": global_batch_size,
                "threads": cpus_per_worker,
            },
            scaling_config=ScalingConfig(
                num_workers=num_workers,
                use_gpu=use_gpu,
                resources_per_worker={"CPU": cpus_per_worker},
            ),
            datasets={"train": train, "validation": validation},
            run_config=RunConfig(storage_path=storage, name="tabargn-fit"),
        )
        result = trainer.fit()
        with result.checkpoint.as_directory() as folder:
            network.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
        return json.loads(result.metrics["summary"])
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def fit_ray(
    ds,
    params: FitParams,
    seed: int,
    *,
    num_workers: int,
    use_gpu: bool,
    cpus_per_worker: int,
) -> FlatModel:
    """Fits a flat model on a ``ray.data.Dataset`` (see the module docstring).

    Returns:
        The fitted :class:`tabargn.flat.FlatModel`, its network on the CPU.

    Raises:
        InvalidDataError: Fewer than 2 rows, no modellable column, a free-text column, or too
            few rows for the workers.
        UnsupportedDtypeError: A column's dtype cannot be modelled.
    """
    specs = infer_specs(ds, params.encoding_types)
    codec, n_rows = fit_codec(ds, specs, params, seed)
    config = params.training_config(seed)
    train, validation, n_train, n_val, counts = encode_split(
        ds, codec, seed, config.validation_share, num_workers
    )
    model_size = flat_model_size(params.model_size, n_train)
    model_config = flat_network_config(codec, model_size, n_train)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = ARGN(model_config)
    counts = [torch.as_tensor(c) for c in counts]
    network.init_marginals_from_counts(counts)
    batch_size = params.batch_size or default_batch_size(n_train)
    summary = train_ray(
        network,
        train,
        validation,
        config,
        global_batch_size=batch_size,
        num_workers=num_workers,
        use_gpu=use_gpu,
        cpus_per_worker=cpus_per_worker,
    )
    # the first rows in the seeded block order (blocks are shuffled by encode_split)
    rows = train.limit(CALIBRATION_ROWS).take_batch(CALIBRATION_ROWS, batch_format="numpy")
    codes = torch.as_tensor(np.asarray(rows["codes"], dtype=np.int64))
    batches = row_batches(codes, max(1, batch_size // num_workers))
    summary["marginal_calibration"] = calibrate_marginals(network, batches, counts)
    training = {
        **summary,
        "batch_size": batch_size,
        "batch_size_per_worker": max(1, batch_size // num_workers),
        "n_train_rows": n_train,
        "n_validation_rows": n_val,
        "num_workers": num_workers,
        "n_rows": n_rows,
        "model_size": model_size,
    }
    return FlatModel(
        codec=codec,
        network=network.eval(),
        feature_names=[s.name for s in specs],
        training=training,
    )
