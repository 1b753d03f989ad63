#!/usr/bin/env bash
# The testbed's figures (docs/network.md, docs/performance.md): the exchange across the testbed
# (tests/e2e/netbed_exchange_e2e.sh) in its bench mode, the paths measured through the gateway:
# first byte (median of 21 new connections), requests per second (median of 3 runs of 1,000 over
# one kept-alive proxy connection) and a 16 MiB download, direct to a datacenter exit, punched to
# the exit behind nat4 and relayed to the exit behind the carrier's NAT, and how the punches went
# per NAT type; merged into RESULTS (one flat JSON object). Without root (network
# namespaces) it says so and adds nothing.
# usage: netbed_bench.sh IPSX RESULTS_JSON
set -euo pipefail
IPSX=$1
RESULTS=$2
here=$(cd "$(dirname "$0")" && pwd)
if [[ $(id -u) != 0 ]] || ! command -v nft >/dev/null; then
  echo "netbed figures: skipped (the testbed needs root and nftables)"
  exit 0
fi
out=$(mktemp)
trap 'rm -f "$out" "$out.merged"' EXIT
if ! NETBED_BENCH_OUT=$out "$here/../tests/e2e/netbed_exchange_e2e.sh" "$IPSX" >"$out.log" 2>&1 || [[ ! -s $out ]]; then
  echo "netbed figures: the testbed run failed:"
  cat "$out.log"
  rm -f "$out.log"
  exit 1
fi
rm -f "$out.log"
[[ -s $RESULTS ]] || echo '{}' >"$RESULTS"
jq -s '.[0] * .[1]' "$RESULTS" "$out" >"$out.merged" && mv "$out.merged" "$RESULTS"
echo "netbed figures:" && cat "$out"
