"""The evaluation :class:`Report`: metrics grouped in sections, a flat summary, an HTML file.

The report is open: every metric group is a :class:`Section` (name, metrics, descriptions,
references, tables, figures), and other metric groups (sequences, text, ...) are added with
:meth:`Report.add_section`. Plots are drawn with matplotlib's object-oriented API
(``matplotlib.figure.Figure`` rendered by the Agg canvas, no ``pyplot`` state, no display) and
embedded in the HTML as base64 PNG, so the file is self-contained: no network access, no
external JavaScript or CSS.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from tabargn.errors import InvalidDataError

MAX_PLOTTED_COLUMNS = 30
"""Most columns shown as histograms and in the association heatmaps."""

METRIC_DESCRIPTIONS: dict[str, str] = {
    "univariate_accuracy": "1 − total variation distance of each column (deciles / top-10 "
    "categories), averaged over columns. 1 = same marginals.",
    "bivariate_accuracy": "1 − total variation distance of each pair of binned columns, "
    "averaged over pairs. 1 = same pairwise joint distributions.",
    "association_gap": "Mean |Cramér's V(real) − Cramér's V(synthetic)| over column pairs "
    "(binned columns). 0 = same dependence structure.",
    "shape_score": "sdmetrics Column Shapes: KSComplement (numeric, datetime) or TVComplement "
    "(categorical), averaged.",
    "trend_score": "sdmetrics Column Pair Trends: CorrelationSimilarity (two numeric) or "
    "ContingencySimilarity (other pairs), averaged over all pairs.",
    "alpha_precision": "α-precision (Alaa et al. 2022, k-NN version): do synthetic rows fall in "
    "the real data's α-supports as often as real rows do? 1 = yes for every α.",
    "beta_recall": "β-recall (Alaa et al. 2022, k-NN version): do real rows fall in the "
    "synthetic data's β-supports as often as expected? 1 = full, well-weighted coverage.",
    "detection_auc": "ROC AUC of a gradient-boosted classifier separating real from synthetic "
    "rows (cross-validated, balanced). 0.5 = indistinguishable.",
    "detection_score": "1 − 2·|AUC − 0.5|. 1 = indistinguishable, 0 = perfectly separable.",
    "tstr_score": "Train on synthetic, test on the holdout (ROC AUC / macro F1 / R²). Compare "
    "with TRTR.",
    "trtr_score": "Train on real training data, test on the holdout: the reference for TSTR.",
    "dcr_share": "Share of synthetic rows closer to a training row than to a holdout row "
    "(equal-size samples). 0.5 = no memorization, 1 = copies of training rows.",
    "identical_match_share": "Share of synthetic rows identical to some training row (all "
    "evaluated columns). Compare with the holdout's share.",
    "nndr": "Mean ratio of the distances to the nearest and second-nearest training row. Near "
    "0 = synthetic rows single out training rows; compare with the holdout.",
    "membership_auc": "Distance-based membership inference: AUC of telling training rows from "
    "holdout rows by their distance to the synthetic data. 0.5 = no leak.",
    "seconds": "Wall time of evaluate(), in seconds.",
}


@dataclass
class Section:
    """One group of metrics in a :class:`Report`.

    Attributes:
        name: Title of the section (unique within a report).
        metrics: Metric name -> value (float, or None when it could not be computed because an
            input was not given). Names are unique across the whole report.
        descriptions: Metric name -> one-line meaning shown in the summary table.
        references: Metric name -> name of another metric shown beside it as its reference
            (e.g. ``"univariate_accuracy" -> "univariate_accuracy_max"``); referenced metrics
            are not repeated as rows of the summary table.
        tables: Caption -> DataFrame shown under the section.
        figures: Items rendered as embedded PNG: a ``matplotlib.figure.Figure``, PNG
            ``bytes``, a callable returning one of these (drawn only when the HTML is written),
            or a ``(caption, item)`` tuple.
        notes: Free-text paragraphs shown under the section title.
    """

    name: str
    metrics: dict[str, float | None]
    descriptions: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Report:
    """Results of :func:`tabargn.evaluation.evaluate`.

    Attributes:
        sections: The metric groups, in display order (``fidelity``, ``detection``,
            ``utility``, ``privacy``, then any added with :meth:`add_section`).
        columns: Per-column details, one row per evaluated column: ``column``, ``kind``,
            ``univariate_accuracy``, ``univariate_accuracy_max`` (NaN without holdout),
            ``shape_metric``, ``shape_score``, ``missing_real``, ``missing_synthetic``.
        pairs: Per-pair details, one row per pair of evaluated columns: ``column_1``,
            ``column_2``, ``bivariate_accuracy``, ``bivariate_accuracy_max``, ``trend_metric``,
            ``trend_score``, ``association_real``, ``association_synthetic`` (Cramér's V).
        dcr: Per-row distances (``float64`` arrays): ``synthetic_to_train`` and, with a
            holdout, ``synthetic_to_holdout`` and ``holdout_to_train``.
        info: Sizes and settings of the run (rows used, excluded columns, target task, ...).
        seconds: Wall time of ``evaluate`` in seconds.
        plot_data: Read-only view of the data behind some figures, kept with
            :meth:`add_plot_data` (``evaluate`` keeps ``association_real`` and
            ``association_synthetic``, the plotted Cramér's V matrices as DataFrames, and
            ``alpha_beta``, the result of :func:`~tabargn.evaluation.fidelity.alpha_beta`).
    """

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.columns: pd.DataFrame = pd.DataFrame()
        self.pairs: pd.DataFrame = pd.DataFrame()
        self.dcr: dict[str, np.ndarray] = {}
        self.info: dict[str, Any] = {}
        self.seconds: float | None = None
        self._plot_data: dict[str, Any] = {}

    # -- building ----------------------------------------------------------------------------
    def add_section(
        self,
        name: str,
        metrics: dict[str, float | None],
        figures: Iterable[Any] | None = None,
        *,
        descriptions: dict[str, str] | None = None,
        references: dict[str, str] | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
        notes: Iterable[str] | None = None,
    ) -> Section:
        """Adds a group of metrics (and its figures) to the report.

        Args:
            name: Section title; must not be used by another section.
            metrics: Metric name -> float or None. Names must not clash with metrics of other
                sections: :meth:`summary` is flat.
            figures: See :attr:`Section.figures`.
            descriptions: Metric name -> short meaning (shown in the summary table).
            references: Metric name -> name of the metric shown beside it (e.g. a ceiling).
            tables: Caption -> DataFrame shown in the HTML.
            notes: Paragraphs shown in the HTML.

        Returns:
            The new :class:`Section`.

        Raises:
            InvalidDataError: If the section name or a metric name is already used, or a value
                is not a number or None.
        """
        if any(s.name == name for s in self.sections):
            raise InvalidDataError(f"the report already has a section named {name!r}")
        used = {k for s in self.sections for k in s.metrics} | {"seconds"}
        clash = sorted(set(metrics) & used)
        if clash:
            raise InvalidDataError(f"metric names already used in the report: {clash}")
        clean: dict[str, float | None] = {}
        for key, value in metrics.items():
            if value is None:
                clean[key] = None
            elif isinstance(value, int | float | np.integer | np.floating):
                clean[key] = float(value)
            else:
                raise InvalidDataError(
                    f"metric {key!r} must be a number or None, got {type(value).__name__}"
                )
        section = Section(
            name=name,
            metrics=clean,
            descriptions=dict(descriptions or {}),
            references=dict(references or {}),
            tables=dict(tables or {}),
            figures=list(figures or []),
            notes=list(notes or []),
        )
        self.sections.append(section)
        return section

    def add_plot_data(self, name: str, data: Any) -> None:
        """Keeps the data behind a figure, to be read back from :attr:`plot_data`.

        Args:
            name: Key of the data (e.g. ``"alpha_beta"``); an existing key is replaced.
            data: Any object (a DataFrame, a dict of arrays, ...); stored as given, not copied.
        """
        self._plot_data[name] = data

    @property
    def plot_data(self) -> Mapping[str, Any]:
        """Read-only name -> data mapping filled by :meth:`add_plot_data`."""
        return MappingProxyType(self._plot_data)

    def section(self, name: str) -> Section:
        """The section called ``name``.

        Raises:
            KeyError: If there is none.
        """
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(name)

    # -- reading -----------------------------------------------------------------------------
    def summary(self) -> dict[str, float | None]:
        """Every metric of every section, plus ``seconds``, as one flat dict.

        Returns:
            Metric name -> float (NaN when it could not be computed on the data given) or None
            (when the input it needs -- holdout, target -- was not given).
        """
        out: dict[str, float | None] = {}
        for s in self.sections:
            out.update(s.metrics)
        out["seconds"] = self.seconds
        return out

    def __repr__(self) -> str:
        items = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in self.summary().items()
        )
        return f"Report({items})"

    # -- HTML --------------------------------------------------------------------------------
    def to_html(self, path: str | Path, *, title: str = "Synthetic data evaluation") -> Path:
        """Writes the report as one self-contained HTML file.

        The file holds a summary table (metric, value, reference such as the holdout ceiling,
        meaning), then every section with its tables and figures (base64 PNG). Nothing is
        loaded from the network.

        Args:
            path: Output file path (parent directories are created).
            title: Page title.

        Returns:
            The path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{_e(title)}</h1>",
            _info_html(self.info),
            "<h2>Summary</h2>",
            self._summary_html(),
        ]
        for s in self.sections:
            parts.append(f'<h2 id="{_e(_slug(s.name))}">{_e(s.name.capitalize())}</h2>')
            parts.extend(f'<p class="note">{_e(n)}</p>' for n in s.notes)
            for caption, table in s.tables.items():
                parts.append(f"<h3>{_e(caption)}</h3>")
                parts.append(_table_html(table))
            figs = []
            for item in s.figures:
                caption, item = item if isinstance(item, tuple) else ("", item)
                png = _to_png(item)
                if png is None:
                    continue
                figs.append((caption, png))
            if figs:
                parts.append('<div class="figs">')
                for caption, png in figs:
                    b64 = base64.b64encode(png).decode("ascii")
                    parts.append(
                        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{b64}">'
                        + (f"<figcaption>{_e(caption)}</figcaption>" if caption else "")
                        + "</figure>"
                    )
                parts.append("</div>")
        parts.append(
            f"<footer>Written by tabargn.evaluation on "
            f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.</footer></body></html>"
        )
        path.write_text("\n".join(parts), encoding="utf-8")
        return path

    def _summary_html(self) -> str:
        rows = []
        for s in self.sections:
            shown_as_reference = set(s.references.values())
            for key, value in s.metrics.items():
                if key in shown_as_reference:
                    continue
                ref_key = s.references.get(key)
                ref = ""
                if ref_key is not None:
                    ref_val = s.metrics.get(ref_key)
                    if ref_val is not None:
                        ref = f'{_fmt(ref_val)} <span class="dim">({_e(ref_key)})</span>'
                desc = s.descriptions.get(key, METRIC_DESCRIPTIONS.get(key, ""))
                rows.append(
                    f"<tr><td>{_e(s.name)}</td><td><code>{_e(key)}</code></td>"
                    f'<td class="num">{_fmt(value)}</td><td class="num">{ref}</td>'
                    f"<td>{_e(desc)}</td></tr>"
                )
        rows.append(
            f'<tr><td>run</td><td><code>seconds</code></td><td class="num">'
            f"{_fmt(self.seconds, 1)}</td><td></td>"
            f"<td>{_e(METRIC_DESCRIPTIONS['seconds'])}</td></tr>"
        )
        head = (
            "<tr><th>Group</th><th>Metric</th><th>Value</th><th>Reference</th><th>Meaning</th></tr>"
        )
        return f'<table class="summary"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


# -- HTML helpers ----------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1320px;color:#222;padding:0 16px}
h1{font-size:26px;margin-bottom:4px}h2{font-size:20px;border-bottom:2px solid #ddd;
padding-bottom:4px;margin-top:36px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
table.summary td:nth-child(5){color:#444;max-width:560px}
.dim{color:#888;font-size:11px}.note{color:#444;font-size:13px;max-width:1000px}
.info{color:#444;font-size:13px}
.figs{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;border:1px solid #eee;padding:4px}
figure img{display:block;max-width:100%}figcaption{font-size:12px;color:#555;
text-align:center}footer{margin-top:40px;color:#888;font-size:12px}
.scroll{max-height:420px;overflow:auto;display:inline-block}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower())


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return '<span class="dim">n/a</span>'
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return '<span class="dim">NaN</span>'
        return f"{v:.{digits}f}"
    return _e(v)


def _info_html(info: dict[str, Any]) -> str:
    items = []
    for key, value in info.items():
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value)) if value else "—"
        items.append(f"<b>{_e(key.replace('_', ' '))}</b>: {_e(value)}")
    return '<p class="info">' + " · ".join(items) + "</p>"


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                cells.append(f'<td class="num">{_fmt(float(v))}</td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _to_png(item: Any) -> bytes | None:
    from matplotlib.figure import Figure

    if isinstance(item, Callable) and not isinstance(item, Figure):
        item = item()
    if item is None:
        return None
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    if isinstance(item, Figure):
        buf = io.BytesIO()
        item.savefig(buf, format="png", dpi=item.dpi, metadata={"Software": None})
        return buf.getvalue()
    raise InvalidDataError(f"cannot render a figure of type {type(item).__name__}")
