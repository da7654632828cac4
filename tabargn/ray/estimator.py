"""RayTabularARGN: :class:`tabargn.TabularARGN` fitted and sampled on a Ray cluster.

The estimator is a :class:`tabargn.TabularARGN` (same parameters, same fitted attributes, same
model folder) with three engine-specific methods: :meth:`RayTabularARGN.fit` takes a
``ray.data.Dataset`` (:mod:`tabargn.ray.fit`), :meth:`RayTabularARGN.sample` returns one
(:mod:`tabargn.ray.sample`), and :meth:`RayTabularARGN.to_local` hands the fitted model to a plain
``TabularARGN``. The other methods (``impute``, ``log_prob``, ``predict_proba``,
``sample_to_parquet``) run locally on pandas frames, as in the parent.
"""

from __future__ import annotations

import copy
import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from tabargn import parquet_output
from tabargn.errors import InvalidDataError
from tabargn.estimator import TabularARGN
from tabargn.flat import check_columns, check_sampling_args, sample_rows
from tabargn.params import FitParams, check_seed
from tabargn.ray._require import require_ray
from tabargn.ray.fit import fit_ray
from tabargn.ray.sample import sample_conditioned, sample_units

__all__ = ["RayTabularARGN"]

_RAY_PARAMS = ("num_workers", "use_gpu", "cpus_per_worker")


def _positive_int(name: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise InvalidDataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class RayTabularARGN(TabularARGN):
    """TabularARGN trained with Ray Train and sampled with Ray Data.

    Args:
        num_workers: Ray Train workers (DDP processes) for ``fit``; concurrent generation
            tasks for ``sample``. Default 2.
        use_gpu: One GPU per worker (training in bf16-mixed where supported) and per
            generation task. Default False.
        cpus_per_worker: CPUs reserved per worker and task (also its torch threads). Default 1.
        **params: :class:`tabargn.TabularARGN`'s parameters (``model_size``, ``max_epochs``,
            ``value_protection``, ``random_state``, ...). ``devices``, ``strategy`` and
            ``num_nodes`` stay at their defaults (Ray places the workers);
            ``differential_privacy``, ``constraints`` and text columns need ``TabularARGN``.

    ``batch_size`` is the rows of one optimizer step over all workers (each worker takes
    ``batch_size // num_workers``), with the local default (:func:`tabargn.training.default_batch_size`)
    and learning rate, so a Ray fit takes the local fit's steps whatever ``num_workers``.

    Reproducibility: the encoding statistics equal a local fit's with the same seed, value
    protection included; the trained weights also depend on the order in which Ray hands the
    blocks to the workers, so two Ray fits can differ slightly. Sampling from given weights is
    exact: the same seed gives the same rows whatever ``num_workers`` and ``num_blocks``.
    """

    def __init__(
        self, *, num_workers: int = 2, use_gpu: bool = False, cpus_per_worker: int = 1, **params
    ) -> None:
        super().__init__(**params)
        self.num_workers = num_workers
        self.use_gpu = use_gpu
        self.cpus_per_worker = cpus_per_worker

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """scikit-learn's parameter list: TabularARGN's and the Ray settings."""
        return sorted({*TabularARGN._get_param_names(), *_RAY_PARAMS})

    def _local_params(self) -> dict:
        return {k: v for k, v in self.get_params().items() if k not in _RAY_PARAMS}

    def _ray_settings(self) -> tuple[int, bool, int]:
        if not isinstance(self.use_gpu, bool | np.bool_):
            raise InvalidDataError(f"use_gpu must be True or False, got {self.use_gpu!r}")
        return (
            _positive_int("num_workers", self.num_workers),
            bool(self.use_gpu),
            _positive_int("cpus_per_worker", self.cpus_per_worker),
        )

    # ================================================================== fit
    def fit(self, X, y=None) -> RayTabularARGN:
        """Fits on a ``ray.data.Dataset`` (a pandas DataFrame is turned into one).

        Args:
            X: The training rows, at least 2 (and one training and one validation row per
                worker). Blocks are analyzed and encoded in parallel; the encoded rows stay
                in Ray's object store.
            y: Ignored (scikit-learn compatibility).

        Returns:
            self.

        Raises:
            OptionalDependencyError: Ray is not installed (``pip install "tabargn[ray]"``).
            InvalidDataError: Not a Dataset or DataFrame, too few rows, bad parameters,
                settings only the local estimator has (DP-SGD, constraints, text columns,
                ``devices``/``strategy``/``num_nodes``).
            UnsupportedDtypeError: A column's dtype cannot be modelled.
        """
        ray = require_ray()
        num_workers, use_gpu, cpus_per_worker = self._ray_settings()
        params = FitParams.from_params(self._local_params()).check()
        if params.uses_dp or self.constraints:
            raise InvalidDataError(
                "differential_privacy and constraints need TabularARGN; RayTabularARGN has "
                "neither yet"
            )
        if (params.devices, params.strategy, params.num_nodes) != (1, "auto", 1):
            raise InvalidDataError(
                "RayTabularARGN places its workers itself: set num_workers (and use_gpu), "
                "not devices, strategy or num_nodes"
            )
        if isinstance(X, pd.DataFrame):
            X = ray.data.from_pandas(X)
        if not isinstance(X, ray.data.Dataset):
            raise InvalidDataError(
                f"RayTabularARGN.fit takes a ray.data.Dataset or a DataFrame, got "
                f"{type(X).__name__}"
            )
        seed = check_seed(self.random_state)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))
        fitted = fit_ray(
            X,
            params,
            seed,
            num_workers=num_workers,
            use_gpu=use_gpu,
            cpus_per_worker=cpus_per_worker,
        )
        self._set_fitted(fitted, seed)
        return self

    # ================================================================== sample
    def sample(
        self,
        n_samples: int | None = None,
        *,
        conditions=None,
        where: dict | None = None,
        rebalance: dict | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        fairness: dict | None = None,
        num_blocks: int | None = None,
    ):
        """Generates rows as a lazy ``ray.data.Dataset``, in parallel blocks.

        Rows come in units of :data:`tabargn.parquet_output.BLOCK_ROWS`, each from its own
        stream (the model's seed, the call, the unit index; :mod:`tabargn.ray.sample`): the
        same seed gives the same rows whatever ``num_blocks`` and ``num_workers``, and the
        same rows as ``to_local().sample_to_parquet(...)`` would write. Each call advances the
        model's sampling stream by one draw.

        Args:
            n_samples: Rows (default: the training row count); not with ``conditions``.
            conditions: A ``ray.data.Dataset`` or DataFrame of condition rows; one output
                row per condition row (see :meth:`tabargn.TabularARGN.sample`). A Dataset is
                generated with ``map_batches``; each batch's stream is derived from the seed
                and the batch's contents.
            where, rebalance, temperature, top_p: As in :meth:`tabargn.TabularARGN.sample`.
            fairness: As in :meth:`tabargn.TabularARGN.sample`; parity is exact within each
                unit (or condition batch), so overall up to rounding per unit.
            num_blocks: Ray blocks of the output (each holds whole units); default one per
                unit.

        Returns:
            A ``ray.data.Dataset`` with the training columns; ``to_pandas()`` gives them in
            their training dtypes where Arrow keeps them.

        Raises:
            NotFittedError: Before fit.
            InvalidDataError: Bad ``n_samples``, ``num_blocks``, ``temperature`` or
                ``top_p``, or both ``n_samples`` and ``conditions``.
            UnknownColumnError: Conditions name a column the model does not have.
        """
        ray = require_ray()
        flat = self._flat("sample")
        num_workers, use_gpu, cpus_per_worker = self._ray_settings()
        check_sampling_args(temperature, top_p)
        if num_blocks is not None:
            num_blocks = _positive_int("num_blocks", num_blocks)
        settings = dict(
            where=where, rebalance=rebalance, temperature=temperature, top_p=top_p,
            fairness=fairness,
        )  # fmt: skip
        workers = dict(num_workers=num_workers, use_gpu=use_gpu, cpus_per_worker=cpus_per_worker)
        if conditions is not None:
            if n_samples is not None:
                raise InvalidDataError(
                    "n_samples and conditions together: conditions give one row per row"
                )
            if isinstance(conditions, pd.DataFrame | dict):
                conditions = ray.data.from_pandas(pd.DataFrame(conditions))
            if not isinstance(conditions, ray.data.Dataset):
                raise InvalidDataError(
                    f"conditions must be a ray.data.Dataset or a DataFrame, got "
                    f"{type(conditions).__name__}"
                )
            check_columns(pd.DataFrame(columns=conditions.columns()), flat.feature_names,
                          "conditions")  # fmt: skip
            base = int(self._stream.integers(0, 2**62))
            return sample_conditioned(flat, base, conditions, settings=settings, **workers)
        n = flat.training["n_rows"] if n_samples is None else n_samples
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
            raise InvalidDataError(f"n_samples must be a non-negative integer, got {n!r}")
        base = int(self._stream.integers(0, 2**62))
        if n == 0:
            empty = sample_rows(flat, np.random.default_rng([base, 0]), 0, **settings)
            return ray.data.from_pandas(empty)
        return sample_units(
            flat,
            base,
            int(n),
            settings=settings,
            num_blocks=num_blocks,
            unit_rows=parquet_output.BLOCK_ROWS,
            **workers,
        )

    # ================================================================== local model
    def to_local(self) -> TabularARGN:
        """A plain :class:`tabargn.TabularARGN` with a copy of this model's weights and codec.

        Its sampling stream starts at the beginning (as after ``fit`` or ``load``), so its
        ``sample_to_parquet`` writes what this model's first ``sample`` call returns.

        Raises:
            NotFittedError: Before fit.
        """
        local = TabularARGN(**self._local_params())
        local._set_fitted(copy.deepcopy(self._flat("to_local")), self.seed_)
        return local

    @classmethod
    def from_local(
        cls,
        model: TabularARGN,
        *,
        num_workers: int = 2,
        use_gpu: bool = False,
        cpus_per_worker: int = 1,
    ) -> RayTabularARGN:
        """A RayTabularARGN around a copy of a fitted flat :class:`tabargn.TabularARGN`.

        Raises:
            NotFittedError: ``model`` is not fitted.
            InvalidDataError: ``model`` is sequential.
        """
        flat = copy.deepcopy(model._flat("RayTabularARGN"))
        out = cls(
            num_workers=num_workers,
            use_gpu=use_gpu,
            cpus_per_worker=cpus_per_worker,
            **model.get_params(),
        )
        out._set_fitted(flat, model.seed_)
        return out

    def save(self, path: str | Path) -> Path:
        """Saves the model as :meth:`tabargn.TabularARGN.save` does (the same folder format,
        loadable by ``TabularARGN.load``); the Ray settings are not saved.

        Raises:
            NotFittedError: Before fit.
        """
        return self.to_local().save(path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        num_workers: int = 2,
        use_gpu: bool = False,
        cpus_per_worker: int = 1,
        predicates: dict | None = None,
        text_backend=None,
    ) -> RayTabularARGN:
        """Loads a model folder written by ``save`` (this class's or ``TabularARGN``'s).

        Raises:
            ModelFileError: Missing, corrupt or incompatible model directory.
            InvalidDataError: A sequential model.
        """
        local = TabularARGN.load(path, predicates=predicates, text_backend=text_backend)
        return cls.from_local(
            local, num_workers=num_workers, use_gpu=use_gpu, cpus_per_worker=cpus_per_worker
        )
