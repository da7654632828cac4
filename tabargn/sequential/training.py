"""Training of the :class:`SequenceNetwork` with Lightning (same recipe as flat mode).

AdamW with ReduceLROnPlateau, early stopping on a relative gain of the validation loss (nats
per event) and the best weights restored at the end: the Trainer, callbacks and optimizer come
from :mod:`tabargn.trainer`, like every other model here. Windows of long
sequences are trained with truncated back-propagation: the LSTM state is carried into a window
without gradients (:meth:`SequenceNetwork.window_contexts`).
"""

from __future__ import annotations

import math

import torch

from tabargn.marginal_calibration import CALIBRATION_ROWS, Batches
from tabargn.sequential.data import SequenceData, SequenceDataModule
from tabargn.sequential.network import SequenceNetwork
from tabargn.trainer import TrainingConfig, TrainingModule, fit_with_validation

__all__ = ["SequenceModule", "fit_sequence_network", "default_batch_events", "calibration_events"]


def default_batch_events(n_events: int) -> int:
    """Events per batch: about 40 batches per epoch, a power of two in [64, 4096]."""
    target = max(n_events / 40, 1)
    return int(min(4096, max(64, 2 ** round(math.log2(target)))))


class SequenceModule(TrainingModule):
    """LightningModule around :class:`SequenceNetwork` (loss: nats per event).

    Its learning-rate rule is the flat one with ``base=2e-3, cap=4e-3`` (an LSTM tolerates
    less than the flat network).
    """

    def __init__(self, network: SequenceNetwork, config: TrainingConfig, batch_events: int):
        super().__init__(network, config, batch_events, base_lr=2e-3, max_lr=4e-3)

    def _loss(self, batch: dict, generator=None) -> tuple[torch.Tensor, int]:
        return self.network.window_loss(
            batch["codes"], batch["entity_codes"], batch["length"], int(batch["start"]), generator
        )

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        total, n = self._loss(batch)
        loss = total / max(n, 1)
        self.log("train_loss", loss, prog_bar=True, batch_size=max(n, 1))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        total, n = self._loss(batch, self.val_generator)
        self.log(
            "val_loss",
            total / max(n, 1),
            prog_bar=True,
            batch_size=max(n, 1),
            on_epoch=True,
            sync_dist=True,
        )


def fit_sequence_network(
    network: SequenceNetwork,
    codes: torch.Tensor,
    offsets: torch.Tensor,
    lengths: torch.Tensor,
    entity_codes: torch.Tensor,
    config: TrainingConfig,
    *,
    window: int,
) -> dict:
    """Trains ``network`` in place on all entities' events.

    Args:
        network: The network to train.
        codes: int64 ``[n_events, C]`` sorted by entity and order.
        offsets, lengths: int64 ``[E]``: first event and number of events of each entity.
        entity_codes: int64 ``[E, Ce]``.
        config: Epochs, time limit, batch size (here: events per batch), learning rate, device.
        window: Steps per training window.

    Returns:
        JSON-serializable summary as :func:`tabargn.training.fit_network` (losses in nats per
        event), plus ``window`` and ``batch_events``.
    """
    n_events = int(lengths.sum())
    batch_events = config.batch_size or default_batch_events(int(n_events * 0.8))
    batch_events = max(batch_events, window)
    data = SequenceDataModule(
        codes,
        offsets,
        lengths,
        entity_codes,
        batch_events=batch_events,
        window=window,
        validation_share=config.validation_share,
        seed=config.seed,
    )
    summary = fit_with_validation(SequenceModule(network, config, batch_events), data, config)
    return {
        **summary,
        "batch_events": batch_events,
        "window": window,
        "n_train_events": data.n_train_events,
        "n_train_entities": data.n_train_entities,
    }


def calibration_events(
    network: SequenceNetwork,
    codes: torch.Tensor,
    offsets: torch.Tensor,
    lengths: torch.Tensor,
    entity_codes: torch.Tensor,
    *,
    seed: int,
    window: int,
    batch_events: int,
) -> Batches:
    """Events with their history contexts, for :func:`tabargn.marginal_calibration.calibrate_marginals`.

    The entities come in a seeded random order until they hold
    :data:`~tabargn.marginal_calibration.CALIBRATION_ROWS` events (all entities of smaller
    tables); each batch is one :meth:`SequenceData.plan` batch of windows at the training
    budget ``batch_events``, its contexts computed as in training (the history of the
    entity's real events before each one, :meth:`SequenceNetwork.window_contexts`), on the
    network's device.

    Args:
        network: The trained network, in evaluation mode.
        codes, offsets, lengths, entity_codes: As in :func:`fit_sequence_network`.
        seed: Seed of the entity order.
        window: Window length in steps (the fit's).
        batch_events: Events per batch (the fit's).

    Returns:
        :data:`~tabargn.marginal_calibration.Batches` of ``(events [b, C], contexts [b,
        context_dim])``.
    """
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed))
    held = torch.cumsum(lengths[order], 0)
    keep = order[: int(torch.searchsorted(held, CALIBRATION_ROWS)) + 1].sort().values
    data = SequenceData(codes, offsets, lengths, entity_codes, keep, window)
    device = network.argn.offsets.device

    def batches():
        for items in data.plan(batch_events, None):
            batch = data[items]
            events = batch["codes"].to(device)
            length = batch["length"].to(device)
            context = network.window_contexts(
                events, batch["entity_codes"].to(device), length, batch["start"]
            )
            start, steps = batch["start"], context.shape[1]
            valid = torch.arange(start, start + steps, device=device)[None, :] < length[:, None]
            yield events[:, start : start + steps][valid], context[valid]

    return batches
