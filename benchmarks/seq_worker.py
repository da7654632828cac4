"""Run ONE sequential generator on ONE training events table, in the generator's venv.

    python benchmarks/seq_worker.py GENERATOR TRAIN_PARQUET OUT_PARQUET TIMINGS_JSON \
        --entity-key id --order-by year [--epochs E] [--seed S] [--threads T]

Fits the generator on the events, samples as many entities as the training table has, writes
the events to OUT_PARQUET and the timings (fit/sample seconds and CPU seconds, peak memory,
environment) to TIMINGS_JSON. Started by ``benchmarks/sequential.py``; needs only the standard
library, pandas/pyarrow and the generator's package (it runs in ``.venv`` or ``.venv-peers``).
Memory and CPU accounting are those of ``worker.py``.

Generators:
* ``tabargn``: ``TabularARGN(random_state=S).fit(events, entity_key=..., order_by=...)`` and
  ``sample(n_entities=n)``.
* ``mostlyai-engine``: ``TabularARGN(tgt_context_key=entity_key, random_state=S)`` on the events
  sorted by entity and order (the engine takes the row order within an entity as the sequence
  order; it has no order column), ``sample(n_samples=n)`` entities.
* ``par``: SDV ``PARSynthesizer`` with the entity key as sequence key and ``order_by`` as
  sequence index, ``sample_sequences(num_sequences=n)``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker import (  # noqa: E402
    PeakMemory,
    _cpu_s,
    _maxrss_mb,
    _tree_rss,
    device_used,
    environment,
    write_parquet,
)

GENERATORS = ("tabargn", "mostlyai-engine", "par")
EXTRA: dict = {}  # filled by a generator's fit (e.g. tabargn's training summary)


def make_generator(name: str, a, workdir: str):
    """Return (fit(df) -> None, sample(n_entities) -> DataFrame, params dict)."""
    key, order = a.entity_key, a.order_by
    if name == "tabargn":
        from tabargn import TabularARGN

        kw = {"random_state": a.seed, "verbose": 0}
        if a.epochs is not None:
            kw["max_epochs"] = a.epochs
        model = TabularARGN(**kw)

        def fit(df):
            model.fit(df, entity_key=key, order_by=order)
            keep = ("epochs", "best_epoch", "best_val_loss", "seconds", "batch_events", "window")
            EXTRA["training"] = {k: model.training_.get(k) for k in keep}
            EXTRA["training"]["entity_model"] = model.training_.get("entity_model")

        return fit, (lambda n: model.sample(n_entities=n)), kw
    if name == "mostlyai-engine":
        from mostlyai.engine import TabularARGN

        kw = {"random_state": a.seed, "tgt_context_key": key}
        if a.epochs is not None:
            kw["max_epochs"] = a.epochs
        params = dict(kw)
        kw["workspace_dir"] = os.path.join(workdir, "mostlyai-workspace")
        model = TabularARGN(**kw)

        def fit(df):
            model.fit(df.sort_values([key, order], kind="stable").reset_index(drop=True))

        return fit, (lambda n: model.sample(n_samples=n)), params
    if name == "par":
        import random

        import numpy as np
        import torch
        from sdv.metadata import Metadata
        from sdv.sequential import PARSynthesizer

        state: dict = {}
        kw = {"verbose": True}
        if a.epochs is not None:
            kw["epochs"] = a.epochs

        def fit(df):
            random.seed(a.seed)
            np.random.seed(a.seed)  # noqa: NPY002 - SDV draws from the legacy global RNG
            torch.manual_seed(a.seed)
            md = Metadata.detect_from_dataframes({"table": df})
            md.update_column(column_name=key, sdtype="id", table_name="table")
            md.set_sequence_key(column_name=key, table_name="table")
            md.set_sequence_index(column_name=order, table_name="table")
            state["model"] = PARSynthesizer(md, **kw)
            state["model"].fit({"table": df})

        def sample(n):
            out = state["model"].sample_sequences(num_sequences=n)
            return out["table"] if isinstance(out, dict) else out

        return fit, sample, {k: v for k, v in kw.items() if k != "verbose"}
    raise SystemExit(f"unknown generator {name!r}; choose from {GENERATORS}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("generator", choices=GENERATORS)
    ap.add_argument("train_parquet")
    ap.add_argument("out_parquet")
    ap.add_argument("timings_json")
    ap.add_argument("--entity-key", required=True)
    ap.add_argument("--order-by", required=True)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    a = ap.parse_args(argv)

    import pandas as pd

    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    mem = PeakMemory().start()
    rec: dict = {"generator": a.generator, "epochs_override": a.epochs, "seed": a.seed}
    rec["status"] = "error"
    t_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix=f"seqbench-{a.generator}-") as tmp:
            train = pd.read_parquet(a.train_parquet)
            n = int(train[a.entity_key].nunique())
            rec["train_shape"], rec["n_entities"] = list(train.shape), n
            fit, sample, params = make_generator(a.generator, a, tmp)
            rec["params"] = params
            t0, c0 = time.perf_counter(), _cpu_s()
            fit(train)
            rec["fit_s"], rec["fit_cpu_s"] = time.perf_counter() - t0, _cpu_s() - c0
            rec["peak_rss_after_fit_mb"] = mem.peak / 2**20
            t0, c0 = time.perf_counter(), _cpu_s()
            syn = sample(n)
            if isinstance(syn, tuple):
                syn = syn[1]
            rec["sample_s"], rec["sample_cpu_s"] = time.perf_counter() - t0, _cpu_s() - c0
            rec["sample_rows"] = int(len(syn))
            rec["sample_entities"] = int(syn[a.entity_key].nunique()) if len(syn) else 0
            rec["sample_rows_per_s"] = len(syn) / rec["sample_s"] if rec["sample_s"] else None
            rec["parquet_cast_to_str"] = write_parquet(syn, a.out_parquet)
            rec["rss_before_fit_mb"] = _tree_rss(os.getpid()) / 2**20
            rec.update(EXTRA)
            rec["status"] = "ok"
    except BaseException as e:  # noqa: BLE001 - record everything, then fail
        rec["error"] = f"{type(e).__name__}: {e}"
        rec["traceback"] = traceback.format_exc()
    finally:
        rec["total_s"] = time.perf_counter() - t_start
        rec["peak_rss_polled_mb"] = mem.stop() / 2**20
        rec["ru_maxrss_self_mb"] = _maxrss_mb(resource.RUSAGE_SELF)
        rec["peak_rss_mb"] = max(rec["peak_rss_polled_mb"], rec["ru_maxrss_self_mb"])
        env = environment()
        rec["device"] = device_used(a.generator, env)
        rec["env"] = env
        with open(a.timings_json, "w") as f:
            json.dump(rec, f, indent=2, default=str)
    if rec["status"] != "ok":
        print(rec.get("traceback", rec.get("error")), file=sys.stderr)
        return 1
    print(json.dumps({k: rec.get(k) for k in ("generator", "fit_s", "sample_s", "peak_rss_mb")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
