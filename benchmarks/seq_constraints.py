"""Constraints on sequences (issue #16): the figure of the README's Constraints section for
sequential models.

Baseball seasons per player (``/work/shared/data/baseball.parquet``, entity ``id``, order
``year``), players split 80/20 (train/holdout) with seed 0, plus ``xbh`` (extra-base hits =
doubles + triples + home runs, a column that is an exact sum, as in the flat benchmark's
``paid_total``). One model is fitted with five event rules (``RULES``); the rules only act on
sampling, so the same fitted network samples as many entities as training had with the rules
and without them (``model.sequential_.constraints`` emptied), twice each, alternating, in one
run. Reported: the share of generated events that satisfy each rule, the sequential fidelity
measures of ``benchmarks/sequential.py`` (``tabargn.evaluate(train, synthetic, holdout,
entity_key, order_by)``), and the sampling speed (best of the two timings of each; constrained
/ unconstrained).

    PYTHONPATH=. python benchmarks/seq_constraints.py --epochs 20 \\
        --out benchmarks/results/seq_constraints.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tabargn import TabularARGN, evaluate  # noqa: E402
from tabargn.constraints import (  # noqa: E402
    FixedCombinations,
    Inequality,
    Predicate,
    Range,
    Sum,
)

DATA = Path("/work/shared/data")
METRICS = [
    "sequence_length_accuracy",
    "coherence_pair_accuracy",
    "coherence_diff_accuracy",
    "entity_aggregate_accuracy",
    "univariate_accuracy",
    "bivariate_accuracy",
]


def xbh_within_hits(d: pd.DataFrame):
    """Extra-base hits never exceed hits."""
    return (d["X2b"] + d["X3b"] + d["hr"] <= d["h"]).to_numpy()


RULES = [
    FixedCombinations(["team", "lg"]),
    Inequality("h", "ab"),
    Range("g", 0, 165),
    Sum(["X2b", "X3b", "hr"], "xbh"),
    Predicate(xbh_within_hits, ["X2b", "X3b", "hr", "h"], name="xbh_le_h"),
]


def _split(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_parquet(DATA / "baseball.parquet")
    df["xbh"] = df["X2b"] + df["X3b"] + df["hr"]
    keys = pd.unique(df["id"])
    hold = set(keys[np.random.default_rng(seed).permutation(len(keys))[: len(keys) // 5]])
    test = df["id"].isin(hold)
    return df[~test].reset_index(drop=True), df[test].reset_index(drop=True)


def _timed(model, n: int) -> tuple[pd.DataFrame, float]:
    model.restart_sampling()
    start = time.perf_counter()
    events = model.sample(n_entities=n)
    return events, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/seq_constraints.md")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    train, holdout = _split()
    n = int(train["id"].nunique())
    fit_start = time.perf_counter()
    model = TabularARGN(random_state=0, max_epochs=args.epochs, verbose=0, constraints=RULES).fit(
        train, entity_key="id", order_by="year"
    )
    fit_s = time.perf_counter() - fit_start
    rules = model.sequential_.constraints
    runs: dict[str, list] = {"off": [], "on": []}
    for _ in range(2):  # alternate, so that load changes hit both alike
        model.sequential_.constraints = []
        runs["off"].append(_timed(model, n))
        model.sequential_.constraints = rules
        runs["on"].append(_timed(model, n))
    rows = {}
    for name, results in runs.items():
        events = results[0][0]
        seconds = min(s for _, s in results)
        report = evaluate(
            train, events, holdout, entity_key="id", order_by="year", attacks=False
        ).summary()
        rows[name] = {
            "events": len(events),
            "seconds": round(seconds, 2),
            "events_per_s": round(len(events) / seconds, 1),
            "redraws": int(events.attrs.get("constraint_redraws", 0)),
            "satisfied": {repr(r): float(r.satisfied(events).mean()) for r in rules},
            "all_rules": float(np.logical_and.reduce([r.satisfied(events) for r in rules]).mean()),
            **{m: report.get(m) for m in METRICS},
        }
    real = {repr(r): float(r.satisfied(train).mean()) for r in rules}
    result = {
        "train_events": len(train),
        "train_entities": n,
        "epochs": model.training_.get("epochs"),
        "fit_s": round(fit_s, 1),
        "real": real,
        "runs": rows,
        "speed_ratio": round(rows["on"]["events_per_s"] / rows["off"]["events_per_s"], 3),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    out.write_text(_markdown(result, args))
    print(out.read_text())


def _markdown(result: dict, args) -> str:
    on, off = result["runs"]["on"], result["runs"]["off"]
    lines = [
        "# Constraints on sequences: baseball",
        "",
        f"Written by `benchmarks/seq_constraints.py --epochs {args.epochs} --threads "
        f"{args.threads}` (see its docstring). {result['train_entities']} training players "
        f"({result['train_events']:,} seasons), holdout 20 % of the players; fit "
        f"{result['fit_s']} s, {result['epochs']} epochs. Each column samples as many players "
        "as training had from the same fitted network, rules off and on; 2 shared, busy CPU "
        "cores (timings: best of two alternating runs).",
        "",
        "| share of generated events satisfying | real training events | rules off | rules on |",
        "|---|---|---|---|",
    ]
    for rule, real in result["real"].items():
        lines.append(
            f"| `{rule}` | {real:.4f} | {off['satisfied'][rule]:.4f} | "
            f"{on['satisfied'][rule]:.4f} |"
        )
    lines.append(f"| every rule | 1.0000 | {off['all_rules']:.4f} | {on['all_rules']:.4f} |")
    lines += ["", "| measure | rules off | rules on | on - off |", "|---|---|---|---|"]
    for m in METRICS:
        a, b = off[m], on[m]
        diff = "" if a is None or b is None else f"{b - a:+.4f}"
        lines.append(f"| {m} | {a:.4f} | {b:.4f} | {diff} |")
    lines += [
        f"| events | {off['events']:,} | {on['events']:,} | |",
        f"| sampling s | {off['seconds']} | {on['seconds']} | |",
        f"| events/s | {off['events_per_s']:,} | {on['events_per_s']:,} | "
        f"ratio {result['speed_ratio']:.2f}x |",
        f"| events drawn again (Predicate rejections) | - | {on['redraws']:,} | |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
