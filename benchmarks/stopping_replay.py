"""Replays early-stopping rules on the validation histories of a panel run (no fits).

Usage::

    python benchmarks/stopping_replay.py [RUN_ID]   (default panel-20261201c)

Reads every ``results/*__tabargn.json`` of the run (the worker stores ``training.history``:
``[epoch, validation loss, seconds]``) and replays Lightning's ``EarlyStopping`` as tabargn
configures it (:class:`tabargn.trainer.RelativeEarlyStopping`: ``min_delta = -|loss| x
threshold``; the reference loss moves only on a gain beyond the threshold). With the current rule
(patience 5, threshold 5e-4) the replay must give the epochs each fit ran; the other rules print
the share of the training time they would have used and the change of the best validation loss.
"""

import glob
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def replay(hist, patience, rel):
    """Lightning's EarlyStopping with min_delta = -|current| * rel: the reference moves only on
    an improvement beyond the threshold."""
    ref = float("inf")
    wait = 0
    best = float("inf")
    for i, (_epoch, v, s) in enumerate(hist):
        if v + abs(v) * rel < ref:
            ref, wait = v, 0
        else:
            wait += 1
        best = min(best, v)
        if wait >= patience:
            return i, best, s
    return len(hist) - 1, best, hist[-1][2]


rows = []
RUN_ID = sys.argv[1] if len(sys.argv) > 1 else "panel-20261201c"
for f in sorted(glob.glob(str(HERE / "results" / "*__tabargn.json"))):
    d = json.load(open(f))
    if d.get("run_id") != RUN_ID:
        continue
    h = d["worker"]["training"]["history"]
    base = replay(h, 5, 5e-4)
    out = [d["dataset"], len(h), base[0] + 1]
    for p, r in [(4, 5e-4), (5, 1e-3), (3, 1e-3)]:
        i, b, s = replay(h, p, r)
        out += [f"{s / h[-1][2]:.2f} / {100 * (b / base[1] - 1):+.2f} %"]
    rows.append(out)
print(
    "| cell | epochs run | replayed, current rule (patience 5, threshold 5e-4) | patience 4 (threshold 5e-4) | threshold 1e-3 (patience 5) | patience 3, threshold 1e-3 |"
)
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(map(str, r)) + " |")
