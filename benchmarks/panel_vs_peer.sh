#!/usr/bin/env bash
# Issue 13's panel: tabargn against mostlyai-engine (both with their own defaults, no epoch cap) on
# the flat tables of /work/shared/data, each cell (dataset x size) in one run, one cell after the
# other, meant for an otherwise idle machine. Results: benchmarks/results/<label>__{tabargn,
# mostlyai-engine}.json and RESULTS.md; the panel table: `python benchmarks/panel_table.py RUN_ID`.
# Usage (repository root): bash benchmarks/panel_vs_peer.sh RUN_ID DATASET:SIZE ...
#   SIZE: "full", or a row count drawn before the 80/20 split (run.py --subsample)
# The 18 cells behind results/panel.md (run id panel-20261201c) are listed at its top.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_ID=$1; shift
PY=${PY:-.venv/bin/python}        # runs the harness and scoring
PY_MAIN=${PY_MAIN:-$PY}            # runs tabargn's worker (the panel: a venv of README's plain install)
for cell in "$@"; do
  d=${cell%%:*}; size=${cell#*:}
  sub=()
  if [ "$size" != full ]; then sub=(--subsample "$size"); fi
  echo "== $(date -u +%FT%TZ) $d $size (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  $PY benchmarks/run.py generate --datasets "$d" --generators tabargn mostlyai-engine "${sub[@]}" \
      --score --run-id "$RUN_ID" --python-main "$PY_MAIN"
done
