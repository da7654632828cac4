"""Benchmark harness: generators x datasets, timed in subprocesses, scored by tabargn.evaluation.

Stages (each can be run on its own; see benchmarks/README.md):

    python benchmarks/run.py generate --datasets adult lending_club_loans \
        --generators tabargn mostlyai-engine gaussian_copula ctgan tvae --timeout 3600
    python benchmarks/run.py score          # scores every generated run that has no metrics yet
    python benchmarks/run.py table          # regenerates benchmarks/results/RESULTS.md from the JSONs

`generate` writes the 80/20 split of every dataset once (benchmarks/work/data/<dataset>/), runs every
generator in its own subprocess (benchmarks/worker.py, with the python of the generator's venv) under a
time limit, and writes benchmarks/results/<dataset>__<generator>.json. `score` runs in THIS python (the
main venv) and adds `report.summary()` of `tabargn.evaluation.evaluate(real=train, synthetic=syn,
holdout=holdout, target=...)` to each JSON. `table` only reads the JSONs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "worker.py"
DEFAULT_WORK = HERE / "work"
DEFAULT_RESULTS = HERE / "results"
DEFAULT_DATA = Path(os.environ.get("TABARGN_BENCH_DATA", "/work/shared/data"))
if str(REPO) not in sys.path:  # scoring imports tabargn from this checkout
    sys.path.insert(0, str(REPO))

# Columns dropped before anything else, and the target used for TSTR (utility) in scoring.
DATASETS: dict[str, dict] = {
    "adult": {
        "file": "adult.parquet",
        "drop": ["split"],  # marks the original UCI train/test files, not a data column
        "target": "income",
    },
    "lending_club_loans": {
        "file": "lending_club_loans.parquet",
        "drop": [],
        # `grade` (A-G, 7 classes, 24/30/27/14/3/0.6/0.1 %). `loan_status` was not used: 94 % of rows are
        # "Current", so TSTR on it says little. Note grade is a function of sub_grade (and close to one of
        # interest_rate), so train-on-real is near perfect and TSTR measures whether a generator keeps
        # that strong dependency.
        "target": "grade",
    },
    "census_income_kdd": {
        "file": "census_income_kdd.parquet",
        "drop": ["dataset_partition"],  # marks the original UCI train/test files, not a data column
        "target": "income_gt_50k",
    },
    # The other flat tables of the defaults panel (issue 13).
    "faa_bird_strikes": {
        "file": "faa_bird_strikes.parquet",
        "drop": ["remarks"],  # free text: the text benchmark (text_bench.py) covers it
        "target": "effect",  # 5 classes, 90 % "None" (precautionary landing, aborted take-off, ...)
    },
    "nycflights13_flights": {
        "file": "nycflights13_flights.parquet",
        "drop": [],  # flights as a flat table (the sequential benchmark groups them by tailnum)
        "target": "origin",  # the 3 New York airports
    },
    "baseball": {
        "file": "baseball.parquet",
        "drop": [],  # player seasons as a flat table (the sequential benchmark groups them by id)
        "target": "lg",  # the league (6 values over the years)
    },
}

GENERATORS = ("tabargn", "mostlyai-engine", "gaussian_copula", "ctgan", "tvae")
PEER_GENERATORS = ("mostlyai-engine", "gaussian_copula", "ctgan", "tvae")
EPOCH_GENERATORS = ("tabargn", "mostlyai-engine", "ctgan", "tvae")

# How the table finds its metric columns in the flattened `report.summary()` (keys joined with ".",
# lower-cased). For each column: candidate patterns in order of preference; a pattern is a tuple of
# substrings that must ALL occur in the key; keys containing any of `exclude` are skipped.
METRIC_COLUMNS: list[dict] = [
    {
        "label": "univariate acc",
        "exact": ["univariate_accuracy"],
        "holdout": "univariate_accuracy_max",
        "patterns": [("univariate", "accuracy"), ("univariate",)],
    },
    {
        "label": "bivariate acc",
        "exact": ["bivariate_accuracy"],
        "holdout": "bivariate_accuracy_max",
        "patterns": [("bivariate", "accuracy"), ("bivariate",)],
    },
    {
        "label": "detection",
        "exact": ["detection_score"],
        "patterns": [("detection", "score"), ("detection",), ("c2st",)],
        "exclude": ["auc"],
    },
    {
        "label": "TSTR",
        "exact": ["tstr_score", "tstr"],
        "patterns": [("tstr",), ("utility", "synthetic")],
        "exclude": ["trtr", "real", "ratio", "metric_name"],
    },
    {
        "label": "TRTR",
        "exact": ["trtr_score", "trtr"],
        "holdout": "trtr_score",
        "patterns": [("trtr",), ("utility", "real")],
        "exclude": ["tstr", "ratio", "metric_name"],
    },
    {"label": "DCR share", "exact": ["dcr_share"], "patterns": [("dcr", "share")]},
    {
        "label": "identical share",
        "exact": ["identical_match_share"],
        "holdout": "identical_match_share_holdout",
        "patterns": [("identical",), ("exact", "match"), ("exact", "cop")],
    },
]
# skipped by every pattern (but not by `exact`): spreads, per-column details and the holdout references
COMMON_EXCLUDE = ["std", "per_column", "per_pair", "_max", "_holdout", "ceiling"]


# ============================================================================ helpers
def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def rel(p: Path | str) -> str:
    p = Path(p).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def resolve(p: str) -> Path:
    q = Path(p)
    return q if q.is_absolute() else (REPO / q)


def dataset_label(name: str, subsample: int | None) -> str:
    return f"{name}-sub{subsample}" if subsample else name


def parse_label(label: str) -> tuple[str, int | None]:
    if "-sub" in label:
        name, n = label.rsplit("-sub", 1)
        return name, int(n)
    return label, None


def git_info() -> dict:
    def g(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except Exception:  # noqa: BLE001
            return None

    status = g("status", "--porcelain", "--", "tabargn")
    return {"commit": g("rev-parse", "HEAD"), "tabargn_dirty": bool(status)}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if isinstance(o, Path):
        return str(o)
    return str(o)


def parse_epochs(values: list[str] | None) -> dict[str, int]:
    """`--epochs 50` (all epoch-based generators) and/or `--epochs ctgan=50 tvae=100`."""
    out: dict[str, int] = {}
    for v in values or []:
        if "=" in v:
            g, e = v.split("=", 1)
            if g not in EPOCH_GENERATORS:
                raise SystemExit(
                    f"--epochs: {g!r} is not an epoch-based generator {EPOCH_GENERATORS}"
                )
            out[g] = int(e)
        else:
            for g in EPOCH_GENERATORS:
                out.setdefault(g, int(v))
    return out


# ============================================================================ data
def prepare_split(name: str, subsample: int | None, seed: int, data_dir: Path, work: Path) -> dict:
    """Write train/holdout parquet for a dataset once; later calls reuse them (and check the settings)."""
    import numpy as np
    import pandas as pd

    spec = DATASETS[name]
    label = dataset_label(name, subsample)
    out = work / "data" / label
    meta_path = out / "split.json"
    src = data_dir / spec["file"]
    settings = {
        "dataset": name,
        "subsample": subsample,
        "seed": seed,
        "train_fraction": 0.8,
        "dropped_columns": spec["drop"],
        "source": str(src),
    }
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in settings} != settings:
            raise SystemExit(
                f"{meta_path} was written with other settings {meta}; delete {out} to re-split"
            )
        return meta
    out.mkdir(parents=True, exist_ok=True)
    df = pd.read_parquet(src).drop(columns=spec["drop"])
    n_source = len(df)
    rng = np.random.default_rng(seed)
    if subsample and subsample < len(df):
        df = df.iloc[np.sort(rng.choice(len(df), size=subsample, replace=False))]
    perm = rng.permutation(len(df))
    n_train = int(round(0.8 * len(df)))
    train = df.iloc[np.sort(perm[:n_train])].reset_index(drop=True)
    holdout = df.iloc[np.sort(perm[n_train:])].reset_index(drop=True)
    train.to_parquet(out / "train.parquet", index=False)
    holdout.to_parquet(out / "holdout.parquet", index=False)
    meta = {
        **settings,
        "label": label,
        "source_sha256": sha256(src),
        "n_source_rows": n_source,
        "n_rows": len(df),
        "n_train": len(train),
        "n_holdout": len(holdout),
        "n_columns": df.shape[1],
        "target": spec["target"],
        "train": rel(out / "train.parquet"),
        "holdout": rel(out / "holdout.parquet"),
        "written_utc": now_utc(),
    }
    write_json(meta_path, meta)
    return meta


# ============================================================================ generate
def python_for(generator: str, args) -> str:
    return args.python_main if generator == "tabargn" else args.python_peers


def run_one(
    generator: str, meta: dict, args, run_id: str, epochs: int | None, results: Path, work: Path
) -> dict:
    label = meta["label"]
    stem = f"{label}__{generator}"
    syn_dir, log_dir, tim_dir = work / "synthetic", work / "logs", work / "timings"
    for d in (syn_dir, log_dir, tim_dir):
        d.mkdir(parents=True, exist_ok=True)
    syn_path, log_path, tim_path = (
        syn_dir / f"{stem}.parquet",
        log_dir / f"{stem}.log",
        tim_dir / f"{stem}.json",
    )
    for p in (syn_path, tim_path):
        p.unlink(missing_ok=True)
    n = meta["n_train"]
    py = python_for(generator, args)
    cmd = [
        py,
        str(WORKER),
        generator,
        str(REPO / meta["train"]),
        str(n),
        str(syn_path),
        str(tim_path),
        "--seed",
        str(args.seed),
    ]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if generator == "tabargn":  # the package is used from this checkout
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    record = {
        "dataset": label,
        "source_dataset": meta["dataset"],
        "subsample": meta["subsample"],
        "generator": generator,
        "run_id": run_id,
        "started_utc": now_utc(),
        "n_train": meta["n_train"],
        "n_holdout": meta["n_holdout"],
        "n_columns": meta["n_columns"],
        "target": meta["target"],
        "split": {
            k: meta[k]
            for k in (
                "seed",
                "train_fraction",
                "dropped_columns",
                "source_sha256",
                "train",
                "holdout",
            )
        },
        "epochs_override": epochs,
        "timeout_s": args.timeout,
        "python": py,
        "command": cmd,
        "nice": os.nice(0),
        "git": git_info() if generator == "tabargn" else None,
        "synthetic_path": rel(syn_path),
        "log_path": rel(log_path),
        "status": "running",
        "metrics": None,
        "scoring": None,
    }
    out_json = results / f"{stem}.json"
    print(
        f"[{now_utc()}] {stem}: start (n={n}, epochs={epochs or 'default'}, timeout={args.timeout}s, log {rel(log_path)})",
        flush=True,
    )
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(f"# {now_utc()} {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True
        )
        record["worker_pid"] = proc.pid
        try:
            rc = proc.wait(timeout=args.timeout)
            status = "ok" if rc == 0 else "error"
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc, status = None, "timeout"
        except BaseException:
            _kill_group(proc)
            raise
    record["wall_s"] = time.perf_counter() - t0
    record["returncode"] = rc
    record["finished_utc"] = now_utc()
    if tim_path.exists():
        record["worker"] = json.loads(tim_path.read_text())
        if status == "ok" and record["worker"].get("status") != "ok":
            status = "error"
    else:
        record["worker"] = None
    record["status"] = status
    if status != "ok":
        record["error"] = (record["worker"] or {}).get("error") or (
            f"timed out after {args.timeout}s"
            if status == "timeout"
            else f"worker exited with {rc}"
        )
        syn_path.unlink(missing_ok=True)
    write_json(out_json, record)
    w = record["worker"] or {}
    print(
        f"[{now_utc()}] {stem}: {status} wall={record['wall_s']:.0f}s fit={_fmt(w.get('fit_s'), 1)}s "
        f"sample={_fmt(w.get('sample_rows_per_s'), 0)} rows/s peak={_fmt(w.get('peak_rss_mb'), 0)} MB -> {rel(out_json)}",
        flush=True,
    )
    return record


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def cmd_generate(args) -> int:
    results, work = resolve(args.results_dir), resolve(args.work_dir)
    results.mkdir(parents=True, exist_ok=True)
    epochs = parse_epochs(args.epochs)
    run_id = args.run_id or _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    metas = [
        prepare_split(d, args.subsample, args.seed, resolve(args.data_dir), work)
        for d in args.datasets
    ]
    failed = 0
    for meta in metas:
        for g in args.generators:
            out_json = results / f"{meta['label']}__{g}.json"
            if (
                args.skip_existing
                and out_json.exists()
                and json.loads(out_json.read_text()).get("status") == "ok"
            ):
                print(f"skip {out_json.name} (exists, ok)")
                continue
            rec = run_one(g, meta, args, run_id, epochs.get(g), results, work)
            failed += rec["status"] != "ok"
            if args.score and rec["status"] == "ok":
                score_one(out_json, args)
    if not args.no_table:
        write_table(results)
    return 1 if failed else 0


# ============================================================================ score
def score_one(json_path: Path, args) -> dict:
    import pandas as pd

    rec = json.loads(json_path.read_text())
    t0 = time.perf_counter()
    scoring: dict = {"started_utc": now_utc()}
    try:
        from tabargn.evaluation import evaluate

        try:
            import tabargn

            scoring["tabargn_version"] = getattr(tabargn, "__version__", None)
        except Exception:  # noqa: BLE001
            pass
        scoring["git"] = git_info()
        train = pd.read_parquet(REPO / rec["split"]["train"])
        holdout = pd.read_parquet(REPO / rec["split"]["holdout"])
        syn = pd.read_parquet(REPO / rec["synthetic_path"])
        kw = dict(real=train, synthetic=syn, holdout=holdout, target=rec["target"])
        try:
            if "random_state" in inspect.signature(evaluate).parameters:
                kw["random_state"] = args.seed
        except (TypeError, ValueError):
            pass
        report = evaluate(**kw)
        summary = report.summary()
        if args.html:
            html_dir = resolve(args.work_dir) / "reports"
            html_dir.mkdir(parents=True, exist_ok=True)
            html = html_dir / f"{json_path.stem}.html"
            report.to_html(str(html))
            scoring["html"] = rel(html)
        rec["metrics"] = json.loads(json.dumps(summary, default=_json_default))
        scoring["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - keep generation results whatever scoring does
        import traceback

        scoring["status"] = "error"
        scoring["error"] = f"{type(e).__name__}: {e}"
        scoring["traceback"] = traceback.format_exc()
    scoring["seconds"] = time.perf_counter() - t0
    rec["scoring"] = scoring
    write_json(json_path, rec)
    print(
        f"[{now_utc()}] score {json_path.name}: {scoring['status']} ({scoring['seconds']:.0f}s)"
        + (f" {scoring.get('error')}" if scoring["status"] != "ok" else ""),
        flush=True,
    )
    return rec


def cmd_score(args) -> int:
    results = resolve(args.results_dir)
    failed = 0
    for p in sorted(results.glob("*__*.json")):
        rec = json.loads(p.read_text())
        if rec.get("status") != "ok":
            continue
        if (
            args.datasets
            and rec["dataset"] not in args.datasets
            and rec["source_dataset"] not in args.datasets
        ):
            continue
        if args.generators and rec["generator"] not in args.generators:
            continue
        if rec.get("metrics") and not args.force:
            continue
        if not (REPO / rec["synthetic_path"]).exists():
            print(
                f"score {p.name}: synthetic file {rec['synthetic_path']} is missing; re-run generate",
                flush=True,
            )
            failed += 1
            continue
        failed += score_one(p, args)["scoring"]["status"] != "ok"
    if not args.no_table:
        write_table(results)
    return 1 if failed else 0


# ============================================================================ table
def flatten(d, prefix: str = "") -> dict:
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix[:-1].lower()] = d
    return out


def find_metric(flat: dict, col: dict) -> tuple[str | None, float | None]:
    for k in col.get("exact", []):
        if k in flat:
            return k, flat[k]
    exclude = col.get("exclude", []) + COMMON_EXCLUDE
    for pattern in col["patterns"]:
        for k, v in sorted(flat.items()):
            if all(s in k for s in pattern) and not any(x in k for x in exclude):
                return k, v
    return None, None


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, float)):
        if digits == 0:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    return str(v)


def write_table(results: Path) -> Path:
    recs = []
    for p in sorted(results.glob("*__*.json")):
        try:
            recs.append(json.loads(p.read_text()))
        except json.JSONDecodeError:
            continue
    order = {g: i for i, g in enumerate(GENERATORS)}
    by_ds: dict[str, list] = {}
    for r in recs:
        by_ds.setdefault(r["dataset"], []).append(r)
    lines = [
        "# Benchmark results",
        "",
        f"Regenerated by `python benchmarks/run.py table` from `{rel(results)}/*.json` ({now_utc()}). "
        "See `benchmarks/README.md` for how to read it. Timings are noisy on shared machines: compare ratios "
        "between generators of the same run id.",
        "",
    ]
    used_keys: dict[str, set] = {}
    for ds in sorted(by_ds):
        rs = sorted(by_ds[ds], key=lambda r: order.get(r["generator"], 99))
        r0 = rs[0]
        lines += [
            f"## {ds}",
            "",
            f"{r0['n_train']:,} training rows × {r0['n_columns']} columns, holdout {r0['n_holdout']:,}, "
            f"TSTR target `{r0['target']}`.",
            "",
        ]
        hdr = [
            "generator",
            "status",
            "fit s",
            "fit CPU s",
            "sample rows/s",
            "peak MB",
            "device",
            "strategy",
            "threads",
            "epochs",
        ]
        hdr += [c["label"] for c in METRIC_COLUMNS] + ["run id", "host"]
        lines += ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" for _ in hdr) + "|"]
        notes = []
        for r in rs:
            w = r.get("worker") or {}
            env = w.get("env") or {}
            flat = flatten(r.get("metrics") or {})
            mvals = []
            for c in METRIC_COLUMNS:
                k, v = find_metric(flat, c)
                if k:
                    used_keys.setdefault(c["label"], set()).add(k)
                mvals.append(_fmt(v))
            status = r["status"]
            if status == "ok" and (r.get("scoring") or {}).get("status") == "error":
                status = "ok (scoring failed)"
                notes.append(f"`{r['generator']}`: scoring failed: {r['scoring']['error'][:200]}")
            elif status == "ok" and not r.get("metrics"):
                status = "ok (not scored)"
            elif status != "ok":
                notes.append(f"`{r['generator']}`: {status}: {str(r.get('error'))[:200]}")
            ep = r.get("epochs_override")
            row = [
                f"`{r['generator']}`",
                status,
                _fmt(w.get("fit_s"), 1),
                _fmt(w.get("fit_cpu_s"), 1),
                _fmt(w.get("sample_rows_per_s"), 0),
                _fmt(w.get("peak_rss_mb"), 0),
                w.get("device") or "–",
                w.get("strategy") or "single process",
                str(env.get("torch_threads", "–")) if r["generator"] != "gaussian_copula" else "–",
                (f"**{ep}** (cap)" if ep is not None else "default")
                if r["generator"] in EPOCH_GENERATORS
                else "–",
            ]
            row += mvals + [
                r.get("run_id", "–"),
                f"{env.get('hostname', '–')} ({env.get('cpu_affinity', '?')} cpu)",
            ]
            lines.append("| " + " | ".join(str(x) for x in row) + " |")
        ref = next((flatten(r["metrics"]) for r in rs if r.get("metrics")), None)
        if ref and any(c.get("holdout") in ref for c in METRIC_COLUMNS):
            row = ["holdout (real data, reference)"] + ["–"] * 9
            row += [
                _fmt(ref.get(c["holdout"])) if c.get("holdout") else "–" for c in METRIC_COLUMNS
            ] + ["–", "–"]
            lines.append("| " + " | ".join(row) + " |")
        ratio = _ratios(rs)
        if ratio:
            lines += ["", ratio]
        if notes:
            lines += [""] + [f"- {n}" for n in notes]
        lines.append("")
    if used_keys:
        lines += [
            "## Metric keys",
            "",
            "Keys of `report.summary()` (flattened, lower-cased) shown in each column:",
            "",
        ]
        lines += [
            f"- {lab}: " + ", ".join(f"`{k}`" for k in sorted(ks)) for lab, ks in used_keys.items()
        ]
        lines.append("")
    out = results / "RESULTS.md"
    out.write_text("\n".join(lines))
    print(f"wrote {rel(out)} ({len(recs)} runs)")
    return out


def _ratios(rs: list[dict]) -> str | None:
    """tabargn vs mostlyai-engine against the DESIGN.md §5 speed targets, when both ran."""
    d = {r["generator"]: r for r in rs if r["status"] == "ok"}
    if "tabargn" not in d or "mostlyai-engine" not in d:
        return None
    t, m = d["tabargn"]["worker"], d["mostlyai-engine"]["worker"]
    same = d["tabargn"].get("run_id") == d["mostlyai-engine"].get("run_id")
    parts = [
        f"fit {t['fit_s'] / m['fit_s']:.2f}× (target ≤ 0.5)",
        f"sampling {t['sample_rows_per_s'] / m['sample_rows_per_s']:.2f}× (target ≥ 3)",
        f"peak memory {t['peak_rss_mb'] / m['peak_rss_mb']:.2f}× (target ≤ 1)",
    ]
    return (
        "tabargn / mostlyai-engine: "
        + ", ".join(parts)
        + "."
        + ("" if same else " **Not measured in the same run: ratios are not comparable.**")
    )


def cmd_table(args) -> int:
    write_table(resolve(args.results_dir))
    return 0


# ============================================================================ CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--results-dir",
        default=str(DEFAULT_RESULTS.relative_to(REPO)),
        help="where the per-run JSONs and RESULTS.md live (default: benchmarks/results; use a "
        "directory under benchmarks/work/ for smoke tests)",
    )
    common.add_argument(
        "--work-dir",
        default=str(DEFAULT_WORK.relative_to(REPO)),
        help="git-ignored scratch: splits, synthetic parquet, logs (default: benchmarks/work)",
    )
    common.add_argument(
        "--seed", type=int, default=0, help="split / generator / scoring seed (default 0)"
    )
    common.add_argument(
        "--no-table", action="store_true", help="do not regenerate RESULTS.md at the end"
    )
    common.add_argument(
        "--html", action="store_true", help="score: also write report HTML to <work-dir>/reports/"
    )
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser(
        "generate", parents=[common], help="fit + sample every generator on every dataset"
    )
    g.add_argument(
        "--datasets", nargs="+", default=["adult", "lending_club_loans"], choices=list(DATASETS)
    )
    g.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=GENERATORS)
    g.add_argument(
        "--timeout",
        type=int,
        default=3600,
        help="seconds per generator run (fit + sample), default 3600",
    )
    g.add_argument(
        "--epochs",
        nargs="+",
        default=None,
        metavar="[GEN=]N",
        help="cap training epochs: `--epochs 50` for every epoch-based generator, or per generator "
        "`--epochs ctgan=50 tvae=100`. Recorded as epochs_override in the JSON and shown in bold "
        "in the table. Default: each generator's own default (CTGAN/TVAE: 300).",
    )
    g.add_argument(
        "--subsample",
        type=int,
        default=None,
        metavar="N",
        help="use N random rows of each dataset (before the 80/20 split); the dataset is then labelled "
        "<name>-subN. Meant for census_income_kdd (299k rows) and for smoke tests.",
    )
    g.add_argument(
        "--data-dir", default=str(DEFAULT_DATA), help="directory holding <dataset>.parquet"
    )
    g.add_argument(
        "--python-main", default=str(REPO / ".venv" / "bin" / "python"), help="python for tabargn"
    )
    g.add_argument(
        "--python-peers",
        default=str(REPO / ".venv-peers" / "bin" / "python"),
        help="python for peers",
    )
    g.add_argument(
        "--skip-existing", action="store_true", help="skip runs whose JSON already has status ok"
    )
    g.add_argument(
        "--score", action="store_true", help="score each run right after it is generated"
    )
    g.add_argument(
        "--run-id",
        default=None,
        help="label shared by all runs of this invocation (default: UTC time)",
    )
    g.set_defaults(func=cmd_generate)

    s = sub.add_parser(
        "score", parents=[common], help="score generated runs with tabargn.evaluation.evaluate"
    )
    s.add_argument("--datasets", nargs="+", default=None)
    s.add_argument("--generators", nargs="+", default=None, choices=GENERATORS)
    s.add_argument("--force", action="store_true", help="re-score runs that already have metrics")
    s.set_defaults(func=cmd_score)

    t = sub.add_parser("table", parents=[common], help="regenerate RESULTS.md from the JSONs")
    t.set_defaults(func=cmd_table)

    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
