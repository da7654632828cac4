"""Exponential moving average (EMA) of the weights, as a Lightning ``WeightAveraging`` callback.

The averaged weights are the ones validated (so early stopping, the plateau schedule and
:class:`tabargn.trainer.BestWeights` see them) and the ones kept at the end. Averaging removes
most of the step-to-step noise of the optimizer, so a model reaches the loss that a decayed
learning rate gives in fewer epochs, and tolerates a larger rate (Polyak and Juditsky, 1992,
"Acceleration of stochastic approximation by averaging"; Izmailov et al., 2018, "Averaging
weights leads to wider optima and better generalization"; Morales-Brotons et al., 2024,
"Exponential moving average of weights in deep learning: dynamics and benefits").

The window is set in epochs, not steps, so it means the same on tables of any size: the
half-life is ``half_life`` epochs, but never more than ``WARMUP_SHARE`` of the epochs trained so
far, so the random initial weights fade quickly and a run capped at one or two epochs still
ends on recent weights (the warm-up of timm's ``ModelEmaV2``, stated in epochs).
"""

from __future__ import annotations

import itertools
import math

from lightning.pytorch.callbacks import WeightAveraging
from torch.optim.swa_utils import get_ema_multi_avg_fn

__all__ = ["EMAWeights", "WARMUP_SHARE", "UPDATE_EVERY"]

#: The half-life never exceeds this share of the epochs trained so far.
WARMUP_SHARE = 0.25
#: Optimizer steps between two updates of the average (each update costs one pass over the
#: weights; with the decay raised to this power the average is nearly the same).
UPDATE_EVERY = 8


class EMAWeights(WeightAveraging):
    """EMA of the parameters with a half-life in epochs (buffers are copied, not averaged).

    Args:
        half_life: Half-life of the average in epochs (> 0), e.g. ``1.0``: the weights of one
            epoch ago count half as much as the current ones.
        every: Optimizer steps between updates (default :data:`UPDATE_EVERY`).

    Raises:
        ValueError: ``half_life`` or ``every`` not positive.
    """

    def __init__(self, half_life: float, every: int = UPDATE_EVERY) -> None:
        if not half_life > 0 or every < 1:
            raise ValueError(f"half_life must be > 0 and every >= 1, got {half_life}, {every}")
        super().__init__(use_buffers=False, multi_avg_fn=self._average)
        self.half_life = float(half_life)
        self.every = int(every)
        self._steps_per_epoch: float | None = None  # None: not known yet (first epoch of a stream)
        self._epoch_start_step = 0
        self._step = 0

    def decay(self, step: int) -> float:
        """The weight kept by the average at an update after optimizer step ``step`` (0-based).

        While the epoch length is unknown (the first epoch of a streamed dataset, e.g. Ray
        Data's shards) the steps so far count as one epoch.
        """
        per_epoch = self._steps_per_epoch or float(step + 1)
        epochs = (step + 1) / per_epoch
        half_life = min(self.half_life, WARMUP_SHARE * epochs) * per_epoch
        return 0.5 ** (self.every / half_life)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        batches = trainer.num_training_batches
        accumulate = max(1, int(getattr(trainer, "accumulate_grad_batches", 1)))
        if math.isfinite(batches):
            self._steps_per_epoch = max(batches / accumulate, 1.0)
        self._epoch_start_step = trainer.global_step

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not math.isfinite(trainer.num_training_batches):  # a stream: the epoch just counted
            self._steps_per_epoch = max(float(trainer.global_step - self._epoch_start_step), 1.0)
        super().on_train_epoch_end(trainer, pl_module)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        if step_idx is None or step_idx % self.every:
            return False
        self._step = step_idx
        return True

    def _average(self, averaged, current, num_averaged) -> None:
        get_ema_multi_avg_fn(self.decay(self._step))(averaged, current, num_averaged)

    def _swap_models(self, pl_module) -> None:
        # Lightning's swap clones every tensor, a full copy of the weights at the start and at
        # the end of each validation; exchanging the tensors' storage gives the same values
        # without the copy (and without the allocator churn of one weight-sized block per swap)
        averaged = self._average_model.module
        for average, current in zip(
            itertools.chain(averaged.parameters(), averaged.buffers()),
            itertools.chain(pl_module.parameters(), pl_module.buffers()),
            strict=True,
        ):
            average.data, current.data = current.data, average.data
