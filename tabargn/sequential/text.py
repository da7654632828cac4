"""Free-text event columns of sequential models.

A text column of the event table is left out of the sequence network, as in flat tables
(:mod:`tabargn.text_columns`). After the network is trained, one :class:`llm_text.TextColumnModel`
per text column learns ``P(text | event row, entity, history)`` from a *history context* per
event (:func:`history_context`):

* the event's own modelled columns;
* its step index within the entity's sequence (0 for the first event);
* the previous event's modelled columns (missing for the first event);
* the entity row: the context table's columns, the sequence length and, with an order column,
  its first value.

``sample`` generates the events first and then each text from this context, so a text follows
its event, its entity and what came before, like the event columns themselves (TabularARGN,
Tiwald et al., 2025, arXiv 2501.12012, section 3.4: each event is drawn given the entity and the
history). Text values of seed events are kept verbatim.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabargn.codec import TableCodec
from tabargn.sequential.prepare import GAP, RESERVED

__all__ = ["STEP", "PREVIOUS", "ENTITY", "text_specs", "history_context"]

STEP = f"{RESERVED}step"
PREVIOUS = f"{RESERVED}previous_"
ENTITY = f"{RESERVED}entity_"
_CONTEXT_KINDS = ("categorical", "numeric", "datetime")


def text_specs(codec: TableCodec) -> list:
    """The event codec's text column specs (empty when there is none)."""
    return [s for s in codec.specs if s.kind == "text"]


def history_context(
    events: pd.DataFrame, entity_of: np.ndarray, entities: pd.DataFrame, codec: TableCodec
) -> pd.DataFrame:
    """The context a text model reads for every event.

    Args:
        events: ``[n_events, ...]`` events sorted by entity then order, with the codec's event
            columns (the entity key and the order column may be there; they are not used).
        entity_of: int64 ``[n_events]`` row of ``entities`` each event belongs to.
        entities: The entity table (context columns, length, start), one row per entity.
        codec: The event codec (its modelled columns are the event features).

    Returns:
        ``[n_events, n_features]``: the event's modelled columns, ``STEP``, the previous event's
        columns (``PREVIOUS`` + name) and the entity's columns (``ENTITY`` + name).
    """
    columns = [s.name for s in codec.specs if s.kind in _CONTEXT_KINDS and s.name != GAP]
    columns = [c for c in columns if c in events.columns]
    own = codec.protected_frame(events[columns].reset_index(drop=True))  # value-protected
    entity_of = np.asarray(entity_of, dtype=np.int64)
    first = np.r_[True, entity_of[1:] != entity_of[:-1]] if len(entity_of) else np.zeros(0, bool)
    step = pd.Series(entity_of).groupby(entity_of).cumcount().to_numpy()
    previous = own.shift(1)
    previous.loc[first] = np.nan
    previous.columns = [f"{PREVIOUS}{c}" for c in columns]
    entity = entities.reset_index(drop=True).iloc[entity_of].reset_index(drop=True)
    entity.columns = [f"{ENTITY}{c}" for c in entity.columns]
    out = pd.concat([own, previous, entity], axis=1)
    out[STEP] = step.astype(np.int64)
    return out
