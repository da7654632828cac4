#!/usr/bin/env bash
# The peer runs behind benchmarks/results (without tabargn), as run on the shared 2-core dev machine:
#   nohup bash benchmarks/run_peers.sh > benchmarks/work/peers.log 2>&1 &
# One generator at a time, at nice 19. Epoch caps: 300 epochs (SDV default) of CTGAN/TVAE would take hours on
# 2 shared cores (calibration: ~35 s per CTGAN epoch on lending_club_loans), so CTGAN is capped at 50 and TVAE
# at 100 epochs; the caps are recorded as epochs_override in the JSONs and shown in bold in RESULTS.md.
# mostlyai-engine on adult is not here: it must be measured in the same run as tabargn
# (`generate --datasets adult --generators tabargn mostlyai-engine`).
set -u
cd "$(dirname "$0")/.."
RUN_ID=${RUN_ID:-peers-$(date -u +%Y%m%dT%H%M%SZ)}
PY=.venv/bin/python
nice -n 19 $PY benchmarks/run.py generate --datasets lending_club_loans \
    --generators gaussian_copula ctgan tvae mostlyai-engine --epochs ctgan=50 tvae=100 --timeout 3600 --run-id "$RUN_ID"
nice -n 19 $PY benchmarks/run.py generate --datasets adult \
    --generators gaussian_copula ctgan tvae --epochs ctgan=50 tvae=100 --timeout 3600 --run-id "$RUN_ID"
