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


def run_name(workers: int | None) -> str:
    if workers is None:
        return "local TabularARGN"
    return f"Ray, {workers} worker" + ("s" if workers > 1 else "")


def seed_spread(results: dict) -> list[str]:
    """Mean and standard deviation over seeds per run kind, and each Ray kind's gap to local.

    The gap is "within noise" when it is smaller than twice the standard error of the
    difference of two means (Welch), from the seeds' own spread.
    """
    kinds: dict[str, list[dict]] = {}
    for r in results.values():
        kinds.setdefault(r["run"], []).append(r)
    if max(len(v) for v in kinds.values()) < 2:
        return []
    lines = [
        "",
        "Over seeds (mean +- standard deviation; gap = Ray mean - local mean, `noise` = 2 x the",
        "standard error of that difference):",
        "",
        "| run | seeds | " + " | ".join(KEYS) + " |",
        "|---|---|" + "---|" * len(KEYS),
    ]
    stats = {}
    for kind, rows in kinds.items():
        values = {k: np.array([r[k] for r in rows], dtype=float) for k in KEYS}
        stats[kind] = values
        cells = " | ".join(f"{v.mean():.4f} +- {v.std(ddof=1):.4f}" for v in values.values())
        lines.append(f"| {kind} | {len(rows)} | {cells} |")
    local = stats.get(run_name(None))
    for kind, values in stats.items():
        if local is None or kind == run_name(None):
            continue
        cells = []
        for k in KEYS:
            a, b = values[k], local[k]
            gap = a.mean() - b.mean()
            noise = 2 * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            cells.append(f"{gap:+.4f} ({'within' if abs(gap) <= noise else 'OUTSIDE'} {noise:.4f})")
        lines.append(f"| gap {kind} vs local | | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=None, help="subsample Adult first")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--sample-rows", type=int, default=262_144)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, local fit")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ray_adult"))
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="random_state of every fit (one row each)"
    )
    parser.add_argument(
        "--workers",
        nargs="+",
        default=["local", "1", "2"],
        help="runs: `local` (TabularARGN) and Ray worker counts",
    )
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
    results = {}
    runs = [None if w == "local" else int(w) for w in args.workers]
    for seed, workers in ((s, w) for s in args.seeds for w in runs):
        settings = dict(random_state=seed, verbose=0, max_epochs=args.max_epochs)
        name = run_name(workers) + (f", seed {seed}" if len(args.seeds) > 1 else "")
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
            "run": run_name(workers),
            "seed": seed,
        }
        print(json.dumps({name: results[name]}), flush=True)
    ray.shutdown()

    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    command = "benchmarks/ray_adult.py" + (f" --rows {args.rows}" if args.rows else "")
    command += f" --max-epochs {args.max_epochs} --sample-rows {args.sample_rows}"
    command += f" --threads {args.threads}"
    command += " --seeds " + " ".join(map(str, args.seeds)) + " --workers " + " ".join(args.workers)
    local_fit = next(iter(results.values()))["fit_s"]
    lines = [
        f"# Local TabularARGN vs RayTabularARGN (Adult, {len(train):,} training rows, "
        f"seeds {', '.join(map(str, args.seeds))})",
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
    lines += seed_spread(results)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
