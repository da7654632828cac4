"""Merging partial statistics in bounded memory: the streaming side of ``analyze -> reduce``.

Every encoding's ``analyze(chunk)`` returns a partial summary and its ``reduce(partials)`` turns
a list of them into the column's stats (:mod:`tabargn.encoding`). :func:`merge` folds several
partials of one column into a single partial *of the same form*, so a pass over a table of any
length keeps a bounded number of summaries (:class:`PartialFolder`) and ``reduce`` runs once, on
what is left. Partials merge in any grouping (map over chunks, then reduce), which is what a
distributed statistics pass needs.

Bounds, per column:

- **categorical**: exact counts per distinct value up to :data:`MAX_CATEGORIES` values; past
  that, under value protection only, the most frequent :data:`MAX_CATEGORIES` ``// 2`` stay
  (a top-k summary) and the others are dropped, with their row count (``n_pruned``) and largest
  count (``max_pruned``) remembered. A value counted again after a drop restarts from zero, so
  every kept count is a lower bound of the true count: ``reduce`` keeps a category only when that
  lower bound reaches ``k``, so no category held by fewer than ``k`` rows can survive, whatever
  the chunking. Without value protection counts stay exact (every value must be encodable).
- **numeric**: exact distinct values with counts while there are at most
  ``numeric.SAMPLE_SIZE`` of them (``analyze`` already does this per chunk); past that, a
  weighted quantile summary of ``SAMPLE_SIZE`` evenly spaced order statistics (the form
  ``analyze`` uses for a large chunk). Each compaction moves a rank by at most ``1 / SAMPLE_SIZE``
  of the column; :class:`PartialFolder` merges in a tree of fan-in :data:`FAN_IN`, so a value
  passes through ``log_FAN_IN(n_chunks)`` compactions (the idea of the KLL sketch, Karnin, Lang
  and Liberty, 2016, with deterministic compaction). The ``K_MAX`` smallest and largest values
  stay exact, so value protection's clipping bounds are exact across chunks.
- **datetime**: counts, the ``K_MAX`` extremes and per-part ranges: constant size.

Why no sketch library: ``reduce`` needs weighted distinct values (heavy values become atoms,
exact counts decide the discrete mode and value protection) besides quantiles; a KLL or DDSketch
gives quantiles only, while the summary above keeps the exact form while it is small and the
same form, compacted, when it is not.
"""

from __future__ import annotations

import numpy as np

from tabargn.encoding.categorical import merge_counts
from tabargn.encoding.number_grid import (
    common_grid,
    merge_weighted,
    plain_values,
    weighted_quantiles,
)
from tabargn.encoding.numeric import SAMPLE_SIZE
from tabargn.encoding.value_protection import K_MAX

__all__ = ["MAX_CATEGORIES", "FAN_IN", "merge", "PartialFolder"]

MAX_CATEGORIES = 262_144
"""Distinct categories one summary keeps exactly before the top-k pruning (value protection)."""

FAN_IN = 8
"""Partials of one level merged at once by :class:`PartialFolder`."""


def _merge_categorical(partials: list[dict], value_protection: bool) -> dict:
    n_pruned = sum(int(p.get("n_pruned", 0)) for p in partials)
    max_pruned = max([int(p.get("max_pruned", 0)) for p in partials] or [0])
    items = merge_counts(partials)
    if value_protection and len(items) > MAX_CATEGORIES:
        items.sort(key=lambda vc: (-vc[1], str(vc[0])))
        keep = MAX_CATEGORIES // 2
        dropped = [c for _, c in items[keep:]]
        n_pruned += int(sum(dropped))
        max_pruned = max(max_pruned, int(max(dropped)))
        items = items[:keep]
    out = {
        "n_null": sum(int(p["n_null"]) for p in partials),
        "values": [v for v, _ in items],
        "counts": [int(c) for _, c in items],
    }
    if n_pruned:
        out.update(n_pruned=n_pruned, max_pruned=max_pruned)
    return out


def _merge_numeric(partials: list[dict]) -> dict:
    filled = [p for p in partials if p["n"] > 0]
    out = {
        key: sum(int(p.get(key, 0)) for p in partials)
        for key in ("n", "n_null", "n_neginf", "n_posinf")
    }
    if not filled:
        return {**out, "decimals": 0, "gcd": 1, "values": [], "weights": [], "low": [], "high": []}
    decimals, gcd = common_grid(filled)
    integer = decimals == 0
    u = np.concatenate([np.asarray(p["values"], dtype=np.float64) for p in filled])
    w = np.concatenate([np.asarray(p["weights"], dtype=np.float64) for p in filled])
    u, w = merge_weighted(u, w)
    exact = all(isinstance(x, int) for p in filled for x in p["weights"][:1])
    if len(u) > SAMPLE_SIZE:  # compaction: evenly spaced order statistics, total weight kept
        probs = (np.arange(SAMPLE_SIZE) + 0.5) / SAMPLE_SIZE
        u, c = np.unique(weighted_quantiles(u, w, probs), return_counts=True)
        w, exact = c * (w.sum() / SAMPLE_SIZE), False
    low = np.sort(np.concatenate([np.asarray(p["low"], dtype=np.float64) for p in filled]))
    high = np.sort(np.concatenate([np.asarray(p["high"], dtype=np.float64) for p in filled]))
    out.update(
        decimals=decimals,
        gcd=int(gcd or 1),
        values=plain_values(u, integer),
        weights=[int(x) for x in w] if exact else [float(x) for x in w],
        low=plain_values(low[:K_MAX], integer),
        high=plain_values(high[max(len(high) - K_MAX, 0) :], integer),
    )
    for key in ("entity_values", "entity_weights", "n_entities"):  # sequential tables
        if all(key in p for p in filled):
            out[key] = (
                sum(int(p[key]) for p in filled)
                if key == "n_entities"
                else [x for p in filled for x in p[key]]
            )
    return out


def _merge_datetime(partials: list[dict]) -> dict:
    filled = [p for p in partials if p["n"] > 0]
    low = sorted(int(x) for p in filled for x in p["low"])
    high = sorted(int(x) for p in filled for x in p["high"])
    parts: dict[str, list[int]] = {}
    for p in filled:
        for name, (lo, hi) in p["parts"].items():
            old = parts.get(name)
            parts[name] = [int(lo), int(hi)] if old is None else [min(old[0], lo), max(old[1], hi)]
    return {
        "n": sum(int(p["n"]) for p in partials),
        "n_null": sum(int(p["n_null"]) for p in partials),
        "tz": next((p["tz"] for p in partials if p["tz"] is not None), None),
        "low": low[:K_MAX],
        "high": high[max(len(high) - K_MAX, 0) :],
        "parts": parts,
    }


def merge(kind: str, partials: list[dict], *, value_protection: bool) -> dict:
    """Merges partial statistics of one column into one partial of the same form.

    ``reduce([merge(kind, ps)])`` gives the same stats as ``reduce(ps)`` while the summaries are
    exact (see the module docstring for when they stop being exact, and the bounds then).

    Args:
        kind: ``"categorical"``, ``"numeric"`` or ``"datetime"``.
        partials: Outputs of the encoding's ``analyze`` (or of earlier merges), at least one.
        value_protection: Whether the top-k pruning of categories may apply.

    Returns:
        One JSON-serializable partial.

    Raises:
        ValueError: An unknown kind or no partials.
    """
    if not partials:
        raise ValueError("merge needs at least one partial")
    if kind == "categorical":
        return _merge_categorical(partials, value_protection)
    if kind == "numeric":
        return _merge_numeric(partials)
    if kind == "datetime":
        return _merge_datetime(partials)
    raise ValueError(f"no partial statistics for kind {kind!r}")


class PartialFolder:
    """Folds a stream of partials of one column into at most ``FAN_IN`` per tree level.

    Args:
        kind: The column's encoding kind.
        value_protection: Passed to :func:`merge`.
    """

    def __init__(self, kind: str, *, value_protection: bool) -> None:
        self.kind = kind
        self.value_protection = value_protection
        self.levels: list[list[dict]] = []

    def add(self, partial: dict, level: int = 0) -> None:
        """Adds one partial; a full level is merged into one partial of the next."""
        while len(self.levels) <= level:
            self.levels.append([])
        self.levels[level].append(partial)
        if len(self.levels[level]) >= FAN_IN:
            full, self.levels[level] = self.levels[level], []
            self.add(merge(self.kind, full, value_protection=self.value_protection), level + 1)

    def partials(self) -> list[dict]:
        """What is left, at most ``FAN_IN - 1`` partials per level (input to ``reduce``)."""
        left = [p for level in self.levels for p in level]
        if len(left) > 1:
            left = [merge(self.kind, left, value_protection=self.value_protection)]
        return left
