"""Sequential benchmark: tabargn vs mostlyai-engine (sequential mode) vs SDV PAR, in one run.

    .venv/bin/python benchmarks/sequential.py run --datasets baseball \
        --generators tabargn mostlyai-engine par [--epochs par=32] [--max-entities N]
    .venv/bin/python benchmarks/sequential.py table

Datasets (``/work/shared/data``): ``baseball`` (entity ``id``, order ``year``) and
``nycflights13_flights`` (entity ``tailnum``, order ``time_hour``; rows without ``tailnum`` are
dropped; the redundant ``year``/``month``/``day``/``hour``/``minute`` parts of ``time_hour`` are
kept, as in the source table). Entities are split 80/20 (train/holdout) once per dataset
(``--max-entities`` first draws a random subset of entities; the label then gets ``-entN``).

Each generator runs in its own subprocess (``seq_worker.py``) under ``nice``; this script then
scores the synthetic events with ``tabargn.evaluation.evaluate(train, synthetic, holdout,
entity_key=..., order_by=...)`` and writes ``benchmarks/results/sequential/<label>__<gen>.json``
and ``benchmarks/results/sequential/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / "work" / "seq"
RESULTS = ROOT / "benchmarks" / "results" / "sequential"
DATASETS = {
    "baseball": {"entity_key": "id", "order_by": "year"},
    "nycflights13_flights": {"entity_key": "tailnum", "order_by": "time_hour"},
}
PYTHON = {
    "tabargn": ROOT / ".venv" / "bin" / "python",
    "mostlyai-engine": ROOT / ".venv-peers" / "bin" / "python",
    "par": ROOT / ".venv-peers" / "bin" / "python",
}
METRICS = [
    "sequence_length_accuracy",
    "coherence_pair_accuracy",
    "coherence_diff_accuracy",
    "entity_aggregate_accuracy",
    "mean_sequence_length_synthetic",
    "univariate_accuracy",
    "bivariate_accuracy",
    "detection_score",
    "dcr_share",
]


def split(name: str, max_entities: int | None, seed: int = 0) -> tuple[str, Path]:
    spec = DATASETS[name]
    label = name + (f"-ent{max_entities}" if max_entities else "")
    out = WORK / label
    if (out / "train.parquet").exists():
        return label, out
    df = pd.read_parquet(DATA / f"{name}.parquet")
    key = spec["entity_key"]
    df = df.dropna(subset=[key]).reset_index(drop=True)
    keys = pd.unique(df[key])
    rng = np.random.default_rng(seed)
    if max_entities and len(keys) > max_entities:
        keys = keys[np.sort(rng.choice(len(keys), size=max_entities, replace=False))]
        df = df[df[key].isin(keys)].reset_index(drop=True)
    perm = rng.permutation(len(keys))
    n_hold = int(round(0.2 * len(keys)))
    hold = set(keys[perm[:n_hold]])
    out.mkdir(parents=True, exist_ok=True)
    df[~df[key].isin(hold)].reset_index(drop=True).to_parquet(out / "train.parquet")
    df[df[key].isin(hold)].reset_index(drop=True).to_parquet(out / "holdout.parquet")
    meta = {"dataset": name, "label": label, "seed": seed, "n_entities": len(keys), **spec}
    meta["rows"] = len(df)
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return label, out


def run_one(gen: str, label: str, data: Path, args) -> dict:
    spec = DATASETS[label.split("-ent")[0]]
    syn = data / f"{gen}.parquet"
    timings = data / f"{gen}.timings.json"
    cmd = [
        "nice",
        "-n",
        str(args.nice),
        str(PYTHON[gen]),
        str(ROOT / "benchmarks" / "seq_worker.py"),
        gen,
        str(data / "train.parquet"),
        str(syn),
        str(timings),
        "--entity-key",
        spec["entity_key"],
        "--order-by",
        spec["order_by"],
    ]
    if args.epochs.get(gen) is not None:
        cmd += ["--epochs", str(args.epochs[gen])]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = open(data / f"{gen}.log", "w")  # noqa: SIM115 - closed below
    print(f"[{time.strftime('%H:%M:%S')}] {label} {gen}: {' '.join(cmd[3:])}", flush=True)
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
    rec = json.loads(timings.read_text()) if timings.exists() else {"status": "timeout"}
    if proc.returncode and rec.get("status") == "ok":
        rec["status"] = "error"
    rec.pop("traceback", None)
    rec.update(dataset=label, generator=gen)
    if rec.get("status") == "ok":
        rec["metrics"] = score(label, data, syn)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{label}__{gen}.json").write_text(json.dumps(rec, indent=2, default=str))
    m = rec.get("metrics", {})
    print(
        f"  status={rec.get('status')} fit_s={rec.get('fit_s')} sample_s={rec.get('sample_s')} "
        + " ".join(f"{k}={m.get(k)}" for k in METRICS[:4]),
        flush=True,
    )
    return rec


def score(label: str, data: Path, syn_path: Path) -> dict:
    from tabargn.evaluation import evaluate

    spec = DATASETS[label.split("-ent")[0]]
    train = pd.read_parquet(data / "train.parquet")
    hold = pd.read_parquet(data / "holdout.parquet")
    syn = pd.read_parquet(syn_path)
    for c in train.columns:  # peers may return other dtypes (e.g. datetimes as strings)
        if c in syn and pd.api.types.is_datetime64_any_dtype(train[c].dtype):
            syn[c] = pd.to_datetime(syn[c], utc=True, errors="coerce")
    t0 = time.perf_counter()
    report = evaluate(
        train,
        syn,
        hold,
        entity_key=spec["entity_key"],
        order_by=spec["order_by"],
        max_rows=20_000,
    )
    out = {k: v for k, v in report.summary().items()}
    out["evaluate_s"] = time.perf_counter() - t0
    if os.environ.get("SEQ_BENCH_HTML"):
        report.to_html(data / f"{syn_path.stem}.report.html")
    return out


def _fmt(v, d=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{d}f}"
    return str(v)


def table() -> Path:
    rows = []
    for p in sorted(RESULTS.glob("*__*.json")):
        r = json.loads(p.read_text())
        m = r.get("metrics", {})
        rows.append(
            {
                "dataset": r["dataset"],
                "generator": r["generator"],
                "status": r.get("status"),
                "epochs cap": r.get("epochs_override") or "",
                "fit s": _fmt(r.get("fit_s"), 1),
                "fit CPU s": _fmt(r.get("fit_cpu_s"), 1),
                "sample s": _fmt(r.get("sample_s"), 1),
                "sample rows/s": _fmt(r.get("sample_rows_per_s"), 0),
                "peak MB": _fmt(r.get("peak_rss_mb"), 0),
                **{k: _fmt(m.get(k)) for k in METRICS},
                "real mean length": _fmt(m.get("mean_sequence_length_real"), 2),
            }
        )
    df = pd.DataFrame(rows)
    lines = [
        "# Sequential benchmark",
        "",
        "Written by `benchmarks/sequential.py` (see its docstring for the exact settings). Scores: "
        "`tabargn.evaluation.evaluate(train, synthetic, holdout, entity_key, order_by)`; sequence "
        "metrics are `1 - TVD` accuracies (`tabargn/evaluation/sequence.py`). Timings are wall and "
        "CPU seconds on a shared 2-core machine (other users' load inflates wall time).",
        "",
    ]
    if len(df):
        cols = list(df.columns)
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for _, r in df.iterrows():
            lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "RESULTS.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--datasets", nargs="+", default=["baseball"], choices=list(DATASETS))
    r.add_argument("--generators", nargs="+", default=list(PYTHON), choices=list(PYTHON))
    r.add_argument("--epochs", nargs="*", default=[], help="GEN=E caps, e.g. par=32")
    r.add_argument("--max-entities", type=int, default=None)
    r.add_argument("--timeout", type=int, default=3600)
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--nice", type=int, default=10)
    sub.add_parser("table")
    args = ap.parse_args(argv)
    if args.cmd == "table":
        print(table())
        return 0
    args.epochs = {k: int(v) for k, v in (e.split("=") for e in args.epochs)}
    for name in args.datasets:
        label, data = split(name, args.max_entities)
        for gen in args.generators:
            run_one(gen, label, data, args)
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
