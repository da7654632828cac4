"""Sequential sampling: the engine behind ``TabularARGN.sample`` for a sequential model.

Three ways to say which entities to generate, each in its own function, all ending in the same
step-by-step event generation (:func:`tabargn.sequential.generation.generate_sequences`):

* :func:`_new_entities`: new entities drawn by the entity model (``n_entities``, with
  ``conditions`` / ``where`` / ``rebalance`` on their context columns);
* :func:`_given_context`: sequences for given context rows (``context=``), optionally completing
  their ``seed_events``;
* :func:`_given_seed_events`: completion of ``seed_events`` in a model without context table.

Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), section 3.4.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tabargn.errors import InvalidDataError
from tabargn.flat import check_sampling_args, generation_order, sample_rows
from tabargn.generation import draw_generators, generate, network_device
from tabargn.schema import ColumnSpec, datetime_tz, restore_dtype, validate_frame
from tabargn.sequential.fit import SequentialModel
from tabargn.sequential.generation import generate_sequences
from tabargn.sequential.prepare import (
    GAP,
    LENGTH,
    NS_PER_SECOND,
    START,
    SequenceMeta,
    gaps_of,
    new_keys,
    order_numbers,
)
from tabargn.sequential.rules import EventRules, check_fairness, check_rows
from tabargn.sequential.text import STEP, history_context
from tabargn.text_columns import fill_text_columns

__all__ = ["sample_sequential"]

MAX_LENGTH_REDRAWS = 20


@dataclass
class _Seeds:
    """Seed events of a completion, sorted entity-major.

    Attributes:
        events: The seed rows as given, sorted by entity and order.
        codes, known: int64 / bool ``[n_seed, C]`` in the event codec.
        lengths: int64 ``[E]`` seed events per entity.
        numbers: float ``[n_seed]`` order values as numbers (None without ``order_by``).
        entity_of: int64 ``[n_seed]`` entity index of each seed event.
    """

    events: pd.DataFrame
    codes: np.ndarray
    known: np.ndarray
    lengths: np.ndarray
    numbers: np.ndarray | None
    entity_of: np.ndarray


@dataclass
class _Entities:
    """The entities whose sequences are generated.

    Attributes:
        codes: int64 ``[E, Ce]`` entity rows in the entity codec.
        frame: The decoded entity rows (context columns, ``LENGTH``, ``START``).
        keys: ``[E]`` the output entity keys.
        context: The context table returned for new entities, else None.
        seeds: Seed events to complete, or None.
    """

    codes: torch.Tensor
    frame: pd.DataFrame
    keys: pd.Series
    context: pd.DataFrame | None = None
    seeds: _Seeds | None = None


# ====================================================================== given entities
def _entity_codes_given(seq: SequentialModel, given: pd.DataFrame, min_length, torch_gen, np_gen):
    """Completes given entity rows (context and, for seeded entities, START) with the entity
    model; lengths are redrawn where they fall below ``min_length`` (then raised to it).

    Returns:
        ``(codes int64 [n, Ce], decoded entity frame)``.
    """
    em = seq.entity_model
    codes, known = em.codec.encode_partial(given.reset_index(drop=True), strict=False)
    codes_t, known_t = torch.as_tensor(codes), torch.as_tensor(known)
    order = generation_order(em.codec, [])
    constraint = em.codec.where_constraint({})
    filled = generate(
        em.network, codes_t, known_t, order=order, constraint=constraint, generator=torch_gen
    )
    decoded = em.codec.decode(filled.numpy(), np_gen, verbatim=given.reset_index(drop=True))
    short = np.flatnonzero(decoded[LENGTH].to_numpy() < min_length)
    for _ in range(MAX_LENGTH_REDRAWS):
        if not len(short):
            break
        rows = torch.as_tensor(short)
        again = generate(
            em.network,
            codes_t[rows],
            known_t[rows],
            order=order,
            constraint=constraint,
            generator=torch_gen,
        )
        filled[rows] = again
        part = em.codec.decode(
            again.numpy(), np_gen, verbatim=given.iloc[short].reset_index(drop=True)
        )
        decoded.loc[short, LENGTH] = part[LENGTH].to_numpy()
        short = short[part[LENGTH].to_numpy() < min_length[short]]
    return filled, decoded


def _seed_table(seq: SequentialModel, seed_events: pd.DataFrame, keys: pd.Index) -> _Seeds:
    """Sorts, checks and encodes seed events against the entities ``keys``."""
    meta = seq.meta
    seed_events = validate_frame(seed_events, what="seed_events")
    check_rows(seq.constraints, seed_events, "seed_events")
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
    return _Seeds(seeds, codes, known, lengths, numbers, entity_of)


def _complete_given(
    seq: SequentialModel, keys: pd.Index, out_keys, frame, seed_events, n_entities, gens
) -> _Entities:
    """Given entities (rows of ``frame``, keyed ``keys``): seeds checked, entity rows completed."""
    meta = seq.meta
    if n_entities is not None and n_entities != len(keys):
        raise InvalidDataError(
            f"n_entities={n_entities} but {len(keys)} entities are given; omit n_entities"
        )
    seeds = None
    seed_lengths = np.zeros(len(keys), dtype=np.int64)
    if seed_events is not None:
        seeds = _seed_table(seq, seed_events, keys)
        seed_lengths = seeds.lengths
        if meta.order_by is not None:  # the entity's start is its first seed's order value
            firsts = np.cumsum(seed_lengths) - seed_lengths
            has = seed_lengths > 0
            start = pd.Series([None] * len(keys), dtype=object)
            start.iloc[np.flatnonzero(has)] = (
                seeds.events[meta.order_by].iloc[firsts[has]].to_numpy(dtype=object)
            )
            frame[START] = start
    codes, decoded = _entity_codes_given(seq, frame, seed_lengths, *gens)
    return _Entities(codes, decoded, out_keys, seeds=seeds)


def _given_context(seq: SequentialModel, context, seed_events, n_entities, gens) -> _Entities:
    """Sequences for the rows of ``context`` (and completion of their ``seed_events``)."""
    meta = seq.meta
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
    frame = context.drop(columns=[meta.context_key]).reset_index(drop=True)
    out_keys = ckeys.reset_index(drop=True)
    return _complete_given(seq, pd.Index(ckeys), out_keys, frame, seed_events, n_entities, gens)


def _given_seed_events(seq: SequentialModel, seed_events, n_entities, gens) -> _Entities:
    """Completion of ``seed_events`` (a model without context table)."""
    meta = seq.meta
    if seq.has_context:
        raise InvalidDataError(
            "this model was fitted with a context table: pass context= with a row for every "
            "entity of seed_events"
        )
    if meta.entity_key not in seed_events.columns:
        raise InvalidDataError(f"seed_events lacks the entity key {meta.entity_key!r}")
    keys = pd.Index(pd.unique(seed_events[meta.entity_key].dropna()))
    frame = pd.DataFrame(index=range(len(keys)))
    return _complete_given(seq, keys, pd.Series(keys), frame, seed_events, n_entities, gens)


# ====================================================================== new entities
def _new_entities(
    seq: SequentialModel,
    n_entities,
    np_gen: np.random.Generator,
    *,
    conditions,
    where,
    rebalance,
    fairness,
    temperature: float,
    top_p: float,
) -> _Entities:
    """New entities drawn by the entity model, with new unique keys."""
    meta = seq.meta
    em = seq.entity_model
    if conditions is not None:
        if n_entities is not None and n_entities != len(conditions):
            raise InvalidDataError(
                f"n_entities={n_entities} but conditions has {len(conditions)} rows"
            )
        n_entities = len(conditions)
    if n_entities is None:
        n_entities = int(seq.training.get("n_entities", 0))
    if (
        not isinstance(n_entities, numbers.Integral)
        or isinstance(n_entities, bool)
        or n_entities < 0
    ):
        raise InvalidDataError(f"n_entities must be a non-negative integer, got {n_entities!r}")
    entity_stream = np.random.default_rng(int(np_gen.integers(0, 2**62)))
    frame = sample_rows(
        em,
        entity_stream,
        n_samples=None if conditions is not None else n_entities,
        conditions=conditions,
        where=where,
        rebalance=rebalance,
        temperature=temperature,
        top_p=top_p,
        fairness=fairness,
    ).reset_index(drop=True)
    codes = torch.as_tensor(em.codec.encode_partial(frame, missing_is_null=True, strict=False)[0])
    keys = new_keys(meta, len(frame))
    context = None
    if seq.has_context:
        entity_part = [c for c in meta.context_columns if c != meta.context_key]
        context = frame[entity_part].copy()
        context.insert(0, meta.context_key, keys)
        context = context[meta.context_columns]
        spec = meta.context_key_spec
        if spec is not None and meta.key_start is not None:
            context[meta.context_key] = restore_dtype(context[meta.context_key], ColumnSpec(**spec))
        context = context.reset_index(drop=True)
    return _Entities(codes, frame, keys, context=context)


# ====================================================================== events
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


def _events_of(
    seq: SequentialModel,
    entities: _Entities,
    *,
    temperature: float,
    top_p: float,
    torch_gen: torch.Generator,
    np_gen: np.random.Generator,
) -> pd.DataFrame:
    """Generates and decodes the events of ``entities``; seed events are kept verbatim.

    With event rules (``seq.constraints``) every generated event satisfies them: masks during
    the draws, then rejection per event of what the masks leave (:mod:`tabargn.sequential.rules`);
    ``attrs["constraint_redraws"]`` counts the events drawn again (rejections).

    Returns:
        The events with the fitted event columns and dtypes, sorted by entity and order.
    """
    meta = seq.meta
    seeds = entities.seeds
    n = len(entities.frame)
    seed_lengths = seeds.lengths if seeds is not None else np.zeros(n, dtype=np.int64)
    lengths = (
        pd.to_numeric(entities.frame[LENGTH], errors="coerce").fillna(0).round().astype(np.int64)
    )
    lengths = np.maximum(lengths.to_numpy(), seed_lengths)
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    entity_of = np.repeat(np.arange(n), lengths)
    step = np.arange(total) - offsets[entity_of]
    seed_pos = np.zeros(0, dtype=np.int64)
    seed_kwargs = {}
    if seeds is not None:
        seed_pos = offsets[seeds.entity_of] + (
            np.arange(len(seeds.entity_of))
            - (np.cumsum(seed_lengths) - seed_lengths)[seeds.entity_of]
        )
        seed_kwargs = {
            "seed_codes": torch.as_tensor(seeds.codes),
            "seed_known": torch.as_tensor(seeds.known),
            "seed_lengths": torch.as_tensor(seed_lengths),
        }
    key_values = entities.keys.to_numpy(dtype=object)[entity_of]
    key_series = restore_dtype(pd.Series(key_values), meta.spec(meta.entity_key))
    anchors = _anchors(meta, entities, lengths, entity_of, step) if meta.order_by else None
    numbers = np.zeros(total)  # order numbers, as the events are accepted (rules only)

    def assemble(decoded: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
        """Decoded events (all, or those at ``rows``) with their key and order values."""
        out = decoded.drop(columns=[GAP], errors="ignore").reset_index(drop=True)
        keys = key_series if rows is None else key_series.iloc[rows].reset_index(drop=True)
        out.insert(0, meta.entity_key, keys)
        if meta.order_by is not None:
            if rows is None:
                values = numbers if rules is not None else _order_numbers(meta, decoded, anchors)
            else:  # one step: the previous events of these entities are already accepted
                anchor, anchored = anchors[0][rows], anchors[1][rows]
                values = np.where(anchored, anchor, numbers[rows - 1] + _gaps(meta, decoded))
                numbers[rows] = values
            out[meta.order_by] = _restore_order(meta, values)
        return out[meta.event_columns]

    rules = None
    order = list(range(seq.event_codec.n_sub))
    constraint = seq.event_codec.where_constraint({})
    if seq.constraints:
        given = None if seeds is None else (seed_pos, seeds.codes, seeds.known, seeds.events)
        rules = EventRules(
            seq.event_codec,
            seq.constraints,
            total,
            given,
            rng=np_gen,
            frame_of=lambda part, rows: assemble(part, rows),
            keys=key_series.to_numpy(dtype=object),
            steps=step,
        )
        order, constraint = rules.order, rules.constraint
    codes = generate_sequences(
        seq.network,
        entities.codes,
        torch.as_tensor(lengths),
        order=order,
        constraint=constraint,
        accept=None if rules is None else rules.accept,
        temperature=temperature,
        top_p=top_p,
        generator=torch_gen,
        **seed_kwargs,
    )
    if rules is None:
        decoded = seq.event_codec.decode(codes.numpy(), np_gen)
    else:
        decoded = rules.decoded()
    out = assemble(decoded)
    if seeds is not None:
        keep = step >= seed_lengths[entity_of]
        position = np.concatenate([np.flatnonzero(keep), seed_pos])
        seeded = seeds.events[meta.event_columns].copy()
        merged = pd.concat(
            [out[keep].reset_index(drop=True), seeded.reset_index(drop=True)], ignore_index=True
        )
        out = merged.iloc[np.argsort(position, kind="stable")]
    out = out.reset_index(drop=True)
    out.attrs["constraint_redraws"] = 0 if rules is None else rules.redrawn
    return out


def _gaps(meta: SequenceMeta, decoded: pd.DataFrame) -> np.ndarray:
    """The drawn gaps as order-number steps (ns for datetimes), never negative."""
    gap = decoded[GAP].to_numpy(dtype=np.float64)
    if meta.order_kind == "datetime":
        gap = np.round(gap * NS_PER_SECOND)
    return np.maximum(gap, 0)


def _anchors(meta, entities: _Entities, lengths, entity_of, step):
    """``(anchor numbers, anchored)`` ``[n_events]``: each entity's start at its first event,
    and the seed events' own order values."""
    seeds = entities.seeds
    anchored = step == 0
    anchor = np.zeros(len(step))
    starts = _start_numbers(meta, entities.frame[START])
    anchor[anchored] = starts[entity_of[anchored]]
    if seeds is not None:
        seed_rows = step < seeds.lengths[entity_of]
        s_first = np.cumsum(seeds.lengths) - seeds.lengths
        s_step = np.arange(len(seeds.entity_of)) - s_first[seeds.entity_of]
        target = (np.cumsum(lengths) - lengths)[seeds.entity_of] + s_step
        anchor[target] = seeds.numbers.astype(np.float64)
        anchored = anchored | seed_rows
    return anchor, anchored


def _order_numbers(meta, decoded: pd.DataFrame, anchors) -> np.ndarray:
    """Order numbers from the drawn gaps, anchored at each entity's start and at seed events."""
    anchor, anchored = anchors
    gap = _gaps(meta, decoded)
    gap[anchored] = 0
    cum = np.cumsum(gap)
    last = np.maximum.accumulate(np.where(anchored, np.arange(len(gap)), 0))
    return anchor[last] + cum - cum[last]


# ====================================================================== entry point
def _fill_texts(seq: SequentialModel, entities: _Entities, events: pd.DataFrame, seed: int):
    """Generates the text event columns in place; seed events keep theirs (missing included)."""
    meta = seq.meta
    keys = restore_dtype(
        pd.Series(entities.keys.to_numpy(dtype=object)), meta.spec(meta.entity_key)
    )
    entity_of = pd.Index(keys).get_indexer(events[meta.entity_key])
    # the entity columns as the text models saw them in training: value-protected
    protected = seq.entity_model.codec.protected_frame(entities.frame)
    context = history_context(events, entity_of, protected, seq.event_codec)
    todo = np.ones(len(events), dtype=bool)
    if entities.seeds is not None:  # seed events are each entity's first events
        todo = context[STEP].to_numpy() >= entities.seeds.lengths[entity_of]
    part = events.loc[todo].reset_index(drop=True)
    fill_text_columns(
        part,
        None,
        seq.text_models,
        seq.event_codec.specs,
        seed,
        context=context.loc[todo].reset_index(drop=True),
    )
    specs = {s.name: s for s in seq.event_codec.specs}
    for name in seq.text_models:
        values = events[name].astype(object).to_numpy()
        values[todo] = part[name].astype(object).to_numpy()
        events[name] = restore_dtype(pd.Series(values), specs[name]).to_numpy()


def sample_sequential(
    seq: SequentialModel,
    stream: np.random.Generator,
    *,
    n_entities: int | None = None,
    context: pd.DataFrame | None = None,
    seed_events: pd.DataFrame | None = None,
    conditions: pd.DataFrame | None = None,
    where: dict | None = None,
    rebalance: dict | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    fairness: dict | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Generates sequences; see :meth:`tabargn.TabularARGN.sample` (sequential arguments).

    Rules on the events (``seq.constraints``) hold for every generated event, rules on the
    context table for every generated context row (:mod:`tabargn.sequential.rules`).

    Args:
        seq: The fitted sequential model.
        stream: The model's sampling stream; advanced by one draw per call.
        fairness: ``{"target": column, "sensitive": [columns]}`` on context columns only
            (:func:`tabargn.sequential.rules.check_fairness`), for new entities: statistical parity of the context
            table, as in flat sampling; the events are drawn given the fair context.

    Returns:
        The events; a ``(context, events)`` pair for new entities of a model with context table.

    Raises:
        ConditionError: ``fairness`` on event columns, without a context table, or with given
            context or seed events.
        ConstraintError: Given context or seed events that break a rule, or an event still
            breaking a Predicate after its tries.
    """
    check_sampling_args(temperature, top_p)
    given = context is not None or seed_events is not None
    if fairness:
        check_fairness(seq, fairness, given)
    if given and (conditions is not None or where or rebalance):
        raise InvalidDataError(
            "conditions, where and rebalance apply to new entities (n_entities), not to given "
            "context or seed_events"
        )
    torch_gen, np_gen = draw_generators(stream, network_device(seq.network))
    if context is not None:
        entities = _given_context(seq, context, seed_events, n_entities, (torch_gen, np_gen))
    elif seed_events is not None:
        entities = _given_seed_events(seq, seed_events, n_entities, (torch_gen, np_gen))
    else:
        entities = _new_entities(
            seq,
            n_entities,
            np_gen,
            conditions=conditions,
            where=where,
            rebalance=rebalance,
            fairness=fairness,
            temperature=temperature,
            top_p=top_p,
        )
    events = _events_of(
        seq, entities, temperature=temperature, top_p=top_p, torch_gen=torch_gen, np_gen=np_gen
    )
    if seq.text_models:  # texts from each event, its entity and its history
        _fill_texts(seq, entities, events, int(np_gen.integers(0, 2**31 - 1)))
    if entities.context is not None:
        return entities.context, events
    return events
