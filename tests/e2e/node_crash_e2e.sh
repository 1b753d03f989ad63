#!/usr/bin/env bash
# End to end: `ipsx node` killed with SIGKILL in the middle of trading, again and again, and
# restarted on the same data directory and journal each time. A trader in the background places
# signed offers and requests with curl and drives every deal that opens with the parties' signed
# status events, retrying each request until some node answers it, and records everything a node
# acknowledged (a 2xx answer). Afterwards nothing acknowledged is lost: every order is known,
# every deal is at the market and on the ledger, every status event is reflected in its party's
# seq; no deal is opened twice (at the market or on the ledger), the supply is conserved, a second
# node on the same data directory is refused, and after a clean stop the ledger verifies.
# usage: node_crash_e2e.sh IPSX [KILLS]   (KILLS, default 6: how many times the node is killed)
set -euo pipefail
IPSX=$1
KILLS=${2:-6}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
node_pid=
trader_pid=
on_exit() {
  if [[ -n $trader_pid ]]; then kill "$trader_pid" 2>/dev/null || true; fi
  if [[ -n $node_pid ]]; then kill -KILL "$node_pid" 2>/dev/null || true; fi
}
started=$SECONDS

echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
providers=("$(new)" "$(new)")
requesters=("$(new)" "$(new)")
data=$work/ledger
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 2>/dev/null
"$IPSX" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
sleep 1
send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null; }
send --address "$team" finalize-sale
for r in "${requesters[@]}"; do
  send --address "$early" transfer --to "$r" --amount 1000
  send --address "$r" deposit --amount 500
done
sign() { "$IPSX" order "$@" --keystore "$ks" --password-file "$work/pw" --genesis "$work/g.toml" 2>/dev/null >/dev/null; }

# start_node: the node on a free port, on the same data directory and journal every time; its URL
# goes to $work/url (replaced atomically: the trader reads it).
starts=0
start_node() {
  starts=$((starts + 1))
  local out=$work/node-$starts.out
  "$IPSX" node --data "$data" --keystore "$ks" --address "$market" --password-file "$work/pw" \
    --listen 127.0.0.1:0 --rate-limit 0 --order-rate-limit 0 --offer-checks none >"$out" 2>&1 &
  node_pid=$!
  local url=
  for _ in $(seq 600); do  # 30 s on a loaded machine
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$out" | head -1 || true)
    if [[ -n $url ]]; then
      echo "$url" >"$work/url.new"
      mv "$work/url.new" "$work/url"
      return 0
    fi
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "node start $starts failed:"
  cat "$out"
  return 1
}

# ---- The trader (a background job) ---------------------------------------------------------------
# post PATH FILE: POSTs FILE until a node answers (it may be down, or die with the request in
# flight), for half a minute at most; prints the status, the body is left in $work/t.body.
# $work/posting exists while a request is on its way (the killer aims at it); a request cut off
# in flight is logged.
post() {
  local code rc tries
  for ((tries = 0; tries < 400; tries++)); do
    touch "$work/posting"
    rc=0
    code=$(curl -s -m 5 -o "$work/t.body" -w '%{http_code}' -X POST \
      -H 'Content-Type: application/json' --data-binary "@$2" "$(cat "$work/url")$1") || rc=$?
    rm -f "$work/posting"
    if [[ $rc == 0 && $code != 000 ]]; then
      echo "$code"
      return 0
    fi
    # 52 (empty reply) and 56 (reset): the node died while handling it; 7: no node listening.
    if [[ $rc != 7 ]]; then
      echo "$(now) $(basename "$2"): cut off in flight (curl $rc)" >>"$work/trader.log"
    fi
    sleep 0.05
  done
  echo 000 # no node for half a minute: the checks will say what is missing
}
now() { date +%T.%N | cut -c1-12; }
# event DEAL ADDRESS PARTY STATUS SEQ: signs and posts a status event; records it if acknowledged.
event() {
  sign event --address "$2" --deal "$1" --party "$3" --status "$4" --seq "$5" --out "$work/e.json" </dev/null
  local code
  code=$(post "/v1/deals/$1/events" "$work/e.json" </dev/null)
  echo "$(now) event $1 $3 $5 -> $code" >>"$work/trader.log"
  if [[ $code == 2* ]]; then echo "event $1 $3 $5" >>"$work/acked"; fi
}
# order FILE: posts a signed order; records its hash, and the deals it opened, if acknowledged.
# A retry answered 409 duplicate_order was placed by an attempt whose answer was lost: known to
# the node, but not acknowledged (its deals are found at the end from the node's list).
order() {
  local code
  code=$(post /v1/orders "$1")
  echo "$(now) $(basename "$1") -> $code $(head -c 200 "$work/t.body")" >>"$work/trader.log"
  if [[ $code == 2* ]]; then
    echo "order $(jq -r .hash "$work/t.body")" >>"$work/acked"
    jq -r '.deals[] | "deal \(.id) \(.provider) \(.requester)"' "$work/t.body" >>"$work/acked"
    jq -r '.deals[] | "\(.id) \(.provider) \(.requester)"' "$work/t.body" >"$work/opened"
  else
    : >"$work/opened"
  fi
}
# Each round: an offer of its own IP and a request that takes it (or an older offer still free),
# every deal for 600 s at 0.001 IPSX/s (a deposit of 0.6 IPSX), then the deal's three events.
# Rounds go on until $work/stop exists.
trade() {
  local i deal provider requester
  for ((i = 1; i <= 250; i++)); do
    [[ -e $work/stop ]] && break
    sign offer --address "${providers[i % 2]}" --market "$market" --ip "127.0.1.$i" --country DE \
      --price 0.001 --nonce "$i" --out "$work/o$i.json"
    sign request --address "${requesters[i % 2]}" --market "$market" --countries DE \
      --duration 600 --max-price 0.0015 --nonce "$i" --out "$work/r$i.json"
    order "$work/o$i.json"
    order "$work/r$i.json"
    while read -r deal provider requester; do
      event "$deal" "$provider" provider ready 1
      event "$deal" "$requester" requester connected 1
      event "$deal" "$provider" provider ready 2 # the heartbeat
    done <"$work/opened"
    echo "$i" >"$work/rounds.new"
    mv "$work/rounds.new" "$work/rounds"
  done
}

: >"$work/acked"
echo 0 >"$work/rounds"
if start_node; then ok "node starts"; else bad "node starts"; fi
url=$(cat "$work/url")
# A second node on the same data directory is refused: the ledger store holds a lock.
expect_error "a second node on the same data directory is refused" "in use by another process" \
  "$IPSX" node --data "$data" --keystore "$ks" --address "$market" --password-file "$work/pw" \
  --listen 127.0.0.1:0

trade &
trader_pid=$!
# The killer: SIGKILL at a random moment 0.3 to 1.8 s after each start while the trader trades;
# every second kill then waits for a request to be on its way and strikes 0 to 40 ms into it
# (between the journal and the ledger, or before the answer).
kills=0
while ((kills < KILLS)) && kill -0 "$trader_pid" 2>/dev/null; do
  d=$((RANDOM % 16 + 3))
  sleep "$((d / 10)).$((d % 10))"
  if ((kills % 2 == 1)); then
    for _ in $(seq 200); do [[ -e $work/posting ]] && break; sleep 0.01; done
    sleep "0.0$((RANDOM % 5))"
  fi
  kill -KILL "$node_pid" 2>/dev/null || bad "node $starts had died by itself"
  wait "$node_pid" 2>/dev/null || true
  kills=$((kills + 1))
  echo "$(now) kill $kills after round $(cat "$work/rounds")" >>"$work/trader.log"
  start_node || break
done
# The trader goes on for three rounds against the last node (30 s at most), then stops.
last=$(cat "$work/rounds")
for _ in $(seq 300); do
  (($(cat "$work/rounds") >= last + 3)) && break
  kill -0 "$trader_pid" 2>/dev/null || break
  sleep 0.1
done
touch "$work/stop"
wait "$trader_pid" || true
trader_pid=
expect_eq "the node was killed $KILLS times while the trader traded" "$kills" "$KILLS"
url=$(cat "$work/url")
rounds=$(cat "$work/rounds")
if ((rounds >= 3)); then ok "the trader traded $rounds rounds"; else bad "only $rounds rounds"; fi
get() { curl -s -m 5 -o "$work/g.body" -w '%{http_code}' "$url$1" || true; }
# all_deals: every deal the market lists, one JSON object a line (the list is paged).
all_deals() {
  local after=
  while true; do
    get "/v1/deals?limit=200$after" >/dev/null
    jq -c '.deals[]' "$work/g.body"
    after=$(jq -r '.next // empty' "$work/g.body")
    [[ -n $after ]] || break
    after="&after=$after"
  done
}

# ---- Nothing acknowledged is lost ----------------------------------------------------------------
missing=0
n=0
while read -r kind id _; do
  [[ $kind == order ]] || continue
  n=$((n + 1))
  code=$(get "/v1/orders/$id")
  [[ $code == 200 ]] || { missing=$((missing + 1)); echo "order $id: $code $(cat "$work/g.body")"; }
done <"$work/acked"
expect_eq "every acknowledged order ($n) is known to the node" "$missing" 0
missing=0
n=0
while read -r kind id _; do
  [[ $kind == deal ]] || continue
  n=$((n + 1))
  code=$(get "/v1/deals/$id")
  [[ $code == 200 ]] || { missing=$((missing + 1)); echo "deal $id at the market: $code"; }
  code=$(get "/v1/ledger/deals/$id")
  [[ $code == 200 ]] || { missing=$((missing + 1)); echo "deal $id on the ledger: $code"; }
done <"$work/acked"
expect_eq "every acknowledged deal ($n) is at the market and on the ledger" "$missing" 0
if ((n > 0)); then ok "deals were opened"; else bad "no deal was opened"; fi
missing=0
n=0
while read -r kind id party seq; do
  [[ $kind == event ]] || continue
  n=$((n + 1))
  get "/v1/deals/$id" >/dev/null
  have=$(jq -r ".parties.$party.seq" "$work/g.body")
  ((have >= seq)) || { missing=$((missing + 1)); echo "deal $id $party: seq $have < $seq"; }
done <"$work/acked"
expect_eq "every acknowledged status event ($n) is reflected in its party's seq" "$missing" 0

# ---- Nothing is doubled --------------------------------------------------------------------------
all_deals | jq -r '"\(.id) \(.offer) \(.request) \(.requester)"' >"$work/deals"
deals=$(wc -l <"$work/deals")
expect_eq "no deal is listed twice" "$(cut -d' ' -f1 "$work/deals" | sort -u | wc -l)" "$deals"
expect_eq "no request has two deals" "$(cut -d' ' -f3 "$work/deals" | sort -u | wc -l)" "$deals"
expect_eq "no offer (capacity 1) has two deals" "$(cut -d' ' -f2 "$work/deals" | sort -u | wc -l)" "$deals"
# Each round's request takes a free offer: one deal per round, acknowledged or not (a request
# whose answer was cut off was journaled, or it was placed again by the retry).
expect_eq "every request placed ($rounds) has its deal" "$deals" "$rounds"
missing=0
while read -r id _; do
  [[ $(get "/v1/ledger/deals/$id") == 200 ]] || { missing=$((missing + 1)); echo "deal $id: not on the ledger"; }
done <"$work/deals"
expect_eq "every deal of the market ($deals) is on the ledger" "$missing" 0
# The ledger holds no deal the market lost: each requester's reserved deposits are 0.6 IPSX per
# deal of its at the market.
for r in "${requesters[@]}"; do
  mine=$(grep -ci " $r\$" "$work/deals" || true)
  get "/v1/ledger/accounts/$r" >/dev/null
  reserved=$(jq -r .wallet.reserved "$work/g.body")
  expect_eq "the ledger reserves $reserved IPSX for $r: 0.6 for each of its $mine deals" \
    "$(jq -n "($reserved | tonumber) == $mine * 6 / 10")" true
done
get /v1/ledger/supply >/dev/null
expect_eq "the supply is conserved" "$(jq -r .conserved "$work/g.body")" true

# ---- A clean stop, a restart from the snapshot, the ledger verified ------------------------------
all_deals | jq -S 'del(.status)' >"$work/deals-before.json"
kill -TERM "$node_pid"
if wait "$node_pid"; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
node_pid=
if start_node; then ok "node restarts after the clean stop"; else bad "node restarts"; fi
url=$(cat "$work/url")
all_deals | jq -S 'del(.status)' >"$work/deals-after.json"
if cmp -s "$work/deals-before.json" "$work/deals-after.json"; then
  ok "the deals are the same after the restart"
else
  bad "the deals differ after the restart: $(diff "$work/deals-before.json" "$work/deals-after.json" | head -20)"
fi
kill -TERM "$node_pid"
wait "$node_pid" || true
node_pid=
expect_out "the ledger verifies" "^ok: " "$IPSX" ledger verify --data "$data"

echo "$kills kills ($(grep -c 'cut off in flight' "$work/trader.log" || true) requests cut off in flight), $rounds rounds," \
  "$deals deals, $(grep -c '^event' "$work/acked" || true) events acknowledged, $((SECONDS - started)) s"
if ((failures > 0)) || [[ -n ${CRASH_LOG:-} ]]; then
  echo "---- trader log"
  cat "$work/trader.log"
  echo "---- the last node's output"
  cat "$work/node-$starts.out"
fi
finish
