"""Issue 13's panel table: tabargn against mostlyai-engine, cell by cell, with each target checked.

Usage::

    python benchmarks/panel_table.py RUN_ID [RUN_ID ...] [--results benchmarks/results]

Reads ``<results>/<label>__tabargn.json`` and ``<label>__mostlyai-engine.json`` of every dataset
label whose two runs carry one of the given run ids (``benchmarks/panel_vs_peer.sh`` writes them;
the same id, or two of the given ones when one tool's run is reused) and prints a Markdown
table. Per cell (both generators fitted in the same invocation, one after the other, so both saw
the same machine):

* fit: tabargn's fit wall seconds over mostlyai-engine's (target <= 0.5), with the fit CPU
  seconds' ratio beside it;
* sampling: tabargn's sampling rows/s over mostlyai-engine's (target >= 3);
* memory: peak RSS of the worker process tree, ratio (target <= 1);
* column TVD (``1 - univariate accuracy``): no worse than mostlyai-engine's and within 1.5x the
  real holdout's (``1 - univariate_accuracy_max``);
* pair TVD (``1 - bivariate accuracy``) and the detection score: no worse than mostlyai-engine's.

A target that holds is marked ``ok``; the last column lists the targets missed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER = "mostlyai-engine"


def load_cells(results: Path, run_ids: set[str]) -> list[tuple[dict, dict]]:
    """(tabargn JSON, mostlyai-engine JSON) pairs of the same dataset label and a wanted run id."""
    cells = []
    for path in sorted(results.glob("*__tabargn.json")):
        ours = json.loads(path.read_text())
        peer_path = path.with_name(path.name.replace("__tabargn.json", f"__{PEER}.json"))
        if not peer_path.exists() or ours.get("run_id") not in run_ids:
            continue
        peer = json.loads(peer_path.read_text())
        # the same invocation; or two given run ids (census in full reuses the peer's
        # 54-minute run on the same split: the table says so)
        if peer.get("run_id") != ours["run_id"] and peer.get("run_id") not in run_ids:
            continue
        if (
            ours.get("status") == peer.get("status") == "ok"
            and ours.get("metrics")
            and peer.get("metrics")
        ):
            cells.append((ours, peer))
    return cells


def cell_row(ours: dict, peer: dict) -> tuple[list[str], list[str]]:
    """The table row of one cell and the names of the targets it misses."""
    w_o, w_p = ours["worker"], peer["worker"]
    m_o, m_p = ours["metrics"], peer["metrics"]
    fit = w_o["fit_s"] / w_p["fit_s"]
    fit_cpu = w_o["fit_cpu_s"] / w_p["fit_cpu_s"]
    speed = w_o["sample_rows_per_s"] / w_p["sample_rows_per_s"]
    mem = w_o["peak_rss_mb"] / w_p["peak_rss_mb"]
    col_o, col_p = 1 - m_o["univariate_accuracy"], 1 - m_p["univariate_accuracy"]
    col_h = 1 - m_o["univariate_accuracy_max"]
    pair_o, pair_p = 1 - m_o["bivariate_accuracy"], 1 - m_p["bivariate_accuracy"]
    det_o, det_p = m_o["detection_score"], m_p["detection_score"]
    checks = {
        "fit": fit <= 0.5,
        "sampling": speed >= 3,
        "memory": mem <= 1,
        "col TVD vs peer": col_o <= col_p,
        "col TVD vs 1.5x holdout": col_o <= 1.5 * col_h,
        "pair TVD": pair_o <= pair_p,
        "detection": det_o >= det_p,
    }

    def mark(ok: bool) -> str:
        return " ok" if ok else ""

    row = [
        ours["dataset"],
        f"{ours['n_train']:,} x {ours['n_columns']}",
        f"{w_o['fit_s']:.0f} / {w_p['fit_s']:.0f}",
        f"**{fit:.2f}**{mark(checks['fit'])} (CPU {fit_cpu:.2f})",
        f"{w_o['sample_rows_per_s']:,.0f} / {w_p['sample_rows_per_s']:,.0f}",
        f"**{speed:.2f}**{mark(checks['sampling'])}",
        f"{w_o['peak_rss_mb']:,.0f} / {w_p['peak_rss_mb']:,.0f} ({mem:.2f}){mark(checks['memory'])}",
        f"{col_o:.4f} / {col_p:.4f} / {col_h:.4f}"
        f"{mark(checks['col TVD vs peer'] and checks['col TVD vs 1.5x holdout'])}",
        f"{pair_o:.4f} / {pair_p:.4f} / {1 - m_o['bivariate_accuracy_max']:.4f}"
        f"{mark(checks['pair TVD'])}",
        f"{det_o:.3f} / {det_p:.3f}{mark(checks['detection'])}",
    ]
    missed = [name for name, ok in checks.items() if not ok]
    return row, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_ids", nargs="+")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    cells = load_cells(args.results, set(args.run_ids))
    if not cells:
        raise SystemExit(f"no complete tabargn / {PEER} pair with run id {args.run_ids}")
    head = [
        "cell",
        "train rows x cols",
        "fit s (tabargn / peer)",
        "fit ratio (<= 0.5)",
        "sample rows/s",
        "sampling ratio (>= 3)",
        "peak MB (ratio <= 1)",
        "col TVD (tabargn / peer / holdout)",
        "pair TVD (tabargn / peer / holdout)",
        "detection (tabargn / peer)",
    ]
    print("| " + " | ".join(head) + " | targets missed |")
    print("|" + "---|" * (len(head) + 1))
    for ours, peer in cells:
        row, missed = cell_row(ours, peer)
        print("| " + " | ".join(row) + " | " + (", ".join(missed) or "none") + " |")


if __name__ == "__main__":
    main()
