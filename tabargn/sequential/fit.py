"""Sequential fit: the engine behind ``TabularARGN.fit(..., entity_key=...)``.

Two models make a sequential model:

1. the **entity model**, a flat model (:class:`tabargn.flat.FlatModel`) over the entity table
   (context columns, sequence length, first order value; :mod:`tabargn.sequential.prepare`). It
   draws new entities, and completes given context rows with a length and a start;
2. the **sequence network** (:mod:`tabargn.sequential.network`), which draws each entity's events
   step by step given the entity row and the history. Both end calibrated in the large: their
   predictors' biases meet the codes' frequencies (:mod:`tabargn.marginal_calibration`; the
   events' with their real histories, :func:`tabargn.sequential.training.calibration_events`).

Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), section 3.4; the entity/event split
mirrors mostlyai-engine's context and target tables.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from tabargn.codec import TableCodec
from tabargn.device import torch_device
from tabargn.encoding.value_protection import K_MAX
from tabargn.errors import InvalidDataError
from tabargn.flat import NATURAL_ORDER_SHARE, FlatModel
from tabargn.flat_fit import fit_flat
from tabargn.marginal_calibration import calibrate_marginals
from tabargn.marginals import code_counts
from tabargn.model import MODEL_SIZES, REGRESSOR_DROPOUT
from tabargn.params import FitParams
from tabargn.sequential.network import SequenceConfig, SequenceNetwork, default_dims
from tabargn.sequential.prepare import (
    SequenceMeta,
    fit_event_codec,
    prepare_training,
)
from tabargn.sequential.rules import check_event_rules, check_rows, split_rules
from tabargn.sequential.text import history_context, text_specs
from tabargn.sequential.training import calibration_events, fit_sequence_network
from tabargn.text_columns import fit_text_models, validate_text_settings

__all__ = ["DEFAULT_WINDOW", "SequentialModel", "fit_sequential"]

DEFAULT_WINDOW = 100


@dataclass
class SequentialModel:
    """The fitted parts of a sequential :class:`tabargn.TabularARGN` (its ``sequential_``).

    Attributes:
        meta: Table description (keys, order column, columns, new-key scheme).
        event_codec: Codec of the event table (event columns and the gap column).
        network: The trained :class:`SequenceNetwork` (eval mode), on the inference device.
        entity_model: The flat model of the entity table.
        training: JSON-serializable training summary (the entity model's included).
        text_models: Text event column -> fitted ``llm_text.TextColumnModel``, conditioned on
            the event, its entity and its history (:mod:`tabargn.sequential.text`).
        constraints: Fitted rules on the events (:mod:`tabargn.sequential.rules`); the rules on
            the context table are the entity model's ``constraints``.
    """

    meta: SequenceMeta
    event_codec: TableCodec
    network: SequenceNetwork
    entity_model: FlatModel
    training: dict
    text_models: dict = field(default_factory=dict)
    constraints: list = field(default_factory=list)

    @property
    def has_context(self) -> bool:
        return self.meta.context_key is not None


# ====================================================================== DP
ENTITY_TRAINING_SHARE = 1 / 3
"""Share of the DP training epsilon spent on the entity model (the rest: the sequences)."""


ENTITY_STATISTICS_SHARE = 1 / 3
"""Least share of the DP statistics epsilon spent on the entity table (lengths, context):
its sequence lengths and start values decide every sequence (on baseball a sixth left the
first year's DP bounds centuries wide; ``benchmarks/dp_diagnose.py``)."""


def _dp_budgets(params: FitParams, prepared) -> dict | None:
    """The four parts of a sequential model's DP budget, or None without DP.

    The statistics budget is split between the entity and event tables in proportion to
    their columns (the entity table gets at least :data:`ENTITY_STATISTICS_SHARE`); the training budget between the entity model
    (:data:`ENTITY_TRAINING_SHARE`) and the sequence network. All parts add up (basic
    composition), so the total is at most ``max_epsilon``.
    """
    if not params.uses_dp:
        return None
    from tabargn.dp_sgd import DPConfig, require_opacus
    from tabargn.dp_statistics import StatisticsBudget

    config = DPConfig.from_param(params.differential_privacy)
    require_opacus()
    stats, entity_training = config.split(ENTITY_TRAINING_SHARE)
    _, sequence_training = config.split(1 - ENTITY_TRAINING_SHARE)
    n_entity = len(prepared.entities.columns)
    # at least a third for the entity table: its sequence lengths decide every sequence
    share = max(ENTITY_STATISTICS_SHARE, n_entity / (n_entity + len(prepared.events.columns)))
    return {
        "statistics": stats,
        "entity_statistics": StatisticsBudget(stats.epsilon * share, stats.delta * share),
        "event_statistics": StatisticsBudget(
            stats.epsilon * (1 - share), stats.delta * (1 - share)
        ),
        "entity_training": entity_training,
        "sequence_training": sequence_training,
    }


def _privacy(dp: dict, entity_training: dict, sequence_training: dict) -> dict:
    """The total guarantee: statistics + entity model + sequence network (basic composition)."""
    entity = entity_training["privacy"]
    training_epsilon = entity["training_epsilon"] + sequence_training["training_epsilon"]
    training_delta = entity["training_delta"] + sequence_training["training_delta"]
    return {
        "epsilon": float(dp["statistics"].epsilon + training_epsilon),
        "delta": float(dp["statistics"].delta + training_delta),
        "statistics_epsilon": float(dp["statistics"].epsilon),
        "statistics_delta": float(dp["statistics"].delta),
        "training_epsilon": float(training_epsilon),
        "training_delta": float(training_delta),
        "entity_model_training_epsilon": float(entity["training_epsilon"]),
        "sequence_training_epsilon": float(sequence_training["training_epsilon"]),
    }


# ====================================================================== fit
def fit_sequential(
    events: pd.DataFrame,
    params: FitParams,
    seed: int,
    *,
    entity_key: str,
    order_by: str | None = None,
    context: pd.DataFrame | None = None,
    context_key: str | None = None,
    constraints: list | None = None,
) -> SequentialModel:
    """Fits a sequential model on events per entity.

    Args:
        events: The event table; see :meth:`tabargn.TabularARGN.fit` for the keys.
        params: Checked fit settings.
        seed: Seed of the encoding statistics, both networks and the split.
        constraints: Rules (:mod:`tabargn.constraints`) on the events or on the context table
            (:func:`tabargn.sequential.rules.split_rules`), checked against the training tables
            before training.

    Returns:
        The fitted :class:`SequentialModel`.

    Raises:
        InvalidDataError: The errors of :func:`tabargn.sequential.prepare.prepare_training`,
            no modellable event column, or text columns under differential privacy.
        ConstraintError: A rule the training events or context break (naming the rows), or
            one that spans both tables or is built on the entity key or the order column.
    """
    prepared = prepare_training(events, entity_key, order_by, context, context_key)
    dp = _dp_budgets(params, prepared)
    if dp is None and params.value_protection and len(prepared.lengths) < 2 * K_MAX:
        # the entity model's length and start columns keep no value under 2k entities
        raise InvalidDataError(
            f"value protection needs at least {2 * K_MAX} entities to model sequence lengths "
            f"without revealing one; got {len(prepared.lengths)}. Fit on more entities, or "
            "pass value_protection=False"
        )
    rng = np.random.default_rng([seed, 0])
    meta = prepared.meta
    context_rules, event_rules = split_rules(constraints or [], meta)
    if context_rules:  # names the caller's context rows; the entity model fits the rules
        check_rows(context_rules, context, "the training context")
    meta.window = DEFAULT_WINDOW
    codec = fit_event_codec(
        prepared.events,
        prepared.entity_of_event,
        params.encoding_types,
        value_protection=params.value_protection,
        rng=rng,
        rare_placeholder=params.rare_placeholder,
        dp=dp and dp["event_statistics"],
    )
    if codec.n_sub == 0:
        raise InvalidDataError("no event column can be modelled (all empty)")
    if text_specs(codec) and dp:
        raise InvalidDataError(
            "differential_privacy does not cover text columns (their language models train on "
            f"the raw texts): drop {text_specs(codec)} or type them categorical"
        )
    if text_specs(codec):  # checked before training; fitted after it
        validate_text_settings(params.text_backend, params.text_options)
    event_rules = check_event_rules(event_rules, events, codec)

    # 1. the entity model (flat): context columns, length and start
    entity_types = {
        k: v for k, v in (params.encoding_types or {}).items() if k in prepared.entities.columns
    }
    # "auto" is "medium" here: the flat rule (tabargn.flat.flat_model_size) was measured on
    # flat tables only, so the entity model and the sequence network keep the width they had
    model_size = "medium" if params.model_size == "auto" else params.model_size
    entity_params = dataclasses.replace(
        FitParams(),
        model_size=model_size,
        max_epochs=params.max_epochs,
        max_time=params.max_time,
        value_protection=params.value_protection,
        rare_placeholder=params.rare_placeholder,
        encoding_types=entity_types or None,
        device=params.device,
        devices=params.devices,
        strategy=params.strategy,
        num_nodes=params.num_nodes,
        verbose=params.verbose,
        differential_privacy=params.differential_privacy,
    )
    entity_model = fit_flat(
        prepared.entities,
        entity_params,
        seed=int(rng.integers(0, 2**31)),
        constraints=context_rules,
        dp_budget=dp and (dp["entity_statistics"], dp["entity_training"]),
    )

    # 2. the sequence network
    entity_codes = torch.as_tensor(entity_model.codec.encode(prepared.entities))
    codes = torch.as_tensor(codec.encode(prepared.events))
    hidden, n_layers = MODEL_SIZES[model_size]
    history_dim, context_dim = default_dims(hidden)
    config = SequenceConfig(
        event={
            "cardinalities": codec.cardinalities,
            "column_of": codec.column_of,
            "position": codec.position,
            "hidden": hidden,
            "n_layers": n_layers,
            "dropout": REGRESSOR_DROPOUT,
            "natural_order_share": NATURAL_ORDER_SHARE,
        },
        entity_cardinalities=entity_model.codec.cardinalities,
        history_dim=history_dim,
        context_dim=context_dim,
    )
    lengths = torch.as_tensor(prepared.lengths)
    offsets = torch.cumsum(lengths, 0) - lengths
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SequenceNetwork(config)
        if dp is None:
            summary = fit_sequence_network(
                network,
                codes,
                offsets,
                lengths,
                entity_codes,
                params.training_config(seed),
                window=meta.window,
            )
        else:  # entity-level DP-SGD
            from tabargn.sequential.dp_training import fit_sequence_network_dp

            summary = fit_sequence_network_dp(
                network,
                codes,
                offsets,
                lengths,
                entity_codes,
                params.training_config(seed),
                dp["sequence_training"],
            )
            summary["privacy"] = _privacy(dp, entity_model.training, summary)
            summary.update(epsilon=summary["privacy"]["epsilon"], delta=summary["privacy"]["delta"])
    network.to(torch_device(params.device)).eval()  # inference runs where training ran
    if dp is None:  # the event predictors' biases meet the event codes' frequencies
        events = calibration_events(
            network,
            codes,
            offsets,
            lengths,
            entity_codes,
            seed=seed,
            window=meta.window,
            batch_events=summary["batch_events"],
        )
        counts = code_counts(codes, codec.n_sub)
        summary["marginal_calibration"] = calibrate_marginals(network.argn, events, counts)
    training = {
        **summary,
        "n_rows": int(len(prepared.events)),
        "n_entities": int(len(prepared.lengths)),
        "entity_model": {k: v for k, v in entity_model.training.items() if k != "history"},
    }
    text_models = {}
    if text_specs(codec):  # 3. the text event columns, from event, entity and history
        started = time.perf_counter()
        text_models = fit_text_models(
            prepared.events,
            codec.specs,
            backend=params.text_backend,
            options=params.text_options,
            seed=seed,
            verbose=params.verbose,
            device=params.device,
            context=history_context(
                prepared.events,
                prepared.entity_of_event,
                entity_model.codec.protected_frame(prepared.entities),
                codec,
            ),
        )
        training["text_columns"] = list(text_models)
        training["text_seconds"] = round(time.perf_counter() - started, 3)
    return SequentialModel(
        meta, codec, network.eval(), entity_model, training, text_models, event_rules
    )
