"""One fit of the defaults panel (issue 13): a batch-size rule on one table at one size; one JSON line.

Usage::

    python benchmarks/defaults_panel.py TABLE ROWS RULE [--seed S] [--no-value-protection]
        [--max-time SECONDS] [--out results/defaults_panel.jsonl]

The panel: the flat tables of ``/work/shared/data`` (adult, census_income_kdd, lending_club_loans,
faa_bird_strikes without the free text ``remarks``, nycflights13_flights and baseball as flat
tables), subsampled. A holdout of ``HOLDOUT`` rows is drawn first (seed 0, the same for every rule
and fit seed); the training rows (``ROWS``, or all the rest when the table is smaller) come from
the remaining rows. The model is fitted with the rule's batch size (learning rate
:func:`tabargn.trainer.default_learning_rate` of that batch), then samples ``HOLDOUT`` rows, so
the synthetic table and the holdout are compared to the training rows at the same size.

Rules (``n`` = training rows after the 20 % validation split, as in ``fit_network``):

* ``current``: :func:`tabargn.training.default_batch_size` (``n/64`` as a power of two, in
  ``[32, 2048]``);
* ``min64`` / ``min128``: the same, at least 64 / 128;
* ``r32``: ``n/32`` as a power of two, in ``[64, 2048]``.

Measured: process CPU seconds of ``fit`` and of ``sample`` (torch 1 thread: the machine is
shared, wall time is noise), epochs, best epoch, best validation loss (nats per row), whether
``max_time`` cut the fit, and fidelity as in :func:`tabargn.evaluation.fidelity.accuracy`: mean
column TVD and mean pair TVD (``1 -`` univariate / bivariate accuracy; real deciles, top-10
categories) of the sample against the training rows, and of the holdout against the training rows
(the reference a generator can reach with that many rows), with the per-column TVDs of both.
The same measures of a ``BIG_SAMPLE``-row sample (``*_big``) have less sampling noise, to rank
the rules against each other (not comparable to the holdout's figures, which have 2,000 rows).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import pandas as pd
import torch

from tabargn import TabularARGN
from tabargn.evaluation._prep import Schema
from tabargn.evaluation.fidelity import accuracy
from tabargn.trainer import default_learning_rate
from tabargn.training import default_batch_size

DATA = os.environ.get("TABARGN_DATA", "/work/shared/data")
HOLDOUT = 2000
BIG_SAMPLE = 10_000
DROP = ("remarks", "split", "dataset_partition")
RULES = ("current", "min64", "min128", "r32")


def rule_batch(rule: str, n_train: int) -> int:
    """Batch size of ``rule`` for ``n_train`` training rows (see the module docstring)."""
    if rule == "current":
        return default_batch_size(n_train)
    if rule == "min64":
        return max(64, default_batch_size(n_train))
    if rule == "min128":
        return max(128, default_batch_size(n_train))
    if rule == "r32":
        return int(min(2048, max(64, 2 ** math.floor(math.log2(max(n_train / 32, 1))))))
    raise ValueError(f"unknown rule {rule!r}; use one of {RULES}")


def panel_split(table: str, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout) of ``table``: holdout first, training rows from the rest."""
    df = pd.read_parquet(f"{DATA}/{table}.parquet")
    df = df[[c for c in df.columns if c not in DROP]]
    perm = np.random.default_rng(0).permutation(len(df))
    holdout = df.iloc[perm[:HOLDOUT]].reset_index(drop=True)
    rest = perm[HOLDOUT:]
    train = df.iloc[rest[: min(rows, len(rest))]].reset_index(drop=True)
    return train, holdout


def fidelity(train: pd.DataFrame, other: pd.DataFrame) -> dict:
    """Mean column / pair TVD of ``other`` against ``train``, and the per-column TVDs."""
    schema = Schema(train)
    acc = accuracy(
        schema.bin_codes(schema.normalize_frame(train)),
        schema.bin_codes(schema.normalize_frame(other)),
        np.array([c.n_bins for c in schema.columns]),
    )
    col_tvd = 1.0 - acc["univariate"]
    return {
        "col_tvd": float(col_tvd.mean()),
        "pair_tvd": float((1.0 - acc["bivariate"]).mean()),
        "per_column": {n: round(float(v), 4) for n, v in zip(schema.names, col_tvd, strict=True)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("rows", type=int)
    ap.add_argument("rule", choices=RULES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-value-protection", action="store_true")
    ap.add_argument("--max-time", type=float, default=None)
    ap.add_argument("--out", default=None, help="append the JSON line to this file too")
    args = ap.parse_args()
    torch.set_num_threads(1)

    train, holdout = panel_split(args.table, args.rows)
    n_train = int(len(train) * 0.8)
    batch = rule_batch(args.rule, n_train)
    lr = default_learning_rate(batch)
    model = TabularARGN(
        random_state=args.seed,
        verbose=0,
        batch_size=batch,
        learning_rate=lr,
        value_protection=not args.no_value_protection,
        max_time=args.max_time,
    )
    t0, w0 = time.process_time(), time.perf_counter()
    model.fit(train)
    fit_cpu, fit_wall = time.process_time() - t0, time.perf_counter() - w0
    t0 = time.process_time()
    synthetic = model.sample(n_samples=len(holdout))
    sample_cpu = time.process_time() - t0
    t = model.training_
    syn, ref = fidelity(train, synthetic), fidelity(train, holdout)
    big = fidelity(train, model.sample(n_samples=BIG_SAMPLE))
    cell = [args.table, str(args.rows), args.rule]
    cell += [f"--seed {args.seed}"] if args.seed else []
    cell += ["--no-value-protection"] if args.no_value_protection else []
    row = {
        "cell": " ".join(cell),
        "table": args.table,
        "rows": len(train),
        "cols": train.shape[1],
        "rule": args.rule,
        "seed": args.seed,
        "value_protection": not args.no_value_protection,
        "batch": batch,
        "lr": round(lr, 5),
        "fit_cpu_s": round(fit_cpu, 1),
        "fit_wall_s": round(fit_wall, 1),
        "sample_cpu_s": round(sample_cpu, 2),
        "epochs": t["epochs"],
        "best_epoch": t.get("best_epoch"),
        "best_val": t.get("best_val_loss"),
        "capped": bool(args.max_time and fit_wall >= 0.95 * args.max_time),
        "col_tvd": round(syn["col_tvd"], 5),
        "pair_tvd": round(syn["pair_tvd"], 5),
        "holdout_col_tvd": round(ref["col_tvd"], 5),
        "holdout_pair_tvd": round(ref["pair_tvd"], 5),
        "col_tvd_big": round(big["col_tvd"], 5),
        "pair_tvd_big": round(big["pair_tvd"], 5),
        "per_column": syn["per_column"],
        "per_column_big": big["per_column"],
        "holdout_per_column": ref["per_column"],
        "history": t.get("history"),
        "load1": round(os.getloadavg()[0], 2),
    }
    line = json.dumps(row)
    print(line, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
