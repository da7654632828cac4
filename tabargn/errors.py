"""Typed errors raised by tabargn.

Every error the package raises on purpose derives from :class:`TabargnError`, so a caller can
catch all of them with one ``except``. Each also derives from the closest built-in exception
(``ValueError``, ``TypeError``, ``OSError``), so generic handlers keep working.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "TabargnError",
    "InvalidDataError",
    "UnsupportedDtypeError",
    "ConditionError",
    "UnknownColumnError",
    "UnknownValueError",
    "ConstraintError",
    "NotFittedError",
    "ModelFileError",
    "LLMBackendError",
    "OptionalDependencyError",
    "DeviceError",
]


class TabargnError(Exception):
    """Base class of every error raised by tabargn."""


class InvalidDataError(TabargnError, ValueError):
    """The input table cannot be used: empty, no columns, duplicate names, bad arguments."""


class UnsupportedDtypeError(InvalidDataError, TypeError):
    """A column holds values of a type no encoding supports (complex, lists, dicts, ...)."""


class ConditionError(TabargnError, ValueError):
    """Conditions, ``where`` restrictions or rebalancing targets that cannot be satisfied."""


class UnknownColumnError(ConditionError):
    """A column named in conditions, ``where``, ``rebalance`` or ``target`` was not fitted."""


class UnknownValueError(ConditionError):
    """A value was never seen in training, or was removed by value protection."""


class ConstraintError(ConditionError):
    """A constraint that cannot hold: a rule the training data breaks (``rows`` names the
    rows), conditions that break a rule, a bad rule, or a :class:`tabargn.constraints.Predicate`
    still unmet after its tries."""

    def __init__(self, message: str, *, rows: list | None = None) -> None:
        super().__init__(message)
        self.rows = rows or []


class NotFittedError(TabargnError, _SklearnNotFittedError):
    """The estimator was used before ``fit`` (also a scikit-learn ``NotFittedError``)."""


class ModelFileError(TabargnError, OSError):
    """A model directory is missing, corrupt, or written by an incompatible format version."""


class LLMBackendError(TabargnError, RuntimeError):
    """A language-model backend failed (server unreachable after retries, bad answer)."""


class OptionalDependencyError(TabargnError, ImportError):
    """A feature needs an optional package that is not installed (the message says which extra
    to install, e.g. ``pip install "tabargn[dp]"`` for differential privacy)."""


class DeviceError(InvalidDataError):
    """A device was asked for that this machine does not have (``device="cuda"`` without a
    GPU, ``"cuda:3"`` on a machine with two, ``"mps"`` off Apple silicon), or a device setting
    that cannot work (``devices=2`` with ``device="cuda:1"``)."""
