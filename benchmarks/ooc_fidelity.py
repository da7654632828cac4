"""Fidelity before/after the out-of-core fit path, on Adult (run.py's split and scores).

    python benchmarks/ooc_fidelity.py --checkout /work/main --label main
    python benchmarks/ooc_fidelity.py --checkout . --label ooc

Each run fits ``TabularARGN(random_state=0)`` (defaults) on run.py's 80 % Adult split (seed 0),
in a child process that imports tabargn from ``--checkout``, samples as many rows as the
training split, and scores them with ``tabargn.evaluation.evaluate`` (of this checkout) against
train and holdout. Appends a row to benchmarks/results/ooc_fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = Path(os.environ.get("TABARGN_BENCH_DATA", "/work/shared/data")) / "adult.parquet"
KEYS = (
    "univariate_accuracy",
    "bivariate_accuracy",
    "detection_auc",
    "dcr_share",
    "tstr_score",
)


def split(work: Path):
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(DATA).drop(columns=["split"], errors="ignore")
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(df))
    n_train = int(round(0.8 * len(df)))
    train = df.iloc[np.sort(perm[:n_train])].reset_index(drop=True)
    holdout = df.iloc[np.sort(perm[n_train:])].reset_index(drop=True)
    work.mkdir(parents=True, exist_ok=True)
    train.to_parquet(work / "train.parquet", index=False)
    holdout.to_parquet(work / "holdout.parquet", index=False)
    return train, holdout


def child(work: Path) -> None:
    import pandas as pd
    import torch

    torch.set_num_threads(2)
    from tabargn import TabularARGN

    train = pd.read_parquet(work / "train.parquet")
    started = time.perf_counter()
    model = TabularARGN(random_state=0, verbose=0).fit(train)
    fit_seconds = time.perf_counter() - started
    model.sample(len(train)).to_parquet(work / "synthetic.parquet", index=False)
    t = model.training_
    info = {"fit_seconds": round(fit_seconds, 1), "epochs": t["epochs"]}
    info["best_val_loss"] = t["best_val_loss"]
    print("RESULT " + json.dumps(info), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/tabargn-ooc-fidelity"))
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    work = args.work / args.label
    if args.child:
        child(work)
        return
    train, holdout = split(work)
    env = {**os.environ, "PYTHONPATH": str(args.checkout.resolve())}
    cmd = [sys.executable, __file__, "--checkout", str(args.checkout), "--label", args.label]
    out = subprocess.run(cmd + ["--child"], env=env, capture_output=True, text=True, check=True)
    info = json.loads(out.stdout.split("RESULT ", 1)[1])
    sys.path.insert(0, str(REPO))
    import pandas as pd

    from tabargn.evaluation import evaluate

    syn = pd.read_parquet(work / "synthetic.parquet")
    summary = evaluate(real=train, synthetic=syn, holdout=holdout, target="income").summary()
    row = {"label": args.label, **info}
    row.update({k: round(v, 5) for k, v in summary.items() if k in KEYS})
    print(row)
    path = HERE / "results" / "ooc_fidelity.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([r for r in rows if r["label"] != args.label] + [row], indent=1))


if __name__ == "__main__":
    main()
