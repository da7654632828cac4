"""The optional ``ray`` extra: one check, so ``import tabargn`` never imports Ray."""

from __future__ import annotations

from types import ModuleType

from tabargn.errors import OptionalDependencyError

__all__ = ["require_ray"]


def require_ray() -> ModuleType:
    """Imports Ray (with Ray Data and Ray Train), or raises a typed error naming the extra.

    Returns:
        The ``ray`` module.

    Raises:
        OptionalDependencyError: Ray, Ray Data or Ray Train is not installed.
    """
    try:
        import ray
        import ray.data  # noqa: F401
        import ray.train.lightning  # noqa: F401
        import ray.train.torch  # noqa: F401
    except ImportError as e:
        raise OptionalDependencyError(
            f'tabargn.ray needs the optional ray package ({e}): pip install "tabargn[ray]"'
        ) from None
    return ray
