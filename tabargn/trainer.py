"""The one Lightning Trainer factory: device, precision, callbacks, early stopping and logging.

Flat training (:mod:`tabargn.training`), sequential training (:mod:`tabargn.sequential.training`),
DP-SGD (:mod:`tabargn.dp_sgd`) and the offline text model (:mod:`llm_text.offline_training`) all
build their ``lightning.Trainer`` here and run it through :func:`run_fit`, so a setting such as
the device, the precision or the quiet logging is decided in one place.

The shared recipe (TabularARGN paper, section 4; mostlyai-engine's training loop does the same):
AdamW with ReduceLROnPlateau on the validation loss (:func:`adamw_with_plateau`), early stopping
on a relative gain of the validation loss (:class:`RelativeEarlyStopping`), and the weights of
the best validation epoch restored at the end (:class:`BestWeights`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

__all__ = [
    "TrainingConfig",
    "resolve_device",
    "default_learning_rate",
    "adamw_with_plateau",
    "RelativeEarlyStopping",
    "BestWeights",
    "quiet_lightning",
    "make_trainer",
    "run_fit",
    "TrainingModule",
    "fit_with_validation",
]

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


@dataclass
class TrainingConfig:
    """Settings of one training run.

    Attributes:
        max_epochs: Upper limit on epochs.
        max_time: Upper limit on training wall time in seconds (None: none).
        batch_size: Rows (flat) or events (sequential) per batch; None picks one by data size.
        learning_rate: AdamW learning rate; None picks :func:`default_learning_rate`.
        weight_decay: AdamW weight decay.
        patience: Epochs without validation improvement before early stopping.
        min_improvement: Relative improvement of the validation loss that counts as one
            (``5e-4``: 0.05 % of the loss); smaller gains do not reset the patience counter.
        validation_share: Share of rows (or entities) held out for validation.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (GPU with bf16-mixed when
            available).
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


def default_learning_rate(batch_size: int, base: float = 3e-3, cap: float = 6e-3) -> float:
    """The learning-rate rule of every model here: ``base * sqrt(batch_size / 256)``, at most ``cap``.

    Square-root scaling keeps the gradient noise per step comparable across batch sizes
    (Krizhevsky, 2014, "One weird trick"; Hoffer et al., 2017). Flat rows use the defaults;
    sequential events (``base=2e-3, cap=4e-3``) train an LSTM, which tolerates less.
    """
    return min(base * math.sqrt(batch_size / 256), cap)


def adamw_with_plateau(module: L.LightningModule, lr: float, config: TrainingConfig) -> dict:
    """``configure_optimizers`` result: AdamW, halved on a validation-loss plateau.

    The plateau patience is half the early-stopping patience (at least 1 epoch), so the rate is
    lowered at least once before training stops.
    """
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=0.5, patience=max(1, config.patience // 2 - 1)
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

    Args:
        attribute: Name of the LightningModule attribute holding the trained ``nn.Module``.
        monitor: The logged validation metric.
    """

    def __init__(self, attribute: str = "network", monitor: str = "val_loss") -> None:
        self.attribute = attribute
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[list[float]] = []  # [epoch, validation loss, seconds since start]
        self._started = time.perf_counter()

    def on_validation_epoch_end(self, trainer, module) -> None:
        loss = trainer.callback_metrics.get(self.monitor)
        if loss is None:
            return
        elapsed = round(time.perf_counter() - self._started, 2)
        self.history.append([trainer.current_epoch, round(float(loss), 5), elapsed])
        if float(loss) < self.best:
            self.best, self.best_epoch = float(loss), trainer.current_epoch
            self.state = copy.deepcopy(getattr(module, self.attribute).state_dict())

    def on_fit_end(self, trainer, module) -> None:
        if self.state is not None:
            getattr(module, self.attribute).load_state_dict(self.state)


@contextlib.contextmanager
def quiet_lightning(verbose: int) -> Iterator[None]:
    """Silences Lightning's info logging while ``verbose`` is 0; levels are restored after."""
    loggers = [logging.getLogger(n) for n in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        if not verbose:
            for lg in loggers:
                lg.setLevel(logging.ERROR)
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def make_trainer(
    config: TrainingConfig,
    *,
    callbacks: list[Callback] | None = None,
    max_epochs: int | None = None,
    validate: bool = True,
) -> L.Trainer:
    """The Lightning Trainer for one training run.

    Args:
        config: Device, epochs, time limit and verbosity.
        callbacks: Callbacks (best weights, early stopping, ...).
        max_epochs: Overrides ``config.max_epochs`` (DP-SGD plans its own epochs).
        validate: False runs no validation loop (DP-SGD trains on all rows).

    Returns:
        A ``lightning.Trainer`` without logger, checkpoints, model summary or sanity check.
    """
    accelerator, precision = resolve_device(config.device)
    extra = {} if validate else {"limit_val_batches": 0}
    with quiet_lightning(config.verbose):  # Lightning logs its device summary here
        return L.Trainer(
            accelerator=accelerator,
            devices=1,
            precision=precision,
            max_epochs=config.max_epochs if max_epochs is None else max_epochs,
            max_time={"seconds": config.max_time} if config.max_time else None,
            callbacks=callbacks or [],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=bool(config.verbose),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            **extra,
        )


def run_fit(
    trainer: L.Trainer,
    module: L.LightningModule,
    datamodule: L.LightningDataModule | None = None,
    *,
    verbose: int,
    **loaders,
) -> dict:
    """Runs ``trainer.fit`` quietly and returns the fields every training summary shares.

    Args:
        trainer: From :func:`make_trainer`.
        module: The LightningModule.
        datamodule: Its DataModule, or None with ``train_dataloaders=`` / ``val_dataloaders=``
            in ``loaders``.
        verbose: 0 silences Lightning's logging.

    Returns:
        ``{"epochs", "seconds", "accelerator", "precision"}``; the trained module stays on the
        device it trained on (callers move it).
    """
    started = time.perf_counter()
    with quiet_lightning(verbose), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*srun.*")
        trainer.fit(module, datamodule=datamodule, **loaders)
    return {
        "epochs": trainer.current_epoch,
        "seconds": time.perf_counter() - started,
        "accelerator": "gpu" if trainer.strategy.root_device.type == "cuda" else "cpu",
        "precision": str(trainer.precision),
    }


class TrainingModule(L.LightningModule):
    """Base of the validated LightningModules (flat and sequential ARGN).

    It holds the network and the run's settings, draws the validation masks from a generator
    reset to the run's seed at every validation epoch (so epochs are compared on the same
    masks), and configures :func:`adamw_with_plateau`.

    Args:
        network: The ``nn.Module`` to train (stored as ``self.network``).
        config: The run's settings.
        batch_size: Rows (or events) per batch, for :func:`default_learning_rate`.
        base_lr, max_lr: The learning-rate rule's ``base`` and ``cap``; ``config.learning_rate``
            overrides the rule.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        config: TrainingConfig,
        batch_size: int,
        *,
        base_lr: float = 3e-3,
        max_lr: float = 6e-3,
    ) -> None:
        super().__init__()
        self.network = network
        self.config = config
        self.lr = config.learning_rate or default_learning_rate(batch_size, base_lr, max_lr)
        self.val_generator: torch.Generator | None = None

    def on_validation_epoch_start(self) -> None:
        self.val_generator = torch.Generator(device=self.device).manual_seed(self.config.seed)

    def configure_optimizers(self):
        return adamw_with_plateau(self, self.lr, self.config)


def fit_with_validation(
    module: TrainingModule, datamodule: L.LightningDataModule, config: TrainingConfig
) -> dict:
    """Trains ``module`` to early stopping and restores its best weights; the network ends on
    the CPU.

    Returns:
        ``{"epochs", "best_epoch", "best_val_loss", "seconds", "learning_rate", "accelerator",
        "precision", "history"}``, JSON-serializable; ``history`` holds
        ``[epoch, validation loss, seconds]`` rows.
    """
    best = BestWeights()
    stopping = RelativeEarlyStopping("val_loss", config.patience, config.min_improvement)
    trainer = make_trainer(config, callbacks=[best, stopping])
    run = run_fit(trainer, module, datamodule, verbose=config.verbose)
    module.network.cpu()
    return {
        "epochs": run["epochs"],
        "best_epoch": best.best_epoch,
        "best_val_loss": best.best,
        "seconds": run["seconds"],
        "learning_rate": module.lr,
        "accelerator": run["accelerator"],
        "precision": run["precision"],
        "history": best.history,
    }
