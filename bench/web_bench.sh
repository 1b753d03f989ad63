#!/usr/bin/env bash
# The web app's weight as a browser loads it (docs/web.md): each page's HTML, and the script and
# style it links, fetched with Accept-Encoding: gzip from the program that serves it (`ipsx node`
# the market, `ipsx gateway --ui` and `ipsx provide --ui` the consoles, all started here on
# loopback); the heaviest page's compressed script and style, in KiB, merged into RESULTS as
# web.first_load_kb (and each page's as web.PAGE_load_kb).
# usage: web_bench.sh IPSX RESULTS
set -euo pipefail
IPSX=$1 RESULTS=$2
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
echo pw >"$work/pw"
new() { "$IPSX" wallet new --keystore "$work/ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new) provider=$(new) requester=$(new)
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 2>/dev/null
"$IPSX" ledger init --data "$work/ledger" --genesis "$work/g.toml" >/dev/null
echo '127.0.0.2/32 DE AS64501 residential Loopback DE' >"$work/geo.txt"
"$IPSX" node --data "$work/ledger" --keystore "$work/ks" --address "$market" \
  --password-file "$work/pw" --listen 127.0.0.1:0 --geo-static "$work/geo.txt" >"$work/node.out" 2>&1 &
pids+=($!)
# listening NAME PATTERN: the URL the program logged in $work/NAME.out.
listening() {
  local u=
  for _ in $(seq 200); do
    u=$(grep -oE "$2" "$work/$1.out" | grep -oE 'http://[0-9.:]+' | head -1) && [[ -n $u ]] && break
    sleep 0.1
  done
  [[ -n $u ]] || { echo "web_bench: $1 did not start: $(cat "$work/$1.out")" >&2; exit 1; }
  echo "$u"
}
url=$(listening node 'http://127\.0\.0\.1:[0-9]+')
# The consoles: a requester's gateway and a provider, each with its page.
echo secret >"$work/ui-pw"
"$IPSX" gateway --node "$url" --keystore "$work/ks" --address "$requester" --password-file "$work/pw" \
  --proxy-password-file "$work/ui-pw" --listen 127.0.0.1:0 --max-price 1 --ui 127.0.0.1:0 \
  >"$work/gateway.out" 2>&1 &
pids+=($!)
printf 'pair_listen = "127.0.0.1:0"\n[[ip]]\naddress = "127.0.0.2"\ncountry = "DE"\ntype = "residential"\nprice = "0.001"\nprotocols = "http"\nscopes = "crawling"\n' \
  >"$work/provider.toml"
"$IPSX" provide --node "$url" --keystore "$work/ks" --address "$provider" --password-file "$work/pw" \
  --config "$work/provider.toml" --data "$work/provider" --ui 127.0.0.1:0 --ui-password-file "$work/ui-pw" \
  >"$work/provider.out" 2>&1 &
pids+=($!)
requester_url=$(listening gateway 'console on http://127\.0\.0\.1:[0-9]+')
provider_url=$(listening provider 'console on http://127\.0\.0\.1:[0-9]+')

# load_kb URL: the compressed bytes of the page's linked scripts and styles, in KiB.
load_kb() {
  local base=$1 total=0 n
  for asset in $(curl -sf -u me:secret -H 'Accept-Encoding: gzip' "$base/" | gzip -dc |
    grep -oE '(src|href)="/assets/[^"]+"' | grep -oE '/assets/[^"]+'); do
    n=$(curl -sf -u me:secret -o /dev/null -w '%{size_download}' -H 'Accept-Encoding: gzip' "$base$asset")
    total=$((total + n))
  done
  ((total > 0)) || { echo "web_bench: no assets at $base/" >&2; exit 1; }
  awk -v b="$total" 'BEGIN { printf "%.1f", b / 1024 }'
}
market_kb=$(load_kb "$url")
requester_kb=$(load_kb "$requester_url")
provider_kb=$(load_kb "$provider_url")
echo "web.market_load_kb $market_kb web.requester_load_kb $requester_kb web.provider_load_kb $provider_kb"
jq -n --argjson m "$market_kb" --argjson r "$requester_kb" --argjson p "$provider_kb" \
  '{"web.market_load_kb": $m, "web.requester_load_kb": $r, "web.provider_load_kb": $p,
    "web.first_load_kb": ([$m, $r, $p] | max)}' >"$work/web.json"
if [[ -s $RESULTS ]]; then
  jq -s '.[0] * .[1]' "$RESULTS" "$work/web.json" >"$work/merged" && mv "$work/merged" "$RESULTS"
else
  cp "$work/web.json" "$RESULTS"
fi
