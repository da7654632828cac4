"""Local TabularARGN versus RayTabularARGN with 1 and 2 workers on Adult, in one run.

Usage (from the repository root; needs the ``ray`` extra)::

    .venv/bin/python benchmarks/ray_adult.py [--rows N] [--max-epochs E] [--sample-rows S]

All three fits use the benchmark split of ``benchmarks/run.py`` (80/20, seed 0),
``random_state=0`` and the same settings; each model samples as many rows as the training
table and is scored by ``tabargn.evaluate`` against the holdout. Sampling throughput is measured
separately on ``--sample-rows`` rows (Ray: ``sample(n).materialize()``, the rows in the object
store; local: ``sample(n)``). The Ray cluster is local (``ray.init(num_cpus=2)``) on the same
2-core machine, so a speedup from more workers cannot show here: the figure checks that the
distributed path runs and matches the local fidelity, and shows its overhead.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

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
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--sample-rows", type=int, default=262_144)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, local fit")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ray_adult"))
    args = parser.parse_args()

    import ray
    import torch

    torch.set_num_threads(args.threads)  # the local fit's CPUs; each Ray worker has 1

    from tabargn.ray import RayTabularARGN

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    train, holdout = split(args.rows)
    blocks = [pa.Table.from_pandas(b, preserve_index=False) for b in np.array_split(train, 8)]
    ds = ray.data.from_arrow(blocks)  # 8 Arrow blocks, as read_parquet gives
    settings = dict(random_state=0, verbose=0, max_epochs=args.max_epochs)
    results = {}
    for name, workers in (("local TabularARGN", None), ("Ray, 1 worker", 1), ("Ray, 2 workers", 2)):
        started = time.perf_counter()
        if workers is None:
            model = TabularARGN(**settings).fit(train)
        else:
            model = RayTabularARGN(num_workers=workers, **settings).fit(ds)
        fit_s = time.perf_counter() - started
        if workers is None:
            synthetic = model.sample(len(train))
            started = time.perf_counter()
            model.sample(args.sample_rows)
        else:
            synthetic = model.sample(len(train)).to_pandas()
            started = time.perf_counter()
            model.sample(args.sample_rows).materialize()
        rows_s = args.sample_rows / (time.perf_counter() - started)
        summary = evaluate(train, synthetic, holdout, target="income", random_state=0).summary()
        t = model.training_
        results[name] = {
            "fit_s": round(fit_s, 1),
            "training_s": round(t["seconds"], 1),
            "epochs": t["epochs"],
            "best_epoch": t["best_epoch"],
            "best_val_loss": round(t["best_val_loss"], 4),
            "batch_size": t["batch_size"],
            "sample_rows_per_s": round(rows_s),
            **{k: summary[k] for k in KEYS},
        }
        print(json.dumps({name: results[name]}), flush=True)
    ray.shutdown()

    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    command = "benchmarks/ray_adult.py" + (f" --rows {args.rows}" if args.rows else "")
    command += f" --max-epochs {args.max_epochs} --sample-rows {args.sample_rows}"
    command += f" --threads {args.threads}"
    local_fit = results["local TabularARGN"]["fit_s"]
    lines = [
        f"# Local TabularARGN vs RayTabularARGN (Adult, {len(train):,} training rows, seed 0)",
        "",
        f"`.venv/bin/python {command}`, one run on the 2-core machine (shared with other jobs),",
        "local Ray cluster `ray.init(num_cpus=2)`; every fit `max_epochs="
        f"{args.max_epochs}` with early stopping. Two cores cannot show a speedup from more",
        "workers: the table shows the overhead of the distributed path and that its fidelity",
        "matches the local model's. `fit s` is the whole call (Ray: statistics, encoding, Ray",
        "Train start-up, training); `training s` the Lightning fit alone. The local fit uses",
        f"{args.threads} torch thread(s), each Ray worker 1.",
        "",
        "| run | fit s (x local) | training s | epochs (best) | batch | best val loss | "
        "sample rows/s | " + " | ".join(KEYS) + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(KEYS),
    ]
    for name, r in results.items():
        metrics = " | ".join(f"{r[k]:.4f}" for k in KEYS)
        lines.append(
            f"| {name} | {r['fit_s']} ({r['fit_s'] / local_fit:.2f}x) | {r['training_s']} | "
            f"{r['epochs']} ({r['best_epoch']}) | {r['batch_size']} | {r['best_val_loss']} | "
            f"{r['sample_rows_per_s']:,} | {metrics} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
