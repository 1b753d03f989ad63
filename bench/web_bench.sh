#!/usr/bin/env bash
# The web app's weight as a browser loads it (docs/web.md): each page's HTML, and the script and
# style it links, fetched from the running program with Accept-Encoding: gzip; the heaviest
# page's compressed script and style, in KiB, merged into RESULTS as web.first_load_kb (and each
# page's as web.PAGE_load_kb).
# usage: web_bench.sh IPSX RESULTS
set -euo pipefail
IPSX=$1 RESULTS=$2
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
echo pw >"$work/pw"
new() { "$IPSX" wallet new --keystore "$work/ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 2>/dev/null
"$IPSX" ledger init --data "$work/ledger" --genesis "$work/g.toml" >/dev/null
"$IPSX" node --data "$work/ledger" --keystore "$work/ks" --address "$market" \
  --password-file "$work/pw" --listen 127.0.0.1:0 >"$work/node.out" 2>&1 &
pids+=($!)
url=
for _ in $(seq 100); do
  url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/node.out" | head -1) && [[ -n $url ]] && break
  sleep 0.1
done
[[ -n $url ]] || { echo "web_bench: the node did not start: $(cat "$work/node.out")" >&2; exit 1; }

# load_kb URL: the compressed bytes of the page's linked scripts and styles, in KiB.
load_kb() {
  local base=$1 total=0 n
  for asset in $(curl -sf -H 'Accept-Encoding: gzip' "$base/" | gzip -dc |
    grep -oE '(src|href)="/assets/[^"]+"' | grep -oE '/assets/[^"]+'); do
    n=$(curl -sf -o /dev/null -w '%{size_download}' -H 'Accept-Encoding: gzip' "$base$asset")
    total=$((total + n))
  done
  ((total > 0)) || { echo "web_bench: no assets at $base/" >&2; exit 1; }
  awk -v b="$total" 'BEGIN { printf "%.1f", b / 1024 }'
}
market_kb=$(load_kb "$url")
echo "web.market_load_kb $market_kb"
jq -n --argjson m "$market_kb" '{"web.market_load_kb": $m, "web.first_load_kb": ([$m] | max)}' \
  >"$work/web.json"
if [[ -s $RESULTS ]]; then
  jq -s '.[0] * .[1]' "$RESULTS" "$work/web.json" >"$work/merged" && mv "$work/merged" "$RESULTS"
else
  cp "$work/web.json" "$RESULTS"
fi
