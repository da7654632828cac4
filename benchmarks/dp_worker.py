"""One generator of the DP benchmark in its own process (run by ``benchmarks/dp.py``).

    <venv>/bin/python benchmarks/dp_worker.py GENERATOR TRAIN.parquet OUT_DIR \
        --epsilon 4 --epochs E --seed 0 [--entity-key id --order-by year] --n N

GENERATOR: ``tabargn`` (no DP), ``tabargn-dp``, ``mostlyai-dp`` (mostlyai-engine, run from
``.venv-peers``). Writes ``OUT_DIR/synthetic.parquet`` and ``OUT_DIR/run.json`` (fit and sample
seconds, the reported privacy).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time

import pandas as pd


def _mostly_epsilon(workspace: str):
    """Last ``dp_eps`` mostlyai-engine logged (its progress messages), or None."""
    found = None
    for path in glob.glob(os.path.join(workspace, "**", "*progress*"), recursive=True):
        try:
            frame = pd.read_csv(path)
        except Exception:  # noqa: BLE001 - any unreadable file is not the log
            continue
        if "dp_eps" in frame:
            found = float(frame["dp_eps"].dropna().iloc[-1])
    return found


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("generator", choices=["tabargn", "tabargn-dp", "mostlyai-dp"])
    p.add_argument("train")
    p.add_argument("out")
    p.add_argument("--epsilon", type=float, default=4.0)
    p.add_argument("--delta", type=float, default=1e-5)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--entity-key")
    p.add_argument("--order-by")
    p.add_argument("--n", type=int, required=True, help="rows (flat) or entities to sample")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    df = pd.read_parquet(a.train)
    import torch

    torch.set_num_threads(1)  # oversubscribed shared cores: spinning threads cost more
    record: dict = {"generator": a.generator, "epochs_cap": a.epochs}
    dp = {"max_epsilon": a.epsilon, "delta": a.delta}
    t0 = time.perf_counter()
    if a.generator.startswith("tabargn"):
        from tabargn import TabularARGN

        kw = {"random_state": a.seed, "verbose": 0}
        if a.epochs:
            kw["max_epochs"] = a.epochs
        if a.generator == "tabargn-dp":
            kw["differential_privacy"] = dp
        model = TabularARGN(**kw)
        if a.entity_key:
            model.fit(df, entity_key=a.entity_key, order_by=a.order_by)
        else:
            model.fit(df)
        record["fit_s"] = time.perf_counter() - t0
        record["privacy"] = model.privacy_
        record["epochs"] = model.training_.get("epochs")
        t0 = time.perf_counter()
        syn = model.sample(n_entities=a.n) if a.entity_key else model.sample(n_samples=a.n)
    else:
        from mostlyai.engine import TabularARGN
        from mostlyai.engine.domain import DifferentialPrivacyConfig

        workspace = os.path.join(a.out, "mostlyai-workspace")
        kw = {
            "random_state": a.seed,
            "workspace_dir": workspace,
            # its analysis reads attributes: the config object, not a dict
            "differential_privacy": DifferentialPrivacyConfig(**dp),
        }
        if a.epochs:
            kw["max_epochs"] = a.epochs
        if a.entity_key:
            kw["tgt_context_key"] = a.entity_key
            df = df.sort_values([a.entity_key, a.order_by], kind="stable").reset_index(drop=True)
        model = TabularARGN(**kw)
        model.fit(df)
        record["fit_s"] = time.perf_counter() - t0
        record["privacy"] = {"epsilon": _mostly_epsilon(workspace), "delta": a.delta}
        t0 = time.perf_counter()
        syn = model.sample(n_samples=a.n)
    record["sample_s"] = time.perf_counter() - t0
    syn.to_parquet(os.path.join(a.out, "synthetic.parquet"))
    with open(os.path.join(a.out, "run.json"), "w") as f:
        json.dump(record, f, indent=2, default=str)
    print(json.dumps(record, default=str), flush=True)


if __name__ == "__main__":
    main()
