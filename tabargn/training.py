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

__all__ = ["ARGNModule", "fit_network", "default_batch_size"]


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
