#!/usr/bin/env bash
# Instructions the adapter executes per in-process answer (the `answer` bench's work), counted
# by valgrind's cachegrind: exact and repeatable where timings on a shared 2-core VM move by
# 20 % from run to run. Two runs of the bench's plain loop (ANSWER_ROUNDS = 500 and 1500, the
# criterion part skipped by a filter that matches nothing) are subtracted, so start-up cancels.
# Needs valgrind (Debian package `valgrind`). Run from anywhere in the repository:
#   bash crates/metrics-adapter/benches/answer-instructions.sh
set -euo pipefail
. "$(dirname "$0")/answer-binary.sh"
count() {
  ANSWER_ROUNDS=$1 ANSWER_COLD_ROUNDS=0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$binary" --bench no-criterion-bench-matches-this 2>&1 \
    | awk '/I *refs:/ { gsub(",", "", $NF); refs = $NF } END { print refs }'
}
low=$(count 500)
high=$(count 1500)
echo "instructions per answer of 100 pods: $(( (high - low) / 1000 ))"
