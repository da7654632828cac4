"""CPU seconds per training step of the ARGN network: direct masked matmul vs tabulated first layer.

Encodes each panel table with the package's own codec (defaults: value protection on), builds the
default network (``model_size="medium"``, dropout) and times forward + backward + AdamW steps at
the default batch size for the plain path (DP-SGD's) and both variants of the fast training path, alternating them in one process so machine
noise hits both alike. Process CPU time (not wall time) is reported: it is far less sensitive to
other jobs on a shared machine; use ``--threads 1`` for the cleanest figure. The two paths compute the same loss and gradients (tests/test_model.py).

Usage::

    python benchmarks/forward_speed.py --rows 20000 --steps 8 --out benchmarks/results/forward_speed.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tabargn.codec import TableCodec
from tabargn.flat import flat_network_config
from tabargn.model import ARGN
from tabargn.schema import infer_schema
from tabargn.text_columns import detect_text_columns
from tabargn.training import default_batch_size

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PANEL = {
    "adult": ("adult.parquet", []),
    "census_income_kdd": ("census_income_kdd.parquet", []),
    "lending_club_loans": ("lending_club_loans.parquet", []),
    "faa_bird_strikes": ("faa_bird_strikes.parquet", ["remarks"]),
    "nycflights13_flights": ("nycflights13_flights.parquet", []),
    "baseball": ("baseball.parquet", []),
}


def _codes(name: str, rows: int, seed: int) -> tuple[torch.Tensor, TableCodec]:
    file, drop = PANEL[name]
    df = pd.read_parquet(DATA / file).drop(columns=drop)
    df = df.sample(n=min(rows, len(df)), random_state=seed).reset_index(drop=True)
    specs = detect_text_columns(df, infer_schema(df, None), None)
    specs = [s for s in specs if s.kind != "text"]
    df = df[[s.name for s in specs]]
    codec = TableCodec.fit(df, specs, value_protection=True, rng=np.random.default_rng(seed))
    return torch.as_tensor(codec.encode(df)), codec


def _time_steps(network: ARGN, codes: torch.Tensor, batch: int, steps: int, mode: str):
    """CPU seconds per step; mode ``plain`` (DP-SGD's path), ``grouped`` or ``tabulated``."""
    fast = mode != "plain"
    network.uses_tables = lambda batch_size: mode == "tabulated"  # pin the fast path's choice
    opt = torch.optim.AdamW(network.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    started = time.process_time()
    for _ in range(steps):
        idx = torch.randint(0, codes.shape[0], (batch,), generator=gen)
        batch_codes = codes[idx]
        loss = network.loss(batch_codes, network.random_visibility(batch), fast=fast)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.process_time() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, help="batch size (default: the package's rule)")
    parser.add_argument("--tables", nargs="*", default=list(PANEL))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        f"CPU seconds per training step (forward + backward + AdamW), {args.rows} rows per table, "
        f"{args.steps} steps per path, batch {args.batch or 'by the default rule'}, "
        f"torch threads {args.threads}.",
        "",
        "| table | sub-columns | total codes | batch | plain s/step | grouped | tabulated | "
        "fast path picks | fast / plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in args.tables:
        codes, codec = _codes(name, args.rows, 0)
        config = flat_network_config(codec, "medium", int(codes.shape[0] * 0.9))
        torch.manual_seed(0)
        network = ARGN(config).train()
        batch = args.batch or default_batch_size(int(codes.shape[0] * 0.9))
        modes = ("plain", "grouped", "tabulated")
        for mode in modes:  # warm-up
            _time_steps(network, codes, batch, 1, mode)
        seconds = {mode: [] for mode in modes}
        for _ in range(2):  # alternate, so noise hits every path alike
            for mode in modes:
                seconds[mode].append(_time_steps(network, codes, batch, args.steps // 2, mode))
        mean = {mode: float(np.mean(v)) for mode, v in seconds.items()}
        del network.uses_tables
        picked = "tabulated" if network.uses_tables(batch) else "grouped"
        row = (
            f"| {name} | {codec.n_sub} | {sum(codec.cardinalities)} | {batch} | "
            f"{mean['plain']:.4f} | {mean['grouped']:.4f} | {mean['tabulated']:.4f} | {picked} | "
            f"{mean[picked] / mean['plain']:.2f} |"
        )
        print(row, flush=True)
        lines.append(row)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
