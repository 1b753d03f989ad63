#!/usr/bin/env bash
# End to end: `ipsx node` serving the market and the ledger over HTTP, driven with curl: a signed
# offer and a matching request placed into a deal, the depth and the latest block read back, bad
# input answered with JSON errors (400, 404, 405, 413), a clean exit on SIGTERM, and the book
# surviving a restart. Then the rest of the API: orders listed, read and cancelled with the
# owner's signature; the deal listed, read and driven by the parties' signed status events (wrong
# party, replays, bad signatures and wrong types refused with their codes); profiles, trades, the
# ledger's accounts, blocks and events; /metrics; the rate limits (429 with Retry-After); and the
# WebSocket event stream (tests/e2e/ws_events.py).
# usage: node_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
node_pid=
trap '[[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null; rm -rf "$work"' EXIT

echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) provider=$(new) requester=$(new) market=$(new)
data=$work/ledger
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" --team "$team" \
  --treasury "$treasury" --sale-seconds 1 2>/dev/null
"$IPSX" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
sleep 1
send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null; }
send --address "$team" finalize-sale
send --address "$early" transfer --to "$requester" --amount 1000
send --address "$requester" deposit --amount 100

order() { "$IPSX" order "$@" --keystore "$ks" --password-file "$work/pw" --market "$market" --genesis "$work/g.toml" 2>/dev/null; }
order offer --address "$provider" --ip 127.0.0.2 --country DE --price 0.001 --out "$work/o1.json"
order offer --address "$provider" --ip 127.0.0.3 --country DE --price 0.002 --out "$work/o2.json"
order request --address "$requester" --countries DE --duration 600 --max-price 0.0015 --out "$work/r1.json"

# Starts the node on a free port (port 0; the node prints the one it got) and waits for it. The
# offer checks are off: this script signs offers by hand for loopback IPs it never probes
# (dataplane_e2e.sh and the demo run the node with them).
start_node() {
  "$IPSX" node --data "$data" --keystore "$ks" --address "$market" --password-file "$work/pw" \
    --listen 127.0.0.1:0 --read-timeout-ms 1000 --offer-checks none "$@" >"$work/node.out" 2>&1 &
  node_pid=$!
  for _ in $(seq 100); do
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/node.out" | head -1)
    [[ -n $url ]] && return 0
    sleep 0.1
  done
  cat "$work/node.out"
  return 1
}
# stop_node: SIGTERM, then the node's exit status.
stop_node() {
  kill -TERM "$node_pid"
  wait "$node_pid"
  local rc=$?
  node_pid=
  return $rc
}
# req METHOD PATH [curl args...]: prints "STATUS BODY".
req() {
  local method=$1 path=$2
  shift 2
  curl -s -X "$method" -o "$work/body" -w '%{http_code}' "$@" "$url$path"
  echo " $(cat "$work/body")"
}
post() { req POST /v1/orders -H 'Content-Type: application/json' --data-binary "@$1"; }
# postto PATH FILE: POST a JSON file to PATH.
postto() { req POST "$1" -H 'Content-Type: application/json' --data-binary "@$2"; }
# field NAME: the first string value of "NAME" in the last answer's body.
field() { grep -oE "\"$1\":\"[^\"]*\"" "$work/body" | head -1 | cut -d'"' -f4; }
sign() { "$IPSX" order "$@" --keystore "$ks" --password-file "$work/pw" --genesis "$work/g.toml" 2>/dev/null; }

if start_node; then ok "node starts and prints its address"; else bad "node starts"; fi
# A WebSocket client of the event stream, for the first four messages: three orders and a deal.
timeout 30 python3 "$here/ws_events.py" "${url##*:}" 4 >"$work/ws.out" 2>&1 &
ws_pid=$!
for _ in $(seq 50); do grep -q '^HTTP/1.1 101' "$work/ws.out" && break; sleep 0.1; done
expect_out "the event stream accepts a WebSocket" '^HTTP/1.1 101' cat "$work/ws.out"
expect_out "health" '^200 .*"status":"ok"' req GET /v1/health
expect_out "the cheap offer is accepted" '^201 .*"accepted":true.*"kind":"offer"' post "$work/o1.json"
expect_out "the dear offer is accepted" '^201 .*"deals":\[\]' post "$work/o2.json"
o2hash=$(field hash)
expect_out "the request matches the cheap offer into a deal" \
  "^201 .*\"deals\":\[\{.*\"id\":\"0x[0-9a-f]{64}\".*\"pricePerSecond\":\"1000000000000000\".*\"provider\":\"$provider\".*\"requester\":\"$requester\"" \
  post "$work/r1.json"
deal=$(grep -oE '"id":"0x[0-9a-f]{64}"' "$work/body" | head -1 | cut -d'"' -f4)
wait "$ws_pid"
expect_out "the stream pushed the orders" \
  '^\{"atMs":[0-9]+,"data":\{"hash":"0x[0-9a-f]{64}","id":1,"kind":"offer".*"seq":1,"type":"order"\}' cat "$work/ws.out"
expect_out "the stream pushed the deal" \
  "\"data\":\\{.*\"id\":\"$deal\".*\"seq\":4,\"type\":\"deal\"\\}" cat "$work/ws.out"
expect_out "GET /v1/events without the upgrade is 426" '^426 .*"code":"upgrade_required"' req GET /v1/events
expect_out "the depth shows the dear offer left" \
  '^200 .*"liveOffers":2.*"residential":\[.*\{"ips":1,"orders":1,"pricePerSecond":"2000000000000000"\}' \
  req GET '/v1/market/depth?country=DE'
expect_out "the deal is in the latest block" '^200 .*"number":[1-9][0-9]*.*"txs":\["0x' \
  req GET /v1/ledger/blocks/latest
expect_out "an order placed twice is 409" '^409 .*"code":"duplicate_order"' post "$work/o1.json"
echo '{"offer": ' >"$work/bad.json"
expect_out "malformed JSON is 400 with a JSON body" '^400 \{"error":\{"code":"malformed_json"' post "$work/bad.json"
sed 's/"capacity": [0-9]*/"capacity": "many"/' "$work/o2.json" >"$work/wrongtype.json"
expect_out "a wrong type is 400 naming the field" '^400 .*"code":"invalid_field".*"field":"offer.capacity"' \
  post "$work/wrongtype.json"
"$IPSX" order offer --address "$provider" --ip 127.0.0.4 --price 0.001 --keystore "$ks" \
  --password-file "$work/pw" --market "$early" --genesis "$work/g.toml" --out "$work/foreign.json" 2>/dev/null
expect_out "an order for another market is 422 naming the field" \
  '^422 .*"code":"invalid_order".*"field":"offer.market"' post "$work/foreign.json"
expect_out "an unknown route is 404" '^404 \{"error":\{"code":"not_found"' req GET /v1/nothing
expect_out "a wrong method is 405" '^405 \{"error":\{"code":"method_not_allowed"' req DELETE /v1/orders
expect_out "a missing query parameter is 400" '^400 .*"field":"country"' req GET /v1/market/depth
head -c 300000 /dev/zero | tr '\0' 'a' >"$work/huge.json"
expect_out "a huge body is 413" '^413 \{"error":\{"code":"payload_too_large"' post "$work/huge.json"
expect_out "the node still serves after that" '^200 ' req GET /v1/health
expect_out "keep-alive: two requests on one connection" "Re-using existing connection" \
  curl -sv -o /dev/null -o /dev/null "$url/v1/health" "$url/v1/health"
# A client that sends half a request and stalls is disconnected at the read deadline (1 s here).
slow_client() {
  local port=${url##*:} start=$SECONDS
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /v1/health HTTP/1.1\r\nHost: x\r\n' >&3
  timeout 5 cat <&3 >/dev/null
  local rc=$?
  exec 3<&-
  [[ $rc == 0 ]] && echo "closed after $((SECONDS - start)) s"
}
expect_out "a stalled client is disconnected by the read deadline" "closed after [0-2] s" slow_client
expect_out "the OpenAPI document" '^200 openapi: 3' req GET /v1/openapi.yaml

# ---- Orders: list, filter, page, read, cancel ----
expect_out "orders are listed" '^200 \{"next":null,"orders":\[\{.*"kind":"offer".*"kind":"offer".*"kind":"request"' \
  req GET /v1/orders
expect_out "orders filter by owner and side" "^200 .*\"owner\":\"$provider\".*\"owner\":\"$provider\"" \
  req GET "/v1/orders?owner=$provider&side=offer&country=DE&type=residential"
expect_out "orders page with a cursor" '^200 \{"next":"1","orders":\[\{' req GET '/v1/orders?limit=1'
expect_out "an order is read by its hash" '^200 .*"state":"resting"' req GET "/v1/orders/$o2hash"
expect_out "an order is read by its book id" '^200 .*"id":1,' req GET /v1/orders/1
expect_out "a bad limit is 400 naming it" '^400 .*"field":"limit"' req GET '/v1/orders?limit=0'
expect_out "a bad owner is 400 naming it" '^400 .*"field":"owner"' req GET '/v1/orders?owner=bob'
expect_out "an unknown order is 404" '^404 .*"code":"unknown_order"' req GET /v1/orders/777
sign cancel --address "$requester" --order "$work/o2.json" --out "$work/c_wrong.json"
expect_out "a cancel signed by another wallet is 403 not_owner" '^403 .*"code":"not_owner"' \
  postto "/v1/orders/$o2hash/cancel" "$work/c_wrong.json"
sign cancel --address "$provider" --order "$work/o2.json" --out "$work/c2.json"
sed -E 's/"signature": "0x[0-9a-f]+"/"signature": "0x1234"/' "$work/c2.json" >"$work/c_badsig.json"
expect_out "a malformed cancel signature is 400 naming it" '^400 .*"field":"signature"' \
  postto "/v1/orders/$o2hash/cancel" "$work/c_badsig.json"
expect_out "a cancel for another order than the path is 400" '^400 .*"field":"cancel.orderHash"' \
  postto /v1/orders/1/cancel "$work/c2.json"
expect_out "the owner's cancel is accepted" '^200 .*"cancelled":true.*"state":"closed"' \
  postto "/v1/orders/$o2hash/cancel" "$work/c2.json"
expect_out "a second cancel is 404" '^404 .*"code":"unknown_order"' postto "/v1/orders/$o2hash/cancel" "$work/c2.json"
expect_out "the cancelled offer left the book" '^200 .*"liveOffers":1,' req GET '/v1/market/depth?country=DE'

# ---- Deals and status events ----
expect_out "the deal is listed" "^200 .*\"id\":\"$deal\".*\"phase\":\"pending\"" req GET /v1/deals
expect_out "deals filter by party and status" "^200 .*\"id\":\"$deal\"" \
  req GET "/v1/deals?party=$requester&status=pending"
expect_out "no deal is active yet" '^200 \{"deals":\[\],"next":null' req GET '/v1/deals?status=active'
expect_out "the deal is read with price and times" \
  '^200 .*"pricePerSecond":"1000000000000000".*"times":\{"durationMs":600000' req GET "/v1/deals/$deal"
expect_out "a bad deal status filter is 400" '^400 .*"field":"status"' req GET '/v1/deals?status=asleep'
expect_out "an unknown deal is 404" '^404 .*"code":"unknown_deal"' req GET "/v1/deals/0x$(printf 'ab%.0s' {1..32})"
ev() { sign event --deal "$deal" "$@"; }
ev --address "$provider" --party provider --status ready --seq 1 --out "$work/e1.json"
expect_out "the provider's ready is accepted" '^200 \{"accepted":true,.*"status":\{"final":false,"phase":"ready"' \
  postto "/v1/deals/$deal/events" "$work/e1.json"
expect_out "a replayed event is 409 bad_sequence" '^409 .*"code":"bad_sequence"' \
  postto "/v1/deals/$deal/events" "$work/e1.json"
ev --address "$requester" --party requester --status ready --seq 1 --out "$work/e_party.json"
expect_out "a status the party may not report is 403 wrong_party" '^403 .*"code":"wrong_party"' \
  postto "/v1/deals/$deal/events" "$work/e_party.json"
ev --address "$requester" --party provider --status ready --seq 2 --out "$work/e_forged.json"
expect_out "an event signed by the other party is 422 bad_signature" '^422 .*"code":"bad_signature"' \
  postto "/v1/deals/$deal/events" "$work/e_forged.json"
sed -E 's/"seq": [0-9]+/"seq": "two"/' "$work/e1.json" >"$work/e_type.json"
expect_out "a wrong type in an event is 400 naming the field" '^400 .*"field":"event.seq"' \
  postto "/v1/deals/$deal/events" "$work/e_type.json"
sed -E "s/\"dealId\": \"0x[0-9a-f]+\"/\"dealId\": \"0x$(printf 'cd%.0s' {1..32})\"/" "$work/e1.json" >"$work/e_deal.json"
expect_out "an event naming another deal than the path is 400 wrong_deal" '^400 .*"code":"wrong_deal"' \
  postto "/v1/deals/$deal/events" "$work/e_deal.json"
expect_out "an event for an unknown deal is 404" '^404 .*"code":"unknown_deal"' \
  postto "/v1/deals/0x$(printf 'cd%.0s' {1..32})/events" "$work/e1.json"
ev --address "$requester" --party requester --status connected --seq 1 --out "$work/e2.json"
expect_out "the requester's connected makes the deal active" '^200 .*"phase":"active"' \
  postto "/v1/deals/$deal/events" "$work/e2.json"
expect_out "the deal lists as active" "^200 .*\"id\":\"$deal\"" req GET '/v1/deals?status=active'

# ---- Profiles, trades, the ledger ----
expect_out "a profile" "^200 .*\"address\":\"$provider\".*\"rating\":\{\"count\":0,\"sum\":0,\"x100\":300\}" \
  req GET "/v1/profiles/$provider"
expect_out "a bad profile address is 400" '^400 .*"field":"address"' req GET /v1/profiles/0xnope
expect_out "recent trades" '^200 .*"summary":\{"count":1,"lastPricePerSecond":"1000000000000000"' \
  req GET '/v1/market/trades?country=DE&type=residential'
expect_out "an account's balances" '^200 .*"nonce":1,.*"wallet":\{"balance":"[0-9.]+","reserved":"0.6"\}' \
  req GET "/v1/ledger/accounts/$requester"
expect_out "an account's transactions" '^200 \{"transactions":\[\{.*"op":"deposit"' \
  req GET "/v1/ledger/accounts/$requester/transactions?limit=5"
expect_out "an account's events" '^200 \{"events":\[' req GET "/v1/ledger/accounts/$requester/events"
expect_out "a block by number" '^200 .*"number":1,' req GET /v1/ledger/blocks/1
expect_out "a block past the head is 404" '^404 .*"code":"unknown_block"' req GET /v1/ledger/blocks/99999
expect_out "a block number that is not one is 400" '^400 .*"field":"number"' req GET /v1/ledger/blocks/x1
expect_out "the ledger's deal" '^200 .*"state":"open"' req GET "/v1/ledger/deals/$deal"
expect_out "the ledger's deal events" '^200 \{"events":\[\{.*"deal_opened"' req GET "/v1/ledger/deals/$deal/events"
expect_out "the supply is conserved" '^200 .*"conserved":true' req GET /v1/ledger/supply
expect_out "an unknown nested route is 404" '^404 \{"error":\{"code":"not_found"' req GET "/v1/deals/$deal/nothing"
expect_out "a wrong method on a parameter route is 405" '^405 .*"method_not_allowed"' req DELETE "/v1/deals/$deal"
expect_out "the node keeps serving after the bad input" '^200 ' req GET /v1/health

# ---- Metrics ----
expect_out "metrics count requests by route and status" \
  'ipsx_http_requests_total\{method="POST",route="/v1/orders",status="201"\} 3' req GET /metrics
expect_out "metrics count 4xx by route" \
  'ipsx_http_requests_total\{method="POST",route="/v1/deals/\{deal\}/events",status="409"\} 1' req GET /metrics
expect_out "metrics have the latency histogram" \
  'ipsx_http_request_duration_seconds_bucket\{method="GET",route="/v1/health",le="\+Inf"\}' req GET /metrics
expect_out "metrics have the book and the deals" 'ipsx_book_offers 1.*ipsx_deals\{status="active"\} 1' \
  bash -c "curl -s $url/metrics | tr '\n' ' '"
expect_out "metrics say the build and the process" \
  'ipsx_build_info\{version="[0-9.]+",role="node"\} 1.*process_cpu_seconds_total [0-9.e+-]+.*process_resident_memory_bytes [1-9][0-9.e+]*.*process_open_fds [1-9]' \
  bash -c "curl -s $url/metrics | tr '\n' ' '"

if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
if grep -q "shutting down" "$work/node.out"; then ok "clean shutdown reported"; else bad "no shutdown line"; fi
if start_node --log-level debug; then ok "node restarts"; else bad "node restarts"; fi
expect_out "the book survives the restart" '^200 .*"liveOffers":1.*"openDeals":1' \
  req GET '/v1/market/depth?country=DE'
expect_out "--log-level debug: the access log" \
  'Z debug ipsx node: 127\.0\.0\.1 GET /v1/market/depth\?country=DE 200 [0-9.]+ ms' cat "$work/node.out"
expect_out "orders are still known after the restart" '^409 .*"duplicate_order"' post "$work/r1.json"
expect_out "the deal's status survives the restart" '^200 .*"phase":"active"' req GET "/v1/deals/$deal"
if stop_node; then ok "SIGTERM again: exit 0"; else bad "second SIGTERM: exit $?"; fi

# ---- Rate limits: per IP and per signing wallet ----
if start_node --rate-limit 0.5 --rate-burst 4 --order-rate-limit 0.01 --order-rate-burst 1; then
  ok "node starts with tight limits"
else
  bad "node starts with tight limits"
fi
order offer --address "$provider" --ip 127.0.0.5 --country DE --price 0.001 --out "$work/o3.json"
order offer --address "$provider" --ip 127.0.0.6 --country DE --price 0.001 --out "$work/o4.json"
expect_out "a wallet's first signed order passes" '^201 ' post "$work/o3.json"
expect_out "its next is 429 rate_limited" '^429 \{"error":\{"code":"rate_limited"' post "$work/o4.json"
limited() {
  for _ in 1 2 3 4 5; do curl -si "$url/v1/health" >"$work/limited"; done
  cat "$work/limited"
}
expect_out "past the IP's burst: 429 with Retry-After" 'Retry-After: [0-9]+' limited
expect_out "... and a JSON error" '"code":"rate_limited"' cat "$work/limited"
sleep 3
expect_out "the bucket refills" '^200 ' req GET /v1/health
if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
expect_out "the ledger still verifies" "^ok: " "$IPSX" ledger verify --data "$data"

finish
