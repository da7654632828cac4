"""Constraints and fairness benchmark (issue #16): the figures of the README's Constraints section.

Part A (lending_club_loans, 80/20 split, ``emp_title`` dropped as free text, ``paid_total``
rebuilt as the exact sum of its parts): one model fitted with nine rules; ``--rows`` rows
sampled with and without them (the same fitted network: the rules only act on sampling), then
with ``conditions`` and ``where`` on top. Reported: rows breaking each rule, column and pair TVD
(1 - univariate / bivariate accuracy of :func:`tabargn.evaluate`) and sampling speed.

Part B (Adult, its own train/test split): a model sampled plainly and with
``fairness={"target": "income", "sensitive": ["sex", "race"]}``. Reported: parity gaps (real,
unconstrained, fair), fidelity, TSTR (``tstr_score`` of :func:`tabargn.evaluate`) and the
accuracy of a HistGradientBoosting classifier trained on each table and tested on the real
test split.

    PYTHONPATH=. python benchmarks/constraints.py --rows 100000 \
        --out benchmarks/results/constraints.md
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
    Range,
    Sum,
    parity_gap,
)

DATA = Path("/work/shared/data")
LENDING_RULES = [
    FixedCombinations(["grade", "sub_grade"]),
    FixedCombinations(["loan_purpose", "application_type"]),
    Inequality("open_credit_lines", "total_credit_lines"),
    Inequality("num_open_cc_accounts", "num_total_cc_accounts"),
    Inequality("balance", "loan_amount"),
    Inequality("paid_principal", "loan_amount"),
    Range("interest_rate", 5.0, 31.0),
    Range("debt_to_income", 0, None),
    Sum(["paid_principal", "paid_interest", "paid_late_fees"], "paid_total"),
]


def _split(df: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    idx = np.random.default_rng(seed).permutation(len(df))
    cut = int(0.8 * len(df))
    return df.iloc[idx[:cut]].reset_index(drop=True), df.iloc[idx[cut:]].reset_index(drop=True)


def _violations(rules, df: pd.DataFrame) -> dict[str, int]:
    return {repr(r)[:70]: int((~r.satisfied(df)).sum()) for r in rules}


def _timed_sample(model, **kwargs) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    out = model.sample(**kwargs)
    return out, time.perf_counter() - start


LENDING_COLUMNS = [
    "grade", "sub_grade", "loan_purpose", "application_type", "homeownership", "annual_income",
    "debt_to_income", "interest_rate", "loan_amount", "term", "installment", "balance",
    "paid_principal", "paid_interest", "paid_late_fees", "paid_total", "open_credit_lines",
    "total_credit_lines", "num_open_cc_accounts", "num_total_cc_accounts",
]  # fmt: skip


def lending(rows: int, max_time: float, all_columns: bool = False) -> dict:
    df = pd.read_parquet(DATA / "lending_club_loans.parquet").drop(columns=["emp_title"])
    if not all_columns:  # the rule columns and a few others: a hotel-rates-sized table
        df = df[LENDING_COLUMNS]
    parts = df[["paid_principal", "paid_interest", "paid_late_fees"]].sum(axis=1)
    df["paid_total"] = parts.round(2)
    train, holdout = _split(df)
    model = TabularARGN(constraints=LENDING_RULES, max_time=max_time, random_state=0, verbose=0)
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    rules = model.constraints_
    model.constraints_ = []  # the same network without rules
    model.restart_sampling()
    plain, plain_s = _timed_sample(model, n_samples=rows)
    model.constraints_ = rules
    model.restart_sampling()
    constrained, cons_s = _timed_sample(model, n_samples=rows)
    rng = np.random.default_rng(1)
    conditions = pd.DataFrame({"grade": rng.choice(["A", "B", "C", "D"], rows)})
    where = {"interest_rate": (8.0, 20.0), "loan_amount": (5000, None)}
    cond, cond_s = _timed_sample(model, conditions=conditions, where=where)
    out = {"fit_s": fit_s, "epochs": model.training_.get("epochs"), "runs": {}}
    out["columns"] = df.shape[1]
    for name, synth, secs in [
        ("unconstrained", plain, plain_s),
        ("constrained", constrained, cons_s),
        ("constrained + conditions + where", cond, cond_s),
    ]:
        report = evaluate(train, synth, holdout, target="grade", constraints=rules)
        s = report.summary()
        bad = ~np.logical_and.reduce([r.satisfied(synth) for r in rules])
        where_ok = "where" not in name or bool(
            synth["interest_rate"].between(8.0, 20.0).all() and (synth["loan_amount"] >= 5000).all()
        )
        out["runs"][name] = {
            "rows": len(synth),
            "rows_breaking_a_rule": int(bad.sum()),
            "share_satisfying_all": float(1 - bad.mean()),
            "where_and_conditions_hold": where_ok
            and ("conditions" not in name or bool((synth["grade"] == conditions["grade"]).all())),
            "per_rule": _violations(rules, synth),
            "redrawn_rows": int(synth.attrs.get("constraint_redraws", 0)),
            "column_tvd": 1 - s["univariate_accuracy"],
            "pair_tvd": 1 - s["bivariate_accuracy"],
            "tstr_score": s["tstr_score"],
            "sample_s": secs,
            "rows_per_s": len(synth) / secs,
        }
    out["real_rows_breaking_a_rule"] = _violations(rules, train)
    return out


def _accuracy(train: pd.DataFrame, test: pd.DataFrame, target: str) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    def xy(d):
        x = d.drop(columns=[target]).copy()
        for c in x.columns:
            if x[c].dtype == object:
                x[c] = x[c].astype("category")
        return x, d[target].astype(str)

    xt, yt = xy(train)
    xs, ys = xy(test)
    for c in xt.columns:
        if str(xt[c].dtype) == "category":
            cats = sorted(set(xt[c].dropna()) | set(xs[c].dropna()))
            xt[c] = pd.Categorical(xt[c], categories=cats)
            xs[c] = pd.Categorical(xs[c], categories=cats)
    clf = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    return float((clf.fit(xt, yt).predict(xs) == ys).mean())


def adult(max_time: float) -> dict:
    df = pd.read_parquet(DATA / "adult.parquet")
    train = df[df.split == "train"].drop(columns=["split"]).reset_index(drop=True)
    test = df[df.split == "test"].drop(columns=["split"]).reset_index(drop=True)
    fairness = {"target": "income", "sensitive": ["sex", "race"]}
    model = TabularARGN(max_time=max_time, random_state=0, verbose=0).fit(train)
    out = {"real": {**parity_gap(train, "income", ["sex", "race"])}}
    out["real"]["accuracy"] = _accuracy(train, test, "income")
    for name, kwargs in [("unconstrained", {}), ("fair", {"fairness": fairness})]:
        start = time.perf_counter()
        synth = model.sample(len(train), **kwargs)
        secs = time.perf_counter() - start
        s = evaluate(train, synth, test, target="income", fairness=fairness).summary()
        out[name] = {
            "parity_gap_sex": s["parity_gap_sex"],
            "parity_gap_race": s["parity_gap_race"],
            "column_tvd": 1 - s["univariate_accuracy"],
            "pair_tvd": 1 - s["bivariate_accuracy"],
            "tstr_score": s["tstr_score"],
            "trtr_score": s["trtr_score"],
            "accuracy": _accuracy(synth, test, "income"),
            "income_share_gt50k": float((synth["income"].astype(str).str.startswith(">")).mean()),
            "sample_s": secs,
        }
    return out


def markdown(a: dict, b: dict, rows: int, argv: str) -> str:
    lines = [
        "# Constraints and fairness (issue #16)",
        "",
        f"Command: `{argv}`. Machine: 2 shared CPU cores, busy with other work during the run "
        "(timings are noisy; the speed ratio compares runs made back to back).",
        "",
        f"## lending_club_loans ({a['columns']} columns): {rows:,} rows, 9 rules",
        "",
        f"Fit {a['fit_s']:.0f} s ({a['epochs']} epochs). The same fitted network samples without"
        " and with the rules.",
        "",
        "| run | rows | rows breaking a rule | share satisfying all | where/conditions hold |"
        " redrawn rows | column TVD | pair TVD | TSTR (grade) | rows/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in a["runs"].items():
        lines.append(
            f"| {name} | {r['rows']:,} | {r['rows_breaking_a_rule']} | "
            f"{100 * r['share_satisfying_all']:.3f} % | {r['where_and_conditions_hold']} | "
            f"{r['redrawn_rows']} | {r['column_tvd']:.4f} | {r['pair_tvd']:.4f} | "
            f"{r['tstr_score']:.3f} | {r['rows_per_s']:,.0f} |"
        )
    u, c = a["runs"]["unconstrained"], a["runs"]["constrained"]
    lines += [
        "",
        f"Constrained - unconstrained: column TVD {c['column_tvd'] - u['column_tvd']:+.4f}, "
        f"pair TVD {c['pair_tvd'] - u['pair_tvd']:+.4f}; speed ratio "
        f"{c['rows_per_s'] / u['rows_per_s']:.2f}x.",
        "",
        "Rows breaking each rule (unconstrained / constrained / with conditions+where / real "
        "training rows):",
        "",
        "| rule | unconstrained | constrained | + conditions + where | real |",
        "|---|---|---|---|---|",
    ]
    runs = list(a["runs"].values())
    for rule in runs[0]["per_rule"]:
        vals = " | ".join(str(r["per_rule"][rule]) for r in runs)
        lines.append(f"| `{rule}` | {vals} | {a['real_rows_breaking_a_rule'][rule]} |")
    lines += [
        "",
        "## Adult: fairness, target `income`, sensitive `sex` and `race`",
        "",
        "| table | parity gap sex | parity gap race | column TVD | pair TVD | TSTR (ROC AUC) |"
        " accuracy on test | share >50K |",
        "|---|---|---|---|---|---|---|---|",
        f"| real training | {b['real']['sex']:.4f} | {b['real']['race']:.4f} | - | - | - | "
        f"{b['real']['accuracy']:.4f} | - |",
    ]
    for name in ("unconstrained", "fair"):
        r = b[name]
        lines.append(
            f"| {name} sample | {r['parity_gap_sex']:.4f} | {r['parity_gap_race']:.4f} | "
            f"{r['column_tvd']:.4f} | {r['pair_tvd']:.4f} | {r['tstr_score']:.4f} | "
            f"{r['accuracy']:.4f} | {r['income_share_gt50k']:.4f} |"
        )
    f, u = b["fair"], b["unconstrained"]
    lines += [
        "",
        f"Cost of parity: accuracy {f['accuracy'] - u['accuracy']:+.4f}, TSTR "
        f"{f['tstr_score'] - u['tstr_score']:+.4f}, column TVD "
        f"{f['column_tvd'] - u['column_tvd']:+.4f}, pair TVD {f['pair_tvd'] - u['pair_tvd']:+.4f}"
        " against unconstrained sampling. Accuracy: HistGradientBoosting trained on the table, "
        "tested on Adult's real test split (TRTR accuracy is the real row).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--max-time", type=float, default=240.0, help="fit time cap (s)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--part", choices=["all", "lending", "adult"], default="all")
    parser.add_argument("--all-columns", action="store_true", help="all 54 loan columns")
    parser.add_argument("--adult-from", type=Path, help="reuse Part B from an earlier JSON")
    args = parser.parse_args()
    a = lending(args.rows, args.max_time, args.all_columns) if args.part != "adult" else None
    if args.adult_from is not None:
        b = json.loads(args.adult_from.read_text())["adult"]
    else:
        b = adult(args.max_time) if args.part != "lending" else None
    result = {"lending_club_loans": a, "adult": b}
    print(json.dumps(result, indent=2, default=float))
    if args.out is not None and a is not None and b is not None:
        argv = "python benchmarks/constraints.py " + " ".join(sys.argv[1:])
        args.out.write_text(markdown(a, b, args.rows, argv))
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
