#!/usr/bin/env bash
# One panel cell: benchmarks/defaults_panel.py, its JSON line appended to the results.
# The time cap is far beyond any panel fit: the machine is shared, and a wall-clock cap
# would cut fits by the load of other jobs, not by their own cost.
cd "$(dirname "$0")/.." || exit 1
PY=${PY:-python}
# a cell already in the results is not run again (the queue can be restarted)
grep -qF "\"cell\": \"$*\"" benchmarks/results/defaults_panel.jsonl 2>/dev/null && exit 0
exec "$PY" benchmarks/defaults_panel.py "$@" --max-time "${MAX_TIME:-1800}" \
  --out benchmarks/results/defaults_panel.jsonl 2>>"${LOG:-/tmp/defaults_panel.log}" >/dev/null
