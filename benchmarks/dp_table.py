"""Rebuilds ``results/<name>.json`` and ``.md`` from the JSON lines a ``benchmarks/dp.py`` run
printed (for a run stopped before its end wrote them; the rows are the run's own records).

    python benchmarks/dp_table.py RUN.log NAME --epsilon 4 --epochs 10 [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METRICS = ("univariate_accuracy", "bivariate_accuracy", "detection_score")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("log")
    p.add_argument("name")
    p.add_argument("--epsilon", type=float, default=4.0)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--note", default="")
    a = p.parse_args()
    runs = [json.loads(x) for x in Path(a.log).read_text().splitlines() if x.startswith("{")]
    res = Path(__file__).resolve().parent / "results"
    meta = {"epsilon": a.epsilon, "epochs_cap": a.epochs, "note": a.note}
    (res / f"{a.name}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2))
    lines = [
        f"# End-to-end DP at epsilon = {a.epsilon} (total), one run",
        "",
        f"Every generator capped at {a.epochs} epochs, seed 0, one torch thread, on the shared "
        "2-core machine (load average 10-16 during the run). " + a.note,
        "",
        "| dataset | generator | reported epsilon | univariate | bivariate | detection | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        eps = (r.get("privacy") or {}).get("epsilon")
        cells = [r["dataset"], r["generator"], "-" if eps is None else f"{eps:.3f}"]
        cells += [
            "error" if "error" in r else ("-" if r.get(m) is None else f"{r[m]:.4f}")
            for m in METRICS
        ]
        cells.append("-" if "fit_s" not in r else f"{r['fit_s']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    if runs and runs[0].get("univariate_accuracy_max") is not None:
        r = runs[0]
        lines += [
            "",
            f"Holdout ceiling: univariate {r['univariate_accuracy_max']:.4f}, bivariate "
            f"{r['bivariate_accuracy_max']:.4f}.",
        ]
    (res / f"{a.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
