"""Trains a flat and a sequential model with 2 CPU processes and prints one JSON line per rank.

Run by tests/test_ddp.py as ``python ddp_fit.py STRATEGY DATA_DIR``. With ``ddp`` Lightning
re-runs this script for rank 1; with ``ddp_spawn`` it spawns workers and rank 0's weights come
back to this process.
"""

import hashlib
import json
import os
import sys

import pandas as pd
import torch.multiprocessing

from tabargn import TabularARGN


def digest(network) -> str:
    h = hashlib.sha256()
    for _, tensor in sorted(network.state_dict().items()):
        h.update(tensor.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    strategy, data = sys.argv[1], sys.argv[2]
    if strategy == "ddp_spawn":  # workers get the tensors through files, not fd passing
        torch.multiprocessing.set_sharing_strategy("file_system")
    common = {"devices": 2, "strategy": strategy, "device": "cpu", "random_state": 0, "verbose": 0}
    adult = pd.read_parquet(f"{data}/adult.parquet").drop(columns=["split"])
    flat = TabularARGN(max_epochs=2, **common).fit(adult.sample(2000, random_state=0))
    baseball = pd.read_parquet(f"{data}/baseball.parquet")
    ids = pd.unique(baseball["id"])[:80]
    events = baseball[baseball["id"].isin(ids)]
    seq = TabularARGN(max_epochs=2, **common).fit(events, entity_key="id", order_by="year")
    out = {
        "rank": int(os.environ.get("LOCAL_RANK", 0)),
        "flat": digest(flat.network_),
        "sequential": digest(seq.network_),
        "flat_training": {k: flat.training_[k] for k in ("epochs", "devices", "strategy")},
        "flat_history": len(flat.training_["history"]),
        "seq_history": len(seq.training_["history"]),
        "flat_rows": len(flat.sample(100)),
        "seq_rows": len(seq.sample(n_entities=5)),
    }
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
