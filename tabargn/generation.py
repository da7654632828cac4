"""Generation from a trained :class:`tabargn.model.ARGN`: sampling, conditions, imputation, scores.

Every operation is vectorized over rows and processed in batches of rows. A row's *known* set
is what it already holds (conditions, observed cells, sub-columns drawn so far). Because the
network was trained on random column orders (permutation masks), conditioning on any known set
is just another order: the known sub-columns come first, the rest are drawn one sub-column at a
time, each from ``P(x_i | known)`` (TabularARGN paper, section 3.3, "flexible generation").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np
import torch

from tabargn.device import check_device, torch_device
from tabargn.model import ARGN, LazyCodeTables

__all__ = [
    "Constraint",
    "network_device",
    "networks_on",
    "sampling_stream",
    "draw_generators",
    "default_batch_rows",
    "sample_codes",
    "draw_sub_columns",
    "generate",
    "row_log_prob",
    "sub_column_proba",
]


class Constraint(Protocol):
    """Allowed codes of a sub-column for some rows (``where`` restrictions, imputation).

    ``subs`` lists the sub-columns it may restrict; it is called only for those, with CPU
    tensors: ``(sub-column, row indices [r], codes of those rows [r, C]) -> bool [r, K]`` or
    None (no restriction).
    """

    subs: frozenset[int]

    def __call__(
        self, sub: int, rows: torch.Tensor, codes: torch.Tensor
    ) -> torch.Tensor | None: ...


def sampling_stream(seed: int) -> np.random.Generator:
    """The sampling random stream of a model fitted (or loaded) with ``seed``.

    Fitting uses the stream ``[seed, 0]``; sampling starts at ``[seed, 1]`` after fit and after
    load, so a saved and reloaded model draws the same rows as the model that was saved.
    """
    return np.random.default_rng([seed, 1])


def draw_generators(
    stream: np.random.Generator, device: torch.device | str = "cpu"
) -> tuple[torch.Generator, np.random.Generator]:
    """Two fresh generators for one generation call, drawn from ``stream``.

    Args:
        stream: The model's sampling stream.
        device: Where the sub-column draws run (the network's device).

    Returns:
        ``(torch generator on device for the sub-column draws, numpy generator for decoding)``.
        Each call advances ``stream``, so consecutive calls give different rows. The same
        seed gives the same rows on the same device; a GPU draws another stream than the CPU.
    """
    a, b = stream.integers(0, 2**62, size=2)
    return torch.Generator(device=device).manual_seed(int(a)), np.random.default_rng(int(b))


#: Largest first-layer table set (floats) that generation builds at once: 32 MB in float32.
EAGER_TABLE_ELEMENTS = 2**23


def network_device(network: torch.nn.Module) -> torch.device:
    """The device a network's parameters are on (where its inference runs)."""
    return next(network.parameters()).device


def default_batch_rows(device: torch.device) -> int:
    """Rows generated per batch: 8,192 on the CPU, 131,072 on a GPU.

    On the CPU a batch's per-sub-column tensors (``[rows, hidden]`` floats) stay small enough to
    be reused from the heap instead of freshly mapped and page-faulted at every step. First
    ``sample()`` call after a fit, all rows of the training table, plain-install venv, two cores,
    8,192 / 16,384 rows per batch: adult (39,074 rows) 0.19-0.23 / 0.32-0.37 s, census_income_kdd
    (16,000) 0.18 / 0.33-0.41 s, nycflights13_flights (16,000) 0.17-0.20 / 0.22-0.24 s, baseball
    (17,359) 0.16 / 0.16-0.22 s; tables of at most 8,192 rows draw one batch either way.
    """
    return 131_072 if device.type == "cuda" else 8_192


def sample_codes(
    logits: torch.Tensor,
    *,
    allowed: torch.Tensor | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draws one code per row from logits.

    Args:
        logits: float ``[B, K]``.
        allowed: Optional bool ``[B, K]``; disallowed codes get probability zero. A row with no
            allowed code falls back to all codes (callers validate restrictions beforehand).
        temperature: Divides the logits (> 0; < 1 sharpens, > 1 flattens).
        top_p: Nucleus sampling: keep the smallest set of codes whose probability reaches
            ``top_p`` (Holtzman et al., 2020). 1.0 keeps all.
        generator: Torch random generator.

    Returns:
        int64 ``[B]``.
    """
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / max(temperature, 1e-6)
    if allowed is not None:
        ok = allowed.any(dim=1, keepdim=True)
        logits = logits.masked_fill(~allowed & ok, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        before = sorted_p.cumsum(dim=-1) - sorted_p  # mass strictly before each code
        sorted_p = sorted_p.masked_fill(before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(1, idx, sorted_p)
    # inverse-CDF draw: one uniform per row (much faster than torch.multinomial on CPU)
    cdf = probs.cumsum(dim=-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device) * cdf[:, -1:]
    drawn = torch.searchsorted(cdf, u, right=True).squeeze(1)  # codes with cdf <= u
    # never land on a zero-probability code: after a code of probability zero the cdf stays
    # flat, so only u rounded up to the total mass can get there; those rows take their last
    # code of positive probability
    k = probs.shape[1]
    off = (drawn >= k) | (probs.gather(1, drawn.clamp(max=k - 1)[:, None]).squeeze(1) <= 0)
    if bool(off.any()):
        rows = off.nonzero().squeeze(1)
        last_positive = k - 1 - (probs[rows] > 0).flip(1).int().argmax(dim=1)
        drawn[rows] = torch.minimum(drawn[rows], last_positive)
    return drawn


@torch.no_grad()
def generate(
    network: ARGN,
    codes: torch.Tensor,
    known: torch.Tensor,
    *,
    order: list[int],
    constraint: Constraint | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
    context: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fills the unknown sub-columns of each row, on the network's device.

    Args:
        network: A trained network (evaluation mode is set here).
        codes: int64 ``[n, C]``; entries where ``known`` is True are kept as they are.
        known: bool ``[n, C]``.
        order: Sub-column indices in the order they are drawn (each row skips the ones it knows).
            The sub-columns of one column must appear in their fixed order.
        constraint: Optional callback returning allowed codes for a sub-column (``where``
            restrictions, no NULL in imputation).
        temperature, top_p: See :func:`sample_codes`.
        generator: Torch random generator on the network's device (the single source of
            randomness).
        batch_size: Rows per batch (None: :func:`default_batch_rows`).
        context: Optional float ``[n, context_dim]`` per-row context vectors (sequential models).

    Returns:
        int64 ``[n, C]``, a new CPU tensor.
    """
    network.eval()
    device = network_device(network)
    batch_size = batch_size or default_batch_rows(device)
    out = codes.clone()
    # every first-layer table at once when they are small (one batched matmul per input
    # sub-column), else one at a time (the full set is C x total_codes x H floats)
    tables = network.first_layer_tables(max_elements=EAGER_TABLE_ELEMENTS)
    if tables is None:
        tables = LazyCodeTables.for_network(network)
    for start in range(0, codes.shape[0], batch_size):
        stop = min(start + batch_size, codes.shape[0])
        batch = out[start:stop].to(device)  # on the CPU: a view of out, drawn in place
        draw_sub_columns(
            network,
            batch,
            known[start:stop].to(device, copy=True),
            order=order,
            rows=torch.arange(start, stop, device=device),
            context=None if context is None else context[start:stop].to(device),
            tables=tables,
            constraint=constraint,
            temperature=temperature,
            top_p=top_p,
            generator=generator,
        )
        out[start:stop] = batch
    return out


def draw_sub_columns(
    network: ARGN,
    codes: torch.Tensor,
    known: torch.Tensor,
    *,
    order: list[int],
    rows: torch.Tensor,
    context: torch.Tensor | None,
    tables,
    constraint: Constraint | None,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
) -> None:
    """The generation loop of flat rows and of sequential events: one sub-column at a time.

    Each row draws its unknown sub-columns in ``order`` from ``P(x_sub | known)``; a drawn
    sub-column becomes known for the next ones (TabularARGN paper, section 3.3).

    Args:
        network: The ARGN in evaluation mode.
        codes: int64 ``[b, C]``, updated in place.
        known: bool ``[b, C]``, updated in place (all True at the end).
        order: Sub-column indices in drawing order.
        rows: int64 ``[b]``: the rows' indices as ``constraint`` knows them.
        context: Optional float ``[b, context_dim]`` per-row context (sequential models).
        tables: :meth:`ARGN.first_layer_tables` or :class:`LazyCodeTables` (None: the direct
            first layer).
        constraint, temperature, top_p, generator: See :func:`generate`.
    """
    # unconditional sampling (and conditions set on every row alike): every row knows the same
    # sub-columns at every step, so the known codes' table rows are kept in a buffer, one column
    # appended per drawn sub-column, instead of gathered from ``codes`` at every step
    start = None if tables is None else network.shared_known_codes(codes, known)
    shared = start is not None
    if shared:
        known_flat = torch.empty_like(codes)  # [b, C]: the first n_known columns are in use
        n_known = start.shape[1]
        known_flat[:, :n_known] = start
    for sub in order:
        missing = ~known[:, sub]
        if not missing.any():
            continue
        todo = slice(None) if missing.all() else missing.nonzero().squeeze(1)  # all: no gathers
        logits = network.sub_column_logits(
            sub,
            codes[todo],
            known[todo],
            None if context is None else context[todo],
            tables,
            known_flat=known_flat[:, :n_known].contiguous() if shared else None,
        )
        allowed = None
        if constraint is not None and sub in constraint.subs:  # restrictions live on the CPU
            allowed = constraint(sub, rows[todo].cpu(), codes[todo].cpu())
            allowed = None if allowed is None else allowed.to(codes.device)
        drawn = sample_codes(
            logits, allowed=allowed, temperature=temperature, top_p=top_p, generator=generator
        )
        codes[todo, sub] = drawn
        known[todo, sub] = True
        if shared:  # every row drew this sub-column (it was missing in all of them)
            known_flat[:, n_known] = drawn + network.offsets[sub]
            n_known += 1


@torch.no_grad()
def row_log_prob(network: ARGN, codes: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Log-likelihood of each row under the fixed column order (the data's column order).

    Runs on the network's device.

    Returns:
        float32 ``[n]`` CPU tensor: the sum over sub-columns of ``log P(x_i | x_<i)`` in nats.
        Numbers and datetimes are scored at the resolution of their encoding (bins), not as
        densities.
    """
    network.eval()
    device = network_device(network)
    rank = torch.arange(network.n_columns, device=device)[None, :]
    result = []
    for start in range(0, codes.shape[0], batch_size):
        batch = codes[start : start + batch_size].to(device)
        visible = network.visibility_from_ranks(rank.expand(batch.shape[0], -1))
        result.append(network.log_probs(batch, visible).sum(dim=1).float().cpu())
    return torch.cat(result) if result else torch.zeros(0)


@torch.no_grad()
def sub_column_proba(
    network: ARGN, sub: int, codes: torch.Tensor, known: torch.Tensor, batch_size: int = 16384
) -> torch.Tensor:
    """``P(x_sub | known)`` for each row, on the network's device: float32 ``[n, K]`` on the CPU."""
    network.eval()
    device = network_device(network)
    parts = [
        torch.softmax(
            network.sub_column_logits(
                sub, codes[s : s + batch_size].to(device), known[s : s + batch_size].to(device)
            ).float(),
            dim=-1,
        ).cpu()
        for s in range(0, codes.shape[0], batch_size)
    ]
    return torch.cat(parts)


@contextmanager
def networks_on(networks: list[torch.nn.Module], device: str | None) -> Iterator[None]:
    """Moves ``networks`` to ``device`` for one inference call, and back to where they were.

    Args:
        networks: The networks of one model.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"``; None leaves them.

    Raises:
        DeviceError: A device this machine does not have.
    """
    if device is None:
        yield
        return
    target = torch_device(check_device(device))
    homes = [network_device(n) for n in networks]
    try:
        for network in networks:
            network.to(target)
        yield
    finally:
        for network, home in zip(networks, homes, strict=True):
            network.to(home)
