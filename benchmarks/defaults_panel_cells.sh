#!/usr/bin/env bash
# The cells of the defaults panel (issue 13), one per line: TABLE ROWS RULE [options], in priority
# order: coverage of tables first (the current rule against min128 at 2k and 5k rows), then the
# questions of the noise (a second seed) and of value protection (a fit without it), then batch 64
# at 5k (min64, which is also r32 there), then 20k rows (current against r32).
# Run: benchmarks/defaults_panel_cells.sh | xargs -P 2 -L 1 benchmarks/defaults_panel_run.sh
T="adult census_income_kdd lending_club_loans faa_bird_strikes nycflights13_flights baseball"
for t in $T; do for r in current min128; do echo "$t 2000 $r"; done; done
for t in census_income_kdd adult; do echo "$t 2000 min128 --no-value-protection"; done
for r in current min128; do echo "adult 2000 $r --seed 1"; done
for t in $T; do for r in current min128; do echo "$t 5000 $r"; done; done
for t in $T; do echo "$t 5000 min64"; done
for t in adult baseball faa_bird_strikes nycflights13_flights lending_club_loans census_income_kdd; do
  for r in current r32; do echo "$t 20000 $r"; done
done
for r in current min128; do echo "lending_club_loans 5000 $r --seed 1"; done
for t in $T; do echo "$t 5000 min128 --no-value-protection"; done
for t in $T; do echo "$t 2000 min64"; done
