"""Multi-process training on the CPU (gloo): DDP from a script and a spawn-based strategy.

Each run trains a flat model (adult) and a sequential model (baseball) with ``devices=2``.
Every rank must end with the same weights (gradients are averaged, early stopping and the best
weights agree across ranks), and the model must sample.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCRIPT = Path(__file__).parent / "scripts" / "ddp_fit.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "adult.parquet").exists(), reason="needs ../shared/data"),
]


def _run(strategy: str, tmp_path) -> list[dict]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), strategy, str(DATA)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]


def test_ddp_from_a_script_gives_every_rank_the_same_model(tmp_path):
    results = _run("ddp", tmp_path)
    assert sorted(r["rank"] for r in results) == [0, 1]
    a, b = results
    assert a["flat"] == b["flat"] and a["sequential"] == b["sequential"]
    assert a["flat_training"]["devices"] == 2 and a["flat_training"]["strategy"] == "DDPStrategy"
    assert a["flat_history"] == b["flat_history"] >= 1
    assert a["flat_rows"] == 100 and a["seq_rows"] > 0


def test_spawned_workers_hand_the_model_back(tmp_path):
    (result,) = _run("ddp_spawn", tmp_path)  # only the main process prints
    assert result["flat_training"]["devices"] == 2
    assert result["flat_history"] >= 1 and result["seq_history"] >= 1
    assert result["flat_rows"] == 100 and result["seq_rows"] > 0
