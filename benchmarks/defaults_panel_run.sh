#!/usr/bin/env bash
# One panel cell: benchmarks/defaults_panel.py with the panel's time cap, appended to the results.
cd "$(dirname "$0")/.." || exit 1
PY=${PY:-python}
exec "$PY" benchmarks/defaults_panel.py "$@" --max-time "${MAX_TIME:-150}" \
  --out benchmarks/results/defaults_panel.jsonl 2>>benchmarks/results/defaults_panel.log >/dev/null
