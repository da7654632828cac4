"""Differentially private training (DP-SGD) of the flat :class:`~tabargn.model.ARGN`, and the
budget of an end-to-end DP fit.

What is private
---------------
With ``differential_privacy`` the whole fit is DP (end to end): the *encoding statistics*
(kept categories, numeric and datetime bounds, quantile bins, sequence lengths) are released by
DP mechanisms (:mod:`tabargn.dp_statistics`), and the *network weights* are trained with DP-SGD
(Abadi et al., 2016, "Deep Learning with Differential Privacy", CCS): each row's gradient is
clipped to an L2 norm of at most ``max_grad_norm``, the clipped gradients of a batch are
summed, and Gaussian noise of standard deviation ``noise_multiplier * max_grad_norm`` is added
before the optimizer step. The training's privacy loss is tracked by opacus's Rényi-DP
accountant (Mironov, 2017, "Rényi Differential Privacy", CSF; with the sampled-Gaussian
analysis of Mironov, Talwar and Zhang, 2019). :meth:`DPConfig.split` divides ``max_epsilon``
between the statistics (``statistics_epsilon``, default ``min(1, max_epsilon / 4)``) and the
training, and ``delta`` in halves; :func:`privacy_summary` adds the parts up (basic
composition), so the reported total never exceeds ``max_epsilon``. Sequential models train
with entity-level DP-SGD (:mod:`tabargn.sequential.dp_training`). What stays public: column
names, dtypes and kinds (infer them from the schema, or pass ``encoding_types``), the number of
rows or entities.

Choices
-------
* **Per-sample gradients by hand, not opacus's GradSampleModule.** The ARGN keeps its
  per-sub-column regressors as batched ``[C, in, out]`` parameters used through
  ``torch.baddbmm``, which GradSampleModule does not know; ``torch.func.vmap(grad(...))`` works
  but materializes a ``[rows, C, in, out]`` gradient per layer and was 5-20x slower than a plain
  step on the 2-core machine. Instead this module uses the structure of the network: every
  trainable tensor is used exactly once per row and sub-column (a batched linear map, or an
  embedding lookup whose rows never collide inside one row). The per-row gradient of a weight
  block is then an outer product ``x_cb^T delta_cb``, whose norm is ``|x_cb| |delta_cb|``
  ("ghost norm", Goodfellow 2015; Li et al. 2022), and the clipped sum is one ``einsum`` with the
  clipping factors. One forward, one backward to the layer outputs, no per-row weight
  gradients in memory. The inputs and outputs of the layers are captured with a
  ``TorchFunctionMode``, so :mod:`tabargn.model` stays unchanged; a parameter used in an
  unexpected way raises instead of being mis-clipped. :func:`per_sample_gradients` materializes
  the per-row gradients for tests, which check them against single-row backward passes and
  ``torch.func`` (``vmap`` over ``grad``). opacus's ``register_grad_sampler`` was the other
  route; it hooks leaf modules, while the ARGN uses its batched parameters inside one module's
  forward, so it would need the same per-use bookkeeping this module already has.
* **Accounting with opacus** (``opacus.accountants.RDPAccountant``; the noise multiplier for a
  target epsilon from ``opacus.accountants.utils.get_noise_multiplier``): a maintained,
  reviewed implementation beats our own. RDP rather than PRV because PRV is numerically fragile
  for small noise multipliers (the choice mostlyai-engine makes too).
* **Poisson sampling**, the setting the accountant's analysis assumes: each step takes every
  training row independently with probability ``q = batch_size / n_rows``; an epoch is
  ``round(1 / q)`` steps; an empty batch still takes a (pure-noise) step. The noisy sum is divided
  by the *expected* batch size.
* **No validation split, no early stopping, no ReduceLROnPlateau.** Choosing the best epoch or
  the learning rate by a validation loss would use the validation rows outside the accountant.
  DP mode trains on all rows for exactly ``max_epochs`` epochs with a constant learning rate,
  or stops earlier when the next step would exceed ``max_epsilon`` (a fixed noise multiplier)
  or at ``max_time`` (the epsilon reported is then that of the steps actually taken). With
  ``noise_multiplier=None`` the noise is calibrated so that ``max_epochs`` epochs spend
  ``max_epsilon``.
* The noise comes from torch's (seeded, non-cryptographic) generator, like opacus without
  ``secure_mode``: fine against statistical attacks, not against an attacker who can exploit
  floating-point noise sampling (Mironov, 2012).

opacus is an optional dependency (``pip install "tabargn[dp]"``), imported only here and only
when DP is requested.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import lightning as L
import torch
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, Sampler

from tabargn.data import CodeRows
from tabargn.errors import InvalidDataError, OptionalDependencyError
from tabargn.model import ARGN
from tabargn.trainer import TrainingConfig, make_trainer, run_fit
from tabargn.training import default_batch_size

__all__ = [
    "DPConfig",
    "require_opacus",
    "per_sample_gradients",
    "clipped_gradient_sum",
    "DPARGNModule",
    "fit_network_dp",
]

ACCOUNTANT = "rdp"
# opacus warns when the best RDP order is at the end of its grid (large noise); harmless here
_ALPHA_WARNING = ".*Optimal order is the (largest|smallest) alpha.*"


def require_opacus():
    """Imports opacus, or raises :class:`~tabargn.errors.OptionalDependencyError`."""
    try:
        import opacus
    except ImportError:
        raise OptionalDependencyError(
            'differential_privacy needs the optional opacus package: pip install "tabargn[dp]"'
        ) from None
    return opacus


@dataclass
class DPConfig:
    """Settings of DP-SGD (the estimator's ``differential_privacy`` dict; names follow
    mostlyai-engine's ``DifferentialPrivacyConfig``).

    Attributes:
        max_epsilon: Privacy budget epsilon of the training. With ``noise_multiplier=None`` the
            noise is calibrated to spend exactly this (within 0.01) in ``max_epochs`` epochs;
            otherwise training stops before a step would exceed it. None: no limit (then a
            noise multiplier is required).
        delta: The delta of the ``(epsilon, delta)`` guarantee; should be well below
            ``1 / n_rows``.
        max_grad_norm: L2 clipping bound of every row's gradient.
        noise_multiplier: Noise standard deviation over ``max_grad_norm``; None: calibrated.
        statistics_epsilon: Part of ``max_epsilon`` spent on the encoding statistics
            (:mod:`tabargn.dp_statistics`); None: ``min(1, max_epsilon / 4)``. The training
            gets the rest; ``delta`` is split in halves.
    """

    max_epsilon: float | None = 5.0
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None
    statistics_epsilon: float | None = None

    def statistics_share(self) -> float:
        """Epsilon of the encoding statistics: ``statistics_epsilon``, else
        ``min(1, max_epsilon / 4)`` (1.0 without ``max_epsilon``, as mostlyai-engine's default
        ``value_protection_epsilon``)."""
        if self.statistics_epsilon is not None:
            return float(self.statistics_epsilon)
        return 1.0 if self.max_epsilon is None else min(1.0, self.max_epsilon / 4)

    def split(self, training_share: float = 1.0):
        """Splits the budget into the statistics' and the training's (basic composition).

        Args:
            training_share: Share of the training budget given to this network (sequential
                models train two: the entity model and the sequence network).

        Returns:
            ``(StatisticsBudget, DPConfig)``: ``(statistics_epsilon, delta / 2)`` for the
            statistics (:mod:`tabargn.dp_statistics`) and a DP-SGD config with
            ``max_epsilon - statistics_epsilon`` and ``delta / 2`` (times ``training_share``).
        """
        from tabargn.dp_statistics import StatisticsBudget

        stats = StatisticsBudget(self.statistics_share(), self.delta / 2)
        remaining = None if self.max_epsilon is None else self.max_epsilon - stats.epsilon
        training = dataclasses.replace(
            self,
            max_epsilon=None if remaining is None else remaining * training_share,
            delta=self.delta / 2 * training_share,
            statistics_epsilon=0.0,
        )
        return stats, training

    @classmethod
    def from_param(cls, value) -> DPConfig:
        """Validates the estimator parameter (a dict, a DPConfig, or True for the defaults)."""
        if isinstance(value, DPConfig):
            value = vars(value)
        elif value is True:
            value = {}
        if not isinstance(value, dict):
            raise InvalidDataError(
                "differential_privacy must be None, True or a dict with keys max_epsilon, "
                f"delta, max_grad_norm, noise_multiplier; got {value!r}"
            )
        keys = {"max_epsilon", "delta", "max_grad_norm", "noise_multiplier", "statistics_epsilon"}
        unknown = sorted(set(value) - keys)
        if unknown:
            raise InvalidDataError(f"differential_privacy has unknown keys {unknown}")
        config = cls(**value)

        def positive(name, allow_none):
            v = getattr(config, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                raise InvalidDataError(f"differential_privacy[{name!r}] must be > 0, got {v!r}")

        positive("max_epsilon", True)
        positive("max_grad_norm", False)
        positive("noise_multiplier", True)
        positive("delta", False)
        if config.delta >= 1:
            raise InvalidDataError(f"differential_privacy['delta'] must be < 1, got {config.delta}")
        positive("statistics_epsilon", True)
        if config.max_epsilon is not None and config.statistics_share() >= config.max_epsilon:
            raise InvalidDataError(
                f"differential_privacy: statistics_epsilon={config.statistics_share()} leaves "
                f"nothing of max_epsilon={config.max_epsilon} for training"
            )
        if config.max_epsilon is None and config.noise_multiplier is None:
            raise InvalidDataError(
                "differential_privacy needs max_epsilon or noise_multiplier (or both)"
            )
        return config


# ---------------------------------------------------------------------- per-sample gradients
class _Capture(TorchFunctionMode):
    """Records, for each trainable tensor of an ARGN, the input and output of its one use.

    ``baddbmm(bias, x, weight)`` with a regressor or predictor weight records ``(x, out)``;
    ``embedding(index, table)`` records ``(index, out)``. Any other use of a parameter in the
    forward pass is an error, so a model change cannot silently break the clipping.
    """

    def __init__(self, network: ARGN) -> None:
        super().__init__()
        self.names = {id(p): n for n, p in network.named_parameters() if p.requires_grad}
        self.bias_of = {}
        params = dict(network.named_parameters())
        for name in self.names.values():
            for w, b in (("weights.", "biases."), ("pred_weights.", "pred_biases.")):
                if name.startswith(w):
                    self.bias_of[name] = params[b + name[len(w) :]]
        self.uses: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _record(self, name: str, x: torch.Tensor, out: torch.Tensor) -> None:
        if name in self.uses:
            raise NotImplementedError(f"DP-SGD: parameter {name} is used twice in one forward")
        self.uses[name] = (x.detach(), out)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is torch.baddbmm and id(args[2]) in self.names:
            name = self.names[id(args[2])]
            bias = args[0]
            if name not in self.bias_of or getattr(bias, "_base", bias) is not self.bias_of[name]:
                raise NotImplementedError(f"DP-SGD: unexpected bias for parameter {name}")
            self._record(name, args[1], out)
        elif func is torch.nn.functional.embedding and id(args[1]) in self.names:
            self._record(self.names[id(args[1])], args[0], out)
        elif func not in (torch.Tensor.__getitem__, torch.Tensor.requires_grad.__get__):
            for a in (*args, *kwargs.values()):
                if isinstance(a, torch.Tensor) and id(a) in self.names:
                    raise NotImplementedError(
                        f"DP-SGD: parameter {self.names[id(a)]} is used by {func!r}, which "
                        "per-sample clipping does not support"
                    )
        return out


def _layer_grads(network: ARGN, codes: torch.Tensor, visible: torch.Tensor):
    """One forward and a backward to the layer outputs.

    Returns ``(uses, deltas)``: per parameter name, the captured ``(input, output)`` and the
    gradient of the *summed* per-row loss with respect to the output.
    """
    capture = _Capture(network)
    with capture:
        total = network.loss(codes, visible) * codes.shape[0]  # sum of the per-row losses
    names = list(capture.uses)
    seen = set(names) | {_bias_for(capture, n) for n in names if n in capture.bias_of}
    missing = sorted(set(capture.names.values()) - seen)
    if missing:
        raise NotImplementedError(f"DP-SGD: parameters {missing} were not seen in the forward")
    deltas = torch.autograd.grad(total, [capture.uses[n][1] for n in names])
    return capture, {n: (capture.uses[n][0], d.float()) for n, d in zip(names, deltas, strict=True)}


def _embedding_name(network: ARGN) -> str:
    return "embedding.weight"


def _row_norms_sq(network: ARGN, grads: dict) -> torch.Tensor:
    """Squared L2 norm of each row's full gradient, ``[B]``, without materializing it."""
    total = None
    for name, (x, delta) in grads.items():
        if name == _embedding_name(network):
            # delta [B, C, d_max]; the rows a row looks up are distinct (disjoint offsets)
            part = delta.pow(2).sum(dim=(1, 2))
        else:
            # x [C, B, in], delta [C, B, out]: weight block x^T delta, plus the bias delta
            d2 = delta.pow(2).sum(2)  # [C, B]
            part = ((x.float().pow(2).sum(2) + 1.0) * d2).sum(0)
        total = part if total is None else total + part
    return total


def per_sample_gradients(
    network: ARGN, codes: torch.Tensor, visible: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Each row's gradient of its own loss, ``{parameter name: [B, *shape]}`` (for checks).

    Memory is ``B`` times the network's size: use small batches.
    """
    capture, grads = _layer_grads(network, codes, visible)
    out = {}
    for name, (x, delta) in grads.items():
        if name == _embedding_name(network):
            table = network.embedding.weight
            g = torch.zeros(codes.shape[0], *table.shape, dtype=torch.float32, device=table.device)
            index = x if x.dim() == 2 else x.view(codes.shape[0], -1)
            g.scatter_add_(1, index[:, :, None].expand(-1, -1, table.shape[1]), delta)
            out[name] = g
        else:
            out[name] = torch.einsum("cbi,cbo->bcio", x.float(), delta)
            bias_name = _bias_for(capture, name)
            out[bias_name] = delta.transpose(0, 1)
    return out


def _bias_for(capture: _Capture, weight_name: str) -> str:
    return capture.names[id(capture.bias_of[weight_name])]


def clipped_gradient_sum(
    network: ARGN, codes: torch.Tensor, visible: torch.Tensor, max_grad_norm: float
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Sum over rows of each row's gradient clipped to L2 norm ``max_grad_norm``.

    Returns:
        ``({parameter name: float32 tensor of the parameter's shape}, row_norms [B])``, the
        norms before clipping.
    """
    capture, grads = _layer_grads(network, codes, visible)
    norms = _row_norms_sq(network, grads).sqrt()
    scale = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)  # [B]
    out = {}
    for name, (x, delta) in grads.items():
        if name == _embedding_name(network):
            table = network.embedding.weight
            g = torch.zeros(table.shape, dtype=torch.float32, device=table.device)
            weighted = delta * scale[:, None, None]
            g.index_add_(0, x.reshape(-1), weighted.reshape(-1, table.shape[1]))
            out[name] = g
        else:
            weighted = delta * scale[None, :, None]  # [C, B, out]
            out[name] = torch.bmm(x.float().transpose(1, 2), weighted)
            out[_bias_for(capture, name)] = weighted.sum(1)
    return out, norms


# ---------------------------------------------------------------------- data: Poisson batches
class _PoissonBatches(Sampler):
    """``steps`` batches per epoch, each taking every row independently with probability ``q``."""

    def __init__(self, n_rows: int, sample_rate: float, steps: int, generator: torch.Generator):
        self.n_rows, self.q, self.steps, self.generator = n_rows, sample_rate, steps, generator

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            mask = torch.rand(self.n_rows, generator=self.generator) < self.q
            yield mask.nonzero().flatten()


class _PoissonDataModule(L.LightningDataModule):
    def __init__(self, codes: torch.Tensor, sample_rate: float, steps: int, seed: int) -> None:
        super().__init__()
        self.codes = codes.contiguous()
        self.sample_rate, self.steps = sample_rate, steps
        self.generator = torch.Generator().manual_seed(seed + 1)

    def train_dataloader(self) -> DataLoader:
        sampler = _PoissonBatches(self.codes.shape[0], self.sample_rate, self.steps, self.generator)
        return DataLoader(CodeRows(self.codes), sampler=sampler, batch_size=None)


class DPARGNModule(L.LightningModule):
    """LightningModule with a manual DP-SGD step: clip per row, sum, add noise, AdamW step.

    Args:
        network: The ARGN to train.
        config: Training settings (``learning_rate``, ``weight_decay``, ``seed``).
        expected_batch_size: ``q * n_rows``; the noisy sum is divided by it.
        sample_rate: Poisson sampling rate ``q``.
        noise_multiplier: Noise standard deviation over ``max_grad_norm``.
        max_grad_norm: Per-row clipping bound.
        max_steps: Steps the budget allows (later steps are not taken).
    """

    def __init__(
        self,
        network: ARGN,
        config: TrainingConfig,
        expected_batch_size: float,
        sample_rate: float,
        noise_multiplier: float,
        max_grad_norm: float,
        max_steps: int,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.network = network
        self.config = config
        self.expected_batch_size = expected_batch_size
        self.sample_rate = sample_rate
        self.noise_multiplier = noise_multiplier
        self.max_grad_norm = max_grad_norm
        self.max_steps = max_steps
        self.lr = config.learning_rate or min(2e-3 * math.sqrt(expected_batch_size / 256), 4e-3)
        self.steps_done = 0
        self.accountant = require_opacus().accountants.RDPAccountant()
        self._noise_generator: torch.Generator | None = None

    def on_fit_start(self) -> None:
        self._noise_generator = torch.Generator(device=self.device).manual_seed(
            self.config.seed + 2
        )

    def training_step(self, codes: torch.Tensor, batch_idx: int) -> None:
        if self.steps_done >= self.max_steps:
            self.trainer.should_stop = True
            return None
        params = dict(self.network.named_parameters())
        if codes.shape[0] > 0:
            grads, norms = self.clipped_sum(codes)
            self.log("clipped_share", (norms > self.max_grad_norm).float().mean(), prog_bar=True)
        else:  # Poisson sampling can draw an empty batch: the step is pure noise
            grads = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
        std = self.noise_multiplier * self.max_grad_norm
        optimizer = self.optimizers()
        optimizer.zero_grad()
        for name, p in params.items():
            noise = torch.normal(
                0.0, std, size=p.shape, generator=self._noise_generator, device=p.device
            )
            p.grad = ((grads[name] + noise) / self.expected_batch_size).to(p.dtype)
        optimizer.step()
        self.steps_done += 1
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        return None

    def clipped_sum(self, codes: torch.Tensor):
        """``({name: clipped gradient sum}, per-sample norms [B])`` of a non-empty batch."""
        visible = self.network.random_visibility(codes.shape[0])
        return clipped_gradient_sum(self.network, codes, visible, self.max_grad_norm)

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.network.parameters(), lr=self.lr, weight_decay=self.config.weight_decay
        )


def _epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    if steps == 0:
        return 0.0
    accountant = require_opacus().accountants.RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ALPHA_WARNING)
        return float(accountant.get_epsilon(delta=delta))


def _max_steps(noise_multiplier, sample_rate, delta, max_epsilon, limit) -> int:
    """Largest number of steps ``<= limit`` whose epsilon stays within ``max_epsilon``."""
    if max_epsilon is None or _epsilon(noise_multiplier, sample_rate, limit, delta) <= max_epsilon:
        return limit
    low, high = 0, limit  # eps(low) <= max_epsilon < eps(high)
    while high - low > 1:
        mid = (low + high) // 2
        if _epsilon(noise_multiplier, sample_rate, mid, delta) <= max_epsilon:
            low = mid
        else:
            high = mid
    return low


def privacy_summary(statistics, training: dict) -> dict:
    """The end-to-end guarantee of a fit: statistics and DP-SGD, composed (basic composition,
    Dwork and Roth 2014, theorem 3.16).

    Args:
        statistics: The :class:`~tabargn.dp_statistics.StatisticsBudget` spent on the encoding
            statistics.
        training: The summary of :func:`fit_network_dp` (``epsilon``, ``delta`` of DP-SGD).

    Returns:
        ``epsilon`` and ``delta`` (the totals), ``statistics_epsilon``, ``statistics_delta``,
        ``training_epsilon``, ``training_delta``.
    """
    return {
        "epsilon": float(statistics.epsilon + training["training_epsilon"]),
        "delta": float(statistics.delta + training["training_delta"]),
        "statistics_epsilon": float(statistics.epsilon),
        "statistics_delta": float(statistics.delta),
        "training_epsilon": float(training["training_epsilon"]),
        "training_delta": float(training["training_delta"]),
    }


def fit_network_dp(
    network: ARGN, codes: torch.Tensor, config: TrainingConfig, dp: DPConfig
) -> dict:
    """Trains ``network`` on all rows of ``codes`` with DP-SGD (see the module docstring).

    Returns:
        The training summary of :func:`tabargn.training.fit_network` (no validation loss:
        ``best_epoch`` and ``best_val_loss`` are None, ``history`` is empty: losses are not
        privatized, so none is stored) plus ``differential_privacy: True``,
        ``training_epsilon`` (spent), ``training_delta``, ``noise_multiplier``, ``max_grad_norm``,
        ``sample_rate``, ``steps``, ``accountant``.
    """
    if network.config.context_dim:
        raise NotImplementedError("DP-SGD supports flat tables only (no context vector)")
    n_rows = int(codes.shape[0])
    batch_size = min(config.batch_size or dp_batch_size(n_rows), n_rows)
    sample_rate, steps_per_epoch, sigma, max_steps = plan_steps(
        n_rows, batch_size, config.max_epochs, dp
    )
    data = _PoissonDataModule(codes, sample_rate, steps_per_epoch, config.seed)
    module = DPARGNModule(
        network, config, sample_rate * n_rows, sample_rate, sigma, dp.max_grad_norm, max_steps
    )
    return run_dp(module, data, config, dp, batch_size, n_rows, steps_per_epoch)


def dp_batch_size(n_rows: int) -> int:
    """Default expected batch of DP-SGD: about 16 steps per epoch (a power of two, at most
    1024), at least :func:`tabargn.training.default_batch_size`.

    Larger batches shrink the noise relative to the gradient sum (Abadi et al., 2016); on 10,000
    Adult rows at epsilon 4, batch 512 gave univariate / bivariate accuracy 0.964 / 0.909
    against 0.962 / 0.904 with the non-private default 128, in 0.7x the time.
    """
    large = min(1024, 2 ** math.floor(math.log2(max(n_rows / 16, 1))))
    return int(max(default_batch_size(n_rows), large))


def plan_steps(n_rows: int, batch_size: int, max_epochs: int, dp: DPConfig):
    """Poisson rate, steps per epoch, noise multiplier and the steps the budget allows.

    Returns:
        ``(sample_rate, steps_per_epoch, noise_multiplier, max_steps)``.

    Raises:
        InvalidDataError: One step already spends more than ``dp.max_epsilon``.
    """
    opacus = require_opacus()
    sample_rate = batch_size / n_rows
    steps_per_epoch = max(1, round(1 / sample_rate))
    planned = max_epochs * steps_per_epoch
    sigma = dp.noise_multiplier
    if sigma is None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_ALPHA_WARNING)
            sigma = opacus.accountants.utils.get_noise_multiplier(
                target_epsilon=dp.max_epsilon,
                target_delta=dp.delta,
                sample_rate=sample_rate,
                steps=planned,
                accountant=ACCOUNTANT,
                epsilon_tolerance=0.01,
            )
    max_steps = _max_steps(sigma, sample_rate, dp.delta, dp.max_epsilon, planned)
    if max_steps == 0:
        raise InvalidDataError(
            f"differential_privacy: noise_multiplier={sigma} spends more than "
            f"max_epsilon={dp.max_epsilon} in a single step; raise one of them"
        )
    return sample_rate, steps_per_epoch, float(sigma), max_steps


def run_dp(module, data, config, dp, batch_size: int, n_rows: int, steps_per_epoch: int) -> dict:
    """Runs a DP-SGD module (:class:`DPARGNModule` or a subclass) and summarizes the run."""
    sigma, sample_rate, max_steps = module.noise_multiplier, module.sample_rate, module.max_steps
    config = dataclasses.replace(config, fp32=True)  # clipping and noise sums stay in fp32
    trainer = make_trainer(
        config, max_epochs=math.ceil(max_steps / steps_per_epoch), validate=False
    )
    run = run_fit(trainer, module, data, verbose=config.verbose)
    steps = module.steps_done
    return {
        **run,
        "best_epoch": None,
        "best_val_loss": None,
        "batch_size": batch_size,
        "learning_rate": module.lr,
        "n_train_rows": n_rows,
        "history": [],  # no per-epoch losses: they are data-dependent and not privatized
        "differential_privacy": True,
        "training_epsilon": _epsilon(sigma, sample_rate, steps, dp.delta),
        "training_delta": dp.delta,
        "noise_multiplier": float(sigma),
        "max_grad_norm": dp.max_grad_norm,
        "sample_rate": sample_rate,
        "steps": steps,
        "accountant": ACCOUNTANT,
    }
