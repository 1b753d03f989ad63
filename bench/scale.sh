#!/usr/bin/env bash
# `make bench-scale`: how cost grows. Each measured part at its usual size and larger, written to
# BUILD/bench/scale.json (one flat JSON object, every figure measured in this run) and printed.
# Bounded: each run has its own time limit, 15 minutes in all.
#
# The curves measured so far:
#   scale.book_<n>.ops_per_s, scale.book_<n>.bytes_per_offer, scale.book_<n>.op_in_misses
#       the order book and matcher (ipsx-bench-market's market.core_ops_per_s,
#       market.bytes_per_offer and market.op_in_misses: the mean operation's time in DRAM-miss
#       latencies) with n = 1m and 10m resting offers (100 M would take 23 GB).
# usage: bench/scale.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: bench/scale.sh BUILD_DIR}
out="$build/bench/scale.json"
mkdir -p "$build/bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo '{}' >"$out"
put() {  # put KEY VALUE: adds one figure to scale.json
  jq --arg k "$1" --argjson v "$2" '. + {($k): $v}' "$out" >"$tmp/out" && mv "$tmp/out" "$out"
}
for n in 1000000 10000000; do
  name=$((n / 1000000))m
  sync
  timeout 420 "$build/bin/ipsx-bench-market" --resting "$n" \
    --benchmark_filter='^market.core_ops_per_s' --results "$tmp/book-$name.json" >&2
  put "scale.book_$name.ops_per_s" "$(jq '."market.core_ops_per_s"' "$tmp/book-$name.json")"
  put "scale.book_$name.bytes_per_offer" "$(jq '."market.bytes_per_offer"' "$tmp/book-$name.json")"
  put "scale.book_$name.op_in_misses" "$(jq '."market.op_in_misses"' "$tmp/book-$name.json")"
done
echo "results: $out"
cat "$out"
