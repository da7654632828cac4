"""Fuzzing the command line with malformed input files (fixed seed): every run either succeeds
or ends with exit status 2 and one ``error:`` line, never a traceback."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tabargn.cli import app

runner = CliRunner()
QUICK = ["--max-epochs", "1", "--model-size", "small", "--quiet"]


def _malformed_inputs(root, rng: np.random.Generator) -> list:
    good = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 60),
            "city": rng.choice(["Köln", "Zürich", "Málaga"], 60),
            "score": rng.normal(size=60).round(2),
        }
    )
    text = good.to_csv(index=False)
    parquet = root / "good.parquet"
    good.to_parquet(parquet)
    raw = parquet.read_bytes()
    cases = {
        "empty.csv": b"",
        "header_only.csv": b"age,city,score\n",
        "one_row.csv": text.splitlines()[0].encode() + b"\n" + text.splitlines()[1].encode(),
        "binary.csv": rng.integers(0, 256, 2000, dtype=np.uint8).tobytes(),
        "ragged.csv": (text + "1,2,3,4,5\n,,\n").encode(),
        "latin1_semicolon.csv": text.replace(",", ";").encode("latin-1"),
        "utf16.csv": text.encode("utf-16"),
        "quotes.csv": text.replace("Köln", '"Kö""ln').encode(),
        "truncated.parquet": raw[: len(raw) // 2],
        "garbage.parquet": rng.integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "dir.parquet": None,
        "no_suffix": text.encode(),
        "data.xlsx": text.encode(),
    }
    paths = []
    for name, content in cases.items():
        path = root / name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        paths.append(path)
    for i in range(6):  # random byte flips of a good CSV
        data = bytearray(text.encode())
        for pos in rng.integers(0, len(data), 20):
            data[pos] = int(rng.integers(0, 256))
        path = root / f"flipped{i}.csv"
        path.write_bytes(bytes(data))
        paths.append(path)
    return paths


def test_malformed_files_fail_cleanly(tmp_path):
    rng = np.random.default_rng(20261130)
    for path in _malformed_inputs(tmp_path, rng):
        result = runner.invoke(app, ["fit", str(path), "-o", str(tmp_path / "model"), *QUICK])
        assert "Traceback" not in result.output, (path.name, result.output)
        if result.exit_code != 0:
            assert result.exit_code == 2, (path.name, result.exit_code, repr(result.exception))
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error:"), (path.name, result.output)
