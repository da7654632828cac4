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
from tabargn.trainer import (
    TrainingConfig,
    TrainingModule,
    default_learning_rate,
    fit_with_validation,
)

__all__ = ["ARGNModule", "fit_network", "default_batch_size", "averaged_learning_rate"]


def default_batch_size(n_rows: int) -> int:
    """Batch size by data size: at least 64 batches per epoch, a power of two in [32, 2048].

    Small batches give many updates per epoch, so training reaches its plateau in few epochs
    (adult, 31k rows: batch 256, best epoch about 10; batch 1024 needed about 50).
    """
    target = max(n_rows / 64, 1)
    return int(min(2048, max(32, 2 ** math.floor(math.log2(target)))))


#: With averaged weights the flat model trains at up to twice the square-root rule's rate
#: (:func:`tabargn.trainer.default_learning_rate`), but not above ``RATE_CEILING`` where that
#: rule itself stays below it: :func:`averaged_learning_rate`.
RATE_FACTOR, RATE_CEILING = 2.0, 3e-3


def averaged_learning_rate(batch_size: int) -> float:
    """The flat model's default learning rate: ``min(2 * r, max(r, 3e-3))`` where ``r`` is
    :func:`tabargn.trainer.default_learning_rate` (``3e-3 * sqrt(batch / 256)``, at most 6e-3).

    Batch 32: 2.1e-3 (``r`` = 1.1e-3); batch 64 to 256: 3e-3; from batch 256 on, ``r``. Measured
    with EMA weights (benchmarks/results/panel.md): twice ``r`` cut the epochs by about a third
    on the 2k-5k tables at better fidelity, while above 3e-3 fidelity fell on the larger ones
    (adult, batch 256: detection 0.940 at 6e-3 against 0.974 at 3e-3; census 16k rows, batch
    128: 0.918 at 4.2e-3 against 0.940 at 2.5e-3).
    """
    r = default_learning_rate(batch_size)
    return min(RATE_FACTOR * r, max(r, RATE_CEILING))


class ARGNModule(TrainingModule):
    """LightningModule around :class:`tabargn.model.ARGN` (loss: summed sub-column cross-entropy).

    Recipe: :func:`averaged_learning_rate`, the weights validated and kept as their
    exponential moving average with a half-life of one epoch
    (:class:`tabargn.weight_averaging.EMAWeights`), and early stopping after 3 epochs without
    a gain (the averaged validation loss is smooth, so a short patience stops no earlier than
    needed).
    """

    default_patience = 3
    ema_half_life = 1.0

    def default_rate(self, batch_size: int) -> float:
        return averaged_learning_rate(batch_size)

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
