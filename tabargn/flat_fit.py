"""Fitting the flat engine: statistics, codes, network training (DP-SGD included), text models.

Data flows one way: the table (a frame or a streamed :class:`tabargn.table_files.TableSource`)
-> statistics (:func:`tabargn.codec.fit_statistics`, or DP releases under differential
privacy) -> compact codes on disk (:mod:`tabargn.out_of_core`) -> the ARGN network
(:mod:`tabargn.training` or :mod:`tabargn.dp_sgd`; without DP, its predictors calibrated to the
codes' frequencies, :mod:`tabargn.marginal_calibration`) -> a :class:`tabargn.flat.FlatModel`.
Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), sections 3.1-3.3.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd
import torch

from tabargn.codec import TableCodec, fit_statistics
from tabargn.constraints import check_training
from tabargn.device import torch_device
from tabargn.errors import InvalidDataError
from tabargn.flat import FlatModel, flat_model_size, flat_network_config
from tabargn.marginal_calibration import calibrate_marginals, calibration_rows, row_batches
from tabargn.model import ARGN
from tabargn.out_of_core import (
    HEAD_ROWS,
    WINDOW_SHARE,
    MarginalColumns,
    chunk_rows,
    encode_to_disk,
    infer_specs,
)
from tabargn.params import FitParams
from tabargn.table_files import TableSource, open_table
from tabargn.text_columns import detect_text_columns, fit_text_models, validate_text_settings
from tabargn.training import fit_network

__all__ = ["fit_flat"]


def _dp_config(params: FitParams):
    """The validated DP-SGD settings, or None; raises early when opacus is missing."""
    if not params.uses_dp:
        return None
    from tabargn.dp_sgd import DPConfig, require_opacus

    config = DPConfig.from_param(params.differential_privacy)
    require_opacus()
    return config


def _fit_network_dp(network, codec, stored, config, dp, stats_budget, rng) -> dict:
    """DP-SGD on the stored codes, held in memory (Poisson sampling draws any row).

    The output biases start from the released DP statistics (post-processing: columns drawn
    from their noisy distributions, encoded), never from the rows.
    """
    from tabargn.dp_sgd import fit_network_dp, privacy_summary
    from tabargn.dp_statistics import sample_releases

    codes = np.concatenate([stored.train.to_array(), stored.validation.to_array()])
    fake = sample_releases(codec.dp_releases, min(len(codes), 20_000), rng)
    network.init_marginals(torch.as_tensor(codec.encode(fake)))
    summary = fit_network_dp(network, torch.as_tensor(codes), config, dp)
    summary["privacy"] = privacy_summary(stats_budget, summary)
    summary.update(epsilon=summary["privacy"]["epsilon"], delta=summary["privacy"]["delta"])
    return summary


def fit_flat(
    data: TableSource | pd.DataFrame,
    params: FitParams,
    seed: int,
    constraints: list | None = None,
    dp_budget: tuple | None = None,
) -> FlatModel:
    """Fits a flat model on a table of any size (:mod:`tabargn.out_of_core`).

    Statistics from one streaming pass, codes from a second into a compact on-disk matrix
    (removed after the fit) read by blocks: memory is set by ``params.memory_budget_mb``.

    Args:
        data: The training table: a validated frame (:func:`tabargn.schema.validate_frame`) or
            a :class:`tabargn.table_files.TableSource`, at least 2 rows. Text columns and
            constraints need it in memory (a DataFrame).
        params: Checked fit settings.
        seed: Seed of the encoding statistics, the validation split, the network and the text
            models.
        constraints: Rules (:mod:`tabargn.constraints`), checked against the data before
            training.
        dp_budget: ``(StatisticsBudget, DPConfig)`` replacing the split of
            ``params.differential_privacy`` (the sequential engine's entity model).

    Returns:
        The fitted :class:`FlatModel`.

    Raises:
        InvalidDataError: Fewer than 2 rows, no modellable column, bad DP or text settings,
            text columns or constraints on a streamed input.
        OptionalDependencyError: DP-SGD without opacus.
        ConstraintError: A rule the training data breaks (the error names the rows).
    """
    source = data if isinstance(data, TableSource) else open_table(data)
    if source.in_memory and len(source.frame) < 2:
        raise InvalidDataError("fit needs at least 2 rows")
    dp = _dp_config(params)
    stats_budget = None
    if dp is not None:  # end-to-end DP: statistics and training share the budget
        stats_budget, dp = dp_budget or dp.split()
    rng = np.random.default_rng([seed, 0])
    head = source.frame if source.in_memory else source.head(HEAD_ROWS)
    specs = infer_specs(source, head, params.encoding_types)
    specs = detect_text_columns(head, specs, params.encoding_types)
    if any(s.kind == "text" for s in specs):  # checked before training; fitted after it
        validate_text_settings(params.text_backend, params.text_options)
    if not source.in_memory and (constraints or any(s.kind == "text" for s in specs)):
        raise InvalidDataError(
            "text columns and constraints need the table in memory: pass a DataFrame (or "
            "encoding_types={column: 'categorical'} for a text column)"
        )
    rows = chunk_rows(head, params.memory_budget_mb)
    if stats_budget is not None:  # DP statistics are released from whole columns
        if not source.in_memory:
            raise InvalidDataError(
                "differential_privacy needs the table in memory: pass a DataFrame"
            )
        codec = TableCodec.fit(
            source.frame,
            specs,
            value_protection=params.value_protection,
            rng=rng,
            rare_placeholder=params.rare_placeholder,
            dp=stats_budget,
        )
    else:
        codec = fit_statistics(
            source.frames(rows),
            specs,
            value_protection=params.value_protection,
            rng=rng,
            rare_placeholder=params.rare_placeholder,
            empty_unseen=not source.in_memory,
        )
    if codec.n_sub == 0:
        raise InvalidDataError(
            "no column can be modelled: every column is empty (all values missing)"
        )
    rules = check_training(constraints or [], source.frame, codec) if constraints else []
    training_config = params.training_config(seed)
    with tempfile.TemporaryDirectory(prefix="tabargn-codes-") as folder:
        stored = encode_to_disk(
            source,
            codec,
            folder,
            rows=rows,
            seed=seed,
            validation_share=training_config.validation_share,
            window_bytes=int(params.memory_budget_mb * 2**20 * WINDOW_SHARE),
        )
        n_rows = stored.shape[0]
        if n_rows < 2:
            raise InvalidDataError("fit needs at least 2 rows")
        n_train = int(n_rows * (1 - training_config.validation_share))  # as the batch rule
        model_size = flat_model_size(params.model_size, n_train)
        config = flat_network_config(codec, model_size, n_train)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = ARGN(config)
            if dp is None:
                counts = network.init_marginals(MarginalColumns(stored))
                summary = fit_network(network, stored, training_config)
                rows = calibration_rows(stored.train.n_rows, seed)
                calibration = torch.from_numpy(stored.train.take(rows, np.int32))
            else:  # DP-SGD (opacus is optional: imported only then) samples rows in memory
                summary = _fit_network_dp(
                    network, codec, stored, training_config, dp, stats_budget, rng
                )
    network.to(torch_device(params.device))  # inference runs where training ran
    if dp is None:
        batches = row_batches(calibration, summary["batch_size"])
        summary["marginal_calibration"] = calibrate_marginals(network, batches, counts)
    training = {
        **summary,
        "n_rows": int(n_rows),
        "model_size": model_size,
    }
    text_started = time.perf_counter()
    text_models = {}
    if source.in_memory:
        text_models = fit_text_models(
            source.frame,
            specs,
            backend=params.text_backend,
            options=params.text_options,
            seed=seed,
            verbose=params.verbose,
            device=params.device,
            codec=codec if params.value_protection else None,
        )
    if text_models:
        training["text_columns"] = list(text_models)
        # generation conditions the texts on the rows as value protection sees them, as here
        training["text_context_protected"] = bool(params.value_protection)
        training["text_seconds"] = round(time.perf_counter() - text_started, 3)
    return FlatModel(
        codec=codec,
        network=network.eval(),
        feature_names=[str(c) for c in source.columns],
        training=training,
        text_models=text_models,
        constraints=rules,
    )
