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
#   scale.node_<n>.tick_ms, .tick_every_deal_ms, .bytes_per_deal
#       the node's periodic tick (Market::tick, every second on the server's thread), the same
#       reading the ledger for every live deal, and the heap the market and its embedded ledger
#       hold per live deal (ipsx-bench-market's market.tick_ms, market.tick_every_deal_ms and
#       market.bytes_per_live_deal) with n = 1k, 10k and 100k live deals.
#   scale.ledger_<n>.transfers_per_s, .open_ms, .disk_bytes_each, .heap_bytes_each
#       the embedded ledger with n = 100k, 1m and 10m accounts (ipsx-bench-ledger --accounts N):
#       signed transfers, each to a random account, snapshots every 20,000 transactions as by
#       default; its open; its store and its open state per account.
#   scale.conns_<n>.bytes_each, scale.conns_<n>.rps, scale.conns_<n>.held
#       the gateway and the exit with n = 1k, 10k and 50k idle tunnels held through them
#       (ipsx-bench-proxy --scale-conns): their RSS growth per tunnel, and the chain's request
#       rate (a new connection per request) with the tunnels open. Each tunnel is a descriptor in
#       the gateway, the exit and this benchmark, so the last point is 50k where the hard limit
#       on descriptors allows it and the most it allows elsewhere (19k under a limit of 20,000),
#       named by its size (scale.conns_19k.*).
# usage: bench/scale.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: bench/scale.sh BUILD_DIR}
out="$build/bench/scale.json"
mkdir -p "$build/bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo '{}' >"$out"
fig() {  # fig FILE KEY: a figure from one run's results, null if that run wrote none
  if [[ -f "$1" ]]; then jq --arg k "$2" '.[$k]' "$1"; else echo null; fi
}
put() {  # put KEY VALUE: adds one figure to scale.json (none if that run did not measure it)
  if [[ -z "$2" || "$2" == null ]]; then
    echo "scale: $1 not measured" >&2
    return 0
  fi
  jq --arg k "$1" --argjson v "$2" '. + {($k): $v}' "$out" >"$tmp/out" && mv "$tmp/out" "$out"
}
for n in 1000000 10000000; do
  name=$((n / 1000000))m
  sync
  timeout 420 "$build/bin/ipsx-bench-market" --resting "$n" \
    --benchmark_filter='^market.core_ops_per_s' --results "$tmp/book-$name.json" >&2 ||
    echo "scale: the book at $name failed or ran over its time" >&2
  put "scale.book_$name.ops_per_s" "$(fig "$tmp/book-$name.json" market.core_ops_per_s)"
  put "scale.book_$name.bytes_per_offer" "$(fig "$tmp/book-$name.json" market.bytes_per_offer)"
  put "scale.book_$name.op_in_misses" "$(fig "$tmp/book-$name.json" market.op_in_misses)"
done
for n in 1000 10000 100000; do
  name=$((n / 1000))k
  timeout 240 "$build/bin/ipsx-bench-market" --live-deals "$n" \
    --benchmark_filter='^market.ticks_per_s' --results "$tmp/node-$name.json" >&2 ||
    echo "scale: the node at $name failed or ran over its time" >&2
  put "scale.node_$name.tick_ms" "$(fig "$tmp/node-$name.json" market.tick_ms)"
  put "scale.node_$name.tick_every_deal_ms" "$(fig "$tmp/node-$name.json" market.tick_every_deal_ms)"
  put "scale.node_$name.bytes_per_deal" "$(fig "$tmp/node-$name.json" market.bytes_per_live_deal)"
done
for n in 100000 1000000 10000000; do
  if ((n >= 1000000)); then name=$((n / 1000000))m; else name=$((n / 1000))k; fi
  sync
  timeout 300 "$build/bin/ipsx-bench-ledger" --accounts "$n" \
    --benchmark_filter='^ledger.accounts_transfers_per_s' --results "$tmp/ledger-$name.json" >&2 ||
    echo "scale: the ledger at $name failed or ran over its time" >&2
  put "scale.ledger_$name.transfers_per_s" "$(fig "$tmp/ledger-$name.json" ledger.accounts_transfers_per_s)"
  put "scale.ledger_$name.open_ms" "$(fig "$tmp/ledger-$name.json" ledger.accounts_open_ms)"
  put "scale.ledger_$name.disk_bytes_each" "$(fig "$tmp/ledger-$name.json" ledger.accounts_disk_bytes_each)"
  put "scale.ledger_$name.heap_bytes_each" "$(fig "$tmp/ledger-$name.json" ledger.accounts_heap_bytes_each)"
done
# The third point: 50,000 tunnels, or what a process may hold here (a thousand descriptors kept
# for everything else).
limit=$(ulimit -Hn)
top=50000
if [[ $limit != unlimited ]] && ((limit - 1000 < top)); then top=$(((limit - 1000) / 1000 * 1000)); fi
timeout 300 "$build/bin/ipsx-bench-proxy" --scale-conns "1000,10000,$top" \
  --results "$tmp/conns.json" >&2 || echo "scale: the connections failed or ran over" >&2
for name in 1k 10k $((top / 1000))k; do
  put "scale.conns_$name.bytes_each" "$(fig "$tmp/conns.json" "proxy.scale_$name.bytes_per_conn")"
  put "scale.conns_$name.rps" "$(fig "$tmp/conns.json" "proxy.scale_$name.rps")"
  put "scale.conns_$name.held" "$(fig "$tmp/conns.json" "proxy.scale_$name.held")"
done
echo "results: $out"
cat "$out"
