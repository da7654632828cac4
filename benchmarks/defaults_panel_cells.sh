#!/usr/bin/env bash
# The cells of the defaults panel (issue 13), one per line: TABLE ROWS RULE [options].
# Run: benchmarks/defaults_panel_cells.sh | xargs -P 2 -L 1 benchmarks/defaults_panel_run.sh
T="adult census_income_kdd lending_club_loans faa_bird_strikes nycflights13_flights baseball"
for rows in 2000 5000; do
  for t in $T; do for r in current min64 min128; do echo "$t $rows $r"; done; done
done
for t in $T; do for r in current r32; do echo "$t 20000 $r"; done; done
for t in adult lending_club_loans; do for r in current min64 min128; do echo "$t 5000 $r --seed 1"; done; done
for t in $T; do echo "$t 5000 min128 --no-value-protection"; done
