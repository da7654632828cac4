"""Flat training: the LightningModule of :class:`tabargn.model.ARGN` and its run.

The Trainer, callbacks, optimizer and device come from :mod:`tabargn.trainer` (shared with the
sequential, DP-SGD and offline text models); the batches from :mod:`tabargn.data`. The
validation loss uses fixed random column orders, so epochs are compared on the same masks.
"""

from __future__ import annotations

import math

import torch

from tabargn.data import CodesDataModule
from tabargn.model import ARGN
from tabargn.trainer import TrainingConfig, TrainingModule, fit_with_validation

__all__ = ["ARGNModule", "fit_network", "default_batch_size", "FLAT_PATIENCE"]

#: Early-stopping patience of flat models (epochs without a relative validation gain of
#: ``min_improvement``); sequential and DP-SGD runs keep :class:`TrainingConfig`'s 5. Replayed on
#: the validation histories of the 18 fits of the issue-13 panel (``benchmarks/stopping_replay.py
#: panel-20261201c``): 4 instead of 5 ends 16 of the 18 fits one epoch sooner, and
#: census_income_kdd 20k and nycflights13_flights 20k 6 and 9 epochs sooner, for at most 0.17 %
#: more best validation loss (flights 20k; the others at most 0.04 %).
FLAT_PATIENCE = 4


def default_batch_size(n_rows: int) -> int:
    """Batch size by data size: at least 64 batches per epoch, a power of two in [32, 2048].

    Small batches give many updates per epoch, so training reaches its plateau in few epochs
    (adult, 31k rows: batch 256, best epoch about 10; batch 1024 needed about 50).
    """
    target = max(n_rows / 64, 1)
    return int(min(2048, max(32, 2 ** math.floor(math.log2(target)))))


class ARGNModule(TrainingModule):
    """LightningModule around :class:`tabargn.model.ARGN` (loss: summed sub-column cross-entropy)."""

    def training_step(self, codes: torch.Tensor, batch_idx: int) -> torch.Tensor:
        visible = self.network.random_visibility(codes.shape[0])
        loss = self.network.loss(codes, visible, fast=True)
        self.log("train_loss", loss, prog_bar=True, batch_size=codes.shape[0])
        return loss

    def validation_step(self, codes: torch.Tensor, batch_idx: int) -> None:
        visible = self.network.random_visibility(codes.shape[0], generator=self.val_generator)
        loss = self.network.loss(codes, visible, fast=True)
        self.log(
            "val_loss",
            loss,
            prog_bar=True,
            batch_size=codes.shape[0],
            on_epoch=True,
            sync_dist=True,
        )


def fit_network(network: ARGN, codes: torch.Tensor, config: TrainingConfig) -> dict:
    """Trains ``network`` on ``codes`` (int64 ``[n_rows, C]``) in place; it ends on the CPU.

    Returns:
        A JSON-serializable summary: epochs, best epoch, best validation loss (nats per row),
        seconds, batch size, learning rate, accelerator, precision, and the history of
        ``[epoch, validation loss, seconds]``.
    """
    batch_size = config.batch_size or default_batch_size(
        int(codes.shape[0] * (1 - config.validation_share))
    )
    data = CodesDataModule(codes, batch_size, config.validation_share, config.seed)
    summary = fit_with_validation(ARGNModule(network, config, batch_size), data, config)
    return {
        **summary,
        "batch_size": batch_size,
        "n_train_rows": int(data.train_codes.shape[0]),
    }
