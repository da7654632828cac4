"""Fits one table with a multiple of the default batch size and learning rate; prints one JSON line.

Usage: ``python benchmarks/batch_sweep.py faa_bird_strikes 5000 4 2`` (table, rows, batch multiple,
learning-rate multiple). Results: benchmarks/results/batch_sweep.md.
"""

import json
import sys
import time

import pandas as pd
import torch

from tabargn import TabularARGN
from tabargn.trainer import default_learning_rate
from tabargn.training import default_batch_size

torch.set_num_threads(1)

name, rows = sys.argv[1], int(sys.argv[2])
bmult, lrmult = float(sys.argv[3]), float(sys.argv[4])
df = pd.read_parquet(f"/work/shared/data/{name}.parquet")
df = df[[c for c in df.columns if c not in ("remarks", "split", "dataset_partition")]]
df = df.sample(n=min(rows, len(df)), random_state=0).reset_index(drop=True)
b = int(default_batch_size(int(len(df) * 0.8)) * bmult)
lr = default_learning_rate(b) * lrmult
m = TabularARGN(random_state=0, verbose=0, batch_size=b, learning_rate=lr)
t0 = time.process_time()
m.fit(df)
t = m.training_
print(
    json.dumps(
        {
            "table": name,
            "rows": rows,
            "bmult": bmult,
            "lrmult": lrmult,
            "batch": b,
            "lr": round(lr, 5),
            "cpu_s": round(time.process_time() - t0, 1),
            "epochs": t["epochs"],
            "best_epoch": t.get("best_epoch"),
            "best_val": t.get("best_val_loss"),
            "history": t["history"],
        }
    ),
    flush=True,
)
