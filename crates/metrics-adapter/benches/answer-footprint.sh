#!/usr/bin/env bash
# Cache lines one cold answer brings in from memory (the `answer` bench's answer after a 64 MiB
# sweep), counted by valgrind's callgrind simulating this machine's caches (32 KiB 8-way L1i and
# L1d, 32 MiB 16-way last level, 64-byte lines) and collecting inside `cold_answer` only. On
# the adapter bench's real path the answer runs cold: Prometheus and the client run between
# two answers, and the adapter's time there follows these misses more than its instructions.
# Exact and repeatable. Needs valgrind (Debian package `valgrind`). Run from anywhere in the
# repository:
#   bash crates/metrics-adapter/benches/answer-footprint.sh
set -euo pipefail
. "$(dirname "$0")/answer-binary.sh"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Event totals (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw) over $1 cold answers; two runs are
# subtracted, so start-up cancels.
totals() {
  ANSWER_ROUNDS=0 ANSWER_COLD_ROUNDS=$1 valgrind --tool=callgrind --cache-sim=yes \
    --I1=32768,8,64 --D1=32768,8,64 --LL=33554432,16,64 \
    --toggle-collect='answer::cold_answer' --callgrind-out-file="$out/$1" \
    "$binary" --bench no-criterion-bench-matches-this >/dev/null 2>&1
  callgrind_annotate --auto=no "$out/$1" | grep 'PROGRAM TOTALS' \
    | tr -d ',' | awk '{ n = 0; for (i = 1; i <= NF && n < 9; i++) if ($i ~ /^[0-9]+$/) { n++; printf "%s ", $i } }'
}
low=($(totals 10))
high=($(totals 30))
per() { echo $(( (high[$1] - low[$1]) / 20 )); }
echo "per cold answer of 100 pods: $(per 0) instructions; last-level misses: $(( $(per 6) + $(per 7) + $(per 8) )) (instruction $(per 6), data read $(per 7), data write $(per 8))"
