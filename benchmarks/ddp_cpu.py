"""One process versus DDP with two CPU processes (gloo) on Adult: fidelity within noise?

Usage (from the repository root; Lightning re-runs this script for rank 1)::

    .venv/bin/python benchmarks/ddp_cpu.py [--rows N] [--out benchmarks/results/ddp_cpu.md]

Both fits use the benchmark split of ``benchmarks/run.py`` (80/20, seed 0) and
``random_state=0``; each is scored by ``tabargn.evaluate`` against the holdout. Rank 0 writes
the table. Wall times are of a shared machine: compare the fidelity, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tabargn import TabularARGN, evaluate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "adult.parquet"
KEYS = ["univariate_accuracy", "bivariate_accuracy", "detection_score", "dcr_share"]


def split(rows: int | None):
    df = pd.read_parquet(DATA).drop(columns=["split"])
    if rows:
        df = df.sample(rows, random_state=0)
    order = np.random.default_rng(0).permutation(len(df))
    cut = int(len(df) * 0.8)
    return df.iloc[order[:cut]].reset_index(drop=True), df.iloc[order[cut:]].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=None, help="subsample Adult first")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ddp_cpu.md"))
    args = parser.parse_args()
    train, holdout = split(args.rows)
    rank = int(os.environ.get("LOCAL_RANK", 0))
    results = {}
    for name, kw in (
        ("one process", {}),
        ("ddp, 2 CPU processes", {"devices": 2, "strategy": "ddp"}),
    ):
        if rank != 0 and "strategy" not in kw:
            continue  # a re-run rank joins the DDP fit only
        started = time.perf_counter()
        model = TabularARGN(random_state=0, verbose=0, device="cpu", **kw).fit(train)
        fit_s = time.perf_counter() - started
        if rank != 0:
            continue
        synthetic = model.sample(len(train))
        summary = evaluate(train, synthetic, holdout, target="income", random_state=0).summary()
        t = model.training_
        results[name] = {
            "fit_s": round(fit_s, 1),
            "epochs": t["epochs"],
            "best_epoch": t["best_epoch"],
            "strategy": t["strategy"],
            "devices": t["devices"],
            **{k: summary[k] for k in KEYS},
        }
        print(json.dumps({name: results[name]}), flush=True)
    if rank != 0:
        return
    lines = [
        f"# One process vs DDP on the CPU (Adult, {len(train):,} training rows, seed 0)",
        "",
        f"`.venv/bin/python benchmarks/ddp_cpu.py{f' --rows {args.rows}' if args.rows else ''}` "
        "on the 2-core machine (shared with other jobs:",
        "the seconds are not comparable, the fidelity is).",
        "",
        "| run | strategy | devices | epochs (best) | fit s | " + " | ".join(KEYS) + " |",
        "|---|---|---|---|---|" + "---|" * len(KEYS),
    ]
    for name, r in results.items():
        metrics = " | ".join(f"{r[k]:.4f}" for k in KEYS)
        lines.append(
            f"| {name} | {r['strategy']} | {r['devices']} | {r['epochs']} ({r['best_epoch']}) "
            f"| {r['fit_s']} | {metrics} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
