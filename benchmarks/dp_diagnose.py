"""Per-column diagnosis of DP encoding statistics on baseball (the split of ``benchmarks/dp.py``).

    PYTHONPATH=. .venv/bin/python benchmarks/dp_diagnose.py [--epsilon 4] [--seeds 0 1 2]

(``PYTHONPATH`` picks the checkout whose statistics are diagnosed; results for main and this
code: ``benchmarks/results/dp_diagnose_baseball.md``.)

Fits only the codecs of a sequential DP fit (entity table and event table, with the budgets the
sequential engine gives them), no network, and prints per column: the kind, the epsilon it got,
the mode the released stats chose, whether it came out all-missing (``protected``), and the
released range against the true range (1st-99th percentile). Cheap: seconds, not a training run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from tabargn.codec import TableCodec
from tabargn.params import FitParams
from tabargn.schema import infer_schema
from tabargn.sequential.fit import _dp_budgets
from tabargn.sequential.prepare import fit_event_codec, prepare_training

DATA = Path("/work/shared/data")


def baseball_train() -> pd.DataFrame:
    """The training split of ``benchmarks/dp.py`` (80% of the entities, seed 0)."""
    rng = np.random.default_rng(0)
    adult_rows = pd.read_parquet(DATA / "adult.parquet")
    rng.permutation(len(adult_rows))  # dp.py draws Adult's order first
    base = pd.read_parquet(DATA / "baseball.parquet")
    ids = base["id"].drop_duplicates().to_numpy()
    ids = ids[rng.permutation(len(ids))]
    return base[base["id"].isin(ids[: int(len(ids) * 0.8)])].reset_index(drop=True)


def describe(name, stats, truth: pd.Series | None, eps: float) -> dict:
    row = {"column": name, "kind": stats["kind"], "eps": round(eps, 4)}
    row["mode"] = "protected" if stats.get("protected") else stats.get("mode", "-")
    if stats["kind"] == "categorical":
        row["released"] = f"{len(stats.get('categories', stats.get('values', [])))} categories"
        if truth is not None:
            row["true"] = f"{truth.nunique()} categories"
    else:
        row["released"] = f"[{stats.get('min')}, {stats.get('max')}]"
        if truth is not None and pd.api.types.is_numeric_dtype(truth):
            q = truth.dropna().quantile([0.01, 0.99]).round(1).tolist()
            row["true"] = f"[{truth.min()}, {truth.max()}] p1-p99 {q}"
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epsilon", type=float, default=4.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    a = p.parse_args()
    train = baseball_train()
    params = FitParams(differential_privacy={"max_epsilon": a.epsilon, "delta": 1e-5})
    prepared = prepare_training(train, "id", "year", None, None)
    budgets = _dp_budgets(params, prepared)
    print("entities", len(prepared.lengths), "events", len(prepared.events))
    for k, v in budgets.items():
        print(f"  {k}: epsilon {getattr(v, 'epsilon', getattr(v, 'max_epsilon', None))}")
    protected = []
    for seed in a.seeds:
        rng = np.random.default_rng([seed, 0])
        codec = fit_event_codec(
            prepared.events,
            prepared.entity_of_event,
            None,
            value_protection=False,
            rng=rng,
            dp=budgets["event_statistics"],
        )
        specs = infer_schema(prepared.entities, {})
        ent = TableCodec.fit(
            prepared.entities,
            specs,
            value_protection=False,
            rng=rng,
            dp=budgets["entity_statistics"],
        )
        rows = []
        for table, c, frame in (
            ("entity", ent, prepared.entities),
            ("event", codec, prepared.events),
        ):
            for name, slot in c.slots.items():
                eps = slot.stats.get("dp", {}).get("epsilon", float("nan"))
                truth = frame[name] if name in frame else None
                rows.append({"table": table, **describe(name, slot.stats, truth, eps)})
        out = pd.DataFrame(rows)
        print(f"\nseed {seed}")
        print(out.to_string(index=False))
        protected.append(int((out["mode"] == "protected").sum()))
    print("\nall-missing columns per seed:", protected, "of", len(rows))


if __name__ == "__main__":
    main()
