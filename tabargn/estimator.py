"""``TabularARGN``: the scikit-learn-style front of the package.

>>> model = TabularARGN(random_state=0).fit(df)          # doctest: +SKIP
>>> synthetic = model.sample(n_samples=1000)             # doctest: +SKIP
>>> filled = model.impute(df_with_missing_cells)         # doctest: +SKIP
"""

from __future__ import annotations

import numbers
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from tabargn.codec import MODELLED_KINDS, TableCodec
from tabargn.errors import (
    ConditionError,
    InvalidDataError,
    NotFittedError,
    UnknownColumnError,
)
from tabargn.model import ARGN, MODEL_SIZES, REGRESSOR_DROPOUT, ModelConfig
from tabargn.sampling import generate, row_log_prob, sub_column_proba
from tabargn.schema import infer_schema, validate_frame
from tabargn.text_columns import (
    detect_text_columns,
    fill_text_columns,
    fit_text_models,
    validate_text_settings,
)
from tabargn.training import TrainingConfig, fit_network

__all__ = ["TabularARGN"]

# Training half of the rows in the data's column order, the order of unconditional sampling,
# helped most on small data (12,000 Adult rows: mean per-column TVD 0.020 -> 0.015); the other
# half keeps random orders for conditions and imputation. Dropout: see model.REGRESSOR_DROPOUT.
NATURAL_ORDER_SHARE = 0.5


class TabularARGN(BaseEstimator):
    """Any-order autoregressive generative model for flat tables (TabularARGN).

    Every column is encoded into categorical sub-columns (:mod:`tabargn.encoding`); one network
    learns ``P(sub-column | any subset of the others)`` with random column orders per row
    (permutation masks, :mod:`tabargn.model`), so the same fitted model samples, samples under
    conditions, imputes and scores rows. Source: Tiwald et al., 2025, arXiv 2501.12012.

    Args:
        model_size: ``"small"``, ``"medium"`` (default) or ``"large"``: regressor width and depth
            (see :data:`tabargn.model.MODEL_SIZES`).
        max_epochs: Upper limit on training epochs (early stopping usually ends sooner).
        max_time: Upper limit on training time in seconds; None for none.
        batch_size: Rows per batch; None picks one by data size.
        learning_rate: AdamW learning rate; None picks one by batch size.
        value_protection: Privacy-preserving encoding (default True): categories held by fewer
            than k rows (k drawn in 5..7 per column and fit) are removed and resampled from the
            kept ones; numeric and datetime ranges are clipped to the k-th extreme values.
        encoding_types: Overrides of inferred column kinds, e.g. ``{"zip": "categorical"}``.
            Kinds: ``categorical``, ``numeric``, ``datetime``, ``text``. String columns not
            named here that hold free text (mean >= 3 words, >= 30 % distinct values) are
            detected as ``text``; name them ``"categorical"`` to keep them in the network.
        text_backend: Generator of free-text columns (see :mod:`tabargn.text_columns`):
            ``"offline"`` (default: a small row-conditioned LSTM trained from scratch on the
            column, no downloads) or a :mod:`llm_text` chat backend instance, e.g.
            ``llm_text.OpenAIBackend("model", base_url="http://localhost:8000/v1")``.
        text_options: ``llm_text.TextColumnModel`` settings for every text column:
            ``max_length`` (tokens, default 128), ``curation``, ... and backend options
            (offline: ``max_epochs``, ``max_time``, ``hidden_dim``, ...; chat: ``n_shots``,
            ``personas``, ...). None for the defaults.
        device: ``"cpu"`` (default), ``"cuda"`` or ``"auto"`` (a GPU with bf16-mixed if present).
        random_state: Seed covering fit and sample; None draws one (stored as ``seed_``).
        verbose: 0 silent, 1 progress bars.
        differential_privacy: None (default) or a dict to train the network with DP-SGD (needs
            ``pip install "tabargn[dp]"``): ``max_epsilon`` (default 5.0), ``delta`` (1e-5),
            ``max_grad_norm`` (1.0), ``noise_multiplier`` (None: calibrated so that
            ``max_epochs`` epochs spend ``max_epsilon``); ``True`` takes the defaults. DP mode
            trains on all rows for ``max_epochs`` epochs (no validation split, no early
            stopping) and reports the spent ``epsilon`` and ``delta`` in ``training_``. The
            encoding statistics (categories, bins, ranges) are *not* covered by the guarantee;
            see :mod:`tabargn.privacy_training`.

    Attributes (after fit):
        seed_: The seed actually used (int).
        codec_: The fitted :class:`tabargn.codec.TableCodec`.
        network_: The trained :class:`tabargn.model.ARGN` (on the CPU).
        feature_names_in_: Column names seen in fit (ndarray of str).
        n_features_in_: Number of columns seen in fit.
        training_: Training summary (epochs, best validation loss, seconds, ...).
        text_models_: Text column -> fitted ``llm_text.TextColumnModel`` (empty without text
            columns). Text columns are not in the network: each text is generated after the
            row's tabular columns, conditioned on them.
    """

    def __init__(
        self,
        *,
        model_size: str = "medium",
        max_epochs: int = 100,
        max_time: float | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        value_protection: bool = True,
        encoding_types: dict[str, str] | None = None,
        text_backend="offline",
        text_options: dict | None = None,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: int = 1,
        differential_privacy: dict | None = None,
    ) -> None:
        self.model_size = model_size
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.value_protection = value_protection
        self.encoding_types = encoding_types
        self.text_backend = text_backend
        self.text_options = text_options
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.differential_privacy = differential_privacy

    # ================================================================== fit
    def fit(
        self,
        X: pd.DataFrame,
        y=None,
        *,
        entity_key: str | None = None,
        order_by: str | None = None,
        context: pd.DataFrame | None = None,
        context_key: str | None = None,
    ) -> TabularARGN:
        """Fits the model on a table, or on events per entity (sequential mode).

        Args:
            X: The training table, ``n_rows >= 2``. Columns may be numeric (int, float, nullable
                Int64/Float64), boolean, categorical/string/object, or datetime (naive or
                tz-aware), with missing values anywhere.
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
        if entity_key is not None:
            from tabargn.sequential import fit_sequential

            return fit_sequential(
                self,
                X,
                entity_key=entity_key,
                order_by=order_by,
                context=context,
                context_key=context_key,
            )
        if order_by is not None or context is not None or context_key is not None:
            raise InvalidDataError("order_by, context and context_key need entity_key")
        self.__dict__.pop("sequential_", None)
        df = validate_frame(X)
        if len(df) < 2:
            raise InvalidDataError("fit needs at least 2 rows")
        self._check_params()
        dp = self._dp_config()
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))
        rng = np.random.default_rng([seed, 0])
        specs = detect_text_columns(df, infer_schema(df, self.encoding_types), self.encoding_types)
        self._fit_text_check(specs)
        codec = TableCodec.fit(df, specs, value_protection=self.value_protection, rng=rng)
        if codec.n_sub == 0:
            raise InvalidDataError(
                "no column can be modelled: every column is empty (all values missing)"
            )
        codes = torch.as_tensor(codec.encode(df))
        hidden, n_layers = MODEL_SIZES[self.model_size]
        config = ModelConfig(
            cardinalities=codec.cardinalities,
            column_of=codec.column_of,
            position=codec.position,
            hidden=hidden,
            n_layers=n_layers,
            dropout=REGRESSOR_DROPOUT,
            natural_order_share=NATURAL_ORDER_SHARE,
        )
        train = fit_network
        if dp is not None:  # DP-SGD (opacus is optional: imported only then)
            from tabargn.privacy_training import fit_network_dp

            train = partial(fit_network_dp, dp=dp)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = ARGN(config)
            if dp is None:
                network.init_marginals(torch.as_tensor(codes))
            summary = train(
                network,
                codes,
                TrainingConfig(
                    max_epochs=self.max_epochs,
                    max_time=self.max_time,
                    batch_size=self.batch_size,
                    learning_rate=self.learning_rate,
                    device=self.device,
                    seed=seed,
                    verbose=self.verbose,
                ),
            )
        self.seed_ = seed
        self.codec_ = codec
        self.network_ = network.eval()
        self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        self.n_features_in_ = df.shape[1]
        self.training_ = {**summary, "n_rows": len(df)}
        text_started = time.perf_counter()
        self.text_models_ = fit_text_models(
            df,
            specs,
            backend=self.text_backend,
            options=self.text_options,
            seed=seed,
            verbose=self.verbose,
        )
        if self.text_models_:
            self.training_["text_columns"] = list(self.text_models_)
            self.training_["text_seconds"] = round(time.perf_counter() - text_started, 3)
        self._reset_stream()
        return self

    def _check_params(self) -> None:
        if self.model_size not in MODEL_SIZES:
            raise InvalidDataError(
                f"model_size={self.model_size!r}; use one of {list(MODEL_SIZES)}"
            )
        if not isinstance(self.max_epochs, numbers.Integral) or self.max_epochs < 1:
            raise InvalidDataError(f"max_epochs must be a positive integer, got {self.max_epochs}")
        if self.max_time is not None and self.max_time <= 0:
            raise InvalidDataError(f"max_time must be positive seconds, got {self.max_time}")
        if self.device not in ("cpu", "cuda", "auto") and not str(self.device).startswith("cuda:"):
            raise InvalidDataError(f"device={self.device!r}; use 'cpu', 'cuda' or 'auto'")

    def _dp_config(self):
        """The validated DP-SGD settings, or None; raises early when opacus is missing."""
        if self.differential_privacy is None or self.differential_privacy is False:
            return None
        from tabargn.privacy_training import DPConfig, require_opacus

        config = DPConfig.from_param(self.differential_privacy)
        require_opacus()
        return config

    def _fit_text_check(self, specs) -> None:
        """Checks the text settings before training (text models are fitted after it)."""
        if any(s.kind == "text" for s in specs):
            validate_text_settings(self.text_backend, self.text_options)

    def _reset_stream(self) -> None:
        """Starts the sampling random stream at its beginning (after fit and after load)."""
        self._stream = np.random.default_rng([self.seed_, 1])

    def _generators(self) -> tuple[torch.Generator, np.random.Generator]:
        if not hasattr(self, "_stream"):
            self._reset_stream()
        a, b = self._stream.integers(0, 2**62, size=2)
        return torch.Generator().manual_seed(int(a)), np.random.default_rng(int(b))

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
    ) -> pd.DataFrame:
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
        """
        self._check_fitted()
        if getattr(self, "sequential_", None) is not None:
            from tabargn.sequential import sample_sequential

            if n_samples is not None:
                raise InvalidDataError("sequential models take n_entities, not n_samples")
            return sample_sequential(
                self,
                n_entities=n_entities,
                context=context,
                seed_events=seed_events,
                conditions=conditions,
                where=where,
                rebalance=rebalance,
                temperature=temperature,
                top_p=top_p,
            )
        if n_entities is not None or context is not None or seed_events is not None:
            raise InvalidDataError("n_entities, context and seed_events need a sequential model")
        self._check_sampling_args(temperature, top_p)
        if conditions is not None:
            conditions = self._check_conditions(conditions, "conditions")
            if n_samples is not None and n_samples != len(conditions):
                raise InvalidDataError(
                    f"n_samples={n_samples} but conditions has {len(conditions)} rows; "
                    "omit n_samples to get one row per condition row"
                )
            n = len(conditions)
        else:
            n = self.training_["n_rows"] if n_samples is None else n_samples
            if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
                raise InvalidDataError(f"n_samples must be a non-negative integer, got {n!r}")
            conditions = pd.DataFrame(index=range(n))
        torch_gen, np_gen = self._generators()
        if rebalance:
            conditions = self._rebalanced(conditions, rebalance, np_gen)
        if where:
            clash = sorted(set(where) & set(conditions.columns))
            if clash:
                raise ConditionError(f"columns {clash} are in both conditions and where")
        return self._complete(conditions, where or {}, temperature, top_p, torch_gen, np_gen)

    def impute(
        self, X: pd.DataFrame, *, temperature: float = 1.0, top_p: float = 1.0
    ) -> pd.DataFrame:
        """Fills the missing cells of a table; observed cells stay as they are.

        Each missing cell is drawn from ``P(cell | the row's observed cells)``, with NULL
        excluded, so no missing value is left in modelled columns (TabularARGN section 3.3).

        Args:
            X: A table with the training columns (some may be absent: fully imputed). Integer
                columns turned float or object by missing values are accepted.
            temperature, top_p: As in :meth:`sample`.

        Returns:
            DataFrame with the training columns and dtypes, same index as ``X``.
        """
        self._check_fitted()
        self._check_flat("impute")
        self._check_sampling_args(temperature, top_p)
        X = self._check_conditions(X, "X")
        torch_gen, np_gen = self._generators()
        out = self._complete(X, {}, temperature, top_p, torch_gen, np_gen, impute=True)
        out.index = X.index
        return out

    def _complete(self, given, where, temperature, top_p, torch_gen, np_gen, impute=False):
        codec = self.codec_
        # imputation: an observed rare category conditions as the RARE code, one never seen
        # leaves its cell unknown (both are kept verbatim in the output); conditions must name
        # kept values exactly
        codes, known = codec.encode_partial(
            given.reset_index(drop=True), strict=not impute, unseen_unknown=impute
        )
        no_null = None
        if impute:
            firsts = [s.start for s in codec.slots.values()]
            no_null = ~known[:, firsts]
        constraint = codec.where_constraint(where, no_null=no_null)
        order = self._order(where)
        filled = generate(
            self.network_,
            torch.as_tensor(codes),
            torch.as_tensor(known),
            order=order,
            constraint=constraint,
            temperature=temperature,
            top_p=top_p,
            generator=torch_gen,
        )
        out = codec.decode(filled.numpy(), np_gen, verbatim=given, where=where)
        if getattr(self, "text_models_", None):  # texts conditioned on the completed rows
            text_seed = int(np_gen.integers(0, 2**31 - 1))
            fill_text_columns(
                out,
                given.reset_index(drop=True),
                self.text_models_,
                codec.specs,
                text_seed,
                impute=impute,
            )
        return out

    def _order(self, first_columns) -> list[int]:
        """Sub-column generation order: restricted columns first, then the data's order."""
        slots = self.codec_.slots
        first = [slots[c] for c in first_columns]
        rest = [s for name, s in slots.items() if name not in set(first_columns)]
        return [sub for s in first + rest for sub in s.subs]

    def _check_sampling_args(self, temperature, top_p) -> None:
        if not isinstance(temperature, numbers.Real) or not temperature > 0:
            raise InvalidDataError(f"temperature must be > 0, got {temperature!r}")
        if not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1:
            raise InvalidDataError(f"top_p must be in (0, 1], got {top_p!r}")

    def _check_conditions(self, frame, what: str) -> pd.DataFrame:
        if isinstance(frame, dict):
            frame = pd.DataFrame(frame)
        if not isinstance(frame, pd.DataFrame):
            raise InvalidDataError(f"{what} must be a DataFrame, got {type(frame).__name__}")
        unknown = [c for c in frame.columns if c not in set(self.feature_names_in_)]
        if unknown:
            raise UnknownColumnError(
                f"{what} has columns {unknown} that were not in the training data; "
                f"known columns: {list(self.feature_names_in_)}"
            )
        return frame

    def _rebalanced(self, conditions, rebalance, rng) -> pd.DataFrame:
        """Draws the rebalanced columns first from their target shares (then they act as seeds)."""
        conditions = conditions.copy()
        n = len(conditions)
        for column, shares in rebalance.items():
            s = self.codec_.slot(column)
            if s.spec.kind != "categorical":
                raise ConditionError(f"rebalance needs a categorical column; {column!r} is not")
            if not isinstance(shares, dict) or not shares:
                raise ConditionError(f"rebalance[{column!r}] must be a non-empty {{value: share}}")
            # validate the values (raises UnknownValueError naming unknown ones)
            self.codec_.encode_partial(pd.DataFrame({column: list(shares)}))
            total = float(sum(shares.values()))
            if any(v < 0 for v in shares.values()) or total > 1 + 1e-9:
                raise ConditionError(f"rebalance[{column!r}] shares must be >= 0 and sum to <= 1")
            values, probs = list(shares), [float(v) for v in shares.values()]
            rest = 1.0 - total
            if rest > 1e-9:
                prior = self.codec_.value_shares(column)
                others = {v: p for v, p in prior.items() if v not in shares}
                z = sum(others.values())
                if z > 0:
                    values += list(others)
                    probs += [rest * p / z for p in others.values()]
            probs = np.asarray(probs) / sum(probs)
            picks = rng.choice(len(values), size=n, p=probs)
            drawn = pd.Series([values[i] for i in picks], dtype=object)
            if column in conditions.columns:
                drawn = conditions[column].reset_index(drop=True).astype(object).fillna(drawn)
            conditions[column] = drawn.to_numpy()
        return conditions

    # ================================================================== scores
    def log_prob(self, X: pd.DataFrame) -> np.ndarray:
        """Per-row log-likelihood under the model (outlier scores: low = unusual).

        Args:
            X: Rows with every modelled training column; missing cells are the NULL value.

        Returns:
            float64 ``[n_rows]`` in nats, summed over sub-columns in the data's column order.
            Numbers and datetimes are scored at their encoding's resolution (bins).

        Raises:
            InvalidDataError: A modelled column is missing, or NULLs where training had none.
            UnknownValueError: Values never seen in training.
        """
        self._check_fitted()
        self._check_flat("log_prob")
        X = self._check_conditions(X, "X")
        codes = torch.as_tensor(self.codec_.encode(X.reset_index(drop=True)))
        return row_log_prob(self.network_, codes).double().numpy()

    def predict_proba(self, X: pd.DataFrame, target: str) -> pd.DataFrame:
        """``P(target | the other columns of each row)`` for a categorical or discrete column.

        Args:
            X: Rows of conditioning columns (the target column, if present, is ignored; missing
                cells and absent columns are treated as unknown).
            target: Name of a categorical column (or a numeric column with few values).

        Returns:
            DataFrame ``[n_rows, n_values]`` whose columns are the target's values; rows sum
            to 1. The share of categories removed by value protection is spread over the kept
            ones in proportion to their training frequency; NULL is excluded and renormalized.

        Raises:
            UnknownColumnError: ``target`` is not a modelled column.
            InvalidDataError: The target is encoded with more than one sub-column (binned
                numbers, datetimes, very high cardinality).
        """
        self._check_fitted()
        self._check_flat("predict_proba")
        X = self._check_conditions(X, "X")
        s = self.codec_.slot(target)
        if s.width != 1:
            raise InvalidDataError(
                f"predict_proba needs a column encoded as one sub-column; {target!r} has "
                f"{s.width} (binned numbers, datetimes or very high cardinality)"
            )
        given = X.drop(columns=[target], errors="ignore").reset_index(drop=True)
        codes, known = self.codec_.encode_partial(given, strict=False, unseen_unknown=True)
        proba = (
            sub_column_proba(self.network_, s.start, torch.as_tensor(codes), torch.as_tensor(known))
            .double()
            .numpy()
        )
        labels, weights = self.codec_.code_values(target)
        # weights[code, value]: how a code's probability is spread over output values
        out = proba @ weights
        out = out / np.clip(out.sum(axis=1, keepdims=True), 1e-12, None)
        return pd.DataFrame(out, columns=labels, index=X.index)

    # ================================================================== persistence
    def save(self, path: str | Path) -> Path:
        """Saves the fitted model to a directory (``config.json``, ``encoders.json``,
        ``model.safetensors``; no pickle). See :mod:`tabargn.io`."""
        from tabargn.io import save_model

        self._check_fitted()
        if getattr(self, "sequential_", None) is not None:
            from tabargn.sequential.persist import save_sequential

            return save_sequential(self, path)
        return save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> TabularARGN:
        """Loads a model saved by :meth:`save`, on the CPU whatever device trained it.

        Raises:
            ModelFileError: Missing, corrupt or incompatible model directory.
        """
        from tabargn.io import load_model
        from tabargn.sequential.persist import is_sequential, load_sequential

        if is_sequential(path):
            return load_sequential(cls, path)
        return load_model(cls, path)

    def _check_flat(self, what: str) -> None:
        """Raises InvalidDataError when a flat-only method is called on a sequential model."""
        if getattr(self, "sequential_", None) is not None:
            raise InvalidDataError(f"{what} is not available for sequential models")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    @property
    def modelled_columns(self) -> list[str]:
        """Columns the network models (not empty or text columns)."""
        self._check_fitted()
        return [s.name for s in self.codec_.specs if s.kind in MODELLED_KINDS]
