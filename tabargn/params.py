"""The estimator's fit settings as one validated value, handed to the engines.

:class:`tabargn.TabularARGN` keeps its constructor arguments as plain attributes (scikit-learn
rules); at ``fit`` it turns them into a :class:`FitParams` and passes that to the flat engine
(:mod:`tabargn.flat`) or the sequential one (:mod:`tabargn.sequential`). The engines never see
the estimator, so the layers below it never import it.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from lightning.pytorch.strategies import StrategyRegistry

from tabargn.device import check_device
from tabargn.errors import InvalidDataError
from tabargn.model import MODEL_SIZES
from tabargn.trainer import TrainingConfig

__all__ = ["FitParams"]


@dataclass(frozen=True)
class FitParams:
    """Fit settings shared by the flat and sequential engines.

    The attributes mirror :class:`tabargn.TabularARGN`'s constructor arguments of the same
    names (``random_state`` is resolved to a seed separately); see its docstring.
    """

    model_size: str = "medium"
    max_epochs: int = 100
    max_time: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    value_protection: bool = True
    rare_placeholder: str = "_RARE_"
    encoding_types: dict[str, str] | None = None
    text_backend: Any = "offline"
    text_options: dict | None = None
    device: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    verbose: int = 1
    differential_privacy: Any = None

    @classmethod
    def from_params(cls, params: dict) -> FitParams:
        """Builds the settings from ``estimator.get_params()`` (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})

    def check(self) -> FitParams:
        """Validates the settings; returns ``self``.

        Raises:
            InvalidDataError: A setting out of its range or of the wrong type.
            DeviceError: A device this machine does not have.
        """
        if self.model_size not in MODEL_SIZES:
            raise InvalidDataError(
                f"model_size={self.model_size!r}; use one of {list(MODEL_SIZES)}"
            )
        if not isinstance(self.max_epochs, numbers.Integral) or self.max_epochs < 1:
            raise InvalidDataError(f"max_epochs must be a positive integer, got {self.max_epochs}")
        if self.max_time is not None and self.max_time <= 0:
            raise InvalidDataError(f"max_time must be positive seconds, got {self.max_time}")
        check_device(self.device)
        if self.devices != "auto" and (
            not isinstance(self.devices, numbers.Integral)
            or isinstance(self.devices, bool)
            or self.devices < 1
        ):
            raise InvalidDataError(
                f"devices must be a positive integer or 'auto', got {self.devices!r}"
            )
        if not isinstance(self.num_nodes, numbers.Integral) or self.num_nodes < 1:
            raise InvalidDataError(f"num_nodes must be a positive integer, got {self.num_nodes!r}")
        strategies = ["auto", *StrategyRegistry.available_strategies()]
        if self.strategy not in strategies:
            raise InvalidDataError(
                f"strategy={self.strategy!r}; use one of Lightning's strategies, e.g. 'auto', "
                "'ddp', 'ddp_spawn' or 'ddp_notebook'"
            )
        return self

    @property
    def uses_dp(self) -> bool:
        """True when DP-SGD training was asked for."""
        return self.differential_privacy not in (None, False)

    def training_config(self, seed: int) -> TrainingConfig:
        """The :class:`tabargn.trainer.TrainingConfig` of a training run with ``seed``."""
        return TrainingConfig(
            max_epochs=self.max_epochs,
            max_time=self.max_time,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            device=self.device,
            devices=self.devices,
            strategy=self.strategy,
            num_nodes=self.num_nodes,
            seed=seed,
            verbose=self.verbose,
        )
