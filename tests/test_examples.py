"""Runs every ``examples/*.py`` as a subprocess: it must exit 0 and print what it promises.

New examples are picked up by the glob; those listed in ``EXPECTED`` are also checked for key
lines of their output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# examples that read ../shared/data (the others use the bundled Adult table)
NEEDS_SHARED = {
    "sequences.py": "baseball.parquet",
    "text_columns.py": "faa_bird_strikes.parquet",
    "constraints.py": "lending_club_loans.parquet",
    "sequential_text.py": "faa_bird_strikes.parquet",
}
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

EXPECTED = {
    "flat_fit_sample.py": [
        "dtypes round-trip: True",
        "saved files: ['config.json', 'encoders.json', 'model.safetensors']",
        "reloaded model repeats the first draw: True",
    ],
    "conditions_imputation.py": [
        "all kept: True",
        "workclass values ['Private', 'State-gov']",
        "missing cells left: 0, observed cells kept: True",
        "predict_proba  columns ['<=50K', '>50K']",
    ],
    "evaluation.py": ["detection_score", "tstr_score", "report written to"],
    "constraints.py": [
        "rows breaking a rule with the rules: 0 of 1000",
        "with conditions and where: 0 rows break a rule; conditions and where kept: True",
        "fair sample 0.00",
    ],
    "sequential_text.py": ["text columns: ['remarks']", "text section:", "text_remarks_novelty"],
}


def test_examples_exist():
    assert {p.name for p in SCRIPTS} >= set(EXPECTED)


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs(script: Path, tmp_path: Path):
    needed = NEEDS_SHARED.get(script.name)
    if needed and not (SHARED_DATA / needed).exists() and "TABARGN_DATA" not in os.environ:
        pytest.skip(
            f"{SHARED_DATA / needed} not found (the shared datasets live beside the checkout)"
        )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.strip(), "an example should print what it did"
    for line in EXPECTED.get(script.name, []):
        assert line in result.stdout, f"{line!r} not in output:\n{result.stdout}"
    if script.name == "evaluation.py":
        report = tmp_path / "evaluation-report.html"
        assert report.stat().st_size > 10_000
        assert report.read_text().lstrip().lower().startswith("<!doctype html")
