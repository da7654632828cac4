"""Replays early-stopping rules on the validation histories of a panel run (no fits).

Usage::

    python benchmarks/stopping_replay.py [RUN_ID]   (default panel-20261201c)

Reads every ``results/*__tabargn.json`` of the run (the worker stores ``training.history``:
``[epoch, validation loss, seconds]``) and replays Lightning's ``EarlyStopping`` as tabargn
configures it (``defaults_panel_table.stop_epoch``, the replay of
:class:`tabargn.trainer.RelativeEarlyStopping`). With the current rule
(patience 5, threshold 5e-4) the replay must give the epochs each fit ran; the other rules print
the share of the training time they would have used and the change of the best validation loss.
"""

import argparse

from defaults_panel_table import stop_epoch
from panel_table import HERE, load_cells

#: (patience, relative threshold) of the rules compared with the current one (5, 5e-4)
RULES = ((4, 5e-4), (5, 1e-3), (3, 1e-3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id", nargs="?", default="panel-20261201c")
    args = parser.parse_args()
    print(
        "| cell | epochs run | replayed, current rule (patience 5, threshold 5e-4) "
        "| patience 4 (threshold 5e-4) | threshold 1e-3 (patience 5) "
        "| patience 3, threshold 1e-3 |"
    )
    print("|---|---|---|---|---|---|")
    for ours, _ in load_cells(HERE / "results", {args.run_id}):
        history = ours["worker"]["training"]["history"]  # [epoch, validation loss, seconds]
        epochs, best = stop_epoch(history, 5, 5e-4)
        cells = [ours["dataset"], len(history), epochs]
        for patience, threshold in RULES:
            e, loss = stop_epoch(history, patience, threshold)
            share = history[e - 1][2] / history[-1][2]
            cells.append(f"{share:.2f} / {100 * (loss / best - 1):+.2f} %")
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
