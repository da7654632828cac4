"""The flat engine: fit, sample, impute and score one table with an ARGN network.

Data flows one way through it: schema (:mod:`tabargn.schema`) -> encoding and codec
(:mod:`tabargn.codec`) -> network (:mod:`tabargn.model`) -> training (:mod:`tabargn.training`,
or :mod:`tabargn.dp_sgd`) -> generation (:mod:`tabargn.generation`) -> decode. Text columns
are left out of the network and generated afterwards, conditioned on the row
(:mod:`tabargn.text_columns`).

The engine works on :class:`FlatModel` values, never on the estimator: the estimator
(:class:`tabargn.TabularARGN`) calls it, and the sequential engine uses it for its entity model.
Source: TabularARGN (Tiwald et al., 2025, arXiv 2501.12012), sections 3.1-3.3.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from tabargn.codec import TableCodec
from tabargn.constrain import Plan, merge_ranges
from tabargn.constraints import Predicate
from tabargn.errors import (
    ConditionError,
    ConstraintError,
    InvalidDataError,
    UnknownColumnError,
)
from tabargn.generation import (
    draw_generators,
    generate,
    network_device,
    row_log_prob,
    sub_column_proba,
)
from tabargn.model import ARGN, MODEL_SIZES, REGRESSOR_DROPOUT, ModelConfig
from tabargn.text_columns import context_columns, fill_text_columns

__all__ = [
    "NATURAL_ORDER_SHARE",
    "FlatModel",
    "flat_dropout",
    "flat_model_size",
    "flat_network_config",
    "check_sampling_args",
    "check_columns",
    "generation_order",
    "generate_rows",
    "sample_rows",
    "impute_rows",
    "log_prob_rows",
    "predict_proba_rows",
]

# Training half of the rows in the data's column order, the order of unconditional sampling,
# helped most on small data (12,000 Adult rows: mean per-column TVD 0.020 -> 0.015); the other
# half keeps random orders for conditions and imputation.
NATURAL_ORDER_SHARE = 0.5

#: Training rows up to which the flat model keeps the full :data:`tabargn.model.REGRESSOR_DROPOUT`
#: (see :func:`flat_dropout`).
FULL_DROPOUT_ROWS = 40_000

#: Training rows below which ``model_size="auto"`` picks ``"small"`` (see :func:`flat_model_size`).
SMALL_MODEL_ROWS = 10_000


def flat_dropout(n_train: int) -> float:
    """The flat model's regressor dropout for ``n_train`` training rows (validation excluded).

    ``REGRESSOR_DROPOUT`` (0.4) up to :data:`FULL_DROPOUT_ROWS` (40,000) rows, then falling with
    the square of the row ratio: ``0.4 * (40,000 / n_train) ** 2`` (48k rows: 0.28; 100k: 0.064;
    192k: 0.017; 1M: 0.0006). With more rows the network overfits less and needs less noise.
    0.4 was chosen on tables of up to 31k training rows (Adult: detection score 0.90 -> 0.97). On
    census_income_kdd in full (192k training rows, same split and seed) every step down helped:
    dropout 0.4 / 0.2 / 0.1 / 0.084 / 0 gave the worst column, country_of_birth_mother, TVD
    0.0228 / 0.0160 / 0.0129 / 0.0128 / 0.0103, and 0.2 / 0.1 / 0.084 / 0 mean column TVD
    0.0059 / 0.0052 / 0.0048 / 0.0033 (``benchmarks.defaults_panel.fidelity``), so the rule
    falls faster than ``1 / n_train``, which gave 0.084 there (benchmarks/results/panel.md).

    Args:
        n_train: Training rows (int, at least 0).

    Returns:
        The dropout probability, a float in (0, 0.4].
    """
    if n_train <= FULL_DROPOUT_ROWS:
        return REGRESSOR_DROPOUT
    return REGRESSOR_DROPOUT * (FULL_DROPOUT_ROWS / n_train) ** 2


def flat_model_size(model_size: str, n_train: int) -> str:
    """The flat model's size for ``n_train`` training rows (validation excluded).

    ``"auto"`` (the default) is ``"small"`` (regressor width 64) below :data:`SMALL_MODEL_ROWS`
    (10,000) training rows and ``"medium"`` (width 128) from there on; an explicit size is kept.
    On the issue-13 panel (benchmarks/results/panel.md, "Regressor width by data size"), width 64
    against 128 on the ten cells of 1,275-6,378 training rows raised the detection score on 8
    (lending_club_loans 2k 0.387 -> 0.461, baseball 2k 0.578 -> 0.767, nycflights13 2k
    0.340 -> 0.463; lower on census 2k 0.752 -> 0.741, lending 5k 0.553 -> 0.541) and lowered
    pair TVD on 8, with 2-64 MB less peak memory on all ten and less fit time on 7 (0.68-1.10x):
    the first regressor layer holds ``C x (D + C) x H`` weights (4.5 million on
    lending_club_loans' 70 sub-columns), far more than a few thousand rows determine. From
    12,345 training rows on (faa_bird_strikes, census_income_kdd 20k, nycflights13 20k,
    baseball) width 64 was even or worse on fidelity (faa detection 0.970 -> 0.954) and mixed
    on fit time (nycflights13 20k slower: 50 epochs instead of 27).

    Args:
        model_size: ``"auto"`` or a key of :data:`tabargn.model.MODEL_SIZES`.
        n_train: Training rows (int, at least 0).

    Returns:
        A key of :data:`tabargn.model.MODEL_SIZES`.
    """
    if model_size != "auto":
        return model_size
    return "small" if n_train < SMALL_MODEL_ROWS else "medium"


def flat_network_config(codec: TableCodec, model_size: str, n_train: int) -> ModelConfig:
    """The default network shape for a fitted codec: ``MODEL_SIZES`` of
    :func:`flat_model_size`, the regressor dropout for ``n_train`` training rows
    (:func:`flat_dropout`) and :data:`NATURAL_ORDER_SHARE` (local, Ray and benchmark fits
    alike)."""
    hidden, n_layers = MODEL_SIZES[flat_model_size(model_size, n_train)]
    return ModelConfig(
        cardinalities=codec.cardinalities,
        column_of=codec.column_of,
        position=codec.position,
        hidden=hidden,
        n_layers=n_layers,
        dropout=flat_dropout(n_train),
        natural_order_share=NATURAL_ORDER_SHARE,
    )


@dataclass
class FlatModel:
    """The fitted parts of a flat model.

    Attributes:
        codec: The fitted :class:`tabargn.codec.TableCodec` (every column, text ones included).
        network: The trained :class:`tabargn.model.ARGN` (evaluation mode), on the device that
            inference runs on.
        feature_names: The training columns, in order.
        training: JSON-serializable training summary (``n_rows`` included).
        text_models: Text column -> fitted ``llm_text.TextColumnModel``.
        constraints: Fitted rules (:mod:`tabargn.constraints`) every generated row satisfies.
    """

    codec: TableCodec
    network: ARGN
    feature_names: list[str]
    training: dict
    text_models: dict = field(default_factory=dict)
    constraints: list = field(default_factory=list)


# ====================================================================== checks
def check_sampling_args(temperature, top_p) -> None:
    """Raises InvalidDataError unless ``temperature > 0`` and ``0 < top_p <= 1``."""
    if not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise InvalidDataError(f"temperature must be > 0, got {temperature!r}")
    if not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1:
        raise InvalidDataError(f"top_p must be in (0, 1], got {top_p!r}")


def check_columns(frame, known: list[str], what: str) -> pd.DataFrame:
    """Returns ``frame`` as a DataFrame whose columns are all among ``known``.

    Raises:
        InvalidDataError: ``frame`` is neither a DataFrame nor a dict of columns.
        UnknownColumnError: A column was not in the training data.
    """
    if isinstance(frame, dict):
        frame = pd.DataFrame(frame)
    if not isinstance(frame, pd.DataFrame):
        raise InvalidDataError(f"{what} must be a DataFrame, got {type(frame).__name__}")
    unknown = [c for c in frame.columns if c not in set(known)]
    if unknown:
        raise UnknownColumnError(
            f"{what} has columns {unknown} that were not in the training data; "
            f"known columns: {list(known)}"
        )
    return frame


# ====================================================================== generation
def generation_order(codec: TableCodec, first_columns) -> list[int]:
    """Sub-column generation order: ``first_columns`` first, then the data's column order."""
    slots = codec.slots
    first = [slots[c] for c in first_columns]
    rest = [s for name, s in slots.items() if name not in set(first_columns)]
    return [sub for s in first + rest for sub in s.subs]


MAX_REDRAWS = 20
"""Draws of a row that breaks a rule after decoding (Predicates; built-in rules need none)."""


def _draw_once(model, given, where, *, temperature, top_p, torch_gen, np_gen, impute):
    """One pass of :func:`generate_rows` without text columns or redraws.

    Returns:
        ``(decoded rows, Plan or None)``.
    """
    codec = model.codec
    rules = model.constraints
    codes, known = codec.encode_partial(given, strict=not impute, unseen_unknown=impute)
    no_null = None
    if impute:
        firsts = [s.start for s in codec.slots.values()]
        no_null = ~known[:, firsts]
    full_where = merge_ranges(where, rules) if rules else where
    constraint = codec.where_constraint(full_where, no_null=no_null)  # checks the where columns
    plan = None
    order = generation_order(codec, where)
    if rules:
        plan = Plan(codec, rules, given, codes, known, full_where, list(where))
        constraint = plan.constraint(constraint)
        order = plan.order()
    filled = generate(
        model.network,
        torch.as_tensor(codes),
        torch.as_tensor(known),
        order=order,
        constraint=constraint,
        temperature=temperature,
        top_p=top_p,
        generator=torch_gen,
    ).numpy()
    out = codec.decode(filled, np_gen, verbatim=given, where=full_where)
    if plan is not None:
        plan.finish(filled, out, np_gen)
    return out, plan


def generate_rows(
    model: FlatModel,
    given: pd.DataFrame,
    where: dict,
    *,
    temperature: float,
    top_p: float,
    torch_gen: torch.Generator,
    np_gen: np.random.Generator,
    impute: bool = False,
) -> pd.DataFrame:
    """Conditional generation: completes each row of ``given``; its known cells are kept.

    With constraints (``model.constraints``) every row satisfies every rule: the built-in kinds
    by construction (:mod:`tabargn.constrain`); rows that still break a rule (a
    :class:`~tabargn.constraints.Predicate`) are drawn again, at most ``max_tries`` times.
    ``out.attrs["constraint_redraws"]`` counts the rows drawn again.

    Args:
        model: The fitted model.
        given: One row per output row; missing cells (or absent columns) are generated.
        where: Restrictions per column (see :meth:`tabargn.TabularARGN.sample`).
        temperature, top_p: See :func:`tabargn.generation.sample_codes`.
        torch_gen, np_gen: The call's generators (:func:`tabargn.generation.draw_generators`).
        impute: Imputation: a missing cell is never drawn as NULL; an observed rare category
            conditions as the RARE code and one never seen leaves its cell unknown (both are
            kept verbatim in the output). Otherwise condition values must be kept values.

    Returns:
        The decoded rows with the training columns and dtypes, RangeIndex.

    Raises:
        ConstraintError: Conditions that break a rule, or rows still breaking one after the
            last try.
    """
    codec = model.codec
    given = given.reset_index(drop=True)
    kwargs = dict(temperature=temperature, top_p=top_p, torch_gen=torch_gen, np_gen=np_gen)
    out, plan = _draw_once(model, given, where, impute=impute, **kwargs)
    redraws = 0
    if plan is not None:
        tries = max([r.max_tries for r in plan.all_rules if isinstance(r, Predicate)] or [1])
        tries = max(tries, MAX_REDRAWS)
        bad = plan.violations(out)
        for _ in range(tries - 1):
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            redraws += len(idx)
            sub, _ = _draw_once(
                model, given.iloc[idx].reset_index(drop=True), where, impute=impute, **kwargs
            )
            sub.index = idx
            out = pd.concat([out.drop(index=idx), sub]).sort_index()
            bad[idx] = plan.violations(sub)
        if bad.any():
            rows = [int(i) for i in np.flatnonzero(bad)]
            raise ConstraintError(
                f"{len(rows)} row(s) still break a constraint after {tries} draws: "
                f"{rows[:10]}; the rules may be impossible together with the conditions",
                rows=rows,
            )
    if model.text_models:  # texts conditioned on the completed rows
        text_seed = int(np_gen.integers(0, 2**31 - 1))
        drawn_freely = given.shape[1] == 0 and not where and not impute  # no conditions
        fill_text_columns(
            out,
            given,
            model.text_models,
            codec.specs,
            text_seed,
            impute=impute,
            context=text_context(model, out),
            match_missing_rate=drawn_freely,
        )
    out.attrs["constraint_redraws"] = redraws
    return out


def text_context(model: FlatModel, out: pd.DataFrame) -> pd.DataFrame:
    """The rows ``out`` as the text models saw their training rows: value-protected
    (:meth:`~tabargn.codec.TableCodec.protected_frame`) when the fit protected them.

    The text models learned their context from the protected rows, where a removed category is
    missing; the decoded rows hold the rare placeholder there (conditions and imputed tables
    may hold the removed value itself). Encoded as given, those cells took a context code the
    text model never trained (an untrained embedding). On Amazon reviews (2,400 rows, every
    ``product`` rare) texts for 1,200 training rows agreed with their ``score`` 0.761-0.770
    (three seeds) encoded as given, 0.780-0.781 protected, where the guidance fit had read 0.781
    (``benchmarks/results/text_issue15.md``).
    """
    columns = context_columns(model.codec.specs)
    if not model.training.get("text_context_protected", True):
        return out[columns]
    return model.codec.protected_frame(out[columns])


def _rebalanced(codec: TableCodec, conditions, rebalance, rng) -> pd.DataFrame:
    """Draws the rebalanced columns first from their target shares (then they act as seeds)."""
    conditions = conditions.copy()
    n = len(conditions)
    for column, shares in rebalance.items():
        s = codec.slot(column)
        if s.spec.kind != "categorical":
            raise ConditionError(f"rebalance needs a categorical column; {column!r} is not")
        if not isinstance(shares, dict) or not shares:
            raise ConditionError(f"rebalance[{column!r}] must be a non-empty {{value: share}}")
        # validate the values (raises UnknownValueError naming unknown ones)
        codec.encode_partial(pd.DataFrame({column: list(shares)}))
        if not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            for v in shares.values()
        ):
            raise ConditionError(f"rebalance[{column!r}] shares must be finite numbers: {shares}")
        total = float(sum(shares.values()))
        if any(v < 0 for v in shares.values()) or total > 1 + 1e-9:
            raise ConditionError(f"rebalance[{column!r}] shares must be >= 0 and sum to <= 1")
        values, probs = list(shares), [float(v) for v in shares.values()]
        rest = 1.0 - total
        if rest > 1e-9:
            prior = codec.value_shares(column)
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


def _check_fits_in_memory(n: int, codec: TableCodec) -> None:
    """Raises InvalidDataError when ``n`` rows would not fit in this machine's memory.

    The estimate is the code matrix (int64 per sub-column) plus the decoded frame (about 24
    bytes per cell: values, object pointers, index), against the physical memory.
    """
    per_row = 8 * codec.n_sub + 24 * len(codec.specs)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return
    if n * per_row > memory:
        raise InvalidDataError(
            f"n_samples={n:,} needs about {n * per_row / 2**30:,.1f} GiB, more than this "
            f"machine's {memory / 2**30:,.1f} GiB; sample in chunks (several sample() calls "
            "with a smaller n_samples) and write each chunk to disk"
        )


def _fair_conditions(model: FlatModel, conditions, where, fairness, kwargs) -> pd.DataFrame:
    """Conditions under which the target has the same distribution in every sensitive group.

    The sensitive columns are drawn first (with the call's conditions and ``where``); then,
    within each group (a combination of sensitive values), the target takes its training
    shares exactly (largest remainders, in random order). The caller then draws the other
    columns given both: statistical parity by construction.
    """
    if not isinstance(fairness, dict) or "target" not in fairness or "sensitive" not in fairness:
        raise ConditionError('fairness must be {"target": column, "sensitive": [columns]}')
    target = fairness["target"]
    sensitive = fairness["sensitive"]
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    codec = model.codec
    if codec.slot(target).spec.kind != "categorical":
        raise ConditionError(f"fairness needs a categorical target; {target!r} is not")
    for c in sensitive:
        codec.slot(c)
    if not sensitive or target in sensitive:
        raise ConditionError("fairness needs sensitive columns other than the target")
    if target in where or (target in conditions.columns and conditions[target].notna().any()):
        raise ConditionError(f"fairness draws {target!r}; it cannot be in conditions or where")
    first, _ = _draw_once(model, conditions, where, impute=False, **kwargs)
    rng = kwargs["np_gen"]
    shares = codec.value_shares(target)
    values = list(shares)
    p = np.asarray(list(shares.values()), dtype=np.float64)
    keys = first[sensitive].astype(object).where(first[sensitive].notna(), "<NA>").astype(str)
    group = keys.agg("\x1f".join, axis=1).to_numpy() if len(keys) else np.array([])
    assigned = np.empty(len(first), dtype=object)
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        exact = p * len(rows)
        counts = np.floor(exact).astype(int)
        rest = len(rows) - counts.sum()
        if rest:  # largest remainders, ties broken at random
            order = np.lexsort((rng.random(len(p)), -(exact - counts)))
            counts[order[:rest]] += 1
        picks = np.repeat(np.arange(len(p)), counts)
        assigned[rows[rng.permutation(len(rows))]] = [values[i] for i in picks]
    out = conditions.copy()
    for c in sensitive:
        drawn = first[c].astype(object)
        if c in out.columns:
            drawn = out[c].reset_index(drop=True).astype(object).where(out[c].notna(), drawn)
        out[c] = drawn.to_numpy()
    out[target] = assigned
    return out


def sample_rows(
    model: FlatModel,
    stream: np.random.Generator,
    n_samples: int | None = None,
    *,
    conditions: pd.DataFrame | None = None,
    where: dict | None = None,
    rebalance: dict | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    fairness: dict | None = None,
) -> pd.DataFrame:
    """Generates rows; see :meth:`tabargn.TabularARGN.sample` for the arguments and errors.

    Args:
        model: The fitted model.
        stream: The model's sampling stream (:func:`tabargn.generation.sampling_stream`);
            advanced by one draw per call.
    """
    check_sampling_args(temperature, top_p)
    if conditions is not None:
        conditions = check_columns(conditions, model.feature_names, "conditions")
        if n_samples is not None and n_samples != len(conditions):
            raise InvalidDataError(
                f"n_samples={n_samples} but conditions has {len(conditions)} rows; "
                "omit n_samples to get one row per condition row"
            )
        n = len(conditions)
    else:
        n = model.training["n_rows"] if n_samples is None else n_samples
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
            raise InvalidDataError(f"n_samples must be a non-negative integer, got {n!r}")
        _check_fits_in_memory(int(n), model.codec)
        conditions = pd.DataFrame(index=range(n))
    torch_gen, np_gen = draw_generators(stream, network_device(model.network))
    if rebalance:
        conditions = _rebalanced(model.codec, conditions, rebalance, np_gen)
    if where:
        clash = sorted(set(where) & set(conditions.columns))
        if clash:
            raise ConditionError(f"columns {clash} are in both conditions and where")
    kwargs = dict(temperature=temperature, top_p=top_p, torch_gen=torch_gen, np_gen=np_gen)
    if fairness:
        if rebalance and fairness.get("target") in rebalance:
            raise ConditionError("the fairness target cannot be rebalanced")
        conditions = _fair_conditions(
            model, conditions.reset_index(drop=True), where or {}, fairness, kwargs
        )
    return generate_rows(model, conditions, where or {}, **kwargs)


def impute_rows(
    model: FlatModel,
    stream: np.random.Generator,
    X: pd.DataFrame,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
) -> pd.DataFrame:
    """Fills the missing cells of ``X``; see :meth:`tabargn.TabularARGN.impute`."""
    check_sampling_args(temperature, top_p)
    X = check_columns(X, model.feature_names, "X")
    torch_gen, np_gen = draw_generators(stream, network_device(model.network))
    out = generate_rows(
        model,
        X,
        {},
        temperature=temperature,
        top_p=top_p,
        torch_gen=torch_gen,
        np_gen=np_gen,
        impute=True,
    )
    out.index = X.index
    return out


# ====================================================================== scores
def log_prob_rows(model: FlatModel, X: pd.DataFrame) -> np.ndarray:
    """Per-row log-likelihood in nats; see :meth:`tabargn.TabularARGN.log_prob`."""
    X = check_columns(X, model.feature_names, "X")
    codes = torch.as_tensor(model.codec.encode(X.reset_index(drop=True)))
    return row_log_prob(model.network, codes).double().numpy()


def predict_proba_rows(model: FlatModel, X: pd.DataFrame, target: str) -> pd.DataFrame:
    """``P(target | the other columns)``; see :meth:`tabargn.TabularARGN.predict_proba`."""
    X = check_columns(X, model.feature_names, "X")
    codec = model.codec
    s = codec.slot(target)
    if s.width != 1:
        raise InvalidDataError(
            f"predict_proba needs a column encoded as one sub-column; {target!r} has "
            f"{s.width} (binned numbers, datetimes or very high cardinality)"
        )
    given = X.drop(columns=[target], errors="ignore").reset_index(drop=True)
    codes, known = codec.encode_partial(given, strict=False, unseen_unknown=True)
    proba = (
        sub_column_proba(model.network, s.start, torch.as_tensor(codes), torch.as_tensor(known))
        .double()
        .numpy()
    )
    labels, weights = codec.code_values(target)
    # weights[code, value]: how a code's probability is spread over output values
    out = proba @ weights
    out = out / np.clip(out.sum(axis=1, keepdims=True), 1e-12, None)
    return pd.DataFrame(out, columns=labels, index=X.index)
