"""End-to-end DP benchmark: tabargn with DP against tabargn without it and against
mostlyai-engine with DP at the same total epsilon, in one run, on Adult (flat) and baseball
(sequential, entity ``id``, order ``year``).

    .venv/bin/python benchmarks/dp.py [--epsilon 4] [--epochs 10] [--adult-rows 10000]

Every generator runs in its own process (``benchmarks/dp_worker.py``; mostlyai-engine from
``.venv-peers``) with the same seed and the same epoch cap; each synthetic table is scored by
``tabargn.evaluation.evaluate`` against the same training and holdout data (univariate and
bivariate accuracy, detection score). Results: ``benchmarks/results/dp.json`` and ``dp.md``.
The 2-core shared machine cannot run full-size fits of all six in ~20 minutes, so Adult is
subsampled and epochs are capped identically for every generator (both stated in the results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MAIN = Path("/work/main")
PYTHON = {
    "tabargn": sys.executable,
    "tabargn-dp": sys.executable,
    "mostlyai-dp": str(MAIN / ".venv-peers" / "bin" / "python"),
}
DATA = Path("/work/shared/data")
METRICS = ("univariate_accuracy", "bivariate_accuracy", "detection_score")


def _splits(adult_rows: int, work: Path, max_entities: int | None) -> dict:
    rng = np.random.default_rng(0)
    adult = pd.read_parquet(DATA / "adult.parquet").drop(columns="split")
    order = rng.permutation(len(adult))
    train = adult.iloc[order[:adult_rows]].reset_index(drop=True)
    hold = adult.iloc[order[adult_rows : adult_rows + 5000]].reset_index(drop=True)
    base = pd.read_parquet(DATA / "baseball.parquet")
    ids = base["id"].drop_duplicates().to_numpy()
    ids = ids[rng.permutation(len(ids))][: max_entities or len(ids)]
    cut = int(len(ids) * 0.8)
    b_train = base[base["id"].isin(ids[:cut])].reset_index(drop=True)
    b_hold = base[base["id"].isin(ids[cut:])].reset_index(drop=True)
    out = {}
    for name, (tr, ho, extra) in {
        "adult": (train, hold, {}),
        "baseball": (b_train, b_hold, {"entity_key": "id", "order_by": "year"}),
    }.items():
        d = work / name
        d.mkdir(parents=True, exist_ok=True)
        tr.to_parquet(d / "train.parquet")
        ho.to_parquet(d / "holdout.parquet")
        n = tr["id"].nunique() if extra else len(tr)
        out[name] = {"dir": d, "n": int(n), **extra}
    return out


def _score(d: Path, syn: pd.DataFrame, spec: dict) -> dict:
    from tabargn.evaluation import evaluate

    train = pd.read_parquet(d / "train.parquet")
    hold = pd.read_parquet(d / "holdout.parquet")
    kw = {k: spec[k] for k in ("entity_key", "order_by") if k in spec}
    report = evaluate(train, syn, hold, max_rows=20_000, random_state=0, **kw)
    summary = report.summary()
    keep = (*METRICS, "univariate_accuracy_max", "bivariate_accuracy_max")
    return {k: summary.get(k) for k in keep}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epsilon", type=float, default=4.0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--adult-rows", type=int, default=10_000)
    p.add_argument("--datasets", nargs="+", default=["adult", "baseball"])
    p.add_argument("--generators", nargs="+", default=list(PYTHON))
    p.add_argument("--max-entities", type=int, default=None, help="baseball: entities drawn")
    p.add_argument("--name", default="dp", help="results file stem")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dp-bench-"))
    splits = _splits(a.adult_rows, work, a.max_entities)
    results = []
    for name in a.datasets:
        spec = splits[name]
        for gen in a.generators:
            out = spec["dir"] / gen
            cmd = [PYTHON[gen], str(ROOT / "benchmarks" / "dp_worker.py"), gen]
            cmd += [str(spec["dir"] / "train.parquet"), str(out), "--epsilon", str(a.epsilon)]
            cmd += ["--epochs", str(a.epochs), "--n", str(spec["n"])]
            if "entity_key" in spec:
                cmd += ["--entity-key", spec["entity_key"], "--order-by", spec["order_by"]]
            t0 = time.perf_counter()
            env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
            rec = {"dataset": name, "generator": gen, "wall_s": time.perf_counter() - t0}
            if proc.returncode != 0:
                rec["error"] = proc.stderr[-2000:]
            else:
                rec.update(json.loads((out / "run.json").read_text()))
                rec.update(_score(spec["dir"], pd.read_parquet(out / "synthetic.parquet"), spec))
            print(json.dumps(rec, default=str), flush=True)
            results.append(rec)
    meta = {
        "epsilon": a.epsilon,
        "epochs_cap": a.epochs,
        "adult_train_rows": a.adult_rows,
        "adult_holdout_rows": 5000,
        "baseball": f"80/20 split of {a.max_entities or 'all'} entities, seed 0",
        "datasets": a.datasets,
    }
    res = ROOT / "benchmarks" / "results"
    (res / f"{a.name}.json").write_text(
        json.dumps({"meta": meta, "runs": results}, indent=2, default=str)
    )
    lines = [
        f"# End-to-end DP at epsilon = {a.epsilon} (total), one run",
        "",
        f"Adult: {a.adult_rows} training rows, 5,000 holdout rows; baseball: 80/20 split of "
        f"{a.max_entities or 'all 1,228'} entities. "
        f"Every generator capped at {a.epochs} epochs (the 2-core shared machine); seed 0. "
        "Scored by `tabargn.evaluation.evaluate` against the training rows and the holdout.",
        "",
        "| dataset | generator | reported epsilon | univariate | bivariate | detection | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        eps = (
            (r.get("privacy") or {}).get("epsilon") if isinstance(r.get("privacy"), dict) else None
        )
        cells = [r["dataset"], r["generator"], "-" if eps is None else f"{eps:.3f}"]
        cells += [
            "error" if "error" in r else ("-" if r.get(m) is None else f"{r[m]:.4f}")
            for m in METRICS
        ]
        cells.append(f"{r.get('fit_s', float('nan')):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    (res / f"{a.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
