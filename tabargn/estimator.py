"""``TabularARGN``: the scikit-learn-style front of the package.

>>> model = TabularARGN(random_state=0).fit(df)          # doctest: +SKIP
>>> synthetic = model.sample(n_samples=1000)             # doctest: +SKIP
>>> filled = model.impute(df_with_missing_cells)         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from tabargn.codec import MODELLED_KINDS
from tabargn.constraints import parse_rules
from tabargn.errors import InvalidDataError, ModelFileError, NotFittedError
from tabargn.flat import (
    FlatModel,
    impute_rows,
    log_prob_rows,
    predict_proba_rows,
    sample_rows,
)
from tabargn.flat_fit import fit_flat
from tabargn.generation import networks_on, sampling_stream
from tabargn.params import FitParams, check_seed
from tabargn.parquet_output import write_parts
from tabargn.persistence import load_model, save_model
from tabargn.schema import validate_frame
from tabargn.sequential import SequentialModel, fit_sequential, sample_sequential
from tabargn.table_files import open_table

__all__ = ["TabularARGN"]


class TabularARGN(BaseEstimator):
    """Any-order autoregressive generative model for flat tables (TabularARGN).

    Every column is encoded into categorical sub-columns (:mod:`tabargn.encoding`); one network
    learns ``P(sub-column | any subset of the others)`` with random column orders per row
    (permutation masks, :mod:`tabargn.model`), so the same fitted model samples, samples under
    conditions, imputes and scores rows. Source: Tiwald et al., 2025, arXiv 2501.12012.

    Args:
        model_size: ``"auto"`` (default), ``"small"``, ``"medium"`` or ``"large"``: regressor
            width and depth (see :data:`tabargn.model.MODEL_SIZES`). ``"auto"`` is ``"small"``
            below 10,000 training rows and ``"medium"`` from there on
            (:func:`tabargn.flat.flat_model_size`; sequential tables: ``"medium"``).
        max_epochs: Upper limit on training epochs (early stopping usually ends sooner).
        max_time: Upper limit on training time in seconds; None for none.
        batch_size: Rows per batch; None picks one by data size.
        learning_rate: AdamW learning rate; None picks one by batch size.
        value_protection: Privacy-preserving encoding (default True): categories held by fewer
            than k rows (k drawn in 5..7 per column and fit) are removed and resampled from the
            kept ones; numeric and datetime ranges are clipped to the k-th extreme values. A
            column with nothing common enough to keep yields no training value: a categorical
            one synthetic keys of its shape (identifier-like columns) or ``rare_placeholder``,
            a numeric or datetime one with fewer than 2k values missing values. In sequences,
            rows are counted as distinct entities.
        rare_placeholder: Output of a categorical column none of whose categories is held by k
            rows and that is not identifier-like (default ``"_RARE_"``; in a non-string column
            it becomes a missing value where the dtype cannot hold it).
        encoding_types: Overrides of inferred column kinds, e.g. ``{"zip": "categorical"}``.
            Kinds: ``categorical``, ``numeric``, ``datetime``, ``text``. String columns not
            named here that hold free text (mean >= 3 words, >= 30 % distinct values) are
            detected as ``text``; name them ``"categorical"`` to keep them in the network.
        text_backend: Generator of free-text columns (see :mod:`tabargn.text_columns`):
            ``"offline"`` (default: a small row-conditioned LSTM trained from scratch on the
            column, no downloads) or a :mod:`llm_text` chat backend instance, e.g.
            ``llm_text.OpenAIChatClient("model", base_url="http://localhost:8000/v1")``.
        text_options: ``llm_text.TextColumnModel`` settings for every text column:
            ``max_length`` (tokens; default chosen from the data, at most 512), ``curation``,
            ... and backend options (offline: ``max_epochs``, ``max_time``, ``hidden_dim``,
            ...; chat: ``n_shots``, ``personas``, ...). None for the defaults.
        device: Where training and inference run: ``"cpu"`` (default), ``"cuda"``,
            ``"cuda:N"``, ``"mps"`` or ``"auto"`` (a GPU if present). GPUs train in bf16-mixed
            precision where supported, fp32 elsewhere (see :mod:`tabargn.device`). After
            ``fit`` the network stays on this device; ``load`` puts it on the CPU, and every
            inference call takes ``device=`` to run elsewhere.
        devices: Devices per node for training (Lightning's ``devices``; default 1): with
            ``strategy="ddp"`` and ``devices=2`` two processes train on shards of the rows.
        strategy: Lightning training strategy: ``"auto"`` (default, one device), ``"ddp"``
            (one process per device, launched by re-running the calling script; replaced by
            ``"ddp_notebook"`` in notebooks), ``"ddp_spawn"``, ``"ddp_notebook"``, ...
        num_nodes: Machines for multi-node DDP (default 1).
        random_state: Seed covering fit and sample; None draws one (stored as ``seed_``).
        verbose: 0 silent, 1 progress bars.
        differential_privacy: None (default) or a dict for end-to-end differential privacy
            (needs ``pip install "tabargn[dp]"``), flat and sequential: ``max_epsilon`` (total,
            default 5.0), ``delta`` (1e-5), ``statistics_epsilon`` (spent on DP encoding
            statistics, :mod:`tabargn.dp_statistics`; default ``min(1, max_epsilon / 4)``),
            ``max_grad_norm`` (1.0), ``noise_multiplier`` (None: calibrated so that
            ``max_epochs`` epochs spend the rest, :mod:`tabargn.dp_sgd`); ``True`` takes the
            defaults. DP mode trains on all rows for ``max_epochs`` epochs (no validation
            split, no early stopping); ``privacy_`` reports the total and its split.
        constraints: Rules every generated row satisfies (:mod:`tabargn.constraints`):
            ``FixedCombinations``, ``Inequality``, ``Range``, ``Sum`` (enforced by construction)
            and ``Predicate`` (by rejection), as objects or their dicts. Checked against the
            training data at fit; stored in the model. Sequential models: rules on event columns
            hold for every generated event, rules on context columns for every generated
            context row (:mod:`tabargn.sequential.rules`).
        memory_budget_mb: Memory for the data side of a flat fit (default 512): chunks of the
            input being read and the window of compact training codes (see
            :mod:`tabargn.out_of_core`); the row count does not change it.

    Attributes (after fit):
        seed_: The seed actually used (int).
        codec_: The fitted :class:`tabargn.codec.TableCodec`.
        network_: The trained :class:`tabargn.model.ARGN` (on the CPU).
        feature_names_in_: Column names seen in fit (ndarray of str).
        n_features_in_: Number of columns seen in fit.
        training_: Training summary (epochs, best validation loss, seconds, ...;
            ``marginal_calibration``: rows, passes, seconds and the mean TVD between predicted
            and real marginals before each pass, :mod:`tabargn.marginal_calibration`).
        privacy_: With ``differential_privacy``, the guarantee spent: ``epsilon``, ``delta``
            (totals, ``epsilon <= max_epsilon``) and their statistics / training split; None
            without it.
        text_models_: Text column -> fitted ``llm_text.TextColumnModel`` (empty without text
            columns). Text columns are not in the network: each text is generated after the
            row's tabular columns, conditioned on them.
        sequential_: Sequential models only: the fitted
            :class:`tabargn.sequential.SequentialModel` (entity model, event codec, sequence
            network); ``codec_`` and ``network_`` are then its event codec and network.

    The estimator is a thin front: the flat engine (:mod:`tabargn.flat`) and the sequential
    engine (:mod:`tabargn.sequential`) do the work; this class validates parameters, keeps the
    fitted attributes and the sampling random stream.
    """

    def __init__(
        self,
        *,
        model_size: str = "auto",
        max_epochs: int = 100,
        max_time: float | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        value_protection: bool = True,
        rare_placeholder: str = "_RARE_",
        encoding_types: dict[str, str] | None = None,
        text_backend="offline",
        text_options: dict | None = None,
        device: str = "cpu",
        devices: int | str = 1,
        strategy: str = "auto",
        num_nodes: int = 1,
        random_state: int | None = None,
        verbose: int = 1,
        differential_privacy: dict | None = None,
        constraints: list | None = None,
        memory_budget_mb: float = 512,
    ) -> None:
        self.model_size = model_size
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.value_protection = value_protection
        self.rare_placeholder = rare_placeholder
        self.encoding_types = encoding_types
        self.text_backend = text_backend
        self.text_options = text_options
        self.device = device
        self.devices = devices
        self.strategy = strategy
        self.num_nodes = num_nodes
        self.random_state = random_state
        self.verbose = verbose
        self.differential_privacy = differential_privacy
        self.constraints = constraints
        self.memory_budget_mb = memory_budget_mb

    # ================================================================== fit
    def fit(
        self,
        X,
        y=None,
        *,
        entity_key: str | None = None,
        order_by: str | None = None,
        context: pd.DataFrame | None = None,
        context_key: str | None = None,
    ) -> TabularARGN:
        """Fits the model on a table, or on events per entity (sequential mode).

        Args:
            X: The training table, ``n_rows >= 2``: a DataFrame, or (flat models) a path to a
                Parquet or CSV file or a directory of them, a ``pyarrow.Table`` or a
                ``pyarrow.dataset.Dataset``, read in chunks within ``memory_budget_mb``
                (:mod:`tabargn.out_of_core`). Columns may be numeric, boolean,
                categorical/string/object, or datetime, with missing values anywhere.
            y: Ignored (scikit-learn compatibility).
            entity_key: Sequential mode: the column of ``X`` naming each event's entity. Events
                are sorted stably by entity and ``order_by``; entities may have a single event.
                See :mod:`tabargn.sequential`.
            order_by: Sequential mode: a numeric or datetime column ordering each entity's
                events (None: input order). Modelled as the first value plus gaps to the
                previous event.
            context: Sequential mode: optional context table, one row per entity (rows
                without events are entities with zero events; every entity of ``X`` needs a
                row, else InvalidDataError).
            context_key: Key column of ``context`` (default: ``entity_key``).

        Returns:
            self.

        Raises:
            InvalidDataError: Empty frame, no columns, duplicate names, bad parameters; in
                sequential mode also missing keys or order values, a context table lacking
                entities or with duplicate keys, fewer than 2 entities.
            UnsupportedDtypeError: Complex numbers, timedeltas, nested objects.
        """
        if order_by is not None or context is not None or context_key is not None:
            if entity_key is None:
                raise InvalidDataError("order_by, context and context_key need entity_key")
        params = FitParams.from_params(self.get_params()).check()
        seed = check_seed(self.random_state)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))
        rules = parse_rules(self.constraints)
        if entity_key is None:
            if isinstance(X, pd.DataFrame):
                validate_frame(X)
            fitted = fit_flat(open_table(X), params, seed, constraints=rules)
        else:
            fitted = fit_sequential(
                X,
                params,
                seed,
                entity_key=entity_key,
                order_by=order_by,
                context=context,
                context_key=context_key,
                constraints=rules,
            )
        self._set_fitted(fitted, seed)
        return self

    def _set_fitted(self, fitted: FlatModel | SequentialModel, seed: int) -> None:
        """Sets every fitted attribute from an engine's model (after fit and after load)."""
        self.__dict__.pop("sequential_", None)
        self.seed_ = seed
        if isinstance(fitted, SequentialModel):
            self.sequential_ = fitted
            self.codec_ = fitted.event_codec
            self.network_ = fitted.network
            self.feature_names_in_ = np.asarray(fitted.meta.event_columns, dtype=object)
            self.training_ = fitted.training
            self.text_models_ = fitted.text_models
            self.constraints_ = fitted.entity_model.constraints + fitted.constraints
        else:
            self.codec_ = fitted.codec
            self.network_ = fitted.network
            self.feature_names_in_ = np.asarray(fitted.feature_names, dtype=object)
            self.training_ = fitted.training
            self.text_models_ = fitted.text_models
            self.constraints_ = fitted.constraints
        self.n_features_in_ = len(self.feature_names_in_)
        self.restart_sampling()

    def restart_sampling(self) -> TabularARGN:
        """Restarts the sampling random stream at its beginning; returns ``self``.

        Every ``sample`` / ``impute`` call advances the stream, so consecutive calls differ;
        after this call the next one draws what the first call after ``fit`` or ``load`` drew
        (same seed, same device).

        Raises:
            NotFittedError: Before fit.
        """
        self._check_fitted()
        self._stream = sampling_stream(self.seed_)
        return self

    def _fitted(self) -> FlatModel | SequentialModel:
        """The engine's model behind the fitted attributes."""
        self._check_fitted()
        if getattr(self, "sequential_", None) is not None:
            return self.sequential_
        return FlatModel(
            codec=self.codec_,
            network=self.network_,
            feature_names=list(self.feature_names_in_),
            training=self.training_,
            text_models=getattr(self, "text_models_", None) or {},
            constraints=getattr(self, "constraints_", None) or [],
        )

    def _flat(self, what: str) -> FlatModel:
        """The flat model; InvalidDataError when ``what`` is called on a sequential model."""
        fitted = self._fitted()
        if isinstance(fitted, SequentialModel):
            raise InvalidDataError(f"{what} is not available for sequential models")
        return fitted

    def _inference_device(self, device: str | None):
        """Context manager: one inference call on ``device`` (None: where the networks are)."""
        fitted = self._fitted()
        networks = [self.network_]
        if isinstance(fitted, SequentialModel):
            networks.append(fitted.entity_model.network)
        return networks_on(networks, device)

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "This TabularARGN is not fitted yet; call fit(df) or TabularARGN.load(path) first"
            )

    # ================================================================== sample
    def sample(
        self,
        n_samples: int | None = None,
        *,
        conditions: pd.DataFrame | None = None,
        where: dict | None = None,
        rebalance: dict | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        n_entities: int | None = None,
        context: pd.DataFrame | None = None,
        seed_events: pd.DataFrame | None = None,
        device: str | None = None,
        fairness: dict | None = None,
    ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
        """Generates synthetic rows (or, for a sequential model, entities and their events).

        Args:
            n_samples: Number of rows (default: as many as the training data had; with
                ``conditions`` it must be None or equal to ``len(conditions)``).
            conditions: Rows of fixed values: one output row per condition row. Any subset of
                columns; a missing cell (NaN/None) leaves that cell free. Condition values are
                copied to the output exactly.
            where: Restrictions per column: ``(low, high)`` (inclusive; numeric and datetime;
                either end may be None) or a list of allowed values. Exact: every output value
                satisfies them, with no rejection loop.
            rebalance: ``{column: {value: share}}`` target distribution of a categorical column;
                values not named keep their training proportions in the remaining share.
            temperature: Softmax temperature (> 0); < 1 sharpens toward frequent values.
            top_p: Nucleus sampling threshold in (0, 1].
            n_entities: Sequential models: number of new entities (default: as many as in
                training). They get new unique keys; ``conditions``/``where``/``rebalance``
                apply to their context columns.
            context: Sequential models with a context table: generate sequences for these
                entities (one row each, with the context key).
            seed_events: Sequential models: complete these entities' sequences; their events
                are kept verbatim and the rest is generated (with a context table, ``context``
                must hold every seed entity).
            device: Where the draws run (None: the network's device; see ``device`` in the
                class docstring). The same seed on the same device gives the same rows.
            fairness: ``{"target": column, "sensitive": [columns]}``: statistical parity. The
                sensitive columns are drawn first; within each of their groups the categorical
                target takes its training shares exactly; the other columns are drawn given
                both. See :func:`tabargn.constraints.parity_gap`. Sequential models: context
                columns only, for new entities (else ConditionError, which says why).

        Returns:
            DataFrame with the training columns, in their order and dtypes. Sequential models:
            the events sorted by entity and order; a ``(context, events)`` pair for new
            entities when a context table was fitted.

        Raises:
            NotFittedError: Before fit.
            InvalidDataError: Bad ``n_samples``, ``temperature`` or ``top_p``.
            UnknownColumnError: Conditions/where/rebalance name unknown columns.
            UnknownValueError: Condition values never seen in training or removed by value
                protection.
            ConditionError: Impossible restrictions.
            ConstraintError: Conditions that break a constraint, or a Predicate still unmet
                after its tries.
        """
        fitted = self._fitted()
        if isinstance(fitted, SequentialModel):
            if n_samples is not None:
                raise InvalidDataError("sequential models take n_entities, not n_samples")
            with self._inference_device(device):
                return sample_sequential(
                    fitted,
                    self._stream,
                    n_entities=n_entities,
                    context=context,
                    seed_events=seed_events,
                    conditions=conditions,
                    where=where,
                    rebalance=rebalance,
                    temperature=temperature,
                    top_p=top_p,
                    fairness=fairness,
                )
        if n_entities is not None or context is not None or seed_events is not None:
            raise InvalidDataError("n_entities, context and seed_events need a sequential model")
        with self._inference_device(device):
            return sample_rows(
                fitted,
                self._stream,
                n_samples,
                conditions=conditions,
                where=where,
                rebalance=rebalance,
                temperature=temperature,
                top_p=top_p,
                fairness=fairness,
            )

    def sample_to_parquet(
        self,
        path: str | Path,
        n_samples: int,
        *,
        rows_per_part: int = 250_000,
        where: dict | None = None,
        rebalance: dict | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        device: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Path]:
        """Generates ``n_samples`` rows straight into Parquet parts, in bounded memory.

        Rows are drawn in fixed blocks with their own random streams
        (:mod:`tabargn.parquet_output`), so the same seed gives the same rows whatever
        ``rows_per_part``; memory holds one block at a time, so ``n_samples`` is bounded by
        the disk, not by memory. Read the result with ``pandas.read_parquet(path)``.

        Args:
            path: Output directory (created; existing ``part-*.parquet`` files are replaced).
            n_samples: Rows in total.
            rows_per_part: Rows per Parquet file (default 250,000).
            where, rebalance, temperature, top_p, device: As in :meth:`sample`.
            progress: Called with the number of rows written so far after each block.

        Returns:
            The part files, in order.

        Raises:
            NotFittedError: Before fit.
            InvalidDataError: A sequential model, bad ``n_samples`` / ``rows_per_part``, or
                ``path`` is a file.
        """
        flat = self._flat("sample_to_parquet")

        def block(stream: np.random.Generator, rows: int) -> pd.DataFrame:
            return sample_rows(
                flat,
                stream,
                rows,
                where=where,
                rebalance=rebalance,
                temperature=temperature,
                top_p=top_p,
            )

        with self._inference_device(device):
            return write_parts(
                block,
                self._stream,
                path,
                n_samples,
                rows_per_part=rows_per_part,
                progress=progress,
            )

    def impute(
        self,
        X: pd.DataFrame,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        device: str | None = None,
    ) -> pd.DataFrame:
        """Fills the missing cells of a table; observed cells stay as they are.

        Each missing cell is drawn from ``P(cell | the row's observed cells)``, with NULL
        excluded, so no missing value is left in modelled columns (TabularARGN section 3.3).

        Args:
            X: A table with the training columns (some may be absent: fully imputed). Integer
                columns turned float or object by missing values are accepted.
            temperature, top_p, device: As in :meth:`sample`.

        Returns:
            DataFrame with the training columns and dtypes, same index as ``X``.
        """
        flat = self._flat("impute")
        with self._inference_device(device):
            return impute_rows(flat, self._stream, X, temperature=temperature, top_p=top_p)

    # ================================================================== scores
    def log_prob(self, X: pd.DataFrame, *, device: str | None = None) -> np.ndarray:
        """Per-row log-likelihood under the model (outlier scores: low = unusual).

        Args:
            X: Rows with every modelled training column; missing cells are the NULL value.
            device: As in :meth:`sample`.

        Returns:
            float64 ``[n_rows]`` in nats, summed over sub-columns in the data's column order.
            Numbers and datetimes are scored at their encoding's resolution (bins).

        Raises:
            InvalidDataError: A modelled column is missing, or NULLs where training had none.
            UnknownValueError: Values never seen in training.
        """
        flat = self._flat("log_prob")
        with self._inference_device(device):
            return log_prob_rows(flat, X)

    def predict_proba(
        self, X: pd.DataFrame, target: str, *, device: str | None = None
    ) -> pd.DataFrame:
        """``P(target | the other columns of each row)`` for a categorical or discrete column.

        Args:
            X: Rows of conditioning columns (the target column, if present, is ignored; missing
                cells and absent columns are treated as unknown).
            target: Name of a categorical column (or a numeric column with few values).
            device: As in :meth:`sample`.

        Returns:
            DataFrame ``[n_rows, n_values]`` whose columns are the target's values; rows sum
            to 1. The share of categories removed by value protection is spread over the kept
            ones in proportion to their training frequency; NULL is excluded and renormalized.

        Raises:
            UnknownColumnError: ``target`` is not a modelled column.
            InvalidDataError: The target is encoded with more than one sub-column (binned
                numbers, datetimes, very high cardinality).
        """
        flat = self._flat("predict_proba")
        with self._inference_device(device):
            return predict_proba_rows(flat, X, target)

    # ================================================================== persistence
    def save(self, path: str | Path) -> Path:
        """Saves the fitted model to a directory (``config.json``, ``encoders.json``,
        ``model.safetensors``; no pickle). See :mod:`tabargn.persistence`.

        Returns:
            The directory as a Path.

        Raises:
            NotFittedError: Before fit.
        """
        return save_model(self._fitted(), path, params=self.get_params(), seed=self.seed_)

    @classmethod
    def load(
        cls, path: str | Path, *, predicates: dict | None = None, text_backend=None
    ) -> TabularARGN:
        """Loads a model saved by :meth:`save`, on the CPU whatever device trained it.

        Sampling restarts at the beginning of the model's random stream, so a loaded model
        draws the same rows as the saved one did right after its fit.

        The folder is treated as untrusted: every file read resolves inside it, and no URL,
        environment variable name, cache or card path saved in it is used. A model with
        prompted text columns needs its chat client again: ``text_backend=OpenAIChatClient(...)``
        (without it, generating those texts raises ``LLMBackendError``).

        Args:
            path: The model directory.
            predicates: ``{name: fn}``: the functions of the model's
                :class:`~tabargn.constraints.Predicate` rules (a model stores a predicate's
                name and columns, never its code). A predicate left out makes ``sample``
                raise ConstraintError.
            text_backend: Chat client for prompted text columns (see above).

        Raises:
            ModelFileError: Missing, corrupt or incompatible model directory.
        """
        params, seed, fitted = load_model(path, predicates=predicates, text_backend=text_backend)
        try:
            model = cls(**params)
        except TypeError as e:
            raise ModelFileError(f"{path} has unknown estimator parameters: {e}") from None
        model._set_fitted(fitted, seed)
        return model

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    @property
    def privacy_(self) -> dict | None:
        self._check_fitted()
        return self.training_.get("privacy")

    @property
    def modelled_columns(self) -> list[str]:
        """Columns the network models (not empty or text columns)."""
        self._check_fitted()
        return [s.name for s in self.codec_.specs if s.kind in MODELLED_KINDS]
