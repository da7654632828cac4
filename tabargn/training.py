"""Training with Lightning: the LightningModule, callbacks and Trainer setup.

AdamW with ReduceLROnPlateau, EarlyStopping on the validation loss, and the best weights restored
at the end (TabularARGN paper, section 4; mostlyai-engine's training loop does the same). The
validation loss uses fixed random column orders, so epochs are compared on the same masks.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from tabargn.data import CodesDataModule
from tabargn.model import ARGN

__all__ = ["TrainingConfig", "ARGNModule", "fit_network", "default_batch_size", "resolve_device"]


@dataclass
class TrainingConfig:
    """Settings of one training run.

    Attributes:
        max_epochs: Upper limit on epochs.
        max_time: Upper limit on training wall time in seconds (None: none).
        batch_size: Rows per batch; None picks :func:`default_batch_size`.
        learning_rate: AdamW learning rate; None picks ``3e-3 * sqrt(batch_size / 256)``, at most 6e-3.
        weight_decay: AdamW weight decay.
        patience: Epochs without validation improvement before early stopping.
        min_improvement: Relative improvement of the validation loss that counts as one
            (``5e-4``: 0.05 % of the loss); smaller gains do not reset the patience counter.
        validation_share: Share of rows held out for validation.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (GPU with bf16-mixed when available).
        seed: Seed of the split, shuffling, masks and initialization.
        verbose: 0 silent, 1 progress bar.
    """

    max_epochs: int = 100
    max_time: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float = 1e-4
    patience: int = 5
    min_improvement: float = 5e-4
    validation_share: float = 0.2
    device: str = "cpu"
    seed: int = 0
    verbose: int = 1


def default_batch_size(n_rows: int) -> int:
    """Batch size by data size: at least 64 batches per epoch, a power of two in [32, 2048].

    Small batches give many updates per epoch, so training reaches its plateau in few epochs
    (adult, 31k rows: batch 256, best epoch about 10; batch 1024 needed about 50).
    """
    target = max(n_rows / 64, 1)
    return int(min(2048, max(32, 2 ** math.floor(math.log2(target)))))


def resolve_device(device: str) -> tuple[str, str]:
    """Maps ``device`` to Lightning's ``(accelerator, precision)``.

    ``"auto"`` takes CUDA with ``bf16-mixed`` when a GPU is present, else the CPU in 32-bit.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return "gpu", "bf16-mixed" if bf16 else "32-true"
    return "cpu", "32-true"


class ARGNModule(L.LightningModule):
    """LightningModule around :class:`tabargn.model.ARGN` (loss: summed sub-column cross-entropy)."""

    def __init__(self, network: ARGN, config: TrainingConfig, batch_size: int) -> None:
        super().__init__()
        self.network = network
        self.config = config
        self.lr = config.learning_rate or min(3e-3 * math.sqrt(batch_size / 256), 6e-3)
        self._val_generator: torch.Generator | None = None

    def training_step(self, codes: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self.network.loss(codes, self.network.random_visibility(codes.shape[0]))
        self.log("train_loss", loss, prog_bar=True, batch_size=codes.shape[0])
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_generator = torch.Generator(device=self.device).manual_seed(self.config.seed)

    def validation_step(self, codes: torch.Tensor, batch_idx: int) -> None:
        visible = self.network.random_visibility(codes.shape[0], generator=self._val_generator)
        loss = self.network.loss(codes, visible)
        self.log("val_loss", loss, prog_bar=True, batch_size=codes.shape[0], on_epoch=True)

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


class RelativeEarlyStopping(EarlyStopping):
    """Lightning's EarlyStopping with ``min_delta`` relative to the current loss.

    Losses are sums over sub-columns, so their scale grows with the number of columns; a
    relative threshold stops tables of any width at the same point of diminishing returns.
    """

    def __init__(self, monitor: str, patience: int, min_improvement: float) -> None:
        super().__init__(monitor=monitor, patience=patience, mode="min")
        self.min_improvement = min_improvement

    def _evaluate_stopping_criteria(self, current: torch.Tensor):
        # mode "min" compares ``current - min_delta < best``; min_delta is kept negative
        self.min_delta = -abs(float(current)) * self.min_improvement
        return super()._evaluate_stopping_criteria(current)


class BestWeights(Callback):
    """Keeps the weights of the best validation epoch in memory and restores them at the end.

    Lightning's ModelCheckpoint writes pickled ``.ckpt`` files; tabargn's model files are
    safetensors only, so the best state is kept as a tensor copy instead.
    """

    def __init__(self) -> None:
        self.best = math.inf
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[list[float]] = []  # [epoch, validation loss, seconds since start]
        self._started = time.perf_counter()

    def on_validation_epoch_end(self, trainer, module) -> None:
        loss = trainer.callback_metrics.get("val_loss")
        if loss is not None:
            elapsed = round(time.perf_counter() - self._started, 2)
            self.history.append([trainer.current_epoch, round(float(loss), 5), elapsed])
        if loss is not None and float(loss) < self.best:
            self.best, self.best_epoch = float(loss), trainer.current_epoch
            self.state = copy.deepcopy(module.network.state_dict())

    def on_fit_end(self, trainer, module) -> None:
        if self.state is not None:
            module.network.load_state_dict(self.state)


def fit_network(network: ARGN, codes: torch.Tensor, config: TrainingConfig) -> dict:
    """Trains ``network`` on ``codes`` (int64 ``[n_rows, C]``) in place.

    Returns:
        A JSON-serializable summary: epochs, best epoch, best validation loss (nats per row),
        seconds, batch size, learning rate, accelerator, precision, and the history of
        ``[epoch, validation loss, seconds]``.
    """
    batch_size = config.batch_size or default_batch_size(
        int(codes.shape[0] * (1 - config.validation_share))
    )
    data = CodesDataModule(codes, batch_size, config.validation_share, config.seed)
    module = ARGNModule(network, config, batch_size)
    best = BestWeights()
    accelerator, precision = resolve_device(config.device)
    stopping = RelativeEarlyStopping("val_loss", config.patience, config.min_improvement)
    callbacks = [best, stopping]
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
        "batch_size": batch_size,
        "learning_rate": module.lr,
        "accelerator": accelerator,
        "precision": precision,
        "n_train_rows": int(data.train_codes.shape[0]),
        "history": best.history,
    }
