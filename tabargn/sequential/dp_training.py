"""DP-SGD of the sequence network: one entity (its whole sequence) is one privacy unit.

Differential privacy protects an entity, not an event: an entity with 30 events must change the
model no more than one with 3. So each step Poisson-samples *entities* (rate ``q``), computes
every sampled entity's gradient of the summed loss of all its events (context encoder, LSTM
history and the event network together), clips it to ``max_grad_norm``, sums, adds Gaussian
noise and steps (Abadi et al., 2016), with opacus's RDP accountant as in flat mode
(:mod:`tabargn.dp_sgd`, whose Lightning module this one extends).

Per-entity gradients come from ``torch.func`` (``vmap`` over ``grad`` of one entity's loss,
``functional_call`` on the unchanged :class:`SequenceNetwork`): the ghost-norm capture of flat
mode relies on every weight being used once per row, which an LSTM unrolled over steps
breaks. An entity's loss is written with :meth:`ARGN.forward` over its padded steps, and padded
steps are masked out, so no entity's gradient depends on another's (tested against per-entity
backward passes in ``tests/test_dp_sequential.py``). Entities are processed in chunks of
``CHUNK`` to bound memory (``CHUNK`` times the network's size). Sequences are trained whole (no
truncated windows): a window boundary would not change the unit, but whole sequences keep
one gradient per entity simple to state.
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.utils.data import DataLoader

from tabargn.data import CodeRows
from tabargn.dp_sgd import DPARGNModule, DPConfig, _PoissonBatches, plan_steps, run_dp
from tabargn.sequential.network import SequenceNetwork
from tabargn.trainer import TrainingConfig

__all__ = ["CHUNK", "entity_loss", "per_entity_gradients", "fit_sequence_network_dp"]

CHUNK = 16
"""Entities whose per-entity gradients are in memory at once."""


def entity_loss(
    network: SequenceNetwork,
    codes: torch.Tensor,
    entity_codes: torch.Tensor,
    length: torch.Tensor,
    visible: torch.Tensor,
) -> torch.Tensor:
    """Summed cross-entropy (nats) of every entity's real events, ``[B]``.

    Args:
        network: The sequence network.
        codes: int64 ``[B, T, C]``, padded past each entity's length.
        entity_codes: int64 ``[B, Ce]``.
        length: int64 ``[B]``.
        visible: bool ``[B, T, C, C]`` permutation masks.
    """
    b, t, c = codes.shape
    context = network.window_contexts(codes, entity_codes, length, 0)  # [B, T, ctx]
    argn = network.argn
    flat = codes.reshape(b * t, c)
    total = 0.0
    for g, logits in enumerate(argn(flat, visible.reshape(b * t, c, c), context.flatten(0, 1))):
        target = flat[:, getattr(argn, f"members_{g}")].T  # [m, B * T]
        ce = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), reduction="none")
        total = total + ce.view(-1, b, t).sum(0)
    valid = torch.arange(t, device=codes.device)[None, :] < length[:, None]
    return (total * valid).sum(1)


class _OneEntity(nn.Module):
    """``forward`` = :func:`entity_loss` of one entity (for ``functional_call`` under vmap)."""

    def __init__(self, network: SequenceNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, codes, entity_codes, length, visible):
        return entity_loss(
            self.network, codes[None], entity_codes[None], length[None], visible[None]
        )[0]


def per_entity_gradients(
    network: SequenceNetwork,
    codes: torch.Tensor,
    entity_codes: torch.Tensor,
    length: torch.Tensor,
    visible: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Each entity's gradient of its own summed loss, ``{parameter name: [B, *shape]}``.

    Arguments as :func:`entity_loss`. Dropout draws differ per entity (``randomness="different"``).
    """
    wrapper = _OneEntity(network)
    names = [n for n, p in wrapper.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in wrapper.named_parameters() if p.requires_grad}
    buffers = dict(wrapper.named_buffers())

    def loss(p, x, e, n, v):
        return functional_call(wrapper, {**p, **buffers}, (x, e, n, v))

    with warnings.catch_warnings():  # nn.LSTM runs through vmap's (correct) slow fallback
        warnings.filterwarnings("ignore", message=".*performance drop.*")
        grads = vmap(grad(loss), in_dims=(None, 0, 0, 0, 0), randomness="different")(
            params, codes, entity_codes, length, visible
        )
    prefix = len("network.")
    return {n[prefix:]: grads[n] for n in names}


def _padded(codes, offsets, lengths, entities):
    """Codes ``[B, T, C]`` of the given entities, padded with their last event."""
    length = lengths[entities]
    t = max(int(length.max()), 2)  # the history encoder needs two steps to shift by one
    steps = torch.arange(t)[None, :].clamp(max=(length - 1)[:, None])
    return codes[offsets[entities][:, None] + steps], length


class DPSequenceModule(DPARGNModule):
    """:class:`tabargn.dp_sgd.DPARGNModule` whose batches are entities, clipped per entity."""

    def __init__(self, network, codes, offsets, lengths, entity_codes, config, **kwargs):
        super().__init__(network, config, **kwargs)
        self.codes, self.offsets, self.lengths = codes, offsets, lengths
        self.entity_codes = entity_codes

    def clipped_sum(self, entities: torch.Tensor):
        net = self.network
        sums = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in net.named_parameters()}
        all_norms = []
        for chunk in entities.split(CHUNK):
            codes, length = _padded(self.codes, self.offsets, self.lengths, chunk)
            codes, length = codes.to(self.device), length.to(self.device)
            b, t, c = codes.shape
            visible = net.argn.random_visibility(b * t).view(b, t, c, c)
            ent = self.entity_codes[chunk].to(self.device)
            grads = per_entity_gradients(net, codes, ent, length, visible)
            norms = torch.cat([g.flatten(1) for g in grads.values()], 1).norm(dim=1)
            scale = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
            for n, g in grads.items():
                sums[n] += torch.einsum("b...,b->...", g.float(), scale)
            all_norms.append(norms)
        return sums, torch.cat(all_norms)


class _EntityBatches(L.LightningDataModule):
    def __init__(self, n_entities: int, sample_rate: float, steps: int, seed: int) -> None:
        super().__init__()
        self.n, self.q, self.steps = n_entities, sample_rate, steps
        self.generator = torch.Generator().manual_seed(seed + 1)

    def train_dataloader(self) -> DataLoader:
        sampler = _PoissonBatches(self.n, self.q, self.steps, self.generator)
        return DataLoader(CodeRows(torch.arange(self.n)), sampler=sampler, batch_size=None)


def default_batch_entities(n_entities: int) -> int:
    """Expected entities per DP step: about 20 steps per epoch, in [16, 256]."""
    return int(min(256, max(16, n_entities // 20)))


def fit_sequence_network_dp(
    network: SequenceNetwork,
    codes: torch.Tensor,
    offsets: torch.Tensor,
    lengths: torch.Tensor,
    entity_codes: torch.Tensor,
    config: TrainingConfig,
    dp: DPConfig,
) -> dict:
    """Trains ``network`` with entity-level DP-SGD on all entities (no validation split).

    Args:
        network, codes, offsets, lengths, entity_codes: As
            :func:`tabargn.sequential.training.fit_sequence_network`.
        config: ``batch_size`` is the expected number of *entities* per step (default
            :func:`default_batch_entities`); ``max_epochs`` passes over the entities.
        dp: The training budget (``max_epsilon``, ``delta``) and clipping.

    Returns:
        The summary of :func:`tabargn.dp_sgd.run_dp` (``training_epsilon``, ``training_delta``,
        ``noise_multiplier``, ``steps``...) with ``n_train_entities``.
    """
    n = int(lengths.shape[0])
    batch = min(config.batch_size or default_batch_entities(n), n)
    sample_rate, steps_per_epoch, sigma, max_steps = plan_steps(n, batch, config.max_epochs, dp)
    module = DPSequenceModule(
        network,
        codes,
        offsets,
        lengths,
        entity_codes,
        config,
        expected_batch_size=sample_rate * n,
        sample_rate=sample_rate,
        noise_multiplier=sigma,
        max_grad_norm=dp.max_grad_norm,
        max_steps=max_steps,
    )
    data = _EntityBatches(n, sample_rate, steps_per_epoch, config.seed)
    summary = run_dp(module, data, config, dp, batch, n, steps_per_epoch)
    return {**summary, "n_train_entities": n}
