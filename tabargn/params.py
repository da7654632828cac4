"""The estimator's fit settings as one validated value, handed to the engines.

:class:`tabargn.TabularARGN` keeps its constructor arguments as plain attributes (scikit-learn
rules); at ``fit`` it turns them into a :class:`FitParams` and passes that to the flat engine
(:mod:`tabargn.flat`) or the sequential one (:mod:`tabargn.sequential`). The engines never see
the estimator, so the layers below it never import it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightning.pytorch.strategies import StrategyRegistry

from tabargn.device import check_device
from tabargn.errors import InvalidDataError
from tabargn.model import MODEL_SIZES
from tabargn.schema import KINDS
from tabargn.trainer import TrainingConfig

__all__ = ["FitParams", "check_seed"]


def _integer(name: str, value, *, low: int, none_ok: bool = False, hint: str = "") -> None:
    """Raises InvalidDataError unless ``value`` is an int >= ``low`` (or None when allowed)."""
    if value is None and none_ok:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        what = hint or f"an integer >= {low}" + (" or None" if none_ok else "")
        raise InvalidDataError(f"{name} must be {what}, got {value!r}")


def _positive(name: str, value, unit: str) -> None:
    """Raises InvalidDataError unless ``value`` is None or a finite number > 0."""
    if value is None:
        return
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidDataError(f"{name} must be a positive number ({unit}) or None, got {value!r}")


def check_seed(random_state) -> int | None:
    """Validates ``random_state``: None or an integer in ``[0, 2**32)``.

    Raises:
        InvalidDataError: Anything else (a float, a string, a negative number).
    """
    if random_state is None:
        return None
    _integer("random_state", random_state, low=0, hint="None or an integer in [0, 2**32)")
    if random_state >= 2**32:
        raise InvalidDataError(f"random_state must be below 2**32, got {random_state}")
    return int(random_state)


@dataclass(frozen=True)
class FitParams:
    """Fit settings shared by the flat and sequential engines.

    The attributes mirror :class:`tabargn.TabularARGN`'s constructor arguments of the same
    names (``random_state`` is resolved to a seed separately); see its docstring.
    """

    model_size: str = "auto"
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
    memory_budget_mb: float = 512

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
        if self.model_size != "auto" and self.model_size not in MODEL_SIZES:
            raise InvalidDataError(
                f"model_size={self.model_size!r}; use 'auto' or one of {list(MODEL_SIZES)}"
            )
        _integer("max_epochs", self.max_epochs, low=1)
        _integer("batch_size", self.batch_size, low=1, none_ok=True)
        _integer("num_nodes", self.num_nodes, low=1)
        _integer("verbose", self.verbose, low=0)
        _positive("max_time", self.max_time, "seconds")
        _positive("memory_budget_mb", self.memory_budget_mb, "megabytes")
        if self.memory_budget_mb is None or self.memory_budget_mb < 16:
            raise InvalidDataError(
                f"memory_budget_mb must be a number >= 16, got {self.memory_budget_mb!r}"
            )
        _positive("learning_rate", self.learning_rate, "learning rate, e.g. 3e-3")
        if not isinstance(self.value_protection, bool | np.bool_):
            raise InvalidDataError(
                f"value_protection must be True or False, got {self.value_protection!r}"
            )
        if self.encoding_types is not None:
            if not isinstance(self.encoding_types, dict):
                raise InvalidDataError(
                    "encoding_types must be a dict {column: kind}, got "
                    f"{type(self.encoding_types).__name__}"
                )
            bad = {c: k for c, k in self.encoding_types.items() if k not in KINDS}
            if bad:
                raise InvalidDataError(f"encoding_types {bad}: kinds are {list(KINDS)}")
        if self.text_options is not None and not isinstance(self.text_options, dict):
            raise InvalidDataError(
                f"text_options must be a dict or None, got {type(self.text_options).__name__}"
            )
        check_device(self.device)
        if self.devices != "auto":
            _integer("devices", self.devices, low=1, hint="a positive integer or 'auto'")
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
