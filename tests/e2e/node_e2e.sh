#!/usr/bin/env bash
# End to end: `ipsx node` serving the market and the ledger over HTTP, driven with curl: a signed
# offer and a matching request placed into a deal, the depth and the latest block read back, bad
# input answered with JSON errors (400, 404, 405, 413), a clean exit on SIGTERM, and the book
# surviving a restart.
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

order() { "$IPSX" order "$@" --keystore "$ks" --password-file "$work/pw" --market "$market" 2>/dev/null; }
order offer --address "$provider" --ip 127.0.0.2 --country DE --price 0.001 --out "$work/o1.json"
order offer --address "$provider" --ip 127.0.0.3 --country DE --price 0.002 --out "$work/o2.json"
order request --address "$requester" --countries DE --duration 60 --max-price 0.0015 --out "$work/r1.json"

# Starts the node on a free port (port 0; the node prints the one it got) and waits for it.
start_node() {
  "$IPSX" node --data "$data" --keystore "$ks" --address "$market" --password-file "$work/pw" \
    --listen 127.0.0.1:0 --read-timeout-ms 1000 >"$work/node.out" 2>&1 &
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

if start_node; then ok "node starts and prints its address"; else bad "node starts"; fi
expect_out "health" '^200 .*"status":"ok"' req GET /v1/health
expect_out "the cheap offer is accepted" '^201 .*"accepted":true.*"kind":"offer"' post "$work/o1.json"
expect_out "the dear offer is accepted" '^201 .*"deals":\[\]' post "$work/o2.json"
expect_out "the request matches the cheap offer into a deal" \
  "^201 .*\"deals\":\[\{.*\"id\":\"0x[0-9a-f]{64}\".*\"pricePerSecond\":\"1000000000000000\".*\"provider\":\"$provider\".*\"requester\":\"$requester\"" \
  post "$work/r1.json"
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
  --password-file "$work/pw" --market "$early" --out "$work/foreign.json" 2>/dev/null
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

if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
if grep -q "shutting down" "$work/node.out"; then ok "clean shutdown reported"; else bad "no shutdown line"; fi
if start_node; then ok "node restarts"; else bad "node restarts"; fi
expect_out "the book survives the restart" '^200 .*"liveOffers":2.*"openDeals":1' \
  req GET '/v1/market/depth?country=DE'
expect_out "orders are still known after the restart" '^409 .*"duplicate_order"' post "$work/r1.json"
if stop_node; then ok "SIGTERM again: exit 0"; else bad "second SIGTERM: exit $?"; fi
expect_out "the ledger still verifies" "^ok: " "$IPSX" ledger verify --data "$data"

finish
