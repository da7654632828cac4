"""Step-by-step generation of sequences, all entities of a batch at once.

For each step ``t`` the LSTM state of every still-running entity advances by one event (O(1) work
per step and entity; the state is carried, never recomputed from the start), then the event is
drawn sub-column by sub-column as in flat mode (:func:`tabargn.generation.draw_sub_columns`), with the
first regressor layer tabulated once for the whole run (:meth:`ARGN.first_layer_tables`).
Entities are processed longest first, so the running ones are always a prefix of the batch (no
gathers). Seed events (completion) are fed to the history verbatim; their unknown cells, if any,
are drawn like any other. An optional ``accept`` callback sees each step's events once drawn;
the ones it rejects are drawn again from the same history before the step ends (rejection per
event, :mod:`tabargn.sequential.rules`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tabargn.generation import Constraint, draw_sub_columns, network_device
from tabargn.sequential.network import SequenceNetwork

__all__ = ["generate_sequences"]


@torch.no_grad()
def generate_sequences(
    network: SequenceNetwork,
    entity_codes: torch.Tensor,
    lengths: torch.Tensor,
    *,
    order: list[int],
    seed_codes: torch.Tensor | None = None,
    seed_known: torch.Tensor | None = None,
    seed_lengths: torch.Tensor | None = None,
    constraint: Constraint | None = None,
    accept: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    batch_entities: int = 8192,
) -> torch.Tensor:
    """Generates every entity's events.

    Args:
        network: A trained network (evaluation mode is set here).
        entity_codes: int64 ``[E, Ce]`` entity rows (context, length, start) in the entity codec.
        lengths: int64 ``[E]`` number of events to generate per entity (including seeds).
        order: Event sub-columns in the order they are drawn.
        seed_codes: Optional int64 ``[n_seed, C]``: the seed events, entity-major, entity ``e``'s
            first ``seed_lengths[e]`` events.
        seed_known: bool ``[n_seed, C]``, which seed cells are given (others are drawn).
        seed_lengths: int64 ``[E]``, seed events per entity (``<= lengths``).
        constraint: Optional allowed-codes callback, as in :func:`tabargn.generation.generate`;
            the rows it is called with are the events' positions in the output (entity-major).
        accept: Optional ``(codes [r, C], positions [r]) -> bool [r]`` (CPU tensors), called
            on each step's drawn events; rejected events are drawn again (same history, seeded
            cells kept) and passed to it again until it accepts them all (it bounds the tries
            by raising).
        temperature, top_p: See :func:`tabargn.generation.draw_sub_columns`.
        generator: Torch random generator.
        batch_entities: Entities per batch.

    Returns:
        int64 ``[lengths.sum(), C]`` CPU tensor: events entity-major (entity 0's events first), in
        step order. The work runs on the network's device; ``generator`` must be on it too.
    """
    network.eval()
    argn = network.argn
    n_sub = argn.n_sub
    device = network_device(network)
    lengths = lengths.long()
    total = int(lengths.sum())
    offsets = (torch.cumsum(lengths, 0) - lengths).to(device)
    out = torch.zeros(total, n_sub, dtype=torch.long, device=device)
    if seed_lengths is None:
        seed_lengths = torch.zeros_like(lengths)
    seed_offsets = torch.cumsum(seed_lengths, 0) - seed_lengths
    tables = argn.first_layer_tables()
    by_length = torch.argsort(lengths, descending=True, stable=True)
    for b0 in range(0, len(by_length), batch_entities):
        ents = by_length[b0 : b0 + batch_entities]
        length = lengths[ents]
        if int(length[0]) == 0:  # sorted longest first: nothing to generate
            continue
        ctx = network.encode_context(entity_codes[ents].to(device))
        length_on_device = length.to(device)
        ents_on_device = ents.to(device)
        state = network.initial_state(ctx)
        seeds = seed_lengths[ents]
        prev = None
        for t in range(int(length[0])):
            n = int((length > t).sum())  # running entities: a prefix (sorted by length)
            state = (state[0][:, :n], state[1][:, :n])
            if t == 0:
                x = network.start.expand(n, 1, -1)
            else:
                x = argn.embed(prev[:n])[:, None, :]
            h, state = network.lstm(x, state)
            step = torch.full((n,), t, dtype=torch.long, device=device)
            context = network.event_context(h[:, 0], ctx[:n], step, length_on_device[:n])
            codes = torch.zeros(n, n_sub, dtype=torch.long, device=device)
            known = torch.zeros(n, n_sub, dtype=torch.bool, device=device)
            seeded = torch.nonzero(seeds[:n] > t).squeeze(1)
            if len(seeded):
                rows = seed_offsets[ents[seeded]] + t
                codes[seeded.to(device)] = seed_codes[rows].to(device)
                known[seeded.to(device)] = seed_known[rows].to(device)
            rows = offsets[ents_on_device[:n]] + t  # the events' positions in out
            draw = dict(
                order=order,
                tables=tables,
                constraint=constraint,
                temperature=temperature,
                top_p=top_p,
                generator=generator,
            )
            given = (codes.clone(), known.clone()) if accept is not None else None
            draw_sub_columns(argn, codes, known, rows=rows, context=context, **draw)
            if accept is not None:
                ok = accept(codes.cpu(), rows.cpu()).to(device)
                while not bool(ok.all()):
                    redo = torch.nonzero(~ok).squeeze(1)
                    again, again_known = given[0][redo], given[1][redo]
                    draw_sub_columns(
                        argn, again, again_known, rows=rows[redo], context=context[redo], **draw
                    )
                    codes[redo] = again
                    ok[redo] = accept(again.cpu(), rows[redo].cpu()).to(device)
            out[rows] = codes
            prev = codes
    return out.cpu()
