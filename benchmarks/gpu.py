"""GPU benchmark of TabularARGN: fit time, 1M-row sampling throughput and quality on one GPU.

Run it with the main venv on any machine with a CUDA GPU (about 8 minutes on one H100/H200)::

    .venv/bin/python benchmarks/gpu.py                        # adult + census_income_kdd on cuda
    .venv/bin/python benchmarks/gpu.py --datasets adult --out /tmp/gpu --device cuda:1

Per dataset: an 80/20 split (seed 0, the rule of ``benchmarks/run.py``), then
``TabularARGN(device=..., random_state=0, verbose=0).fit(train)`` timed to early stopping (capped
by ``--max-time adult=120 census_income_kdd=300``; a later fit's cap shrinks so that the whole
run stays within 8 minutes, and ``hit_time_cap`` says when a cap ended a fit), one untimed warm-up draw, ``sample(n_samples=1_000_000)`` timed (rows/s,
pandas output included), and ``tabargn.evaluate(real=train, synthetic=..., holdout=holdout,
target=..., random_state=0)`` (Adult: as many synthetic rows as training rows; census: 20,000
rows of each table via ``max_rows``). Writes ``gpu_<dataset>.json`` and ``GPU_RESULTS.md`` to
``--out`` (default ``benchmarks/results/gpu``) with the GPU name, torch/CUDA versions, the
device/strategy/precision reported in ``training_``, peak GPU memory, peak RSS, wall times and the
targets (Adult fit < 60 s, sampling >= 1M rows/s, census fit < 5 min) as pass/fail.

Without a CUDA GPU it refuses to run (exit 2). ``--smoke`` runs the same code on the CPU with tiny
data (2,000 rows, ``max_epochs=1``, 20,000 samples) to check the script; its results are marked
``smoke`` and are not GPU results::

    .venv/bin/python benchmarks/gpu.py --smoke --out /tmp/gpu_smoke
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import tabargn  # noqa: E402
from tabargn import TabularARGN, evaluate  # noqa: E402

DATASETS = {
    "adult": {"drop": ["split"], "target": "income", "max_time": 120, "eval_rows": None},
    "census_income_kdd": {
        "drop": ["dataset_partition"],
        "target": "income_gt_50k",
        "max_time": 300,
        "eval_rows": 20_000,
    },
}
TARGETS = {  # (dataset or "*", metric, comparison, threshold)
    "adult_fit_s": ("adult", "fit_s", "<", 60.0),
    "sampling_rows_per_s": ("*", "sample_rows_per_s", ">=", 1_000_000.0),
    "census_fit_s": ("census_income_kdd", "fit_s", "<", 300.0),
}
METRICS = ["univariate_accuracy", "bivariate_accuracy", "detection_score", "dcr_share"]
BUDGET_S = 480.0  # whole-script budget; the last fit's cap shrinks to keep sampling + scoring in it
RESERVE_S = 90.0  # left for sampling + scoring after a fit
SMOKE = {"rows": 2_000, "max_epochs": 1, "n_samples": 20_000}


def data_dir_default() -> Path:
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    return (
        beside
        if beside.exists() or not Path("/work/shared/data").exists()
        else Path("/work/shared/data")
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def gpu(device: str) -> torch.device | None:
    """The CUDA device that ``device`` trains on (None: not a CUDA run)."""
    if not torch.cuda.is_available() or not (device == "auto" or device.startswith("cuda")):
        return None
    return torch.device(device if device.startswith("cuda") else "cuda")


def sync(device: str, reset: bool = False) -> float | None:
    """Waits for the GPU; returns its peak allocated MB since the last reset (then resets)."""
    if (dev := gpu(device)) is None:
        return None
    torch.cuda.synchronize(dev)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20
    if reset:
        torch.cuda.reset_peak_memory_stats(dev)
    return peak


def environment(device: str) -> dict:
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    dev = gpu(device)
    return {
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": len(os.sched_getaffinity(0)),
        "tabargn": tabargn.__version__,
        "git_commit": commit or None,
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if dev else None,
        "cuda_available": torch.cuda.is_available(),
        "gpu_name": torch.cuda.get_device_name(dev) if dev else None,
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "bf16_supported": torch.cuda.is_bf16_supported() if dev else None,
    }


def split(name: str, data_dir: Path, smoke: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 80/20 split of benchmarks/run.py (seed 0); --smoke draws 2,000 rows first."""
    df = pd.read_parquet(data_dir / f"{name}.parquet").drop(columns=DATASETS[name]["drop"])
    rng = np.random.default_rng(0)
    if smoke:
        df = df.iloc[np.sort(rng.choice(len(df), size=SMOKE["rows"], replace=False))]
    perm = rng.permutation(len(df))
    n_train = int(round(0.8 * len(df)))
    train = df.iloc[np.sort(perm[:n_train])].reset_index(drop=True)
    holdout = df.iloc[np.sort(perm[n_train:])].reset_index(drop=True)
    return train, holdout


def run_dataset(name: str, args, deadline: float, rec: dict) -> None:
    """Fits, samples and scores one dataset, filling ``rec`` as it goes (kept on an error)."""
    spec = DATASETS[name]
    started = time.perf_counter()
    train, holdout = split(name, args.data_dir, args.smoke)
    load_s = time.perf_counter() - started
    cap = float(args.max_time.get(name, spec["max_time"]))
    cap = max(10.0, min(cap, deadline - time.perf_counter() - RESERVE_S))
    kw = {k: v for k in ("devices", "strategy") if (v := getattr(args, k)) is not None}
    if args.smoke:
        kw["max_epochs"] = SMOKE["max_epochs"]
    model = TabularARGN(device=args.device, random_state=0, verbose=0, max_time=cap, **kw)
    rec.update(n_train=len(train), n_holdout=len(holdout), n_columns=train.shape[1])
    rec.update(load_s=load_s, fit_max_time_s=cap)

    sync(args.device, reset=True)
    t = time.perf_counter()
    model.fit(train)
    rec["fit_gpu_peak_mb"] = sync(args.device, reset=True)
    rec["fit_s"] = time.perf_counter() - t
    tr = dict(model.training_)
    keys = ("accelerator", "precision", "device", "strategy", "devices")
    rec["training"] = {k: tr.get(k) for k in keys}  # .get: tolerate an older training_
    rec["missing_training_keys"] = [k for k in keys if k not in tr]
    rec["epochs"], rec["best_epoch"] = tr.get("epochs"), tr.get("best_epoch")
    rec["train_seconds"] = tr.get("seconds")
    rec["hit_time_cap"] = bool(tr.get("seconds") and tr["seconds"] >= 0.98 * cap)
    param = next(model.network_.parameters(), None)
    rec["network_device_after_fit"] = str(param.device) if param is not None else None

    n = SMOKE["n_samples"] if args.smoke else args.n_samples
    t = time.perf_counter()
    model.sample(n_samples=1_000)  # warm-up: CUDA kernels, allocator
    sync(args.device, reset=True)
    rec["warmup_sample_s"] = time.perf_counter() - t
    t = time.perf_counter()
    syn = model.sample(n_samples=n)
    rec["sample_gpu_peak_mb"] = sync(args.device)
    rec["sample_s"] = time.perf_counter() - t
    rec["sample_rows"] = len(syn)
    rec["sample_rows_per_s"] = len(syn) / rec["sample_s"]
    rec["columns_match"] = list(syn.columns) == list(train.columns)
    rec["dtypes_match"] = rec["columns_match"] and bool((syn.dtypes == train.dtypes).all())

    rows = spec["eval_rows"] or len(train)
    eval_kw = {"max_rows": spec["eval_rows"]} if spec["eval_rows"] else {}
    t = time.perf_counter()
    report = evaluate(
        real=train,
        synthetic=syn.iloc[:rows].reset_index(drop=True),
        holdout=holdout,
        target=spec["target"],
        random_state=0,
        **eval_kw,
    )
    rec["evaluate_s"] = time.perf_counter() - t
    rec["evaluate_rows"] = {"synthetic": min(rows, len(syn)), **eval_kw}
    summary = report.summary()
    rec["metrics"] = {k: summary.get(k) for k in METRICS}
    rec["peak_rss_mb_so_far"] = peak_rss_mb()
    rec["wall_s"] = time.perf_counter() - started


def check_targets(results: dict[str, dict], smoke: bool) -> dict:
    out = {}
    for key, (ds, metric, op, limit) in TARGETS.items():
        for name, rec in results.items():
            if ds not in ("*", name) or metric not in rec:
                continue
            value = rec[metric]
            ok = value < limit if op == "<" else value >= limit
            label = key if ds != "*" else f"{name}_{key}"
            out[label] = {"value": value, "target": f"{op} {limit:g}", "pass": ok}
            if smoke:
                out[label]["note"] = "smoke run (CPU, tiny data): not a GPU result"
    return out


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def markdown(results: dict, env: dict, targets: dict, smoke: bool, total_s: float) -> str:
    head = "# GPU benchmark" + (" — SMOKE (CPU, tiny data; not a GPU result)" if smoke else "")
    lines = [
        head,
        "",
        f"{env['date_utc']}, `{env['host']}`, GPU: {env['gpu_name'] or 'none'} "
        f"(x{env['gpu_count']}), torch {env['torch']}, CUDA {env['cuda_runtime']}, "
        f"tabargn {env['tabargn']} ({env['git_commit'] or 'no git'}), {env['cpu_count']} CPUs. "
        f"Total {total_s:.0f} s. Written by `benchmarks/gpu.py`.",
        "",
        "| dataset | rows × cols | device / precision / strategy | fit s (epochs) "
        "| rows/s (1 call) | GPU peak MB fit / sample | peak RSS MB "
        "| univariate | bivariate | detection | DCR share | eval s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'][:200]} |" + " |" * 10)
            continue
        t, m = r["training"], r["metrics"]
        cap = ", time cap" if r["hit_time_cap"] else ""
        lines.append(
            f"| {name} | {r['n_train']:,} × {r['n_columns']} "
            f"| {t['device'] or t['accelerator']} / {t['precision']} / {t['strategy']} "
            f"| {r['fit_s']:.1f} ({r['epochs']}{cap}) | {r['sample_rows_per_s']:,.0f} "
            f"| {fmt(r['fit_gpu_peak_mb'], 0)} / {fmt(r['sample_gpu_peak_mb'], 0)} "
            f"| {r['peak_rss_mb_so_far']:,.0f} | {fmt(m['univariate_accuracy'])} "
            f"| {fmt(m['bivariate_accuracy'])} | {fmt(m['detection_score'])} "
            f"| {fmt(m['dcr_share'])} | {r['evaluate_s']:.0f} |"
        )
    lines += ["", "| target | value | required | result |", "|---|---|---|---|"]
    for key, t in targets.items():
        verdict = "pass" if t["pass"] else "**FAIL**"
        lines.append(f"| {key} | {fmt(float(t['value']), 1)} | {t['target']} | {verdict} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--data-dir", type=Path, default=data_dir_default())
    p.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    p.add_argument(
        "--max-time",
        nargs="*",
        default=[],
        metavar="DATASET=S",
        help="fit time caps in seconds (default adult=120 census_income_kdd=300); "
        "the last fit's cap also shrinks to keep the whole run within 8 minutes",
    )
    p.add_argument("--devices", type=int, default=None, help="passed to TabularARGN if given")
    p.add_argument("--strategy", default=None, help="passed to TabularARGN if given")
    p.add_argument("--n-samples", type=int, default=1_000_000)
    p.add_argument("--smoke", action="store_true", help="CPU, 2,000 rows, 1 epoch, 20k samples")
    args = p.parse_args(argv)
    args.device = args.device or ("cpu" if args.smoke else "cuda")
    caps = {}
    for item in args.max_time:
        name, _, sec = item.rpartition("=")
        caps[name or "all"] = float(sec)
    args.max_time = {n: caps.get(n, caps.get("all", DATASETS[n]["max_time"])) for n in DATASETS}
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.smoke and gpu(args.device) is None:
        print(
            f"No CUDA GPU for --device {args.device!r} (torch.cuda.is_available()="
            f"{torch.cuda.is_available()}): refusing to write a GPU result. Run this on a GPU "
            "machine, or pass --smoke to check the script on the CPU.",
            file=sys.stderr,
        )
        return 2
    if not args.data_dir.exists():
        print(f"data directory {args.data_dir} not found (use --data-dir)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    env = environment(args.device)
    print(json.dumps(env, indent=1))
    start = time.perf_counter()
    deadline = start + BUDGET_S
    results = {}
    for name in args.datasets:
        print(f"== {name} on {args.device}{' (smoke)' if args.smoke else ''}", flush=True)
        rec = {"dataset": name, "smoke": args.smoke, "device_requested": args.device}
        try:
            run_dataset(name, args, deadline, rec)
        except Exception as e:  # record and go on: one dataset's failure must not hide the other
            rec["error"] = f"{type(e).__name__}: {e}"
            rec["traceback"] = traceback.format_exc()
            print(rec["traceback"], file=sys.stderr)
        rec["env"] = env
        results[name] = rec
        (args.out / f"gpu_{name}.json").write_text(json.dumps(rec, indent=1, default=str) + "\n")
        print(json.dumps({k: rec[k] for k in rec if k not in ("env", "traceback")}, default=str))
    total = time.perf_counter() - start
    targets = check_targets(results, args.smoke)
    text = markdown(results, env, targets, args.smoke, total)
    (args.out / "GPU_RESULTS.md").write_text(text)
    print(text)
    print(f"wrote {args.out}/GPU_RESULTS.md and gpu_<dataset>.json ({total:.0f} s)")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
