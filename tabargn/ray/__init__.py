"""Distributed fit and sampling on a Ray cluster (the optional extra ``ray``).

``RayTabularARGN`` follows the engine-specific estimators of xgboost (``xgboost_ray``) and
LightGBM (``lightgbm.dask``): the same estimator and model, with the data and the work spread
over a cluster. It takes a ``ray.data.Dataset``:

- statistics: one map over the blocks with the encoders' ``analyze`` and one ``reduce``
  (:mod:`tabargn.ray.fit`), so value protection decides exactly as in a local fit;
- encoding with ``map_batches``, training with Ray Train's ``TorchTrainer`` running the same
  Lightning module (:class:`tabargn.training.ARGNModule`) under DDP, each worker streaming its
  shard;
- sampling returns a ``ray.data.Dataset`` generated in parallel blocks, each with its own random
  stream (:mod:`tabargn.ray.sample`).

Importing this package raises :class:`tabargn.errors.OptionalDependencyError` when Ray is
missing (``pip install "tabargn[ray]"``); ``import tabargn`` never imports it.
"""

from __future__ import annotations

from tabargn.ray._require import require_ray

require_ray()

from tabargn.ray.estimator import RayTabularARGN  # noqa: E402

__all__ = ["RayTabularARGN", "require_ray"]
