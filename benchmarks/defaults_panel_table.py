"""Tables of the defaults panel (issue 13) from its JSON lines; prints Markdown.

Usage: ``python benchmarks/defaults_panel_table.py [benchmarks/results/defaults_panel.jsonl]``.
The lines come from :mod:`benchmarks.defaults_panel` (one fit each). Sections: every fit; the
batch rules against ``current`` cell by cell (CPU ratio, change of validation loss and of TVD);
the seed-to-seed spread; the per-column TVD of the 2k/5k fits against the holdout's, with what
value protection removes from each column (rows in categories held by fewer than 7 rows, rows
beyond the 7th smallest/largest value) and the fit without value protection where there is one.
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict

import numpy as np
import pandas as pd

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from defaults_panel import panel_split  # noqa: E402

K = 7  # the largest value-protection threshold (tabargn.encoding.value_protection.K_MAX)


def load(path: str) -> list[dict]:
    return [json.loads(line) for line in open(path) if line.strip()]


def fits_table(rows: list[dict]) -> str:
    out = [
        "| table | rows | rule | batch | lr | CPU s | epochs (best) | best val | col TVD | pair TVD "
        "| col TVD 10k | pair TVD 10k | holdout col TVD | holdout pair TVD |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seed = f" s{r['seed']}" if r["seed"] else ""
        vp = " no-VP" if not r["value_protection"] else ""
        cap = " (cut)" if r["capped"] else ""
        out.append(
            f"| {r['table']} | {r['rows']} | {r['rule']}{seed}{vp} | {r['batch']} | {r['lr']} "
            f"| {r['fit_cpu_s']}{cap} | {r['epochs']} ({r['best_epoch']}) | {r['best_val']:.3f} "
            f"| {r['col_tvd']:.4f} | {r['pair_tvd']:.4f} | {r['col_tvd_big']:.4f} "
            f"| {r['pair_tvd_big']:.4f} | {r['holdout_col_tvd']:.4f} | {r['holdout_pair_tvd']:.4f} |"
        )
    return "\n".join(out)


def versus_current(rows: list[dict]) -> str:
    base = {
        (r["table"], r["rows"]): r
        for r in rows
        if r["rule"] == "current" and r["seed"] == 0 and r["value_protection"]
    }
    out = [
        "| table | rows | rule | batch vs current | CPU ratio | val loss change | "
        "col TVD 10k change | pair TVD 10k change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = base.get((r["table"], r["rows"]))
        if b is None or r is b or r["seed"] != 0 or not r["value_protection"]:
            continue
        out.append(
            f"| {r['table']} | {r['rows']} | {r['rule']} | {r['batch']} vs {b['batch']} "
            f"| {r['fit_cpu_s'] / b['fit_cpu_s']:.2f} "
            f"| {100 * (r['best_val'] / b['best_val'] - 1):+.2f} % "
            f"| {r['col_tvd_big'] - b['col_tvd_big']:+.4f} "
            f"| {r['pair_tvd_big'] - b['pair_tvd_big']:+.4f} |"
        )
    return "\n".join(out)


def seed_spread(rows: list[dict]) -> str:
    by = defaultdict(list)
    for r in rows:
        if r["value_protection"]:
            by[(r["table"], r["rows"], r["rule"])].append(r)
    out = [
        "| table | rows | rule | CPU s (seeds 0, 1) | best val | col TVD 10k | pair TVD 10k |",
        "|---|---|---|---|---|---|---|",
    ]
    for (t, n, rule), rs in by.items():
        if len(rs) < 2:
            continue
        rs = sorted(rs, key=lambda r: r["seed"])

        def pair(key, fmt, rs=rs):
            return ", ".join(format(r[key], fmt) for r in rs)

        out.append(
            f"| {t} | {n} | {rule} | {pair('fit_cpu_s', '.1f')} | {pair('best_val', '.3f')} "
            f"| {pair('col_tvd_big', '.4f')} | {pair('pair_tvd_big', '.4f')} |"
        )
    return "\n".join(out)


def protected_share(s: pd.Series) -> tuple[str, float]:
    """(kind, share of rows value protection changes) with the largest threshold ``K``."""
    v = s.dropna()
    if len(v) == 0:
        return "empty", 0.0
    if pd.api.types.is_numeric_dtype(v) or pd.api.types.is_datetime64_any_dtype(v):
        if v.nunique() <= 8 or pd.api.types.is_bool_dtype(v):
            kind = "discrete"
        else:
            kind = "numeric" if pd.api.types.is_numeric_dtype(v) else "datetime"
        o = np.sort(v.to_numpy())
        if len(o) < 2 * K:
            return kind, 1.0
        lo, hi = o[K - 1], o[-K]
        tails = float(((v < lo) | (v > hi)).mean())
        counts = v.value_counts()
        rare = float(counts[counts < K].sum() / len(v)) if v.nunique() <= 64 else 0.0
        return kind, (tails if kind != "discrete" else 0.0) + rare
    counts = v.astype(str).value_counts()
    return f"categorical ({len(counts)})", float(counts[counts < K].sum() / len(s))


def per_column(rows: list[dict], top: int = 4) -> str:
    """Worst columns (sample TVD minus holdout TVD) of each 2k/5k table, current rule, seed 0."""
    novp = {(r["table"], r["rows"]): r for r in rows if not r["value_protection"]}
    vp = {
        (r["table"], r["rows"], r["rule"]): r
        for r in rows
        if r["value_protection"] and r["seed"] == 0
    }
    out = [
        "| table | rows | column | kind (categories) | rows VP changes | TVD 2k sample | "
        "TVD 10k sample | holdout TVD | TVD 10k, min128 VP on / off |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (t, n, rule), r in sorted(vp.items()):
        if rule != "current" or n > 5000:
            continue
        train, _ = panel_split(t, n)
        gap = {c: r["per_column_big"][c] - r["holdout_per_column"][c] for c in r["per_column"]}
        for c in sorted(gap, key=gap.get, reverse=True)[:top]:
            kind, share = protected_share(train[c])
            on, off = vp.get((t, n, "min128")), novp.get((t, n))
            onoff = (
                f"{on['per_column_big'][c]:.4f} / {off['per_column_big'][c]:.4f}"
                if on and off
                else ""
            )
            out.append(
                f"| {t} | {n} | {c} | {kind} | {100 * share:.1f} % | {r['per_column'][c]:.4f} "
                f"| {r['per_column_big'][c]:.4f} | {r['holdout_per_column'][c]:.4f} | {onoff} |"
            )
    return "\n".join(out)


def vp_dominated(rows: list[dict], share: float = 0.5) -> str:
    """Mean column TVD without the columns where value protection changes most rows.

    An identifier-like column (baseball ``id``, flights ``tailnum``, lending ``emp_title``) has
    almost no category held by 7 rows in a small sample: value protection removes them, and the
    rows of removed categories decode to the few kept ones (:mod:`tabargn.encoding.categorical`),
    so the column's TVD is close to the removed share whatever the training does.
    """
    out = [
        "| table | rows | columns left out (rows VP changes) | col TVD 10k, current | "
        "min128 | holdout col TVD | same, all columns: current / holdout |",
        "|---|---|---|---|---|---|---|",
    ]
    cells = sorted({(r["table"], r["rows"]) for r in rows})
    for t, n in cells:
        by = {
            r["rule"]: r
            for r in rows
            if (r["table"], r["rows"]) == (t, n) and r["seed"] == 0 and r["value_protection"]
        }
        if "current" not in by:
            continue
        train, _ = panel_split(t, n)
        shares = {c: protected_share(train[c])[1] for c in train.columns}
        drop = [c for c, v in shares.items() if v > share]
        keep = [c for c in train.columns if c not in drop]

        def mean(r, key, keep=keep):
            return float(np.mean([r[key][c] for c in keep]))

        cur, m128 = by["current"], by.get("min128")
        m128_tvd = f"{mean(m128, 'per_column_big'):.4f}" if m128 else ""
        out.append(
            f"| {t} | {n} | {', '.join(f'{c} ({100 * shares[c]:.0f} %)' for c in drop) or '-'} "
            f"| {mean(cur, 'per_column_big'):.4f} "
            f"| {m128_tvd} "
            f"| {mean(cur, 'holdout_per_column'):.4f} "
            f"| {cur['col_tvd_big']:.4f} / {cur['holdout_col_tvd']:.4f} |"
        )
    return "\n".join(out)


def stop_epoch(history: list, patience: int, min_improvement: float = 5e-4) -> tuple[int, float]:
    """(epochs run, best validation loss) had early stopping used ``patience``.

    Replays :class:`tabargn.trainer.RelativeEarlyStopping` on a fit's validation history. Exact
    for patience 3 and 4 against the default 5: the plateau patience of the learning rate
    (``max(1, patience // 2 - 1)``) is 1 epoch for all three, so the epochs before the stop are
    the same.
    """
    best, wait = math.inf, 0
    for i, (_, loss, _) in enumerate(history):
        if loss + abs(loss) * min_improvement < best:
            best, wait = loss, 0
        else:
            wait += 1
            if wait >= patience:
                return i + 1, min(h[1] for h in history[: i + 1])
    return len(history), min(h[1] for h in history)


def patience_replay(rows: list[dict]) -> str:
    out = ["| fit | epochs | patience 4: epochs, val change | patience 3: epochs, val change |"]
    out.append("|---|---|---|---|")
    for r in rows:
        best = min(h[1] for h in r["history"])
        cells = []
        for p in (4, 3):
            e, v = stop_epoch(r["history"], p)
            cells.append(f"{e}, {100 * (v / best - 1):+.2f} %")
        out.append(f"| {r['cell']} | {len(r['history'])} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def main() -> None:
    rows = load(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/defaults_panel.jsonl")
    order = {"current": 0, "min64": 1, "min128": 2, "r32": 3}
    rows.sort(
        key=lambda r: (
            r["table"],
            r["rows"],
            not r["value_protection"],
            r["seed"],
            order[r["rule"]],
        )
    )
    print("## Every fit\n")
    print(fits_table(rows))
    print("\n## Against the current rule (same table, size, seed 0)\n")
    print(versus_current(rows))
    print("\n## Seed to seed\n")
    print(seed_spread(rows))
    print("\n## Without the columns value protection dominates (> 50 % of rows changed)\n")
    print(vp_dominated(rows))
    print("\n## Early-stopping patience replayed on each fit's validation history\n")
    print(patience_replay(rows))
    print("\n## Per column: the columns furthest from the holdout (2k and 5k rows, current rule)\n")
    print(per_column(rows))


if __name__ == "__main__":
    main()
