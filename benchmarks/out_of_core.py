"""Out-of-core fit and sampling to disk: peak RSS and time vs rows (issue 11, part 1).

    python benchmarks/out_of_core.py --sizes 50000 200000 600000 1200000 --sample 2000000

For each size, the census_income_kdd table (299,285 rows x 43 columns, /work/shared/data) is
replicated (exact copies, then cut to the size) into a directory of Parquet parts of 100,000
rows; then ``TabularARGN(max_epochs=1, max_time=T, random_state=0).fit(DIR)`` runs in a child
process under ``/usr/bin/time -v`` (peak RSS = its "Maximum resident set size"). The child
reports the time of the two streaming passes (statistics, encoding) and the training throughput;
an epoch longer than ``T`` (``--max-time``) is cut, and its time is projected from the
throughput (``epoch_seconds_projected``; ``epoch_completed`` says which). The model of the largest size is sampled with the CLI,
``tabargn sample MODEL -n N -o OUT/``, twice (``--rows-per-part`` two values, both under
``/usr/bin/time -v``), and the two outputs are compared row by row. Writes
benchmarks/results/out_of_core.json, .md and .png (log-log plot). The machine is shared and
noisy: times are for one run each.

``--jitter`` perturbs the copies (see :func:`make_data`) so that they are not identical rows;
``--modes "in memory" "out of core"`` fits the same rows read into one pandas frame first, and
the Parquet directory, for the scaling curve of both inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DATA = Path(os.environ.get("TABARGN_BENCH_DATA", "/work/shared/data")) / "census_income_kdd.parquet"
PART_ROWS = 100_000


def make_data(rows: int, out: Path, jitter: bool = False) -> Path:
    """Census replicated to ``rows`` rows, as Parquet parts of PART_ROWS rows.

    With ``jitter``, every copy after the first is perturbed so that copies are not identical
    rows: integer columns with more than 60 distinct values move by -1, 0 or +1 where they are
    not 0 (zeros stay zeros, so zero-inflated columns keep their spike), float columns by a
    factor in [0.99, 1.01]; categories and integer codes (60 distinct values or fewer: years,
    recodes, flags) are kept. The first copy is the real table.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if out.exists() and sum(pq.read_metadata(p).num_rows for p in out.glob("*.parquet")) == rows:
        return out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.parquet"):
        old.unlink()
    table = pq.read_table(DATA)
    copies = -(-rows // table.num_rows)
    parts = [table]
    rng = np.random.default_rng(0)
    for _ in range(1, copies):
        copy = table
        for i, field in enumerate(table.schema):
            numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
            if not jitter or not numeric or pc.count_distinct(table.column(i)).as_py() <= 60:
                continue
            col = table.column(i).to_numpy(zero_copy_only=False)
            if pa.types.is_integer(field.type):
                moved = col + rng.integers(-1, 2, len(col)) * (col != 0)
            else:
                moved = col * rng.uniform(0.99, 1.01, len(col))
            moved = pa.array(moved, mask=pc.is_null(table.column(i)).to_numpy(zero_copy_only=False))
            copy = copy.set_column(i, field, moved.cast(field.type, safe=False))
        parts.append(copy)
    full = pa.concat_tables(parts).slice(0, rows)
    for i, start in enumerate(range(0, rows, PART_ROWS)):
        pq.write_table(full.slice(start, PART_ROWS), out / f"part-{i:05d}.parquet")
    return out


def child_fit(data: str, model: str, budget: float, max_time: float, mode: str) -> None:
    """Runs in the child: fit on the directory, save, print a JSON line.

    The training batches are counted (a wrapper around the block sampler, benchmark only), so
    a run cut by ``max_time`` still gives the training throughput, and the time and peak RSS
    before the first batch (the statistics and encoding passes) are recorded apart.
    """
    import resource

    import torch

    torch.set_num_threads(2)
    from tabargn import TabularARGN
    from tabargn import data as tabargn_data

    seen = {"rows": 0, "first": None, "last": None, "rss_before": None}
    original = tabargn_data.BlockShuffleSampler.__iter__

    def counted(self):
        for batch in original(self):
            if self.generator is not None:  # training batches only
                now = time.perf_counter()
                if seen["first"] is None:
                    seen["first"] = now
                    seen["rss_before"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                else:
                    seen["rows"] += len(batch)  # rows after the first batch, timed
                seen["last"] = now
            yield batch

    tabargn_data.BlockShuffleSampler.__iter__ = counted
    if mode == "in memory":  # the whole table as one pandas frame first
        import pandas as pd

        data = pd.read_parquet(data)
    started = time.perf_counter()
    m = TabularARGN(
        max_epochs=1, max_time=max_time, random_state=0, verbose=0, memory_budget_mb=budget
    ).fit(data)
    seconds = time.perf_counter() - started
    m.save(model)
    t = m.training_
    rate = seen["rows"] / max(seen["last"] - seen["first"], 1e-9)
    out = {
        "fit_seconds": round(seconds, 1),
        "passes_seconds": round(seen["first"] - started, 1),
        "train_rows_per_second": round(rate, 1),
        "epoch_seconds_projected": round(t["n_train_rows"] / rate, 1),
        # the first batch is not counted in "rows" (it starts the clock)
        "epoch_completed": seen["rows"] + t["batch_size"] >= t["n_train_rows"],
        "trained_rows": seen["rows"],
        "peak_rss_before_training_mb": round(seen["rss_before"] / 1024, 1),
        "n_rows": t["n_rows"],
        "n_train_rows": t["n_train_rows"],
        "batch_size": t["batch_size"],
        "n_sub_columns": m.codec_.n_sub,
        "mode": mode,
    }
    print("RESULT " + json.dumps(out), flush=True)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Runs ``cmd`` under /usr/bin/time -v; returns (peak RSS MB, wall s, stdout)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return kb / 1024, wall, proc.stdout


def digest(folder: Path) -> tuple[int, str]:
    """Rows and a hash of the rows of a Parquet directory, independent of its parts."""
    import pyarrow.dataset as ds

    h = hashlib.sha256()
    n = 0
    for batch in ds.dataset(str(folder), format="parquet").to_batches(batch_size=65_536):
        frame = batch.to_pandas()
        n += len(frame)
        h.update(frame.to_csv(index=False, header=False).encode())
    return n, h.hexdigest()


def _key(row: dict) -> tuple:
    """A fit row's identity: rows, mode, jitter (rows written before those keys: out of core,
    exact copies)."""
    return (row["n_rows"], row.get("mode", "out of core"), bool(row.get("jitter", False)))


def plot(rows: list[dict], path: Path) -> None:
    """Log-log plot: epoch and pass seconds, and peak RSS, against rows, one line per run kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict]] = {}
    for r in rows:
        _, mode, jitter = _key(r)
        groups.setdefault(f"{mode}, {'jittered' if jitter else 'exact'} copies", []).append(r)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, rs in groups.items():
        rs = sorted(rs, key=_key)
        n = [r["n_rows"] for r in rs]
        ax[0].loglog(n, [r["epoch_seconds_projected"] for r in rs], "o-", label=f"epoch: {label}")
        ax[0].loglog(n, [r["passes_seconds"] for r in rs], "s--", label=f"passes: {label}")
        ax[1].loglog(n, [r["peak_rss_mb"] for r in rs], "o-", label=label)
    ax[0].set(xlabel="rows", ylabel="seconds", title="census_income_kdd replicated: time")
    ax[0].legend(fontsize=7)
    ax[1].axhline(2048, color="gray", ls=":", label="2 GB")
    ax[1].set(xlabel="rows", ylabel="MB", title="peak RSS of the fit")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_md(report: dict, path: Path) -> None:
    """The results table (benchmarks/results/out_of_core.md) from the JSON."""
    lines = [
        "# Out-of-core fit and sampling to disk (census_income_kdd replicated)",
        "",
        "Made by `python benchmarks/out_of_core.py` (see its docstring); one run per size on",
        "the shared 2-core machine. Peak RSS is `/usr/bin/time -v`'s maximum resident set size",
        "of the whole child process (imports, both passes, training, saving).",
        "",
        "| rows | input | copies | train rows | batch | statistics + encoding s "
        "| peak RSS before training MB | peak RSS MB | train rows/s | epoch s | epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.get("fit", []):
        done = r["trained_rows"] + r["batch_size"] >= r["n_train_rows"]
        _, mode, jitter = _key(r)
        source = "pandas frame" if mode == "in memory" else "Parquet directory"
        lines.append(
            f"| {r['n_rows']:,} | {source} | {'jittered' if jitter else 'exact'} "
            f"| {r['n_train_rows']:,} | {r['batch_size']} "
            f"| {r['passes_seconds']} | {r['peak_rss_before_training_mb']:,.0f} "
            f"| {r['peak_rss_mb']:,.0f} | {r['train_rows_per_second']} "
            f"| {r['epoch_seconds_projected']:,.0f} | {'run' if done else 'projected'} |"
        )
    sample = report.get("sample")
    if sample:
        lines += [
            "",
            f"Sampling {sample['n_samples']:,} rows with `tabargn sample MODEL -n "
            f"{sample['n_samples']} -o OUT/` (model of {sample['model_rows']:,} rows); same rows "
            f"for both part sizes: **{sample['same_rows']}**.",
            "",
            "| rows per part | peak RSS MB | seconds | rows/s | rows | sha256 of the rows |",
            "|---|---|---|---|---|---|",
        ]
        for r in sample["runs"]:
            lines.append(
                f"| {r['rows_per_part']:,} | {r['peak_rss_mb']:,.0f} | {r['seconds']} "
                f"| {r['rows_per_second']:,} | {r['rows']:,} | `{r['sha256'][:16]}` |"
            )
    for note in report.get("notes", []):
        lines += ["", note]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 600_000, 1_200_000])
    ap.add_argument("--sample", type=int, default=2_000_000)
    ap.add_argument("--budget", type=float, default=512)
    ap.add_argument("--work", type=Path, default=Path("/tmp/tabargn-ooc-bench"))
    ap.add_argument("--max-time", type=float, default=120, help="training seconds per fit")
    ap.add_argument("--table", action="store_true", help="only rewrite the .md from the JSON")
    ap.add_argument(
        "--sample-only",
        action="store_true",
        help="skip the fits: sample the model already fitted for the largest size in --work",
    )
    ap.add_argument("--jitter", action="store_true", help="perturb the copies (see make_data)")
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["out of core"],
        choices=["out of core", "in memory"],
        help="fit the Parquet directory, or the same rows read into one pandas frame first",
    )
    ap.add_argument("--child", nargs=5, metavar=("DATA", "MODEL", "BUDGET", "MAX_TIME", "MODE"))
    args = ap.parse_args()
    if args.child:
        data, model, budget, max_time, mode = args.child
        child_fit(data, model, float(budget), float(max_time), mode)
        return
    RESULTS.mkdir(exist_ok=True)
    out_json = RESULTS / "out_of_core.json"
    report = json.loads(out_json.read_text()) if out_json.exists() else {}
    if args.table:
        write_md(report, RESULTS / "out_of_core.md")
        plot(report["fit"], RESULTS / "out_of_core.png")
        return
    model = args.work / f"model-{max(args.sizes)}" if args.sample_only else None
    if not args.sample_only:
        runs = {(n, m, args.jitter) for n in args.sizes for m in args.modes}
        report["fit"] = [r for r in report.get("fit", []) if _key(r) not in runs]
    for size, mode in (
        [] if args.sample_only else sorted((n, m) for n in args.sizes for m in args.modes)
    ):
        data = make_data(size, args.work / f"census-{'jitter-' * args.jitter}{size}", args.jitter)
        model = args.work / f"model-{size}"
        rss, wall, out = timed(
            [sys.executable, __file__, "--child", str(data), str(model), str(args.budget)]
            + [str(args.max_time), mode]
        )
        row = json.loads(out.split("RESULT ", 1)[1]) | {
            "peak_rss_mb": round(rss, 1),
            "wall_seconds": round(wall, 1),
            "budget_mb": args.budget,
            "max_time": args.max_time,
            "jitter": args.jitter,
        }
        print(row, flush=True)
        report["fit"].append(row)
        report["fit"].sort(key=_key)
        out_json.write_text(json.dumps(report, indent=1))
    if args.sample and model is not None:
        runs = []
        for per_part in (250_000, 1_000_000):
            folder = args.work / f"sample-{per_part}"
            cmd = [sys.executable, "-m", "tabargn.cli", "sample", str(model), "-n"]
            cmd += [str(args.sample), "-o", f"{folder}/", "--rows-per-part", str(per_part), "-q"]
            rss, wall, _ = timed(cmd)
            rows, sha = digest(folder)
            runs.append(
                {
                    "rows_per_part": per_part,
                    "peak_rss_mb": round(rss, 1),
                    "seconds": round(wall, 1),
                    "rows_per_second": round(args.sample / wall),
                    "rows": rows,
                    "sha256": sha,
                }
            )
            print(runs[-1], flush=True)
        report["sample"] = {
            "model_rows": max(args.sizes),
            "n_samples": args.sample,
            "runs": runs,
            "same_rows": len({r["sha256"] for r in runs}) == 1,
        }
        out_json.write_text(json.dumps(report, indent=1))
    plot(report["fit"], RESULTS / "out_of_core.png")
    write_md(report, RESULTS / "out_of_core.md")


if __name__ == "__main__":
    main()
