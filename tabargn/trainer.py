"""The one Lightning Trainer factory: device, precision, callbacks, early stopping and logging.

Flat training (:mod:`tabargn.training`), sequential training (:mod:`tabargn.sequential.training`),
DP-SGD (:mod:`tabargn.dp_sgd`) and the offline text model (:mod:`llm_text.offline_training`) all
build their ``lightning.Trainer`` here and run it through :func:`run_fit`, so a setting such as
the device, the precision or the quiet logging is decided in one place.

The shared recipe (TabularARGN paper, section 4; mostlyai-engine's training loop does the same):
AdamW with ReduceLROnPlateau on the validation loss (:func:`adamw_with_plateau`), early stopping
on a relative gain of the validation loss (:class:`RelativeEarlyStopping`), and the weights of
the best validation epoch restored at the end (:class:`BestWeights`). A model may validate and
keep an exponential moving average of its weights instead of the raw ones
(:class:`tabargn.weight_averaging.EMAWeights`; the flat model does).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import torch
from lightning.fabric.utilities.imports import _IS_INTERACTIVE
from lightning.pytorch.callbacks import Callback, EarlyStopping
from safetensors.torch import load_model, save_model

from tabargn.device import accelerator_and_precision
from tabargn.errors import DeviceError
from tabargn.weight_averaging import EMAWeights

__all__ = [
    "TrainingConfig",
    "default_learning_rate",
    "adamw_with_plateau",
    "RelativeEarlyStopping",
    "BestWeights",
    "quiet_lightning",
    "make_trainer",
    "run_fit",
    "TrainingModule",
    "fit_with_validation",
    "release_training_state",
]

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")
_HISTORY, _BEST_EPOCH = "best_weights/history", "best_weights/best_epoch"


@dataclass
class TrainingConfig:
    """Settings of one training run.

    Attributes:
        max_epochs: Upper limit on epochs.
        max_time: Upper limit on training wall time in seconds (None: none).
        batch_size: Rows (flat) or events (sequential) per batch; None picks one by data size.
        learning_rate: AdamW learning rate; None picks :func:`default_learning_rate`.
        weight_decay: AdamW weight decay.
        patience: Epochs without validation improvement before early stopping; None (default)
            uses the model's own (``TrainingModule.default_patience``: 3 for the flat model,
            whose validated weights are averaged and so improve smoothly, 5 for sequences).
        min_improvement: Relative improvement of the validation loss that counts as one
            (``5e-4``: 0.05 % of the loss); smaller gains do not reset the patience counter.
        validation_share: Share of rows (or entities) held out for validation.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``
            (:mod:`tabargn.device`; a GPU trains in bf16-mixed when it supports bf16).
        devices: Devices per node (Lightning's ``devices``): an int, or ``"auto"``.
        strategy: Lightning strategy: ``"auto"`` (one device), ``"ddp"`` (one process per
            device, launched by re-running the script), ``"ddp_spawn"`` / ``"ddp_notebook"``
            (spawned / forked processes, for notebooks), ...
        num_nodes: Machines taking part (DDP).
        fp32: Train in 32-bit even on a bf16-capable GPU (DP-SGD).
        seed: Seed of the split, shuffling, masks and initialization.
        verbose: 0 silent, 1 progress bar.
    """

    max_epochs: int = 100
    max_time: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float = 1e-4
    patience: int | None = None
    min_improvement: float = 5e-4
    validation_share: float = 0.2
    device: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    fp32: bool = False
    seed: int = 0
    verbose: int = 1


def _strategy(config: TrainingConfig) -> str:
    """``config.strategy``, with script-launched ``"ddp"`` replaced by ``"ddp_notebook"`` (fork)
    in an interactive session, where no script can be re-run."""
    if config.strategy == "ddp" and _IS_INTERACTIVE:
        return "ddp_notebook"
    return config.strategy


def default_learning_rate(batch_size: int, base: float = 3e-3, cap: float = 6e-3) -> float:
    """The learning-rate rule of every model here: ``base * sqrt(batch_size / 256)``, at most ``cap``.

    Square-root scaling keeps the gradient noise per step comparable across batch sizes
    (Krizhevsky, 2014, "One weird trick"; Hoffer et al., 2017). Flat rows use the defaults;
    sequential events (``base=2e-3, cap=4e-3``) train an LSTM, which tolerates less.
    """
    return min(base * math.sqrt(batch_size / 256), cap)


def adamw_with_plateau(
    module: L.LightningModule, lr: float, config: TrainingConfig, patience: int
) -> dict:
    """``configure_optimizers`` result: AdamW, halved on a validation-loss plateau.

    The plateau patience is half the early-stopping ``patience`` (at least 1 epoch), so the rate
    is lowered at least once before training stops.
    """
    params = list(module.parameters())
    # the fused kernel updates every tensor in one call; PyTorch's CPU default is a Python loop
    # over tensors (on FAA 5k rows, batch 32, that loop was 20 % of the fit's CPU time)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    optimizer = torch.optim.AdamW(
        params, lr=lr, weight_decay=config.weight_decay, fused=fused or None
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=0.5, patience=max(1, patience // 2 - 1)
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
    """Keeps the weights of the best validation epoch and restores them at the end.

    The best weights wait on disk, in a safetensors file in a private temporary directory
    (``tempfile.TemporaryDirectory``, made by ``mkdtemp``: readable by the owner only; removed
    when the fit ends, fails or is interrupted), not in memory: one copy of the weights less in
    RAM while training (lending_club_loans, 1,600 rows, 4.7 million parameters: peak RSS
    697-698 -> 678-680 MB). Lightning's ModelCheckpoint would write pickled ``.ckpt`` files
    (optimizer and loop state included); tabargn writes safetensors only. The file holds weights
    only, like a saved model. Where no temporary file can be written (a read-only or full
    temporary directory) the weights are kept in memory instead, with a ``RuntimeWarning``.

    Args:
        attribute: Name of the LightningModule attribute holding the trained ``nn.Module``.
        monitor: The logged validation metric.
    """

    def __init__(self, attribute: str = "network", monitor: str = "val_loss") -> None:
        self.attribute = attribute
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = -1
        self.history: list[list[float]] = []  # [epoch, validation loss, seconds since start]
        self._started = time.perf_counter()
        self._folder: tempfile.TemporaryDirectory | None = None
        self._state: dict[str, torch.Tensor] | None = None  # only where no file can be written

    @property
    def _path(self) -> str:
        return os.path.join(self._folder.name, "best.safetensors")

    def on_validation_epoch_end(self, trainer, module) -> None:
        loss = trainer.callback_metrics.get(self.monitor)
        if loss is None:
            return
        elapsed = round(time.perf_counter() - self._started, 2)
        self.history.append([trainer.current_epoch, round(float(loss), 5), elapsed])
        if float(loss) < self.best:
            self.best, self.best_epoch = float(loss), trainer.current_epoch
            self._keep(getattr(module, self.attribute))

    def _keep(self, network: torch.nn.Module) -> None:
        state = network.state_dict()
        if self._state is not None and self._state.keys() == state.keys():
            for key, value in state.items():  # in place: no second copy alive at once
                self._state[key].copy_(value)
            return
        if self._state is None:
            try:
                if self._folder is None:
                    self._folder = tempfile.TemporaryDirectory(prefix="tabargn-best-")
                save_model(network, self._path)
                return
            except OSError as error:
                warnings.warn(
                    f"the best epoch's weights are kept in memory: no temporary file ({error})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._remove_file()
        self._state = {k: v.detach().clone() for k, v in state.items()}

    def on_fit_end(self, trainer, module) -> None:
        network = getattr(module, self.attribute)
        if self._state is not None:
            network.load_state_dict(self._state)
        elif self._folder is not None:
            device = next(network.parameters()).device
            load_model(network, self._path, device=str(device))
        self._remove_file()
        self._state = None
        # spawned workers (ddp_spawn, ddp_notebook) hand callback_metrics back to the main
        # process, whose own copy of this callback saw no epoch: the summary travels there
        if self.history:
            trainer.callback_metrics[_HISTORY] = torch.tensor(self.history, dtype=torch.float64)
            trainer.callback_metrics[_BEST_EPOCH] = torch.tensor(self.best_epoch)

    def on_exception(self, trainer, module, exception: BaseException) -> None:
        self._remove_file()

    def _remove_file(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def recover(self, trainer) -> None:
        """In the main process of a spawn-based run: takes the summary the workers sent."""
        history = trainer.callback_metrics.get(_HISTORY)
        if self.history or history is None:
            return
        self.history = [[int(e), float(v), float(t)] for e, v, t in history.tolist()]
        self.best_epoch = int(trainer.callback_metrics[_BEST_EPOCH])
        self.best = min(v for _, v, _ in self.history)


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
    accelerator, precision, devices = accelerator_and_precision(config.device, fp32=config.fp32)
    if isinstance(devices, list) and config.devices not in (1, "auto"):
        raise DeviceError(
            f"device={config.device!r} names one GPU but devices={config.devices!r}; use "
            "device='cuda' with devices=N for several GPUs"
        )
    if not isinstance(devices, list):
        devices = config.devices
    extra = {} if validate else {"limit_val_batches": 0}
    with quiet_lightning(config.verbose):  # Lightning logs its device summary here
        return L.Trainer(
            accelerator=accelerator,
            devices=devices,
            strategy=_strategy(config),
            num_nodes=config.num_nodes,
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
        ``{"epochs", "seconds", "accelerator", "precision", "device", "strategy", "devices",
        "num_nodes"}``: what the run used, as Lightning resolved it. Lightning leaves the
        module on the CPU after ``fit``; callers move it to the inference device.
    """
    started = time.perf_counter()
    with quiet_lightning(verbose), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*srun.*")
        trainer.fit(module, datamodule=datamodule, **loaders)
    return {
        "epochs": trainer.current_epoch,
        "seconds": time.perf_counter() - started,
        "accelerator": _accelerator_name(trainer.strategy.root_device),
        "precision": str(trainer.precision),
        "device": str(trainer.strategy.root_device),
        "strategy": type(trainer.strategy).__name__,
        "devices": int(trainer.num_devices),
        "num_nodes": int(trainer.num_nodes),
    }


def _accelerator_name(device: torch.device) -> str:
    return {"cuda": "gpu"}.get(device.type, device.type)


class TrainingModule(L.LightningModule):
    """Base of the validated LightningModules (flat and sequential ARGN).

    It holds the network and the run's settings, draws the validation masks from a generator
    reset to the run's seed at every validation epoch (so epochs are compared on the same
    masks), and configures :func:`adamw_with_plateau`. Subclasses set the recipe's defaults as
    class attributes: ``default_patience`` (epochs, when ``config.patience`` is None) and
    ``ema_half_life`` (epochs; None trains, validates and keeps the raw weights).

    Args:
        network: The ``nn.Module`` to train (stored as ``self.network``).
        config: The run's settings.
        batch_size: Rows (or events) per batch, for :func:`default_learning_rate`.
        base_lr, max_lr: The learning-rate rule's ``base`` and ``cap``; ``config.learning_rate``
            overrides the rule.
    """

    default_patience: int = 5
    ema_half_life: float | None = None

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
        self.base_lr, self.max_lr = base_lr, max_lr
        self.lr = config.learning_rate or self.default_rate(batch_size)
        self.patience = config.patience or self.default_patience
        self.val_generator: torch.Generator | None = None

    def default_rate(self, batch_size: int) -> float:
        """The learning rate when ``config.learning_rate`` is None: the square-root rule."""
        return default_learning_rate(batch_size, self.base_lr, self.max_lr)

    def on_validation_epoch_start(self) -> None:
        self.val_generator = torch.Generator(device=self.device).manual_seed(self.config.seed)

    def configure_optimizers(self):
        return adamw_with_plateau(self, self.lr, self.config, self.patience)


def fit_with_validation(
    module: TrainingModule, datamodule: L.LightningDataModule, config: TrainingConfig
) -> dict:
    """Trains ``module`` to early stopping and restores its best weights.

    Under DDP the validation loss is averaged over the ranks (``sync_dist``), so every rank
    stops at the same epoch and restores the same best weights; with a spawn-based strategy
    the main process receives rank 0's weights and this summary.

    Returns:
        :func:`run_fit`'s fields plus ``"best_epoch"``, ``"best_val_loss"``,
        ``"learning_rate"`` and ``"history"`` (``[epoch, validation loss, seconds]`` rows),
        JSON-serializable.
    """
    best = BestWeights()
    stopping = RelativeEarlyStopping("val_loss", module.patience, config.min_improvement)
    callbacks: list[Callback] = [best, stopping]
    if module.ema_half_life:  # after BestWeights: it copies the averaged weights it validated
        callbacks.append(EMAWeights(module.ema_half_life))
    trainer = make_trainer(config, callbacks=callbacks)
    run = run_fit(trainer, module, datamodule, verbose=config.verbose)
    best.recover(trainer)
    if best.history:  # spawned workers: the main process's trainer did not count the epochs
        run["epochs"] = max(run["epochs"], int(best.history[-1][0]) + 1)
    summary = {
        **run,
        "best_epoch": best.best_epoch,
        "best_val_loss": best.best,
        "learning_rate": module.lr,
        "history": best.history,
    }
    del trainer, best, stopping, callbacks
    release_training_state(module, datamodule)
    return summary


def release_training_state(
    module: L.LightningModule, datamodule: L.LightningDataModule | None = None
) -> None:
    """Frees what training left behind before generation starts (peak memory).

    The last gradients stay on the weights, and the Trainer holds the optimizer's moments and
    the callbacks' copies of the weights (best epoch, average) in reference cycles with the
    module, which Python frees only at a later collection: about five copies of the weights
    (20-25 MB each on lending_club_loans' 55 columns) alive during the first generation.
    """
    for p in module.parameters():
        p.grad = None
    module.trainer = None  # the links to the Trainer: its cycle becomes garbage
    if datamodule is not None:
        datamodule.trainer = None
    gc.collect()
