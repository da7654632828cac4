"""The schema of a model folder's JSON files, checked before any of it is used.

A model folder is untrusted input: :mod:`tabargn.persistence` validates ``config.json`` and
``encoders.json`` against these pydantic models, then checks that the files agree with each
other and that every code the network can draw decodes, so that any inconsistency is a
:class:`tabargn.errors.ModelFileError` at ``load`` instead of a ``KeyError`` at ``sample``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    model_validator,
)

from tabargn.errors import ModelFileError

__all__ = ["ConfigFile", "EncodersFile", "NetworkShape", "read_config", "read_encoders"]

KINDS = ("categorical", "numeric", "datetime", "text", "empty")
MODELLED = ("categorical", "numeric", "datetime")  # the kinds with encoding statistics


class NetworkShape(BaseModel):
    """``config.json["network"]`` of a flat model (:class:`tabargn.model.ModelConfig`)."""

    model_config = ConfigDict(extra="forbid")

    cardinalities: list[PositiveInt] = Field(min_length=1)
    column_of: list[NonNegativeInt]
    position: list[NonNegativeInt]
    hidden: PositiveInt
    n_layers: PositiveInt
    dropout: float = Field(ge=0.0, lt=1.0)
    embedding_dims: list[PositiveInt] = []
    context_dim: NonNegativeInt = 0
    natural_order_share: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _same_lengths(self) -> NetworkShape:
        n = len(self.cardinalities)
        others = [self.column_of, self.position] + (
            [self.embedding_dims] * bool(self.embedding_dims)
        )
        if any(len(x) != n for x in others):
            raise ValueError("cardinalities, column_of, position, embedding_dims differ in length")
        return self


class SequenceShape(BaseModel):
    """``config.json["network"]`` of a sequential model (``SequenceConfig``)."""

    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any]
    entity_cardinalities: list[PositiveInt] = Field(min_length=1)
    history_dim: PositiveInt
    context_dim: PositiveInt

    @model_validator(mode="after")
    def _event_shape(self) -> SequenceShape:
        NetworkShape.model_validate(self.event)
        return self


class ConfigFile(BaseModel):
    """``config.json``: what the folder holds and how to rebuild the estimator."""

    format_version: Literal[1]
    package: Literal["tabargn"]
    package_version: str
    kind: Literal["sequential"] | None = None
    params: dict[str, Any]
    seed: int = Field(ge=0, lt=2**32)
    feature_names: list[str] = Field(min_length=1)
    network: dict[str, Any]
    training: dict[str, Any] = {}
    text_models: dict[str, str] | None = None
    sequence: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ConfigFile:
        if len(set(self.feature_names)) != len(self.feature_names):
            raise ValueError("feature_names has duplicates")
        if self.kind == "sequential":
            if self.sequence is None:
                raise ValueError("a sequential model needs a 'sequence' entry")
            SequenceShape.model_validate(self.network)
        else:
            NetworkShape.model_validate(self.network)
        return self


class ColumnEntry(BaseModel):
    """One column spec of ``encoders.json`` (:class:`tabargn.schema.ColumnSpec`)."""

    name: str
    kind: Literal[KINDS]
    dtype: Any
    categories: list | None = None
    ordered: bool = False


class EncodersFile(BaseModel):
    """``encoders.json``: the column specs and each column's encoding statistics."""

    columns: list[ColumnEntry] = Field(min_length=1)
    stats: dict[str, dict[str, Any]]

    @model_validator(mode="after")
    def _stats_per_column(self) -> EncodersFile:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("columns has duplicate names")
        missing = [c.name for c in self.columns if c.kind in MODELLED and c.name not in self.stats]
        if missing:
            raise ValueError(f"no stats for columns {missing}")
        return self


def _validated(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        raise ModelFileError(f"{where} does not match the model-file schema: {problems}") from None


def read_config(data: Any, where: str) -> ConfigFile:
    """Validates a parsed ``config.json``.

    Raises:
        ModelFileError: A missing or mistyped entry, or entries that contradict each other.
    """
    return _validated(ConfigFile, data, where)


def read_encoders(data: Any, where: str) -> EncodersFile:
    """Validates a parsed ``encoders.json``.

    Raises:
        ModelFileError: A missing or mistyped entry, or a column without statistics.
    """
    return _validated(EncodersFile, data, where)


def check_codes_decode(codec, where: str) -> None:
    """Decodes the smallest and the largest code of every sub-column, and a row of random
    codes, so corrupt statistics fail at load rather than at ``sample``.

    Raises:
        ModelFileError: Decoding raised (statistics that do not fit the sub-columns).
    """
    cards = np.asarray(codec.cardinalities, dtype=np.int64)
    rng = np.random.default_rng(0)
    codes = np.stack([np.zeros_like(cards), cards - 1, rng.integers(0, cards)])
    try:
        codec.decode(codes, np.random.default_rng(0))
    except Exception as e:  # noqa: BLE001 - any failure means the statistics are corrupt
        raise ModelFileError(f"{where} holds statistics that do not decode: {e!r}") from None
