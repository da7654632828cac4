"""Figures of the HTML report (matplotlib object-oriented API, Agg canvas, no pyplot)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

REAL_COLOR = "#4c72b0"
SYN_COLOR = "#dd8452"
HOLD_COLOR = "#55a868"


def _short(label: str, n: int = 22) -> str:
    label = str(label)
    return label if len(label) <= n else label[: n - 1] + "…"


def column_figure(item: dict, accuracy: float | None = None) -> Figure:
    """Real vs synthetic distribution of one column (from ``fidelity.column_histograms``)."""
    fig = Figure(figsize=(4.2, 3.0), dpi=80, layout="constrained")
    ax = fig.add_subplot()
    title = _short(item["name"], 34)
    if accuracy is not None and np.isfinite(accuracy):
        title += f"  (acc {accuracy:.3f})"
    fig.suptitle(title, fontsize=10)
    if "labels" in item:
        labels = list(item["labels"])
        real, syn = np.asarray(item["real"]), np.asarray(item["synthetic"])
        keep = (real > 0) | (syn > 0)
        keep[: max(0, len(labels) - 2)] |= True  # always show the top categories
        idx = np.flatnonzero(keep)
        y = np.arange(len(idx))
        ax.barh(y - 0.2, real[idx], height=0.4, color=REAL_COLOR, label="real")
        ax.barh(y + 0.2, syn[idx], height=0.4, color=SYN_COLOR, label="synthetic")
        ax.set_yticks(y, [_short(labels[i]) for i in idx], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("share of rows", fontsize=8)
    else:
        edges = np.asarray(item["edges"], dtype=float)
        x = edges
        if item["kind"] == "datetime":
            import matplotlib.dates as mdates

            x = mdates.date2num(pd.to_datetime(edges, unit="s").to_pydatetime())
            loc = mdates.AutoDateLocator(minticks=3, maxticks=5)
            ax.xaxis.set_major_locator(loc)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        ax.stairs(item["real"], x, fill=True, color=REAL_COLOR, alpha=0.45, label="real")
        ax.stairs(item["synthetic"], x, color=SYN_COLOR, linewidth=1.6, label="synthetic")
        ax.set_ylabel("share of rows", fontsize=8)
        mr, ms = item.get("missing_real", 0.0), item.get("missing_synthetic", 0.0)
        if mr > 0 or ms > 0:
            ax.set_xlabel(f"missing: real {mr:.1%}, synthetic {ms:.1%}", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(
        fontsize=7,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2,
        frameon=False,
        borderaxespad=0.2,
    )
    return fig


def association_figure(real: pd.DataFrame, synthetic: pd.DataFrame) -> Figure:
    """Heatmaps of Cramér's V between binned columns: real, synthetic, |difference|.

    The difference panel has its own colour scale (from 0 to the largest difference, at
    least 0.05) so that small gaps stay visible.
    """
    m = len(real)
    side = min(6.0, max(3.2, 0.2 * m + 1.5))
    fig = Figure(figsize=(3 * side + 2.0, side + 0.9), dpi=80, layout="constrained")
    axes = fig.subplots(1, 3)
    labels = [_short(c, 18) for c in real.columns]
    diff = (real - synthetic).abs().to_numpy(dtype=float)
    dmax = max(0.05, float(np.nanmax(diff)) if diff.size else 0.0)
    fs = 7 if m <= 20 else 5
    for ax, mat, title, cmap, vmax in (
        (axes[0], real.to_numpy(dtype=float), "real", "viridis", 1.0),
        (axes[1], synthetic.to_numpy(dtype=float), "synthetic", "viridis", 1.0),
        (axes[2], diff, "|real − synthetic|", "magma", dmax),
    ):
        im = ax.imshow(mat, vmin=0, vmax=vmax, cmap=cmap)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(m), labels, rotation=90, fontsize=fs)
        ax.set_yticks(range(m), labels if ax is axes[0] else [""] * m, fontsize=fs)
        if ax is not axes[0]:
            cb = fig.colorbar(im, ax=ax, shrink=0.8)
            cb.ax.tick_params(labelsize=7)
            if ax is axes[1]:
                cb.set_label("Cramér's V", fontsize=8)
    return fig


def dcr_figure(dcr: dict[str, np.ndarray], share: float | None) -> Figure:
    """Distributions of the distances to the closest record."""
    fig = Figure(figsize=(7.5, 3.4), dpi=80, layout="constrained")
    ax = fig.add_subplot()
    series = [
        ("synthetic → train", dcr.get("synthetic_to_train"), SYN_COLOR, True),
        ("holdout → train (reference)", dcr.get("holdout_to_train"), HOLD_COLOR, False),
        ("synthetic → holdout", dcr.get("synthetic_to_holdout"), REAL_COLOR, False),
    ]
    allv = np.concatenate([s[1] for s in series if s[1] is not None])
    hi = float(np.quantile(allv, 0.99)) if len(allv) else 1.0
    bins = np.linspace(0, hi if hi > 0 else 1.0, 41)
    for label, v, color, filled in series:
        if v is None:
            continue
        h = np.histogram(np.clip(v, 0, bins[-1]), bins=bins)[0] / max(len(v), 1)
        ax.stairs(
            h,
            bins,
            fill=filled,
            alpha=0.45 if filled else 1.0,
            color=color,
            label=label,
            linewidth=1.6,
        )
    ax.set_xlabel("distance to closest record (embedding units)", fontsize=9)
    ax.set_ylabel("share of rows", fontsize=9)
    title = "Distance to closest record"
    if share is not None:
        title += f" — DCR share {share:.3f} (0.5 ideal)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.tick_params(labelsize=8)
    return fig


def alpha_beta_figure(curves: dict) -> Figure:
    """alpha-precision and beta-recall curves against the diagonal."""
    fig = Figure(figsize=(6.4, 3.2), dpi=80, layout="constrained")
    axes = fig.subplots(1, 2)
    a = curves["alpha"]
    for ax, y, name, color in (
        (axes[0], curves["precision_curve"], "α-precision P(α)", SYN_COLOR),
        (axes[1], curves["recall_curve"], "β-recall R(β)", REAL_COLOR),
    ):
        ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1, label="ideal")
        ax.plot(a, y, color=color, marker="o", markersize=3, label="synthetic")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("α" if ax is axes[0] else "β", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=8, frameon=False)
    return fig
