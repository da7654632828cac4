"""Held-out choice of the offline text model's sampling settings (issue #15).

The rows of ``benchmarks/text_bench.py`` (the same dataset, sizes and seed) are set aside first,
so the settings are never chosen on the benchmark's test rows. From the remaining rows a training
and a tuning-holdout sample are drawn; one ``TextColumnModel`` (offline defaults) is fitted on
the training rows, then generates one text for every tuning-holdout row *from that row's own
columns* under each sampling setting (temperature, top_p, classifier-free guidance). Each is scored like the benchmark:
distinct-2 against real training texts of the same count, novelty and consistency against the
real tuning-holdout texts, length TVD, missing rate.

Run (from the repository root, ``PYTHONPATH=.``)::

    python benchmarks/text_sampling_tune.py --threads 1
    python benchmarks/text_sampling_tune.py --dataset amazon_fine_food_reviews --column review \\
        --consistency-column score --train 1200 --holdout 400 --threads 1

Writes ``benchmarks/results/text_tune_<dataset>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from llm_text import TextColumnModel
from llm_text.metrics import text_metrics

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TABARGN_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
#: (temperature, top_p, guidance) tried.
SETTINGS = (
    (1.0, 1.0, 1.0),
    (0.9, 1.0, 1.0),
    (1.0, 0.9, 1.0),
    (1.0, 1.0, 1.5),
    (1.0, 1.0, 2.0),
    (0.9, 1.0, 1.5),
    (0.9, 1.0, 2.0),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="faa_bird_strikes")
    parser.add_argument("--column", default="remarks")
    parser.add_argument("--consistency-column", default="phase_of_flt")
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--holdout", type=int, default=500)
    parser.add_argument("--bench-seed", type=int, default=0, help="text_bench.py's seed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text, label = args.column, args.consistency_column
    df = pd.read_parquet(DATA / f"{args.dataset}.parquet")
    bench_rows = df.sample(n=args.train + args.holdout, random_state=args.bench_seed).index
    rest = df.drop(index=bench_rows)
    rows = rest.sample(n=args.train + args.holdout, random_state=args.seed).reset_index(drop=True)
    train, holdout = rows.iloc[: args.train], rows.iloc[args.train :].reset_index(drop=True)
    context = [c for c in df.columns if c != text]

    started = time.perf_counter()
    model = TextColumnModel(random_state=args.seed).fit(train[text], train[context])
    fit_seconds = round(time.perf_counter() - started, 1)
    gen = model.text_generator
    print(f"{args.dataset}: fit {fit_seconds} s, max_length {gen.max_length}", flush=True)

    def score(texts: pd.Series) -> dict:
        return text_metrics(
            train[text],
            texts.reset_index(drop=True),
            real_context=train,
            synthetic_context=holdout,
            consistency_column=label,
            embedder="none",
            random_state=args.seed,
        )

    real = score(holdout[text])
    results = []
    for temperature, top_p, guidance in SETTINGS:
        gen.params.update(temperature=temperature, top_p=top_p, guidance=guidance)
        started = time.perf_counter()
        texts = model.generate(holdout[context], random_state=args.seed + 1)
        m = score(texts)
        m["generate_seconds"] = round(time.perf_counter() - started, 1)
        results.append(
            {"temperature": temperature, "top_p": top_p, "guidance": guidance, "metrics": m}
        )
        print(temperature, top_p, guidance, _gaps(m, real), flush=True)
    out = {
        "dataset": args.dataset,
        "text_column": text,
        "consistency_column": label,
        "rows": {"train": len(train), "holdout": len(holdout)},
        "bench_rows_excluded": {"seed": args.bench_seed, "n": len(bench_rows)},
        "fit_seconds": fit_seconds,
        "fit_info": model.card_.get("fit", {}).get("info", {}),
        "max_length": gen.max_length,
        "real_holdout": real,
        "settings": results,
        "torch_threads": args.threads,
        "load_average_at_end": list(os.getloadavg()),
    }
    path = args.out or RESULTS / f"text_tune_{args.dataset}"
    path.with_suffix(".json").write_text(json.dumps(out, indent=2))
    path.with_suffix(".md").write_text(_markdown(out))
    print(_markdown(out))


def _gaps(m: dict, real: dict) -> dict:
    """The issue #15 gaps of one setting (distinct-2 against real texts of the same count)."""
    return {
        "length TVD": round(1 - m["length_accuracy"], 3),
        "missing gap": round(abs(m["missing_rate_synthetic"] - real["missing_rate_synthetic"]), 3),
        "consistency gap": round(m["consistency"] - real["consistency"], 3),
        "distinct-2 gap": round(m["distinct_2"] - m["distinct_2_real"], 3),
        "novelty gap": round(m["novelty"] - real["novelty"], 3),
    }


def _markdown(r: dict) -> str:
    real = r["real_holdout"]
    n = real["n_synthetic"]
    se = float(np.sqrt(real["consistency"] * (1 - real["consistency"]) / max(n, 1)))
    lines = [
        f"# Sampling settings on a held-out split: {r['dataset']} (`{r['text_column']}`)",
        "",
        f"{r['rows']['train']:,} training rows and {r['rows']['holdout']:,} tuning-holdout rows, "
        f"drawn after setting aside text_bench.py's {r['bench_rows_excluded']['n']:,} rows; "
        f"text model fit {r['fit_seconds']} s (max_length {r['max_length']} tokens). Texts are "
        "generated for the tuning-holdout rows' own columns. Gaps are signed (synthetic - real).",
        "",
        f"Real tuning-holdout texts: distinct-2 {real['distinct_2']:.3f} (training texts of the "
        f"same count {real['distinct_2_real']:.3f}), novelty {real['novelty']:.3f}, consistency "
        f"{real['consistency']:.3f} (standard error {se:.3f} at {int(n)} texts; majority class "
        f"{real['consistency_baseline']:.3f}), missing rate {real['missing_rate_synthetic']:.3f}, "
        f"length TVD {1 - real['length_accuracy']:.3f}.",
        "",
        "| temperature, top_p, guidance | length TVD | missing gap | consistency gap | distinct-2 gap | "
        "novelty gap | mean chars | generate s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in r["settings"]:
        m = s["metrics"]
        g = _gaps(m, real)
        lines.append(
            f"| {s['temperature']}, {s['top_p']}, {s['guidance']} | "
            + " | ".join(f"{v:+.3f}" for v in g.values())
            + f" | {m['mean_length_synthetic']:.1f} | {m['generate_seconds']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
