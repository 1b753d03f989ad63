#!/usr/bin/env bash
# End to end: the whole exchange on loopback, each part its own process, as the README runs it:
# `ipsx node` (the market on the embedded ledger), two providers (`ipsx provide`) whose exits
# leave from 127.0.0.2 (DE) and 127.0.0.3 (US), a requester's `ipsx gateway`, and a destination
# that answers with the caller's address. curl through the gateway by country: the gateway
# orders a lease at the node, the provider reports its deal ready, the gateway connects, and the
# destination sees the leased IP. Filters nothing fits get a 503; bad configs a clear error.
# Last, the SDK's example program (examples/lease_and_fetch.cc) leases a JP IP and fetches a page.
# usage: dataplane_e2e.sh IPSX [LEASE_AND_FETCH]
set -uo pipefail
IPSX=$1
EXAMPLE=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
on_exit() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY

echo pw >"$work/pw"
echo proxy-secret >"$work/proxy-pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
de=$(new) us=$(new) requester=$(new)
data=$work/ledger
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 2>/dev/null
"$IPSX" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
sleep 1
send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null; }
send --address "$team" finalize-sale
send --address "$early" transfer --to "$requester" --amount 1000
send --address "$requester" deposit --amount 100

# The node checks every offer's IP: its location against the geo data (a static table for the
# loopback addresses, then ip-location-db), and a probe that must arrive from it.
cat >"$work/geo.txt" <<'TABLE'
127.0.0.2/32  DE  AS64501  residential  Loopback DE
127.0.0.3/32  US  AS64502  residential  Loopback US
127.0.0.4/32  DE  AS64503  residential  Loopback DE, never probed
127.0.0.5/32  JP  AS64504  residential  Loopback JP, for the example program
TABLE
geo_data=()
[[ -d $here/../../node_modules/@ip-location-db ]] && geo_data=(--geo-data "$here/../../node_modules/@ip-location-db")
start node "$IPSX" node --data "$data" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" --listen 127.0.0.1:0 --geo-static "$work/geo.txt" "${geo_data[@]}"
url=$(wait_for "$work/node.out" 'http://127\.0\.0\.1:[0-9]+') && ok "the node listens at $url" ||
  bad "the node starts: $(cat "$work/node.out")"

start whoami python3 "$here/whoami_server.py"
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$') && ok "the destination listens" ||
  bad "the destination starts"

# provider_config IP COUNTRY PRICE: a provider's config with one IP.
provider_config() {
  cat <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]   # the destination is on loopback; an operator would not allow it
[[ip]]
address = "$1"
country = "$2"
type = "residential"
price = "$3"
protocols = "http,https-connect,socks5"
scopes = "crawling,general"
TOML
}
provider_config 127.0.0.2 DE 0.001 >"$work/de.toml"
# The DE exit also serves its deals' per-deal credentials at a proxy front (ip:port:user:pass).
sed -i '1i proxy_listen = "127.0.0.2:0"' "$work/de.toml"
provider_config 127.0.0.3 US 0.002 >"$work/us.toml"
provide() { "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" "$@"; }
# (The binary itself, not the shell function: SIGTERM must reach ipsx, not a subshell.)
start de "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$de" --config "$work/de.toml" --metrics 127.0.0.1:0
start us "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$us" --config "$work/us.toml"
wait_for "$work/de.out" 'proved to the node that it sends from 127\.0\.0\.2' >/dev/null &&
  ok "the DE provider proves it sends from 127.0.0.2" || bad "DE probe: $(cat "$work/de.out")"
wait_for "$work/de.out" 'offer .* for 127\.0\.0\.2 \(DE\) placed' >/dev/null &&
  ok "the DE provider places its offer" || bad "DE provider: $(cat "$work/de.out")"
wait_for "$work/us.out" 'offer .* for 127\.0\.0\.3 \(US\) placed' >/dev/null &&
  ok "the US provider places its offer" || bad "US provider: $(cat "$work/us.out")"
for _ in $(seq 50); do curl -sf "$url/v1/exits/$de" >/dev/null && break; sleep 0.1; done
expect_out "the node serves the DE provider's exit" '"endpoint":"127\.0\.0\.1:[0-9]+"' \
  curl -sf "$url/v1/exits/$de"

# The gateway logs in JSON (IPSX_LOG_FORMAT, as a service would set it); the providers in text.
IPSX_LOG_FORMAT=json start gateway "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 \
  --max-price 0.0025 --duration 120 --budget 1 --metrics 127.0.0.1:0 --control 127.0.0.1:0 \
  --open-to 127.0.0.1/32 --open-filters country-de --pac 127.0.0.1:0
gw=$(wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:[0-9]+' | grep -oE '[0-9.]+:[0-9]+$') &&
  ok "the gateway listens on $gw" || bad "the gateway starts: $(cat "$work/gateway.out")"
gw_metrics=$(wait_for "$work/gateway.out" 'metrics on http://127\.0\.0\.1:[0-9]+/metrics' | grep -oE 'http://[0-9.:]+/metrics')

# through USER [SCHEME]: curl via the gateway to the destination; prints the body and status.
through() {
  curl -sS --max-time 20 -w '%{http_code}' -x "${2:-http}://$1:proxy-secret@$gw" \
    "http://127.0.0.1:$dest_port/" 2>&1 | tr '\n' ' '
}
expect_eq "country-de leaves from the DE provider's IP" "$(through country-de)" "127.0.0.2 200"
expect_eq "country-us leaves from the US provider's IP (SOCKS5)" "$(through country-us socks5h)" \
  "127.0.0.3 200"
expect_eq "a sticky session keeps its IP" "$(through country-us-session-a1)" "127.0.0.3 200"
expect_out "nothing in France: 503 with the reason" 'no offer on the market fits.* 503$' through country-fr
expect_eq "a wrong proxy password: 407" \
  "$(curl -s -o /dev/null -w '%{http_code}' -x "http://country-de:nope@$gw" "http://127.0.0.1:$dest_port/")" "407"

wait_for "$work/de.out" 'deal 0x[0-9a-f]+ for 127\.0\.0\.2 .*: ready' >/dev/null &&
  ok "the DE provider reports its deal ready" || bad "DE deal ready: $(cat "$work/de.out")"
wait_for "$work/gateway.out" 'deal 0x[0-9a-f]+ connected' >/dev/null &&
  ok "the gateway reports connected" || bad "gateway connected: $(cat "$work/gateway.out")"
# Logs: text lines with a UTC time and a level; JSON lines whose deal lines carry the deal's id.
expect_out "the provider's log: time, level, program" \
  '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z info ipsx provide: deal 0x[0-9a-f]{64} for 127\.0\.0\.2' \
  grep 'for 127.0.0.2 with' "$work/de.out"
# The gateway goes on writing: its complete lines as they are now, counted once.
head -n "$(wc -l <"$work/gateway.out")" "$work/gateway.out" >"$work/gateway.lines"
expect_eq "the gateway's log: every line a JSON object with time, level, program and message" \
  "$(jq -c 'select((.time | test("Z$")) and .level and .program == "ipsx gateway" and .msg) | 1' \
    "$work/gateway.lines" 2>&1 | wc -l)" "$(wc -l <"$work/gateway.lines")"
expect_out "the gateway's JSON deal lines carry the deal as a field" '^true$' jq -s \
  '[.[] | select(.msg | test(" connected"))] | length > 0 and all(. as $l | $l.msg | startswith("deal " + $l.deal))' \
  "$work/gateway.out"
# The gateway's Prometheus endpoint: what it leased, carried and committed, and its process.
metric() { curl -s "$gw_metrics" | awk -v m="$1" '$1 == m {print $2}'; }
expect_eq "gateway metrics: two leases ordered, one order found nothing" \
  "$(metric ipsx_gateway_leases_ordered_total) $(metric ipsx_gateway_nothing_fits_total)" "2 1"
down=$(metric 'ipsx_gateway_bytes_total{direction="down"}')
[[ ${down:-0} -gt 0 ]] && ok "gateway metrics: $down bytes carried down" || bad "gateway bytes: $(curl -s "$gw_metrics")"
# A browser on this machine gives no credentials (--open-to): it gets the --open-filters' IP, over
# HTTP and SOCKS5, and finds the proxy through the PAC file.
expect_eq "no credentials from an open source: the DE IP (HTTP)" \
  "$(curl -s --max-time 20 -x "http://$gw" "http://127.0.0.1:$dest_port/")" 127.0.0.2
expect_eq "... and over SOCKS5 (no authentication offered)" \
  "$(curl -s --max-time 20 -x "socks5h://$gw" "http://127.0.0.1:$dest_port/")" 127.0.0.2
expect_eq "from a source not open (127.0.0.5), no credentials is 407" \
  "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.5 -x "http://$gw" "http://127.0.0.1:$dest_port/")" 407
pac=$(grep -oE 'proxy auto-config at http://[0-9.:]+/proxy.pac' "$work/gateway.out" | grep -oE 'http://.*')
expect_out "the PAC file names the gateway for HTTP and SOCKS5" \
  "return \"PROXY $gw; SOCKS5 $gw\"" curl -s "$pac"
# `ipsx gateway export`: the per-deal credentials, read back by curl as any proxy tool would.
control=$(grep -oE 'control on http://[0-9.:]+' "$work/gateway.out" | grep -oE 'http://.*')
creds=$("$IPSX" gateway export --control "$control")
expect_out "gateway export: the DE deal's ip:port:user:pass" '^127\.0\.0\.2:[0-9]+:[^:]+:[^:]+$' echo "$creds"
IFS=: read -r cip cport cuser cpass <<<"$(head -1 <<<"$creds")"
expect_eq "curl through the exported credentials leaves from the leased IP" \
  "$(curl -s --max-time 10 -x "http://$cuser:$cpass@$cip:$cport" "http://127.0.0.1:$dest_port/")" 127.0.0.2
expect_out "gateway export --format csv" '^ip,port,username,password,deal.*127\.0\.0\.2,[0-9]+,' \
  bash -c "'$IPSX' gateway export --control '$control' --format csv | tr '\n' ' '"
expect_out "gateway export --all --format json lists the US deal too (no front: port 0)" \
  '"ip": "127\.0\.0\.3".*"port": 0|"port": 0.*"ip": "127\.0\.0\.3"' \
  bash -c "'$IPSX' gateway export --control '$control' --all --format json | tr '\n' ' '"
expect_error "gateway export without a gateway there" 'control' \
  "$IPSX" gateway export --control http://127.0.0.1:9
# The DE provider's: its deal, what the exit carried, what the requester paid (within 10 s: the
# exit invoices every second, and the deal's first connection came just now).
de_metrics=$(grep -oE 'metrics on http://[0-9.:]+/metrics' "$work/de.out" | grep -oE 'http://.*')
pmetric() { curl -s "$de_metrics" | awk -v m="$1" '$1 == m {print $2}'; }
for _ in $(seq 50); do [[ $(pmetric ipsx_provider_paid_ipsx) =~ ^[0-9.e+-]+$ && $(pmetric ipsx_provider_paid_ipsx) != 0 ]] && break; sleep 0.2; done
expect_eq "provider metrics: one deal, connections served" \
  "$(pmetric ipsx_provider_deals_total) $(( $(pmetric ipsx_provider_connections_total) > 0 ))" "1 1"
paid=$(pmetric ipsx_provider_paid_ipsx)
[[ -n $paid && $paid != 0 ]] && ok "provider metrics: the requester paid $paid IPSX so far" ||
  bad "provider paid: $(curl -s "$de_metrics" | grep ipsx_provider)"
expect_out "gateway metrics say the build and the process" \
  'ipsx_build_info\{version="[0-9.]+",role="gateway"\} 1.*process_resident_memory_bytes [1-9]' \
  bash -c "curl -s $gw_metrics | tr '\n' ' '"
phases() { curl -s "$url/v1/deals?party=$requester" | grep -oE '"phase":"[a-z]+"' | sort | uniq -c | tr -s ' '; }
for _ in $(seq 50); do phases | grep -q ' 2 "phase":"active"' && break; sleep 0.2; done
expect_out "both deals are active at the node" ' 2 "phase":"active"' phases

# Bad input: a clear error, nothing started.
printf 'pair_listen = "127.0.0.1:0"\n' >"$work/empty.toml"
expect_error "a provider config without IPs" 'no \[\[ip\]\] to offer' \
  provide --address "$de" --config "$work/empty.toml"
provider_config 127.0.0.2 XX 0.001 >"$work/bad-country.toml"
expect_error "an unknown country" 'ip\[0\]\.country' provide --address "$de" --config "$work/bad-country.toml"
provider_config 127.0.0.3 DE 0.001 >"$work/wrong-country.toml"
expect_error "an IP claimed in the wrong country" 'location_mismatch.*claims DE; the static table says US' \
  provide --address "$de" --config "$work/wrong-country.toml"
provider_config 192.0.2.1 DE 0.001 >"$work/not-mine.toml"
expect_error "an IP this machine cannot send from" 'proving 192\.0\.2\.1.*cannot send from this address' \
  provide --address "$de" --config "$work/not-mine.toml"
"$IPSX" order offer --keystore "$ks" --password-file "$work/pw" --address "$de" --market "$market" \
  --genesis "$work/g.toml" --ip 127.0.0.4 --country DE --price 0.001 --out "$work/unproven.json" 2>/dev/null
post_order() { # the status, then the answer, on one line
  curl -s -o "$work/answer" -w '%{http_code} ' -X POST --data-binary @"$1" "$url/v1/orders"
  cat "$work/answer"
}
expect_out "an offer for an IP never probed: 403 ip_not_proven" '^403 .*"code":"ip_not_proven"' \
  post_order "$work/unproven.json"
expect_out "ipsx probe proves it by hand" 'proved: the node saw .* connect from 127\.0\.0\.4' \
  "$IPSX" probe --node "$url" --provider "$de" --ip 127.0.0.4
expect_out "then the same offer is accepted" '^201 .*"accepted":true' post_order "$work/unproven.json"
expect_error "a node that is not there (after --node-wait)" 'connect|refused' \
  "$IPSX" gateway --node http://127.0.0.1:9 --node-wait 1 --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --max-price 0.001
expect_error "an unknown protocol" "unknown protocol 'gopher'" \
  "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --max-price 0.001 --protocols gopher

# The SDK's example program: its own in-process gateway leases the JP provider's IP and fetches
# the destination's page through it.
if [[ -n $EXAMPLE ]]; then
  jp=$(new)
  provider_config 127.0.0.5 JP 0.001 >"$work/jp.toml"
  start jp "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
    --address "$jp" --config "$work/jp.toml"
  wait_for "$work/jp.out" 'offer .* for 127\.0\.0\.5 \(JP\) placed' >/dev/null ||
    bad "JP provider: $(cat "$work/jp.out")"
  keyfile=$(ls "$ks"/*"$(tr 'A-F' 'a-f' <<<"${requester#0x}")")
  expect_eq "the example program leases a JP IP and fetches the page from it" \
    "$("$EXAMPLE" "$url" "$keyfile" "$work/pw" jp 0.002 "http://127.0.0.1:$dest_port/" 2>"$work/example.err")" \
    "127.0.0.5"
  grep -q 'leased: deal 0x' "$work/example.err" && ok "the example reports its deal" ||
    bad "example: $(cat "$work/example.err")"
  expect_error "the example names a bad node URL" 'node URL' \
    "$EXAMPLE" "ftp://x" "$keyfile" "$work/pw" jp 0.002 "http://127.0.0.1:$dest_port/"
fi

# Clean shutdown: SIGTERM ends each process with status 0.
for p in "${pids[@]:2}"; do kill -TERM "$p"; done
rc=0
for p in "${pids[@]:2}"; do wait "$p" || { rc=$?; echo "process $p: status $rc"; }; done
expect_eq "the providers and the gateway stop cleanly on SIGTERM" "$rc" 0

# A restarted provider withdraws the offer its last run left live, and its new offer sells the IP
# only from the end of the deal still running under the old one: never twice for one moment.
pids=("${pids[@]:0:2}")
start de2 "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$de" --config "$work/de.toml"
wait_for "$work/de2.out" 'withdrew the earlier offer [0-9]+ for 127\.0\.0\.2' >/dev/null &&
  ok "a restarted provider withdraws its earlier offer" || bad "restart: $(cat "$work/de2.out")"
wait_for "$work/de2.out" 'offer .* for 127\.0\.0\.2 \(DE\) placed' >/dev/null ||
  bad "restart places: $(cat "$work/de2.out")"
deal_end=$(curl -s "$url/v1/deals?party=$de" | jq '[.deals[] | select(.status.phase != "closed") | .times.endMs] | max / 1000 | ceil')
from=$(curl -s "$url/v1/orders?owner=$de&side=offer&state=resting" |
  jq '[.orders[] | select(.offer.ip == "127.0.0.2") | .offer.availableFrom] | max')
expect_eq "the new offer sells from the end of the running deal" "$([[ $from -ge $deal_end && $deal_end -gt 0 ]] && echo yes || echo "no: from $from, deal ends $deal_end")" yes
finish
