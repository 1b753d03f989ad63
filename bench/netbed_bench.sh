#!/usr/bin/env bash
# The testbed's figures (docs/network.md, docs/performance.md): the exchange across the testbed
# (tests/e2e/netbed_exchange_e2e.sh) in its bench mode, the paths measured through the gateway:
# first byte (median of 21 new connections), requests per second (median of 3 runs of 1,000 over
# one kept-alive proxy connection) and a 16 MiB download, direct to a datacenter exit, punched to
# the exit behind nat4 and relayed to the exit behind the carrier's NAT, and how the punches went
# per NAT type; and a VPN tunnel against the same transfers without it; merged into RESULTS (one
# flat JSON object). Without root (network
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
trap 'rm -f "$out" "$out.merged" "$out.log"' EXIT
# The exchange's paths, then the VPN's tunnel (netbed_vpn_e2e.sh: through the tunnel against the
# same transfers without it, and how soon a tunnel is ready after its deal opened).
for script in netbed_exchange_e2e.sh netbed_vpn_e2e.sh; do
  rm -f "$out"
  if ! NETBED_BENCH_OUT=$out "$here/../tests/e2e/$script" "$IPSX" >"$out.log" 2>&1 || [[ ! -s $out ]]; then
    echo "netbed figures: the testbed run ($script) failed:"
    cat "$out.log"
    exit 1
  fi
  [[ -s $RESULTS ]] || echo '{}' >"$RESULTS"
  jq -s '.[0] * .[1]' "$RESULTS" "$out" >"$out.merged" && mv "$out.merged" "$RESULTS"
  echo "netbed figures ($script):" && cat "$out"
done
