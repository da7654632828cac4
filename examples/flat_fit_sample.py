"""Fit TabularARGN on a subsample of UCI Adult, sample synthetic rows, save and reload the model.

Run: ``python examples/flat_fit_sample.py`` (about half a minute on 2 CPU cores).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from tabargn import TabularARGN
from tabargn.datasets import load_adult

torch.set_num_threads(2)

# the bundled Adult census table (48,842 rows, 15 columns); a subsample keeps this quick
df = load_adult().sample(n=3000, random_state=0).reset_index(drop=True)

started = time.perf_counter()
# small settings so the example is quick; the defaults (medium size, up to 100 epochs with early
# stopping) fit better
model = TabularARGN(
    model_size="small",
    max_epochs=15,
    max_time=20,
    batch_size=256,
    learning_rate=5e-3,
    random_state=0,
    verbose=0,
)
model.fit(df)
first = model.sample(n_samples=5)  # the first draw after fit
print(
    f"fitted on {len(df):,} rows x {df.shape[1]} columns in {time.perf_counter() - started:.1f} s "
    f"({model.training_['epochs']} epochs)"
)

synthetic = model.sample(n_samples=2000)
print(
    f"sampled {len(synthetic):,} rows; dtypes round-trip: {bool((synthetic.dtypes == df.dtypes).all())}"
)
print(
    "share with income >50K  real: {:.3f}  synthetic: {:.3f}".format(
        (df["income"] == ">50K").mean(), (synthetic["income"] == ">50K").mean()
    )
)
print(
    "mean age                real: {:.1f}  synthetic: {:.1f}".format(
        df["age"].mean(), synthetic["age"].mean()
    )
)
print(synthetic.head(3).to_string())

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "adult-model"
    model.save(path)  # config.json, encoders.json, model.safetensors (no pickle)
    print("saved files:", sorted(p.name for p in path.iterdir()))
    reloaded = TabularARGN.load(path)
    # the sampling stream restarts after load: the first draw matches the first draw after fit
    print(f"reloaded model repeats the first draw: {reloaded.sample(n_samples=5).equals(first)}")
