"""Sequential tables: seasons per baseball player, and flights per aircraft with a context table.

1. ``baseball``: events are seasons (entity ``id``, order ``year``). Fit, sample new players,
   complete given players' careers from their first seasons, score the sequences.
2. ``nycflights13_flights``: events are flights (entity ``tailnum``, order ``time_hour``, a
   datetime: modelled as a start time plus gaps to the previous flight), with a small context
   table (one row per aircraft). ``sample(n_entities=...)`` then returns ``(context, events)``.

Run: ``python examples/sequences.py`` (under a minute on 2 CPU cores; small settings and
subsets: the defaults train longer). The data is read from ``../shared/data`` beside the
checkout, or from the folder in ``$TABARGN_DATA``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from tabargn import TabularARGN, evaluate

torch.set_num_threads(1)  # small tensors: one thread is faster on a busy 2-core machine
DATA = Path(
    os.environ.get("TABARGN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
small = {"model_size": "small", "max_epochs": 8, "max_time": 15, "random_state": 0, "verbose": 0}

# --- 1. baseball: events only --------------------------------------------------------------
batting = pd.read_parquet(DATA / "baseball.parquet")
players = batting["id"].drop_duplicates().sample(n=300, random_state=0)
batting = batting[batting["id"].isin(players)].reset_index(drop=True)

started = time.perf_counter()
model = TabularARGN(**small).fit(batting, entity_key="id", order_by="year")
print(
    f"baseball: fitted on {len(batting)} seasons of {batting['id'].nunique()} players "
    f"in {time.perf_counter() - started:.1f} s"
)

synthetic = model.sample(n_entities=300)  # new players, new keys, sorted by id and year
print(
    f"sampled {len(synthetic)} seasons of {synthetic['id'].nunique()} new players; "
    f"dtypes round-trip: {synthetic.dtypes.equals(batting.dtypes)}"
)
print(synthetic.head(4)[["id", "year", "team", "g", "ab", "h", "hr"]].to_string(index=False))

# completion: the first 3 seasons of 5 real players are kept verbatim, the rest is generated
seeds = batting[batting["id"].isin(players[:5])].groupby("id").head(3)
completed = model.sample(seed_events=seeds)
kept = all(
    completed[completed["id"] == k].head(3).reset_index(drop=True).equals(g.reset_index(drop=True))
    for k, g in seeds.groupby("id")
)
print(
    f"completed careers of 5 players: {completed.groupby('id').size().tolist()} seasons, "
    f"seed seasons kept: {kept}"
)

report = evaluate(batting, synthetic, entity_key="id", order_by="year", max_rows=5000)
s = report.summary()
for name in (
    "sequence_length_accuracy",
    "coherence_pair_accuracy",
    "coherence_diff_accuracy",
    "entity_aggregate_accuracy",
):
    print(f"  {name}: {s[name]:.3f}")

with tempfile.TemporaryDirectory() as tmp:
    model.save(tmp)
    print(f"saved files: {sorted(p.name for p in Path(tmp).iterdir())}")
    again = TabularARGN.load(tmp).sample(n_entities=5)
    model.restart_sampling()
    print(f"reloaded model repeats the first draw: {again.equals(model.sample(n_entities=5))}")

# --- 2. flights with a context table ---------------------------------------------------------
flights = pd.read_parquet(DATA / "nycflights13_flights.parquet").dropna(subset=["tailnum"])
tails = flights["tailnum"].drop_duplicates().sample(n=80, random_state=0)
flights = flights[flights["tailnum"].isin(tails)]
events = flights[["tailnum", "time_hour", "carrier", "origin", "dest", "dep_delay", "distance"]]
aircraft = events.groupby("tailnum", as_index=False).agg(carrier=("carrier", "first"))
aircraft = aircraft.rename(columns={"carrier": "operator"})

started = time.perf_counter()
model = TabularARGN(**small).fit(
    events, entity_key="tailnum", order_by="time_hour", context=aircraft
)
print(
    f"flights: fitted on {len(events)} flights of {len(aircraft)} aircraft "
    f"in {time.perf_counter() - started:.1f} s"
)
context, synthetic = model.sample(n_entities=20)
gaps_ok = (synthetic.groupby("tailnum")["time_hour"].diff().dropna() >= pd.Timedelta(0)).all()
print(f"sampled {len(context)} aircraft and {len(synthetic)} flights; time runs forward: {gaps_ok}")
print(synthetic.head(3).to_string(index=False))
given = model.sample(context=aircraft.head(3))  # sequences for given aircraft
print(f"flights generated for given aircraft: {given.groupby('tailnum').size().to_dict()}")
