"""Regressor width by data size: one panel cell fitted at each ``model_size``, scored alike.

The evidence behind ``model_size="auto"`` (:func:`tabargn.flat.flat_model_size`). For one cell
of issue 13's panel (the split that ``benchmarks/run.py`` wrote under ``benchmarks/work/data``),
fits ``TabularARGN(random_state=0, model_size=SIZE)`` with torch on one thread, draws two samples
of as many rows as the training set from the model's sampling stream and prints one JSON line:
fit seconds, epochs, peak RSS after fit and sampling (MB, before scoring), and the mean over the
two draws of column TVD, pair TVD and the detection score (``tabargn.evaluation.evaluate``,
``attacks=False``). ``faa_bird_strikes`` drops its free-text ``remarks`` as the panel does.

Usage (repository root; the cell's split must exist, e.g. from a panel run)::

    for size in medium small; do python benchmarks/model_size_sweep.py lending_club_loans-sub2000 \
        $size >> benchmarks/results/model_size_sweep.jsonl; done

One size per process, so the peak RSS is that fit's alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tabargn import TabularARGN
from tabargn.evaluation import evaluate

DATA = Path(__file__).resolve().parent / "work" / "data"


def run(cell: str, size: str, draws: int = 2) -> dict:
    """Fits and scores one cell at one size; returns the JSON-ready summary."""
    train = pd.read_parquet(DATA / cell / "train.parquet")
    holdout = pd.read_parquet(DATA / cell / "holdout.parquet")
    if "remarks" in train:
        train, holdout = train.drop(columns=["remarks"]), holdout.drop(columns=["remarks"])
    started = time.perf_counter()
    model = TabularARGN(random_state=0, verbose=0, model_size=size).fit(train)
    fit_s = time.perf_counter() - started
    samples = [model.sample(len(train)) for _ in range(draws)]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    scores = []
    for k, synthetic in enumerate(samples):
        s = evaluate(train, synthetic, holdout, attacks=False, random_state=k).summary()
        scores.append(
            [1 - s["univariate_accuracy"], 1 - s["bivariate_accuracy"], s["detection_score"]]
        )
    col, pair, detection = np.mean(scores, axis=0)
    return {
        "cell": cell,
        "model_size": size,
        "resolved": model.training_["model_size"],
        "fit_s": round(fit_s, 1),
        "epochs": model.training_["epochs"],
        "peak_rss_mb": int(rss),
        "col_tvd": round(float(col), 4),
        "pair_tvd": round(float(pair), 4),
        "detection": round(float(detection), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cell", help="a folder of benchmarks/work/data, e.g. adult-sub2000")
    parser.add_argument("model_size", help="auto, small, medium or large")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(run(args.cell, args.model_size)), flush=True)


if __name__ == "__main__":
    main()
