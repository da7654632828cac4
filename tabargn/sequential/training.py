"""Training of the :class:`SequenceNetwork` with Lightning (same recipe as flat mode).

AdamW with ReduceLROnPlateau, EarlyStopping on the validation loss (nats per event) and the best
weights restored at the end, reusing :mod:`tabargn.training`'s callbacks. Windows of long
sequences are trained with truncated back-propagation: the LSTM state is carried into a window
without gradients (:meth:`SequenceNetwork.window_contexts`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping

from tabargn.sequential.data import SequenceDataModule
from tabargn.sequential.network import SequenceNetwork
from tabargn.training import BestWeights, TrainingConfig, resolve_device

__all__ = ["SequenceModule", "fit_sequence_network", "default_batch_events"]


def default_batch_events(n_events: int) -> int:
    """Events per batch: about 40 batches per epoch, a power of two in [64, 4096]."""
    target = max(n_events / 40, 1)
    return int(min(4096, max(64, 2 ** round(math.log2(target)))))


class SequenceModule(L.LightningModule):
    """LightningModule around :class:`SequenceNetwork` (loss: nats per event)."""

    def __init__(self, network: SequenceNetwork, config: TrainingConfig, batch_events: int):
        super().__init__()
        self.network = network
        self.config = config
        self.lr = config.learning_rate or min(2e-3 * math.sqrt(batch_events / 256), 4e-3)
        self._val_generator: torch.Generator | None = None

    def _loss(self, batch: dict, generator=None) -> tuple[torch.Tensor, int]:
        return self.network.window_loss(
            batch["codes"], batch["entity_codes"], batch["length"], int(batch["start"]), generator
        )

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        total, n = self._loss(batch)
        loss = total / max(n, 1)
        self.log("train_loss", loss, prog_bar=True, batch_size=max(n, 1))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_generator = torch.Generator(device=self.device).manual_seed(self.config.seed)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        total, n = self._loss(batch, self._val_generator)
        self.log("val_loss", total / max(n, 1), prog_bar=True, batch_size=max(n, 1), on_epoch=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.lr, weight_decay=self.config.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=max(1, self.config.patience // 2 - 1)
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"},
        }


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
    module = SequenceModule(network, config, batch_events)
    best = BestWeights()
    accelerator, precision = resolve_device(config.device)
    callbacks = [best, EarlyStopping(monitor="val_loss", patience=config.patience, mode="min")]
    if not config.verbose:
        for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
            logging.getLogger(name).setLevel(logging.ERROR)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_epochs=config.max_epochs,
        max_time={"seconds": config.max_time} if config.max_time else None,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=bool(config.verbose),
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*srun.*")
        trainer.fit(module, datamodule=data)
    network.cpu()
    return {
        "epochs": trainer.current_epoch,
        "best_epoch": best.best_epoch,
        "best_val_loss": best.best,
        "seconds": time.perf_counter() - started,
        "batch_events": batch_events,
        "window": window,
        "learning_rate": module.lr,
        "accelerator": accelerator,
        "precision": precision,
        "n_train_events": data.n_train_events,
        "n_train_entities": data.n_train_entities,
        "history": best.history,
    }
