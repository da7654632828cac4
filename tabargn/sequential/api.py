"""Sequential fit and sample behind :class:`tabargn.TabularARGN` (``fit(..., entity_key=...)``).

Two models make a sequential model:

1. the **entity model**, a flat :class:`tabargn.TabularARGN` over the entity table (context
   columns, sequence length, first order value; :mod:`tabargn.sequential.prepare`). It draws new
   entities, and completes given context rows with a length and a start;
2. the **sequence network** (:mod:`tabargn.sequential.network`), which draws each entity's events
   step by step given the entity row and the history.

Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), section 3.4; the entity/event split
mirrors mostlyai-engine's context and target tables.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tabargn.codec import TableCodec
from tabargn.errors import InvalidDataError
from tabargn.model import MODEL_SIZES, REGRESSOR_DROPOUT
from tabargn.sampling import generate
from tabargn.schema import datetime_tz, restore_dtype, validate_frame
from tabargn.sequential.generation import generate_sequences
from tabargn.sequential.network import SequenceConfig, SequenceNetwork, default_dims
from tabargn.sequential.prepare import (
    GAP,
    LENGTH,
    NS_PER_SECOND,
    START,
    SequenceMeta,
    fit_event_codec,
    gaps_of,
    new_keys,
    order_numbers,
    prepare_training,
)
from tabargn.sequential.training import fit_sequence_network
from tabargn.training import TrainingConfig

__all__ = ["SequentialModel", "fit_sequential", "sample_sequential"]

DEFAULT_WINDOW = 100
MAX_LENGTH_REDRAWS = 20


@dataclass
class SequentialModel:
    """The fitted parts of a sequential :class:`tabargn.TabularARGN` (its ``sequential_``).

    Attributes:
        meta: Table description (keys, order column, columns, new-key scheme).
        event_codec: Codec of the event table (event columns and the gap column).
        network: The trained :class:`SequenceNetwork` (CPU, eval mode).
        entity_model: The flat model of the entity table.
    """

    meta: SequenceMeta
    event_codec: TableCodec
    network: SequenceNetwork
    entity_model: object

    @property
    def has_context(self) -> bool:
        return self.meta.context_key is not None


# ====================================================================== fit
def fit_sequential(
    model,
    events: pd.DataFrame,
    *,
    entity_key: str,
    order_by: str | None = None,
    context: pd.DataFrame | None = None,
    context_key: str | None = None,
):
    """Fits ``model`` (a :class:`tabargn.TabularARGN`) on events per entity; returns ``model``.

    See :meth:`tabargn.TabularARGN.fit`. Raises the errors of
    :func:`tabargn.sequential.prepare.prepare_training`, and :class:`InvalidDataError` for
    differential privacy (not supported for sequences).
    """
    from tabargn.estimator import TabularARGN

    model._check_params()
    if model.differential_privacy not in (None, False):
        raise InvalidDataError("differential_privacy is not supported for sequential models")
    prepared = prepare_training(events, entity_key, order_by, context, context_key)
    seed = model.random_state
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    rng = np.random.default_rng([seed, 0])
    meta = prepared.meta
    meta.window = DEFAULT_WINDOW
    codec = fit_event_codec(
        prepared.events,
        prepared.entity_of_event,
        model.encoding_types,
        value_protection=model.value_protection,
        rng=rng,
    )
    if codec.n_sub == 0:
        raise InvalidDataError("no event column can be modelled (all empty)")

    # 1. the entity model (flat): context columns, length and start
    entity_types = {
        k: v for k, v in (model.encoding_types or {}).items() if k in prepared.entities.columns
    }
    entity_model = TabularARGN(
        model_size=model.model_size,
        max_epochs=model.max_epochs,
        max_time=model.max_time,
        value_protection=model.value_protection,
        encoding_types=entity_types or None,
        device=model.device,
        random_state=int(rng.integers(0, 2**31)),
        verbose=model.verbose,
    ).fit(prepared.entities)

    # 2. the sequence network
    entity_codes = torch.as_tensor(entity_model.codec_.encode(prepared.entities))
    codes = torch.as_tensor(codec.encode(prepared.events))
    hidden, n_layers = MODEL_SIZES[model.model_size]
    history_dim, context_dim = default_dims(hidden)
    config = SequenceConfig(
        event={
            "cardinalities": codec.cardinalities,
            "column_of": codec.column_of,
            "position": codec.position,
            "hidden": hidden,
            "n_layers": n_layers,
            "dropout": REGRESSOR_DROPOUT,
        },
        entity_cardinalities=entity_model.codec_.cardinalities,
        history_dim=history_dim,
        context_dim=context_dim,
    )
    lengths = torch.as_tensor(prepared.lengths)
    offsets = torch.cumsum(lengths, 0) - lengths
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SequenceNetwork(config)
        summary = fit_sequence_network(
            network,
            codes,
            offsets,
            lengths,
            entity_codes,
            TrainingConfig(
                max_epochs=model.max_epochs,
                max_time=model.max_time,
                batch_size=model.batch_size,
                learning_rate=model.learning_rate,
                device=model.device,
                seed=seed,
                verbose=model.verbose,
            ),
            window=meta.window,
        )
    model.seed_ = seed
    model.sequential_ = SequentialModel(meta, codec, network.eval(), entity_model)
    model.codec_ = codec
    model.network_ = network
    model.feature_names_in_ = np.asarray(meta.event_columns, dtype=object)
    model.n_features_in_ = len(meta.event_columns)
    model.training_ = {
        **summary,
        "n_rows": int(len(prepared.events)),
        "n_entities": int(len(prepared.lengths)),
        "entity_model": {k: v for k, v in entity_model.training_.items() if k not in ("history",)},
    }
    model._reset_stream()
    return model


# ====================================================================== sample
def _entity_codes_given(seq: SequentialModel, given: pd.DataFrame, min_length, torch_gen, np_gen):
    """Completes given entity rows (context and, for seeded entities, START) with the entity
    model; lengths are redrawn where they fall below ``min_length`` (then raised to it).

    Returns:
        ``(codes int64 [n, Ce], decoded entity frame)``.
    """
    em = seq.entity_model
    codes, known = em.codec_.encode_partial(given.reset_index(drop=True), strict=False)
    codes_t, known_t = torch.as_tensor(codes), torch.as_tensor(known)
    order = em._order([])
    constraint = em.codec_.where_constraint({})
    filled = generate(
        em.network_, codes_t, known_t, order=order, constraint=constraint, generator=torch_gen
    )
    decoded = em.codec_.decode(filled.numpy(), np_gen, verbatim=given.reset_index(drop=True))
    short = np.flatnonzero(decoded[LENGTH].to_numpy() < min_length)
    for _ in range(MAX_LENGTH_REDRAWS):
        if not len(short):
            break
        rows = torch.as_tensor(short)
        again = generate(
            em.network_,
            codes_t[rows],
            known_t[rows],
            order=order,
            constraint=constraint,
            generator=torch_gen,
        )
        filled[rows] = again
        part = em.codec_.decode(
            again.numpy(), np_gen, verbatim=given.iloc[short].reset_index(drop=True)
        )
        decoded.loc[short, LENGTH] = part[LENGTH].to_numpy()
        short = short[part[LENGTH].to_numpy() < min_length[short]]
    return filled, decoded


def _seed_table(seq: SequentialModel, seed_events: pd.DataFrame, keys: pd.Index):
    """Sorts and encodes seed events; returns (sorted seeds, codes, known, seed lengths, numbers)."""
    meta = seq.meta
    seed_events = validate_frame(seed_events, what="seed_events")
    missing_cols = [c for c in (meta.entity_key, meta.order_by) if c and c not in seed_events]
    if missing_cols:
        raise InvalidDataError(f"seed_events lacks the columns {missing_cols}")
    unknown_cols = [c for c in seed_events.columns if c not in set(meta.event_columns)]
    if unknown_cols:
        raise InvalidDataError(f"seed_events has columns {unknown_cols} that the events had not")
    skeys = seed_events[meta.entity_key]
    if skeys.isna().any():
        raise InvalidDataError("seed_events has missing entity keys")
    entity_of = keys.get_indexer(skeys)
    if (entity_of < 0).any():
        bad = pd.unique(skeys[entity_of < 0])
        raise InvalidDataError(
            f"seed_events has {len(bad)} entities that are not in the context table: "
            f"{list(bad[:5])}"
        )
    numbers = None
    if meta.order_by is not None:
        numbers = order_numbers(seed_events[meta.order_by], meta.order_kind, meta.order_by)
        perm = np.lexsort((numbers, entity_of))
        numbers = numbers[perm]
    else:
        perm = np.argsort(entity_of, kind="stable")
    entity_of = entity_of[perm].astype(np.int64)
    seeds = seed_events.iloc[perm].reset_index(drop=True)
    table = seeds.drop(columns=[c for c in (meta.entity_key, meta.order_by) if c])
    if meta.order_by is not None:
        table[GAP] = gaps_of(numbers, entity_of, meta.order_kind)
    codes, known = seq.event_codec.encode_partial(table, strict=False)
    lengths = np.bincount(entity_of, minlength=len(keys)).astype(np.int64)
    return seeds, codes, known, lengths, numbers, entity_of


def _restore_order(meta: SequenceMeta, values: np.ndarray) -> pd.Series:
    spec = meta.spec(meta.order_by)
    if meta.order_kind == "datetime":
        tz = datetime_tz(spec)
        out = pd.to_datetime(values.astype(np.int64), utc=tz is not None)
        if tz is not None:
            out = out.tz_convert(tz)
        return restore_dtype(pd.Series(out), spec)
    return restore_dtype(pd.Series(values), spec)


def _start_numbers(meta: SequenceMeta, start: pd.Series) -> np.ndarray:
    if meta.order_kind == "datetime":
        s = pd.to_datetime(start)
        ns = pd.DatetimeIndex(s).as_unit("ns").asi8.copy()
        return np.where(s.isna().to_numpy(), 0, ns).astype(np.float64)
    return pd.to_numeric(start, errors="coerce").fillna(0).to_numpy(dtype=np.float64)


def sample_sequential(
    model,
    *,
    n_entities: int | None = None,
    context: pd.DataFrame | None = None,
    seed_events: pd.DataFrame | None = None,
    conditions: pd.DataFrame | None = None,
    where: dict | None = None,
    rebalance: dict | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
):
    """Generates sequences; see :meth:`tabargn.TabularARGN.sample` (sequential arguments)."""
    seq: SequentialModel = model.sequential_
    meta = seq.meta
    em = seq.entity_model
    model._check_sampling_args(temperature, top_p)
    given = context is not None or seed_events is not None
    if given and (conditions is not None or where or rebalance):
        raise InvalidDataError(
            "conditions, where and rebalance apply to new entities (n_entities), not to given "
            "context or seed_events"
        )
    torch_gen, np_gen = model._generators()
    entity_part = [c for c in meta.context_columns if c != meta.context_key]

    if context is not None:
        if not seq.has_context:
            raise InvalidDataError("this model was fitted without a context table")
        context = validate_frame(context, what="context")
        if meta.context_key not in context.columns:
            raise InvalidDataError(f"context lacks its key column {meta.context_key!r}")
        ckeys = context[meta.context_key]
        if ckeys.isna().any() or ckeys.duplicated().any():
            raise InvalidDataError("context keys must be unique and not missing")
        unknown = [c for c in context.columns if c not in set(meta.context_columns)]
        if unknown:
            raise InvalidDataError(f"context has columns {unknown} that were not fitted")
        keys = pd.Index(ckeys)
        out_keys = ckeys.reset_index(drop=True)
        frame = context.drop(columns=[meta.context_key]).reset_index(drop=True)
    elif seed_events is not None:
        if seq.has_context:
            raise InvalidDataError(
                "this model was fitted with a context table: pass context= with a row for every "
                "entity of seed_events"
            )
        if meta.entity_key not in seed_events.columns:
            raise InvalidDataError(f"seed_events lacks the entity key {meta.entity_key!r}")
        keys = pd.Index(pd.unique(seed_events[meta.entity_key].dropna()))
        out_keys = pd.Series(keys)
        frame = pd.DataFrame(index=range(len(keys)))
    else:
        keys = None

    if keys is not None:  # given entities
        if n_entities is not None and n_entities != len(keys):
            raise InvalidDataError(
                f"n_entities={n_entities} but {len(keys)} entities are given; omit n_entities"
            )
        n = len(keys)
        seed_lengths = np.zeros(n, dtype=np.int64)
        seeds = None
        if seed_events is not None:
            seeds, s_codes, s_known, seed_lengths, s_numbers, s_entity = _seed_table(
                seq, seed_events, keys
            )
            if meta.order_by is not None:
                firsts = np.cumsum(seed_lengths) - seed_lengths
                has = seed_lengths > 0
                start = pd.Series([None] * n, dtype=object)
                start.iloc[np.flatnonzero(has)] = (
                    seeds[meta.order_by].iloc[firsts[has]].to_numpy(dtype=object)
                )
                frame[START] = start
        entity_codes, entities = _entity_codes_given(seq, frame, seed_lengths, torch_gen, np_gen)
        context_out = None
    else:
        if conditions is not None:
            if n_entities is not None and n_entities != len(conditions):
                raise InvalidDataError(
                    f"n_entities={n_entities} but conditions has {len(conditions)} rows"
                )
            n_entities = len(conditions)
        if n_entities is None:
            n_entities = int(model.training_.get("n_entities", 0))
        if (
            not isinstance(n_entities, numbers.Integral)
            or isinstance(n_entities, bool)
            or n_entities < 0
        ):
            raise InvalidDataError(f"n_entities must be a non-negative integer, got {n_entities!r}")
        em._stream = np.random.default_rng(int(np_gen.integers(0, 2**62)))
        entities = em.sample(
            n_samples=None if conditions is not None else n_entities,
            conditions=conditions,
            where=where,
            rebalance=rebalance,
            temperature=temperature,
            top_p=top_p,
        ).reset_index(drop=True)
        entity_codes = torch.as_tensor(
            em.codec_.encode_partial(entities, missing_is_null=True, strict=False)[0]
        )
        n = len(entities)
        seed_lengths = np.zeros(n, dtype=np.int64)
        seeds = None
        out_keys = new_keys(meta, n)
        context_out = None
        if seq.has_context:
            context_out = entities[entity_part].copy()
            context_out.insert(0, meta.context_key, out_keys)
            context_out = context_out[meta.context_columns]
            spec = meta.context_key_spec
            if spec is not None and meta.key_start is not None:
                from tabargn.schema import ColumnSpec

                context_out[meta.context_key] = restore_dtype(
                    context_out[meta.context_key], ColumnSpec(**spec)
                )

    lengths = pd.to_numeric(entities[LENGTH], errors="coerce").fillna(0).round().astype(np.int64)
    lengths = np.maximum(lengths.to_numpy(), seed_lengths)
    lengths_t = torch.as_tensor(lengths)
    gen_kwargs = {}
    if seeds is not None:
        gen_kwargs = {
            "seed_codes": torch.as_tensor(s_codes),
            "seed_known": torch.as_tensor(s_known),
            "seed_lengths": torch.as_tensor(seed_lengths),
        }
    codes = generate_sequences(
        seq.network,
        entity_codes,
        lengths_t,
        order=list(range(seq.event_codec.n_sub)),
        constraint=seq.event_codec.where_constraint({}),
        temperature=temperature,
        top_p=top_p,
        generator=torch_gen,
        **gen_kwargs,
    )
    decoded = seq.event_codec.decode(codes.numpy(), np_gen)
    total = len(decoded)
    entity_of = np.repeat(np.arange(n), lengths)
    step = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out = decoded.drop(columns=[GAP], errors="ignore")
    key_values = out_keys.to_numpy(dtype=object)[entity_of]
    key_series = restore_dtype(pd.Series(key_values), meta.spec(meta.entity_key))
    out.insert(0, meta.entity_key, key_series)
    if meta.order_by is not None:
        gap = decoded[GAP].to_numpy(dtype=np.float64)
        if meta.order_kind == "datetime":
            gap = np.round(gap * NS_PER_SECOND)
        gap = np.maximum(gap, 0)
        anchored = step == 0
        anchor = np.zeros(total)
        starts = _start_numbers(meta, entities[START])
        anchor[anchored] = starts[entity_of[anchored]]
        if seeds is not None:
            seed_rows = step < seed_lengths[entity_of]
            s_nums = s_numbers.astype(np.float64)
            s_first = np.cumsum(seed_lengths) - seed_lengths
            s_step = np.arange(len(s_entity)) - s_first[s_entity]
            target = (np.cumsum(lengths) - lengths)[s_entity] + s_step
            anchor[target] = s_nums
            anchored = anchored | seed_rows
        gap[anchored] = 0
        cum = np.cumsum(gap)
        last = np.maximum.accumulate(np.where(anchored, np.arange(total), 0))
        values = anchor[last] + cum - cum[last]
        out[meta.order_by] = _restore_order(meta, values)
    out = out[meta.event_columns]
    if seeds is not None:
        keep = step >= seed_lengths[entity_of]
        seed_pos = (np.cumsum(lengths) - lengths)[s_entity] + (
            np.arange(len(s_entity)) - (np.cumsum(seed_lengths) - seed_lengths)[s_entity]
        )
        position = np.concatenate([np.flatnonzero(keep), seed_pos])
        seeded = seeds[meta.event_columns].copy()
        merged = pd.concat(
            [out[keep].reset_index(drop=True), seeded.reset_index(drop=True)], ignore_index=True
        )
        out = merged.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
    else:
        out = out.reset_index(drop=True)
    if context_out is not None:
        return context_out.reset_index(drop=True), out
    return out
