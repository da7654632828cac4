"""Sequential data preparation: validation, ordering, the entity table, time gaps and encoding.

An events table (many rows per entity) becomes two tables:

* the **entity table**, one row per entity: the context columns (when a context table is given),
  the sequence length :data:`LENGTH` and the first order value :data:`START`. A flat
  :class:`tabargn.TabularARGN` models it, so lengths and start times are learned jointly with the
  context and get the flat model's value protection (lengths are clipped to the k-th largest).
* the **event table**: the event columns plus the gap :data:`GAP` to the previous event of the
  same entity (order difference; seconds for a datetime ``order_by``; 0 at the first event).
  Order values are rebuilt at generation as ``START + cumsum(GAP)``, so time runs forward and
  gaps follow the learned distribution (DESIGN.md section 3: "time gaps relative to the previous
  event").

Free-text event columns are kind ``"text"`` in the event codec: not modelled by the network,
generated afterwards from a history context (:mod:`tabargn.sequential.text`).

Value protection of the event columns counts distinct *entities*, not events: a category
survives only if at least k entities hold it, and numeric/datetime ranges are clipped to the
k-th most extreme per-entity minimum and maximum (as mostlyai-engine counts root keys).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from tabargn.codec import MODELLED_KINDS, TableCodec, reduce_column
from tabargn.encoding import get_encoding
from tabargn.encoding.categorical import RARE_PLACEHOLDER
from tabargn.errors import InvalidDataError
from tabargn.schema import ColumnSpec, infer_schema, to_kind, validate_frame

__all__ = [
    "LENGTH",
    "START",
    "GAP",
    "SequenceMeta",
    "Prepared",
    "prepare_training",
    "fit_event_codec",
    "order_numbers",
    "gaps_of",
    "new_keys",
]

RESERVED = "__tabargn_"
LENGTH = "__tabargn_length"
START = "__tabargn_start"
GAP = "__tabargn_gap"
NS_PER_SECOND = 1_000_000_000


@dataclass
class SequenceMeta:
    """What a sequential model needs to know about its tables (JSON-serializable).

    Attributes:
        entity_key: Entity column of the events.
        order_by: Order column of the events (None: input order).
        order_kind: ``"numeric"``, ``"datetime"`` or None.
        event_columns: The events' columns in input order (key and order column included).
        specs: ``{column: ColumnSpec dict}`` of the key and the order column (dtype restore).
        context_key: Key column of the context table, or None without one.
        context_columns: The context's columns in input order (key included), or [].
        context_key_spec: ColumnSpec dict of the context key, or None.
        key_start: First integer of new integer keys (past every training key), or None.
        key_prefix: Prefix of new string keys (no training key starts with it), or None.
        window: Training window in steps.
    """

    entity_key: str
    order_by: str | None
    order_kind: str | None
    event_columns: list[str]
    specs: dict = field(default_factory=dict)
    context_key: str | None = None
    context_columns: list[str] = field(default_factory=list)
    context_key_spec: dict | None = None
    key_start: int | None = None
    key_prefix: str | None = None
    window: int = 100

    def to_dict(self) -> dict:
        return asdict(self)

    def spec(self, name: str) -> ColumnSpec:
        return ColumnSpec(**self.specs[name])


@dataclass
class Prepared:
    """Training tables of a sequential fit.

    Attributes:
        meta: The tables' description.
        entities: Entity table, one row per entity (context columns, LENGTH, START).
        events: Event table sorted by entity then order (event columns and GAP).
        lengths: int64 ``[E]`` events per entity (0 for context rows without events).
        entity_of_event: int64 ``[n_events]`` entity index of each sorted event.
    """

    meta: SequenceMeta
    entities: pd.DataFrame
    events: pd.DataFrame
    lengths: np.ndarray
    entity_of_event: np.ndarray


def _check_reserved(frame: pd.DataFrame, what: str) -> None:
    bad = [c for c in frame.columns if str(c).startswith(RESERVED)]
    if bad:
        raise InvalidDataError(f"{what} has columns {bad} with the reserved prefix {RESERVED!r}")


def _preview(values) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:5])
    return shown + (f", ... ({len(values)} in all)" if len(values) > 5 else "")


def _spec_of(frame: pd.DataFrame, name: str) -> ColumnSpec:
    return infer_schema(frame[[name]])[0]


def order_numbers(values: pd.Series, kind: str, name: str) -> np.ndarray:
    """Order values as numbers: int64 nanoseconds (datetime) or float64 (numeric).

    Raises:
        InvalidDataError: Missing values, or values that cannot be read as ``kind``.
    """
    if values.isna().any():
        raise InvalidDataError(
            f"order column {name!r} has {int(values.isna().sum())} missing values; every event "
            "needs an order value"
        )
    values = to_kind(values, kind, name)
    if kind == "datetime":
        return pd.DatetimeIndex(values).as_unit("ns").asi8.copy()
    return values.to_numpy(dtype=np.float64)


def gaps_of(numbers: np.ndarray, entity_of_event: np.ndarray, kind: str) -> np.ndarray:
    """Differences to the previous event of the same entity (0 at each entity's first event).

    Args:
        numbers: Order numbers of events sorted by entity then order (see :func:`order_numbers`).
        entity_of_event: Entity index of each event (sorted).
        kind: ``"datetime"`` (gaps in seconds, float64) or ``"numeric"``.

    Returns:
        float64 ``[n_events]``.
    """
    gap = np.zeros(len(numbers), dtype=np.float64)
    if len(numbers) > 1:
        diff = np.diff(numbers)
        same = entity_of_event[1:] == entity_of_event[:-1]
        gap[1:] = np.where(same, diff, 0)
    if kind == "datetime":
        gap = gap / NS_PER_SECOND
    return gap


def new_keys(meta: SequenceMeta, n: int) -> pd.Series:
    """``n`` new entity keys that no training entity has (integers past the largest, or strings
    with a prefix no training key starts with)."""
    if meta.key_start is not None:
        return pd.Series(np.arange(meta.key_start, meta.key_start + n, dtype=np.int64))
    width = len(str(max(n - 1, 0)))
    return pd.Series([f"{meta.key_prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _key_scheme(keys: pd.Series) -> tuple[int | None, str | None]:
    if pd.api.types.is_integer_dtype(keys.dtype) and not pd.api.types.is_bool_dtype(keys.dtype):
        return int(keys.max()) + 1, None
    as_text = keys.astype(str)
    prefix = "syn_"
    while as_text.str.startswith(prefix).any():
        prefix = prefix + "x_"
    return None, prefix


def prepare_training(
    events: pd.DataFrame,
    entity_key: str,
    order_by: str | None,
    context: pd.DataFrame | None,
    context_key: str | None,
) -> Prepared:
    """Validates and reshapes the training tables.

    Documented behaviour: unsorted events are sorted (stably) by entity and order, so events with
    equal order values keep their input order; entities with a single event are fine; context
    rows without events are entities with zero events (the length model learns them).

    Raises:
        InvalidDataError: A missing key or order column; missing entity keys or order values;
            an order column that is neither numeric nor datetime; a context table with missing
            or duplicate keys, or lacking some entities of the events; fewer than 2 entities;
            reserved column names.
    """
    events = validate_frame(events, what="events")
    _check_reserved(events, "events")
    if entity_key not in events.columns:
        raise InvalidDataError(f"entity_key {entity_key!r} is not a column of the events")
    keys = events[entity_key]
    if keys.isna().any():
        raise InvalidDataError(
            f"events[{entity_key!r}] has {int(keys.isna().sum())} missing values; every event "
            "needs an entity (drop those rows first)"
        )
    specs = {entity_key: _spec_of(events, entity_key).to_dict()}
    order_kind = None
    if order_by is not None:
        if order_by not in events.columns:
            raise InvalidDataError(f"order_by {order_by!r} is not a column of the events")
        if order_by == entity_key:
            raise InvalidDataError("order_by and entity_key must be different columns")
        order_spec = _spec_of(events, order_by)
        order_kind = order_spec.kind
        if order_kind not in ("numeric", "datetime"):
            raise InvalidDataError(
                f"order_by {order_by!r} must be a numeric or datetime column, got "
                f"{events[order_by].dtype} ({order_kind})"
            )
        specs[order_by] = order_spec.to_dict()

    context_columns: list[str] = []
    context_key_spec = None
    if context is not None:
        context = validate_frame(context, what="context")
        _check_reserved(context, "context")
        context_key = context_key or entity_key
        if context_key not in context.columns:
            raise InvalidDataError(f"context_key {context_key!r} is not a column of the context")
        ckeys = context[context_key]
        if ckeys.isna().any():
            raise InvalidDataError(f"context[{context_key!r}] has missing keys")
        dup = ckeys[ckeys.duplicated()]
        if len(dup):
            raise InvalidDataError(
                f"context[{context_key!r}] has duplicate keys: {_preview(dup.unique())}"
            )
        entity_keys = pd.Index(ckeys)
        entity_of = entity_keys.get_indexer(keys)
        if (entity_of < 0).any():
            missing = pd.unique(keys[entity_of < 0])
            raise InvalidDataError(
                f"{len(missing)} entities of the events have no row in the context table: "
                f"{_preview(missing)}"
            )
        context_columns = list(context.columns)
        context_key_spec = _spec_of(context, context_key).to_dict()
    else:
        if context_key is not None:
            raise InvalidDataError("context_key was given without a context table")
        entity_keys = pd.Index(pd.unique(keys))
        entity_of = entity_keys.get_indexer(keys)
    n_entities = len(entity_keys)
    if n_entities < 2:
        raise InvalidDataError(f"sequential fit needs at least 2 entities, got {n_entities}")

    # stable sort by entity, then order: equal order values keep their input order
    if order_by is not None:
        numbers = order_numbers(events[order_by], order_kind, order_by)
        perm = np.lexsort((numbers, entity_of))
        numbers = numbers[perm]
    else:
        perm = np.argsort(entity_of, kind="stable")
        numbers = None
    entity_of_event = entity_of[perm].astype(np.int64)
    sorted_events = events.iloc[perm].reset_index(drop=True)
    lengths = np.bincount(entity_of_event, minlength=n_entities).astype(np.int64)

    event_table = sorted_events.drop(columns=[c for c in (entity_key, order_by) if c])
    if order_by is not None:
        event_table[GAP] = gaps_of(numbers, entity_of_event, order_kind)
    if event_table.shape[1] == 0:
        raise InvalidDataError("the events have no column besides the entity key")

    if context is not None:
        entity_table = context.drop(columns=[context_key]).reset_index(drop=True)
    else:
        entity_table = pd.DataFrame(index=range(n_entities))
    entity_table[LENGTH] = lengths
    if order_by is not None:
        firsts = np.cumsum(lengths) - lengths
        has = lengths > 0
        start = sorted_events[order_by].iloc[firsts[has]].reset_index(drop=True)
        full = pd.Series([None] * n_entities, dtype=object)
        if order_kind == "datetime":
            start = to_kind(start, "datetime", order_by)
            full = pd.Series(pd.NaT, index=range(n_entities), dtype=start.dtype)
        else:
            full = pd.Series(np.nan, index=range(n_entities), dtype=np.float64)
        full.iloc[np.flatnonzero(has)] = start.to_numpy()
        entity_table[START] = full

    key_start, key_prefix = _key_scheme(pd.Series(entity_keys))
    meta = SequenceMeta(
        entity_key=entity_key,
        order_by=order_by,
        order_kind=order_kind,
        event_columns=list(events.columns),
        specs=specs,
        context_key=context_key if context is not None else None,
        context_columns=context_columns,
        context_key_spec=context_key_spec,
        key_start=key_start,
        key_prefix=key_prefix,
    )
    return Prepared(meta, entity_table, event_table, lengths, entity_of_event)


def fit_event_codec(
    events: pd.DataFrame,
    entity_of_event: np.ndarray,
    encoding_types: dict | None,
    *,
    value_protection: bool,
    rng: np.random.Generator,
    rare_placeholder: str = RARE_PLACEHOLDER,
    dp=None,
) -> TableCodec:
    """Fits the event codec with entity-level value protection.

    Every threshold counts distinct entities, never events (as ``mostlyai-engine`` counts root
    keys): categories and discrete numbers are counted once per entity holding them; numeric
    and datetime ranges are clipped to the k-th smallest per-entity minimum and k-th largest
    per-entity maximum, and a numeric or datetime column held by fewer than 2k entities keeps
    no value. So a value held by fewer than k entities is hidden even when one entity holds it
    many times.

    Args:
        events: The event table (see :func:`prepare_training`).
        entity_of_event: int64 ``[n_events]``.
        encoding_types: Column kind overrides.
        value_protection: As in :class:`tabargn.TabularARGN`.
        rng: Random generator of the fit (draws k).
        rare_placeholder: As in :class:`tabargn.TabularARGN`.
        dp: A :class:`tabargn.dp_statistics.StatisticsBudget`: DP statistics instead of value
            protection, from one event per entity drawn at random (so one entity changes every
            count by at most one).

    Free-text columns (typed ``"text"`` or detected) are kind ``"text"`` in the codec: not
    modelled by the network, generated by :mod:`tabargn.sequential.text`.

    Raises:
        InvalidDataError: Bad ``encoding_types``.
    """
    from tabargn.text_columns import detect_text_columns

    types = {k: v for k, v in (encoding_types or {}).items() if k in events.columns}
    specs = detect_text_columns(events, infer_schema(events, types), types)
    if dp is not None:
        order = rng.permutation(len(events))
        _, first = np.unique(np.asarray(entity_of_event)[order], return_index=True)
        one_each = events.iloc[np.sort(order[first])]
        return TableCodec.fit(
            one_each,
            specs,
            value_protection=False,
            rng=rng,
            rare_placeholder=rare_placeholder,
            dp=dp,
        )
    entity = pd.Series(entity_of_event)
    stats = {}
    for spec in specs:
        if spec.kind not in MODELLED_KINDS:
            continue
        enc = get_encoding(spec.kind)
        values = to_kind(events[spec.name], spec.kind, spec.name).reset_index(drop=True)
        pairs = pd.DataFrame({"e": entity, "v": values}).drop_duplicates()
        if spec.kind == "categorical":
            partial = enc.analyze(pairs["v"].reset_index(drop=True))
        else:
            partial = enc.analyze(values)
            if value_protection and partial["n"] > 0:
                frame = pd.DataFrame({"e": entity, "v": values}).dropna()
                grouped = frame.groupby("e")["v"]
                low = enc.analyze(grouped.min().reset_index(drop=True))
                high = enc.analyze(grouped.max().reset_index(drop=True))
                partial["low"], partial["high"] = low["low"], high["high"]
                partial["n_entities"] = int(frame["e"].nunique())
                if spec.kind == "numeric":  # discrete values: entities holding each
                    per_entity = enc.analyze(pairs["v"].reset_index(drop=True))
                    partial["entity_values"] = per_entity["values"]
                    partial["entity_weights"] = per_entity["weights"]
        stats[spec.name] = reduce_column(
            spec,
            [partial],
            value_protection=value_protection,
            rng=rng,
            rare_placeholder=rare_placeholder,
        )
    return TableCodec(specs, stats)
