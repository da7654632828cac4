#!/usr/bin/env bash
# Creates .venv-peers (git-ignored) with the benchmark peers: mostlyai-engine and SDV.
# The peers are benchmark-only dependencies, never dependencies of tabargn (see /work/shared/PEERS.md).
# Usage (from the repository root):  bash benchmarks/install_peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-peers}
python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install --upgrade pip
$PIP install torch==2.13.0                       # CPU build (from local disk on the dev machines)
# mostlyai-engine declares torchvision/torchaudio pins that conflict with torch 2.13; tabular models do not need them
$PIP install --no-deps mostlyai-engine==2.7.3
$PIP install "accelerate>=1.5.0" "datasets>=3.0.0" "huggingface-hub>=0.30.2" joblib json-repair numpy opacus pandas \
             "peft>=0.18.2" "psutil<6" pyarrow scikit-learn tokenizers "transformers>=5.5.3" "xgrammar<1.0.0,>=0.2.1"
$PIP install sdv sdmetrics                      # SDV 2.x (CTGAN, TVAE, GaussianCopula) + sdmetrics
$PIP freeze > benchmarks/work/peers-freeze.txt
"$VENV/bin/python" - <<'PY'
from mostlyai.engine import TabularARGN  # noqa: F401
from sdv.single_table import GaussianCopulaSynthesizer, CTGANSynthesizer, TVAESynthesizer  # noqa: F401
import importlib.metadata as m
print({p: m.version(p) for p in ["torch", "mostlyai-engine", "sdv", "sdmetrics", "ctgan"]})
PY
